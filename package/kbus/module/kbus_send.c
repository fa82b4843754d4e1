// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: SEND (spec section 8), its retry from poll,
 * and the delivery of replier bind events (section 10).
 *
 * Delivery is all-or-nothing for the mandatory recipients, so it is
 * planned first, under dev->lock: the plan decides every recipient and
 * reserves everything each copy needs (its queue entry is allocated and
 * its bytes charged, kbus_acct.c) in delivery order, and fails, giving all
 * of it back, on any reason to refuse the send. Committing the plan then
 * only links the entries into their queues: it decides nothing, reads no
 * budget and cannot fail. (Bytes are charged and given back without
 * dev->lock by writers and readers; a plan never reads them twice.)
 */
#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kbus_internal.h"

struct kbus_plan {
	struct kbus_dev *dev;
	struct kbus_msg *msg;
	kuid_t actor;			/* whose doing the copies are */
	struct kbus_ksock *sender;	/* NULL for bind events */
	struct kbus_req *req;		/* a Request's reservation */
	struct kbus_req *answers;	/* the request a Reply answers */
	struct kbus_binding *replier;	/* the Request's chosen replier */
	u32 nmatch;			/* nodes in dev->matches */
	bool event;			/* a bind event of an explicit (UN)BIND */
	bool closing;			/* an unbind event at close: cannot fail */
	u32 npolicy;			/* policy nodes for the name (listen) */
	u64 pass;
	struct list_head copies;	/* planned queue entries, in order */
	struct list_head set_asides;	/* planned set-aside entries */
	u32 num_set_asides;
	struct list_head filtered;	/* listeners the policy withholds it from */
	struct kbus_msg *lost;		/* $.KBUS.UnbindEventsLost, if needed */
	struct kbus_wait wait;		/* what a full recipient waits for */
};

static bool kbus_is_reply(const struct kbus_msg *msg)
{
	return msg->in_reply_to.network_id || msg->in_reply_to.serial_num;
}

static bool kbus_is_request(const struct kbus_msg *msg)
{
	return msg->flags & KBUS_BIT_WANT_A_REPLY;
}

/* Start counting for ks in this plan. */
static void kbus_plan_touch(struct kbus_plan *p, struct kbus_ksock *ks)
{
	if (ks->pass != p->pass) {
		ks->pass = p->pass;
		ks->pending = 0;
		ks->pending_bytes = 0;
		ks->pass_seq = 0;
	}
}

/*
 * Plan one copy of the message for ks: returns 0 (planned: entry allocated,
 * bytes charged), 1 when ks is full (by message count, spec 8.2; by its
 * queue's byte bound; or by its user's share, kbus_acct.c), or -ENOMEM.
 * A copy that takes a reserved slot (a Reply to its requester) adds nothing
 * to the count.
 */
static int kbus_plan_copy(struct kbus_plan *p, struct kbus_ksock *ks,
			  struct kbus_binding *b, u32 flags,
			  struct kbus_req *req, bool reserved)
{
	struct kbus_dev *dev = p->dev;
	unsigned long size = kbus_msg_size(p->msg);
	/* Only a send that can go pending (-EAGAIN) needs the room counters. */
	bool can_wait = p->msg->flags & KBUS_BIT_ALL_OR_WAIT;
	u32 room_seq = 0, budget_seq = 0;
	unsigned long bytes;
	struct kbus_qentry *qe;
	u64 used;
	int err;

	if (can_wait) {
		/* Seen before the queue, so that room made after it moves it. */
		room_seq = READ_ONCE(ks->room_seq);
		smp_rmb();	/* pairs with smp_wmb() in kbus_ksock_room() */
	}
	bytes = kbus_ksock_queued_bytes(ks) + ks->reserved_bytes + size;
	used = (u64)kbus_ksock_count(ks) + ks->num_outstanding;
	kbus_plan_touch(p, ks);
	used += ks->pending;
	bytes += ks->pending_bytes;
	if (reserved && used)
		used--;
	if (used >= ks->max_messages ||
	    bytes > READ_ONCE(kbus_max_ksock_bytes)) {
		p->wait = (struct kbus_wait){ KBUS_WAIT_KSOCK, ks, room_seq };
		return 1;
	}

	qe = kbus_qentry_alloc(GFP_KERNEL_ACCOUNT |
			       (p->closing ? __GFP_NOFAIL : 0));
	if (!qe)
		return -ENOMEM;
	if (can_wait)
		budget_seq = READ_ONCE(dev->budget_seq);
	err = kbus_charge(dev, &qe->charge, ks->user, p->actor, size, false);
	if (err) {
		kbus_qentry_free(dev, qe);
		if (err == -EDQUOT)
			p->wait = (struct kbus_wait){ KBUS_WAIT_BUDGET, NULL,
						      budget_seq };
		/* At close, a copy that cannot be charged is set aside. */
		return err == -EDQUOT || p->closing ? 1 : err;
	}
	qe->ksock = ks;
	qe->msg = kbus_msg_get(p->msg);
	qe->binding = b;
	qe->req = req;
	qe->flags = flags;
	list_add_tail(&qe->list, &p->copies);
	if (!reserved)
		ks->pending++;
	ks->pending_bytes += size;
	ks->pass_seq = p->msg->seq;
	return 0;
}

/* A listener the policy withholds the message from, counted at commit. */
struct kbus_withheld {
	struct list_head list;
	struct kbus_ksock *ksock;
};

static int kbus_plan_withhold(struct kbus_plan *p, struct kbus_ksock *ks)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | (p->closing ? __GFP_NOFAIL : 0);
	struct kbus_withheld *w = kmalloc(sizeof(*w), gfp);

	if (!w)
		return -ENOMEM;
	w->ksock = ks;
	list_add_tail(&w->list, &p->filtered);
	return 0;
}

/* Has ks been given a copy of this message already (MSGONLYONCE)? */
static bool kbus_plan_has_copy(struct kbus_plan *p, struct kbus_ksock *ks)
{
	return ks->pass == p->pass && ks->pass_seq == p->msg->seq;
}

/* Plan a set-aside event for the full listener ks (binding b). */
static int kbus_plan_set_aside(struct kbus_plan *p, struct kbus_ksock *ks,
			       struct kbus_binding *b)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | (p->closing ? __GFP_NOFAIL : 0);
	u32 len = strlen(KBUS_MSG_NAME_UNBIND_EVENTS_LOST);
	struct kbus_setaside *sa;

	sa = kmalloc(sizeof(*sa), gfp);
	if (!sa)
		return -ENOMEM;
	/* In case the list goes tragic: made now, numbered if used. */
	if (!p->lost) {
		p->lost = kbus_msg_alloc(len, 0, gfp);
		if (!p->lost) {
			kfree(sa);
			return -ENOMEM;
		}
		memcpy(p->lost->name, KBUS_MSG_NAME_UNBIND_EVENTS_LOST, len);
		p->lost->flags = KBUS_BIT_SYNTHETIC;
	}
	sa->ksock = ks;
	sa->binding = b;
	list_add_tail(&sa->list, &p->set_asides);
	p->num_set_asides++;
	return 0;
}

/*
 * May a full listener of bind events hold up a replier's BIND or UNBIND
 * (spec 10.3)? Only one of the binder's own user, or one opened with
 * CAP_SYS_ADMIN (a trusted monitor): anyone else's full queue would let it
 * stall every user's binds. The others get the event set aside.
 */
static bool kbus_event_blocks(struct kbus_plan *p, struct kbus_ksock *ks)
{
	return READ_ONCE(kbus_compat_open) || ks->privileged ||
	       uid_eq(ks->user->uid, p->actor);
}

/*
 * Plan the copies: to the requester of a Reply, the replier of a Request,
 * then the listeners of the nodes kbus_match() put in dev->matches (in
 * that order, each node's newest binding first). Returns the error that
 * refuses the send.
 */
static int kbus_plan_build(struct kbus_plan *p)
{
	struct kbus_msg *msg = p->msg;
	u32 flags = msg->flags & ~KBUS_BIT_WANT_YOU_TO_REPLY;
	int full_err = (flags & KBUS_BIT_ALL_OR_WAIT) ? -EAGAIN : -EBUSY;
	struct kbus_binding *b;
	int ret;
	u32 i;

	if (p->answers) {
		ret = kbus_plan_copy(p, p->answers->requester, NULL, flags,
				     NULL, true);
		if (ret)
			return ret < 0 ? ret : full_err;
	}

	if (p->replier) {
		ret = kbus_plan_copy(p, p->replier->ksock, p->replier,
				     flags | KBUS_BIT_WANT_YOU_TO_REPLY, p->req,
				     false);
		if (ret)
			return ret < 0 ? ret : full_err;
		/* The sender's slot for the eventual reply, from now on. */
		kbus_plan_touch(p, p->sender);
		p->sender->pending++;
	}

	for (i = 0; i < p->nmatch; i++) {
		list_for_each_entry(b, &p->dev->matches[i]->bindings, node_list) {
			struct kbus_ksock *ks = b->ksock;

			cond_resched();
			if (b->is_replier)
				continue;
			if (ks->only_once && kbus_plan_has_copy(p, ks))
				continue;
			if (p->dev->policy &&
			    !kbus_policy_allows_prepared(p->dev, p->npolicy,
							 KBUS_POLICY_LISTEN,
							 ks->cred)) {
				ret = kbus_plan_withhold(p, ks);
				if (ret)
					return ret;
				continue;
			}
			ret = kbus_plan_copy(p, ks, b, flags, NULL, false);
			if (ret < 0)
				return ret;
			if (!ret)
				continue;
			/* ks is full: set aside, refuse the send, or skip ks. */
			if (p->closing ||
			    (p->event && !kbus_event_blocks(p, ks))) {
				ret = kbus_plan_set_aside(p, ks, b);
				if (ret)
					return ret;
			} else if (flags & (KBUS_BIT_ALL_OR_WAIT |
					    KBUS_BIT_ALL_OR_FAIL)) {
				return full_err;
			}
		}
	}
	return 0;
}

/* Give back everything the plan reserved. */
static void kbus_plan_abort(struct kbus_plan *p)
{
	struct kbus_withheld *w, *wtmp;
	struct kbus_setaside *sa, *stmp;
	struct kbus_qentry *qe, *tmp;

	list_for_each_entry_safe(qe, tmp, &p->copies, list) {
		list_del(&qe->list);
		kbus_uncharge_undo(p->dev, &qe->charge);
		kbus_qentry_free(p->dev, qe);
	}
	list_for_each_entry_safe(sa, stmp, &p->set_asides, list)
		kfree(sa);
	list_for_each_entry_safe(w, wtmp, &p->filtered, list)
		kfree(w);
	kbus_msg_put(p->lost);
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

/*
 * Record the planned set-aside events (spec 10.4): the events themselves,
 * or, once the list would pass its bound (it "goes tragic"), one
 * $.KBUS.UnbindEventsLost per listener that has none pending.
 */
static void kbus_commit_set_asides(struct kbus_plan *p)
{
	struct kbus_dev *dev = p->dev;
	struct kbus_setaside *sa, *tmp;
	bool tragic;

	if (!p->num_set_asides)
		return;
	tragic = dev->setaside_tragic ||
		 dev->num_setaside + p->num_set_asides >
		 CONFIG_KBUS_MAX_UNSENT_UNBIND_MESSAGES;
	if (tragic) {
		dev->setaside_tragic = true;
		p->lost->id.serial_num = kbus_next_serial(dev);
		p->lost->seq = ++dev->next_seq;
	}
	list_for_each_entry_safe(sa, tmp, &p->set_asides, list) {
		list_del(&sa->list);
		if (tragic && kbus_lost_pending(dev, sa->ksock)) {
			kfree(sa);
			continue;
		}
		kbus_setaside_add(sa, sa->ksock, sa->binding,
				  tragic ? p->lost : p->msg);
	}
}

/* Link every planned copy into its queue. Decides nothing; cannot fail. */
static void kbus_plan_commit(struct kbus_plan *p)
{
	struct kbus_withheld *w, *wtmp;
	struct kbus_qentry *qe, *tmp;

	list_for_each_entry_safe(qe, tmp, &p->copies, list) {
		list_del(&qe->list);
		kbus_push(qe);
	}
	list_for_each_entry_safe(w, wtmp, &p->filtered, list) {
		w->ksock->filtered++;
		p->dev->filtered++;
		kfree(w);
	}
	kbus_commit_set_asides(p);
	kbus_msg_put(p->lost);
	if (p->req)
		kbus_req_commit(p->req);
	if (p->answers)
		kbus_req_answered(p->answers, p->sender);
}

static int kbus_plan_run(struct kbus_plan *p)
{
	int err;

	lockdep_assert_held(&p->dev->lock);
	INIT_LIST_HEAD(&p->copies);
	INIT_LIST_HEAD(&p->set_asides);
	INIT_LIST_HEAD(&p->filtered);
	p->pass = ++p->dev->next_pass;
	err = kbus_plan_build(p);
	if (err) {
		kbus_plan_abort(p);
		return err;
	}
	kbus_plan_commit(p);
	return 0;
}

/*
 * Deliver a bind/unbind event caused by actor to the listeners of its name.
 * Normally with ALL_OR_FAIL semantics (-EBUSY if a listener that may hold
 * binds up is full); at close (set_aside) full listeners get it later
 * instead, and it cannot fail.
 */
int kbus_deliver_event(struct kbus_dev *dev, struct kbus_msg *msg,
		       struct kbus_user *actor, bool set_aside)
{
	struct kbus_plan p = {
		.dev = dev,
		.msg = msg,
		.actor = actor->uid,
		.event = !set_aside,
		.closing = set_aside,
		.nmatch = kbus_match(dev, msg->name, msg->name_len),
	};

	p.npolicy = kbus_policy_prepare(dev);
	return kbus_plan_run(&p);
}

/* Copy a pointy message's name and data from user space. No dev lock. */
int kbus_copy_pointy(struct kbus_ksock *ks)
{
	struct kbus_message_header *hdr = &ks->wr.hdr;
	struct kbus_msg *msg;
	int err;

	lockdep_assert_held(&ks->io_lock);
	msg = kbus_msg_alloc(hdr->name_len, hdr->data_len, GFP_KERNEL_ACCOUNT);
	if (!msg)
		return -ENOMEM;
	err = kbus_charge(ks->dev, &ks->wr.charge, ks->user, ks->user->uid,
			  kbus_msg_size(msg), false);
	if (err) {
		kbus_msg_put(msg);
		return -ENOMEM;
	}
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
	kbus_uncharge(ks->dev, &ks->wr.charge);
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
 * The Reply's checks (spec 8.3): its requester must be open and waiting
 * for it. A replier answering a request whose requester has gone owes
 * nothing more.
 */
static int kbus_find_answered(struct kbus_plan *p)
{
	struct kbus_msg *msg = p->msg;
	struct kbus_req *req;

	req = kbus_req_find(p->dev, msg->to, msg->in_reply_to);
	if (req && req->requester) {
		p->answers = req;
		return 0;
	}
	if (req)
		kbus_req_forget(req, p->sender);
	return kbus_find_ksock(p->dev, msg->to) ? -ECONNREFUSED :
						  -EADDRNOTAVAIL;
}

/*
 * May the sender (as it was at SEND) send msg? Names under "$.KBUS." are
 * KBUS's own; otherwise the policy's "send" rules decide, and a Reply may
 * also carry a name its sender may own (its request's, as a rule).
 */
static int kbus_may_send(struct kbus_plan *p, const struct cred *cred)
{
	struct kbus_msg *msg = p->msg;
	struct kbus_dev *dev = p->dev;

	if (kbus_reserved_name(msg->name, msg->name_len))
		goto denied;
	if (kbus_policy_allows_prepared(dev, p->npolicy, KBUS_POLICY_SEND,
					cred))
		return 0;
	if (kbus_is_reply(msg) &&
	    kbus_policy_allows_prepared(dev, p->npolicy, KBUS_POLICY_OWN,
					cred))
		return 0;
denied:
	dev->denied_sends++;
	return -EPERM;
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
	struct kbus_plan p = {
		.dev = dev,
		.msg = msg,
		.sender = ks,
		.actor = ks->user->uid,
	};
	int err;

	lockdep_assert_held(&ks->io_lock);
	lockdep_assert_held(&dev->lock);
	if (retry)
		dev->send_retries++;
	p.nmatch = kbus_match(dev, msg->name, msg->name_len);
	p.npolicy = kbus_policy_prepare(dev);
	if (!retry) {
		kbus_msg_take_header(msg, &ks->wr.hdr);
		/*
		 * Who sent it, as of now, and may it: judged once, at SEND (a
		 * pending ALL_OR_WAIT send keeps that verdict and these ids).
		 */
		msg->has_sender = true;
		msg->euid = current_euid();
		msg->egid = current_egid();
		put_pid(msg->pid);	/* a SEND of this message that failed */
		msg->pid = get_task_pid(current, PIDTYPE_TGID);
		err = kbus_may_send(&p, current_cred());
		if (err)
			return err;
	}
	if (kbus_is_request(msg)) {
		if (kbus_ksock_full(ks, false))
			return -ENOLCK;
		/* The room for its answer, reserved before anything else. */
		if (!ks->wr.req) {
			struct kbus_req *req = kbus_req_new(ks);

			if (IS_ERR(req))
				return PTR_ERR(req);
			ks->wr.req = req;
		}
	}

	msg->from = ks->id;
	msg->uid = ks->user->uid;
	if (!retry && !msg->id.network_id)
		msg->id.serial_num = kbus_next_serial(dev);
	ks->last_msg_id_sent = msg->id;
	*id_out = msg->id;
	msg->seq = ++dev->next_seq;

	if (kbus_is_request(msg)) {
		p.replier = kbus_match_replier(dev, p.nmatch);
		if (!p.replier)
			return -EADDRNOTAVAIL;
	}
	if (kbus_is_reply(msg)) {
		err = kbus_find_answered(&p);
		if (err)
			return err;
	}
	if (p.replier && msg->to && p.replier->ksock->id != msg->to)
		return -EPIPE;
	if (p.replier) {
		err = kbus_req_accept(ks->wr.req, msg->id);
		if (err)
			return err;
		p.req = ks->wr.req;
	}

	err = kbus_plan_run(&p);
	if (err == -EAGAIN)
		kbus_sending_wait(ks, &p.wait);
	if (err) {
		if (p.req)
			kbus_req_unaccept(p.req);
		return err;
	}
	if (p.req)
		ks->wr.req = NULL;	/* its requester's outstanding set has it */
	kbus_trace(dev, "ksock %u sent [%u:%u] %.*s\n", ks->id,
		   msg->id.network_id, msg->id.serial_num, msg->name_len,
		   msg->name);
	return 0;
}

/* The written message is done with: sent, failed or discarded. */
void kbus_end_sending(struct kbus_ksock *ks)
{
	lockdep_assert_held(&ks->dev->lock);
	kbus_sending_end(ks);
	kbus_req_drop(ks, ks->wr.req);
	ks->wr.req = NULL;
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

	lockdep_assert_held(&ks->io_lock);
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
	if (err != -EAGAIN)
		kbus_end_sending(ks);
	mutex_unlock(&dev->lock);
	return err;
}

/*
 * DISCARD (spec 6.10) and close: drop the written message, pending or not.
 * Called with ks->io_lock held (or at release).
 */
void kbus_discard(struct kbus_ksock *ks)
{
	if (ks->wr.sending) {
		mutex_lock(&ks->dev->lock);
		kbus_end_sending(ks);
		mutex_unlock(&ks->dev->lock);
	} else {
		kbus_wstate_reset(ks);
	}
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

	lockdep_assert_held(&ks->io_lock);
	lockdep_assert_held(&ks->dev->lock);
	err = kbus_send_locked(ks, true, &id);
	if (err == -EAGAIN)
		return false;

	if (err && kbus_is_request(msg) && ks->wr.req) {
		/* The sender gets an answer for the request it sent. */
		kbus_req_pending_status(ks, err == -EADDRNOTAVAIL ?
					KBUS_MSG_NAME_REPLIER_DISAPPEARED :
					KBUS_MSG_NAME_ERROR_SENDING);
	}
	/* A failed pending Reply or Announcement is dropped (spec 18.14). */
	kbus_end_sending(ks);
	return true;
}
