// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: message names and wildcard matching
 * (spec section 3).
 */
#include <linux/ctype.h>
#include <linux/hash.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kbus_internal.h"

static bool kbus_is_wildcard_end(const char *name, u32 len)
{
	return len >= 2 && name[len - 2] == '.' &&
	       (name[len - 1] == '*' || name[len - 1] == '%');
}

/*
 * Check a name against the grammar of spec 3.1: "$." then dot-separated
 * words of alphanumerics, optionally ending in ".*" or ".%". Returns 0,
 * -ENAMETOOLONG or -EBADMSG (also for a wildcard if !allow_wildcard).
 * "Alphanumeric" is the kernel's isalnum(), as in the original.
 */
int kbus_check_name(const char *name, u32 len, bool allow_wildcard)
{
	u32 i;

	if (len > KBUS_MAX_NAME_LEN)
		return -ENAMETOOLONG;
	if (len < 3 || name[0] != '$' || name[1] != '.')
		return -EBADMSG;
	if (kbus_is_wildcard_end(name, len)) {
		if (!allow_wildcard)
			return -EBADMSG;
		len -= 2;
	}
	if (name[len - 1] == '.')
		return -EBADMSG;
	for (i = 2; i < len; i++) {
		if (name[i] == '.') {
			if (name[i - 1] == '.')
				return -EBADMSG;
		} else if (!isalnum(name[i])) {
			return -EBADMSG;
		}
	}
	return 0;
}

/* How a (valid) binding name matches message names. */
static enum kbus_match kbus_name_match_kind(const char *name, u32 len)
{
	if (!kbus_is_wildcard_end(name, len))
		return KBUS_MATCH_EXACT;
	return name[len - 1] == '*' ? KBUS_MATCH_STAR : KBUS_MATCH_PERCENT;
}

/*
 * The name index: a hash table of the name strings bound on a device.
 * FNV-1a lets kbus_match() hash every prefix of a message name, and each
 * prefix plus "*" or "%", in one pass over the name.
 */
#define KBUS_FNV_BASIS	2166136261U
#define KBUS_FNV_PRIME	16777619U

static u32 kbus_hash_step(u32 hash, u8 c)
{
	return (hash ^ c) * KBUS_FNV_PRIME;
}

static u32 kbus_hash(const char *name, u32 len)
{
	u32 hash = KBUS_FNV_BASIS;
	u32 i;

	for (i = 0; i < len; i++)
		hash = kbus_hash_step(hash, name[i]);
	return hash;
}

static struct hlist_head *kbus_bucket(struct kbus_dev *dev, u32 hash)
{
	return &dev->names[hash_32(hash, KBUS_NAME_HASH_BITS)];
}

int kbus_index_init(struct kbus_dev *dev)
{
	dev->names = kcalloc(1U << KBUS_NAME_HASH_BITS, sizeof(*dev->names),
			     GFP_KERNEL);
	dev->matches = kcalloc(KBUS_MAX_MATCHES, sizeof(*dev->matches),
			       GFP_KERNEL);
	if (!dev->names || !dev->matches) {
		kbus_index_exit(dev);
		return -ENOMEM;
	}
	return 0;
}

void kbus_index_exit(struct kbus_dev *dev)
{
	kfree(dev->names);
	kfree(dev->matches);
	dev->names = NULL;
	dev->matches = NULL;
}

/* The node for prefix[0..plen) followed by the character "last" (if not 0). */
static struct kbus_name_node *kbus_node_lookup(struct kbus_dev *dev,
					       const char *prefix, u32 plen,
					       char last, u32 hash)
{
	u32 len = plen + (last ? 1 : 0);
	struct kbus_name_node *node;

	hlist_for_each_entry(node, kbus_bucket(dev, hash), hash) {
		if (node->hash_val == hash && node->len == len &&
		    !memcmp(node->name, prefix, plen) &&
		    (!last || node->name[plen] == last))
			return node;
	}
	return NULL;
}

struct kbus_name_node *kbus_node_find(struct kbus_dev *dev, const char *name,
				      u32 len)
{
	return kbus_node_lookup(dev, name, len, 0, kbus_hash(name, len));
}

/* Find the node for a (valid) binding name, or add an empty one. */
struct kbus_name_node *kbus_node_get(struct kbus_dev *dev, const char *name,
				     u32 len)
{
	u32 hash = kbus_hash(name, len);
	struct kbus_name_node *node;

	node = kbus_node_lookup(dev, name, len, 0, hash);
	if (node)
		return node;
	node = kmalloc(struct_size(node, name, len + 1), GFP_KERNEL);
	if (!node)
		return NULL;
	INIT_LIST_HEAD(&node->bindings);
	node->replier = NULL;
	node->match = kbus_name_match_kind(name, len);
	node->hash_val = hash;
	node->len = len;
	memcpy(node->name, name, len);
	node->name[len] = '\0';
	hlist_add_head(&node->hash, kbus_bucket(dev, hash));
	return node;
}

/* Drop a node nothing is bound to any more. */
void kbus_node_put(struct kbus_dev *dev, struct kbus_name_node *node)
{
	if (!list_empty(&node->bindings))
		return;
	hlist_del(&node->hash);
	kfree(node);
}

/*
 * Collect in dev->matches the nodes whose bindings match a (valid, not
 * wildcard) message name (spec 3.3): "prefix.*" for every prefix ending in
 * a dot, "prefix.%" for the last one, and the name itself. Costs one pass
 * over the name and one hash lookup per level, whatever is bound elsewhere.
 */
u32 kbus_match(struct kbus_dev *dev, const char *name, u32 len)
{
	struct kbus_name_node *node;
	u32 hash = KBUS_FNV_BASIS;
	u32 last_hash = 0, last_dot = 0;
	u32 i, n = 0;

	for (i = 0; i < len; i++) {
		hash = kbus_hash_step(hash, name[i]);
		if (name[i] != '.')
			continue;
		node = kbus_node_lookup(dev, name, i + 1, '*',
					kbus_hash_step(hash, '*'));
		if (node)
			dev->matches[n++] = node;
		last_dot = i;
		last_hash = hash;
	}
	if (last_dot) {
		node = kbus_node_lookup(dev, name, last_dot + 1, '%',
					kbus_hash_step(last_hash, '%'));
		if (node)
			dev->matches[n++] = node;
	}
	node = kbus_node_lookup(dev, name, len, 0, hash);
	if (node)
		dev->matches[n++] = node;
	return n;
}

/*
 * The replier among the matched nodes (spec 7.3): exact beats ".%" beats
 * ".*", and among ".*" wildcards the deeper one wins, whatever their age
 * (the original chose the newest: spec 18.13).
 */
struct kbus_binding *kbus_match_replier(struct kbus_dev *dev, u32 nmatch)
{
	struct kbus_name_node *best = NULL;
	u32 i;

	for (i = 0; i < nmatch; i++) {
		struct kbus_name_node *node = dev->matches[i];

		if (!node->replier)
			continue;
		if (!best || node->match > best->match ||
		    (node->match == best->match && node->len > best->len))
			best = node;
	}
	return best ? best->replier : NULL;
}

/* Copy a name of len bytes from user space into a NUL-terminated buffer. */
char *kbus_copy_name(const char __user *uname, u32 len)
{
	char *name;

	name = kmalloc(len + 1, GFP_KERNEL);
	if (!name)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(name, uname, len)) {
		kfree(name);
		return ERR_PTR(-EFAULT);
	}
	name[len] = '\0';
	return name;
}
