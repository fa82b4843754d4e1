// SPDX-License-Identifier: MIT
/*
 * libkbus: creating, copying, sizing and freeing messages.
 */
#include <kbus/kbus.h>

/* A zeroed header with the guards, lengths and flags set. */
static void kbus_msg_init(kbus_message_t *msg, uint32_t name_len, uint32_t data_len,
			  uint32_t flags)
{
	memset(msg, 0, sizeof(*msg));
	msg->start_guard = KBUS_MSG_START_GUARD;
	msg->end_guard = KBUS_MSG_END_GUARD;
	msg->name_len = name_len;
	msg->data_len = data_len;
	msg->flags = flags;
}

static int kbus_msg_check_args(kbus_message_t **msg, const char *name, uint32_t name_len,
			       const void *data, uint32_t data_len)
{
	if (!msg)
		return -EINVAL;
	*msg = NULL;
	if (!name || name_len == 0)
		return -EINVAL;
	if (!data && data_len)
		return -EINVAL;
	return 0;
}

int kbus_msg_create(kbus_message_t **msg, const char *name, uint32_t name_len,
		    const void *data, uint32_t data_len, uint32_t flags)
{
	kbus_message_t *m;
	int rv = kbus_msg_check_args(msg, name, name_len, data, data_len);

	if (rv < 0)
		return rv;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	kbus_msg_init(m, name_len, data_len, flags);
	m->name = (char *)name;
	/* KBUS insists on a NULL data pointer when there is no data */
	m->data = data_len ? (void *)data : NULL;
	*msg = m;
	return 0;
}

/*
 * The length of an entire message, computed in 64 bits (it can reach 8 GiB,
 * which no 32-bit size_t holds). Messages are at most INT32_MAX bytes: the
 * most kbus_msg_sizeof() can give, and far beyond any KBUS device's maximum.
 */
static uint64_t kbus_entire_len(uint32_t name_len, uint32_t data_len)
{
	return KBUS_ENTIRE_MSG_LEN(name_len, data_len);
}

int kbus_msg_create_entire(kbus_message_t **msg, const char *name, uint32_t name_len,
			   const void *data, uint32_t data_len, uint32_t flags)
{
	kbus_entire_message_t *e;
	kbus_message_t *m;
	uint64_t len;
	int rv = kbus_msg_check_args(msg, name, name_len, data, data_len);

	if (rv < 0)
		return rv;
	len = kbus_entire_len(name_len, data_len);
	if (len > INT32_MAX)
		return -EMSGSIZE;
	e = calloc(1, (size_t)len);	/* zeroed: NUL after the name, padding */
	if (!e)
		return -ENOMEM;
	m = &e->header;
	kbus_msg_init(m, name_len, data_len, flags);
	memcpy(&e->rest[0], name, name_len);
	if (data_len)
		memcpy(&e->rest[KBUS_ENTIRE_MSG_DATA_INDEX(name_len)], data, data_len);
	*kbus_msg_end_ptr(e) = KBUS_MSG_END_GUARD;
	*msg = m;
	return 0;
}

int kbus_msg_create_request(kbus_message_t **msg, const char *name, uint32_t name_len,
			    const void *data, uint32_t data_len, uint32_t flags)
{
	return kbus_msg_create(msg, name, name_len, data, data_len,
			       flags | KBUS_BIT_WANT_A_REPLY);
}

int kbus_msg_create_entire_request(kbus_message_t **msg, const char *name,
				   uint32_t name_len, const void *data,
				   uint32_t data_len, uint32_t flags)
{
	return kbus_msg_create_entire(msg, name, name_len, data, data_len,
				      flags | KBUS_BIT_WANT_A_REPLY);
}

static int kbus_reply_to(kbus_message_t **msg, const kbus_message_t *in_reply_to,
			 const void *data, uint32_t data_len, uint32_t flags, int entire)
{
	int rv;

	if (!msg)
		return -EINVAL;
	*msg = NULL;
	if (!in_reply_to)
		return -EINVAL;
	if (!kbus_msg_wants_us_to_reply(in_reply_to))
		return -EBADMSG;
	if (entire)
		rv = kbus_msg_create_entire(msg, kbus_msg_name_ptr(in_reply_to),
					    in_reply_to->name_len, data, data_len, flags);
	else
		rv = kbus_msg_create(msg, kbus_msg_name_ptr(in_reply_to),
				     in_reply_to->name_len, data, data_len, flags);
	if (rv < 0)
		return rv;
	(*msg)->to = in_reply_to->from;
	(*msg)->in_reply_to = in_reply_to->id;
	return 0;
}

int kbus_msg_create_reply_to(kbus_message_t **msg, const kbus_message_t *in_reply_to,
			     const void *data, uint32_t data_len, uint32_t flags)
{
	return kbus_reply_to(msg, in_reply_to, data, data_len, flags, 0);
}

int kbus_msg_create_entire_reply_to(kbus_message_t **msg,
				    const kbus_message_t *in_reply_to,
				    const void *data, uint32_t data_len, uint32_t flags)
{
	return kbus_reply_to(msg, in_reply_to, data, data_len, flags, 1);
}

static int kbus_stateful(kbus_message_t **msg, const kbus_message_t *earlier_msg,
			 const char *name, uint32_t name_len, const void *data,
			 uint32_t data_len, uint32_t flags, int entire)
{
	uint32_t to;
	kbus_orig_from_t final_to;
	int rv;

	if (!msg)
		return -EINVAL;
	*msg = NULL;
	if (!earlier_msg)
		return -EINVAL;
	if (kbus_msg_is_reply(earlier_msg)) {
		to = earlier_msg->from;
		final_to = earlier_msg->orig_from;
	} else if (kbus_msg_is_stateful_request(earlier_msg)) {
		to = earlier_msg->to;
		final_to = earlier_msg->final_to;
	} else {
		return -EBADMSG;
	}
	flags |= KBUS_BIT_WANT_A_REPLY;
	if (entire)
		rv = kbus_msg_create_entire(msg, name, name_len, data, data_len, flags);
	else
		rv = kbus_msg_create(msg, name, name_len, data, data_len, flags);
	if (rv < 0)
		return rv;
	(*msg)->to = to;
	(*msg)->final_to = final_to;
	return 0;
}

int kbus_msg_create_stateful_request(kbus_message_t **msg,
				     const kbus_message_t *earlier_msg,
				     const char *name, uint32_t name_len,
				     const void *data, uint32_t data_len, uint32_t flags)
{
	return kbus_stateful(msg, earlier_msg, name, name_len, data, data_len, flags, 0);
}

int kbus_msg_create_entire_stateful_request(kbus_message_t **msg,
					    const kbus_message_t *earlier_msg,
					    const char *name, uint32_t name_len,
					    const void *data, uint32_t data_len,
					    uint32_t flags)
{
	return kbus_stateful(msg, earlier_msg, name, name_len, data, data_len, flags, 1);
}

int kbus_msg_copy_entire(kbus_message_t **copy, const kbus_message_t *msg)
{
	kbus_message_t *m;
	int rv;

	if (!copy)
		return -EINVAL;
	*copy = NULL;
	if (!msg)
		return -EINVAL;
	rv = kbus_msg_create_entire(&m, kbus_msg_name_ptr(msg), msg->name_len,
				    msg->data_len ? kbus_msg_data_ptr(msg) : NULL,
				    msg->data_len, msg->flags);
	if (rv < 0)
		return rv;
	m->id = msg->id;
	m->in_reply_to = msg->in_reply_to;
	m->to = msg->to;
	m->from = msg->from;
	m->orig_from = msg->orig_from;
	m->final_to = msg->final_to;
	m->extra = msg->extra;
	*copy = m;
	return 0;
}

void kbus_msg_delete(kbus_message_t **msg_p)
{
	if (!msg_p || !*msg_p)
		return;
	free(*msg_p);
	*msg_p = NULL;
}

void kbus_msg_delete_all(kbus_message_t **msg_p)
{
	kbus_message_t *m;

	if (!msg_p || !*msg_p)
		return;
	m = *msg_p;
	if (!kbus_msg_is_entire(m)) {
		free(m->name);
		free(m->data);
	}
	free(m);
	*msg_p = NULL;
}

int kbus_msg_sizeof(const kbus_message_t *msg)
{
	uint64_t len;

	if (!msg)
		return -EINVAL;
	if (!kbus_msg_is_entire(msg))
		return (int)sizeof(kbus_message_t);
	len = kbus_entire_len(msg->name_len, msg->data_len);
	if (len > INT32_MAX)
		return -EMSGSIZE;
	return (int)len;
}

int kbus_msg_split_bind_event(const kbus_message_t *msg, uint32_t *is_bind,
			      uint32_t *binder, char **name)
{
	kbus_replier_bind_event_data_t ev;
	const unsigned char *data;

	if (name)
		*name = NULL;
	if (!msg)
		return -EINVAL;
	if (msg->name_len != sizeof(KBUS_MSG_NAME_REPLIER_BIND_EVENT) - 1 ||
	    !kbus_msg_name_ptr(msg) ||
	    memcmp(kbus_msg_name_ptr(msg), KBUS_MSG_NAME_REPLIER_BIND_EVENT,
		   msg->name_len) != 0)
		return -EBADMSG;
	if (!(msg->flags & KBUS_BIT_SYNTHETIC))
		return -EPERM;
	data = kbus_msg_data_ptr(msg);
	if (msg->data_len < sizeof(ev) || !data)
		return -EBADMSG;
	memcpy(&ev, data, sizeof(ev));
	if (ev.name_len > msg->data_len - sizeof(ev))
		return -EBADMSG;
	if (name) {
		char *n = malloc((size_t)ev.name_len + 1);

		if (!n)
			return -ENOMEM;
		memcpy(n, data + sizeof(ev), ev.name_len);
		n[ev.name_len] = '\0';
		*name = n;
	}
	if (is_bind)
		*is_bind = ev.is_bind;
	if (binder)
		*binder = ev.binder;
	return 0;
}
