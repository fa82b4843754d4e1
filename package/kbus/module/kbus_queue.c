// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: messages, queues, outstanding requests, owed
 * replies, status messages and the set-aside list.
 *
 * Everything here runs under dev->lock unless said otherwise.
 */
#include <linux/overflow.h>
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
	kvfree(container_of(ref, struct kbus_msg, ref));
}

void kbus_msg_put(struct kbus_msg *msg)
{
	if (msg)
		kref_put(&msg->ref, kbus_msg_release);
}

struct kbus_qentry *kbus_qentry_alloc(gfp_t gfp)
{
	return kmem_cache_alloc(kbus_qentry_cache, gfp);
}

void kbus_qentry_free(struct kbus_qentry *qe)
{
	kmem_cache_free(kbus_qentry_cache, qe);
}

int kbus_queue_cache_init(void)
{
	kbus_qentry_cache = KMEM_CACHE(kbus_qentry, 0);
	return kbus_qentry_cache ? 0 : -ENOMEM;
}

void kbus_queue_cache_exit(void)
{
	kmem_cache_destroy(kbus_qentry_cache);
}

/* The next message serial number; 0 is skipped on wrap-around. */
u32 kbus_next_serial(struct kbus_dev *dev)
{
	if (++dev->last_msg_serial == 0)
		dev->last_msg_serial = 1;
	return dev->last_msg_serial;
}

/*
 * Spec 8.2: each outstanding request reserves a slot, so a Ksock is full
 * when count + outstanding >= max. A Reply uses its reserved slot.
 */
bool kbus_ksock_full(const struct kbus_ksock *ks, bool for_reply)
{
	u64 used = (u64)ks->count + ks->outstanding.count;

	if (for_reply && used)
		used--;
	return used >= ks->max_messages;
}

/*
 * Charge bytes of message memory to the device; -ENOMEM beyond
 * kbus_max_device_bytes. Needs no lock.
 */
int kbus_mem_charge(struct kbus_dev *dev, unsigned long bytes)
{
	if (atomic_long_add_return(bytes, &dev->mem) >
	    READ_ONCE(kbus_max_device_bytes)) {
		atomic_long_sub(bytes, &dev->mem);
		return -ENOMEM;
	}
	return 0;
}

void kbus_mem_uncharge(struct kbus_dev *dev, unsigned long bytes)
{
	atomic_long_sub(bytes, &dev->mem);
}

/* Take a copy off ks's queue; its bytes stay charged to the device. */
void kbus_unqueue(struct kbus_ksock *ks, struct kbus_qentry *qe)
{
	list_del(&qe->list);
	ks->count--;
	ks->queued_bytes -= kbus_msg_size(qe->msg);
}

/*
 * Put a copy of msg on ks's queue using the preallocated entry qe. Its
 * bytes are charged without a check: kbus_route() checked the bounds, and
 * status messages must not fail.
 */
void kbus_push(struct kbus_ksock *ks, struct kbus_qentry *qe,
	       struct kbus_msg *msg, struct kbus_binding *b, u32 flags)
{
	qe->msg = kbus_msg_get(msg);
	qe->binding = b;
	qe->flags = flags;
	if (flags & KBUS_BIT_URGENT)
		list_add(&qe->list, &ks->queue);
	else
		list_add_tail(&qe->list, &ks->queue);
	ks->count++;
	ks->queued_bytes += kbus_msg_size(msg);
	atomic_long_add(kbus_msg_size(msg), &ks->dev->mem);
	ks->last_pushed_seq = msg->seq;
	wake_up_interruptible(&ks->read_wait);
}

/* Wake ALL_OR_WAIT senders: some queue may have room now (spec 18.11). */
void kbus_room_appeared(struct kbus_dev *dev)
{
	if (dev->num_sending)
		wake_up_interruptible(&dev->write_wait);
}

struct kbus_ksock *kbus_find_ksock(struct kbus_dev *dev, u32 id)
{
	struct kbus_ksock *ks = xa_load(&dev->ksock_ids, id);

	return ks && !ks->closing ? ks : NULL;
}

/* A message KBUS makes itself: no data, SYNTHETIC, a fresh serial. */
static struct kbus_msg *kbus_synthetic(struct kbus_dev *dev, const char *name)
{
	u32 len = strlen(name);
	struct kbus_msg *msg;

	/* Small, and the reply guarantee must not fail: never fail it. */
	msg = kbus_msg_alloc(len, 0, GFP_KERNEL | __GFP_NOFAIL);
	memcpy(msg->name, name, len);
	msg->id.serial_num = kbus_next_serial(dev);
	msg->seq = ++dev->next_seq;
	msg->flags = KBUS_BIT_SYNTHETIC;
	return msg;
}

/*
 * Queue a status reply (spec 11.3) to "to", at the tail and without a
 * fullness check: for a requester it uses the slot its request reserved.
 */
int kbus_push_status(struct kbus_ksock *to, const char *name, u32 from,
		     struct kbus_msg_id in_reply_to)
{
	struct kbus_dev *dev = to->dev;
	struct kbus_qentry *qe;
	struct kbus_msg *msg;

	qe = kbus_qentry_alloc(GFP_KERNEL | __GFP_NOFAIL);
	msg = kbus_synthetic(dev, name);
	msg->to = to->id;
	msg->from = from;
	msg->in_reply_to = in_reply_to;
	kbus_push(to, qe, msg, NULL, msg->flags);
	kbus_msg_put(msg);
	kbus_trace(dev, "%s [0:%u] to ksock %u for [%u:%u]\n", name,
		   msg->id.serial_num, to->id, in_reply_to.network_id,
		   in_reply_to.serial_num);
	return 0;
}

/*
 * The replier "self" will not answer request "req": tell the requester,
 * if it is still open and still waiting for that reply (so a request that
 * was already answered never gets a second one).
 */
void kbus_status_to_requester(struct kbus_dev *dev, struct kbus_ksock *self,
			      const struct kbus_msg *req, const char *name)
{
	struct kbus_ksock *requester = kbus_find_ksock(dev, req->from);

	if (!requester || !kbus_idtable_remove(&requester->outstanding, req->id))
		return;
	kbus_push_status(requester, name, self->id, req->id);
}

/* Make sure one more id fits without allocating later. */
int kbus_idtable_reserve(struct kbus_idtable *t)
{
	struct kbus_msg_id *ids;
	u32 size;

	if (t->count < t->size)
		return 0;
	size = t->size ? t->size * 2 : KBUS_TABLE_INITIAL;
	ids = krealloc_array(t->ids, size, sizeof(*ids), GFP_KERNEL);
	if (!ids)
		return -ENOMEM;
	t->ids = ids;
	t->size = size;
	return 0;
}

/* Add an id; kbus_idtable_reserve() must have succeeded first. */
void kbus_idtable_add(struct kbus_idtable *t, struct kbus_msg_id id)
{
	t->ids[t->count++] = id;
	if (t->count > t->max)
		t->max = t->count;
}

static bool kbus_id_eq(struct kbus_msg_id a, struct kbus_msg_id b)
{
	return a.network_id == b.network_id && a.serial_num == b.serial_num;
}

bool kbus_idtable_contains(const struct kbus_idtable *t, struct kbus_msg_id id)
{
	u32 i;

	for (i = 0; i < t->count; i++) {
		if (kbus_id_eq(t->ids[i], id))
			return true;
	}
	return false;
}

bool kbus_idtable_remove(struct kbus_idtable *t, struct kbus_msg_id id)
{
	u32 i;

	for (i = 0; i < t->count; i++) {
		if (kbus_id_eq(t->ids[i], id)) {
			t->ids[i] = t->ids[--t->count];
			return true;
		}
	}
	return false;
}

int kbus_owed_add(struct kbus_owedtable *t, struct kbus_msg_id id,
		  u32 requester)
{
	if (t->count == t->size) {
		u32 size = t->size ? t->size * 2 : KBUS_TABLE_INITIAL;
		struct kbus_owed *owed;

		owed = krealloc_array(t->owed, size, sizeof(*owed), GFP_KERNEL);
		if (!owed)
			return -ENOMEM;
		t->owed = owed;
		t->size = size;
	}
	t->owed[t->count].id = id;
	t->owed[t->count].requester = requester;
	t->count++;
	if (t->count > t->max)
		t->max = t->count;
	return 0;
}

bool kbus_owed_remove(struct kbus_owedtable *t, struct kbus_msg_id id)
{
	u32 i;

	for (i = 0; i < t->count; i++) {
		if (kbus_id_eq(t->owed[i].id, id)) {
			memmove(&t->owed[i], &t->owed[i + 1],
				(t->count - i - 1) * sizeof(t->owed[0]));
			t->count--;
			return true;
		}
	}
	return false;
}

/* Record an unbind event for ks that its full queue cannot take now. */
void kbus_setaside_add(struct kbus_dev *dev, struct kbus_ksock *ks,
		       struct kbus_binding *b, struct kbus_msg *msg)
{
	struct kbus_setaside *sa;

	sa = kmalloc(sizeof(*sa), GFP_KERNEL | __GFP_NOFAIL);
	sa->ksock = ks;
	sa->binding = b;
	sa->msg = kbus_msg_get(msg);
	list_add_tail(&sa->list, &dev->setaside);
	dev->num_setaside++;
	ks->num_setaside++;
	/* Set-aside events make the Ksock readable (spec 18.10). */
	wake_up_interruptible(&ks->read_wait);
}

static void kbus_setaside_free(struct kbus_dev *dev, struct kbus_setaside *sa)
{
	list_del(&sa->list);
	sa->ksock->num_setaside--;
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

	if (!ks->num_setaside)
		return 0;
	list_for_each_entry(sa, &dev->setaside, list) {
		if (sa->ksock != ks)
			continue;
		qe = kbus_qentry_alloc(GFP_KERNEL);
		if (!qe)
			return -ENOMEM;
		kbus_push(ks, qe, sa->msg, NULL, sa->msg->flags);
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

	if (!ks->num_setaside)
		return;
	list_for_each_entry_safe(sa, tmp, &dev->setaside, list) {
		if (sa->ksock == ks && (!b || sa->binding == b))
			kbus_setaside_free(dev, sa);
	}
}
