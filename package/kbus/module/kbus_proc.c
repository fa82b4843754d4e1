// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: /proc/kbus/bindings and /proc/kbus/stats in
 * the formats of spec section 13, and /proc/kbus/users (the accounting).
 *
 * The files are world-readable, but a reader without CAP_SYS_ADMIN sees
 * only the Ksocks and bindings of its own user: the ids and message ids of
 * other users' Ksocks would help forge replies to them (kbus_compat_open
 * shows everything to everyone, as the original did). /proc/kbus/users is
 * for root only.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/log2.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "kbus_internal.h"

static struct proc_dir_entry *kbus_proc_dir;

static const char *const kbus_part_names[] = {
	[KBUS_PART_HDR] = "HDR",
	[KBUS_PART_NAME] = "NAME",
	[KBUS_PART_NPAD] = "NPAD",
	[KBUS_PART_DATA] = "DATA",
	[KBUS_PART_DPAD] = "DPAD",
	[KBUS_PART_FINAL] = "FINAL",
};

/* May the reader of m see ks? */
static bool kbus_proc_shows(struct seq_file *m, struct kbus_ksock *ks)
{
	const struct cred *cred = m->file->f_cred;

	if (READ_ONCE(kbus_compat_open) ||
	    file_ns_capable(m->file, &init_user_ns, CAP_SYS_ADMIN))
		return true;
	return uid_eq(ks->user->uid, cred->euid);
}

/* Run show() for each device in index order, each under its lock. */
static int kbus_proc_each(struct seq_file *m,
			  void (*show)(struct seq_file *m, struct kbus_dev *dev))
{
	unsigned int i;

	for (i = 0; i < KBUS_MAX_NUM_DEVICES; i++) {
		struct kbus_dev *dev = kbus_dev_get(i);

		if (!dev)
			break;
		if (mutex_lock_interruptible(&dev->lock))
			return -ERESTARTSYS;
		show(m, dev);
		mutex_unlock(&dev->lock);
	}
	return 0;
}

static void kbus_show_bindings(struct seq_file *m, struct kbus_dev *dev)
{
	struct kbus_binding *b;

	seq_puts(m, "# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>\n");
	list_for_each_entry(b, &dev->bindings, dev_list) {
		cond_resched();
		if (!kbus_proc_shows(m, b->ksock))
			continue;
		seq_printf(m, "%3u: %8u %8lu  %c  %.*s\n", dev->index,
			   b->ksock->id, (unsigned long)b->ksock->pid,
			   b->is_replier ? 'R' : 'L', (int)b->name_len,
			   b->name);
	}
}

static int kbus_bindings_show(struct seq_file *m, void *v)
{
	return kbus_proc_each(m, kbus_show_bindings);
}

/* Where the write parser is: the part, and the byte within it. */
static void kbus_write_position(struct kbus_ksock *ks, u32 *pos,
				const char **part)
{
	u32 at = READ_ONCE(ks->wr.pos);
	u32 name_len = READ_ONCE(ks->wr.hdr.name_len);
	u32 data_len = READ_ONCE(ks->wr.hdr.data_len);
	u32 ends[] = {
		[KBUS_PART_HDR] = KBUS_HDR_LEN,
		[KBUS_PART_NAME] = name_len,
		[KBUS_PART_NPAD] = KBUS_PADDED_NAME_LEN(name_len) - name_len,
		[KBUS_PART_DATA] = data_len,
		[KBUS_PART_DPAD] = KBUS_PADDED_DATA_LEN(data_len) - data_len,
		[KBUS_PART_FINAL] = 4,
	};
	int i;

	if (at < KBUS_HDR_LEN || READ_ONCE(ks->wr.pointy) ||
	    name_len > KBUS_MAX_NAME_LEN) {
		*pos = min(at, KBUS_HDR_LEN);
		*part = kbus_part_names[KBUS_PART_HDR];
		return;
	}
	for (i = KBUS_PART_HDR; i < KBUS_PART_FINAL; i++) {
		if (at < ends[i])
			break;
		at -= ends[i];
	}
	*pos = at;
	*part = kbus_part_names[i];
}

/*
 * The capacity the original's id table would have (it started at 16 and
 * doubled as needed): /proc keeps showing it.
 */
static u32 kbus_table_size(u32 max)
{
	return max <= KBUS_TABLE_INITIAL ? KBUS_TABLE_INITIAL :
					   roundup_pow_of_two(max);
}

/* The value a counter will hand out next (0 is skipped). */
static u32 kbus_next_nonzero(u32 last)
{
	return last + 1 ? last + 1 : 1;
}

static void kbus_show_stats(struct seq_file *m, struct kbus_dev *dev)
{
	struct kbus_ksock *ks;

	seq_printf(m, "dev %2u: next ksock %u next msg %u unsent unbindings %u%s\n",
		   dev->index, kbus_next_nonzero(dev->last_ksock_id),
		   kbus_next_nonzero(dev->last_msg_serial),
		   dev->num_setaside,
		   dev->setaside_tragic ? "(gone tragic)" : "");
	/* Not in the original's format: only once there is something to say. */
	if (dev->policy || dev->denied_binds || dev->denied_sends)
		seq_printf(m, "    policy: denied binds %llu sends %llu, filtered %llu\n",
			   dev->denied_binds, dev->denied_sends, dev->filtered);
	if (dev->send_retries)
		seq_printf(m, "    pending sends retried %llu times\n",
			   dev->send_retries);
	list_for_each_entry(ks, &dev->ksocks, dev_list) {
		const char *part;
		u32 wpos;

		cond_resched();
		if (!kbus_proc_shows(m, ks))
			continue;
		kbus_write_position(ks, &wpos, &part);
		seq_printf(m, "    ksock %u last msg %u:%u queue %u of %u\n",
			   ks->id, ks->last_msg_id_sent.network_id,
			   ks->last_msg_id_sent.serial_num, kbus_ksock_count(ks),
			   ks->max_messages);
		seq_printf(m, "      read byte %u of %u, wrote byte %u of %s (%sfinished), %ssending\n",
			   READ_ONCE(ks->rd.pos), READ_ONCE(ks->rd.total),
			   wpos, part, READ_ONCE(ks->wr.complete) ? "" : "not ",
			   ks->wr.sending ? "" : "not ");
		seq_printf(m, "      outstanding requests %u (size %u, max %u), unsent replies %u (max %u)\n",
			   ks->num_outstanding,
			   kbus_table_size(ks->max_outstanding),
			   ks->max_outstanding, ks->num_owed, ks->max_owed);
	}
}

static int kbus_stats_show(struct seq_file *m, void *v)
{
	return kbus_proc_each(m, kbus_show_stats);
}

/* Who holds what: a line per device, then one per user with Ksocks open. */
static void kbus_show_users(struct seq_file *m, struct kbus_dev *dev)
{
	struct kbus_user *user;
	unsigned long mem;
	u32 users;

	spin_lock(&dev->acct_lock);
	mem = dev->mem;
	users = dev->n_users_charged;
	spin_unlock(&dev->acct_lock);
	seq_printf(m, "dev %2u: bytes %lu of %lu, users holding bytes %u, bindings %u of %u, set aside %u\n",
		   dev->index, mem, READ_ONCE(kbus_max_device_bytes), users,
		   dev->num_bindings, READ_ONCE(kbus_max_device_bindings),
		   dev->num_setaside);
	list_for_each_entry(user, &dev->users, dev_list) {
		unsigned long bytes;
		u32 actors;

		spin_lock(&dev->acct_lock);
		bytes = user->bytes;
		actors = user->n_usages;
		spin_unlock(&dev->acct_lock);
		seq_printf(m, "    uid %u: ksocks %u bindings %u bytes %lu (other users' part: %u)\n",
			   from_kuid_munged(&init_user_ns, user->uid),
			   user->ksocks, user->bindings, bytes, actors);
	}
}

static int kbus_users_show(struct seq_file *m, void *v)
{
	return kbus_proc_each(m, kbus_show_users);
}

static int kbus_policy_show_all(struct seq_file *m, void *v)
{
	return kbus_proc_each(m, kbus_policy_show);
}

int kbus_proc_init(void)
{
	kbus_proc_dir = proc_mkdir("kbus", NULL);
	if (!kbus_proc_dir)
		return -ENOMEM;
	if (!proc_create_single("bindings", 0444, kbus_proc_dir,
				kbus_bindings_show) ||
	    !proc_create_single("stats", 0444, kbus_proc_dir,
				kbus_stats_show) ||
	    !proc_create_single("users", 0400, kbus_proc_dir,
				kbus_users_show) ||
	    !proc_create_single("policy", 0400, kbus_proc_dir,
				kbus_policy_show_all)) {
		proc_remove(kbus_proc_dir);
		return -ENOMEM;
	}
	return 0;
}

void kbus_proc_exit(void)
{
	proc_remove(kbus_proc_dir);
}
