// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: bindings, replier choice and replier bind
 * events (spec sections 6.3, 6.4, 7 and 10).
 *
 * Everything here runs under dev->lock.
 */
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

/* A $.KBUS.ReplierBindEvent (spec 10.2) for binding b. */
static struct kbus_msg *kbus_bind_event(struct kbus_dev *dev, bool is_bind,
					u32 binder, const char *name, u32 len,
					gfp_t gfp)
{
	u32 ev_len = strlen(KBUS_MSG_NAME_REPLIER_BIND_EVENT);
	struct kbus_replier_bind_event_data *data;
	struct kbus_msg *msg;

	msg = kbus_msg_alloc(ev_len, sizeof(*data) + KBUS_PADDED_NAME_LEN(len),
			     gfp);
	if (!msg)
		return NULL;
	memcpy(msg->name, KBUS_MSG_NAME_REPLIER_BIND_EVENT, ev_len);
	data = (struct kbus_replier_bind_event_data *)msg->data;
	data->is_bind = is_bind;
	data->binder = binder;
	data->name_len = len;
	memcpy(data->rest, name, len);
	msg->id.serial_num = kbus_next_serial(dev);
	msg->seq = ++dev->next_seq;
	msg->flags = KBUS_BIND_EVENT_FLAGS;
	return msg;
}

/*
 * Tell the listeners of bind events about a replier (un)binding. At close
 * (set_aside) this cannot fail; otherwise -EAGAIN if some listener is full.
 */
static int kbus_report(struct kbus_ksock *ks, struct kbus_binding *b,
		       bool is_bind, bool set_aside)
{
	struct kbus_dev *dev = ks->dev;
	gfp_t gfp = GFP_KERNEL | (set_aside ? __GFP_NOFAIL : 0);
	struct kbus_msg *ev;
	int err;

	ev = kbus_bind_event(dev, is_bind, ks->id, b->name, b->name_len, gfp);
	if (!ev)
		return -ENOMEM;
	err = kbus_deliver_event(dev, ev, set_aside);
	kbus_msg_put(ev);
	return err == -EBUSY ? -EAGAIN : err;
}

/* Take b out of the index and the lists; the caller frees it. */
static void kbus_binding_unlink(struct kbus_dev *dev, struct kbus_binding *b)
{
	list_del(&b->dev_list);
	list_del(&b->node_list);
	list_del(&b->ks_list);
	if (b->node->replier == b)
		b->node->replier = NULL;
	kbus_node_put(dev, b->node);
}

/* BIND (spec 6.3); the name has been checked. */
int kbus_bind(struct kbus_ksock *ks, char *name, u32 len, bool replier)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_name_node *node;
	struct kbus_binding *b;
	int err;

	if (replier && kbus_name_is(name, len, KBUS_MSG_NAME_REPLIER_BIND_EVENT))
		return -EBADMSG;
	if (replier && kbus_find_exact_replier(dev, name, len))
		return -EADDRINUSE;

	b = kmalloc(sizeof(*b), GFP_KERNEL);
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
	struct kbus_qentry *qe, *tmp;
	u32 removed = 0;

	list_for_each_entry_safe(qe, tmp, &ks->queue, list) {
		if (qe->binding != b)
			continue;
		kbus_unqueue(ks, qe);
		kbus_mem_uncharge(ks->dev, kbus_msg_size(qe->msg));
		if (qe->flags & KBUS_BIT_WANT_YOU_TO_REPLY)
			kbus_status_to_requester(ks->dev, ks, qe->msg, why);
		kbus_msg_put(qe->msg);
		kbus_qentry_free(qe);
		removed++;
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
	if (kbus_drop_queued(found, KBUS_MSG_NAME_REPLIER_UNBOUND)) {
		kbus_setaside_promote(ks);
		kbus_room_appeared(dev);
	}
	kbus_binding_unlink(dev, found);
	kfree(found);
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
	}
	list_for_each_entry_safe(b, tmp, &repliers, ks_list) {
		if (dev->report_replier_binds)
			kbus_report(ks, b, false, true);
		kbus_binding_unlink(dev, b);
		kfree(b);
	}
	kbus_setaside_drop(dev, ks, NULL);
}

/*
 * REPORTREPLIERBINDS(1): queue to ks a bind event for every replier binding
 * there is, newest first; -EBUSY when its queue fills (spec 6.18).
 */
int kbus_report_snapshot(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_binding *b;

	list_for_each_entry(b, &dev->bindings, dev_list) {
		struct kbus_qentry *qe;
		struct kbus_msg *ev;

		if (!b->is_replier)
			continue;
		if (kbus_ksock_full(ks, false))
			return -EBUSY;
		qe = kbus_qentry_alloc(GFP_KERNEL);
		if (!qe)
			return -ENOMEM;
		ev = kbus_bind_event(dev, true, b->ksock->id, b->name,
				     b->name_len, GFP_KERNEL);
		if (!ev) {
			kbus_qentry_free(qe);
			return -ENOMEM;
		}
		kbus_push(ks, qe, ev, NULL, ev->flags);
		kbus_msg_put(ev);
	}
	return 0;
}
