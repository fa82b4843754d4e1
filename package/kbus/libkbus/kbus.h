/* SPDX-License-Identifier: MIT */
/**
 * @file kbus.h
 * @brief libkbus: the C library for the KBUS kernel message bus.
 *
 * Installed as `<prefix>/include/kbus/kbus.h`; include it as
 * `#include <kbus/kbus.h>` (pkg-config: `pkg-config --cflags --libs libkbus`).
 * It includes the kernel ABI header `linux/kbus_defns.h`, installed next to
 * it as `<prefix>/include/kbus/linux/kbus_defns.h`, which defines the message
 * layout (`struct kbus_message_header`, ...), the flag bits `KBUS_BIT_*`, the
 * size macros `KBUS_ENTIRE_MSG_LEN()` etc. and the accessors
 * kbus_msg_name_ptr() and kbus_msg_data_ptr().
 *
 * Conventions:
 *  - Every function returning `int` returns 0 (or a documented non-negative
 *    value) on success and a **negative errno value** (`-EINVAL`, ...) on
 *    failure; errno itself is not part of the interface.
 *  - Every function is non-blocking except kbus_wait_for_message() and
 *    kbus_wait_for_message_timeout().
 *  - A Ksock (`kbus_ksock_t`) is a plain file descriptor on `/dev/kbus<N>`:
 *    it can be passed to poll(2)/select(2) and is closed by
 *    kbus_ksock_close(). It is opened close-on-exec (`O_CLOEXEC`), so a
 *    child that runs another program (popen(3), system(3), exec) does not
 *    keep it, nor its bindings, alive; to hand one over on purpose, clear
 *    `FD_CLOEXEC` with fcntl(2).
 *  - Messages are "pointy" (the header points to a name and data owned by
 *    the caller) or "entire" (one malloc()ed block: header, padded name,
 *    padded data, end guard). Messages read from a Ksock are always entire.
 *    Always use kbus_msg_name_ptr() and kbus_msg_data_ptr() to get at the
 *    name and data: the raw `name`/`data` fields are NULL in entire messages.
 *
 * Differences from the original libkbus (https://github.com/kynesim/kbus;
 * docs/spec-deviations.md, 18.22):
 *  - kbus_ksock_only_once(), kbus_ksock_report_replier_binds() and
 *    kbus_ksock_kernel_module_verbose() return the previous state (0 or 1),
 *    not 0: callers that treated any non-zero result as an error must test
 *    for `< 0` instead.
 *  - kbus_ksock_read_msg() returns a negative errno on every error.
 *  - kbus_msg_sizeof() gives the right size for entire messages.
 *  - The stateful-request creators set KBUS_BIT_WANT_A_REPLY themselves.
 *  - The print functions show bytes >= 0x80 as `\x80`, never sign-extended,
 *    and a backslash as `\\`.
 *  - kbus_ksock_open() opens close-on-exec; kbus_ksock_read_msg() checks
 *    what it read; entire-message sizes are computed in 64 bits.
 *  - Kept on purpose: kbus_ksock_next_msg() returns 1 (not 0) when it popped
 *    a message, as existing users rely on it.
 *
 * Threads: libkbus has no global or static state and takes no locks; each
 * function works on its arguments only, so threads may call it freely on
 * different Ksocks and different messages. A Ksock itself is not safe to
 * share without a lock: KBUS keeps one message being written and one being
 * read per Ksock, so two threads that write (kbus_ksock_send_msg() is a
 * write then a SEND) or read (kbus_ksock_read_next_msg() is a NEXTMSG then
 * reads) on the same Ksock at once mix up their messages. Use one Ksock per
 * thread, or hold a lock across each whole send and each whole receive.
 * Only kbus_wait_for_message*() may run beside another thread's use of the
 * same Ksock. A message may be read by several threads at once, but not
 * changed or freed while another uses it. The print functions write with
 * several stdio calls, so lines printed to one stream by several threads
 * at once can interleave.
 *
 * The header is usable from C++ (all declarations are `extern "C"`), and
 * with it the ABI header: both compile cleanly with `-Wcast-qual` and, in
 * C++, `-pedantic-errors`. The ABI header defines no macro of its own
 * outside the `KBUS_` prefix.
 */
#ifndef KBUS_KBUS_H
#define KBUS_KBUS_H

#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <assert.h>

#include "linux/kbus_defns.h"

#ifdef __cplusplus
extern "C" {
#endif

/** libkbus version: 1.0.0 (the shared library's soname is libkbus.so.1). */
#define LIBKBUS_VERSION_MAJOR 1
#define LIBKBUS_VERSION_MINOR 0
#define LIBKBUS_VERSION_PATCH 0

/** A message id: `{network_id, serial_num}`; `{0,0}` means "no id". */
typedef struct kbus_msg_id kbus_msg_id_t;
/** Limpet linkage (`orig_from`, `final_to` header fields). */
typedef struct kbus_orig_from kbus_orig_from_t;
/** Argument of the BIND and UNBIND ioctls. */
typedef struct kbus_bind_request kbus_bind_request_t;
/** Argument of the REPLIER ioctl. */
typedef struct kbus_bind_query kbus_bind_query_t;
/** A message header: a pointy message, or (by cast) an entire one. */
typedef struct kbus_message_header kbus_message_t;
/** An entire message: header followed by name, data and end guard. */
typedef struct kbus_entire_message kbus_entire_message_t;
/** The data of a `$.KBUS.ReplierBindEvent` message. */
typedef struct kbus_replier_bind_event_data kbus_replier_bind_event_data_t;
/** A Ksock: a file descriptor open on a KBUS device. */
typedef int kbus_ksock_t;

/** kbus_wait_for_message(): wait until a message can be read. */
#define KBUS_KSOCK_READABLE 1
/** kbus_wait_for_message(): wait until a message can be written/sent. */
#define KBUS_KSOCK_WRITABLE 2

/** kbus_msg_print2(): show at most the first 20 data bytes, then `...`. */
#define KBUS_MSG_PRINT_FLAGS_ABBREVIATE (1 << 0)

/** The "just ask" request of the on/off toggles (only once, verbose, ...). */
#define KBUS_TOGGLE_QUERY 0xFFFFFFFFu

/* ======================================================================
 * Ksock functions
 * ====================================================================== */

/**
 * @brief Open the KBUS device `/dev/kbus<device_number>`.
 * @param device_number the device (0 for `/dev/kbus0`).
 * @param flags open(2) flags; only the access mode (O_RDONLY, O_WRONLY or
 *        O_RDWR) is used, the other bits are ignored: the Ksock is always
 *        opened with O_CLOEXEC. A read-only Ksock can bind and receive but
 *        not send.
 * @return the Ksock (a file descriptor, >= 0), or -errno (-ENOENT if there
 *         is no such device).
 */
kbus_ksock_t kbus_ksock_open(uint32_t device_number, int flags);

/**
 * @brief Open a KBUS device by path, e.g. `"/dev/kbus1"`.
 * @param device_name the device node's path.
 * @param flags as for kbus_ksock_open().
 * @return the Ksock, or -errno (-EINVAL if @p device_name is NULL).
 */
kbus_ksock_t kbus_ksock_open_by_name(const char *device_name, int flags);

/**
 * @brief Close a Ksock (which removes all its bindings).
 * @return 0 or -errno.
 */
int kbus_ksock_close(kbus_ksock_t ksock);

/**
 * @brief Bind to a message name (or wildcard `$.A.*`, `$.A.%`).
 * @param name a NUL-terminated message name.
 * @param is_replier non-zero to bind as the (only) replier for @p name,
 *        0 to bind as a listener.
 * @return 0 or -errno (-EBADMSG bad name, -EADDRINUSE replier already
 *         bound, -ENAMETOOLONG, -EAGAIN, ...).
 */
int kbus_ksock_bind(kbus_ksock_t ksock, const char *name, uint32_t is_replier);

/**
 * @brief Remove a binding made by kbus_ksock_bind() with the same arguments.
 * @return 0 or -errno (-EINVAL if there is no such binding).
 */
int kbus_ksock_unbind(kbus_ksock_t ksock, const char *name, uint32_t is_replier);

/**
 * @brief Get this Ksock's id (unique on its device, >= 1).
 * @param[out] ksock_id receives the id.
 * @return 0 or -errno.
 */
int kbus_ksock_id(kbus_ksock_t ksock, uint32_t *ksock_id);

/**
 * @brief Pop the next message from the queue, ready to be read.
 *
 * Any message that was being read is abandoned. The popped message's bytes
 * are then read with kbus_ksock_read_msg() (or read(2)).
 *
 * @param[out] message_length receives the message's (entire) length, 0 if
 *             the queue was empty.
 * @return **1** if a message was popped (kept from the original library:
 *         users rely on it), 0 if there was none, or -errno.
 */
int kbus_ksock_next_msg(kbus_ksock_t ksock, uint32_t *message_length);

/**
 * @brief How many bytes of the message being read have not been read yet.
 * @param[out] len_left receives the count (0 if no message is being read).
 * @return 0 or -errno.
 */
int kbus_ksock_len_left(kbus_ksock_t ksock, uint32_t *len_left);

/**
 * @brief The id of the last message this Ksock sent (or tried to send).
 * @param[out] msg_id receives the id, `{0,0}` if none.
 * @return 0 or -errno.
 */
int kbus_ksock_last_msg_id(kbus_ksock_t ksock, kbus_msg_id_t *msg_id);

/**
 * @brief Find the Ksock bound as replier to exactly @p name.
 *
 * No wildcard matching: the replier bound to `$.A.*` is found by asking
 * about `"$.A.*"`, not about `"$.A.B"`.
 *
 * @param name the name (or wildcard string) to look up.
 * @param[out] replier_ksock_id receives the replier's Ksock id, 0 if none.
 * @return 0 (whether or not a replier was found) or -errno.
 */
int kbus_ksock_find_replier(kbus_ksock_t ksock, const char *name,
			    uint32_t *replier_ksock_id);

/**
 * @brief Query or set the maximum number of messages in this Ksock's queue.
 * @param[in,out] max_messages in: the new limit, or 0 to just ask;
 *                out: the limit now in force.
 * @return 0 or -errno.
 */
int kbus_ksock_max_messages(kbus_ksock_t ksock, uint32_t *max_messages);

/**
 * @brief The number of messages waiting in this Ksock's queue.
 * @param[out] num_messages receives the count.
 * @return 0 or -errno.
 */
int kbus_ksock_num_messages(kbus_ksock_t ksock, uint32_t *num_messages);

/**
 * @brief The number of requests this Ksock has received (as replier) and
 *        not yet replied to.
 * @param[out] num_messages receives the count.
 * @return 0 or -errno.
 */
int kbus_ksock_num_unreplied_to(kbus_ksock_t ksock, uint32_t *num_messages);

/**
 * @brief Who sent the message being read: after kbus_ksock_next_msg() (or
 *        kbus_ksock_read_next_msg(), which leaves it current), the sender's
 *        effective uid and gid and its process id as they were when it was
 *        sent, as the kernel recorded them. A message KBUS made itself has
 *        KBUS_CREDS_SYNTHETIC in creds->flags (docs/policy.md).
 * @param[out] creds receives them.
 * @return 0 or -errno: -ENOMSG no message is being read.
 */
int kbus_ksock_msg_creds(kbus_ksock_t ksock, struct kbus_msg_creds *creds);

/**
 * @brief How many messages the device's access policy has withheld from
 *        this Ksock as a listener (docs/policy.md).
 * @param[out] count receives the number.
 * @return 0 or -errno.
 */
int kbus_ksock_num_filtered(kbus_ksock_t ksock, uint32_t *count);

/**
 * @brief Switch batch reading on (1) or off (0) for this Ksock: with it on,
 *        kbus_ksock_read_batch() takes several whole messages per system
 *        call (the BATCHREAD ioctl; not in the original KBUS).
 * @return the previous state (0 or 1), or -errno.
 */
int kbus_ksock_set_batch_read(kbus_ksock_t ksock, int on);

/**
 * @brief With batch reading on: pop as many whole messages as fit in buf
 *        (entire form, one after the other; walk them with
 *        kbus_batch_next()). Nothing is consumed that is not returned.
 * @return the number of bytes read (0: no message), or -errno: -EMSGSIZE
 *         the next message does not fit in len (it stays queued: use
 *         kbus_ksock_next_msg() and kbus_ksock_read_msg() for it).
 */
ssize_t kbus_ksock_read_batch(kbus_ksock_t ksock, void *buf, size_t len);

/**
 * @brief The message at *offset in a batch (len bytes from
 *        kbus_ksock_read_batch()), copied (messages in a batch are only
 *        4-byte aligned), moving *offset past it.
 * @param[out] msg receives the message (free with kbus_msg_delete()), or
 *             NULL at the end of the batch.
 * @return 0, -EBADMSG if what is at *offset is not a whole, well-formed
 *         message, or -ENOMEM.
 */
int kbus_batch_next(const void *buf, size_t len, size_t *offset,
		    kbus_message_t **msg);

/**
 * @brief Send the message written so far (kbus_ksock_write_msg()).
 * @param[out] msg_id receives the message's id (also on -EAGAIN); may be NULL.
 * @return 0 or -errno: -ENOMSG nothing written, -EADDRNOTAVAIL no replier
 *         for a request, -EAGAIN (ALL_OR_WAIT: the send is pending, poll for
 *         KBUS_KSOCK_WRITABLE), -EBUSY, -ENOLCK, -EPIPE, -ECONNREFUSED, ...
 */
int kbus_ksock_send(kbus_ksock_t ksock, kbus_msg_id_t *msg_id);

/**
 * @brief Throw away the message being written (or a pending send).
 * @return 0 or -errno.
 */
int kbus_ksock_discard(kbus_ksock_t ksock);

/**
 * @brief Receive each message at most once, however many bindings match.
 * @param request 1 = on, 0 = off, KBUS_TOGGLE_QUERY = just ask.
 * @return the previous state (0 or 1), or -errno (-EINVAL for any other
 *         @p request, without calling the kernel).
 */
int kbus_ksock_only_once(kbus_ksock_t ksock, uint32_t request);

/**
 * @brief Turn replier bind/unbind event reporting on or off (device-wide).
 *
 * When turned on, KBUS also queues on this Ksock one bind event for every
 * replier binding already present.
 *
 * @param request 1 = on, 0 = off, KBUS_TOGGLE_QUERY = just ask.
 * @return the previous state (0 or 1), or -errno (-EINVAL bad @p request,
 *         -EBUSY this Ksock's queue filled up with the snapshot events).
 */
int kbus_ksock_report_replier_binds(kbus_ksock_t ksock, uint32_t request);

/**
 * @brief Turn the kernel module's verbose logging on or off (device-wide).
 * @param request 1 = on, 0 = off, KBUS_TOGGLE_QUERY = just ask.
 * @return the previous state (0 or 1), or -errno (-EINVAL bad @p request).
 */
int kbus_ksock_kernel_module_verbose(kbus_ksock_t ksock, uint32_t request);

/**
 * @brief Query or set the device's maximum message size.
 *
 * Sizes are entire-message lengths (KBUS_ENTIRE_MSG_LEN(), header included).
 *
 * @param[in,out] max_bytes in: 0 = query the current maximum, 1 = query the
 *                absolute ceiling, else the new maximum (100 .. ceiling);
 *                out: the value queried or set.
 * @return 0 or -errno (-EINVAL for a size out of range).
 */
int kbus_ksock_max_message_size(kbus_ksock_t ksock, uint32_t *max_bytes);

/**
 * @brief Create a new KBUS device, `/dev/kbus<N>`.
 *
 * The device node may appear a little later (udev/mdev).
 *
 * @param[out] device_number receives N.
 * @return 0 or -errno (-EINVAL when the device limit is reached).
 */
int kbus_ksock_new_device(kbus_ksock_t ksock, uint32_t *device_number);

/**
 * @brief Wait (forever) until the Ksock is readable and/or writable.
 * @param wait_for KBUS_KSOCK_READABLE, KBUS_KSOCK_WRITABLE or both OR-ed.
 * @return the subset of @p wait_for that is ready (> 0), or -errno
 *         (-EINTR if a signal arrived, -EINVAL if @p wait_for is 0).
 */
int kbus_wait_for_message(kbus_ksock_t ksock, int wait_for);

/**
 * @brief Wait at most @p timeout_ms milliseconds until the Ksock is readable
 *        and/or writable.
 *
 * Polling for KBUS_KSOCK_WRITABLE while an ALL_OR_WAIT send is pending
 * retries that send (writable = it is no longer pending).
 *
 * @param wait_for KBUS_KSOCK_READABLE, KBUS_KSOCK_WRITABLE or both OR-ed.
 * @param timeout_ms the timeout; 0 = just check, negative = forever.
 * @return the subset of @p wait_for that is ready (> 0), 0 on timeout, or
 *         -errno (-EINTR if a signal arrived, -EINVAL if @p wait_for is 0).
 */
int kbus_wait_for_message_timeout(kbus_ksock_t ksock, int wait_for, int timeout_ms);

/**
 * @brief Read the popped message (kbus_ksock_next_msg()) into a new buffer.
 *
 * Allocates @p msg_len bytes and reads until they are all read (retrying
 * reads that KBUS interrupted), then checks that they are exactly one
 * whole entire message: both guards and the final end guard, NULL name and
 * data pointers, a name followed by its NUL, and `name_len` and `data_len`
 * that add up to @p msg_len (KBUS_ENTIRE_MSG_LEN()). So the name and data
 * of a message it returns lie inside it.
 *
 * @param[out] msg receives the entire message, to be freed with
 *             kbus_msg_delete(); NULL on error.
 * @param msg_len the length kbus_ksock_next_msg() gave.
 * @return 0 or -errno: -EBADMSG if there was nothing (or too little) to
 *         read, or what was read is not such a message (a @p msg_len other
 *         than the message's length, for one), -EINVAL if @p msg_len is
 *         smaller than a header, -ENOMEM.
 */
int kbus_ksock_read_msg(kbus_ksock_t ksock, kbus_message_t **msg, size_t msg_len);

/**
 * @brief Pop and read the next message, if any.
 * @param[out] msg receives the entire message (free with kbus_msg_delete()),
 *             or NULL if the queue was empty.
 * @return 0 (check @p *msg) or -errno.
 */
int kbus_ksock_read_next_msg(kbus_ksock_t ksock, kbus_message_t **msg);

/**
 * @brief Write a whole message to the Ksock, without sending it.
 *
 * Writes KBUS_ENTIRE_MSG_LEN() bytes for an entire message, the header only
 * for a pointy one. Follow with kbus_ksock_send().
 *
 * @return 0 or -errno (-EALREADY while a send is pending, -EMSGSIZE,
 *         -EINVAL, -EBADMSG, ...).
 */
int kbus_ksock_write_msg(kbus_ksock_t ksock, const kbus_message_t *msg);

/**
 * @brief Write raw bytes to the Ksock (part of a message being composed).
 *
 * Loops over partial writes, and retries writes that KBUS interrupted
 * (EINTR, and EAGAIN: waiting for the device lock was interrupted), a
 * thousand times at most.
 *
 * @return 0 or -errno.
 */
int kbus_ksock_write_data(kbus_ksock_t ksock, const uint8_t *data, size_t data_len);

/**
 * @brief Write a message and send it: the normal way to send.
 *
 * For a pointy message, its name and data must stay valid until this
 * returns; KBUS has its own copy afterwards.
 *
 * @param[out] msg_id receives the id given to the message (may be NULL).
 * @return 0 or -errno, as kbus_ksock_write_msg() and kbus_ksock_send().
 */
int kbus_ksock_send_msg(kbus_ksock_t ksock, const kbus_message_t *msg,
			kbus_msg_id_t *msg_id);

/* ======================================================================
 * Message functions
 *
 * The creators allocate with malloc(), zero the header, set both guards,
 * the flags and lengths, and return 0 or -errno (-ENOMEM, -EINVAL for a
 * NULL @p msg, a NULL name or a zero name length, or NULL data with a
 * non-zero data length, -EMSGSIZE for an entire message longer than
 * INT32_MAX bytes); @p *msg is NULL on failure. "Pointy" creators keep
 * pointers to the caller's name and data (keep them alive until the
 * message is sent and free the message with kbus_msg_delete()); "entire"
 * creators copy them into one self-contained block.
 * ====================================================================== */

/**
 * @brief Create a pointy message (an announcement unless @p flags say
 *        otherwise).
 * @param[out] msg receives the message.
 * @param name the message name (need not be NUL-terminated, but the byte
 *        after it must be readable: KBUS copies `name_len + 1` bytes).
 * @param name_len the name's length in bytes (> 0).
 * @param data the data, or NULL when @p data_len is 0.
 * @param data_len the data's length.
 * @param flags the message flags (KBUS_BIT_*; bits 16-31 are free for
 *        applications).
 * @return 0 or -errno.
 */
int kbus_msg_create(kbus_message_t **msg, const char *name, uint32_t name_len,
		    const void *data, uint32_t data_len, uint32_t flags);

/**
 * @brief Create an entire message (copies @p name and @p data).
 * @return 0 or -errno. Parameters as kbus_msg_create().
 */
int kbus_msg_create_entire(kbus_message_t **msg, const char *name, uint32_t name_len,
			   const void *data, uint32_t data_len, uint32_t flags);

/**
 * @brief Create a pointy request: kbus_msg_create() with
 *        KBUS_BIT_WANT_A_REPLY added to @p flags.
 * @return 0 or -errno.
 */
int kbus_msg_create_request(kbus_message_t **msg, const char *name, uint32_t name_len,
			    const void *data, uint32_t data_len, uint32_t flags);

/**
 * @brief Create an entire request: kbus_msg_create_entire() with
 *        KBUS_BIT_WANT_A_REPLY added to @p flags.
 * @return 0 or -errno.
 */
int kbus_msg_create_entire_request(kbus_message_t **msg, const char *name,
				   uint32_t name_len, const void *data,
				   uint32_t data_len, uint32_t flags);

/**
 * @brief Create a pointy reply to a request we were asked to answer.
 *
 * The reply's name points into @p in_reply_to (keep that message alive
 * until the reply is sent); `to` = the request's `from`, `in_reply_to` =
 * the request's id.
 *
 * @param[out] msg receives the reply.
 * @param in_reply_to the request, as received (it must have both
 *        KBUS_BIT_WANT_A_REPLY and KBUS_BIT_WANT_YOU_TO_REPLY).
 * @param data the reply's data, or NULL when @p data_len is 0 (not copied).
 * @param data_len the data's length.
 * @param flags the reply's flags.
 * @return 0 or -errno (-EBADMSG if @p in_reply_to is not a request for us).
 */
int kbus_msg_create_reply_to(kbus_message_t **msg, const kbus_message_t *in_reply_to,
			     const void *data, uint32_t data_len, uint32_t flags);

/**
 * @brief Create an entire (self-contained) reply: as
 *        kbus_msg_create_reply_to(), but the name and data are copied.
 * @return 0 or -errno.
 */
int kbus_msg_create_entire_reply_to(kbus_message_t **msg,
				    const kbus_message_t *in_reply_to,
				    const void *data, uint32_t data_len, uint32_t flags);

/**
 * @brief Create a pointy stateful request: a request that must go to the
 *        same replier as an earlier conversation.
 *
 * If @p earlier_msg is a reply, `to` = its `from` and `final_to` = its
 * `orig_from`; if it is a stateful request, its `to` and `final_to` are
 * copied. KBUS_BIT_WANT_A_REPLY is added to @p flags (unlike the original
 * library). Sending fails with -EPIPE if that replier has gone.
 *
 * @param[out] msg receives the request.
 * @param earlier_msg a reply, or a stateful request.
 * @return 0 or -errno (-EBADMSG if @p earlier_msg is neither).
 *         Other parameters as kbus_msg_create().
 */
int kbus_msg_create_stateful_request(kbus_message_t **msg,
				     const kbus_message_t *earlier_msg,
				     const char *name, uint32_t name_len,
				     const void *data, uint32_t data_len, uint32_t flags);

/**
 * @brief Create an entire stateful request: as
 *        kbus_msg_create_stateful_request(), with name and data copied.
 * @return 0 or -errno.
 */
int kbus_msg_create_entire_stateful_request(kbus_message_t **msg,
					    const kbus_message_t *earlier_msg,
					    const char *name, uint32_t name_len,
					    const void *data, uint32_t data_len,
					    uint32_t flags);

/**
 * @brief Make an entire (self-contained) copy of any message, pointy or
 *        entire; all header fields (ids, from, to, ...) are kept.
 * @param[out] copy receives the copy (free with kbus_msg_delete()).
 * @param msg the message to copy.
 * @return 0 or -errno (-ENOMEM, -EINVAL for NULL arguments).
 */
int kbus_msg_copy_entire(kbus_message_t **copy, const kbus_message_t *msg);

/**
 * @brief Free a message structure (not the name/data a pointy message points
 *        to) and set @p *msg_p to NULL. Does nothing if either is NULL.
 */
void kbus_msg_delete(kbus_message_t **msg_p);

/**
 * @brief Free a message and, if it is pointy, also its `name` and `data`
 *        (which must then have been malloc()ed); sets @p *msg_p to NULL.
 */
void kbus_msg_delete_all(kbus_message_t **msg_p);

/**
 * @brief The size of the message structure: the header size for a pointy
 *        message, KBUS_ENTIRE_MSG_LEN(name_len, data_len) for an entire one
 *        (computed in 64 bits), or -EMSGSIZE if that is over INT32_MAX.
 */
int kbus_msg_sizeof(const kbus_message_t *msg);

/**
 * @brief Decode a `$.KBUS.ReplierBindEvent` message that KBUS made (the
 *        SYNTHETIC flag: a client cannot forge one).
 * @param msg the event message.
 * @param[out] is_bind receives 1 for a bind, 0 for an unbind (may be NULL).
 * @param[out] binder receives the Ksock id that (un)bound (may be NULL).
 * @param[out] name receives a malloc()ed NUL-terminated copy of the
 *             (un)bound name (may be NULL; free it with free()).
 * @return 0 or -errno (-EBADMSG if @p msg is not a `$.KBUS.ReplierBindEvent`
 *         or its data is missing or malformed, -EPERM if KBUS did not make
 *         it (no SYNTHETIC flag: sent by a client of a module loaded with
 *         kbus_compat_open=1), -ENOMEM).
 */
int kbus_msg_split_bind_event(const kbus_message_t *msg, uint32_t *is_bind,
			      uint32_t *binder, char **name);

/**
 * @brief Print a one-line summary of a message (no newline), with the data
 *        abbreviated: kbus_msg_print2(stream, msg,
 *        KBUS_MSG_PRINT_FLAGS_ABBREVIATE).
 */
void kbus_msg_print(FILE *stream, const kbus_message_t *msg);

/**
 * @brief Print a one-line summary of a message (no newline).
 *
 * Format: `<KIND` then, each only when non-zero, ` 'name'` (not for bind
 * events), ` id=[n:s]`, ` to=N`, ` from=N`, ` orig_from=(n,l)`,
 * ` final_to=(n,l)`, ` in_reply_to=[n:s]`, ` flags=0xX` followed by
 * ` REQ YOU SYN URG aFL aWT` for the bits set, ` data=` and the data (bytes
 * 0x20-0x7e as they are but the backslash, which is `\\`, others as `\xNN`,
 * so the text `\x00` and a NUL byte print differently; the name likewise;
 * for a bind event
 * ` [Bind 'name' for N]` or ` [Unbind 'name' for N]`), then `>`. KIND is
 * Status, Reply, Request, ReplierBindEvent or Announcement. Example:
 * `<Request '$.Q' id=[0:6] from=1 flags=0x3 REQ YOU data=hello>`.
 *
 * @param flags KBUS_MSG_PRINT_FLAGS_ABBREVIATE to show at most 20 data
 *        bytes followed by `...` when there are more; 0 for all of them.
 */
void kbus_msg_print2(FILE *stream, const kbus_message_t *msg, unsigned int flags);

/**
 * @brief Print a multi-line dump of a message to stdout: every header
 *        field, the name, and (if @p dump_data) the data as text and hex
 *        and the whole message as hex.
 */
void kbus_msg_dump(const kbus_message_t *msg, int dump_data);

/**
 * @brief As kbus_msg_dump(), to @p stream.
 */
void kbus_msg_fdump(FILE *stream, const kbus_message_t *msg, int dump_data);

/* ======================================================================
 * Inline helpers
 * ====================================================================== */

/** @brief Non-zero if @p msg is entire (its `name` pointer is NULL). */
static inline int kbus_msg_is_entire(const kbus_message_t *msg)
{
	return msg->name == NULL;
}

/** @brief Non-zero if @p msg is a reply (`in_reply_to` is not `{0,0}`). */
static inline int kbus_msg_is_reply(const kbus_message_t *msg)
{
	return msg->in_reply_to.network_id != 0 || msg->in_reply_to.serial_num != 0;
}

/** @brief Non-zero if @p msg is a request (KBUS_BIT_WANT_A_REPLY). */
static inline int kbus_msg_is_request(const kbus_message_t *msg)
{
	return (msg->flags & KBUS_BIT_WANT_A_REPLY) != 0;
}

/** @brief Non-zero if @p msg is a stateful request (a request with `to`). */
static inline int kbus_msg_is_stateful_request(const kbus_message_t *msg)
{
	return (msg->flags & KBUS_BIT_WANT_A_REPLY) != 0 && msg->to != 0;
}

/** @brief Non-zero if @p msg is a request that we must answer. */
static inline int kbus_msg_wants_us_to_reply(const kbus_message_t *msg)
{
	return (msg->flags & KBUS_BIT_WANT_A_REPLY) != 0 &&
	       (msg->flags & KBUS_BIT_WANT_YOU_TO_REPLY) != 0;
}

/**
 * @brief Non-zero if @p msg is a KBUS status message: a reply whose name
 *        starts with `$.KBUS.` and that KBUS made itself (the SYNTHETIC
 *        flag, which the kernel clears on everything a client sends).  A
 *        `$.KBUS.` reply without it (a client of a module loaded with
 *        kbus_compat_open=1) is an ordinary reply.
 */
static inline int kbus_msg_is_status(const kbus_message_t *msg)
{
	return kbus_msg_is_reply(msg) && (msg->flags & KBUS_BIT_SYNTHETIC) != 0 &&
	       msg->name_len > 7 && strncmp(kbus_msg_name_ptr(msg), "$.KBUS.", 7) == 0;
}

/**
 * @brief Non-zero if @p msg is a `$.KBUS.ReplierBindEvent` that KBUS made
 *        (the SYNTHETIC flag): a client's message of that name (a module
 *        loaded with kbus_compat_open=1) is an ordinary announcement.
 */
static inline int kbus_msg_is_replier_bind_event(const kbus_message_t *msg)
{
	return !kbus_msg_is_reply(msg) && !kbus_msg_is_request(msg) &&
	       (msg->flags & KBUS_BIT_SYNTHETIC) != 0 &&
	       msg->name_len == sizeof(KBUS_MSG_NAME_REPLIER_BIND_EVENT) - 1 &&
	       kbus_msg_name_ptr(msg) != NULL &&
	       memcmp(kbus_msg_name_ptr(msg), KBUS_MSG_NAME_REPLIER_BIND_EVENT,
		      msg->name_len) == 0;
}

/**
 * @brief Compare two message ids: by `network_id`, then `serial_num`.
 * @return -1, 0 or +1.
 */
static inline int kbus_msg_compare_ids(const kbus_msg_id_t *id1, const kbus_msg_id_t *id2)
{
	if (id1->network_id != id2->network_id)
		return id1->network_id < id2->network_id ? -1 : 1;
	if (id1->serial_num != id2->serial_num)
		return id1->serial_num < id2->serial_num ? -1 : 1;
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* KBUS_KBUS_H */
