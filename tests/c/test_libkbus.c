// SPDX-License-Identifier: MIT
/*
 * libkbus C tests: every function of the library, against the real kbus.ko
 * (/dev/kbus0) where the function talks to the kernel. Run with no argument
 * for all tests, or with substrings of test names; `--list` lists them.
 * The last line is `N passed, N failed`.
 */
#define _GNU_SOURCE	/* pipe2 */
#include <fcntl.h>
#include <unistd.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "kt.h"

/*
 * write(2) as libkbus sees it: the tests can make the next writes fail with
 * EAGAIN, as KBUS's write does when waiting for the device lock is
 * interrupted (the executable's definition takes precedence over libc's for
 * the library too, shared or static).
 */
static int kt_eagain_fd = -1;	/* the file descriptor whose writes fail */
static int kt_write_eagain;	/* how many of them */
static int kt_writes_failed;

ssize_t write(int fd, const void *buf, size_t count)
{
	if (fd == kt_eagain_fd && kt_write_eagain > 0) {
		kt_write_eagain--;
		kt_writes_failed++;
		errno = EAGAIN;
		return -1;
	}
	return syscall(SYS_write, fd, buf, count);
}

#define LP64 (sizeof(void *) == 8)
#define HDR ((int)sizeof(kbus_message_t))

/* ---------------------------------------------------------------------------
 * Helpers
 */

static int64_t t_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An entire message with the given fields (for print tests). */
static kbus_message_t *mk(const char *name, const void *data, uint32_t data_len, uint32_t flags)
{
	kbus_message_t *m = NULL;

	if (kbus_msg_create_entire(&m, name, (uint32_t)strlen(name), data, data_len, flags) < 0)
		return NULL;
	return m;
}

static kbus_message_t *mk_bind_event(uint32_t is_bind, uint32_t binder, const char *name)
{
	unsigned char data[12 + 64];
	uint32_t words[3];
	size_t n = strlen(name);
	size_t len = 12 + KBUS_PADDED_NAME_LEN(n);

	memset(data, 0, sizeof(data));
	words[0] = is_bind;
	words[1] = binder;
	words[2] = (uint32_t)n;
	memcpy(data, words, sizeof(words));
	memcpy(data + 12, name, n);
	return mk(KBUS_MSG_NAME_REPLIER_BIND_EVENT, data, (uint32_t)len, KBUS_BIT_SYNTHETIC);
}

/* Send an announcement with string data from k. */
static int send_str(kbus_ksock_t k, const char *name, const char *data, uint32_t flags,
		    kbus_msg_id_t *id)
{
	kbus_message_t *m = NULL;
	int rv = kbus_msg_create(&m, name, (uint32_t)strlen(name), data,
				 data ? (uint32_t)strlen(data) : 0, flags);

	if (rv < 0)
		return rv;
	rv = kbus_ksock_send_msg(k, m, id);
	kbus_msg_delete(&m);
	return rv;
}

static int name_is(const kbus_message_t *m, const char *name)
{
	return m->name_len == strlen(name) && memcmp(kbus_msg_name_ptr(m), name, m->name_len) == 0;
}

static int data_is(const kbus_message_t *m, const void *data, uint32_t len)
{
	return m->data_len == len && (len == 0 || memcmp(kbus_msg_data_ptr(m), data, len) == 0);
}

/* ---------------------------------------------------------------------------
 * ABI and header helpers (no device)
 */

static void abi_sizes(void)
{
	KT_EQ(sizeof(kbus_message_t), LP64 ? 88 : 72);
	KT_EQ(offsetof(kbus_message_t, name), LP64 ? 64 : 60);
	KT_EQ(offsetof(kbus_message_t, data), LP64 ? 72 : 64);
	KT_EQ(offsetof(kbus_message_t, end_guard), LP64 ? 80 : 68);
	KT_EQ(sizeof(kbus_entire_message_t), sizeof(kbus_message_t));
	KT_EQ(sizeof(kbus_bind_request_t), LP64 ? 16 : 12);
	KT_EQ(sizeof(kbus_bind_query_t), LP64 ? 16 : 12);
	KT_EQ(sizeof(kbus_msg_id_t), 8);
	KT_EQ(sizeof(kbus_orig_from_t), 8);
	KT_EQ(sizeof(kbus_replier_bind_event_data_t), 12);
	KT_EQ(KBUS_ENTIRE_MSG_LEN(6, 0), LP64 ? 100 : 84);
	KT_EQ(KBUS_ENTIRE_MSG_LEN(6, 7), LP64 ? 108 : 92);
	KT_EQ(KBUS_KSOCK_READABLE, 1);
	KT_EQ(KBUS_KSOCK_WRITABLE, 2);
	KT_EQ(KBUS_MSG_PRINT_FLAGS_ABBREVIATE, 1);
	/* the flag values are ABI */
	KT_EQ(KBUS_BIT_WANT_A_REPLY, 0x1);
	KT_EQ(KBUS_BIT_WANT_YOU_TO_REPLY, 0x2);
	KT_EQ(KBUS_BIT_SYNTHETIC, 0x4);
	KT_EQ(KBUS_BIT_URGENT, 0x8);
	KT_EQ(KBUS_BIT_ALL_OR_WAIT, 0x100);
	KT_EQ(KBUS_BIT_ALL_OR_FAIL, 0x200);
}

/* kbus.h and the ABI header leave the user's macro namespace alone. */
static void abi_header_namespace(void)
{
#ifdef BIT
	KT_CHECK(!"linux/kbus_defns.h defines BIT()");
#endif
#ifdef __user
	KT_CHECK(!"linux/kbus_defns.h defines __user");
#endif
}

/* Lengths are computed in 64 bits: nothing wraps on 32-bit (size_t) systems. */
static void abi_lengths_64bit(void)
{
	kbus_message_t hdr;
	kbus_message_t *m = (kbus_message_t *)&m;
	static const char data[16];

	KT_CHECK(KBUS_PADDED_NAME_LEN(0xFFFFFFFFu) == 0x100000000ull);
	KT_CHECK(KBUS_PADDED_DATA_LEN(0xFFFFFFFFu) == 0x100000000ull);
	KT_CHECK(KBUS_ENTIRE_MSG_LEN(0xFFFFFFFFu, 0xFFFFFFFFu) ==
		 sizeof(kbus_entire_message_t) + 0x200000000ull + 4);
	KT_CHECK(KBUS_ENTIRE_MSG_DATA_INDEX(0xFFFFFFFFu) == 0x40000000ull);
	KT_CHECK(KBUS_ENTIRE_MSG_END_GUARD_INDEX(0xFFFFFFFFu, 0xFFFFFFFFu) == 0x80000000ull);
	/* the same values for small lengths as ever */
	KT_EQ(KBUS_PADDED_NAME_LEN(3), 4);
	KT_EQ(KBUS_PADDED_NAME_LEN(4), 8);
	KT_EQ(KBUS_PADDED_DATA_LEN(0), 0);
	KT_EQ(KBUS_PADDED_DATA_LEN(5), 8);
	KT_EQ(KBUS_ENTIRE_MSG_DATA_INDEX(6), 2);
	KT_EQ(KBUS_ENTIRE_MSG_END_GUARD_INDEX(6, 7), 4);
	/* an entire message that no size_t/int can hold is refused, not
	 * allocated short and overrun */
	KT_ERR(kbus_msg_create_entire(&m, "$.A", 3, data, 0xFFFFFFF0u, 0), -EMSGSIZE);
	KT_CHECK(m == NULL);
	KT_ERR(kbus_msg_create_entire(&m, "$.A", 0xFFFFFFF0u, data, 4, 0), -EMSGSIZE);
	memset(&hdr, 0, sizeof(hdr));
	hdr.start_guard = KBUS_MSG_START_GUARD;
	hdr.end_guard = KBUS_MSG_END_GUARD;
	hdr.name_len = 0xFFFFFFFFu;	/* entire (name NULL), claiming 8 GiB */
	hdr.data_len = 0xFFFFFFFFu;
	KT_ERR(kbus_msg_sizeof(&hdr), -EMSGSIZE);
	hdr.name_len = 0x7FFFFFF0u;	/* 2 GiB: over INT32_MAX, under UINT32_MAX */
	hdr.data_len = 0x10;
	KT_ERR(kbus_msg_sizeof(&hdr), -EMSGSIZE);
}

static void inline_helpers(void)
{
	kbus_message_t *m = mk("$.CTest.Helpers", NULL, 0, 0);
	kbus_msg_id_t a = { 0, 5 }, b = { 0, 6 }, c = { 1, 0 };

	KT_CHECK(m);
	KT_CHECK(kbus_msg_is_entire(m));
	KT_CHECK(!kbus_msg_is_reply(m));
	KT_CHECK(!kbus_msg_is_request(m));
	KT_CHECK(!kbus_msg_is_stateful_request(m));
	KT_CHECK(!kbus_msg_wants_us_to_reply(m));
	KT_CHECK(!kbus_msg_is_status(m));
	m->flags = KBUS_BIT_WANT_A_REPLY;
	KT_CHECK(kbus_msg_is_request(m));
	KT_CHECK(!kbus_msg_is_stateful_request(m));
	KT_CHECK(!kbus_msg_wants_us_to_reply(m));
	m->to = 3;
	KT_CHECK(kbus_msg_is_stateful_request(m));
	m->flags |= KBUS_BIT_WANT_YOU_TO_REPLY;
	KT_CHECK(kbus_msg_wants_us_to_reply(m));
	m->flags = 0;
	m->in_reply_to.serial_num = 9;
	KT_CHECK(kbus_msg_is_reply(m));
	KT_CHECK(!kbus_msg_is_status(m));
	kbus_msg_delete(&m);

	m = mk("$.KBUS.Replier.GoneAway", NULL, 0, KBUS_BIT_SYNTHETIC);
	KT_CHECK(m);
	KT_CHECK(!kbus_msg_is_status(m));	/* not a reply */
	m->in_reply_to.network_id = 1;
	KT_CHECK(kbus_msg_is_reply(m));
	KT_CHECK(kbus_msg_is_status(m));
	/* the same reply without SYNTHETIC: a client made it, not KBUS */
	m->flags &= ~(uint32_t)KBUS_BIT_SYNTHETIC;
	KT_CHECK(kbus_msg_is_reply(m));
	KT_CHECK(!kbus_msg_is_status(m));
	kbus_msg_delete(&m);

	KT_EQ(kbus_msg_compare_ids(&a, &a), 0);
	KT_EQ(kbus_msg_compare_ids(&a, &b), -1);
	KT_EQ(kbus_msg_compare_ids(&b, &a), 1);
	KT_EQ(kbus_msg_compare_ids(&b, &c), -1);
	KT_EQ(kbus_msg_compare_ids(&c, &a), 1);
}

/* ---------------------------------------------------------------------------
 * Message creation, copying, sizing and freeing (no device)
 */

static void msg_create_pointy(void)
{
	static const char name[] = "$.CTest.Pointy";
	static const char data[] = "abc1234";
	kbus_message_t *m = NULL;

	KT_OK(kbus_msg_create(&m, name, 14, data, 7, 0x10000));
	KT_CHECK(m);
	KT_EQ(m->start_guard, KBUS_MSG_START_GUARD);
	KT_EQ(m->end_guard, KBUS_MSG_END_GUARD);
	KT_CHECK(m->name == name);		/* not copied */
	KT_CHECK(m->data == (const void *)data);
	KT_EQ(m->name_len, 14);
	KT_EQ(m->data_len, 7);
	KT_EQ(m->flags, 0x10000);
	KT_EQ(m->id.serial_num, 0);
	KT_EQ(m->to, 0);
	KT_EQ(m->from, 0);
	KT_EQ(m->extra, 0);
	KT_CHECK(!kbus_msg_is_entire(m));
	KT_CHECK(kbus_msg_name_ptr(m) == name);
	KT_CHECK(kbus_msg_data_ptr(m) == (const void *)data);
	KT_EQ(kbus_msg_sizeof(m), HDR);
	kbus_msg_delete(&m);
	KT_CHECK(m == NULL);

	/* no data: the data pointer must be NULL, whatever was passed */
	KT_OK(kbus_msg_create(&m, name, 14, data, 0, 0));
	KT_CHECK(m->data == NULL);
	KT_EQ(m->data_len, 0);
	kbus_msg_delete(&m);
}

static void msg_create_entire(void)
{
	static const char data[] = "abc1234";
	kbus_message_t *m = NULL;
	kbus_entire_message_t *e;
	const unsigned char *bytes;
	int i;

	KT_OK(kbus_msg_create_entire(&m, "$.Fred", 6, data, 7, KBUS_BIT_URGENT));
	KT_CHECK(m);
	KT_CHECK(kbus_msg_is_entire(m));
	KT_CHECK(m->name == NULL && m->data == NULL);
	KT_EQ(m->start_guard, KBUS_MSG_START_GUARD);
	KT_EQ(m->end_guard, KBUS_MSG_END_GUARD);
	KT_EQ(m->flags, KBUS_BIT_URGENT);
	KT_EQ(kbus_msg_sizeof(m), LP64 ? 108 : 92);
	bytes = (const unsigned char *)m;
	/* name 6 bytes, NUL, pad to 8; data 7 bytes, pad to 8; end guard */
	KT_CHECK(memcmp(bytes + HDR, "$.Fred\0\0", 8) == 0);
	KT_CHECK(memcmp(bytes + HDR + 8, "abc1234\0", 8) == 0);
	KT_CHECK(kbus_msg_name_ptr(m) == (const char *)bytes + HDR);
	KT_CHECK(kbus_msg_data_ptr(m) == (const void *)(bytes + HDR + 8));
	e = (kbus_entire_message_t *)m;
	KT_EQ(*kbus_msg_end_ptr(e), KBUS_MSG_END_GUARD);
	KT_CHECK((const unsigned char *)kbus_msg_end_ptr(e) == bytes + HDR + 16);
	kbus_msg_delete(&m);

	/* no data: name, NUL, padding, then the end guard */
	KT_OK(kbus_msg_create_entire(&m, "$.Fred", 6, NULL, 0, 0));
	KT_EQ(kbus_msg_sizeof(m), LP64 ? 100 : 84);
	bytes = (const unsigned char *)m;
	for (i = 6; i < 8; i++)
		KT_EQ(bytes[HDR + i], 0);
	KT_EQ(*kbus_msg_end_ptr((kbus_entire_message_t *)m), KBUS_MSG_END_GUARD);
	kbus_msg_delete(&m);
}

static void msg_create_bad_args(void)
{
	kbus_message_t *m = (kbus_message_t *)&m;	/* must be reset to NULL */

	KT_ERR(kbus_msg_create(NULL, "$.A", 3, NULL, 0, 0), -EINVAL);
	KT_ERR(kbus_msg_create(&m, NULL, 3, NULL, 0, 0), -EINVAL);
	KT_CHECK(m == NULL);
	m = (kbus_message_t *)&m;
	KT_ERR(kbus_msg_create_entire(&m, "$.A", 0, NULL, 0, 0), -EINVAL);
	KT_CHECK(m == NULL);
	KT_ERR(kbus_msg_create_entire(&m, "$.A", 3, NULL, 4, 0), -EINVAL);
	KT_ERR(kbus_msg_create_request(&m, "$.A", 3, NULL, 4, 0), -EINVAL);
	KT_ERR(kbus_msg_create_entire_request(NULL, "$.A", 3, NULL, 0, 0), -EINVAL);
	KT_ERR(kbus_msg_create_reply_to(&m, NULL, NULL, 0, 0), -EINVAL);
	KT_ERR(kbus_msg_create_stateful_request(&m, NULL, "$.A", 3, NULL, 0, 0), -EINVAL);
	KT_ERR(kbus_msg_copy_entire(&m, NULL), -EINVAL);
	KT_ERR(kbus_msg_copy_entire(NULL, NULL), -EINVAL);
	KT_ERR(kbus_msg_sizeof(NULL), -EINVAL);
	KT_CHECK(m == NULL);
}

static void msg_create_requests(void)
{
	kbus_message_t *m = NULL;

	KT_OK(kbus_msg_create_request(&m, "$.CTest.Req", 11, "hi", 2, KBUS_BIT_URGENT));
	KT_EQ(m->flags, KBUS_BIT_WANT_A_REPLY | KBUS_BIT_URGENT);
	KT_CHECK(!kbus_msg_is_entire(m));
	KT_CHECK(kbus_msg_is_request(m));
	KT_CHECK(data_is(m, "hi", 2));
	kbus_msg_delete(&m);
	KT_OK(kbus_msg_create_entire_request(&m, "$.CTest.Req", 11, "hi", 2, 0));
	KT_EQ(m->flags, KBUS_BIT_WANT_A_REPLY);
	KT_CHECK(kbus_msg_is_entire(m));
	KT_CHECK(name_is(m, "$.CTest.Req"));
	KT_CHECK(data_is(m, "hi", 2));
	kbus_msg_delete(&m);
}

static void msg_create_replies(void)
{
	kbus_message_t *req = mk("$.CTest.Q", "question", 8,
				 KBUS_BIT_WANT_A_REPLY | KBUS_BIT_WANT_YOU_TO_REPLY);
	kbus_message_t *m = NULL;

	KT_CHECK(req);
	req->id.serial_num = 7;
	req->from = 4;
	KT_OK(kbus_msg_create_reply_to(&m, req, "answer", 6, KBUS_BIT_URGENT));
	KT_CHECK(!kbus_msg_is_entire(m));
	KT_CHECK(m->name == kbus_msg_name_ptr(req));	/* points into the request */
	KT_EQ(m->name_len, 9);
	KT_EQ(m->to, 4);
	KT_EQ(m->in_reply_to.network_id, 0);
	KT_EQ(m->in_reply_to.serial_num, 7);
	KT_EQ(m->flags, KBUS_BIT_URGENT);
	KT_CHECK(kbus_msg_is_reply(m));
	KT_CHECK(data_is(m, "answer", 6));
	kbus_msg_delete(&m);

	KT_OK(kbus_msg_create_entire_reply_to(&m, req, NULL, 0, 0));
	KT_CHECK(kbus_msg_is_entire(m));
	KT_CHECK(name_is(m, "$.CTest.Q"));
	KT_EQ(m->data_len, 0);
	KT_EQ(m->to, 4);
	KT_EQ(m->in_reply_to.serial_num, 7);
	KT_EQ(m->flags, 0);
	kbus_msg_delete(&m);

	/* only a request that we are to answer can be replied to */
	req->flags = KBUS_BIT_WANT_A_REPLY;
	m = (kbus_message_t *)&m;
	KT_ERR(kbus_msg_create_reply_to(&m, req, NULL, 0, 0), -EBADMSG);
	KT_CHECK(m == NULL);
	req->flags = KBUS_BIT_WANT_YOU_TO_REPLY;
	KT_ERR(kbus_msg_create_entire_reply_to(&m, req, NULL, 0, 0), -EBADMSG);
	kbus_msg_delete(&req);
}

static void msg_create_stateful(void)
{
	kbus_message_t *reply = mk("$.CTest.Q", NULL, 0, 0);
	kbus_message_t *m = NULL, *m2 = NULL;

	KT_CHECK(reply);
	reply->in_reply_to.serial_num = 3;
	reply->from = 5;
	reply->orig_from.network_id = 2;
	reply->orig_from.local_id = 9;
	/* from a reply: to its sender, WANT_A_REPLY set (fixed quirk) */
	KT_OK(kbus_msg_create_stateful_request(&m, reply, "$.CTest.Next", 12, "x", 1,
					       KBUS_BIT_URGENT));
	KT_CHECK(!kbus_msg_is_entire(m));
	KT_EQ(m->to, 5);
	KT_EQ(m->final_to.network_id, 2);
	KT_EQ(m->final_to.local_id, 9);
	KT_EQ(m->flags, KBUS_BIT_WANT_A_REPLY | KBUS_BIT_URGENT);
	KT_CHECK(kbus_msg_is_stateful_request(m));
	KT_CHECK(name_is(m, "$.CTest.Next"));
	/* from a stateful request: its to and final_to */
	m->final_to.local_id = 11;
	KT_OK(kbus_msg_create_entire_stateful_request(&m2, m, "$.CTest.Again", 13, NULL, 0, 0));
	KT_CHECK(kbus_msg_is_entire(m2));
	KT_EQ(m2->to, 5);
	KT_EQ(m2->final_to.network_id, 2);
	KT_EQ(m2->final_to.local_id, 11);
	KT_EQ(m2->flags, KBUS_BIT_WANT_A_REPLY);
	KT_CHECK(name_is(m2, "$.CTest.Again"));
	kbus_msg_delete(&m2);
	kbus_msg_delete(&m);
	/* from an announcement or a plain request: no */
	reply->in_reply_to.serial_num = 0;
	KT_ERR(kbus_msg_create_stateful_request(&m, reply, "$.CTest.X", 9, NULL, 0, 0),
	       -EBADMSG);
	reply->flags = KBUS_BIT_WANT_A_REPLY;
	KT_ERR(kbus_msg_create_entire_stateful_request(&m, reply, "$.CTest.X", 9, NULL, 0, 0),
	       -EBADMSG);
	KT_CHECK(m == NULL);
	kbus_msg_delete(&reply);
}

static void msg_copy_entire(void)
{
	static char name[] = "$.CTest.Copy";
	kbus_message_t *p = NULL, *c = NULL, *c2 = NULL;

	KT_OK(kbus_msg_create(&p, name, 12, "\x01\x02\x03", 3, 0x8));
	p->id.network_id = 1;
	p->id.serial_num = 2;
	p->in_reply_to.serial_num = 3;
	p->to = 4;
	p->from = 5;
	p->orig_from.network_id = 6;
	p->orig_from.local_id = 7;
	p->final_to.network_id = 8;
	p->final_to.local_id = 9;
	KT_OK(kbus_msg_copy_entire(&c, p));
	name[2] = 'X';				/* the copy is independent */
	KT_CHECK(kbus_msg_is_entire(c));
	KT_CHECK(name_is(c, "$.CTest.Copy"));
	KT_CHECK(data_is(c, "\x01\x02\x03", 3));
	KT_EQ(c->id.network_id, 1);
	KT_EQ(c->id.serial_num, 2);
	KT_EQ(c->in_reply_to.serial_num, 3);
	KT_EQ(c->to, 4);
	KT_EQ(c->from, 5);
	KT_EQ(c->orig_from.local_id, 7);
	KT_EQ(c->final_to.local_id, 9);
	KT_EQ(c->flags, 0x8);
	KT_EQ(kbus_msg_sizeof(c), (int)KBUS_ENTIRE_MSG_LEN(12, 3));
	KT_OK(kbus_msg_copy_entire(&c2, c));	/* entire to entire: identical */
	KT_CHECK(memcmp(c, c2, (size_t)kbus_msg_sizeof(c)) == 0);
	name[2] = 'C';
	kbus_msg_delete(&c2);
	kbus_msg_delete(&c);
	kbus_msg_delete(&p);
}

static void msg_delete(void)
{
	kbus_message_t *m = NULL;
	char *name = strdup("$.CTest.Delete");
	char *data = strdup("owned");

	kbus_msg_delete(NULL);
	kbus_msg_delete(&m);
	kbus_msg_delete_all(NULL);
	kbus_msg_delete_all(&m);
	KT_CHECK(name && data);
	/* pointy with malloc()ed name and data: delete_all frees all three */
	KT_OK(kbus_msg_create(&m, name, 14, data, 5, 0));
	kbus_msg_delete_all(&m);
	KT_CHECK(m == NULL);
	/* entire: delete_all frees just the block */
	KT_OK(kbus_msg_create_entire(&m, "$.CTest.Delete", 14, "x", 1, 0));
	kbus_msg_delete_all(&m);
	KT_CHECK(m == NULL);
	KT_OK(kbus_msg_create_entire(&m, "$.CTest.Delete", 14, "x", 1, 0));
	kbus_msg_delete(&m);
	KT_CHECK(m == NULL);
}

static void msg_sizeof(void)
{
	kbus_message_t *m = NULL;

	/* name 3 (padded 4) and data 4 (padded 4): the original's swapped
	 * arguments gave padded-name(4) = 8 + padded-data(3) = 4 instead */
	KT_OK(kbus_msg_create_entire(&m, "$.A", 3, "1234", 4, 0));
	KT_EQ(kbus_msg_sizeof(m), HDR + 4 + 4 + 4);
	KT_EQ(kbus_msg_sizeof(m), (int)KBUS_ENTIRE_MSG_LEN(3, 4));
	kbus_msg_delete(&m);
	KT_OK(kbus_msg_create_entire(&m, "$.ABCD", 6, "1", 1, 0));
	KT_EQ(kbus_msg_sizeof(m), HDR + 8 + 4 + 4);
	kbus_msg_delete(&m);
	KT_OK(kbus_msg_create(&m, "$.A", 3, "1234", 4, 0));
	KT_EQ(kbus_msg_sizeof(m), HDR);
	kbus_msg_delete(&m);
}

static void msg_split_bind_event(void)
{
	kbus_message_t *m = mk_bind_event(1, 3, "$.Fred");
	uint32_t is_bind = 9, binder = 9;
	char *name = NULL;

	KT_CHECK(m);
	KT_EQ(m->data_len, 20);
	KT_OK(kbus_msg_split_bind_event(m, &is_bind, &binder, &name));
	KT_EQ(is_bind, 1);
	KT_EQ(binder, 3);
	KT_STREQ(name, "$.Fred");
	free(name);
	kbus_msg_delete(&m);
	m = mk_bind_event(0, 12, "$.Sensors.*");
	KT_OK(kbus_msg_split_bind_event(m, &is_bind, NULL, NULL));
	KT_EQ(is_bind, 0);
	KT_CHECK(kbus_msg_is_replier_bind_event(m));
	/* without SYNTHETIC a client forged it: refused, nothing decoded */
	m->flags = 0;
	KT_CHECK(!kbus_msg_is_replier_bind_event(m));
	is_bind = 9;
	name = (char *)"junk";
	KT_ERR(kbus_msg_split_bind_event(m, &is_bind, NULL, &name), -EPERM);
	KT_EQ(is_bind, 9);
	KT_CHECK(name == NULL);
	kbus_msg_delete(&m);
	/* another name with the same data: not a bind event */
	{
		kbus_message_t *ev = mk_bind_event(1, 3, "$.Fred");

		m = mk("$.KBUS.ReplierBindEvenT", kbus_msg_data_ptr(ev), ev->data_len,
		       KBUS_BIT_SYNTHETIC);
		kbus_msg_delete(&ev);
		KT_ERR(kbus_msg_split_bind_event(m, &is_bind, NULL, NULL), -EBADMSG);
		kbus_msg_delete(&m);
	}
	/* no data, or a name longer than the data */
	m = mk(KBUS_MSG_NAME_REPLIER_BIND_EVENT, NULL, 0, KBUS_BIT_SYNTHETIC);
	name = (char *)"junk";
	KT_ERR(kbus_msg_split_bind_event(m, &is_bind, &binder, &name), -EBADMSG);
	KT_CHECK(name == NULL);
	kbus_msg_delete(&m);
	{
		uint32_t words[4] = { 1, 2, 100, 0 };

		m = mk(KBUS_MSG_NAME_REPLIER_BIND_EVENT, words, 16, KBUS_BIT_SYNTHETIC);
		KT_ERR(kbus_msg_split_bind_event(m, NULL, NULL, &name), -EBADMSG);
		kbus_msg_delete(&m);
	}
}

/* ---------------------------------------------------------------------------
 * Printing (§15.4), exact
 */

static void print_spec_examples(void)
{
	kbus_message_t *m = mk("$.Fred", "Hellow", 6, 0);

	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE, "<Announcement '$.Fred' data=Hellow>");
	kbus_msg_delete(&m);

	m = mk("$.Q", "hello", 5, KBUS_BIT_WANT_A_REPLY | KBUS_BIT_WANT_YOU_TO_REPLY);
	m->id.serial_num = 6;
	m->from = 1;
	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE,
		  "<Request '$.Q' id=[0:6] from=1 flags=0x3 REQ YOU data=hello>");
	kbus_msg_delete(&m);

	m = mk_bind_event(1, 3, "$.Fred");
	m->id.serial_num = 10;
	m->flags = KBUS_BIT_SYNTHETIC | KBUS_BIT_ALL_OR_FAIL;
	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE,
		  "<ReplierBindEvent id=[0:10] flags=0x204 SYN aFL data= [Bind '$.Fred' for 3]>");
	kbus_msg_delete(&m);
}

static void print_kinds_and_fields(void)
{
	kbus_message_t *m = mk("$.Fred", NULL, 0, 0);

	KT_PRINTS(m, 0, "<Announcement '$.Fred'>");
	m->in_reply_to.serial_num = 132;
	m->to = 27;
	KT_PRINTS(m, 0, "<Reply '$.Fred' to=27 in_reply_to=[0:132]>");
	m->id.network_id = 2;
	m->id.serial_num = 17;
	m->to = 0;
	m->from = 5;
	m->orig_from.network_id = 2;
	m->orig_from.local_id = 4;
	m->in_reply_to.serial_num = 16;
	KT_PRINTS(m, 0, "<Reply '$.Fred' id=[2:17] from=5 orig_from=(2,4) in_reply_to=[0:16]>");
	kbus_msg_delete(&m);

	m = mk("$.Fred", "1234", 4, KBUS_BIT_WANT_A_REPLY);
	m->to = 1234;
	m->final_to.network_id = 12;
	m->final_to.local_id = 23;
	KT_PRINTS(m, 0, "<Request '$.Fred' to=1234 final_to=(12,23) flags=0x1 REQ data=1234>");
	kbus_msg_delete(&m);

	m = mk("$.KBUS.Replier.GoneAway", NULL, 0, KBUS_BIT_SYNTHETIC);
	m->id.serial_num = 9;
	m->to = 1;
	m->in_reply_to.serial_num = 8;
	KT_PRINTS(m, 0, "<Status '$.KBUS.Replier.GoneAway' id=[0:9] to=1 in_reply_to=[0:8] "
		  "flags=0x4 SYN>");
	m->in_reply_to.serial_num = 0;		/* not a reply: an announcement */
	KT_PRINTS(m, 0, "<Announcement '$.KBUS.Replier.GoneAway' id=[0:9] to=1 flags=0x4 SYN>");
	kbus_msg_delete(&m);

	/* every flag word, in order; application bits have no word */
	m = mk("$.F", NULL, 0, 0x10000 | KBUS_BIT_WANT_A_REPLY | KBUS_BIT_WANT_YOU_TO_REPLY |
	       KBUS_BIT_SYNTHETIC | KBUS_BIT_URGENT | KBUS_BIT_ALL_OR_WAIT | KBUS_BIT_ALL_OR_FAIL);
	KT_PRINTS(m, 0, "<Request '$.F' flags=0x1030f REQ YOU SYN URG aFL aWT>");
	m->flags = 0x10000;
	KT_PRINTS(m, 0, "<Announcement '$.F' flags=0x10000>");
	m->flags = KBUS_BIT_URGENT;
	KT_PRINTS(m, 0, "<Announcement '$.F' flags=0x8 URG>");
	kbus_msg_delete(&m);

	/* a pointy message prints the same */
	KT_OK(kbus_msg_create(&m, "$.Fred", 6, "Hellow", 6, 0));
	KT_PRINTS(m, 0, "<Announcement '$.Fred' data=Hellow>");
	kbus_msg_delete(&m);
}

static void print_data_bytes(void)
{
	static const unsigned char bytes[] = { 0x80, 0xff, 0x00, 'A', '\n', ' ', '~', 0x7f };
	kbus_message_t *m = mk("$.Bytes", bytes, sizeof(bytes), 0);

	/* unsigned: \x80, never \xffffff80 (fixed quirk) */
	KT_PRINTS(m, 0, "<Announcement '$.Bytes' data=\\x80\\xff\\x00A\\x0a ~\\x7f>");
	kbus_msg_delete(&m);
}

static void print_backslash(void)
{
	/* a backslash is escaped, so the four bytes \x00 and a NUL differ */
	kbus_message_t *m = mk("$.Back", "\\x00", 4, 0);

	KT_PRINTS(m, 0, "<Announcement '$.Back' data=\\\\x00>");
	kbus_msg_delete(&m);
	m = mk("$.Back", "\0", 1, 0);
	KT_PRINTS(m, 0, "<Announcement '$.Back' data=\\x00>");
	kbus_msg_delete(&m);
	m = mk("$.Back\\Slash", "a\\", 2, 0);	/* names too */
	KT_PRINTS(m, 0, "<Announcement '$.Back\\\\Slash' data=a\\\\>");
	kbus_msg_delete(&m);
}

static void print_abbreviation(void)
{
	const char *s25 = "abcdefghijklmnopqrstuvwxy";
	kbus_message_t *m = mk("$.Long", s25, 25, 0);

	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE,
		  "<Announcement '$.Long' data=abcdefghijklmnopqrst...>");
	KT_PRINTS(m, 0, "<Announcement '$.Long' data=abcdefghijklmnopqrstuvwxy>");
	{
		char *p = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&p, &len);

		KT_CHECK(f);
		kbus_msg_print(f, m);		/* = print2 with ABBREVIATE */
		fclose(f);
		KT_STREQ(p, "<Announcement '$.Long' data=abcdefghijklmnopqrst...>");
		free(p);
	}
	kbus_msg_delete(&m);
	m = mk("$.Twenty", s25, 20, 0);	/* exactly 20: no "..." */
	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE,
		  "<Announcement '$.Twenty' data=abcdefghijklmnopqrst>");
	kbus_msg_delete(&m);
	/* abbreviation counts bytes, not their printed form */
	m = mk("$.Bin", "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
	       "\x11\x12\x13\x14\x15", 21, 0);
	KT_PRINTS(m, KBUS_MSG_PRINT_FLAGS_ABBREVIATE,
		  "<Announcement '$.Bin' data=\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\x0a"
		  "\\x0b\\x0c\\x0d\\x0e\\x0f\\x10\\x11\\x12\\x13\\x14...>");
	kbus_msg_delete(&m);
}

static void print_bind_events(void)
{
	kbus_message_t *m = mk_bind_event(0, 12, "$.Jim.*");

	m->id.serial_num = 11;
	KT_PRINTS(m, 0, "<ReplierBindEvent id=[0:11] flags=0x4 SYN data= [Unbind '$.Jim.*' for 12]>");
	/* a bind event that is a request is printed as a request, with raw data */
	kbus_msg_delete(&m);
	m = mk(KBUS_MSG_NAME_REPLIER_BIND_EVENT, "ab", 2, KBUS_BIT_SYNTHETIC);
	KT_PRINTS(m, 0, "<ReplierBindEvent flags=0x4 SYN data=ab>");	/* too short: raw data */
	kbus_msg_delete(&m);
	/* without SYNTHETIC a client sent it: an ordinary announcement */
	m = mk_bind_event(0, 12, "$.Jim.*");
	m->flags = 0;
	KT_PRINTS(m, 0, "<Announcement '$.KBUS.ReplierBindEvent' data=\\x00\\x00\\x00\\x00"
		  "\\x0c\\x00\\x00\\x00\\x07\\x00\\x00\\x00$.Jim.*\\x00>");
	kbus_msg_delete(&m);
}

static void print_dump(void)
{
	kbus_message_t *m = mk("$.Fred", "Hellow", 6, KBUS_BIT_URGENT);
	char *p = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&p, &len);

	KT_CHECK(m && f);
	m->id.serial_num = 5;
	kbus_msg_fdump(f, m, 1);
	fclose(f);
	KT_CHECK(strstr(p, "  id:          {0,5}\n"));
	KT_CHECK(strstr(p, "  flags:       00000008\n"));
	KT_CHECK(strstr(p, "  name_len:    6\n"));
	KT_CHECK(strstr(p, "  data_len:    6\n"));
	KT_CHECK(strstr(p, "  Message name: '$.Fred'\n"));
	KT_CHECK(strstr(p, "  Data as text: 'Hellow'\n"));
	KT_CHECK(strstr(p, "    0000: 48 65 6c 6c 6f 77\n"));
	KT_CHECK(strstr(p, "  Whole message as hex:\n    0000: 4b 62 75 73"));
	free(p);

	/* kbus_msg_dump() writes the same to stdout: catch it in a file */
	{
		FILE *tmp = tmpfile();
		int saved;
		char buf[4096];
		size_t n;

		KT_CHECK(tmp);
		fflush(stdout);
		saved = dup(1);
		KT_CHECK(saved >= 0 && dup2(fileno(tmp), 1) == 1);
		kbus_msg_dump(m, 0);
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
		rewind(tmp);
		n = fread(buf, 1, sizeof(buf) - 1, tmp);
		buf[n] = '\0';
		fclose(tmp);
		KT_CHECK(strstr(buf, "  Message name: '$.Fred'\n"));
		KT_CHECK(!strstr(buf, "Data as text"));	/* dump_data 0 */
	}
	kbus_msg_delete(&m);
}

/* ---------------------------------------------------------------------------
 * Ksock functions without the device
 */

static void ksock_args_no_kernel(void)
{
	/* bad toggle values are refused before the kernel is asked */
	KT_ERR(kbus_ksock_only_once(-1, 2), -EINVAL);
	KT_ERR(kbus_ksock_report_replier_binds(-1, 7), -EINVAL);
	KT_ERR(kbus_ksock_kernel_module_verbose(-1, 0xFFFFFFFE), -EINVAL);
	KT_ERR(kbus_ksock_open_by_name(NULL, O_RDWR), -EINVAL);
	KT_ERR(kbus_ksock_open_by_name("/nonexistent/kbus0", O_RDWR), -ENOENT);
	KT_ERR(kbus_ksock_close(-1), -EBADF);
	KT_ERR(kbus_ksock_id(-1, NULL), -EINVAL);
	KT_ERR(kbus_wait_for_message_timeout(0, 0, 0), -EINVAL);
	KT_ERR(kbus_ksock_read_msg(-1, NULL, 100), -EINVAL);
}

/* The bytes of an entire message (what KBUS's read gives), malloc()ed. */
static unsigned char *entire_bytes(const char *name, const char *data, size_t *len)
{
	kbus_message_t *m = mk(name, data, (uint32_t)strlen(data), 0);
	unsigned char *bytes;

	if (!m)
		return NULL;
	*len = (size_t)kbus_msg_sizeof(m);
	bytes = malloc(*len);
	if (bytes)
		memcpy(bytes, m, *len);
	kbus_msg_delete(&m);
	return bytes;
}

/* kbus_ksock_read_msg() of len bytes that a pipe holds: its result. */
static int read_from_pipe(const void *bytes, size_t len, size_t msg_len, kbus_message_t **msg)
{
	int p[2], rv;

	if (pipe(p))
		return -errno;
	if (syscall(SYS_write, p[1], bytes, len) != (long)len) {
		close(p[0]);
		close(p[1]);
		return -EIO;
	}
	close(p[1]);
	rv = kbus_ksock_read_msg(p[0], msg, msg_len);
	close(p[0]);
	return rv;
}

/* What kbus_ksock_read_msg() reads must be a whole, well-formed entire
 * message: -EBADMSG otherwise, and nothing handed out. */
static void ksock_read_validates(void)
{
	static const uint32_t end = KBUS_MSG_END_GUARD;
	size_t len = 0;
	unsigned char *good = entire_bytes("$.CTest.Valid", "Hellow", &len);
	unsigned char *bad = malloc(len + 8);
	kbus_message_t *got = NULL, *hdr = (kbus_message_t *)bad;

	KT_CHECK(good && bad);
	KT_OK(read_from_pipe(good, len, len, &got));
	KT_CHECK(got && name_is(got, "$.CTest.Valid") && data_is(got, "Hellow", 6));
	kbus_msg_delete(&got);
	/* short: the header claims more than was read */
	got = (kbus_message_t *)&got;
	KT_ERR(read_from_pipe(good, len, len - 4, &got), -EBADMSG);
	KT_CHECK(got == NULL);
	KT_ERR(read_from_pipe(good, len, sizeof(kbus_message_t), &got), -EBADMSG);
	KT_CHECK(got == NULL);
	/* long: more bytes than the header says */
	memcpy(bad, good, len);
	memcpy(bad + len, &end, 4);
	memcpy(bad + len + 4, &end, 4);
	KT_ERR(read_from_pipe(bad, len + 8, len + 8, &got), -EBADMSG);
	/* guards */
	memcpy(bad, good, len);
	hdr->start_guard = 0x12345678;
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	memcpy(bad, good, len);
	hdr->end_guard = 0;
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	memcpy(bad, good, len);
	bad[len - 1] ^= 0xff;		/* the final end guard */
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	/* lengths that do not add up */
	memcpy(bad, good, len);
	hdr->name_len = 1000;
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	memcpy(bad, good, len);
	hdr->data_len = 0xFFFFFFFFu;
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	memcpy(bad, good, len);
	hdr->name_len = 0;
	hdr->data_len += 16;		/* same total, but no name */
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	/* not entire: a pointer where KBUS gives none */
	memcpy(bad, good, len);
	hdr->name = (char *)"$.CTest.Valid";
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	memcpy(bad, good, len);
	hdr->data = bad;
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	/* a name without its NUL */
	memcpy(bad, good, len);
	((unsigned char *)kbus_msg_name_ptr(hdr))[hdr->name_len] = 'X';
	KT_ERR(read_from_pipe(bad, len, len, &got), -EBADMSG);
	KT_CHECK(got == NULL);
	free(good);
	free(bad);
}

/* write_data retries a write that KBUS interrupted (EAGAIN), as read_msg
 * retries reads. */
static void ksock_write_data_retries_eagain(void)
{
	int p[2];
	char buf[8] = { 0 };

	KT_CHECK(pipe(p) == 0);
	kt_eagain_fd = p[1];	/* left open if the test fails: no other fd gets it */
	kt_writes_failed = 0;
	kt_write_eagain = 3;
	KT_OK(kbus_ksock_write_data(p[1], (const uint8_t *)"hello", 5));
	KT_EQ(kt_writes_failed, 3);
	KT_EQ(read(p[0], buf, sizeof(buf)), 5);
	KT_STREQ(buf, "hello");
	/* but not for ever */
	kt_write_eagain = 1000000;
	KT_ERR(kbus_ksock_write_data(p[1], (const uint8_t *)"x", 1), -EAGAIN);
	kt_write_eagain = 0;
	kt_eagain_fd = -1;
	close(p[0]);
	close(p[1]);
}

/* ---------------------------------------------------------------------------
 * Ksock functions against /dev/kbus0
 */

/* Ksocks are close-on-exec: a child that runs another program does not keep
 * them (nor, through them, a replier binding) alive. */
static void ksock_cloexec(void)
{
	kbus_ksock_t r, k, a;
	uint32_t rid = 0, found = 9;
	pid_t child;
	int status, ready[2];
	char byte;

	KT_OPEN(r, O_RDWR);
	KT_CHECK(fcntl(r, F_GETFD) & FD_CLOEXEC);
	k = kbus_ksock_open_by_name("/dev/kbus0", O_RDONLY);
	KT_CMP(k, >=, 0);
	KT_CHECK(fcntl(k, F_GETFD) & FD_CLOEXEC);
	kbus_ksock_close(k);
	KT_OPEN(a, O_RDONLY);
	KT_OK(kbus_ksock_id(r, &rid));
	KT_OK(kbus_ksock_bind(r, "$.CTest.Cloexec", 1));
	/* a close-on-exec pipe tells when the child has exec'ed: its end
	 * closes then, and our read sees end of file (not a time guess: a
	 * sanitizer kernel under load takes seconds) */
	KT_OK(pipe2(ready, O_CLOEXEC));
	child = fork();
	KT_CMP(child, >=, 0);
	if (child == 0) {
		close(ready[0]);
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	KT_EQ(read(ready[0], &byte, 1), 0);	/* exec'ed */
	close(ready[0]);
	KT_OK(kt_close(r));
	KT_OK(kbus_ksock_find_replier(a, "$.CTest.Cloexec", &found));
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	KT_CHECK(WIFSIGNALED(status));	/* sleep was running */
	KT_EQ(found, 0);		/* the binding went with our close */
}

static void ksock_open_close(void)
{
	kbus_ksock_t k = kbus_ksock_open(0, O_RDWR | O_CREAT | O_APPEND);	/* masked */
	kbus_ksock_t k2;

	KT_CMP(k, >=, 0);
	KT_OK(kbus_ksock_close(k));
	KT_ERR(kbus_ksock_close(k), -EBADF);
	k = kbus_ksock_open_by_name("/dev/kbus0", O_RDONLY);
	KT_CMP(k, >=, 0);
	k2 = kbus_ksock_open(0, O_WRONLY);
	KT_CMP(k2, >=, 0);
	KT_OK(kbus_ksock_close(k2));
	KT_OK(kbus_ksock_close(k));
	KT_ERR(kbus_ksock_open(4000000, O_RDWR), -ENOENT);
}

static void ksock_ids(void)
{
	kbus_ksock_t a, b;
	uint32_t ia = 0, ib = 0;
	kbus_msg_id_t last = { 9, 9 };

	KT_OPEN(a, O_RDWR);
	KT_OPEN(b, O_RDONLY);
	KT_OK(kbus_ksock_id(a, &ia));
	KT_OK(kbus_ksock_id(b, &ib));
	KT_CMP(ia, >=, 1);
	KT_CMP(ib, >, ia);
	KT_OK(kbus_ksock_last_msg_id(a, &last));	/* nothing sent yet */
	KT_EQ(last.network_id, 0);
	KT_EQ(last.serial_num, 0);
	KT_ERR(kbus_ksock_last_msg_id(a, NULL), -EINVAL);
	KT_OK(kt_close(a));
	KT_ERR(kbus_ksock_id(a, &ia), -EBADF);
}

static void ksock_bind_unbind(void)
{
	kbus_ksock_t a, b;
	char longname[1100];

	KT_OPEN(a, O_RDWR);
	KT_OPEN(b, O_RDWR);
	KT_OK(kbus_ksock_bind(a, "$.CTest.Bind", 0));
	KT_OK(kbus_ksock_bind(a, "$.CTest.Bind", 0));	/* duplicates are fine */
	KT_OK(kbus_ksock_bind(a, "$.CTest.Bind.*", 0));
	KT_OK(kbus_ksock_bind(a, "$.CTest.Bind", 1));
	KT_ERR(kbus_ksock_bind(b, "$.CTest.Bind", 1), -EADDRINUSE);
	KT_OK(kbus_ksock_bind(b, "$.CTest.Bind.%", 1));	/* another string */
	KT_ERR(kbus_ksock_bind(a, "Fred", 0), -EBADMSG);
	KT_ERR(kbus_ksock_bind(a, "$.Fred.", 0), -EBADMSG);
	KT_ERR(kbus_ksock_bind(a, "", 0), -EBADMSG);
	KT_ERR(kbus_ksock_bind(a, KBUS_MSG_NAME_REPLIER_BIND_EVENT, 1), -EBADMSG);
	KT_ERR(kbus_ksock_bind(a, NULL, 0), -EINVAL);
	memset(longname, 'a', sizeof(longname));
	longname[0] = '$';
	longname[1] = '.';
	longname[1001] = '\0';
	KT_ERR(kbus_ksock_bind(a, longname, 0), -ENAMETOOLONG);
	longname[1000] = '\0';
	KT_OK(kbus_ksock_bind(a, longname, 0));		/* 1000 is the limit */
	KT_OK(kbus_ksock_unbind(a, longname, 0));
	KT_OK(kbus_ksock_unbind(a, "$.CTest.Bind", 0));
	KT_OK(kbus_ksock_unbind(a, "$.CTest.Bind", 0));
	KT_ERR(kbus_ksock_unbind(a, "$.CTest.Bind", 0), -EINVAL);
	KT_ERR(kbus_ksock_unbind(a, "$.CTest.Bind.%", 1), -EINVAL);	/* b's */
	KT_OK(kbus_ksock_unbind(a, "$.CTest.Bind", 1));
	KT_OK(kbus_ksock_unbind(a, "$.CTest.Bind.*", 0));
	KT_OK(kbus_ksock_bind(b, "$.CTest.Bind", 1));	/* free again */
	KT_ERR(kbus_ksock_unbind(a, "", 0), -EBADMSG);
}

static void ksock_find_replier(void)
{
	kbus_ksock_t a, r;
	uint32_t id = 99, rid = 0;

	KT_OPEN(a, O_RDWR);
	KT_OPEN(r, O_RDWR);
	KT_OK(kbus_ksock_id(r, &rid));
	KT_OK(kbus_ksock_find_replier(a, "$.CTest.Find", &id));
	KT_EQ(id, 0);
	KT_OK(kbus_ksock_bind(r, "$.CTest.Find", 1));
	KT_OK(kbus_ksock_find_replier(a, "$.CTest.Find", &id));
	KT_EQ(id, rid);
	/* exact strings only, no wildcard matching */
	KT_OK(kbus_ksock_bind(r, "$.CTest.Find.*", 1));
	KT_OK(kbus_ksock_find_replier(a, "$.CTest.Find.X", &id));
	KT_EQ(id, 0);
	KT_OK(kbus_ksock_find_replier(a, "$.CTest.Find.*", &id));
	KT_EQ(id, rid);
	KT_ERR(kbus_ksock_find_replier(a, "", &id), -ENAMETOOLONG);
	KT_ERR(kbus_ksock_find_replier(a, "$.X", NULL), -EINVAL);
}

static void ksock_send_read_pointy(void)
{
	static const char name[] = "$.CTest.Ann";
	kbus_ksock_t s, l;
	kbus_message_t *m = NULL, *got = NULL;
	kbus_msg_id_t id = { 0, 0 }, last;
	uint32_t sid, len = 0, left = 0, n = 9;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_id(s, &sid));
	KT_OK(kbus_ksock_bind(l, name, 0));
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 0);
	KT_OK(kbus_msg_create(&m, name, 11, "Hellow", 6, 0x20000));
	KT_OK(kbus_ksock_send_msg(s, m, &id));
	kbus_msg_delete(&m);
	KT_EQ(id.network_id, 0);
	KT_CMP(id.serial_num, >, 0);
	KT_OK(kbus_ksock_last_msg_id(s, &last));
	KT_EQ(kbus_msg_compare_ids(&id, &last), 0);
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 1);
	KT_ERR(kbus_ksock_next_msg(l, &len), 1);	/* 1: a message was popped */
	KT_EQ(len, KBUS_ENTIRE_MSG_LEN(11, 6));
	KT_OK(kbus_ksock_len_left(l, &left));
	KT_EQ(left, len);
	KT_OK(kbus_ksock_read_msg(l, &got, len));
	KT_OK(kbus_ksock_len_left(l, &left));
	KT_EQ(left, 0);
	KT_CHECK(kbus_msg_is_entire(got));
	KT_EQ(kbus_msg_sizeof(got), (int)len);
	KT_EQ(got->start_guard, KBUS_MSG_START_GUARD);
	KT_EQ(*kbus_msg_end_ptr((kbus_entire_message_t *)got), KBUS_MSG_END_GUARD);
	KT_CHECK(name_is(got, name));
	KT_CHECK(data_is(got, "Hellow", 6));
	KT_EQ(got->from, sid);
	KT_EQ(got->flags, 0x20000);
	KT_EQ(kbus_msg_compare_ids(&got->id, &id), 0);
	kbus_msg_delete(&got);
	/* nothing more */
	KT_ERR(kbus_ksock_next_msg(l, &len), 0);
	KT_EQ(len, 0);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got == NULL);
	KT_ERR(kbus_ksock_next_msg(l, NULL), -EINVAL);
}

static void ksock_send_read_entire(void)
{
	static const unsigned char data[] = { 0, 1, 2, 0x80, 0xff };
	kbus_ksock_t s, l;
	kbus_message_t *m = NULL, *got = NULL;
	kbus_msg_id_t id;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDWR);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Entire.*", 0));
	KT_OK(kbus_msg_create_entire(&m, "$.CTest.Entire.One", 18, data, 5, 0));
	KT_OK(kbus_ksock_send_msg(s, m, &id));
	KT_OK(kbus_ksock_send_msg(s, m, NULL));		/* msg_id may be NULL */
	kbus_msg_delete(&m);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got);
	KT_CHECK(name_is(got, "$.CTest.Entire.One"));
	KT_CHECK(data_is(got, data, 5));
	KT_EQ(kbus_msg_compare_ids(&got->id, &id), 0);
	kbus_msg_delete(&got);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got);
	KT_EQ(got->id.serial_num, id.serial_num + 1);
	kbus_msg_delete(&got);
}

static void ksock_write_data_pieces(void)
{
	kbus_ksock_t s, l;
	kbus_message_t *m = NULL, *got = NULL;
	const uint8_t *bytes;
	int len;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Pieces", 0));
	KT_OK(kbus_msg_create_entire(&m, "$.CTest.Pieces", 14, "0123456789", 10, 0));
	len = kbus_msg_sizeof(m);
	bytes = (const uint8_t *)m;
	KT_OK(kbus_ksock_write_data(s, bytes, 5));
	KT_OK(kbus_ksock_write_data(s, bytes + 5, (size_t)HDR));
	KT_OK(kbus_ksock_write_data(s, bytes + 5 + HDR, (size_t)(len - 5 - HDR)));
	KT_OK(kbus_ksock_send(s, NULL));
	kbus_msg_delete(&m);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got && data_is(got, "0123456789", 10));
	kbus_msg_delete(&got);
	KT_ERR(kbus_ksock_write_data(s, NULL, 3), -EINVAL);
}

static void ksock_send_errors(void)
{
	kbus_ksock_t s, ro;
	kbus_message_t *m = NULL;
	kbus_msg_id_t id;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(ro, O_RDONLY);
	KT_ERR(kbus_ksock_send(s, &id), -ENOMSG);		/* nothing written */
	/* a request nobody answers */
	KT_OK(kbus_msg_create_request(&m, "$.CTest.NoReplier", 17, NULL, 0, 0));
	KT_ERR(kbus_ksock_send_msg(s, m, &id), -EADDRNOTAVAIL);
	kbus_msg_delete(&m);
	/* wildcards cannot be sent (pointy: found at SEND; entire: at write) */
	KT_OK(kbus_msg_create(&m, "$.CTest.*", 9, NULL, 0, 0));
	KT_ERR(kbus_ksock_send_msg(s, m, &id), -EBADMSG);
	kbus_msg_delete(&m);
	KT_OK(kbus_msg_create_entire(&m, "$.CTest.*", 9, NULL, 0, 0));
	KT_ERR(kbus_ksock_write_msg(s, m), -EBADMSG);
	kbus_msg_delete(&m);
	/* a broken header */
	KT_OK(kbus_msg_create(&m, "$.CTest.Bad", 11, NULL, 0, 0));
	m->start_guard = 0x12345678;
	KT_ERR(kbus_ksock_write_msg(s, m), -EINVAL);
	m->start_guard = KBUS_MSG_START_GUARD;
	m->flags = KBUS_BIT_ALL_OR_WAIT | KBUS_BIT_ALL_OR_FAIL;
	KT_ERR(kbus_ksock_write_msg(s, m), -EINVAL);
	m->flags = 0;
	/* write, discard, then nothing to send */
	KT_OK(kbus_ksock_write_msg(s, m));
	KT_ERR(kbus_ksock_write_msg(s, m), -EMSGSIZE);	/* already complete */
	KT_OK(kbus_ksock_write_msg(s, m));		/* (the error discarded it) */
	KT_OK(kbus_ksock_discard(s));
	KT_OK(kbus_ksock_discard(s));
	KT_ERR(kbus_ksock_send(s, &id), -ENOMSG);
	/* read-only Ksocks cannot write */
	KT_ERR(kbus_ksock_send_msg(ro, m, &id), -EBADF);
	kbus_msg_delete(&m);
	KT_ERR(kbus_ksock_write_msg(s, NULL), -EINVAL);
}

static void ksock_request_reply(void)
{
	kbus_ksock_t q, r, l;
	kbus_message_t *m = NULL, *req = NULL, *rep = NULL, *seen = NULL, *got = NULL;
	kbus_msg_id_t qid, rid;
	uint32_t qksock, rksock, n;

	KT_OPEN(q, O_RDWR);
	KT_OPEN(r, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_id(q, &qksock));
	KT_OK(kbus_ksock_id(r, &rksock));
	KT_OK(kbus_ksock_bind(r, "$.CTest.Ask", 1));
	KT_OK(kbus_ksock_bind(l, "$.CTest.Ask", 0));
	KT_OK(kbus_msg_create_request(&m, "$.CTest.Ask", 11, "question", 8, 0));
	KT_OK(kbus_ksock_send_msg(q, m, &qid));
	kbus_msg_delete(&m);
	/* the replier's copy asks it to reply, the listener's does not */
	KT_OK(kbus_ksock_read_next_msg(l, &seen));
	KT_CHECK(seen && kbus_msg_is_request(seen) && !kbus_msg_wants_us_to_reply(seen));
	kbus_msg_delete(&seen);
	KT_OK(kbus_ksock_num_unreplied_to(r, &n));
	KT_EQ(n, 0);
	KT_OK(kbus_ksock_read_next_msg(r, &req));
	KT_CHECK(req);
	KT_EQ(req->flags, KBUS_BIT_WANT_A_REPLY | KBUS_BIT_WANT_YOU_TO_REPLY);
	KT_EQ(req->from, qksock);
	KT_OK(kbus_ksock_num_unreplied_to(r, &n));
	KT_EQ(n, 1);
	KT_OK(kbus_msg_create_reply_to(&rep, req, "answer", 6, 0));
	KT_OK(kbus_ksock_send_msg(r, rep, &rid));
	kbus_msg_delete(&rep);
	kbus_msg_delete(&req);
	KT_OK(kbus_ksock_num_unreplied_to(r, &n));
	KT_EQ(n, 0);
	KT_EQ(kbus_wait_for_message_timeout(q, KBUS_KSOCK_READABLE, 5000), KBUS_KSOCK_READABLE);
	KT_OK(kbus_ksock_read_next_msg(q, &got));
	KT_CHECK(got);
	KT_CHECK(kbus_msg_is_reply(got) && !kbus_msg_is_status(got));
	KT_EQ(kbus_msg_compare_ids(&got->in_reply_to, &qid), 0);
	KT_EQ(kbus_msg_compare_ids(&got->id, &rid), 0);
	KT_EQ(got->to, qksock);
	KT_EQ(got->from, rksock);
	KT_CHECK(name_is(got, "$.CTest.Ask"));
	KT_CHECK(data_is(got, "answer", 6));
	/* the listener sees the reply too (it is bound to the name) */
	KT_OK(kbus_ksock_read_next_msg(l, &seen));
	KT_CHECK(seen && kbus_msg_is_reply(seen));
	kbus_msg_delete(&seen);
	/* a second reply to the same request is refused */
	KT_OK(kbus_msg_create(&rep, "$.CTest.Ask", 11, NULL, 0, 0));
	rep->to = qksock;
	rep->in_reply_to = qid;
	KT_ERR(kbus_ksock_send_msg(r, rep, NULL), -ECONNREFUSED);
	kbus_msg_delete(&rep);
	kbus_msg_delete(&got);
}

static void ksock_entire_reply_and_stateful(void)
{
	kbus_ksock_t q, r, r2;
	kbus_message_t *m = NULL, *req = NULL, *rep = NULL, *got = NULL, *st = NULL;
	kbus_msg_id_t id;
	uint32_t rksock;

	KT_OPEN(q, O_RDWR);
	KT_OPEN(r, O_RDWR);
	KT_OK(kbus_ksock_id(r, &rksock));
	KT_OK(kbus_ksock_bind(r, "$.CTest.State", 1));
	KT_OK(kbus_msg_create_entire_request(&m, "$.CTest.State", 13, "1", 1, 0));
	KT_OK(kbus_ksock_send_msg(q, m, &id));
	kbus_msg_delete(&m);
	KT_OK(kbus_ksock_read_next_msg(r, &req));
	KT_CHECK(req);
	KT_OK(kbus_msg_create_entire_reply_to(&rep, req, "2", 1, 0));
	kbus_msg_delete(&req);		/* the entire reply needs nothing of it */
	KT_OK(kbus_ksock_send_msg(r, rep, NULL));
	kbus_msg_delete(&rep);
	KT_OK(kbus_ksock_read_next_msg(q, &got));
	KT_CHECK(got && kbus_msg_is_reply(got));
	/* a stateful request goes to the replier that answered */
	KT_OK(kbus_msg_create_stateful_request(&st, got, "$.CTest.State", 13, "3", 1, 0));
	KT_EQ(st->to, rksock);
	KT_CHECK(kbus_msg_is_stateful_request(st));
	KT_OK(kbus_ksock_send_msg(q, st, &id));
	kbus_msg_delete(&st);
	KT_OK(kbus_ksock_read_next_msg(r, &req));
	KT_CHECK(req && kbus_msg_wants_us_to_reply(req) && req->to == rksock);
	KT_OK(kbus_msg_create_reply_to(&rep, req, NULL, 0, 0));
	KT_OK(kbus_ksock_send_msg(r, rep, NULL));
	kbus_msg_delete(&rep);
	kbus_msg_delete(&req);
	kbus_msg_delete(&got);
	KT_OK(kbus_ksock_read_next_msg(q, &got));
	KT_CHECK(got && kbus_msg_is_reply(got));
	/* another replier takes over: the stateful request fails with EPIPE */
	KT_OK(kbus_ksock_unbind(r, "$.CTest.State", 1));
	KT_OPEN(r2, O_RDWR);
	KT_OK(kbus_ksock_bind(r2, "$.CTest.State", 1));
	KT_OK(kbus_msg_create_entire_stateful_request(&st, got, "$.CTest.State", 13, NULL, 0, 0));
	KT_ERR(kbus_ksock_send_msg(q, st, &id), -EPIPE);
	kbus_msg_delete(&st);
	kbus_msg_delete(&got);
}

static void ksock_status_messages(void)
{
	kbus_ksock_t q, r;
	kbus_message_t *m = NULL, *got = NULL;
	kbus_msg_id_t id;
	uint32_t qid, rid;
	char *p;

	KT_OPEN(q, O_RDWR);
	KT_OPEN(r, O_RDWR);
	KT_OK(kbus_ksock_id(q, &qid));
	KT_OK(kbus_ksock_id(r, &rid));
	KT_OK(kbus_ksock_bind(r, "$.CTest.Gone", 1));
	KT_OK(kbus_msg_create_request(&m, "$.CTest.Gone", 12, NULL, 0, 0));
	KT_OK(kbus_ksock_send_msg(q, m, &id));
	KT_OK(kt_close(r));		/* closed without reading the request */
	KT_OK(kbus_ksock_read_next_msg(q, &got));
	KT_CHECK(got);
	KT_CHECK(kbus_msg_is_status(got));
	KT_CHECK(name_is(got, KBUS_MSG_NAME_REPLIER_GONEAWAY));
	KT_EQ(kbus_msg_compare_ids(&got->in_reply_to, &id), 0);
	KT_EQ(got->from, rid);		/* the replier that went away */
	KT_EQ(got->to, qid);
	KT_EQ(got->flags, KBUS_BIT_SYNTHETIC);
	KT_EQ(got->data_len, 0);
	p = kt_print(got, 0);
	KT_CHECK(p && strncmp(p, "<Status '$.KBUS.Replier.GoneAway' id=[0:", 40) == 0);
	free(p);
	kbus_msg_delete(&got);

	/* read but never answered: Ignored */
	KT_OPEN(r, O_RDWR);
	KT_OK(kbus_ksock_id(r, &rid));
	KT_OK(kbus_ksock_bind(r, "$.CTest.Gone", 1));
	KT_OK(kbus_ksock_send_msg(q, m, &id));
	KT_OK(kbus_ksock_read_next_msg(r, &got));
	kbus_msg_delete(&got);
	KT_OK(kt_close(r));
	KT_OK(kbus_ksock_read_next_msg(q, &got));
	KT_CHECK(got && name_is(got, KBUS_MSG_NAME_REPLIER_IGNORED));
	KT_EQ(kbus_msg_compare_ids(&got->in_reply_to, &id), 0);
	KT_EQ(got->from, rid);
	kbus_msg_delete(&got);
	kbus_msg_delete(&m);
}

static void ksock_urgent(void)
{
	kbus_ksock_t s, l;
	kbus_message_t *got = NULL;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Urgent", 0));
	KT_OK(send_str(s, "$.CTest.Urgent", "first", 0, NULL));
	KT_OK(send_str(s, "$.CTest.Urgent", "second", KBUS_BIT_URGENT, NULL));
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got && data_is(got, "second", 6) && (got->flags & KBUS_BIT_URGENT));
	kbus_msg_delete(&got);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	KT_CHECK(got && data_is(got, "first", 5));
	kbus_msg_delete(&got);
}

static void ksock_read_errors(void)
{
	kbus_ksock_t l, s;
	kbus_message_t *got = (kbus_message_t *)&got;
	uint32_t len = 0;

	KT_OPEN(l, O_RDONLY);
	KT_OPEN(s, O_RDWR);
	KT_ERR(kbus_ksock_read_msg(l, &got, 10), -EINVAL);	/* shorter than a header */
	KT_CHECK(got == NULL);
	/* a length shorter than the message: the header claims more than was
	 * read, which kbus_msg_print() would then read beyond */
	KT_OK(kbus_ksock_bind(l, "$.CTest.Short", 0));
	KT_OK(send_str(s, "$.CTest.Short", "0123456789abcdef", 0, NULL));
	KT_ERR(kbus_ksock_next_msg(l, &len), 1);
	got = (kbus_message_t *)&got;
	KT_ERR(kbus_ksock_read_msg(l, &got, sizeof(kbus_message_t) + 4), -EBADMSG);
	KT_CHECK(got == NULL);
	got = (kbus_message_t *)&got;
	/* no current message: read gives 0 bytes */
	KT_ERR(kbus_ksock_read_msg(l, &got, 200), -EBADMSG);
	KT_CHECK(got == NULL);
	KT_ERR(kbus_ksock_read_next_msg(l, NULL), -EINVAL);
	KT_ERR(kbus_ksock_read_next_msg(-1, &got), -EBADF);
}

static void ksock_wait_timeout(void)
{
	kbus_ksock_t s, l, ro;
	int64_t t0, dt;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDWR);
	KT_OPEN(ro, O_RDONLY);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Wait", 0));
	t0 = t_ms();
	KT_ERR(kbus_wait_for_message_timeout(l, KBUS_KSOCK_READABLE, 300), 0);
	dt = t_ms() - t0;
	KT_CMP(dt, >=, 250);
	KT_CMP(dt, <, 5000);
	KT_ERR(kbus_wait_for_message_timeout(l, KBUS_KSOCK_READABLE, 0), 0);
	/* writable (nothing pending), not readable */
	KT_ERR(kbus_wait_for_message_timeout(l, KBUS_KSOCK_READABLE | KBUS_KSOCK_WRITABLE, 1000),
	       KBUS_KSOCK_WRITABLE);
	KT_ERR(kbus_wait_for_message(l, KBUS_KSOCK_WRITABLE), KBUS_KSOCK_WRITABLE);
	/* a read-only Ksock is never writable */
	KT_ERR(kbus_wait_for_message_timeout(ro, KBUS_KSOCK_WRITABLE, 100), 0);
	KT_OK(send_str(s, "$.CTest.Wait", "x", 0, NULL));
	KT_ERR(kbus_wait_for_message_timeout(l, KBUS_KSOCK_READABLE, 1000), KBUS_KSOCK_READABLE);
	KT_ERR(kbus_wait_for_message_timeout(l, KBUS_KSOCK_READABLE | KBUS_KSOCK_WRITABLE, -1),
	       KBUS_KSOCK_READABLE | KBUS_KSOCK_WRITABLE);
	KT_ERR(kbus_wait_for_message(l, KBUS_KSOCK_READABLE), KBUS_KSOCK_READABLE);
	KT_ERR(kbus_wait_for_message(l, 0), -EINVAL);
	KT_ERR(kbus_wait_for_message_timeout(1000, KBUS_KSOCK_READABLE, 0), -EBADF);
}

static void ksock_max_messages(void)
{
	kbus_ksock_t s, l;
	kbus_msg_id_t id = { 0, 0 }, last;
	uint32_t n = 0, i;
	kbus_message_t *got = NULL;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_max_messages(l, &n));		/* 0: just ask */
	KT_EQ(n, 100);
	n = 3;
	KT_OK(kbus_ksock_max_messages(l, &n));
	KT_EQ(n, 3);
	n = 0;
	KT_OK(kbus_ksock_max_messages(l, &n));
	KT_EQ(n, 3);
	KT_ERR(kbus_ksock_max_messages(l, NULL), -EINVAL);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Full", 0));
	for (i = 0; i < 4; i++)		/* the 4th is silently dropped */
		KT_OK(send_str(s, "$.CTest.Full", "x", 0, NULL));
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 3);
	KT_ERR(send_str(s, "$.CTest.Full", "x", KBUS_BIT_ALL_OR_FAIL, NULL), -EBUSY);
	/* ALL_OR_WAIT: pending, with an id, until the listener makes room */
	KT_ERR(send_str(s, "$.CTest.Full", "last", KBUS_BIT_ALL_OR_WAIT, &id), -EAGAIN);
	KT_CMP(id.serial_num, >, 0);
	KT_OK(kbus_ksock_last_msg_id(s, &last));
	KT_EQ(kbus_msg_compare_ids(&id, &last), 0);
	KT_ERR(kbus_wait_for_message_timeout(s, KBUS_KSOCK_WRITABLE, 100), 0);
	KT_ERR(send_str(s, "$.CTest.Full", "x", 0, NULL), -EALREADY);
	KT_OK(kbus_ksock_read_next_msg(l, &got));
	kbus_msg_delete(&got);
	KT_ERR(kbus_wait_for_message_timeout(s, KBUS_KSOCK_WRITABLE, 5000), KBUS_KSOCK_WRITABLE);
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 3);
	for (i = 0; i < 3; i++) {
		KT_OK(kbus_ksock_read_next_msg(l, &got));
		KT_CHECK(got);
		if (i == 2) {
			KT_CHECK(data_is(got, "last", 4));
			KT_EQ(kbus_msg_compare_ids(&got->id, &id), 0);
		}
		kbus_msg_delete(&got);
	}
	/* a pending send can be discarded */
	for (i = 0; i < 3; i++)
		KT_OK(send_str(s, "$.CTest.Full", "x", 0, NULL));
	KT_ERR(send_str(s, "$.CTest.Full", "x", KBUS_BIT_ALL_OR_WAIT, NULL), -EAGAIN);
	KT_OK(kbus_ksock_discard(s));
	KT_OK(send_str(s, "$.CTest.Other", "x", 0, NULL));
}

static void ksock_enolck(void)
{
	kbus_ksock_t q, r;
	kbus_message_t *m = NULL;
	uint32_t n = 1;

	KT_OPEN(q, O_RDWR);
	KT_OPEN(r, O_RDWR);
	KT_OK(kbus_ksock_bind(r, "$.CTest.Lock", 1));
	KT_OK(kbus_ksock_max_messages(q, &n));
	KT_OK(kbus_msg_create_request(&m, "$.CTest.Lock", 12, NULL, 0, 0));
	KT_OK(kbus_ksock_send_msg(q, m, NULL));		/* reserves q's only slot */
	KT_ERR(kbus_ksock_send_msg(q, m, NULL), -ENOLCK);
	kbus_msg_delete(&m);
}

static void ksock_only_once(void)
{
	kbus_ksock_t s, l;
	uint32_t n;

	KT_OPEN(s, O_RDWR);
	KT_OPEN(l, O_RDONLY);
	KT_OK(kbus_ksock_bind(l, "$.CTest.Once", 0));
	KT_OK(kbus_ksock_bind(l, "$.CTest.*", 0));
	/* previous states, not 0 (fixed quirk) */
	KT_ERR(kbus_ksock_only_once(l, KBUS_TOGGLE_QUERY), 0);
	KT_OK(send_str(s, "$.CTest.Once", NULL, 0, NULL));
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 2);
	KT_ERR(kbus_ksock_only_once(l, 1), 0);
	KT_ERR(kbus_ksock_only_once(l, KBUS_TOGGLE_QUERY), 1);
	KT_ERR(kbus_ksock_only_once(l, 1), 1);
	KT_OK(send_str(s, "$.CTest.Once", NULL, 0, NULL));
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 3);
	KT_ERR(kbus_ksock_only_once(l, 0), 1);
	KT_ERR(kbus_ksock_only_once(l, 0), 0);
	KT_ERR(kbus_ksock_only_once(l, 2), -EINVAL);
	KT_ERR(kbus_ksock_only_once(-1, 1), -EBADF);
}

static void ksock_report_replier_binds(void)
{
	kbus_ksock_t l, r, c;
	kbus_message_t *ev = NULL;
	uint32_t rid, is_bind = 9, binder = 0, n = 9;
	char *name = NULL, expect[128];

	KT_OPEN(l, O_RDONLY);
	KT_OPEN(r, O_RDWR);
	KT_OPEN(c, O_RDONLY);
	KT_OK(kbus_ksock_id(r, &rid));
	KT_OK(kbus_ksock_bind(l, KBUS_MSG_NAME_REPLIER_BIND_EVENT, 0));
	/* c switches reporting on (and gets a snapshot of existing replier
	 * bindings, if any, in its own queue; l gets nothing) */
	KT_ERR(kbus_ksock_report_replier_binds(c, KBUS_TOGGLE_QUERY), 0);
	KT_ERR(kbus_ksock_report_replier_binds(c, 1), 0);
	KT_ERR(kbus_ksock_report_replier_binds(c, KBUS_TOGGLE_QUERY), 1);
	KT_OK(kbus_ksock_num_messages(l, &n));
	KT_EQ(n, 0);
	KT_OK(kbus_ksock_bind(r, "$.CTest.Binds", 1));
	KT_OK(kbus_ksock_read_next_msg(l, &ev));
	KT_CHECK(ev);
	KT_OK(kbus_msg_split_bind_event(ev, &is_bind, &binder, &name));
	KT_EQ(is_bind, 1);
	KT_EQ(binder, rid);
	KT_STREQ(name, "$.CTest.Binds");
	free(name);
	snprintf(expect, sizeof(expect),
		 "<ReplierBindEvent id=[0:%u] flags=0x204 SYN aFL data= [Bind '$.CTest.Binds' for %u]>",
		 (unsigned int)ev->id.serial_num, (unsigned int)rid);
	KT_PRINTS(ev, KBUS_MSG_PRINT_FLAGS_ABBREVIATE, expect);
	kbus_msg_delete(&ev);
	KT_OK(kbus_ksock_unbind(r, "$.CTest.Binds", 1));
	KT_OK(kbus_ksock_read_next_msg(l, &ev));
	KT_CHECK(ev);
	KT_OK(kbus_msg_split_bind_event(ev, &is_bind, NULL, NULL));
	KT_EQ(is_bind, 0);
	kbus_msg_delete(&ev);
	KT_ERR(kbus_ksock_report_replier_binds(l, 0), 1);
	KT_ERR(kbus_ksock_report_replier_binds(c, 0), 0);
	KT_ERR(kbus_ksock_report_replier_binds(c, 3), -EINVAL);
}

static void ksock_verbose(void)
{
	kbus_ksock_t k;

	KT_OPEN(k, O_RDONLY);
	KT_ERR(kbus_ksock_kernel_module_verbose(k, KBUS_TOGGLE_QUERY), 0);
	KT_ERR(kbus_ksock_kernel_module_verbose(k, 1), 0);
	KT_ERR(kbus_ksock_kernel_module_verbose(k, KBUS_TOGGLE_QUERY), 1);
	KT_ERR(kbus_ksock_kernel_module_verbose(k, 0), 1);
	KT_ERR(kbus_ksock_kernel_module_verbose(k, 0), 0);
	KT_ERR(kbus_ksock_kernel_module_verbose(k, 2), -EINVAL);
}

static void ksock_max_message_size(void)
{
	kbus_ksock_t k;
	kbus_message_t *m = NULL;
	uint32_t cur = 0, abs = 1, v;
	static char big[300];

	KT_OPEN(k, O_RDWR);
	KT_OK(kbus_ksock_max_message_size(k, &cur));
	KT_OK(kbus_ksock_max_message_size(k, &abs));
	KT_CMP(cur, >=, 100);
	KT_CMP(abs, >=, cur);
	v = 200;
	KT_OK(kbus_ksock_max_message_size(k, &v));
	KT_EQ(v, 200);
	v = 0;
	KT_OK(kbus_ksock_max_message_size(k, &v));
	KT_EQ(v, 200);
	memset(big, 'x', sizeof(big));
	KT_OK(kbus_msg_create_entire(&m, "$.CTest.Big", 11, big, 200, 0));
	KT_ERR(kbus_ksock_write_msg(k, m), -EMSGSIZE);
	kbus_msg_delete(&m);
	KT_OK(kbus_msg_create(&m, "$.CTest.Big", 11, big, 200, 0));	/* pointy too */
	KT_ERR(kbus_ksock_write_msg(k, m), -EMSGSIZE);
	kbus_msg_delete(&m);
	v = 50;
	KT_ERR(kbus_ksock_max_message_size(k, &v), -EINVAL);
	v = abs + 1;
	KT_ERR(kbus_ksock_max_message_size(k, &v), -EINVAL);
	v = cur;
	KT_OK(kbus_ksock_max_message_size(k, &v));
	KT_EQ(v, cur);
	KT_ERR(kbus_ksock_max_message_size(k, NULL), -EINVAL);
}

static void ksock_new_device(void)
{
	kbus_ksock_t k, k2;
	uint32_t dev = 0, id = 0;
	char path[32];
	struct stat st;
	int i;

	KT_OPEN(k, O_RDONLY);
	KT_OK(kbus_ksock_new_device(k, &dev));
	KT_CMP(dev, >=, 1);
	snprintf(path, sizeof(path), "/dev/kbus%u", (unsigned int)dev);
	for (i = 0; i < 500 && stat(path, &st) != 0; i++)
		usleep(10000);		/* the node may appear a little later */
	k2 = kt_open_dev(dev, O_RDWR);
	KT_CHECK(k2 >= 0);
	KT_OK(kbus_ksock_id(k2, &id));
	KT_EQ(id, 1);			/* a brand new device */
	KT_ERR(kbus_ksock_new_device(k, NULL), -EINVAL);
}

/* Who sent a message: this process, as of the send; KBUS for a status. */
static void ksock_msg_creds(void)
{
	kbus_ksock_t r, s;
	kbus_message_t *msg = NULL, *got = NULL;
	struct kbus_msg_creds creds;
	uint32_t filtered = 9;

	KT_OPEN(r, O_RDWR);
	KT_OPEN(s, O_RDWR);
	KT_EQ(kbus_ksock_msg_creds(r, &creds), -ENOMSG);
	KT_OK(kbus_ksock_bind(r, "$.CTest.Creds", 0));
	KT_OK(kbus_msg_create(&msg, "$.CTest.Creds", 13, "x", 1, 0));
	KT_OK(kbus_ksock_send_msg(s, msg, NULL));
	KT_OK(kbus_ksock_read_next_msg(r, &got));
	KT_CHECK(got != NULL);
	/* the whole message is read: its sender is still known */
	KT_OK(kbus_ksock_msg_creds(r, &creds));
	KT_EQ(creds.uid, (uint32_t)geteuid());
	KT_EQ(creds.gid, (uint32_t)getegid());
	KT_EQ(creds.pid, (uint32_t)getpid());
	KT_EQ(creds.flags, 0);
	KT_OK(kbus_ksock_num_filtered(r, &filtered));
	KT_EQ(filtered, 0);
	kbus_msg_delete(&msg);
	kbus_msg_delete(&got);
	KT_OK(kt_close(r));
	KT_OK(kt_close(s));
}

/* Batch reading: several whole messages per read, walked one by one. */
static void ksock_batch_read(void)
{
	kbus_ksock_t r, s;
	kbus_message_t *msg = NULL, *m = NULL;
	char buf[4096];
	size_t off = 0;
	ssize_t got;
	int i;

	KT_OPEN(r, O_RDWR);
	KT_OPEN(s, O_RDWR);
	KT_OK(kbus_ksock_bind(r, "$.CTest.Batch", 0));
	KT_EQ(kbus_ksock_set_batch_read(r, 1), 0);
	KT_EQ(kbus_ksock_set_batch_read(r, 1), 1);
	KT_EQ(kbus_ksock_read_batch(r, buf, sizeof(buf)), 0);
	for (i = 0; i < 3; i++) {
		KT_OK(kbus_msg_create(&msg, "$.CTest.Batch", 13, "abc", (uint32_t)i, 0));
		KT_OK(kbus_ksock_send_msg(s, msg, NULL));
		kbus_msg_delete(&msg);
	}
	KT_EQ(kbus_ksock_read_batch(r, buf, 10), -EMSGSIZE);
	got = kbus_ksock_read_batch(r, buf, sizeof(buf));
	KT_CMP(got, >, 0);
	for (i = 0; !kbus_batch_next(buf, (size_t)got, &off, &m) && m; i++) {
		KT_EQ(m->data_len, (uint32_t)i);
		kbus_msg_delete(&m);
	}
	KT_EQ(i, 3);
	KT_EQ(off, (size_t)got);
	KT_OK(kt_close(r));
	KT_OK(kt_close(s));
}

static const struct kt_test tests[] = {
	KT_TEST(abi_sizes),
	KT_TEST(abi_header_namespace),
	KT_TEST(abi_lengths_64bit),
	KT_TEST(inline_helpers),
	KT_TEST(msg_create_pointy),
	KT_TEST(msg_create_entire),
	KT_TEST(msg_create_bad_args),
	KT_TEST(msg_create_requests),
	KT_TEST(msg_create_replies),
	KT_TEST(msg_create_stateful),
	KT_TEST(msg_copy_entire),
	KT_TEST(msg_delete),
	KT_TEST(msg_sizeof),
	KT_TEST(msg_split_bind_event),
	KT_TEST(print_spec_examples),
	KT_TEST(print_kinds_and_fields),
	KT_TEST(print_data_bytes),
	KT_TEST(print_backslash),
	KT_TEST(print_abbreviation),
	KT_TEST(print_bind_events),
	KT_TEST(print_dump),
	KT_TEST(ksock_args_no_kernel),
	KT_TEST(ksock_read_validates),
	KT_TEST(ksock_write_data_retries_eagain),
	KT_DEVICE_TEST(ksock_cloexec),
	KT_DEVICE_TEST(ksock_msg_creds),
	KT_DEVICE_TEST(ksock_batch_read),
	KT_DEVICE_TEST(ksock_open_close),
	KT_DEVICE_TEST(ksock_ids),
	KT_DEVICE_TEST(ksock_bind_unbind),
	KT_DEVICE_TEST(ksock_find_replier),
	KT_DEVICE_TEST(ksock_send_read_pointy),
	KT_DEVICE_TEST(ksock_send_read_entire),
	KT_DEVICE_TEST(ksock_write_data_pieces),
	KT_DEVICE_TEST(ksock_send_errors),
	KT_DEVICE_TEST(ksock_request_reply),
	KT_DEVICE_TEST(ksock_entire_reply_and_stateful),
	KT_DEVICE_TEST(ksock_status_messages),
	KT_DEVICE_TEST(ksock_urgent),
	KT_DEVICE_TEST(ksock_read_errors),
	KT_DEVICE_TEST(ksock_wait_timeout),
	KT_DEVICE_TEST(ksock_max_messages),
	KT_DEVICE_TEST(ksock_enolck),
	KT_DEVICE_TEST(ksock_only_once),
	KT_DEVICE_TEST(ksock_report_replier_binds),
	KT_DEVICE_TEST(ksock_verbose),
	KT_DEVICE_TEST(ksock_max_message_size),
	KT_DEVICE_TEST(ksock_new_device),
};

int main(int argc, char **argv)
{
	return kt_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
