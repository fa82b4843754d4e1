// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: SEND (spec section 8), its retry from poll,
 * and the delivery of replier bind events (section 10).
 *
 * Delivery is all-or-nothing for the mandatory recipients, so it runs the
 * same routing twice under dev->lock: a check pass that only counts (and
 * finds every reason to refuse), then, once every queue entry it needs is
 * allocated, a deliver pass that makes exactly the same decisions and
 * cannot fail.
 */
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kbus_internal.h"

struct kbus_route {
	struct kbus_dev *dev;
	struct kbus_msg *msg;
	struct kbus_ksock *sender;	/* NULL for bind events */
	struct kbus_ksock *requester;	/* the Reply's target */
	struct kbus_binding *replier;	/* the Request's chosen replier */
	u32 nmatch;			/* nodes in dev->matches */
	bool set_aside;			/* close-time unbind event */
	bool tragic;			/* set-aside list overflowed */
	u64 pass;
	u32 copies;			/* queue entries the message needs */
	unsigned long bytes;		/* and the bytes they will charge */
	u32 set_asides;			/* set-aside entries it needs */
	struct list_head entries;	/* preallocated queue entries */
	struct kbus_msg *lost;		/* $.KBUS.UnbindEventsLost, lazily */
};

static bool kbus_is_reply(const struct kbus_msg *msg)
{
	return msg->in_reply_to.network_id || msg->in_reply_to.serial_num;
}

static bool kbus_is_request(const struct kbus_msg *msg)
{
	return msg->flags & KBUS_BIT_WANT_A_REPLY;
}

/*
 * Is ks full, counting the copies the check pass has planned for it? Full
 * is by message count (spec 8.2), or when the copy would take ks's queue,
 * or the device, past its byte bound.
 */
static bool kbus_route_full(struct kbus_route *r, struct kbus_ksock *ks,
			    bool deliver, bool for_reply)
{
	unsigned long size = kbus_msg_size(r->msg);
	unsigned long bytes = ks->queued_bytes + size;
	unsigned long dev_bytes = atomic_long_read(&r->dev->mem) + size;
	u64 used = (u64)ks->count + ks->outstanding.count;

	if (!deliver) {
		dev_bytes += r->bytes;
		if (ks->pass == r->pass) {
			used += ks->pending;
			bytes += ks->pending_bytes;
		}
	}
	if (for_reply && used)
		used--;
	return used >= ks->max_messages ||
	       bytes > READ_ONCE(kbus_max_ksock_bytes) ||
	       dev_bytes > READ_ONCE(kbus_max_device_bytes);
}

/* Start counting for ks in this check pass. */
static void kbus_route_touch(struct kbus_route *r, struct kbus_ksock *ks)
{
	if (ks->pass != r->pass) {
		ks->pass = r->pass;
		ks->pending = 0;
		ks->pending_bytes = 0;
		ks->pass_seq = 0;
	}
}

/*
 * Account for, or make, one copy of the message for ks. A copy that takes
 * a reserved slot (a Reply to its requester) adds nothing to the count.
 */
static void kbus_route_copy(struct kbus_route *r, struct kbus_ksock *ks,
			    struct kbus_binding *b, u32 flags, bool deliver,
			    bool reserved)
{
	struct kbus_qentry *qe;

	if (!deliver) {
		kbus_route_touch(r, ks);
		if (!reserved)
			ks->pending++;
		ks->pending_bytes += kbus_msg_size(r->msg);
		ks->pass_seq = r->msg->seq;
		r->copies++;
		r->bytes += kbus_msg_size(r->msg);
		return;
	}
	qe = list_first_entry(&r->entries, struct kbus_qentry, list);
	list_del(&qe->list);
	kbus_push(ks, qe, r->msg, b, flags);
}

/* Has ks already been given a copy of this message (MSGONLYONCE)? */
static bool kbus_route_has_copy(struct kbus_route *r, struct kbus_ksock *ks,
				bool deliver)
{
	if (deliver)
		return ks->last_pushed_seq == r->msg->seq;
	return ks->pass == r->pass && ks->pass_seq == r->msg->seq;
}

/* The last thing set aside for ks is an UnbindEventsLost already? */
static bool kbus_lost_pending(struct kbus_dev *dev, struct kbus_ksock *ks)
{
	struct kbus_setaside *sa;

	list_for_each_entry_reverse(sa, &dev->setaside, list) {
		if (sa->ksock == ks)
			return sa->msg->flags == KBUS_BIT_SYNTHETIC;
	}
	return false;
}

static void kbus_route_set_aside(struct kbus_route *r, struct kbus_ksock *ks,
				 struct kbus_binding *b, bool deliver)
{
	struct kbus_dev *dev = r->dev;
	struct kbus_msg *lost;

	if (!deliver) {
		r->set_asides++;
		return;
	}
	if (!r->tragic) {
		kbus_setaside_add(dev, ks, b, r->msg);
		return;
	}
	if (kbus_lost_pending(dev, ks))
		return;
	if (!r->lost) {
		u32 len = strlen(KBUS_MSG_NAME_UNBIND_EVENTS_LOST);

		lost = kbus_msg_alloc(len, 0, GFP_KERNEL | __GFP_NOFAIL);
		memcpy(lost->name, KBUS_MSG_NAME_UNBIND_EVENTS_LOST, len);
		lost->id.serial_num = kbus_next_serial(dev);
		lost->seq = ++dev->next_seq;
		lost->flags = KBUS_BIT_SYNTHETIC;
		r->lost = lost;
	}
	kbus_setaside_add(dev, ks, b, r->lost);
}

/*
 * Route the message: to the requester of a Reply, the replier of a Request,
 * then the listeners of the nodes kbus_match() put in dev->matches (in that
 * order, each node's newest binding first). With deliver false, check every
 * recipient and count the copies (returns the error that refuses the send);
 * with deliver true, make the copies (cannot fail).
 */
static int kbus_route(struct kbus_route *r, bool deliver)
{
	struct kbus_msg *msg = r->msg;
	u32 flags = msg->flags & ~KBUS_BIT_WANT_YOU_TO_REPLY;
	int full_err = (flags & KBUS_BIT_ALL_OR_WAIT) ? -EAGAIN : -EBUSY;
	struct kbus_binding *b;
	u32 i;

	if (r->requester) {
		if (!deliver && kbus_route_full(r, r->requester, false, true))
			return full_err;
		if (deliver)
			kbus_idtable_remove(&r->requester->outstanding,
					    msg->in_reply_to);
		kbus_route_copy(r, r->requester, NULL, flags, deliver, true);
	}

	if (r->replier) {
		struct kbus_ksock *rk = r->replier->ksock;

		if (!deliver && kbus_route_full(r, rk, false, false))
			return full_err;
		kbus_route_copy(r, rk, r->replier,
				flags | KBUS_BIT_WANT_YOU_TO_REPLY, deliver,
				false);
		/* The sender's reservation for the eventual reply. */
		if (deliver) {
			kbus_idtable_add(&r->sender->outstanding, msg->id);
		} else {
			kbus_route_touch(r, r->sender);
			r->sender->pending++;
		}
	}

	for (i = 0; i < r->nmatch; i++) {
		list_for_each_entry(b, &r->dev->matches[i]->bindings, node_list) {
			struct kbus_ksock *ks = b->ksock;

			if (b->is_replier)
				continue;
			if (ks->only_once && kbus_route_has_copy(r, ks, deliver))
				continue;
			if (kbus_route_full(r, ks, deliver, false)) {
				if (r->set_aside)
					kbus_route_set_aside(r, ks, b, deliver);
				else if (flags & (KBUS_BIT_ALL_OR_WAIT |
						  KBUS_BIT_ALL_OR_FAIL))
					return full_err;
				continue;
			}
			kbus_route_copy(r, ks, b, flags, deliver, false);
		}
	}
	return 0;
}

static void kbus_route_free_entries(struct kbus_route *r)
{
	struct kbus_qentry *qe, *tmp;

	list_for_each_entry_safe(qe, tmp, &r->entries, list)
		kbus_qentry_free(qe);
	INIT_LIST_HEAD(&r->entries);
}

/* Check, allocate, deliver. */
static int kbus_route_run(struct kbus_route *r)
{
	struct kbus_dev *dev = r->dev;
	gfp_t gfp = GFP_KERNEL;
	u32 i;
	int err;

	INIT_LIST_HEAD(&r->entries);
	r->pass = ++dev->next_pass;
	err = kbus_route(r, false);
	if (err)
		return err;

	if (r->set_aside) {
		gfp |= __GFP_NOFAIL;	/* closing cannot fail */
		r->tragic = dev->setaside_tragic ||
			    dev->num_setaside + r->set_asides >
			    CONFIG_KBUS_MAX_UNSENT_UNBIND_MESSAGES;
		if (r->tragic && r->set_asides)
			dev->setaside_tragic = true;
	}
	for (i = 0; i < r->copies; i++) {
		struct kbus_qentry *qe = kbus_qentry_alloc(gfp);

		if (!qe) {
			kbus_route_free_entries(r);
			return -ENOMEM;
		}
		list_add(&qe->list, &r->entries);
	}
	if (r->replier && kbus_idtable_reserve(&r->sender->outstanding)) {
		kbus_route_free_entries(r);
		return -ENOMEM;
	}

	kbus_route(r, true);
	WARN_ON(!list_empty(&r->entries));
	kbus_route_free_entries(r);
	kbus_msg_put(r->lost);
	return 0;
}

/*
 * Deliver a bind/unbind event to the listeners of its name. Normally with
 * ALL_OR_FAIL semantics (-EBUSY if some listener is full); at close time
 * (set_aside) full listeners get it later instead, and it cannot fail.
 */
int kbus_deliver_event(struct kbus_dev *dev, struct kbus_msg *msg,
		       bool set_aside)
{
	struct kbus_route r = {
		.dev = dev,
		.msg = msg,
		.set_aside = set_aside,
		.nmatch = kbus_match(dev, msg->name, msg->name_len),
	};

	return kbus_route_run(&r);
}

/* Copy a pointy message's name and data from user space. No dev lock. */
int kbus_copy_pointy(struct kbus_ksock *ks)
{
	struct kbus_message_header *hdr = &ks->wr.hdr;
	struct kbus_msg *msg;
	int err;

	msg = kbus_msg_alloc(hdr->name_len, hdr->data_len, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	err = kbus_mem_charge(ks->dev, kbus_msg_size(msg));
	if (err) {
		kbus_msg_put(msg);
		return err;
	}
	ks->wr.charged = kbus_msg_size(msg);
	/* The name must be followed by a readable byte (spec 4.6). */
	if (copy_from_user(msg->name, hdr->name, hdr->name_len + 1)) {
		err = -EFAULT;
		goto err_free;
	}
	msg->name[hdr->name_len] = '\0';
	err = kbus_check_name(msg->name, hdr->name_len, false);
	if (err)
		goto err_free;
	if (hdr->data_len && copy_from_user(msg->data, hdr->data, hdr->data_len)) {
		err = -EFAULT;
		goto err_free;
	}
	ks->wr.msg = msg;
	ks->wr.copied = true;
	return 0;

err_free:
	kbus_mem_uncharge(ks->dev, ks->wr.charged);
	ks->wr.charged = 0;
	kbus_msg_put(msg);
	return err;
}

/* Fill in the message's header fields from what was written. */
static void kbus_msg_take_header(struct kbus_msg *msg,
				 const struct kbus_message_header *hdr)
{
	msg->id = hdr->id;
	msg->in_reply_to = hdr->in_reply_to;
	msg->to = hdr->to;
	msg->orig_from = hdr->orig_from;
	msg->final_to = hdr->final_to;
	msg->flags = hdr->flags & ~KBUS_BIT_SYNTHETIC;
}

/*
 * One attempt at sending ks's written message (spec 8.1 steps 4-8), under
 * dev->lock. retry is true when re-running a pending ALL_OR_WAIT send.
 */
static int kbus_send_locked(struct kbus_ksock *ks, bool retry,
			    struct kbus_msg_id *id_out)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_msg *msg = ks->wr.msg;
	struct kbus_route r = {
		.dev = dev,
		.msg = msg,
		.sender = ks,
	};
	int err;

	if (!retry)
		kbus_msg_take_header(msg, &ks->wr.hdr);
	if (kbus_is_request(msg) && kbus_ksock_full(ks, false))
		return -ENOLCK;

	msg->from = ks->id;
	if (!retry && !msg->id.network_id)
		msg->id.serial_num = kbus_next_serial(dev);
	ks->last_msg_id_sent = msg->id;
	*id_out = msg->id;
	msg->seq = ++dev->next_seq;

	r.nmatch = kbus_match(dev, msg->name, msg->name_len);
	if (kbus_is_request(msg)) {
		r.replier = kbus_match_replier(dev, r.nmatch);
		if (!r.replier)
			return -EADDRNOTAVAIL;
	}
	if (kbus_is_reply(msg)) {
		r.requester = kbus_find_ksock(dev, msg->to);
		if (!r.requester) {
			/* Nobody left to answer: the replier owes nothing. */
			kbus_owed_remove(&ks->owed, msg->in_reply_to);
			return -EADDRNOTAVAIL;
		}
		if (!kbus_idtable_contains(&r.requester->outstanding,
					   msg->in_reply_to))
			return -ECONNREFUSED;
	}
	if (r.replier && msg->to && r.replier->ksock->id != msg->to)
		return -EPIPE;

	err = kbus_route_run(&r);
	if (err)
		return err;
	if (r.requester)
		kbus_owed_remove(&ks->owed, msg->in_reply_to);
	kbus_trace(dev, "ksock %u sent [%u:%u] %.*s\n", ks->id,
		   msg->id.network_id, msg->id.serial_num, msg->name_len,
		   msg->name);
	return 0;
}

static void kbus_end_sending(struct kbus_ksock *ks)
{
	if (ks->wr.sending) {
		ks->wr.sending = false;
		ks->dev->num_sending--;
	}
	kbus_wstate_reset(ks);
}

/*
 * SEND (spec 6.9). Called with ks->io_lock held. The id is written to
 * *id_out on success and on -EAGAIN.
 */
int kbus_send(struct kbus_ksock *ks, struct kbus_msg_id *id_out)
{
	struct kbus_dev *dev = ks->dev;
	int err;

	if (!ks->wr.started)
		return -ENOMSG;
	if (!ks->wr.complete) {
		kbus_wstate_reset(ks);
		return -EINVAL;
	}
	if (ks->wr.pointy && !ks->wr.copied) {
		err = kbus_copy_pointy(ks);
		if (err) {
			kbus_wstate_reset(ks);
			return err;
		}
	}

	if (mutex_lock_interruptible(&dev->lock))
		return -ERESTARTSYS;
	err = kbus_send_locked(ks, ks->wr.sending, id_out);
	if (err == -EAGAIN) {
		if (!ks->wr.sending) {
			ks->wr.sending = true;
			dev->num_sending++;
		}
	} else {
		kbus_end_sending(ks);
	}
	mutex_unlock(&dev->lock);
	return err;
}

/*
 * The poll-for-write game (spec 8.4): retry a pending send. Called with
 * ks->io_lock and dev->lock held. Returns true if no send is pending now.
 */
bool kbus_poll_retry(struct kbus_ksock *ks)
{
	struct kbus_msg *msg = ks->wr.msg;
	struct kbus_msg_id id;
	int err;

	err = kbus_send_locked(ks, true, &id);
	if (err == -EAGAIN)
		return false;

	if (err && kbus_is_request(msg)) {
		/* The sender gets an answer for the request it sent. */
		kbus_push_status(ks, err == -EADDRNOTAVAIL ?
				 KBUS_MSG_NAME_REPLIER_DISAPPEARED :
				 KBUS_MSG_NAME_ERROR_SENDING, 0, msg->id);
	}
	/* A failed pending Reply or Announcement is dropped (spec 18.14). */
	kbus_end_sending(ks);
	return true;
}
