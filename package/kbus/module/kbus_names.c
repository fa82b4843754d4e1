// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: message names and wildcard matching
 * (spec section 3), and the name index.
 */
#include <linux/ctype.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/siphash.h>
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
 * The name index: a resizable hash table (rhashtable) of the name strings
 * bound on a device. A name string is hashed with SipHash-1-3 (the variant
 * the kernel's hsiphash() uses for hash tables on 64-bit) under a key
 * chosen at random when the module loads, so nobody can choose names that
 * collide. The hash is computed as a stream over the name's bytes, so that
 * kbus_cover_keys() gets the hash of every prefix plus "*" or "%" from one
 * pass over a message name: at each dot it finishes a copy of the state.
 */
static siphash_key_t kbus_name_key __read_mostly;

int kbus_names_init(void)
{
	get_random_bytes(&kbus_name_key, sizeof(kbus_name_key));
	return 0;
}

/* SipHash-1-3 over a stream of bytes. */
struct kbus_sip {
	u64 v0, v1, v2, v3;
	u64 word;	/* the bytes of the current 8-byte word, little-endian */
	u32 len;	/* bytes taken so far */
};

static __always_inline void kbus_sip_init(struct kbus_sip *s)
{
	s->v0 = SIPHASH_CONST_0 ^ kbus_name_key.key[0];
	s->v1 = SIPHASH_CONST_1 ^ kbus_name_key.key[1];
	s->v2 = SIPHASH_CONST_2 ^ kbus_name_key.key[0];
	s->v3 = SIPHASH_CONST_3 ^ kbus_name_key.key[1];
	s->word = 0;
	s->len = 0;
}

static __always_inline void kbus_sip_byte(struct kbus_sip *s, u8 c)
{
	s->word |= (u64)c << (8 * (s->len & 7));
	if ((++s->len & 7) == 0) {
		s->v3 ^= s->word;
		SIPHASH_PERMUTATION(s->v0, s->v1, s->v2, s->v3);
		s->v0 ^= s->word;
		s->word = 0;
	}
}

/* The hash of what s has taken, then last (if not 0); s is not changed. */
static __always_inline u32 kbus_sip_final(const struct kbus_sip *s, char last)
{
	struct kbus_sip t = *s;
	u64 b, h;

	if (last)
		kbus_sip_byte(&t, last);
	b = ((u64)t.len << 56) | t.word;
	t.v3 ^= b;
	SIPHASH_PERMUTATION(t.v0, t.v1, t.v2, t.v3);
	t.v0 ^= b;
	t.v2 ^= 0xff;
	SIPHASH_PERMUTATION(t.v0, t.v1, t.v2, t.v3);
	SIPHASH_PERMUTATION(t.v0, t.v1, t.v2, t.v3);
	SIPHASH_PERMUTATION(t.v0, t.v1, t.v2, t.v3);
	h = t.v0 ^ t.v1 ^ t.v2 ^ t.v3;
	return (u32)h ^ (u32)(h >> 32);
}

/* The index hash of a name string (any bytes: REPLIER queries are raw). */
u32 kbus_name_hash(const char *name, u32 len)
{
	struct kbus_sip s;
	u32 i;

	kbus_sip_init(&s);
	for (i = 0; i < len; i++)
		kbus_sip_byte(&s, name[i]);
	return kbus_sip_final(&s, 0);
}

static u32 kbus_key_hashfn(const void *data, u32 len, u32 seed)
{
	return ((const struct kbus_name_key *)data)->hash;
}

static u32 kbus_node_hashfn(const void *data, u32 len, u32 seed)
{
	return ((const struct kbus_name_node *)data)->hash_val;
}

static int kbus_node_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct kbus_name_key *key = arg->key;
	const struct kbus_name_node *node = obj;
	u32 len = key->plen + (key->last ? 1 : 0);

	if (node->len != len || memcmp(node->name, key->prefix, key->plen))
		return 1;
	return key->last && node->name[key->plen] != key->last;
}

static const struct rhashtable_params kbus_name_params = {
	.head_offset = offsetof(struct kbus_name_node, hnode),
	.hashfn = kbus_key_hashfn,
	.obj_hashfn = kbus_node_hashfn,
	.obj_cmpfn = kbus_node_cmp,
	.automatic_shrinking = true,
};

int kbus_index_init(struct kbus_dev *dev)
{
	int err;

	dev->matches = kcalloc(KBUS_MAX_MATCHES, sizeof(*dev->matches),
			       GFP_KERNEL);
	dev->keys = kcalloc(KBUS_MAX_MATCHES, sizeof(*dev->keys), GFP_KERNEL);
	err = -ENOMEM;
	if (dev->matches && dev->keys)
		err = rhashtable_init(&dev->names, &kbus_name_params);
	if (err) {
		kfree(dev->matches);
		kfree(dev->keys);
		dev->matches = NULL;
		dev->keys = NULL;
	}
	return err;
}

/* Every binding is gone by now, and so every node. */
void kbus_index_exit(struct kbus_dev *dev)
{
	rhashtable_destroy(&dev->names);
	kfree(dev->matches);
	kfree(dev->keys);
	dev->matches = NULL;
	dev->keys = NULL;
}

static struct kbus_name_node *kbus_node_lookup(struct kbus_dev *dev,
					       const char *prefix, u32 plen,
					       char last, u32 hash)
{
	struct kbus_name_key key = {
		.prefix = prefix,
		.plen = plen,
		.last = last,
		.hash = hash,
	};

	lockdep_assert_held(&dev->lock);
	return rhashtable_lookup_fast(&dev->names, &key, kbus_name_params);
}

struct kbus_name_node *kbus_node_find(struct kbus_dev *dev, const char *name,
				      u32 len)
{
	return kbus_node_lookup(dev, name, len, 0, kbus_name_hash(name, len));
}

/* Find the node for a (valid) binding name, or add an empty one. */
struct kbus_name_node *kbus_node_get(struct kbus_dev *dev, const char *name,
				     u32 len)
{
	u32 hash = kbus_name_hash(name, len);
	struct kbus_name_node *node;

	node = kbus_node_lookup(dev, name, len, 0, hash);
	if (node)
		return node;
	node = kmalloc(struct_size(node, name, len + 1), GFP_KERNEL_ACCOUNT);
	if (!node)
		return NULL;
	INIT_LIST_HEAD(&node->bindings);
	node->replier = NULL;
	node->match = kbus_name_match_kind(name, len);
	node->hash_val = hash;
	node->len = len;
	memcpy(node->name, name, len);
	node->name[len] = '\0';
	if (rhashtable_insert_fast(&dev->names, &node->hnode,
				   kbus_name_params)) {
		kfree(node);
		return NULL;
	}
	return node;
}

/* Drop a node nothing is bound to any more. */
void kbus_node_put(struct kbus_dev *dev, struct kbus_name_node *node)
{
	lockdep_assert_held(&dev->lock);
	if (!list_empty(&node->bindings))
		return;
	rhashtable_remove_fast(&dev->names, &node->hnode, kbus_name_params);
	kfree_rcu(node, rcu);
}

/*
 * Collect in dev->matches the nodes whose bindings match a (valid, not
 * wildcard) message name (spec 3.3): "prefix.*" for every prefix ending in
 * a dot (shallowest first), "prefix.%" for the last one, and the name
 * itself. Costs one pass over the name and one lookup per level, whatever
 * is bound elsewhere. The keys stay in dev->keys for the policy
 * (kbus_policy_prepare()).
 */
u32 kbus_match(struct kbus_dev *dev, const char *name, u32 len)
{
	u32 i, n = 0;

	lockdep_assert_held(&dev->lock);
	dev->nkeys = kbus_cover_keys(name, len, dev->keys);
	for (i = dev->nkeys; i-- > 0;) {
		struct kbus_name_node *node;

		node = rhashtable_lookup_fast(&dev->names, &dev->keys[i],
					      kbus_name_params);
		if (node)
			dev->matches[n++] = node;
	}
	return n;
}

/*
 * The keys of every pattern that matches a (valid) message name or, for a
 * (valid) wildcard pattern, every pattern that covers all the names it
 * matches, most specific first: the name itself, "prefix.%", then
 * "prefix.*" from the deepest prefix to "$.*". keys has room for
 * KBUS_MAX_MATCHES. Returns how many.
 */
u32 kbus_cover_keys(const char *name, u32 len, struct kbus_name_key *keys)
{
	bool wild = kbus_is_wildcard_end(name, len);
	u32 scan = wild ? len - 1 : len;	/* keeps the dot before a wildcard */
	u32 i, n = 0, front, last_dot = 0;
	struct kbus_sip s, at_last_dot;

	kbus_sip_init(&s);
	at_last_dot = s;
	for (i = 0; i < scan; i++) {
		kbus_sip_byte(&s, name[i]);
		if (name[i] != '.')
			continue;
		keys[n++] = (struct kbus_name_key){
			.prefix = name, .plen = i + 1, .last = '*',
			.hash = kbus_sip_final(&s, '*'),
		};
		last_dot = i;
		at_last_dot = s;
	}
	/* Deepest first. */
	for (i = 0; i < n / 2; i++)
		swap(keys[i], keys[n - 1 - i]);
	if (wild && name[len - 1] == '*')
		return n;
	front = wild ? 1 : 2;
	memmove(keys + front, keys, n * sizeof(*keys));
	if (!wild) {
		keys[0] = (struct kbus_name_key){
			.prefix = name, .plen = len, .hash = kbus_sip_final(&s, 0),
		};
	}
	keys[front - 1] = (struct kbus_name_key){
		.prefix = name, .plen = last_dot + 1, .last = '%',
		.hash = kbus_sip_final(&at_last_dot, '%'),
	};
	return n + front;
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

	lockdep_assert_held(&dev->lock);
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
