// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: requests and the answers KBUS owes (spec 11).
 *
 * Every Request that SEND accepts gets exactly one answer: its Reply, or a
 * status message KBUS makes when the replier cannot or will not answer.
 * The status message, its queue entry and their bytes are reserved when
 * the request is accepted (struct kbus_req), so giving the answer never
 * allocates and never fails. A request answered by its Reply leaves its
 * reservation (unused, its bytes given back) to its requester, which keeps
 * up to KBUS_SPARE_REQS of them for its next requests: a requester that
 * waits for each answer allocates nothing per request.
 *
 * An accepted request is found by (requester, id) in a hash table of the
 * device, so answering, and a replier that leaves owing many answers, cost
 * the same per request however many there are; the same id used by two
 * requesters (network ids are preserved) names two requests.
 */
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "kbus_internal.h"

static siphash_key_t kbus_req_key_secret __read_mostly;

static u32 kbus_req_hashfn(const void *data, u32 len, u32 seed)
{
	const struct kbus_req_key *key = data;
	u64 hash = siphash_3u32(key->requester, key->network_id,
				key->serial_num, &kbus_req_key_secret);

	return (u32)hash ^ (u32)(hash >> 32);
}

static const struct rhashtable_params kbus_req_params = {
	.head_offset = offsetof(struct kbus_req, hnode),
	.key_offset = offsetof(struct kbus_req, key),
	.key_len = sizeof(struct kbus_req_key),
	.hashfn = kbus_req_hashfn,
	.automatic_shrinking = true,
};

int kbus_requests_init(struct kbus_dev *dev)
{
	get_random_once(&kbus_req_key_secret, sizeof(kbus_req_key_secret));
	return rhashtable_init(&dev->requests, &kbus_req_params);
}

void kbus_requests_exit(struct kbus_dev *dev)
{
	rhashtable_destroy(&dev->requests);
}

/* The bytes one reservation holds: the request's and its answer's memory. */
static unsigned long kbus_req_reserve_bytes(void)
{
	struct kbus_msg *msg;

	return sizeof(struct kbus_req) + sizeof(struct kbus_qentry) +
	       struct_size(msg, body,
			   KBUS_PADDED_NAME_LEN(KBUS_STATUS_NAME_MAX));
}

/*
 * Keep the request req of ks, done with and unused, as a spare (its status
 * message and queue entry untouched); false if ks keeps enough already.
 * Its reserved bytes go back: a spare holds memory (counted in the memory
 * cgroup of whoever allocated it) but no share of the byte budgets.
 */
static bool kbus_req_keep_spare(struct kbus_dev *dev, struct kbus_ksock *ks,
				struct kbus_req *req)
{
	struct kbus_qentry *qe = req->status;

	lockdep_assert_held(&dev->lock);
	if (!qe || ks->closing || req->hashed ||
	    ks->num_spare_reqs >= KBUS_SPARE_REQS)
		return false;
	ks->reserved_bytes -= qe->charge.bytes;
	kbus_uncharge(dev, &qe->charge);
	req->requester = NULL;
	req->replier = NULL;
	req->queued = false;
	INIT_LIST_HEAD(&req->owed_list);
	list_add(&req->out_list, &ks->spare_reqs);
	ks->num_spare_reqs++;
	return true;
}

/* Free the spare requests of ks (it closes). */
static void kbus_req_free_spares(struct kbus_dev *dev, struct kbus_ksock *ks)
{
	struct kbus_req *req, *tmp;

	lockdep_assert_held(&dev->lock);
	list_for_each_entry_safe(req, tmp, &ks->spare_reqs, out_list) {
		list_del(&req->out_list);
		kbus_qentry_free(dev, req->status);
		kfree(req);	/* never indexed since it became a spare */
	}
	ks->num_spare_reqs = 0;
}

/* Reserve the answer of a request of requester in a spare, if it has one. */
static struct kbus_req *kbus_req_from_spare(struct kbus_ksock *requester,
					    unsigned long bytes)
{
	struct kbus_dev *dev = requester->dev;
	struct kbus_req *req;
	int err;

	req = list_first_entry(&requester->spare_reqs, struct kbus_req,
			       out_list);
	err = kbus_charge(dev, &req->status->charge, requester->user,
			  requester->user->uid, bytes, false);
	if (err)
		return ERR_PTR(err == -EDQUOT ? -ENOLCK : err);
	list_del_init(&req->out_list);
	requester->num_spare_reqs--;
	req->requester = requester;
	requester->reserved_bytes += bytes;
	return req;
}

/*
 * A request of requester, with its answer reserved. -ENOLCK when the
 * requester's queue (kbus_max_ksock_bytes) or user cannot hold the
 * reservation: only the requester can make room (spec 8.1 step 4).
 */
struct kbus_req *kbus_req_new(struct kbus_ksock *requester)
{
	struct kbus_dev *dev = requester->dev;
	unsigned long bytes = kbus_req_reserve_bytes();
	struct kbus_qentry *qe;
	struct kbus_req *req;
	int err;

	lockdep_assert_held(&dev->lock);
	if (kbus_ksock_queued_bytes(requester) + requester->reserved_bytes + bytes >
	    READ_ONCE(kbus_max_ksock_bytes))
		return ERR_PTR(-ENOLCK);
	if (requester->num_spare_reqs)
		return kbus_req_from_spare(requester, bytes);

	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
	qe = kbus_qentry_alloc(GFP_KERNEL_ACCOUNT);
	if (!req || !qe)
		goto nomem;
	qe->msg = kbus_msg_alloc(KBUS_STATUS_NAME_MAX, 0, GFP_KERNEL_ACCOUNT);
	if (!qe->msg)
		goto nomem;
	err = kbus_charge(dev, &qe->charge, requester->user,
			  requester->user->uid, bytes, false);
	if (err) {
		kbus_qentry_free(dev, qe);
		kfree(req);
		return ERR_PTR(err == -EDQUOT ? -ENOLCK : err);
	}
	qe->ksock = requester;
	req->status = qe;
	req->requester = requester;
	INIT_LIST_HEAD(&req->out_list);
	INIT_LIST_HEAD(&req->owed_list);
	requester->reserved_bytes += qe->charge.bytes;
	return req;

nomem:
	kbus_qentry_free(dev, qe);
	kfree(req);
	return ERR_PTR(-ENOMEM);
}

/* Give back the reservation (the answer was given otherwise, or is moot). */
static void kbus_req_unreserve(struct kbus_dev *dev, struct kbus_req *req)
{
	struct kbus_qentry *qe = req->status;

	if (!qe)
		return;
	qe->ksock->reserved_bytes -= qe->charge.bytes;
	kbus_qentry_free(dev, qe);
	req->status = NULL;
}

/* Free a request: nothing refers to it any more (or it was never sent). */
void kbus_req_free(struct kbus_dev *dev, struct kbus_req *req)
{
	lockdep_assert_held(&dev->lock);
	if (!req)
		return;
	kbus_req_unreserve(dev, req);
	if (req->hashed)
		rhashtable_remove_fast(&dev->requests, &req->hnode,
				       kbus_req_params);
	kfree_rcu(req, rcu);
}

/* The request ks was writing was not sent: keep it as a spare, or free it. */
void kbus_req_drop(struct kbus_ksock *ks, struct kbus_req *req)
{
	if (req && !kbus_req_keep_spare(ks->dev, ks, req))
		kbus_req_free(ks->dev, req);
}

static void kbus_req_maybe_free(struct kbus_dev *dev, struct kbus_req *req)
{
	if (!req->requester && !req->queued && !req->replier)
		kbus_req_free(dev, req);
}

/*
 * The request is being sent with this id: index it. -EEXIST if its
 * requester still waits for another request of that id.
 */
int kbus_req_accept(struct kbus_req *req, struct kbus_msg_id id)
{
	struct kbus_ksock *ks = req->requester;
	int err;

	lockdep_assert_held(&ks->dev->lock);
	req->key.requester = ks->id;
	req->key.network_id = id.network_id;
	req->key.serial_num = id.serial_num;
	err = rhashtable_lookup_insert_fast(&ks->dev->requests, &req->hnode,
					    kbus_req_params);
	if (!err)
		req->hashed = true;
	return err;
}

/* Undo kbus_req_accept(): the send did not happen after all. */
void kbus_req_unaccept(struct kbus_req *req)
{
	lockdep_assert_held(&req->requester->dev->lock);
	rhashtable_remove_fast(&req->requester->dev->requests, &req->hnode,
			       kbus_req_params);
	req->hashed = false;
}

/* The request was sent: its requester waits for the answer. */
void kbus_req_commit(struct kbus_req *req)
{
	struct kbus_ksock *ks = req->requester;

	lockdep_assert_held(&ks->dev->lock);
	req->queued = true;
	list_add_tail(&req->out_list, &ks->outstanding);
	ks->num_outstanding++;
	if (ks->num_outstanding > ks->max_outstanding)
		ks->max_outstanding = ks->num_outstanding;
}

struct kbus_req *kbus_req_find(struct kbus_dev *dev, u32 requester,
			       struct kbus_msg_id id)
{
	struct kbus_req_key key = {
		.requester = requester,
		.network_id = id.network_id,
		.serial_num = id.serial_num,
	};

	lockdep_assert_held(&dev->lock);
	return rhashtable_lookup_fast(&dev->requests, &key, kbus_req_params);
}

/* The requester no longer waits for req (answered, or it closed). */
static void kbus_req_detach_requester(struct kbus_dev *dev,
				      struct kbus_req *req, bool unhash)
{
	struct kbus_ksock *ks = req->requester;

	list_del_init(&req->out_list);
	ks->num_outstanding--;
	req->requester = NULL;
	if (unhash && req->hashed) {
		rhashtable_remove_fast(&dev->requests, &req->hnode,
				       kbus_req_params);
		req->hashed = false;
	}
}

static void kbus_req_detach_replier(struct kbus_req *req)
{
	struct kbus_ksock *ks = req->replier;

	list_del_init(&req->owed_list);
	ks->num_owed--;
	req->replier = NULL;
}

/*
 * A Reply to req (sent by "by") has been queued to its requester: it no
 * longer waits, its reservation goes back, and "by" owes nothing more if
 * it was the replier that popped the request.
 */
void kbus_req_answered(struct kbus_req *req, struct kbus_ksock *by)
{
	struct kbus_ksock *requester = req->requester;
	struct kbus_dev *dev = by->dev;

	lockdep_assert_held(&dev->lock);
	kbus_req_detach_requester(dev, req, true);
	if (req->replier == by)
		kbus_req_detach_replier(req);
	if (!req->queued && !req->replier &&
	    kbus_req_keep_spare(dev, requester, req))
		return;
	kbus_req_unreserve(dev, req);
	kbus_req_maybe_free(dev, req);
}

/*
 * replier answered req, whose requester has closed: the answer goes
 * nowhere, and replier owes nothing more.
 */
void kbus_req_forget(struct kbus_req *req, struct kbus_ksock *replier)
{
	lockdep_assert_held(&replier->dev->lock);
	if (req->requester || req->replier != replier)
		return;
	kbus_req_detach_replier(req);
	kbus_req_maybe_free(replier->dev, req);
}

/* The replier popped req (NEXTMSG): it owes the answer now. */
void kbus_req_popped(struct kbus_req *req, struct kbus_ksock *replier)
{
	lockdep_assert_held(&replier->dev->lock);
	req->queued = false;
	req->replier = replier;
	list_add_tail(&req->owed_list, &replier->owed);
	replier->num_owed++;
	if (replier->num_owed > replier->max_owed)
		replier->max_owed = replier->num_owed;
}

/* Queue the reserved status message "name" from "from" to ks. */
static void kbus_push_reserved(struct kbus_ksock *ks, struct kbus_qentry *qe,
			       const char *name, u32 from,
			       struct kbus_msg_id in_reply_to)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_msg *msg = qe->msg;
	u32 len = strlen(name);

	WARN_ON(ks->closing);
	msg->name_len = len;
	msg->body_len = KBUS_PADDED_NAME_LEN(len);
	msg->data = msg->body + msg->body_len;
	memcpy(msg->name, name, len);	/* the rest stays zero */
	msg->id.serial_num = kbus_next_serial(dev);
	msg->seq = ++dev->next_seq;
	msg->flags = KBUS_BIT_SYNTHETIC;
	msg->to = ks->id;
	msg->from = from;
	msg->in_reply_to = in_reply_to;
	msg->uid = ks->user->uid;
	qe->flags = msg->flags;
	ks->reserved_bytes -= qe->charge.bytes;
	kbus_push(qe);
	kbus_trace(dev, "%s [0:%u] to ksock %u for [%u:%u]\n", name,
		   msg->id.serial_num, ks->id, in_reply_to.network_id,
		   in_reply_to.serial_num);
}

/*
 * The replier side lets go of req without answering (spec 11.3: the
 * replier unbound with it queued, closed with it queued, or closed owing
 * it): its requester, if it still waits, gets status "why" from "from".
 */
void kbus_req_replier_gone(struct kbus_dev *dev, struct kbus_req *req,
			   const char *why, u32 from)
{
	struct kbus_ksock *ks = req->requester;

	lockdep_assert_held(&dev->lock);
	if (req->replier)
		kbus_req_detach_replier(req);
	req->queued = false;
	if (ks) {
		kbus_push_reserved(ks, req->status, why, from,
				   (struct kbus_msg_id){
					.network_id = req->key.network_id,
					.serial_num = req->key.serial_num,
				   });
		req->status = NULL;
		kbus_req_detach_requester(dev, req, true);
	}
	kbus_req_maybe_free(dev, req);
}

/*
 * A pending ALL_OR_WAIT Request of ks failed on a retry by poll (spec
 * 8.4): ks gets status "name" for it, from its reservation.
 */
void kbus_req_pending_status(struct kbus_ksock *ks, const char *name)
{
	struct kbus_req *req = ks->wr.req;

	lockdep_assert_held(&ks->dev->lock);
	kbus_push_reserved(ks, req->status, name, 0, ks->wr.msg->id);
	req->status = NULL;
	ks->wr.req = NULL;
	req->requester = NULL;
	kbus_req_free(ks->dev, req);
}

/*
 * ks closes, step one: the requests it sent stop waiting (a replier's
 * answer then fails with EADDRNOTAVAIL and clears what it owes). First, so
 * that nothing is answered into the queue being emptied.
 */
void kbus_requests_close_requester(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_req *req, *tmp;

	lockdep_assert_held(&dev->lock);
	WARN_ON(!ks->closing);
	kbus_req_free_spares(dev, ks);
	list_for_each_entry_safe(req, tmp, &ks->outstanding, out_list) {
		kbus_req_unreserve(dev, req);
		/* Left indexed while its replier may still answer it. */
		kbus_req_detach_requester(dev, req,
					  !req->queued && !req->replier);
		kbus_req_maybe_free(dev, req);
		cond_resched();
	}
}

/*
 * ks closes, last step: the requests it popped and owes get
 * $.KBUS.Replier.Ignored (its queue was emptied first: GoneAway).
 */
void kbus_requests_close_replier(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_req *req, *tmp;

	lockdep_assert_held(&dev->lock);
	list_for_each_entry_safe(req, tmp, &ks->owed, owed_list) {
		kbus_req_replier_gone(dev, req, KBUS_MSG_NAME_REPLIER_IGNORED,
				      ks->id);
		cond_resched();
	}
}
