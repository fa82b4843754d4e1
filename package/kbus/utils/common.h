/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by kmsg and kspeed: number parsing, clocks, errno
 * names.
 */
#ifndef KBUS_UTILS_COMMON_H
#define KBUS_UTILS_COMMON_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parse an unsigned number (decimal, 0x hex or 0 octal) into *out.
 * Returns 0, or -1 if the text is not a number in [min, max]. */
static inline int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!text || !*text || *text == '-')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Parse a non-negative number of seconds (may have a fraction). */
static inline int parse_seconds(const char *text, double *out)
{
	double v;
	char *end;

	if (!text || !*text)
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || *end || !(v >= 0.0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

/* CLOCK_MONOTONIC in nanoseconds (the same clock in every process). */
static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds left until deadline_ns (>= 0), or -1 for "no deadline". */
static inline int ms_left(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns < 0)
		return -1;
	left = deadline_ns - now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* "EADDRNOTAVAIL" for an errno value (positive or negative). */
static inline const char *errno_name(int err)
{
	static const struct {
		int num;
		const char *name;
	} names[] = {
		{ EADDRINUSE, "EADDRINUSE" }, { EADDRNOTAVAIL, "EADDRNOTAVAIL" },
		{ EALREADY, "EALREADY" }, { EBADMSG, "EBADMSG" }, { EBUSY, "EBUSY" },
		{ ECONNREFUSED, "ECONNREFUSED" }, { EINVAL, "EINVAL" },
		{ EMSGSIZE, "EMSGSIZE" }, { ENAMETOOLONG, "ENAMETOOLONG" },
		{ ENOENT, "ENOENT" }, { ENOLCK, "ENOLCK" }, { ENOMSG, "ENOMSG" },
		{ EPIPE, "EPIPE" }, { EAGAIN, "EAGAIN" }, { EFAULT, "EFAULT" },
		{ ENOMEM, "ENOMEM" }, { ENOTTY, "ENOTTY" }, { EBADF, "EBADF" },
		{ EINTR, "EINTR" }, { EACCES, "EACCES" }, { EPERM, "EPERM" },
		{ EIO, "EIO" },
	};
	size_t i;

	if (err < 0)
		err = -err;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].num == err)
			return names[i].name;
	return "errno";
}

#endif /* KBUS_UTILS_COMMON_H */
