// SPDX-License-Identifier: GPL-2.0
/*
 * KBUS kernel message bus: message names and wildcard matching
 * (spec section 3).
 */
#include <linux/ctype.h>
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
enum kbus_match kbus_name_match_kind(const char *name, u32 len)
{
	if (!kbus_is_wildcard_end(name, len))
		return KBUS_MATCH_EXACT;
	return name[len - 1] == '*' ? KBUS_MATCH_STAR : KBUS_MATCH_PERCENT;
}

/* Does binding b match the (non-wildcard) message name? Spec 3.3. */
bool kbus_name_matches(const struct kbus_binding *b, const char *name, u32 len)
{
	u32 stem = b->name_len - 1;	/* everything up to the final '.' */

	if (b->match == KBUS_MATCH_EXACT)
		return len == b->name_len && !memcmp(name, b->name, len);
	if (len < b->name_len || memcmp(name, b->name, stem))
		return false;
	if (b->match == KBUS_MATCH_STAR)
		return true;
	return !memchr(name + stem, '.', len - stem);
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
