/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KBUS kernel message bus: the module's internal structures.
 *
 * Locking, outermost first:
 *
 *   kbus_devices_lock (global mutex): the device table and NEWDEVICE.
 *   ksock->io_lock (mutex): that Ksock's write parser and read position.
 *	write() and read() copy to and from user space under it only.
 *   dev->lock (mutex): everything shared on one device: bindings, Ksock
 *	table, queues, outstanding requests, owed replies, set-aside list,
 *	counters and flags. Never held across a copy of message bytes from
 *	or to user space (pointy names and data are copied before it is
 *	taken); only small ioctl arguments are copied under it.
 *
 * A sent message is one reference-counted struct kbus_msg shared by every
 * recipient; each queue holds a small struct kbus_qentry per copy with that
 * copy's flags.
 */
#ifndef _KBUS_INTERNAL_H
#define _KBUS_INTERNAL_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include <linux/kbus_defns.h>

/* Build-time configuration (spec section 2.3; out-of-tree defaults). */
#ifndef CONFIG_KBUS_MAX_NUM_DEVICES
#define CONFIG_KBUS_MAX_NUM_DEVICES		256
#endif
#ifndef CONFIG_KBUS_DEF_NUM_DEVICES
#define CONFIG_KBUS_DEF_NUM_DEVICES		1
#endif
#ifndef CONFIG_KBUS_DEF_MAX_MESSAGES
#define CONFIG_KBUS_DEF_MAX_MESSAGES		100
#endif
#ifndef CONFIG_KBUS_MAX_UNSENT_UNBIND_MESSAGES
#define CONFIG_KBUS_MAX_UNSENT_UNBIND_MESSAGES	1000
#endif
#ifndef CONFIG_KBUS_ABS_MAX_MESSAGE_SIZE
#define CONFIG_KBUS_ABS_MAX_MESSAGE_SIZE	409600
#endif
#ifndef CONFIG_KBUS_DEF_MAX_MESSAGE_SIZE
#define CONFIG_KBUS_DEF_MAX_MESSAGE_SIZE	409600
#endif

#define KBUS_MODNAME		"kbus"
#define KBUS_MAX_NUM_DEVICES	CONFIG_KBUS_MAX_NUM_DEVICES
#define KBUS_MIN_MESSAGE_SIZE	100
#define KBUS_HDR_LEN		((u32)sizeof(struct kbus_message_header))
#define KBUS_TABLE_INITIAL	16

#define KBUS_BIND_EVENT_FLAGS	(KBUS_BIT_SYNTHETIC | KBUS_BIT_ALL_OR_FAIL)

#define KBUS_NAME_HASH_BITS	10
/* A name has at most this many nodes matching it: one "*" per level, "%", exact. */
#define KBUS_MAX_MATCHES	(KBUS_MAX_NAME_LEN / 2 + 2)

/* How a binding's name matches (spec 3.3); also the replier rank, 7.3. */
enum kbus_match {
	KBUS_MATCH_STAR = 1,	/* ends in ".*" */
	KBUS_MATCH_PERCENT = 2,	/* ends in ".%" */
	KBUS_MATCH_EXACT = 3,
};

/* A sent (or KBUS-generated) message: immutable once delivered. */
struct kbus_msg {
	struct kref ref;
	u64 seq;			/* per-device send number */
	struct kbus_msg_id id;
	struct kbus_msg_id in_reply_to;
	u32 to;
	u32 from;
	struct kbus_orig_from orig_from;
	struct kbus_orig_from final_to;
	u32 flags;			/* WANT_YOU_TO_REPLY is per copy */
	u32 name_len;
	u32 data_len;
	u32 body_len;			/* padded name + padded data */
	char *name;			/* = body: name, NUL, zero padding */
	u8 *data;			/* = body + padded name length */
	u8 body[];
};

struct kbus_ksock;

/*
 * One name string that something is bound to ("$.a.b", "$.a.*", "$.a.%"),
 * in the device's name index: sending looks up the message name and the
 * wildcards that could match it, never scanning unrelated bindings.
 */
struct kbus_name_node {
	struct hlist_node hash;		/* dev->names[] bucket */
	struct list_head bindings;	/* its bindings, newest first */
	struct kbus_binding *replier;	/* at most one per name string */
	enum kbus_match match;
	u32 hash_val;
	u32 len;
	char name[];			/* NUL-terminated */
};

struct kbus_binding {
	struct list_head dev_list;	/* dev->bindings, newest first */
	struct list_head node_list;	/* node->bindings, newest first */
	struct list_head ks_list;	/* ksock->bindings */
	struct kbus_name_node *node;
	struct kbus_ksock *ksock;
	bool is_replier;
	u32 name_len;
	const char *name;		/* = node->name */
};

/* One copy of a message in a Ksock's queue. */
struct kbus_qentry {
	struct list_head list;
	struct kbus_msg *msg;
	struct kbus_binding *binding;	/* the binding it came by, or NULL */
	u32 flags;			/* this copy's flags */
};

/* A replier-unbind event that could not be queued yet (spec 10.4). */
struct kbus_setaside {
	struct list_head list;		/* dev->setaside, oldest first */
	struct kbus_ksock *ksock;
	struct kbus_binding *binding;
	struct kbus_msg *msg;
};

/* A request this Ksock popped and must answer. */
struct kbus_owed {
	struct kbus_msg_id id;
	u32 requester;
};

/* A small growable table; capacity and high-water mark appear in /proc. */
struct kbus_idtable {
	struct kbus_msg_id *ids;
	u32 count;
	u32 size;
	u32 max;
};

struct kbus_owedtable {
	struct kbus_owed *owed;
	u32 count;
	u32 size;
	u32 max;
};

/* Parts of a message as the write parser goes through them. */
enum kbus_wpart {
	KBUS_PART_HDR,
	KBUS_PART_NAME,
	KBUS_PART_NPAD,
	KBUS_PART_DATA,
	KBUS_PART_DPAD,
	KBUS_PART_FINAL,
};

/* The message being written (io_lock; "sending" also read under dev->lock). */
struct kbus_wstate {
	struct kbus_message_header hdr;
	u32 pos;		/* bytes consumed so far */
	u32 total;		/* header size, or the entire length */
	u32 guard;		/* the final end guard as written */
	u32 charged;		/* bytes of msg charged to the device */
	struct kbus_msg *msg;	/* allocated once the header is valid */
	bool started;
	bool complete;
	bool pointy;
	bool copied;		/* pointy name and data are in msg */
	bool sending;		/* an ALL_OR_WAIT send is pending */
};

/* The message being read (io_lock). */
struct kbus_rstate {
	struct kbus_msg *msg;
	struct kbus_message_header hdr;	/* as presented to this reader */
	u32 pos;
	u32 total;
};

struct kbus_dev;

struct kbus_ksock {
	struct kbus_dev *dev;
	u32 id;
	pid_t pid;
	bool can_write;
	struct list_head dev_list;	/* dev->ksocks, newest first */

	struct mutex io_lock;		/* wr and rd */
	struct kbus_wstate wr;
	struct kbus_rstate rd;

	/* Under dev->lock from here on. */
	struct list_head bindings;	/* this Ksock's bindings */
	struct list_head queue;
	u32 count;
	u32 max_messages;
	unsigned long queued_bytes;	/* sum of kbus_msg_size() of the queue */
	wait_queue_head_t read_wait;
	struct kbus_idtable outstanding;
	struct kbus_owedtable owed;
	struct kbus_msg_id last_msg_id_sent;
	bool only_once;
	u64 last_pushed_seq;
	u32 num_setaside;
	bool closing;

	/* Scratch for one delivery pass (see kbus_send.c). */
	u64 pass;
	u32 pending;
	unsigned long pending_bytes;
	u64 pass_seq;
};

struct kbus_dev {
	unsigned int index;
	struct cdev cdev;
	struct device *device;

	struct mutex lock;		/* the device lock: see above */
	struct list_head bindings;	/* newest first, for /proc */
	struct hlist_head *names;	/* the name index */
	struct kbus_name_node **matches; /* scratch: kbus_match() result */
	struct list_head ksocks;	/* newest first */
	struct xarray ksock_ids;	/* id -> struct kbus_ksock */
	wait_queue_head_t write_wait;	/* room may have appeared */
	u32 last_ksock_id;
	u32 last_msg_serial;
	u64 next_seq;
	u64 next_pass;
	u32 num_sending;
	bool verbose;
	bool report_replier_binds;
	u32 max_message_size;
	/* Message bytes held for this device: queued copies, current reads, writes. */
	atomic_long_t mem;

	struct list_head setaside;	/* oldest first */
	u32 num_setaside;
	bool setaside_tragic;
};

#define kbus_trace(dev, fmt, ...)					\
	do {								\
		const struct kbus_dev *__kd = (dev);			\
									\
		if (__kd->verbose)					\
			pr_info("kbus%u: " fmt, __kd->index, ##__VA_ARGS__); \
	} while (0)

/* kbus_main.c */
extern unsigned int kbus_num_devices;
extern unsigned long kbus_max_ksock_bytes;
extern unsigned long kbus_max_device_bytes;
struct kbus_dev *kbus_dev_get(unsigned int index);
int kbus_new_device(u32 *index);
extern struct mutex kbus_devices_lock;

/* kbus_names.c */
int kbus_check_name(const char *name, u32 len, bool allow_wildcard);
char *kbus_copy_name(const char __user *uname, u32 len);
int kbus_index_init(struct kbus_dev *dev);
void kbus_index_exit(struct kbus_dev *dev);
struct kbus_name_node *kbus_node_find(struct kbus_dev *dev, const char *name,
				      u32 len);
struct kbus_name_node *kbus_node_get(struct kbus_dev *dev, const char *name,
				     u32 len);
void kbus_node_put(struct kbus_dev *dev, struct kbus_name_node *node);
u32 kbus_match(struct kbus_dev *dev, const char *name, u32 len);
struct kbus_binding *kbus_match_replier(struct kbus_dev *dev, u32 nmatch);

/* kbus_queue.c */
int kbus_queue_cache_init(void);
void kbus_queue_cache_exit(void);
struct kbus_msg *kbus_msg_alloc(u32 name_len, u32 data_len, gfp_t gfp);
void kbus_msg_put(struct kbus_msg *msg);
static inline struct kbus_msg *kbus_msg_get(struct kbus_msg *msg)
{
	kref_get(&msg->ref);
	return msg;
}

u32 kbus_next_serial(struct kbus_dev *dev);
/* The bytes a message occupies: its entire length. */
static inline u32 kbus_msg_size(const struct kbus_msg *msg)
{
	return KBUS_HDR_LEN + msg->body_len + 4;
}

int kbus_mem_charge(struct kbus_dev *dev, unsigned long bytes);
void kbus_mem_uncharge(struct kbus_dev *dev, unsigned long bytes);
void kbus_unqueue(struct kbus_ksock *ks, struct kbus_qentry *qe);
bool kbus_ksock_full(const struct kbus_ksock *ks, bool for_reply);
void kbus_push(struct kbus_ksock *ks, struct kbus_qentry *qe,
	       struct kbus_msg *msg, struct kbus_binding *b, u32 flags);
struct kbus_qentry *kbus_qentry_alloc(gfp_t gfp);
void kbus_qentry_free(struct kbus_qentry *qe);
void kbus_room_appeared(struct kbus_dev *dev);
int kbus_push_status(struct kbus_ksock *to, const char *name, u32 from,
		     struct kbus_msg_id in_reply_to);
void kbus_status_to_requester(struct kbus_dev *dev, struct kbus_ksock *self,
			      const struct kbus_msg *req, const char *name);
struct kbus_ksock *kbus_find_ksock(struct kbus_dev *dev, u32 id);

int kbus_idtable_reserve(struct kbus_idtable *t);
void kbus_idtable_add(struct kbus_idtable *t, struct kbus_msg_id id);
bool kbus_idtable_remove(struct kbus_idtable *t, struct kbus_msg_id id);
bool kbus_idtable_contains(const struct kbus_idtable *t, struct kbus_msg_id id);
int kbus_owed_add(struct kbus_owedtable *t, struct kbus_msg_id id,
		  u32 requester);
bool kbus_owed_remove(struct kbus_owedtable *t, struct kbus_msg_id id);

void kbus_setaside_add(struct kbus_dev *dev, struct kbus_ksock *ks,
		       struct kbus_binding *b, struct kbus_msg *msg);
int kbus_setaside_promote(struct kbus_ksock *ks);
void kbus_setaside_drop(struct kbus_dev *dev, struct kbus_ksock *ks,
			struct kbus_binding *b);

/* kbus_bindings.c */
struct kbus_binding *kbus_find_exact_replier(struct kbus_dev *dev,
					     const char *name, u32 len);
int kbus_bind(struct kbus_ksock *ks, char *name, u32 len, bool replier);
int kbus_unbind(struct kbus_ksock *ks, char *name, u32 len, bool replier);
void kbus_unbind_all(struct kbus_ksock *ks);
int kbus_report_snapshot(struct kbus_ksock *ks);

/* kbus_send.c */
int kbus_send(struct kbus_ksock *ks, struct kbus_msg_id *id_out);
bool kbus_poll_retry(struct kbus_ksock *ks);
int kbus_deliver_event(struct kbus_dev *dev, struct kbus_msg *msg,
		       bool set_aside);
int kbus_copy_pointy(struct kbus_ksock *ks);

/* kbus_fops.c */
extern const struct file_operations kbus_fops;
void kbus_wstate_reset(struct kbus_ksock *ks);

/* kbus_proc.c */
int kbus_proc_init(void);
void kbus_proc_exit(void);

#endif /* _KBUS_INTERNAL_H */
