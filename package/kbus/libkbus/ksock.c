// SPDX-License-Identifier: MIT
/*
 * libkbus: Ksock functions (open, bind, ioctls, read, write, send, wait).
 * Every function returns 0 (or a documented non-negative value) or -errno.
 */
#include <poll.h>
#include <sys/ioctl.h>

#include <kbus/kbus.h>

/* How often a read or write that KBUS interrupted (EAGAIN while waiting for
 * the device lock) is retried before giving up. */
#define KBUS_LOCK_RETRIES 1000

kbus_ksock_t kbus_ksock_open_by_name(const char *device_name, int flags)
{
	int fd;

	if (!device_name)
		return -EINVAL;
	/* close-on-exec always (as Python opens files): a Ksock left open in a
	 * child that runs another program would keep its bindings alive */
	fd = open(device_name, (flags & O_ACCMODE) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

kbus_ksock_t kbus_ksock_open(uint32_t device_number, int flags)
{
	char path[32];

	snprintf(path, sizeof(path), "/dev/kbus%u", (unsigned int)device_number);
	return kbus_ksock_open_by_name(path, flags);
}

int kbus_ksock_close(kbus_ksock_t ksock)
{
	if (close(ksock) < 0)
		return -errno;
	return 0;
}

/* ioctl returning the kernel's non-negative result, or -errno. */
static int kbus_ioctl(kbus_ksock_t ksock, unsigned long request, void *arg)
{
	int rv = ioctl(ksock, request, arg);

	if (rv < 0)
		return -errno;
	return rv;
}

/* ioctl with a u32 argument: in (may be ignored) and out. */
static int kbus_ioctl_u32(kbus_ksock_t ksock, unsigned long request, uint32_t *value)
{
	uint32_t v;
	int rv;

	if (!value)
		return -EINVAL;
	v = *value;
	rv = kbus_ioctl(ksock, request, &v);
	if (rv < 0)
		return rv;
	*value = v;
	return rv;
}

static int kbus_bind_ioctl(kbus_ksock_t ksock, unsigned long request, const char *name,
			   uint32_t is_replier)
{
	kbus_bind_request_t req;
	size_t len;

	if (!name)
		return -EINVAL;
	len = strlen(name);
	if (len > UINT32_MAX)
		return -ENAMETOOLONG;
	memset(&req, 0, sizeof(req));
	req.is_replier = is_replier;
	req.name_len = (uint32_t)len;
	req.name = (char *)name;
	return kbus_ioctl(ksock, request, &req);
}

int kbus_ksock_bind(kbus_ksock_t ksock, const char *name, uint32_t is_replier)
{
	return kbus_bind_ioctl(ksock, KBUS_IOC_BIND, name, is_replier);
}

int kbus_ksock_unbind(kbus_ksock_t ksock, const char *name, uint32_t is_replier)
{
	return kbus_bind_ioctl(ksock, KBUS_IOC_UNBIND, name, is_replier);
}

int kbus_ksock_id(kbus_ksock_t ksock, uint32_t *ksock_id)
{
	int rv;

	if (!ksock_id)
		return -EINVAL;
	*ksock_id = 0;
	rv = kbus_ioctl_u32(ksock, KBUS_IOC_KSOCKID, ksock_id);
	return rv < 0 ? rv : 0;
}

int kbus_ksock_next_msg(kbus_ksock_t ksock, uint32_t *message_length)
{
	if (!message_length)
		return -EINVAL;
	*message_length = 0;
	/* the raw result: 1 if a message was popped, 0 if none */
	return kbus_ioctl_u32(ksock, KBUS_IOC_NEXTMSG, message_length);
}

int kbus_ksock_len_left(kbus_ksock_t ksock, uint32_t *len_left)
{
	int rv;

	if (!len_left)
		return -EINVAL;
	*len_left = 0;
	rv = kbus_ioctl_u32(ksock, KBUS_IOC_LENLEFT, len_left);
	return rv < 0 ? rv : 0;
}

int kbus_ksock_last_msg_id(kbus_ksock_t ksock, kbus_msg_id_t *msg_id)
{
	kbus_msg_id_t id = { 0, 0 };
	int rv;

	if (!msg_id)
		return -EINVAL;
	rv = kbus_ioctl(ksock, KBUS_IOC_LASTSENT, &id);
	if (rv < 0)
		return rv;
	*msg_id = id;
	return 0;
}

int kbus_ksock_find_replier(kbus_ksock_t ksock, const char *name, uint32_t *replier_ksock_id)
{
	kbus_bind_query_t query;
	size_t len;
	int rv;

	if (!name || !replier_ksock_id)
		return -EINVAL;
	len = strlen(name);
	if (len > UINT32_MAX)
		return -ENAMETOOLONG;
	memset(&query, 0, sizeof(query));
	query.name_len = (uint32_t)len;
	query.name = (char *)name;
	rv = kbus_ioctl(ksock, KBUS_IOC_REPLIER, &query);
	if (rv < 0)
		return rv;
	*replier_ksock_id = rv > 0 ? query.return_id : 0;
	return 0;
}

int kbus_ksock_max_messages(kbus_ksock_t ksock, uint32_t *max_messages)
{
	int rv = kbus_ioctl_u32(ksock, KBUS_IOC_MAXMSGS, max_messages);

	return rv < 0 ? rv : 0;
}

int kbus_ksock_num_messages(kbus_ksock_t ksock, uint32_t *num_messages)
{
	int rv;

	if (!num_messages)
		return -EINVAL;
	*num_messages = 0;
	rv = kbus_ioctl_u32(ksock, KBUS_IOC_NUMMSGS, num_messages);
	return rv < 0 ? rv : 0;
}

int kbus_ksock_msg_creds(kbus_ksock_t ksock, struct kbus_msg_creds *creds)
{
	if (!creds)
		return -EINVAL;
	memset(creds, 0, sizeof(*creds));
	return kbus_ioctl(ksock, KBUS_IOC_MSGCREDS, creds);
}

int kbus_ksock_num_filtered(kbus_ksock_t ksock, uint32_t *count)
{
	if (!count)
		return -EINVAL;
	*count = 0;
	return kbus_ioctl(ksock, KBUS_IOC_FILTERED, count);
}

int kbus_ksock_set_batch_read(kbus_ksock_t ksock, int on)
{
	uint32_t v = on ? 1 : 0;
	int rv = kbus_ioctl(ksock, KBUS_IOC_BATCHREAD, &v);

	return rv < 0 ? rv : (int)v;
}

ssize_t kbus_ksock_read_batch(kbus_ksock_t ksock, void *buf, size_t len)
{
	int tries;

	for (tries = 0; tries < KBUS_LOCK_RETRIES; tries++) {
		ssize_t got = read(ksock, buf, len);

		if (got >= 0)
			return got;
		/* KBUS's "interrupted waiting for the Ksock": nothing read */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return -EAGAIN;
}

int kbus_batch_next(const void *buf, size_t len, size_t *offset,
		    kbus_message_t **msg)
{
	const unsigned char *p = (const unsigned char *)buf + *offset;
	kbus_message_t hdr;
	uint64_t size;
	uint32_t guard;

	if (!msg)
		return -EINVAL;
	*msg = NULL;
	if (*offset >= len)
		return 0;
	if (len - *offset < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, p, sizeof(hdr));
	if (hdr.start_guard != KBUS_MSG_START_GUARD ||
	    hdr.end_guard != KBUS_MSG_END_GUARD || hdr.name || hdr.data)
		return -EBADMSG;
	size = KBUS_ENTIRE_MSG_LEN(hdr.name_len, hdr.data_len);
	if (size > len - *offset)
		return -EBADMSG;
	memcpy(&guard, p + size - sizeof(guard), sizeof(guard));
	if (guard != KBUS_MSG_END_GUARD)
		return -EBADMSG;
	*msg = malloc((size_t)size);
	if (!*msg)
		return -ENOMEM;
	memcpy(*msg, p, (size_t)size);
	*offset += (size_t)size;
	return 0;
}

int kbus_ksock_num_unreplied_to(kbus_ksock_t ksock, uint32_t *num_messages)
{
	int rv;

	if (!num_messages)
		return -EINVAL;
	*num_messages = 0;
	rv = kbus_ioctl_u32(ksock, KBUS_IOC_UNREPLIEDTO, num_messages);
	return rv < 0 ? rv : 0;
}

int kbus_ksock_send(kbus_ksock_t ksock, kbus_msg_id_t *msg_id)
{
	kbus_msg_id_t id = { 0, 0 };
	int rv;

	/* KBUS writes the id on success and on EAGAIN: pass it on either way */
	rv = ioctl(ksock, KBUS_IOC_SEND, &id);
	if (rv < 0)
		rv = -errno;
	else
		rv = 0;
	if (msg_id)
		*msg_id = id;
	return rv;
}

int kbus_ksock_discard(kbus_ksock_t ksock)
{
	int rv = kbus_ioctl(ksock, KBUS_IOC_DISCARD, NULL);

	return rv < 0 ? rv : 0;
}

/* MSGONLYONCE, VERBOSE, REPORTREPLIERBINDS: 0, 1 or query; the kernel writes
 * back the previous state, which is what we return. */
static int kbus_toggle(kbus_ksock_t ksock, unsigned long request, uint32_t value)
{
	uint32_t v = value;
	int rv;

	if (value != 0 && value != 1 && value != KBUS_TOGGLE_QUERY)
		return -EINVAL;
	rv = kbus_ioctl(ksock, request, &v);
	if (rv < 0)
		return rv;
	return v ? 1 : 0;
}

int kbus_ksock_only_once(kbus_ksock_t ksock, uint32_t request)
{
	return kbus_toggle(ksock, KBUS_IOC_MSGONLYONCE, request);
}

int kbus_ksock_report_replier_binds(kbus_ksock_t ksock, uint32_t request)
{
	return kbus_toggle(ksock, KBUS_IOC_REPORTREPLIERBINDS, request);
}

int kbus_ksock_kernel_module_verbose(kbus_ksock_t ksock, uint32_t request)
{
	return kbus_toggle(ksock, KBUS_IOC_VERBOSE, request);
}

int kbus_ksock_max_message_size(kbus_ksock_t ksock, uint32_t *max_bytes)
{
	int rv = kbus_ioctl_u32(ksock, KBUS_IOC_MAXMSGSIZE, max_bytes);

	return rv < 0 ? rv : 0;
}

int kbus_ksock_new_device(kbus_ksock_t ksock, uint32_t *device_number)
{
	int rv;

	if (!device_number)
		return -EINVAL;
	*device_number = 0;
	rv = kbus_ioctl_u32(ksock, KBUS_IOC_NEWDEVICE, device_number);
	return rv < 0 ? rv : 0;
}

int kbus_wait_for_message_timeout(kbus_ksock_t ksock, int wait_for, int timeout_ms)
{
	struct pollfd fds[1];
	int rv, ready = 0;

	if (!(wait_for & (KBUS_KSOCK_READABLE | KBUS_KSOCK_WRITABLE)))
		return -EINVAL;
	fds[0].fd = ksock;
	fds[0].events = 0;
	fds[0].revents = 0;
	if (wait_for & KBUS_KSOCK_READABLE)
		fds[0].events |= POLLIN;
	if (wait_for & KBUS_KSOCK_WRITABLE)
		fds[0].events |= POLLOUT;
	rv = poll(fds, 1, timeout_ms < 0 ? -1 : timeout_ms);
	if (rv < 0)
		return -errno;
	if (rv == 0)
		return 0;
	if (fds[0].revents & POLLNVAL)
		return -EBADF;
	if ((wait_for & KBUS_KSOCK_READABLE) && (fds[0].revents & POLLIN))
		ready |= KBUS_KSOCK_READABLE;
	if ((wait_for & KBUS_KSOCK_WRITABLE) && (fds[0].revents & POLLOUT))
		ready |= KBUS_KSOCK_WRITABLE;
	if (!ready)
		return -EIO;	/* POLLERR/POLLHUP: KBUS never reports them */
	return ready;
}

int kbus_wait_for_message(kbus_ksock_t ksock, int wait_for)
{
	return kbus_wait_for_message_timeout(ksock, wait_for, -1);
}

/*
 * 0 if the msg_len bytes at buf are one whole entire message as KBUS gives
 * it: both guards, no name or data pointer, a name of 1 or more bytes
 * followed by its NUL, lengths that add up to exactly msg_len, and the
 * final end guard. -EBADMSG otherwise.
 */
static int kbus_check_entire(const unsigned char *buf, size_t msg_len)
{
	kbus_message_t hdr;
	uint32_t guard;
	uint64_t end;

	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.start_guard != KBUS_MSG_START_GUARD || hdr.end_guard != KBUS_MSG_END_GUARD)
		return -EBADMSG;
	if (hdr.name || hdr.data || hdr.name_len == 0)
		return -EBADMSG;
	if (KBUS_ENTIRE_MSG_LEN(hdr.name_len, hdr.data_len) != (uint64_t)msg_len)
		return -EBADMSG;
	if (buf[sizeof(kbus_entire_message_t) + hdr.name_len] != '\0')
		return -EBADMSG;
	end = 4 * (uint64_t)KBUS_ENTIRE_MSG_END_GUARD_INDEX(hdr.name_len, hdr.data_len);
	memcpy(&guard, buf + sizeof(kbus_entire_message_t) + end, sizeof(guard));
	if (guard != KBUS_MSG_END_GUARD)
		return -EBADMSG;
	return 0;
}

int kbus_ksock_read_msg(kbus_ksock_t ksock, kbus_message_t **msg, size_t msg_len)
{
	unsigned char *buf;
	size_t got = 0;
	int retries = 0;

	if (!msg)
		return -EINVAL;
	*msg = NULL;
	if (msg_len < sizeof(kbus_message_t))
		return -EINVAL;
	buf = malloc(msg_len);
	if (!buf)
		return -ENOMEM;
	while (got < msg_len) {
		ssize_t n = read(ksock, buf + got, msg_len - got);

		if (n < 0) {
			int err = errno;

			if ((err == EINTR || err == EAGAIN) && ++retries < KBUS_LOCK_RETRIES)
				continue;
			free(buf);
			return -err;
		}
		if (n == 0) {
			/* nothing (more) to read: no message, or a short one */
			free(buf);
			return -EBADMSG;
		}
		got += (size_t)n;
	}
	if (kbus_check_entire(buf, msg_len) < 0) {
		free(buf);
		return -EBADMSG;
	}
	*msg = (kbus_message_t *)buf;
	return 0;
}

int kbus_ksock_read_next_msg(kbus_ksock_t ksock, kbus_message_t **msg)
{
	uint32_t len = 0;
	int rv;

	if (!msg)
		return -EINVAL;
	*msg = NULL;
	rv = kbus_ksock_next_msg(ksock, &len);
	if (rv < 0)
		return rv;
	if (rv == 0 || len == 0)
		return 0;
	return kbus_ksock_read_msg(ksock, msg, len);
}

int kbus_ksock_write_data(kbus_ksock_t ksock, const uint8_t *data, size_t data_len)
{
	size_t done = 0;
	int retries = 0;

	if (!data && data_len)
		return -EINVAL;
	while (done < data_len) {
		ssize_t n = write(ksock, data + done, data_len - done);

		if (n < 0) {
			int err = errno;

			/* EAGAIN: KBUS was interrupted waiting for the device
			 * lock (a write never waits for anything else) */
			if ((err == EINTR || err == EAGAIN) && ++retries < KBUS_LOCK_RETRIES)
				continue;
			return -err;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int kbus_ksock_write_msg(kbus_ksock_t ksock, const kbus_message_t *msg)
{
	int len;

	if (!msg)
		return -EINVAL;
	len = kbus_msg_sizeof(msg);
	if (len < 0)
		return len;
	return kbus_ksock_write_data(ksock, (const uint8_t *)msg, (size_t)len);
}

int kbus_ksock_send_msg(kbus_ksock_t ksock, const kbus_message_t *msg, kbus_msg_id_t *msg_id)
{
	int rv = kbus_ksock_write_msg(ksock, msg);

	if (rv < 0)
		return rv;
	return kbus_ksock_send(ksock, msg_id);
}
