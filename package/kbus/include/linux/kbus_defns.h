/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * KBUS kernel message bus: the user/kernel ABI.
 *
 * One header for the kernel module, libkbus and the tests. The layouts and
 * ioctl numbers are those of the original KBUS (its kbus_defns.h and
 * docs/specification.txt, https://github.com/kynesim/kbus): structures embed user pointers, so the 32-bit (ILP32) and 64-bit
 * (LP64) ABIs differ, and every ioctl that takes an argument encodes
 * sizeof(char *) as its size.
 */
#ifndef _UAPI_LINUX_KBUS_DEFNS_H
#define _UAPI_LINUX_KBUS_DEFNS_H

/*
 * In user space this header leaves no macro defined outside the KBUS_
 * prefix: no BIT(), and __user (which marks the user pointers for the
 * kernel) only while it is read, unless the includer had its own.
 */
#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/ioctl.h>
#else
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#ifndef __user
#define __user
#define KBUS_DEFNS_UNDEF_USER
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A message id: {0, serial} for local messages, {net, serial} via Limpets. */
struct kbus_msg_id {
	__u32 network_id;
	__u32 serial_num;
};

/* Limpet linkage: who first sent the message, and to whom it is going. */
struct kbus_orig_from {
	__u32 network_id;
	__u32 local_id;
};

#define KBUS_MSG_START_GUARD	0x7375624B
#define KBUS_MSG_END_GUARD	0x4B627573

/*
 * The message header. "Pointy" when name (and data) point to user memory,
 * "entire" when both are NULL and the padded name, padded data and a final
 * end guard follow the header.
 */
struct kbus_message_header {
	__u32 start_guard;
	struct kbus_msg_id id;
	struct kbus_msg_id in_reply_to;
	__u32 to;
	__u32 from;
	struct kbus_orig_from orig_from;
	struct kbus_orig_from final_to;
	__u32 extra;
	__u32 flags;
	__u32 name_len;
	__u32 data_len;
	char __user *name;
	void __user *data;
	__u32 end_guard;
};

/* A header followed by name, data and the final end guard. */
struct kbus_entire_message {
	struct kbus_message_header header;
#ifdef __cplusplus
	__extension__	/* ISO C++ has no flexible array member; g++ takes it so */
#endif
	__u32 rest[];
};

#define KBUS_MAX_NAME_LEN	1000

/*
 * Lengths in bytes, and indices of __u32 words in kbus_entire_message.rest,
 * of the parts of an entire message. They are computed in 64 bits (__u64),
 * so that no u32 length wraps them, whatever the size of size_t.
 */
#define KBUS_PADDED_NAME_LEN(name_len)	(((__u64)(name_len) + 4) & ~(__u64)3)
#define KBUS_PADDED_DATA_LEN(data_len)	(((__u64)(data_len) + 3) & ~(__u64)3)

#define KBUS_ENTIRE_MSG_LEN(name_len, data_len)				\
	((__u64)sizeof(struct kbus_entire_message) +			\
	 KBUS_PADDED_NAME_LEN(name_len) +				\
	 KBUS_PADDED_DATA_LEN(data_len) + 4)

#define KBUS_ENTIRE_MSG_DATA_INDEX(name_len)	(KBUS_PADDED_NAME_LEN(name_len) >> 2)
#define KBUS_ENTIRE_MSG_END_GUARD_INDEX(name_len, data_len)		\
	((KBUS_PADDED_NAME_LEN(name_len) + KBUS_PADDED_DATA_LEN(data_len)) >> 2)

/* Message flags. Bits 16-31 belong to applications: KBUS never touches them. */
#define KBUS_BIT_WANT_A_REPLY		0x00000001U
#define KBUS_BIT_WANT_YOU_TO_REPLY	0x00000002U
#define KBUS_BIT_SYNTHETIC		0x00000004U
#define KBUS_BIT_URGENT			0x00000008U
#define KBUS_BIT_ALL_OR_WAIT		0x00000100U
#define KBUS_BIT_ALL_OR_FAIL		0x00000200U

/* Argument of BIND and UNBIND. */
struct kbus_bind_request {
	__u32 is_replier;
	__u32 name_len;
	char __user *name;
};

/* Argument of REPLIER: return_id is filled in. */
struct kbus_bind_query {
	__u32 return_id;
	__u32 name_len;
	char __user *name;
};

/* Data of a $.KBUS.ReplierBindEvent message. */
struct kbus_replier_bind_event_data {
	__u32 is_bind;
	__u32 binder;
	__u32 name_len;
#ifdef __cplusplus
	__extension__
#endif
	__u32 rest[];
};

#define KBUS_IOC_MAGIC	'k'
#define KBUS_IOC_RESET			_IO(KBUS_IOC_MAGIC, 1)
#define KBUS_IOC_BIND			_IOW(KBUS_IOC_MAGIC, 2, char *)
#define KBUS_IOC_UNBIND			_IOW(KBUS_IOC_MAGIC, 3, char *)
#define KBUS_IOC_KSOCKID		_IOR(KBUS_IOC_MAGIC, 4, char *)
#define KBUS_IOC_REPLIER		_IOWR(KBUS_IOC_MAGIC, 5, char *)
#define KBUS_IOC_NEXTMSG		_IOR(KBUS_IOC_MAGIC, 6, char *)
#define KBUS_IOC_LENLEFT		_IOR(KBUS_IOC_MAGIC, 7, char *)
#define KBUS_IOC_SEND			_IOR(KBUS_IOC_MAGIC, 8, char *)
#define KBUS_IOC_DISCARD		_IO(KBUS_IOC_MAGIC, 9)
#define KBUS_IOC_LASTSENT		_IOR(KBUS_IOC_MAGIC, 10, char *)
#define KBUS_IOC_MAXMSGS		_IOWR(KBUS_IOC_MAGIC, 11, char *)
#define KBUS_IOC_NUMMSGS		_IOR(KBUS_IOC_MAGIC, 12, char *)
#define KBUS_IOC_UNREPLIEDTO		_IOR(KBUS_IOC_MAGIC, 13, char *)
#define KBUS_IOC_MSGONLYONCE		_IOWR(KBUS_IOC_MAGIC, 14, char *)
#define KBUS_IOC_VERBOSE		_IOWR(KBUS_IOC_MAGIC, 15, char *)
#define KBUS_IOC_NEWDEVICE		_IOR(KBUS_IOC_MAGIC, 16, char *)
#define KBUS_IOC_REPORTREPLIERBINDS	_IOWR(KBUS_IOC_MAGIC, 17, char *)
#define KBUS_IOC_MAXMSGSIZE		_IOWR(KBUS_IOC_MAGIC, 18, char *)

/*
 * Additions of this implementation (not in the original KBUS). Their
 * arguments have the same layout on 32- and 64-bit user space (pointers are
 * carried in __u64), and their ioctl numbers encode the real sizes.
 */

/* The credentials of the sender of a message, as they were at its SEND. */
struct kbus_msg_creds {
	__u32 uid;		/* effective uid, in the reader's user namespace */
	__u32 gid;		/* effective gid, likewise */
	__u32 pid;		/* thread group id, in the reader's pid namespace
				 * (0 if not visible there)
				 */
	__u32 flags;		/* KBUS_CREDS_* */
};

/* KBUS made the message itself (status, bind event): no sender. */
#define KBUS_CREDS_SYNTHETIC	0x1

/* MSGCREDS: the credentials of the message NEXTMSG made current to read. */
#define KBUS_IOC_MSGCREDS	_IOR(KBUS_IOC_MAGIC, 19, struct kbus_msg_creds)

/*
 * SETPOLICY: replace a device's access policy (needs CAP_SYS_ADMIN or the
 * device node's owner). "rules" points to num_rules rules, each a struct
 * kbus_policy_rule followed by its name_len bytes of name pattern, padded
 * with zeros to a multiple of 4; size is their total length in bytes. No
 * rules and default KBUS_POLICY_ALLOW remove the policy.
 */
struct kbus_policy {
	__u32 magic;		/* KBUS_POLICY_MAGIC */
	__u32 version;		/* KBUS_POLICY_VERSION */
	__u32 default_effect;	/* KBUS_POLICY_ALLOW or KBUS_POLICY_DENY */
	__u32 num_rules;
	__u32 size;
	__u32 reserved;		/* 0 */
	__u64 rules;		/* user address of the rules */
};

struct kbus_policy_rule {
	__u8 action;		/* KBUS_POLICY_OWN/LISTEN/SEND */
	__u8 effect;		/* KBUS_POLICY_ALLOW or KBUS_POLICY_DENY */
	__u8 subject;		/* KBUS_POLICY_EVERYONE/USER/GROUP */
	__u8 reserved;		/* 0 */
	__u32 id;		/* uid or gid (in the caller's user namespace) */
	__u32 name_len;		/* name pattern, wildcards allowed */
	__u32 reserved2;	/* 0 */
};

#define KBUS_POLICY_MAGIC	0x6b506f6c	/* "kPol" */
#define KBUS_POLICY_VERSION	1
#define KBUS_POLICY_DENY	0
#define KBUS_POLICY_ALLOW	1
#define KBUS_POLICY_OWN		1	/* bind as the replier */
#define KBUS_POLICY_LISTEN	2	/* receive as a listener */
#define KBUS_POLICY_SEND	3	/* send (requests and announcements) */
#define KBUS_POLICY_EVERYONE	0
#define KBUS_POLICY_USER	1
#define KBUS_POLICY_GROUP	2
#define KBUS_POLICY_MAX_RULES	65536

#define KBUS_IOC_SETPOLICY	_IOW(KBUS_IOC_MAGIC, 20, struct kbus_policy)

/* FILTERED: how many messages the policy withheld from this Ksock. */
#define KBUS_IOC_FILTERED	_IOR(KBUS_IOC_MAGIC, 21, __u32)

/*
 * BATCHREAD: 1 makes read() on this Ksock, when no message is current (no
 * NEXTMSG read half-way), pop and return as many whole messages as fit, in
 * entire form one after the other (-EMSGSIZE if the next does not fit at
 * all: it stays queued); 0 restores the original read; 0xFFFFFFFF asks.
 * Returns the previous state in the argument.
 */
#define KBUS_IOC_BATCHREAD	_IOWR(KBUS_IOC_MAGIC, 22, __u32)

#define KBUS_IOC_MAXNR			22

/* Names of the messages KBUS itself generates. */
#define KBUS_MSG_NAME_REPLIER_GONEAWAY		"$.KBUS.Replier.GoneAway"
#define KBUS_MSG_NAME_REPLIER_IGNORED		"$.KBUS.Replier.Ignored"
#define KBUS_MSG_NAME_REPLIER_UNBOUND		"$.KBUS.Replier.Unbound"
#define KBUS_MSG_NAME_REPLIER_DISAPPEARED	"$.KBUS.Replier.Disappeared"
#define KBUS_MSG_NAME_ERROR_SENDING		"$.KBUS.ErrorSending"
#define KBUS_MSG_NAME_UNBIND_EVENTS_LOST	"$.KBUS.UnbindEventsLost"
#define KBUS_MSG_NAME_REPLIER_BIND_EVENT	"$.KBUS.ReplierBindEvent"

#ifndef __KERNEL__
/*
 * Name and data of a message, whether pointy or entire (user space only).
 * They take a const header and give non-const pointers, as they always did:
 * the address goes through an integer (no cast that drops const).
 */
static inline char *kbus_msg_name_ptr(const struct kbus_message_header *hdr)
{
	if (hdr->name)
		return hdr->name;
	return (char *)((uintptr_t)hdr + offsetof(struct kbus_entire_message, rest));
}

static inline void *kbus_msg_data_ptr(const struct kbus_message_header *hdr)
{
	if (hdr->name)
		return hdr->data;
	return (void *)((uintptr_t)hdr + offsetof(struct kbus_entire_message, rest) +
			(uintptr_t)KBUS_PADDED_NAME_LEN(hdr->name_len));
}

static inline __u32 *kbus_msg_end_ptr(struct kbus_entire_message *entire)
{
	return &entire->rest[KBUS_ENTIRE_MSG_END_GUARD_INDEX(entire->header.name_len,
							     entire->header.data_len)];
}
#endif /* !__KERNEL__ */

#ifdef KBUS_DEFNS_UNDEF_USER
#undef __user
#undef KBUS_DEFNS_UNDEF_USER
#endif

#ifdef __cplusplus
}
#endif

#endif /* _UAPI_LINUX_KBUS_DEFNS_H */
