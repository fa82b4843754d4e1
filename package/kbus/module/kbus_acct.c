// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: who holds the message bytes, and how much each
 * user may hold.
 *
 * Every byte of message memory a client makes the kernel hold is charged:
 * a message being written (to its writer), each queued copy and the copy
 * being read (to the Ksock that holds it), and the room reserved for the
 * answer to each accepted request (to the requester). A charge is made to
 * the user (UID) of the Ksock that holds the bytes, on behalf of the user
 * that caused it (the actor: the sender of a message, the binder of a bind
 * event; the holder itself otherwise). Three bounds apply:
 *
 *   the device: at most kbus_max_device_bytes in all, and each user gets a
 *	share of what is left, never all of it: a user holding s bytes may
 *	charge c more only if (n + 1) * (s + c) - s <= left, where n is the
 *	number of users holding bytes (counting this one). A user alone can
 *	take half of the device; whoever comes next still finds room.
 *   the user: at most kbus_max_user_bytes per device; and of what the user
 *	may still take by both bounds, each other user (actor) gets a share
 *	by the same rule, with n the number of actors that hold a part of
 *	its bytes plus one. So a sender cannot fill the queues of another
 *	user's Ksocks with its messages and starve that user of messages
 *	from everyone else.
 *   the Ksock: its queue at most kbus_max_ksock_bytes (checked by the
 *	caller, under dev->lock).
 *
 * This is the quota scheme of dbus-broker's user accounting, applied to a
 * device's budget and then to each user's. Reserved budgets that must not
 * fail (the answers KBUS owes) are charged when the reservation is made.
 */
#include <linux/overflow.h>
#include <linux/slab.h>

#include "kbus_internal.h"

/* The user of this UID on dev, made if need be (dev->lock). */
struct kbus_user *kbus_user_get(struct kbus_dev *dev, kuid_t uid)
{
	struct kbus_user *user;

	lockdep_assert_held(&dev->lock);
	list_for_each_entry(user, &dev->users, dev_list) {
		if (uid_eq(user->uid, uid))
			return user;
	}
	user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
	if (!user)
		return NULL;
	user->uid = uid;
	INIT_LIST_HEAD(&user->usages);
	list_add(&user->dev_list, &dev->users);
	return user;
}

/* Forget a user that has no Ksock left (dev->lock). */
void kbus_user_put(struct kbus_dev *dev, struct kbus_user *user)
{
	lockdep_assert_held(&dev->lock);
	if (user->ksocks)
		return;
	/* Its last Ksock gave back everything it held. */
	WARN_ON(user->bytes || user->n_usages || user->bindings);
	list_del(&user->dev_list);
	kfree(user);
}

/*
 * The most one more of "users" consumers, holding share of a budget of which
 * remaining is left, may take: the largest c with
 * (users + 1) * (share + c) - share <= remaining.
 */
static unsigned long kbus_share_room(unsigned long remaining,
				     unsigned long users, unsigned long share)
{
	unsigned long per;

	if (check_add_overflow(remaining, share, &per))
		per = ULONG_MAX;
	per /= users + 1;
	return per > share ? per - share : 0;
}

static bool kbus_quota_ok(struct kbus_dev *dev, struct kbus_user *holder,
			  struct kbus_usage *usage, unsigned long bytes)
{
	unsigned long max_dev = READ_ONCE(kbus_max_device_bytes);
	unsigned long max_user = READ_ONCE(kbus_max_user_bytes);
	unsigned long users = dev->n_users_charged + (holder->bytes ? 0 : 1);
	unsigned long room;

	lockdep_assert_held(&dev->acct_lock);
	if (dev->mem >= max_dev || holder->bytes >= max_user)
		return false;
	/* The holder's share of the device, and its own bound. */
	room = min(kbus_share_room(max_dev - dev->mem, users, holder->bytes),
		   max_user - holder->bytes);
	/* Another user's share of what the holder may still take. */
	if (usage)
		room = kbus_share_room(room, holder->n_usages + 1,
				       usage->bytes);
	return bytes <= room;
}

static struct kbus_usage *kbus_usage_find(struct kbus_user *holder,
					  kuid_t actor)
{
	struct kbus_usage *usage;

	list_for_each_entry(usage, &holder->usages, list) {
		if (uid_eq(usage->actor, actor))
			return usage;
	}
	return NULL;
}

/*
 * Charge bytes held by a Ksock of holder, on behalf of actor, to c (which
 * must be empty). Returns -EDQUOT beyond the device's or the user's bounds
 * (see above), or -ENOMEM. With force the bounds do not apply: for budgets
 * that were reserved otherwise. Sleeps (may allocate).
 */
int kbus_charge(struct kbus_dev *dev, struct kbus_charge *c,
		struct kbus_user *holder, kuid_t actor, unsigned long bytes,
		bool force)
{
	bool remote = !uid_eq(holder->uid, actor);
	struct kbus_usage *usage = NULL, *spare = NULL;
	int err = 0;

	might_sleep();
	WARN_ON(c->bytes);
	if (!bytes)
		return 0;

	spin_lock(&dev->acct_lock);
	if (remote) {
		usage = kbus_usage_find(holder, actor);
		if (!usage) {
			/* The actor's first bytes here: allocate, look again. */
			spin_unlock(&dev->acct_lock);
			spare = kmalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
			if (!spare)
				return -ENOMEM;
			spin_lock(&dev->acct_lock);
			usage = kbus_usage_find(holder, actor);
		}
		if (!usage) {
			usage = spare;
			spare = NULL;
			usage->actor = actor;
			usage->bytes = 0;
			list_add(&usage->list, &holder->usages);
			holder->n_usages++;
		}
	}
	if (!force && !kbus_quota_ok(dev, holder, usage, bytes)) {
		err = -EDQUOT;
		if (usage && !usage->bytes) {
			list_del(&usage->list);
			holder->n_usages--;
			spare = usage;
		}
		goto out;
	}
	if (!holder->bytes)
		dev->n_users_charged++;
	holder->bytes += bytes;
	dev->mem += bytes;
	if (usage)
		usage->bytes += bytes;
	c->user = holder;
	c->usage = usage;
	c->bytes = bytes;
out:
	spin_unlock(&dev->acct_lock);
	kfree(spare);
	return err;
}

/*
 * Wake the Ksocks whose pending send waits for what appeared: room in the
 * queue of ks (kind KBUS_WAIT_KSOCK), room in the byte budgets
 * (KBUS_WAIT_BUDGET), or anything (KBUS_WAIT_ANY: wakes every one). A send
 * to many listeners that found one of them full is woken when that one
 * reads, not by every reader's every read (dev->acct_lock).
 */
static void kbus_wake_senders(struct kbus_dev *dev, enum kbus_wait_kind kind,
			      const struct kbus_ksock *ks)
{
	struct kbus_ksock *sender;

	lockdep_assert_held(&dev->acct_lock);
	list_for_each_entry(sender, &dev->sending, send_list) {
		const struct kbus_wait *w = &sender->send_wait;

		if (kind == KBUS_WAIT_ANY || w->kind == KBUS_WAIT_ANY ||
		    (w->kind == kind && (kind == KBUS_WAIT_BUDGET || w->on == ks)))
			wake_up_interruptible(&sender->write_wait);
	}
}

static void __kbus_uncharge(struct kbus_dev *dev, struct kbus_charge *c,
			    bool wake)
{
	struct kbus_usage *dead = NULL;

	if (!c->bytes)
		return;
	spin_lock(&dev->acct_lock);
	c->user->bytes -= c->bytes;
	dev->mem -= c->bytes;
	if (!c->user->bytes)
		dev->n_users_charged--;
	if (c->usage) {
		c->usage->bytes -= c->bytes;
		if (!c->usage->bytes) {
			list_del(&c->usage->list);
			c->user->n_usages--;
			dead = c->usage;
		}
	}
	/* Room of bytes appeared: pending ALL_OR_WAIT sends may go now. */
	if (wake) {
		WRITE_ONCE(dev->budget_seq, dev->budget_seq + 1);
		kbus_wake_senders(dev, KBUS_WAIT_BUDGET, NULL);
	}
	spin_unlock(&dev->acct_lock);
	kfree(dead);
	memset(c, 0, sizeof(*c));
}

/* Give back what c holds (nothing if empty); any context but atomic. */
void kbus_uncharge(struct kbus_dev *dev, struct kbus_charge *c)
{
	__kbus_uncharge(dev, c, true);
}

/*
 * Give back a charge made a moment ago by a plan that did not go ahead:
 * no room appeared that was not there before, so nobody is woken (a
 * sender retrying from poll would otherwise wake itself, for ever).
 */
void kbus_uncharge_undo(struct kbus_dev *dev, struct kbus_charge *c)
{
	__kbus_uncharge(dev, c, false);
}

/*
 * Room of another kind appeared (a Ksock gone or opened): wake every
 * pending ALL_OR_WAIT sender (spec 18.11).
 */
void kbus_room_appeared(struct kbus_dev *dev)
{
	spin_lock(&dev->acct_lock);
	kbus_wake_senders(dev, KBUS_WAIT_ANY, NULL);
	spin_unlock(&dev->acct_lock);
}

/*
 * The queue of ks gained room (a message taken off, MAXMSGS raised, a
 * binding gone): wake the senders that wait for it. Called after the
 * change, with or without dev->lock; the barrier orders the change before
 * the new room_seq, for kbus_sending_wait() below.
 */
void kbus_ksock_room(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;

	smp_wmb();	/* pairs with smp_rmb() in kbus_plan_copy() */
	spin_lock(&dev->acct_lock);
	WRITE_ONCE(ks->room_seq, ks->room_seq + 1);
	kbus_wake_senders(dev, KBUS_WAIT_KSOCK, ks);
	spin_unlock(&dev->acct_lock);
}

/*
 * ks's send stays pending (ALL_OR_WAIT, -EAGAIN): wake it when what w
 * says appears. If it appeared since the send looked (the counter moved),
 * wake it now: nobody else will (dev->lock, so w->on is a live Ksock).
 */
void kbus_sending_wait(struct kbus_ksock *ks, const struct kbus_wait *w)
{
	struct kbus_dev *dev = ks->dev;
	bool moved = false;

	lockdep_assert_held(&dev->lock);
	spin_lock(&dev->acct_lock);
	ks->send_wait = *w;
	if (!ks->wr.sending) {
		WRITE_ONCE(ks->wr.sending, true);
		list_add(&ks->send_list, &dev->sending);
	}
	if (w->kind == KBUS_WAIT_KSOCK)
		moved = w->on->room_seq != w->seq;
	else if (w->kind == KBUS_WAIT_BUDGET)
		moved = dev->budget_seq != w->seq;
	spin_unlock(&dev->acct_lock);
	if (moved)
		wake_up_interruptible(&ks->write_wait);
}

void kbus_sending_end(struct kbus_ksock *ks)
{
	struct kbus_dev *dev = ks->dev;

	lockdep_assert_held(&dev->lock);
	if (!ks->wr.sending)
		return;
	WRITE_ONCE(ks->wr.sending, false);
	spin_lock(&dev->acct_lock);
	list_del(&ks->send_list);
	spin_unlock(&dev->acct_lock);
}
