/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KBUS kernel message bus: the module's internal structures.
 *
 * Locking, outermost first:
 *
 *   kbus_devices_lock (global mutex): the device table and NEWDEVICE.
 *   ksock->io_lock (mutex): that Ksock's write parser and read position.
 *	write() and read() copy to and from user space under it only.
 *   dev->lock (mutex): everything shared on one device: bindings and the
 *	name index, Ksock table, queues, requests, set-aside list, users'
 *	counts, counters and flags. Never held across a copy of message
 *	bytes from or to user space (pointy names and data are copied before
 *	it is taken); only small ioctl arguments are copied under it.
 *   ksock->qlock (spinlock): that Ksock's queue (the list, its count and
 *	bytes). Messages are queued under dev->lock and qlock; a plain
 *	message is taken off under qlock and io_lock only (NEXTMSG's fast
 *	path), so readers under dev->lock see the count and bytes go down
 *	at any time, never up.
 *   dev->acct_lock (spinlock): the byte accounting (dev->mem, each user's
 *	bytes and usages), the list of Ksocks waiting to send and what each
 *	waits for, and the room counters (dev->budget_seq, ks->room_seq).
 *	Taken for a few instructions by whoever charges or gives back bytes
 *	or makes room, with or without the locks above; never with a qlock
 *	held.
 *
 * A sent message is one reference-counted struct kbus_msg shared by every
 * recipient; each queue holds a small struct kbus_qentry per copy with that
 * copy's flags and the bytes it holds charged (kbus_acct.c).
 *
 * Every quantity a client controls is bounded: bytes per Ksock, per user
 * and per device (kbus_acct.c), bindings per Ksock, per user and per
 * device, Ksocks per user, devices created by unprivileged users, set-aside
 * events per device. The bounds are module parameters (kbus_main.c).
 */
#ifndef _KBUS_INTERNAL_H
#define _KBUS_INTERNAL_H

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/rhashtable-types.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
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
/* The id tables of the original started at 16 entries (/proc "size"). */
#define KBUS_TABLE_INITIAL	16

#define KBUS_BIND_EVENT_FLAGS	(KBUS_BIT_SYNTHETIC | KBUS_BIT_ALL_OR_FAIL)

/* The longest status message name: "$.KBUS.Replier.Disappeared". */
#define KBUS_STATUS_NAME_MAX	26

/* A name has at most this many nodes matching it: one "*" per level, "%", exact. */
#define KBUS_MAX_MATCHES	(KBUS_MAX_NAME_LEN / 2 + 2)

/* How a binding's name matches (spec 3.3); also the replier rank, 7.3. */
enum kbus_match {
	KBUS_MATCH_STAR = 1,	/* ends in ".*" */
	KBUS_MATCH_PERCENT = 2,	/* ends in ".%" */
	KBUS_MATCH_EXACT = 3,
};

struct kbus_dev;
struct kbus_ksock;
struct kbus_req;

/*
 * One user (UID) with Ksocks open on a device: what it holds there. Made
 * when its first Ksock opens, freed when its last one closes (dev->lock).
 */
struct kbus_user {
	struct list_head dev_list;	/* dev->users */
	kuid_t uid;
	u32 ksocks;			/* open Ksocks (dev->lock) */
	u32 bindings;			/* bindings of those (dev->lock) */
	/* Under dev->acct_lock: */
	unsigned long bytes;		/* message bytes its Ksocks hold */
	struct list_head usages;	/* other users' part of those bytes */
	u32 n_usages;
};

/* The bytes one other user (the actor) made a user's Ksocks hold. */
struct kbus_usage {
	struct list_head list;		/* holder->usages */
	kuid_t actor;
	unsigned long bytes;
};

/* Bytes charged: to whom, on whose behalf, how many. Zeroed: nothing. */
struct kbus_charge {
	struct kbus_user *user;
	struct kbus_usage *usage;	/* NULL: on the holder's own behalf */
	unsigned long bytes;
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
	kuid_t uid;			/* the sender's user (the actor) */
	/*
	 * The sender's effective ids and thread group at SEND (copies: no
	 * reference on its cred, whose refcount other tasks share); none when
	 * KBUS made the message (has_sender false).
	 */
	bool has_sender;
	kuid_t euid;
	kgid_t egid;
	struct pid *pid;
	u32 name_len;
	u32 data_len;
	u32 body_len;			/* padded name + padded data */
	char *name;			/* = body: name, NUL, zero padding */
	u8 *data;			/* = body + padded name length */
	u8 body[];
};

/*
 * One name string that something is bound to ("$.a.b", "$.a.*", "$.a.%"),
 * in the device's name index (a resizable hash table keyed with siphash):
 * sending looks up the message name and the wildcards that could match it,
 * never scanning unrelated bindings.
 */
struct kbus_name_node {
	struct rhash_head hnode;	/* dev->names */
	struct rcu_head rcu;
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

/* One copy of a message: planned for, then in, a Ksock's queue. */
struct kbus_qentry {
	struct list_head list;
	struct kbus_ksock *ksock;	/* whose queue */
	struct kbus_msg *msg;
	struct kbus_binding *binding;	/* the binding it came by, or NULL */
	struct kbus_req *req;		/* the request this copy must answer */
	struct kbus_charge charge;	/* the bytes it holds */
	u32 flags;			/* this copy's flags */
};

/* A replier-unbind event that could not be queued yet (spec 10.4). */
struct kbus_setaside {
	struct list_head list;		/* dev->setaside, oldest first */
	struct kbus_ksock *ksock;
	struct kbus_binding *binding;
	struct kbus_msg *msg;
};

/*
 * An accepted Request (kbus_requests.c): in its requester's outstanding
 * set and in the device's request index until answered, then, once
 * popped by its replier, in that replier's owed list. It carries the
 * answer's reservation: a status message, its queue entry and their bytes,
 * made when the request is accepted, so that the answer KBUS owes can
 * always be given.
 */
struct kbus_req_key {
	u32 requester;			/* Ksock id */
	u32 network_id;
	u32 serial_num;
};

/* Answered requests a Ksock keeps for its next ones (kbus_requests.c). */
#define KBUS_SPARE_REQS	4

struct kbus_req {
	struct rhash_head hnode;	/* dev->requests */
	struct rcu_head rcu;
	struct kbus_req_key key;
	bool hashed;			/* in dev->requests */
	bool queued;			/* its WANT_YOU_TO_REPLY copy is queued */
	struct kbus_ksock *requester;	/* NULL: answered or requester gone */
	struct list_head out_list;	/* requester->outstanding */
	struct kbus_ksock *replier;	/* who popped it and owes the reply */
	struct list_head owed_list;	/* replier->owed */
	struct kbus_qentry *status;	/* the reserved answer, with its bytes */
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
	struct kbus_charge charge;	/* bytes of msg charged */
	struct kbus_msg *msg;	/* allocated once the header is valid */
	struct kbus_req *req;	/* a pending Request's reservation */
	bool started;
	bool complete;
	bool pointy;
	bool copied;		/* pointy name and data are in msg */
	bool sending;		/* an ALL_OR_WAIT send is pending */
};

/* The message being read (io_lock). */
struct kbus_rstate {
	struct kbus_msg *msg;
	struct kbus_charge charge;
	struct kbus_message_header hdr;	/* as presented to this reader */
	u32 pos;
	u32 total;
};

/*
 * What a pending ALL_OR_WAIT send waits for (kbus_acct.c): room in one
 * Ksock's queue, room in the byte budgets, or anything.
 */
enum kbus_wait_kind {
	KBUS_WAIT_ANY,
	KBUS_WAIT_KSOCK,
	KBUS_WAIT_BUDGET,
};

struct kbus_wait {
	enum kbus_wait_kind kind;
	const struct kbus_ksock *on;	/* KBUS_WAIT_KSOCK: compared only */
	u32 seq;			/* on->room_seq or dev->budget_seq, as seen */
};

struct kbus_ksock {
	struct kbus_dev *dev;
	struct kbus_user *user;
	u32 id;
	pid_t pid;
	bool can_write;
	bool privileged;		/* opened with CAP_SYS_ADMIN */
	const struct cred *cred;	/* the opener's (listen policy) */
	struct list_head dev_list;	/* dev->ksocks, newest first */

	struct mutex io_lock;		/* wr, rd and the sender's below */
	struct kbus_wstate wr;
	struct kbus_rstate rd;
	/* Who sent the message NEXTMSG last made current (MSGCREDS). */
	bool has_sender;
	bool sender_synthetic;		/* KBUS made it */
	kuid_t sender_euid;
	kgid_t sender_egid;
	struct pid *sender_pid;

	wait_queue_head_t read_wait;
	wait_queue_head_t write_wait;
	/* An ALL_OR_WAIT send pending: what it waits for (dev->acct_lock). */
	struct list_head send_list;	/* dev->sending */
	struct kbus_wait send_wait;
	u32 room_seq;			/* bumped when this queue gains room */

	spinlock_t qlock;		/* the queue: see above */
	struct list_head queue;
	u32 count;
	unsigned long queued_bytes;	/* charged bytes of the queue */

	/* Under dev->lock from here on. */
	struct list_head bindings;	/* this Ksock's bindings */
	u32 num_bindings;
	u32 max_messages;
	unsigned long reserved_bytes;	/* charged for outstanding answers */
	struct list_head outstanding;	/* kbus_req it sent, unanswered */
	u32 num_outstanding;
	u32 max_outstanding;
	struct list_head owed;		/* kbus_req it popped, unanswered */
	u32 num_owed;
	u32 max_owed;
	struct list_head spare_reqs;	/* answered kbus_req kept for reuse */
	u32 num_spare_reqs;
	struct kbus_msg_id last_msg_id_sent;
	bool only_once;
	bool batch_read;		/* read() returns whole messages (io_lock) */
	u32 filtered;			/* messages the policy withheld */
	u32 num_setaside;
	bool closing;

	/* Scratch for one delivery plan (see kbus_send.c). */
	u64 pass;
	u32 pending;
	unsigned long pending_bytes;
	u64 pass_seq;
};

struct kbus_dev {
	unsigned int index;
	struct cdev *cdev;
	struct device *device;
	kuid_t creator;			/* NEWDEVICE by an unprivileged user */
	bool unprivileged;

	struct mutex lock;		/* the device lock: see above */
	struct list_head bindings;	/* newest first, for /proc */
	u32 num_bindings;
	struct rhashtable names;	/* the name index */
	struct kbus_name_node **matches; /* scratch: kbus_match() result */
	struct kbus_name_key *keys;	/* scratch: kbus_match()'s keys */
	u32 nkeys;
	struct rhashtable requests;	/* accepted requests, by requester+id */
	struct list_head ksocks;	/* newest first */
	struct xarray ksock_ids;	/* id -> struct kbus_ksock */
	struct list_head users;		/* struct kbus_user */
	u32 last_ksock_id;
	u32 last_msg_serial;
	u64 next_seq;
	u64 next_pass;
	bool verbose;
	bool report_replier_binds;
	u32 max_message_size;

	spinlock_t acct_lock;		/* see above */
	unsigned long mem;		/* message bytes charged on this device */
	u32 n_users_charged;		/* users holding bytes */
	u32 budget_seq;			/* bumped when bytes are given back */
	struct list_head sending;	/* Ksocks with an ALL_OR_WAIT send pending */

	struct list_head setaside;	/* oldest first */
	u32 num_setaside;
	bool setaside_tragic;

	struct kbus_pdb *policy;	/* NULL: none (kbus_policy.c) */
	struct kbus_name_key *policy_keys;	/* scratch (binding patterns) */
	struct kbus_pnode **policy_nodes;	/* scratch */
	u64 send_retries;		/* pending ALL_OR_WAIT sends retried */
	u64 denied_binds;
	u64 denied_sends;
	u64 filtered;
};

/*
 * Verbose output (VERBOSE ioctl): through dynamic debug and rate limited,
 * so it prints only what root enabled in dynamic_debug/control.
 */
#define kbus_trace(dev, fmt, ...)					\
	do {								\
		const struct kbus_dev *__kd = (dev);			\
									\
		if (READ_ONCE(__kd->verbose))				\
			pr_debug_ratelimited("kbus%u: " fmt, __kd->index, \
					     ##__VA_ARGS__);		\
	} while (0)

/* kbus_main.c: parameters and devices */
extern unsigned int kbus_num_devices;
extern unsigned long kbus_max_ksock_bytes;
extern unsigned long kbus_max_user_bytes;
extern unsigned long kbus_max_device_bytes;
extern unsigned int kbus_max_ksock_bindings;
extern unsigned int kbus_max_user_bindings;
extern unsigned int kbus_max_device_bindings;
extern unsigned int kbus_max_user_ksocks;
extern unsigned int kbus_max_user_devices;
extern bool kbus_compat_open;
struct kbus_dev *kbus_dev_get(unsigned int index);
int kbus_new_device(u32 *index);
bool kbus_may_admin(struct file *file, struct kbus_dev *dev);

/* kbus_acct.c */
struct kbus_user *kbus_user_get(struct kbus_dev *dev, kuid_t uid);
void kbus_user_put(struct kbus_dev *dev, struct kbus_user *user);
int kbus_charge(struct kbus_dev *dev, struct kbus_charge *c,
		struct kbus_user *holder, kuid_t actor, unsigned long bytes,
		bool force);
void kbus_uncharge(struct kbus_dev *dev, struct kbus_charge *c);
void kbus_uncharge_undo(struct kbus_dev *dev, struct kbus_charge *c);
void kbus_room_appeared(struct kbus_dev *dev);
void kbus_ksock_room(struct kbus_ksock *ks);
void kbus_sending_wait(struct kbus_ksock *ks, const struct kbus_wait *w);
void kbus_sending_end(struct kbus_ksock *ks);

/* What a name index is searched with: prefix[0..plen) then "last" (if not 0). */
struct kbus_name_key {
	const char *prefix;
	u32 plen;
	char last;
	u32 hash;
};

/* kbus_names.c */
int kbus_names_init(void);
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
u32 kbus_name_hash(const char *name, u32 len);
u32 kbus_cover_keys(const char *name, u32 len, struct kbus_name_key *keys);
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

struct kbus_qentry *kbus_qentry_alloc(gfp_t gfp);
void kbus_qentry_free(struct kbus_dev *dev, struct kbus_qentry *qe);
void kbus_push(struct kbus_qentry *qe);
void kbus_unqueue(struct kbus_qentry *qe);
struct kbus_qentry *kbus_pop_plain(struct kbus_ksock *ks);
struct kbus_qentry *kbus_pop_plain_if(struct kbus_ksock *ks,
				      struct kbus_qentry *want,
				      struct kbus_msg *msg);
u32 kbus_ksock_count(const struct kbus_ksock *ks);
unsigned long kbus_ksock_queued_bytes(const struct kbus_ksock *ks);
bool kbus_ksock_full(const struct kbus_ksock *ks, bool for_reply);
struct kbus_ksock *kbus_find_ksock(struct kbus_dev *dev, u32 id);
struct kbus_msg *kbus_synthetic(struct kbus_dev *dev, const char *name,
				gfp_t gfp);

void kbus_setaside_add(struct kbus_setaside *sa, struct kbus_ksock *ks,
		       struct kbus_binding *b, struct kbus_msg *msg);
int kbus_setaside_promote(struct kbus_ksock *ks);
void kbus_setaside_drop(struct kbus_dev *dev, struct kbus_ksock *ks,
			struct kbus_binding *b);

/* kbus_requests.c */
int kbus_requests_init(struct kbus_dev *dev);
void kbus_requests_exit(struct kbus_dev *dev);
struct kbus_req *kbus_req_new(struct kbus_ksock *requester);
void kbus_req_free(struct kbus_dev *dev, struct kbus_req *req);
void kbus_req_drop(struct kbus_ksock *ks, struct kbus_req *req);
int kbus_req_accept(struct kbus_req *req, struct kbus_msg_id id);
void kbus_req_unaccept(struct kbus_req *req);
void kbus_req_commit(struct kbus_req *req);
struct kbus_req *kbus_req_find(struct kbus_dev *dev, u32 requester,
			       struct kbus_msg_id id);
void kbus_req_answered(struct kbus_req *req, struct kbus_ksock *by);
void kbus_req_forget(struct kbus_req *req, struct kbus_ksock *replier);
void kbus_req_popped(struct kbus_req *req, struct kbus_ksock *replier);
void kbus_req_replier_gone(struct kbus_dev *dev, struct kbus_req *req,
			   const char *why, u32 from);
void kbus_req_pending_status(struct kbus_ksock *ks, const char *name);
void kbus_requests_close_requester(struct kbus_ksock *ks);
void kbus_requests_close_replier(struct kbus_ksock *ks);

/* kbus_policy.c */
struct kbus_pdb;
struct kbus_pnode;
struct seq_file;
int kbus_policy_init(struct kbus_dev *dev);
void kbus_policy_exit(struct kbus_dev *dev);
void kbus_policy_free(struct kbus_pdb *pol);
int kbus_policy_load(struct kbus_dev *dev, const struct kbus_policy __user *arg);
bool kbus_policy_allows(struct kbus_dev *dev, u8 action, const char *name,
			u32 len, const struct cred *cred);
u32 kbus_policy_prepare(struct kbus_dev *dev);
bool kbus_policy_allows_prepared(struct kbus_dev *dev, u32 nnodes, u8 action,
				 const struct cred *cred);
bool kbus_reserved_name(const char *name, u32 len);
void kbus_policy_show(struct seq_file *m, struct kbus_dev *dev);

/* kbus_bindings.c */
struct kbus_binding *kbus_find_exact_replier(struct kbus_dev *dev,
					     const char *name, u32 len);
int kbus_bind(struct kbus_ksock *ks, char *name, u32 len, bool replier);
int kbus_unbind(struct kbus_ksock *ks, char *name, u32 len, bool replier);
void kbus_unbind_all(struct kbus_ksock *ks);
int kbus_report_snapshot(struct kbus_ksock *ks);

/* kbus_send.c */
int kbus_send(struct kbus_ksock *ks, struct kbus_msg_id *id_out);
void kbus_discard(struct kbus_ksock *ks);
void kbus_end_sending(struct kbus_ksock *ks);
bool kbus_poll_retry(struct kbus_ksock *ks);
int kbus_deliver_event(struct kbus_dev *dev, struct kbus_msg *msg,
		       struct kbus_user *actor, bool set_aside);
int kbus_copy_pointy(struct kbus_ksock *ks);

/* kbus_fops.c */
extern const struct file_operations kbus_fops;
void kbus_wstate_reset(struct kbus_ksock *ks);

/* kbus_proc.c */
int kbus_proc_init(void);
void kbus_proc_exit(void);

#endif /* _KBUS_INTERNAL_H */
