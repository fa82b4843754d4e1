// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: messages, queue entries, queues and the
 * set-aside list.
 */
#include <linux/cred.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "kbus_internal.h"

static struct kmem_cache *kbus_qentry_cache;

/* Allocate a message with room for the padded name and data. No lock. */
struct kbus_msg *kbus_msg_alloc(u32 name_len, u32 data_len, gfp_t gfp)
{
	u32 npad = KBUS_PADDED_NAME_LEN(name_len);
	u32 dpad = KBUS_PADDED_DATA_LEN(data_len);
	struct kbus_msg *msg;

	msg = kvzalloc(struct_size(msg, body, npad + dpad), gfp);
	if (!msg)
		return NULL;
	kref_init(&msg->ref);
	msg->name_len = name_len;
	msg->data_len = data_len;
	msg->body_len = npad + dpad;
	msg->name = (char *)msg->body;
	msg->data = msg->body + npad;
	return msg;
}

static void kbus_msg_release(struct kref *ref)
{
	struct kbus_msg *msg = container_of(ref, struct kbus_msg, ref);

	put_pid(msg->pid);
	kvfree(msg);
}

void kbus_msg_put(struct kbus_msg *msg)
{
	if (msg)
		kref_put(&msg->ref, kbus_msg_release);
}

struct kbus_qentry *kbus_qentry_alloc(gfp_t gfp)
{
	return kmem_cache_zalloc(kbus_qentry_cache, gfp);
}

/* Free an entry that is in no queue, giving back its bytes and message. */
void kbus_qentry_free(struct kbus_dev *dev, struct kbus_qentry *qe)
{
	if (!qe)
		return;
	kbus_uncharge(dev, &qe->charge);
	kbus_msg_put(qe->msg);
	kmem_cache_free(kbus_qentry_cache, qe);
}

int kbus_queue_cache_init(void)
{
	kbus_qentry_cache = KMEM_CACHE(kbus_qentry, SLAB_ACCOUNT);
	return kbus_qentry_cache ? 0 : -ENOMEM;
}

void kbus_queue_cache_exit(void)
{
	kmem_cache_destroy(kbus_qentry_cache);
}

/* The next message serial number; 0 is skipped on wrap-around. */
u32 kbus_next_serial(struct kbus_dev *dev)
{
	lockdep_assert_held(&dev->lock);
	if (++dev->last_msg_serial == 0)
		dev->last_msg_serial = 1;
	return dev->last_msg_serial;
}

/* The queue's count and bytes, which a reader's fast pop may lower. */
u32 kbus_ksock_count(const struct kbus_ksock *ks)
{
	return READ_ONCE(ks->count);
}

unsigned long kbus_ksock_queued_bytes(const struct kbus_ksock *ks)
{
	return READ_ONCE(ks->queued_bytes);
}

/*
 * Spec 8.2: each outstanding request reserves a slot, so a Ksock is full
 * when count + outstanding >= max. A Reply uses its reserved slot.
 */
bool kbus_ksock_full(const struct kbus_ksock *ks, bool for_reply)
{
	u64 used = (u64)kbus_ksock_count(ks) + ks->num_outstanding;

	lockdep_assert_held(&ks->dev->lock);
	if (for_reply && used)
		used--;
	return used >= ks->max_messages;
}

/*
 * Put the planned copy qe (its Ksock, message, flags and charge set) on
 * its Ksock's queue. Cannot fail: everything was reserved by the plan.
 */
void kbus_push(struct kbus_qentry *qe)
{
	struct kbus_ksock *ks = qe->ksock;

	lockdep_assert_held(&ks->dev->lock);
	spin_lock(&ks->qlock);
	if (qe->flags & KBUS_BIT_URGENT)
		list_add(&qe->list, &ks->queue);
	else
		list_add_tail(&qe->list, &ks->queue);
	WRITE_ONCE(ks->count, ks->count + 1);
	WRITE_ONCE(ks->queued_bytes, ks->queued_bytes + qe->charge.bytes);
	spin_unlock(&ks->qlock);
	/* A reader, not a writer: the sender goes on to its other copies. */
	wake_up_interruptible_sync_poll(&ks->read_wait, EPOLLIN | EPOLLRDNORM);
}

static void __kbus_unqueue(struct kbus_ksock *ks, struct kbus_qentry *qe)
{
	lockdep_assert_held(&ks->qlock);
	list_del(&qe->list);
	WRITE_ONCE(ks->count, ks->count - 1);
	WRITE_ONCE(ks->queued_bytes, ks->queued_bytes - qe->charge.bytes);
}

/* Take a copy off its queue; its bytes stay charged (to whoever takes it). */
void kbus_unqueue(struct kbus_qentry *qe)
{
	struct kbus_ksock *ks = qe->ksock;

	lockdep_assert_held(&ks->dev->lock);
	spin_lock(&ks->qlock);
	__kbus_unqueue(ks, qe);
	spin_unlock(&ks->qlock);
}

/*
 * NEXTMSG's fast path, without dev->lock: take the first message off the
 * queue if it is a plain one (no request this Ksock must answer) and no
 * set-aside event waits to come up after it; else NULL (and nothing done).
 */
struct kbus_qentry *kbus_pop_plain(struct kbus_ksock *ks)
{
	return kbus_pop_plain_if(ks, NULL, NULL);
}

/* The same, only if the first copy is qe holding msg (when qe is given). */
struct kbus_qentry *kbus_pop_plain_if(struct kbus_ksock *ks,
				      struct kbus_qentry *want,
				      struct kbus_msg *msg)
{
	struct kbus_qentry *qe;

	lockdep_assert_held(&ks->io_lock);
	if (READ_ONCE(ks->num_setaside))
		return NULL;
	spin_lock(&ks->qlock);
	qe = list_first_entry_or_null(&ks->queue, struct kbus_qentry, list);
	if (qe && !qe->req && (!want || (qe == want && qe->msg == msg)))
		__kbus_unqueue(ks, qe);
	else
		qe = NULL;
	spin_unlock(&ks->qlock);
	return qe;
}

struct kbus_ksock *kbus_find_ksock(struct kbus_dev *dev, u32 id)
{
	struct kbus_ksock *ks;

	lockdep_assert_held(&dev->lock);
	ks = xa_load(&dev->ksock_ids, id);
	return ks && !ks->closing ? ks : NULL;
}

/* A message KBUS makes itself: no data, SYNTHETIC, a fresh serial. */
struct kbus_msg *kbus_synthetic(struct kbus_dev *dev, const char *name,
				gfp_t gfp)
{
	u32 len = strlen(name);
	struct kbus_msg *msg;

	lockdep_assert_held(&dev->lock);
	msg = kbus_msg_alloc(len, 0, gfp);
	if (!msg)
		return NULL;
	memcpy(msg->name, name, len);
	msg->id.serial_num = kbus_next_serial(dev);
	msg->seq = ++dev->next_seq;
	msg->flags = KBUS_BIT_SYNTHETIC;
	return msg;
}

/*
 * Record an unbind event for ks that its full queue cannot take now, in
 * the entry sa the caller allocated. Set-aside events are bounded by
 * count per device (CONFIG_KBUS_MAX_UNSENT_UNBIND_MESSAGES): that is their
 * reserved budget, so their bytes are charged only when they come up.
 */
void kbus_setaside_add(struct kbus_setaside *sa, struct kbus_ksock *ks,
		       struct kbus_binding *b, struct kbus_msg *msg)
{
	struct kbus_dev *dev = ks->dev;

	lockdep_assert_held(&dev->lock);
	sa->ksock = ks;
	sa->binding = b;
	sa->msg = kbus_msg_get(msg);
	list_add_tail(&sa->list, &dev->setaside);
	dev->num_setaside++;
	WRITE_ONCE(ks->num_setaside, ks->num_setaside + 1);
	/* Set-aside events make the Ksock readable (spec 18.10). */
	wake_up_interruptible_poll(&ks->read_wait, EPOLLIN | EPOLLRDNORM);
}

static void kbus_setaside_free(struct kbus_dev *dev, struct kbus_setaside *sa)
{
	list_del(&sa->list);
	WRITE_ONCE(sa->ksock->num_setaside, sa->ksock->num_setaside - 1);
	dev->num_setaside--;
	if (!dev->num_setaside)
		dev->setaside_tragic = false;
	kbus_msg_put(sa->msg);
	kfree(sa);
}

/*
 * Move ks's oldest set-aside event to the tail of its queue. Returns
 * -ENOMEM when there is one but no queue entry for it: it stays set aside
 * and is promoted at the next pop.
 */
int kbus_setaside_promote(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_setaside *sa;
	struct kbus_qentry *qe;
	int err;

	lockdep_assert_held(&dev->lock);
	if (!ks->num_setaside)
		return 0;
	list_for_each_entry(sa, &dev->setaside, list) {
		if (sa->ksock != ks)
			continue;
		qe = kbus_qentry_alloc(GFP_KERNEL_ACCOUNT);
		if (!qe)
			return -ENOMEM;
		/* Reserved by the set-aside bound: charged past the quotas. */
		err = kbus_charge(dev, &qe->charge, ks->user, ks->user->uid,
				  kbus_msg_size(sa->msg), true);
		if (err) {
			kbus_qentry_free(dev, qe);
			return err;
		}
		qe->ksock = ks;
		qe->msg = kbus_msg_get(sa->msg);
		qe->flags = sa->msg->flags;
		kbus_push(qe);
		kbus_setaside_free(dev, sa);
		return 0;
	}
	return 0;
}

/* Drop ks's set-aside events: all of them, or those due to binding b. */
void kbus_setaside_drop(struct kbus_dev *dev, struct kbus_ksock *ks,
			struct kbus_binding *b)
{
	struct kbus_setaside *sa, *tmp;

	lockdep_assert_held(&dev->lock);
	if (!ks->num_setaside)
		return;
	list_for_each_entry_safe(sa, tmp, &dev->setaside, list) {
		if (sa->ksock == ks && (!b || sa->binding == b))
			kbus_setaside_free(dev, sa);
	}
}
