// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: bindings, their bounds, and replier bind events
 * (spec sections 6.3, 6.4, 7 and 10).
 *
 * Bindings are bounded per Ksock, per user and per device (module
 * parameters kbus_max_*_bindings): a BIND beyond a bound fails with ENOSPC.
 */
#include <linux/cred.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "kbus_internal.h"

static bool kbus_name_is(const char *name, u32 len, const char *what)
{
	return len == strlen(what) && !memcmp(name, what, len);
}

/* The replier bound to exactly this name string (REPLIER, EADDRINUSE). */
struct kbus_binding *kbus_find_exact_replier(struct kbus_dev *dev,
					     const char *name, u32 len)
{
	struct kbus_name_node *node = kbus_node_find(dev, name, len);

	return node ? node->replier : NULL;
}

/* A $.KBUS.ReplierBindEvent (spec 10.2) about a binding of binder. */
static struct kbus_msg *kbus_bind_event(struct kbus_dev *dev, bool is_bind,
					struct kbus_ksock *binder,
					const char *name, u32 len, gfp_t gfp)
{
	u32 ev_len = strlen(KBUS_MSG_NAME_REPLIER_BIND_EVENT);
	struct kbus_replier_bind_event_data *data;
	struct kbus_msg *msg;

	lockdep_assert_held(&dev->lock);
	msg = kbus_msg_alloc(ev_len, sizeof(*data) + KBUS_PADDED_NAME_LEN(len),
			     gfp);
	if (!msg)
		return NULL;
	memcpy(msg->name, KBUS_MSG_NAME_REPLIER_BIND_EVENT, ev_len);
	data = (struct kbus_replier_bind_event_data *)msg->data;
	data->is_bind = is_bind;
	data->binder = binder->id;
	data->name_len = len;
	memcpy(data->rest, name, len);
	msg->id.serial_num = kbus_next_serial(dev);
	msg->seq = ++dev->next_seq;
	msg->flags = KBUS_BIND_EVENT_FLAGS;
	msg->uid = binder->user->uid;
	return msg;
}

/*
 * Tell the listeners of bind events about a replier (un)binding. At close
 * (set_aside) this cannot fail; otherwise -EAGAIN if a listener that may
 * hold binds up is full (see kbus_send.c).
 */
static int kbus_report(struct kbus_ksock *ks, struct kbus_binding *b,
		       bool is_bind, bool set_aside)
{
	struct kbus_dev *dev = ks->dev;
	gfp_t gfp = GFP_KERNEL_ACCOUNT | (set_aside ? __GFP_NOFAIL : 0);
	struct kbus_msg *ev;
	int err;

	ev = kbus_bind_event(dev, is_bind, ks, b->name, b->name_len, gfp);
	if (!ev)
		return -ENOMEM;
	err = kbus_deliver_event(dev, ev, ks->user, set_aside);
	kbus_msg_put(ev);
	return err == -EBUSY ? -EAGAIN : err;
}

/* Take b out of the index, the lists and the counts; the caller frees it. */
static void kbus_binding_unlink(struct kbus_dev *dev, struct kbus_binding *b)
{
	struct kbus_ksock *ks = b->ksock;

	lockdep_assert_held(&dev->lock);
	list_del(&b->dev_list);
	list_del(&b->node_list);
	list_del(&b->ks_list);
	if (b->node->replier == b)
		b->node->replier = NULL;
	kbus_node_put(dev, b->node);
	ks->num_bindings--;
	ks->user->bindings--;
	dev->num_bindings--;
}

/* May ks bind once more? -ENOSPC past a bound. */
static int kbus_binding_room(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;

	if (ks->num_bindings >= READ_ONCE(kbus_max_ksock_bindings) ||
	    ks->user->bindings >= READ_ONCE(kbus_max_user_bindings) ||
	    dev->num_bindings >= READ_ONCE(kbus_max_device_bindings))
		return -ENOSPC;
	return 0;
}

/* BIND (spec 6.3); the name has been checked. */
int kbus_bind(struct kbus_ksock *ks, char *name, u32 len, bool replier)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_name_node *node;
	struct kbus_binding *b;
	int err;

	lockdep_assert_held(&dev->lock);
	if (replier && kbus_name_is(name, len, KBUS_MSG_NAME_REPLIER_BIND_EVENT))
		return -EBADMSG;
	if (replier && !kbus_policy_allows(dev, KBUS_POLICY_OWN, name, len,
					   current_cred())) {
		dev->denied_binds++;
		return -EPERM;
	}
	if (replier && kbus_find_exact_replier(dev, name, len))
		return -EADDRINUSE;
	err = kbus_binding_room(ks);
	if (err)
		return err;

	b = kmalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return -ENOMEM;
	node = kbus_node_get(dev, name, len);
	if (!node) {
		kfree(b);
		return -ENOMEM;
	}
	b->node = node;
	b->ksock = ks;
	b->is_replier = replier;
	b->name_len = len;
	b->name = node->name;

	/* The event goes first, so a binder that listens sees its own bind. */
	if (replier && dev->report_replier_binds) {
		err = kbus_report(ks, b, true, false);
		if (err) {
			kbus_node_put(dev, node);
			kfree(b);
			return err;
		}
	}
	list_add(&b->dev_list, &dev->bindings);
	list_add(&b->node_list, &node->bindings);
	list_add(&b->ks_list, &ks->bindings);
	if (replier)
		node->replier = b;
	ks->num_bindings++;
	ks->user->bindings++;
	dev->num_bindings++;
	kbus_trace(dev, "ksock %u bound %c %s\n", ks->id, replier ? 'R' : 'L',
		   b->name);
	return 0;
}

/*
 * Remove the messages binding b brought to its Ksock's queue; a request
 * waiting for this Ksock as replier gets status "why" sent back.
 */
static u32 kbus_drop_queued(struct kbus_binding *b, const char *why)
{
	struct kbus_ksock *ks = b->ksock;
	struct kbus_dev *dev = ks->dev;
	struct kbus_qentry *qe, *tmp;
	LIST_HEAD(dropped);
	u32 removed = 0;

	lockdep_assert_held(&dev->lock);
	spin_lock(&ks->qlock);
	list_for_each_entry_safe(qe, tmp, &ks->queue, list) {
		if (qe->binding != b)
			continue;
		list_move_tail(&qe->list, &dropped);
		WRITE_ONCE(ks->count, ks->count - 1);
		WRITE_ONCE(ks->queued_bytes, ks->queued_bytes - qe->charge.bytes);
	}
	spin_unlock(&ks->qlock);
	list_for_each_entry_safe(qe, tmp, &dropped, list) {
		list_del(&qe->list);
		if (qe->req)
			kbus_req_replier_gone(dev, qe->req, why, ks->id);
		kbus_qentry_free(dev, qe);
		removed++;
		cond_resched();
	}
	return removed;
}

/* UNBIND (spec 6.4). */
int kbus_unbind(struct kbus_ksock *ks, char *name, u32 len, bool replier)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_binding *b, *found = NULL;
	struct kbus_name_node *node;
	int err;

	lockdep_assert_held(&dev->lock);
	node = kbus_node_find(dev, name, len);
	if (node) {
		list_for_each_entry(b, &node->bindings, node_list) {
			if (b->ksock == ks && b->is_replier == replier) {
				found = b;	/* newest first: the latest one */
				break;
			}
		}
	}
	if (!found)
		return -EINVAL;

	if (replier && dev->report_replier_binds) {
		err = kbus_report(ks, found, false, false);
		if (err)
			return err;
	}

	kbus_trace(dev, "ksock %u unbound %c %s\n", ks->id,
		   replier ? 'R' : 'L', found->name);
	kbus_setaside_drop(dev, ks, found);
	if (kbus_name_is(name, len, KBUS_MSG_NAME_REPLIER_BIND_EVENT))
		kbus_setaside_drop(dev, ks, NULL);
	if (kbus_drop_queued(found, KBUS_MSG_NAME_REPLIER_UNBOUND))
		kbus_setaside_promote(ks);
	kbus_binding_unlink(dev, found);
	kfree(found);
	/* Room, or one recipient fewer: a send waiting for ks may go. */
	kbus_ksock_room(ks);
	return 0;
}

/*
 * Close: remove every binding of ks (its queue is already empty), then
 * report its replier unbinds to the other Ksocks. Cannot fail.
 */
void kbus_unbind_all(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_binding *b, *tmp;
	LIST_HEAD(repliers);

	lockdep_assert_held(&dev->lock);
	/*
	 * Listener bindings go first, so that ks gets none of the events;
	 * replier bindings (which receive no events) stay in their nodes
	 * until reported, since the events carry their names.
	 */
	list_for_each_entry_safe(b, tmp, &ks->bindings, ks_list) {
		if (b->is_replier) {
			b->node->replier = NULL;
			list_move_tail(&b->ks_list, &repliers);
			continue;
		}
		kbus_binding_unlink(dev, b);
		kfree(b);
		cond_resched();
	}
	list_for_each_entry_safe(b, tmp, &repliers, ks_list) {
		if (dev->report_replier_binds)
			kbus_report(ks, b, false, true);
		kbus_binding_unlink(dev, b);
		kfree(b);
		cond_resched();
	}
	kbus_setaside_drop(dev, ks, NULL);
}

/*
 * REPORTREPLIERBINDS(1): queue to ks a bind event for every replier binding
 * there is, newest first; -EBUSY when its queue fills (spec 6.18). Each
 * event is charged like any message, so the snapshot stops at ks's count
 * limit, its byte bound or its user's share, whichever comes first.
 */
int kbus_report_snapshot(struct kbus_ksock *ks)
{
	unsigned long max_bytes = READ_ONCE(kbus_max_ksock_bytes);
	struct kbus_dev *dev = ks->dev;
	struct kbus_binding *b;
	int err;

	lockdep_assert_held(&dev->lock);
	list_for_each_entry(b, &dev->bindings, dev_list) {
		struct kbus_qentry *qe;
		struct kbus_msg *ev;

		cond_resched();
		if (!b->is_replier)
			continue;
		if (kbus_ksock_full(ks, false))
			return -EBUSY;
		qe = kbus_qentry_alloc(GFP_KERNEL_ACCOUNT);
		if (!qe)
			return -ENOMEM;
		ev = kbus_bind_event(dev, true, b->ksock, b->name, b->name_len,
				     GFP_KERNEL_ACCOUNT);
		if (!ev) {
			kbus_qentry_free(dev, qe);
			return -ENOMEM;
		}
		qe->ksock = ks;
		qe->msg = ev;
		qe->flags = ev->flags;
		err = -EBUSY;
		if (kbus_ksock_queued_bytes(ks) + ks->reserved_bytes +
		    kbus_msg_size(ev) <= max_bytes)
			err = kbus_charge(dev, &qe->charge, ks->user,
					  ks->user->uid, kbus_msg_size(ev),
					  false);
		if (err) {
			kbus_qentry_free(dev, qe);
			return err == -EDQUOT ? -EBUSY : err;
		}
		kbus_push(qe);
	}
	return 0;
}
