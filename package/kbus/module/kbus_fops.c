// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: open, release, write, read, poll and the
 * ioctls (spec sections 5 and 6).
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kbus_internal.h"

static const u32 kbus_end_guard = KBUS_MSG_END_GUARD;

/* ---- the message being written ---- */

/* Forget the message being written. Not while an ALL_OR_WAIT send waits. */
void kbus_wstate_reset(struct kbus_ksock *ks)
{
	WARN_ON(ks->wr.sending || ks->wr.req);
	kbus_uncharge(ks->dev, &ks->wr.charge);
	kbus_msg_put(ks->wr.msg);
	memset(&ks->wr, 0, sizeof(ks->wr));
}

/* The header is complete: check it (spec 4.6). */
static int kbus_check_header(struct kbus_ksock *ks)
{
	const struct kbus_message_header *hdr = &ks->wr.hdr;
	u64 len;

	if (hdr->start_guard != KBUS_MSG_START_GUARD ||
	    hdr->end_guard != KBUS_MSG_END_GUARD || !hdr->name_len)
		return -EINVAL;
	if (hdr->name_len > KBUS_MAX_NAME_LEN)
		return -ENAMETOOLONG;
	if ((!hdr->name && hdr->data) ||
	    (hdr->name && !hdr->data && hdr->data_len) ||
	    (!hdr->data_len && hdr->data))
		return -EINVAL;
	if ((hdr->flags & KBUS_BIT_ALL_OR_WAIT) &&
	    (hdr->flags & KBUS_BIT_ALL_OR_FAIL))
		return -EINVAL;
	len = (u64)KBUS_HDR_LEN + KBUS_PADDED_NAME_LEN((u64)hdr->name_len) +
	      KBUS_PADDED_DATA_LEN((u64)hdr->data_len) + 4;
	if (len > READ_ONCE(ks->dev->max_message_size))
		return -EMSGSIZE;

	ks->wr.pointy = !!hdr->name;
	if (ks->wr.pointy) {
		ks->wr.complete = true;
		return 0;
	}
	/* The writer's own bytes: within its user's share (kbus_acct.c). */
	if (kbus_charge(ks->dev, &ks->wr.charge, ks->user, ks->user->uid, len,
			false))
		return -ENOMEM;
	ks->wr.total = len;
	ks->wr.msg = kbus_msg_alloc(hdr->name_len, hdr->data_len,
				    GFP_KERNEL_ACCOUNT);
	return ks->wr.msg ? 0 : -ENOMEM;
}

/* Consume up to len bytes of the message; returns bytes taken or -errno. */
static ssize_t kbus_write_some(struct kbus_ksock *ks, const char __user *buf,
			       size_t len)
{
	struct kbus_wstate *wr = &ks->wr;
	struct kbus_msg *msg = wr->msg;
	u32 body_len, off;
	size_t n;
	int err;

	if (wr->pos < KBUS_HDR_LEN) {
		n = min_t(size_t, len, KBUS_HDR_LEN - wr->pos);
		if (copy_from_user((u8 *)&wr->hdr + wr->pos, buf, n))
			return -EFAULT;
		wr->pos += n;
		if (wr->pos == KBUS_HDR_LEN) {
			err = kbus_check_header(ks);
			if (err)
				return err;
		}
		return n;
	}

	body_len = msg->body_len;
	off = wr->pos - KBUS_HDR_LEN;
	if (off < body_len) {
		n = min_t(size_t, len, body_len - off);
		if (copy_from_user(msg->body + off, buf, n))
			return -EFAULT;
		wr->pos += n;
		/* The name is checked as soon as its last byte is in. */
		if (off < msg->name_len && off + n >= msg->name_len) {
			err = kbus_check_name(msg->name, msg->name_len, false);
			if (err)
				return err;
		}
		return n;
	}

	off -= body_len;
	n = min_t(size_t, len, sizeof(wr->guard) - off);
	if (copy_from_user((u8 *)&wr->guard + off, buf, n))
		return -EFAULT;
	wr->pos += n;
	if (wr->pos == wr->total) {
		if (wr->guard != KBUS_MSG_END_GUARD)
			return -EINVAL;
		/* Padding is ignored on input and zero on output. */
		memset(msg->name + msg->name_len, 0,
		       KBUS_PADDED_NAME_LEN(msg->name_len) - msg->name_len);
		memset(msg->data + msg->data_len, 0,
		       KBUS_PADDED_DATA_LEN(msg->data_len) - msg->data_len);
		wr->complete = true;
	}
	return n;
}

static ssize_t kbus_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	struct kbus_ksock *ks = file->private_data;
	size_t done = 0;
	ssize_t ret;

	if (mutex_lock_interruptible(&ks->io_lock))
		return -EAGAIN;
	if (ks->wr.sending) {
		/* The pending message stays: DISCARD, SEND or poll it. */
		ret = -EALREADY;
		goto out;
	}
	if (count && !ks->wr.started) {
		ks->wr.started = true;
		ks->wr.total = KBUS_HDR_LEN;
	}
	while (done < count) {
		if (ks->wr.complete) {
			ret = -EMSGSIZE;
			goto discard;
		}
		ret = kbus_write_some(ks, buf + done, count - done);
		if (ret < 0)
			goto discard;
		done += ret;
	}
	ret = count;
	goto out;

discard:
	kbus_wstate_reset(ks);
out:
	mutex_unlock(&ks->io_lock);
	return ret;
}

/* ---- the message being read ---- */

static void kbus_rstate_reset(struct kbus_ksock *ks)
{
	kbus_uncharge(ks->dev, &ks->rd.charge);
	kbus_msg_put(ks->rd.msg);
	memset(&ks->rd, 0, sizeof(ks->rd));
}

/* Remember who sent msg, just made current (after kbus_forget_sender). */
static void kbus_take_sender(struct kbus_ksock *ks, struct kbus_msg *msg)
{
	lockdep_assert_held(&ks->io_lock);
	ks->has_sender = true;
	ks->sender_synthetic = !msg->has_sender;
	ks->sender_euid = msg->euid;
	ks->sender_egid = msg->egid;
	ks->sender_pid = get_pid(msg->pid);
}

/* Forget who sent the last message made current. */
static void kbus_forget_sender(struct kbus_ksock *ks)
{
	put_pid(ks->sender_pid);
	ks->sender_pid = NULL;
	ks->has_sender = false;
}

/*
 * The first queued copy, with a reference to its message and its flags;
 * NULL if the queue is empty. Brings a set-aside event up if that is all
 * there is (spec 18.10).
 */
static struct kbus_qentry *kbus_peek(struct kbus_ksock *ks,
				     struct kbus_msg **msgp, u32 *flags)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_qentry *qe;
	int tries;

	lockdep_assert_held(&ks->io_lock);
	for (tries = 0; tries < 2; tries++) {
		spin_lock(&ks->qlock);
		qe = list_first_entry_or_null(&ks->queue, struct kbus_qentry,
					      list);
		if (qe) {
			*msgp = kbus_msg_get(qe->msg);
			*flags = qe->flags;
		}
		spin_unlock(&ks->qlock);
		if (qe || !READ_ONCE(ks->num_setaside))
			return qe;
		if (mutex_lock_interruptible(&dev->lock))
			return NULL;
		if (!kbus_ksock_count(ks))
			kbus_setaside_promote(ks);
		mutex_unlock(&dev->lock);
	}
	return NULL;
}

/*
 * Take qe off the queue if it is still the first copy there and still
 * holds msg (an UNBIND may have removed it meanwhile); else NULL. A plain
 * copy is taken without dev->lock, like NEXTMSG does.
 */
static struct kbus_qentry *kbus_pop_if_first(struct kbus_ksock *ks,
					     struct kbus_qentry *qe,
					     struct kbus_msg *msg)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_qentry *first;

	lockdep_assert_held(&ks->io_lock);
	if (kbus_pop_plain_if(ks, qe, msg))
		return qe;
	mutex_lock(&dev->lock);
	spin_lock(&ks->qlock);
	first = list_first_entry_or_null(&ks->queue, struct kbus_qentry, list);
	spin_unlock(&ks->qlock);
	if (first != qe || first->msg != msg) {
		mutex_unlock(&dev->lock);
		return NULL;
	}
	kbus_unqueue(qe);
	if (qe->req)
		kbus_req_popped(qe->req, ks);
	kbus_setaside_promote(ks);
	mutex_unlock(&dev->lock);
	return qe;
}

/* Copy msg whole (entire form, as this reader sees it) to buf. */
static int kbus_copy_whole(char __user *buf, struct kbus_msg *msg, u32 flags)
{
	struct kbus_message_header hdr = {
		.start_guard = KBUS_MSG_START_GUARD,
		.id = msg->id,
		.in_reply_to = msg->in_reply_to,
		.to = msg->to,
		.from = msg->from,
		.orig_from = msg->orig_from,
		.final_to = msg->final_to,
		.flags = flags,
		.name_len = msg->name_len,
		.data_len = msg->data_len,
		.end_guard = KBUS_MSG_END_GUARD,
	};

	if (copy_to_user(buf, &hdr, KBUS_HDR_LEN) ||
	    copy_to_user(buf + KBUS_HDR_LEN, msg->body, msg->body_len) ||
	    copy_to_user(buf + KBUS_HDR_LEN + msg->body_len, &kbus_end_guard,
			 sizeof(kbus_end_guard)))
		return -EFAULT;
	return 0;
}

/*
 * read() with BATCHREAD on and no message current: pop and return as many
 * whole messages (entire form, one after the other) as fit in count. Each
 * is copied before it is taken off the queue, so a fault consumes nothing;
 * -EMSGSIZE if the next one does not fit at all (it stays queued: NEXTMSG
 * tells its length), 0 if there is none.
 */
static ssize_t kbus_batch_read(struct kbus_ksock *ks, char __user *buf,
			       size_t count)
{
	struct kbus_dev *dev = ks->dev;
	size_t done = 0;
	int popped = 0;

	lockdep_assert_held(&ks->io_lock);
	for (;;) {
		struct kbus_qentry *qe;
		struct kbus_msg *msg;
		u32 flags, size;

		qe = kbus_peek(ks, &msg, &flags);
		if (!qe)
			break;
		size = kbus_msg_size(msg);
		if (size > count - done) {
			kbus_msg_put(msg);
			if (!done)
				return -EMSGSIZE;
			break;
		}
		if (kbus_copy_whole(buf + done, msg, flags)) {
			kbus_msg_put(msg);
			if (!done)
				return -EFAULT;
			break;
		}
		qe = kbus_pop_if_first(ks, qe, msg);
		kbus_msg_put(msg);
		if (!qe)
			continue;	/* removed meanwhile: not returned */
		kbus_forget_sender(ks);
		ks->has_sender = true;
		kbus_take_sender(ks, qe->msg);
		kbus_qentry_free(dev, qe);
		done += size;
		popped++;
		cond_resched();
	}
	if (popped)
		kbus_ksock_room(ks);
	return done;
}

static ssize_t kbus_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct kbus_ksock *ks = file->private_data;
	struct kbus_rstate *rd = &ks->rd;
	size_t done = 0;
	ssize_t ret;
	u32 start;

	if (mutex_lock_interruptible(&ks->io_lock))
		return -EAGAIN;
	if (ks->batch_read && !rd->msg) {
		ret = kbus_batch_read(ks, buf, count);
		goto out;
	}
	start = rd->pos;
	while (rd->msg && done < count && rd->pos < rd->total) {
		u32 body_len = rd->msg->body_len;
		const u8 *src;
		size_t n;

		if (rd->pos < KBUS_HDR_LEN) {
			src = (const u8 *)&rd->hdr + rd->pos;
			n = KBUS_HDR_LEN - rd->pos;
		} else if (rd->pos < KBUS_HDR_LEN + body_len) {
			src = rd->msg->body + (rd->pos - KBUS_HDR_LEN);
			n = KBUS_HDR_LEN + body_len - rd->pos;
		} else {
			src = (const u8 *)&kbus_end_guard +
			      (rd->pos - KBUS_HDR_LEN - body_len);
			n = rd->total - rd->pos;
		}
		n = min(n, count - done);
		if (copy_to_user(buf + done, src, n)) {
			/* Nothing is consumed by a read that fails. */
			rd->pos = start;
			ret = -EFAULT;
			goto out;
		}
		rd->pos += n;
		done += n;
	}
	if (rd->msg && rd->pos == rd->total)
		kbus_rstate_reset(ks);
	ret = done;
out:
	mutex_unlock(&ks->io_lock);
	return ret;
}

/* ---- open, release, poll ---- */

static int kbus_open(struct inode *inode, struct file *file)
{
	struct kbus_dev *dev = kbus_dev_get(iminor(inode));
	struct kbus_user *user;
	struct kbus_ksock *ks;
	int err;

	if (!dev)
		return -ENODEV;
	ks = kzalloc(sizeof(*ks), GFP_KERNEL_ACCOUNT);
	if (!ks)
		return -ENOMEM;
	ks->dev = dev;
	ks->pid = task_tgid_nr(current);
	ks->can_write = file->f_mode & FMODE_WRITE;
	ks->privileged = capable(CAP_SYS_ADMIN);
	/* the file's: it holds a reference for as long as this Ksock lives */
	ks->cred = file->f_cred;
	ks->max_messages = CONFIG_KBUS_DEF_MAX_MESSAGES;
	mutex_init(&ks->io_lock);
	INIT_LIST_HEAD(&ks->bindings);
	INIT_LIST_HEAD(&ks->queue);
	spin_lock_init(&ks->qlock);
	INIT_LIST_HEAD(&ks->outstanding);
	INIT_LIST_HEAD(&ks->owed);
	INIT_LIST_HEAD(&ks->spare_reqs);
	INIT_LIST_HEAD(&ks->send_list);
	init_waitqueue_head(&ks->read_wait);
	init_waitqueue_head(&ks->write_wait);

	if (mutex_lock_interruptible(&dev->lock)) {
		err = -ERESTARTSYS;
		goto err_free;
	}
	/* Ksocks are accounted to the user that opened them. */
	user = kbus_user_get(dev, file->f_cred->euid);
	if (!user) {
		err = -ENOMEM;
		goto err_unlock;
	}
	if (user->ksocks >= READ_ONCE(kbus_max_user_ksocks)) {
		err = -EMFILE;
		goto err_user;
	}
	do {
		if (++dev->last_ksock_id == 0)
			dev->last_ksock_id = 1;
		/* Ids still in use after a wrap-around are skipped. */
		err = xa_insert(&dev->ksock_ids, dev->last_ksock_id, ks,
				GFP_KERNEL_ACCOUNT);
	} while (err == -EBUSY);
	if (err)
		goto err_user;
	ks->id = dev->last_ksock_id;
	ks->user = user;
	user->ksocks++;
	list_add(&ks->dev_list, &dev->ksocks);
	kbus_room_appeared(dev);
	mutex_unlock(&dev->lock);

	file->private_data = ks;
	return stream_open(inode, file);

err_user:
	kbus_user_put(dev, user);
err_unlock:
	mutex_unlock(&dev->lock);
err_free:
	kfree(ks);
	return err;
}

/* Close (spec 5.5): every request this Ksock held gets its answer. */
static int kbus_release(struct inode *inode, struct file *file)
{
	struct kbus_ksock *ks = file->private_data;
	struct kbus_dev *dev = ks->dev;
	struct kbus_qentry *qe, *tmp;

	mutex_lock(&dev->lock);
	ks->closing = true;
	xa_erase(&dev->ksock_ids, ks->id);
	kbus_end_sending(ks);
	kbus_rstate_reset(ks);
	kbus_requests_close_requester(ks);

	list_for_each_entry_safe(qe, tmp, &ks->queue, list) {
		kbus_unqueue(qe);
		if (qe->req)
			kbus_req_replier_gone(dev, qe->req,
					      KBUS_MSG_NAME_REPLIER_GONEAWAY,
					      ks->id);
		kbus_qentry_free(dev, qe);
		cond_resched();
	}
	kbus_unbind_all(ks);
	kbus_requests_close_replier(ks);

	list_del(&ks->dev_list);
	ks->user->ksocks--;
	kbus_user_put(dev, ks->user);
	kbus_room_appeared(dev);
	mutex_unlock(&dev->lock);

	kbus_forget_sender(ks);
	mutex_destroy(&ks->io_lock);
	kfree(ks);
	return 0;
}

/* What poll can tell without the locks (the common case). */
static __poll_t kbus_poll_unlocked(struct kbus_ksock *ks)
{
	__poll_t mask = 0;

	if (READ_ONCE(ks->count) || READ_ONCE(ks->num_setaside))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (ks->can_write && !READ_ONCE(ks->wr.sending))
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static __poll_t kbus_poll(struct file *file, poll_table *wait)
{
	struct kbus_ksock *ks = file->private_data;
	struct kbus_dev *dev = ks->dev;
	__poll_t mask;

	/*
	 * Both queues, always: whoever adds the Ksock to epoll before a send
	 * goes pending must be woken when room for it appears.
	 */
	poll_wait(file, &ks->read_wait, wait);
	poll_wait(file, &ks->write_wait, wait);
	/*
	 * Only a pending ALL_OR_WAIT send needs the locks: poll retries it
	 * (spec 8.4). A signal while waiting for them gives the unlocked view.
	 */
	if (!READ_ONCE(ks->wr.sending))
		return kbus_poll_unlocked(ks);
	if (mutex_lock_interruptible(&ks->io_lock))
		return kbus_poll_unlocked(ks);
	if (mutex_lock_interruptible(&dev->lock)) {
		mutex_unlock(&ks->io_lock);
		return kbus_poll_unlocked(ks);
	}
	mask = 0;
	if (kbus_ksock_count(ks) || ks->num_setaside)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (ks->can_write && (!ks->wr.sending || kbus_poll_retry(ks)))
		mask |= EPOLLOUT | EPOLLWRNORM;
	mutex_unlock(&dev->lock);
	mutex_unlock(&ks->io_lock);
	return mask;
}

/* ---- ioctls ---- */

/* Copy in a BIND/UNBIND/REPLIER name; NULL-terminated, caller frees. */
static char *kbus_get_name(char __user *uname, u32 len, bool for_query)
{
	char *name;
	int err;

	if (!len && !for_query)
		return ERR_PTR(-EBADMSG);
	if (!len || len > KBUS_MAX_NAME_LEN)
		return ERR_PTR(-ENAMETOOLONG);
	name = kbus_copy_name(uname, len);
	if (IS_ERR(name) || for_query)
		return name;
	err = kbus_check_name(name, len, true);
	if (err) {
		kfree(name);
		return ERR_PTR(err);
	}
	return name;
}

static int kbus_ioc_bind(struct kbus_ksock *ks, void __user *argp, bool bind)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_bind_request req;
	char *name;
	int err;

	if (copy_from_user(&req, argp, sizeof(req)))
		return -EFAULT;
	name = kbus_get_name(req.name, req.name_len, false);
	if (IS_ERR(name))
		return PTR_ERR(name);
	if (mutex_lock_interruptible(&dev->lock)) {
		kfree(name);
		return -ERESTARTSYS;
	}
	if (bind)
		err = kbus_bind(ks, name, req.name_len, req.is_replier);
	else
		err = kbus_unbind(ks, name, req.name_len, req.is_replier);
	mutex_unlock(&dev->lock);
	kfree(name);
	return err;
}

static int kbus_ioc_replier(struct kbus_ksock *ks, void __user *argp)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_bind_query query;
	struct kbus_binding *b;
	char *name;

	if (copy_from_user(&query, argp, sizeof(query)))
		return -EFAULT;
	name = kbus_get_name(query.name, query.name_len, true);
	if (IS_ERR(name))
		return PTR_ERR(name);
	if (mutex_lock_interruptible(&dev->lock)) {
		kfree(name);
		return -ERESTARTSYS;
	}
	b = kbus_find_exact_replier(dev, name, query.name_len);
	query.return_id = b ? b->ksock->id : 0;
	mutex_unlock(&dev->lock);
	kfree(name);
	if (copy_to_user(argp, &query, sizeof(query)))
		return -EFAULT;
	return b ? 1 : 0;
}

/* Make the popped copy qe the message to read; returns its length. */
static u32 kbus_start_read(struct kbus_ksock *ks, struct kbus_qentry *qe)
{
	struct kbus_message_header *hdr = &ks->rd.hdr;
	struct kbus_msg *msg = qe->msg;

	lockdep_assert_held(&ks->io_lock);
	/* Kept after the read is done, until the next NEXTMSG. */
	kbus_forget_sender(ks);
	ks->has_sender = true;
	kbus_take_sender(ks, msg);
	hdr->start_guard = KBUS_MSG_START_GUARD;
	hdr->id = msg->id;
	hdr->in_reply_to = msg->in_reply_to;
	hdr->to = msg->to;
	hdr->from = msg->from;
	hdr->orig_from = msg->orig_from;
	hdr->final_to = msg->final_to;
	hdr->flags = qe->flags;
	hdr->name_len = msg->name_len;
	hdr->data_len = msg->data_len;
	hdr->end_guard = KBUS_MSG_END_GUARD;
	/* The queue's reference and its bytes move to the read state. */
	ks->rd.msg = msg;
	ks->rd.charge = qe->charge;
	ks->rd.total = KBUS_HDR_LEN + msg->body_len + 4;
	memset(&qe->charge, 0, sizeof(qe->charge));
	qe->msg = NULL;
	kbus_qentry_free(ks->dev, qe);
	return ks->rd.total;
}

/*
 * NEXTMSG (spec 6.7): pop the next message and make it the one to read.
 * A plain message, or the answer that there is none, is taken under the
 * Ksock's own locks only (listeners that read until NEXTMSG says "none" do
 * not queue on the device lock behind senders); a request to answer, or a
 * message with set-aside events behind it, under dev->lock too.
 */
static int kbus_ioc_nextmsg(struct kbus_ksock *ks, u32 __user *argp)
{
	struct kbus_dev *dev = ks->dev;
	struct kbus_qentry *qe;
	u32 len = 0;
	int ret = 0;

	if (mutex_lock_interruptible(&ks->io_lock))
		return -ERESTARTSYS;
	kbus_rstate_reset(ks);
	kbus_forget_sender(ks);
	qe = kbus_pop_plain(ks);
	if (qe) {
		len = kbus_start_read(ks, qe);
		mutex_unlock(&ks->io_lock);
		kbus_ksock_room(ks);
		return put_user(len, argp) ? -EFAULT : 1;
	}
	/* Nothing queued or set aside: no message, without the device lock. */
	if (!kbus_ksock_count(ks) && !READ_ONCE(ks->num_setaside)) {
		mutex_unlock(&ks->io_lock);
		return put_user(0, argp) ? -EFAULT : 0;
	}

	if (mutex_lock_interruptible(&dev->lock)) {
		mutex_unlock(&ks->io_lock);
		return -ERESTARTSYS;
	}
	if (!kbus_ksock_count(ks)) {
		/*
		 * Never strand set-aside events (18.10); when one cannot come
		 * up, say so rather than "no message".
		 */
		ret = kbus_setaside_promote(ks);
		if (ret)
			goto out;
	}
	spin_lock(&ks->qlock);
	qe = list_first_entry_or_null(&ks->queue, struct kbus_qentry, list);
	spin_unlock(&ks->qlock);
	if (!qe)
		goto out;
	kbus_unqueue(qe);
	if (qe->req)
		kbus_req_popped(qe->req, ks);
	len = kbus_start_read(ks, qe);
	kbus_setaside_promote(ks);
	kbus_ksock_room(ks);
	ret = 1;
out:
	mutex_unlock(&dev->lock);
	mutex_unlock(&ks->io_lock);
	if (ret >= 0 && put_user(len, argp))
		return -EFAULT;
	return ret;
}

/*
 * The 0 / 1 / 0xFFFFFFFF (query) switches; returns the previous state.
 * VERBOSE and REPORTREPLIERBINDS are device-wide: changing them needs
 * kbus_may_admin() (EPERM); asking, or setting what is already set (a
 * monitor's snapshot of the repliers), does not.
 */
static int kbus_ioc_switch(struct file *file, struct kbus_ksock *ks,
			   u32 __user *argp, unsigned int cmd)
{
	struct kbus_dev *dev = ks->dev;
	bool *flag;
	u32 val, old;
	int err = 0;

	if (get_user(val, argp))
		return -EFAULT;
	if (val > 1 && val != 0xFFFFFFFF)
		return -EINVAL;
	if (mutex_lock_interruptible(&dev->lock))
		return -ERESTARTSYS;
	if (cmd == KBUS_IOC_MSGONLYONCE)
		flag = &ks->only_once;
	else if (cmd == KBUS_IOC_VERBOSE)
		flag = &dev->verbose;
	else
		flag = &dev->report_replier_binds;
	old = *flag;
	if (val != 0xFFFFFFFF && val != old && cmd != KBUS_IOC_MSGONLYONCE &&
	    !kbus_may_admin(file, dev)) {
		err = -EPERM;
		goto out;
	}
	if (val != 0xFFFFFFFF)
		WRITE_ONCE(*flag, val);
	if (cmd == KBUS_IOC_REPORTREPLIERBINDS && val == 1)
		err = kbus_report_snapshot(ks);
out:
	mutex_unlock(&dev->lock);
	if (err)
		return err;
	return put_user(old, argp) ? -EFAULT : 0;
}

/* A u32 in, a u32 out, under the device lock. */
static int kbus_ioc_u32(struct file *file, struct kbus_ksock *ks,
			u32 __user *argp, unsigned int cmd)
{
	struct kbus_dev *dev = ks->dev;
	u32 val = 0;
	int err = 0;

	if ((cmd == KBUS_IOC_MAXMSGS || cmd == KBUS_IOC_MAXMSGSIZE) &&
	    get_user(val, argp))
		return -EFAULT;
	if (mutex_lock_interruptible(&dev->lock))
		return -ERESTARTSYS;
	switch (cmd) {
	case KBUS_IOC_KSOCKID:
		val = ks->id;
		break;
	case KBUS_IOC_MAXMSGS:
		if (val) {
			ks->max_messages = val;
			kbus_ksock_room(ks);
		}
		val = ks->max_messages;
		break;
	case KBUS_IOC_NUMMSGS:
		val = kbus_ksock_count(ks) + ks->num_setaside;
		break;
	case KBUS_IOC_UNREPLIEDTO:
		val = ks->num_owed;
		break;
	case KBUS_IOC_MAXMSGSIZE:
		if (val == 0) {
			val = dev->max_message_size;
		} else if (val == 1) {
			val = CONFIG_KBUS_ABS_MAX_MESSAGE_SIZE;
		} else if (val < KBUS_MIN_MESSAGE_SIZE ||
			   val > CONFIG_KBUS_ABS_MAX_MESSAGE_SIZE) {
			err = -EINVAL;
		} else if (val != dev->max_message_size &&
			   !kbus_may_admin(file, dev)) {
			err = -EPERM;	/* device-wide: see kbus_ioc_switch() */
		} else {
			WRITE_ONCE(dev->max_message_size, val);
		}
		break;
	}
	mutex_unlock(&dev->lock);
	if (err)
		return err;
	return put_user(val, argp) ? -EFAULT : 0;
}

static int kbus_ioc_send(struct kbus_ksock *ks, void __user *argp)
{
	struct kbus_msg_id id = {};
	int err;

	if (mutex_lock_interruptible(&ks->io_lock))
		return -ERESTARTSYS;
	err = kbus_send(ks, &id);
	mutex_unlock(&ks->io_lock);
	if ((!err || err == -EAGAIN) && copy_to_user(argp, &id, sizeof(id)))
		return -EFAULT;
	return err;
}

static int kbus_ioc_lastsent(struct kbus_ksock *ks, void __user *argp)
{
	struct kbus_msg_id id;

	if (mutex_lock_interruptible(&ks->dev->lock))
		return -ERESTARTSYS;
	id = ks->last_msg_id_sent;
	mutex_unlock(&ks->dev->lock);
	return copy_to_user(argp, &id, sizeof(id)) ? -EFAULT : 0;
}

static int kbus_ioc_lenleft(struct kbus_ksock *ks, u32 __user *argp)
{
	u32 left;

	if (mutex_lock_interruptible(&ks->io_lock))
		return -ERESTARTSYS;
	left = ks->rd.total - ks->rd.pos;
	mutex_unlock(&ks->io_lock);
	return put_user(left, argp) ? -EFAULT : 0;
}

static int kbus_ioc_discard(struct kbus_ksock *ks)
{
	if (mutex_lock_interruptible(&ks->io_lock))
		return -ERESTARTSYS;
	kbus_discard(ks);
	mutex_unlock(&ks->io_lock);
	return 0;
}

/* MSGCREDS: who sent the message NEXTMSG last made current, at its SEND. */
static int kbus_ioc_msgcreds(struct kbus_ksock *ks, void __user *argp)
{
	struct kbus_msg_creds creds = {};

	if (mutex_lock_interruptible(&ks->io_lock))
		return -ERESTARTSYS;
	if (!ks->has_sender) {
		mutex_unlock(&ks->io_lock);
		return -ENOMSG;
	}
	if (!ks->sender_synthetic) {
		creds.uid = from_kuid_munged(current_user_ns(), ks->sender_euid);
		creds.gid = from_kgid_munged(current_user_ns(), ks->sender_egid);
		creds.pid = pid_vnr(ks->sender_pid);
	} else {
		creds.uid = (u32)-1;
		creds.gid = (u32)-1;
		creds.flags = KBUS_CREDS_SYNTHETIC;
	}
	mutex_unlock(&ks->io_lock);
	return copy_to_user(argp, &creds, sizeof(creds)) ? -EFAULT : 0;
}

static int kbus_ioc_setpolicy(struct file *file, struct kbus_ksock *ks,
			      void __user *argp)
{
	if (!kbus_may_admin(file, ks->dev))
		return -EPERM;
	return kbus_policy_load(ks->dev, argp);
}

/* BATCHREAD: 0 / 1 / 0xFFFFFFFF (query); returns the previous state. */
static int kbus_ioc_batchread(struct kbus_ksock *ks, u32 __user *argp)
{
	u32 val, old;

	if (get_user(val, argp))
		return -EFAULT;
	if (val > 1 && val != 0xFFFFFFFF)
		return -EINVAL;
	if (mutex_lock_interruptible(&ks->io_lock))
		return -ERESTARTSYS;
	old = ks->batch_read;
	if (val != 0xFFFFFFFF)
		ks->batch_read = val;
	mutex_unlock(&ks->io_lock);
	return put_user(old, argp) ? -EFAULT : 0;
}

static int kbus_ioc_filtered(struct kbus_ksock *ks, u32 __user *argp)
{
	u32 val;

	if (mutex_lock_interruptible(&ks->dev->lock))
		return -ERESTARTSYS;
	val = ks->filtered;
	mutex_unlock(&ks->dev->lock);
	return put_user(val, argp) ? -EFAULT : 0;
}

static int kbus_ioc_newdevice(u32 __user *argp)
{
	u32 index;
	int err;

	err = kbus_new_device(&index);
	if (err)
		return err;
	return put_user(index, argp) ? -EFAULT : 0;
}

static long kbus_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kbus_ksock *ks = file->private_data;
	void __user *argp = (void __user *)arg;

	if (_IOC_TYPE(cmd) != KBUS_IOC_MAGIC || _IOC_NR(cmd) < 1 ||
	    _IOC_NR(cmd) > KBUS_IOC_MAXNR)
		return -ENOTTY;
	if (_IOC_DIR(cmd) != _IOC_NONE && !access_ok(argp, _IOC_SIZE(cmd)))
		return -EFAULT;

	switch (cmd) {
	case KBUS_IOC_RESET:
		return 0;
	case KBUS_IOC_BIND:
		return kbus_ioc_bind(ks, argp, true);
	case KBUS_IOC_UNBIND:
		return kbus_ioc_bind(ks, argp, false);
	case KBUS_IOC_REPLIER:
		return kbus_ioc_replier(ks, argp);
	case KBUS_IOC_NEXTMSG:
		return kbus_ioc_nextmsg(ks, argp);
	case KBUS_IOC_LENLEFT:
		return kbus_ioc_lenleft(ks, argp);
	case KBUS_IOC_SEND:
		return kbus_ioc_send(ks, argp);
	case KBUS_IOC_DISCARD:
		return kbus_ioc_discard(ks);
	case KBUS_IOC_LASTSENT:
		return kbus_ioc_lastsent(ks, argp);
	case KBUS_IOC_KSOCKID:
	case KBUS_IOC_MAXMSGS:
	case KBUS_IOC_NUMMSGS:
	case KBUS_IOC_UNREPLIEDTO:
	case KBUS_IOC_MAXMSGSIZE:
		return kbus_ioc_u32(file, ks, argp, cmd);
	case KBUS_IOC_MSGONLYONCE:
	case KBUS_IOC_VERBOSE:
	case KBUS_IOC_REPORTREPLIERBINDS:
		return kbus_ioc_switch(file, ks, argp, cmd);
	case KBUS_IOC_NEWDEVICE:
		return kbus_ioc_newdevice(argp);
	case KBUS_IOC_MSGCREDS:
		return kbus_ioc_msgcreds(ks, argp);
	case KBUS_IOC_SETPOLICY:
		return kbus_ioc_setpolicy(file, ks, argp);
	case KBUS_IOC_FILTERED:
		return kbus_ioc_filtered(ks, argp);
	case KBUS_IOC_BATCHREAD:
		return kbus_ioc_batchread(ks, argp);
	default:
		return -ENOTTY;
	}
}

const struct file_operations kbus_fops = {
	.owner = THIS_MODULE,
	.open = kbus_open,
	.release = kbus_release,
	.read = kbus_read,
	.write = kbus_write,
	.poll = kbus_poll,
	.unlocked_ioctl = kbus_ioctl,
	.llseek = no_llseek,
};
