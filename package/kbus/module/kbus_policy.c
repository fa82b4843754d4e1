// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: who may say what (per-device access policy).
 *
 * A policy is a default effect (allow or deny) and rules, each
 *
 *	allow|deny  own|listen|send  PATTERN  [user UID | group GID]
 *
 * with PATTERN a KBUS name or wildcard ("$.STB.Decoder.*"). "own" is to
 * bind as the replier of a name, "listen" to receive a message as a
 * listener, "send" to send a request or an announcement (a reply is
 * authorised by its request). To decide, the patterns that match the name
 * are taken from the most specific (the name itself, then "prefix.%", then
 * "prefix.*" from the deepest prefix up); the first that has a rule for the
 * action that applies to the process decides, by its most specific such
 * rule (user, then group, then everyone; deny wins a tie). No rule: the
 * default. A binding's wildcard pattern is judged by the rules whose
 * patterns cover every name it matches.
 *
 * The policy is immutable once loaded (SETPOLICY builds a new one and swaps
 * it in under dev->lock), indexed by pattern with the keyed hash of the name
 * index, so a decision costs one lookup per level of the name, however many
 * rules there are. Without a policy everything is allowed, as in the
 * original, except that only KBUS itself may send, or answer as the
 * replier of, names under "$.KBUS." (kbus_compat_open lifts that too).
 */
#include <linux/cred.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "kbus_internal.h"

struct kbus_prule {
	u8 action;
	u8 allow;
	u8 subject;
	u32 id;				/* as loaded, for /proc */
	union {
		kuid_t uid;
		kgid_t gid;
	};
};

struct kbus_pnode {
	struct hlist_node hash;
	u32 hash_val;
	u32 nrules;
	struct kbus_prule *rules;
	u32 len;
	char name[];
};

struct kbus_pdb {
	bool default_allow;
	u32 nrules;
	u32 nnodes;
	u32 bucket_bits;
	struct hlist_head *buckets;
	struct kbus_pnode **nodes;	/* in load order, for /proc */
};

static struct hlist_head *kbus_pbucket(struct kbus_pdb *pol, u32 hash)
{
	return &pol->buckets[hash_32(hash, pol->bucket_bits)];
}

static struct kbus_pnode *kbus_pnode_lookup(struct kbus_pdb *pol,
					    const struct kbus_name_key *key)
{
	u32 len = key->plen + (key->last ? 1 : 0);
	struct kbus_pnode *node;

	hlist_for_each_entry(node, kbus_pbucket(pol, key->hash), hash) {
		if (node->hash_val == key->hash && node->len == len &&
		    !memcmp(node->name, key->prefix, key->plen) &&
		    (!key->last || node->name[key->plen] == key->last))
			return node;
	}
	return NULL;
}

void kbus_policy_free(struct kbus_pdb *pol)
{
	u32 i;

	if (!pol)
		return;
	for (i = 0; i < pol->nnodes; i++) {
		kfree(pol->nodes[i]->rules);
		kfree(pol->nodes[i]);
	}
	kvfree(pol->nodes);
	kvfree(pol->buckets);
	kfree(pol);
}

/* Is gid one of cred's groups (effective or supplementary)? */
static bool kbus_cred_in_group(const struct cred *cred, kgid_t gid)
{
	const struct group_info *gi = cred->group_info;
	unsigned int left = 0, right;

	if (gid_eq(cred->egid, gid))
		return true;
	if (!gi)
		return false;
	right = gi->ngroups;
	while (left < right) {	/* the list is sorted (groups_sort) */
		unsigned int mid = (left + right) / 2;

		if (gid_gt(gid, gi->gid[mid]))
			left = mid + 1;
		else if (gid_lt(gid, gi->gid[mid]))
			right = mid;
		else
			return true;
	}
	return false;
}

/* How specific a rule's subject is: a user, a group, everyone. */
static int kbus_prule_rank(const struct kbus_prule *r)
{
	switch (r->subject) {
	case KBUS_POLICY_USER:
		return 3;
	case KBUS_POLICY_GROUP:
		return 2;
	default:
		return 1;
	}
}

static bool kbus_prule_applies(const struct kbus_prule *r,
			       const struct cred *cred)
{
	switch (r->subject) {
	case KBUS_POLICY_USER:
		return uid_eq(cred->euid, r->uid);
	case KBUS_POLICY_GROUP:
		return kbus_cred_in_group(cred, r->gid);
	default:
		return true;
	}
}

/*
 * The decision of the first of the nodes (most specific first) with a rule
 * for action that applies to cred: 1 allow, 0 deny, -1 none.
 */
static int kbus_policy_decide(struct kbus_pnode **nodes, u32 nnodes,
			      u8 action, const struct cred *cred)
{
	u32 i, j;

	for (i = 0; i < nnodes; i++) {
		const struct kbus_prule *best = NULL;

		for (j = 0; j < nodes[i]->nrules; j++) {
			const struct kbus_prule *r = &nodes[i]->rules[j];

			if (r->action != action || !kbus_prule_applies(r, cred))
				continue;
			if (!best || kbus_prule_rank(r) > kbus_prule_rank(best) ||
			    (r->subject == best->subject && !r->allow))
				best = r;
		}
		if (best)
			return best->allow;
	}
	return -1;
}

/* The policy's nodes for the patterns matching (or covering) name. */
static u32 kbus_policy_nodes(struct kbus_dev *dev, const char *name, u32 len,
			     struct kbus_pnode **out)
{
	struct kbus_pdb *pol = dev->policy;
	u32 i, nkeys, n = 0;

	lockdep_assert_held(&dev->lock);
	nkeys = kbus_cover_keys(name, len, dev->policy_keys);
	for (i = 0; i < nkeys; i++) {
		struct kbus_pnode *node = kbus_pnode_lookup(pol,
							    &dev->policy_keys[i]);

		if (node)
			out[n++] = node;
	}
	return n;
}

bool kbus_reserved_name(const char *name, u32 len)
{
	static const char kbus_prefix[] = "$.KBUS.";

	return len >= sizeof(kbus_prefix) - 1 &&
	       !memcmp(name, kbus_prefix, sizeof(kbus_prefix) - 1) &&
	       !READ_ONCE(kbus_compat_open);
}

/*
 * May cred do action (OWN or SEND) with name (a message name, or for OWN a
 * binding pattern)? The caller counts a refusal (/proc/kbus/stats).
 */
bool kbus_policy_allows(struct kbus_dev *dev, u8 action, const char *name,
			u32 len, const struct cred *cred)
{
	int decision;
	u32 n;

	lockdep_assert_held(&dev->lock);
	if (kbus_reserved_name(name, len))
		return false;
	if (!dev->policy)
		return true;
	n = kbus_policy_nodes(dev, name, len, dev->policy_nodes);
	decision = kbus_policy_decide(dev->policy_nodes, n, action, cred);
	return decision < 0 ? dev->policy->default_allow : decision;
}

/*
 * For a message: the policy's nodes for the keys kbus_match() just left in
 * dev->keys (the same name), found once per send, then asked for the
 * sender and for each listener.
 */
u32 kbus_policy_prepare(struct kbus_dev *dev)
{
	struct kbus_pdb *pol = dev->policy;
	u32 i, n = 0;

	lockdep_assert_held(&dev->lock);
	if (!pol)
		return 0;
	for (i = 0; i < dev->nkeys; i++) {
		struct kbus_pnode *node = kbus_pnode_lookup(pol, &dev->keys[i]);

		if (node)
			dev->policy_nodes[n++] = node;
	}
	return n;
}

bool kbus_policy_allows_prepared(struct kbus_dev *dev, u32 nnodes, u8 action,
				 const struct cred *cred)
{
	int decision;

	lockdep_assert_held(&dev->lock);
	if (!dev->policy)
		return true;
	decision = kbus_policy_decide(dev->policy_nodes, nnodes, action, cred);
	return decision < 0 ? dev->policy->default_allow : decision;
}

/* ---- loading ---- */

static int kbus_policy_add_node(struct kbus_pdb *pol, const char *name,
				u32 len, struct kbus_pnode **nodep)
{
	struct kbus_name_key key = {
		.prefix = name,
		.plen = len,
		.hash = kbus_name_hash(name, len),
	};
	struct kbus_pnode *node = kbus_pnode_lookup(pol, &key);

	if (!node) {
		node = kzalloc(struct_size(node, name, len + 1),
			       GFP_KERNEL_ACCOUNT);
		if (!node)
			return -ENOMEM;
		node->hash_val = key.hash;
		node->len = len;
		memcpy(node->name, name, len);
		hlist_add_head(&node->hash, kbus_pbucket(pol, key.hash));
		pol->nodes[pol->nnodes++] = node;
	}
	*nodep = node;
	return 0;
}

/* The rule at blob + *off: checked; *off moves past it. */
static int kbus_policy_rule_at(const u8 *blob, u32 size, u32 *off,
			       struct kbus_policy_rule *rule,
			       const char **name)
{
	u32 next;
	int err;

	if (size - *off < sizeof(*rule))
		return -EINVAL;
	memcpy(rule, blob + *off, sizeof(*rule));
	if (rule->action < KBUS_POLICY_OWN || rule->action > KBUS_POLICY_SEND ||
	    rule->effect > KBUS_POLICY_ALLOW ||
	    rule->subject > KBUS_POLICY_GROUP || rule->reserved ||
	    rule->reserved2)
		return -EINVAL;
	if (!rule->name_len || rule->name_len > KBUS_MAX_NAME_LEN)
		return -ENAMETOOLONG;
	next = *off + sizeof(*rule) + ALIGN(rule->name_len, 4);
	if (next > size)
		return -EINVAL;
	*name = (const char *)blob + *off + sizeof(*rule);
	err = kbus_check_name(*name, rule->name_len, true);
	if (err)
		return err;
	*off = next;
	return 0;
}

static int kbus_policy_build(const struct kbus_policy *hdr, const u8 *blob,
			     struct kbus_pdb **out)
{
	struct kbus_pdb *pol;
	struct kbus_pnode *node;
	u32 i, off;
	int err;

	pol = kzalloc(sizeof(*pol), GFP_KERNEL_ACCOUNT);
	if (!pol)
		return -ENOMEM;
	pol->default_allow = hdr->default_effect == KBUS_POLICY_ALLOW;
	pol->nrules = hdr->num_rules;
	pol->bucket_bits = max(ilog2(roundup_pow_of_two(hdr->num_rules + 1)) + 1,
			       4);
	pol->buckets = kvcalloc(1U << pol->bucket_bits, sizeof(*pol->buckets),
				GFP_KERNEL_ACCOUNT);
	pol->nodes = kvcalloc(hdr->num_rules + 1, sizeof(*pol->nodes),
			      GFP_KERNEL_ACCOUNT);
	err = -ENOMEM;
	if (!pol->buckets || !pol->nodes)
		goto err;

	/* Pass 1: every rule well formed, its node made, rules counted. */
	for (i = 0, off = 0; i < hdr->num_rules; i++) {
		struct kbus_policy_rule rule;
		const char *name;

		err = kbus_policy_rule_at(blob, hdr->size, &off, &rule, &name);
		if (err)
			goto err;
		err = kbus_policy_add_node(pol, name, rule.name_len, &node);
		if (err)
			goto err;
		node->nrules++;
		cond_resched();
	}
	err = -EINVAL;
	if (off != hdr->size)
		goto err;
	for (i = 0; i < pol->nnodes; i++) {
		node = pol->nodes[i];
		node->rules = kcalloc(node->nrules, sizeof(*node->rules),
				      GFP_KERNEL_ACCOUNT);
		err = -ENOMEM;
		if (!node->rules)
			goto err;
		node->nrules = 0;
	}
	/* Pass 2: the rules into their nodes, ids into kernel ids. */
	for (i = 0, off = 0; i < hdr->num_rules; i++) {
		struct kbus_policy_rule rule;
		struct kbus_prule *r;
		const char *name;

		kbus_policy_rule_at(blob, hdr->size, &off, &rule, &name);
		kbus_policy_add_node(pol, name, rule.name_len, &node);
		r = &node->rules[node->nrules++];
		r->action = rule.action;
		r->allow = rule.effect == KBUS_POLICY_ALLOW;
		r->subject = rule.subject;
		r->id = rule.id;
		err = -EINVAL;
		if (rule.subject == KBUS_POLICY_USER) {
			r->uid = make_kuid(current_user_ns(), rule.id);
			if (!uid_valid(r->uid))
				goto err;
		} else if (rule.subject == KBUS_POLICY_GROUP) {
			r->gid = make_kgid(current_user_ns(), rule.id);
			if (!gid_valid(r->gid))
				goto err;
		}
		cond_resched();
	}
	*out = pol;
	return 0;

err:
	kbus_policy_free(pol);
	return err;
}

/* SETPOLICY (see kbus_defns.h). */
int kbus_policy_load(struct kbus_dev *dev, const struct kbus_policy __user *arg)
{
	struct kbus_policy hdr;
	struct kbus_pdb *pol = NULL, *old;
	u8 *blob = NULL;
	int err;

	if (copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.magic != KBUS_POLICY_MAGIC || hdr.version != KBUS_POLICY_VERSION ||
	    hdr.default_effect > KBUS_POLICY_ALLOW || hdr.reserved)
		return -EINVAL;
	if (hdr.num_rules > KBUS_POLICY_MAX_RULES ||
	    (u64)hdr.size > (u64)hdr.num_rules *
			    (sizeof(struct kbus_policy_rule) +
			     ALIGN(KBUS_MAX_NAME_LEN, 4)))
		return -E2BIG;
	if (hdr.num_rules || hdr.default_effect != KBUS_POLICY_ALLOW) {
		blob = vmemdup_user(u64_to_user_ptr(hdr.rules), hdr.size);
		if (IS_ERR(blob))
			return PTR_ERR(blob);
		err = kbus_policy_build(&hdr, blob, &pol);
		kvfree(blob);
		if (err)
			return err;
	}

	if (mutex_lock_interruptible(&dev->lock)) {
		kbus_policy_free(pol);
		return -ERESTARTSYS;
	}
	old = dev->policy;
	dev->policy = pol;
	mutex_unlock(&dev->lock);
	kbus_policy_free(old);
	/* who changed what a device allows: an audit trail in the kernel log */
	pr_info_ratelimited("kbus%u: policy %s by uid %u pid %d: %u rules, default %s\n",
			    dev->index, pol ? "loaded" : "cleared",
			    from_kuid(&init_user_ns, current_euid()),
			    task_tgid_nr(current), hdr.num_rules,
			    hdr.default_effect == KBUS_POLICY_ALLOW ? "allow" : "deny");
	return 0;
}

int kbus_policy_init(struct kbus_dev *dev)
{
	dev->policy_keys = kcalloc(KBUS_MAX_MATCHES, sizeof(*dev->policy_keys),
				   GFP_KERNEL);
	dev->policy_nodes = kcalloc(KBUS_MAX_MATCHES,
				    sizeof(*dev->policy_nodes), GFP_KERNEL);
	if (!dev->policy_keys || !dev->policy_nodes) {
		kbus_policy_exit(dev);
		return -ENOMEM;
	}
	return 0;
}

void kbus_policy_exit(struct kbus_dev *dev)
{
	kbus_policy_free(dev->policy);
	dev->policy = NULL;
	kfree(dev->policy_keys);
	kfree(dev->policy_nodes);
	dev->policy_keys = NULL;
	dev->policy_nodes = NULL;
}

/* ---- /proc/kbus/policy ---- */

static const char *const kbus_action_names[] = {
	[KBUS_POLICY_OWN] = "own",
	[KBUS_POLICY_LISTEN] = "listen",
	[KBUS_POLICY_SEND] = "send",
};

void kbus_policy_show(struct seq_file *m, struct kbus_dev *dev)
{
	struct kbus_pdb *pol = dev->policy;
	u32 i, j;

	lockdep_assert_held(&dev->lock);
	seq_printf(m, "dev %2u: %s, %u rules, default %s, denied binds %llu sends %llu, filtered %llu\n",
		   dev->index, pol ? "policy" : "no policy",
		   pol ? pol->nrules : 0,
		   !pol || pol->default_allow ? "allow" : "deny",
		   dev->denied_binds, dev->denied_sends, dev->filtered);
	if (!pol)
		return;
	for (i = 0; i < pol->nnodes; i++) {
		struct kbus_pnode *node = pol->nodes[i];

		for (j = 0; j < node->nrules; j++) {
			const struct kbus_prule *r = &node->rules[j];

			seq_printf(m, "    %s %s %.*s", r->allow ? "allow" : "deny",
				   kbus_action_names[r->action], (int)node->len,
				   node->name);
			if (r->subject == KBUS_POLICY_USER)
				seq_printf(m, " user %u", r->id);
			else if (r->subject == KBUS_POLICY_GROUP)
				seq_printf(m, " group %u", r->id);
			seq_putc(m, '\n');
		}
		cond_resched();
	}
}
