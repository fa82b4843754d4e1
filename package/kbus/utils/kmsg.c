// SPDX-License-Identifier: MIT
/*
 * kmsg: send, listen to, call and answer KBUS messages from the shell.
 * `kmsg --help` documents the commands, options, output and exit codes.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>

#include <kbus/kbus.h>

#include "common.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_OPEN = 10,
	EXIT_BIND = 11,
	EXIT_SEND = 12,
	EXIT_RECEIVE = 13,
	EXIT_TIMEOUT = 14,
	EXIT_STATUS = 15,
	EXIT_OUTPUT = 16,
};

#define DEFAULT_CALL_TIMEOUT 10.0

static const char usage_text[] =
"Usage: kmsg [OPTIONS] listen NAME...\n"
"       kmsg [OPTIONS] send NAME [DATA]\n"
"       kmsg [OPTIONS] call NAME [DATA]\n"
"       kmsg [OPTIONS] reply NAME [DATA]\n"
"\n"
"Send, listen to, call and answer KBUS messages (/dev/kbusN).\n"
"\n"
"Commands:\n"
"  listen NAME...   bind as a listener to each NAME (wildcards allowed:\n"
"                   '$.A.*' matches every name below $.A, '$.A.%' one\n"
"                   level) and print every message received\n"
"  send NAME [DATA] send an announcement and print it (with its id)\n"
"  call NAME [DATA] send a request, wait for its reply and print it\n"
"  reply NAME [DATA]\n"
"                   bind as the replier for NAME (wildcards allowed),\n"
"                   print every request received and answer it with DATA\n"
"                   (no data if DATA is not given; see --echo)\n"
"\n"
"Options (anywhere on the line; `--` ends them):\n"
"  -b, --bus N          use /dev/kbusN (default 0; `-bus N` works too)\n"
"  -c, --count N        listen: exit after N messages; reply: exit after\n"
"                       answering N requests (default: run until killed)\n"
"  -t, --timeout SECS   call: wait at most SECS for the reply, and for full\n"
"                       queues with --all-or-wait (default 10);\n"
"                       listen, reply: stop after SECS (exit 0, or 14 if\n"
"                       --count was given and not reached); send: wait at\n"
"                       most SECS for full queues with --all-or-wait.\n"
"                       Fractions allowed; 0 = no limit\n"
"  -x, --data-hex       DATA is hex digit pairs (\"48656c6c6f\"; spaces,\n"
"                       colons and a 0x prefix are ignored)\n"
"  -f, --data-file FILE take the data from FILE (`-` = standard input)\n"
"                       instead of DATA\n"
"  -z, --nul            append a NUL byte to the data\n"
"  -e, --echo           reply: answer each request with its own data\n"
"  -u, --urgent         send, call, reply: set the URGENT flag (the message\n"
"                       goes to the front of the recipients' queues)\n"
"  -w, --all-or-wait    send, call: if a listener's queue is full, wait\n"
"                       (ALL_OR_WAIT) instead of skipping that listener\n"
"  -F, --all-or-fail    send, call: if a listener's queue is full, fail\n"
"                       (ALL_OR_FAIL, exit 12)\n"
"      --flags N        OR N into the flags of the messages sent (e.g.\n"
"                       0x10000: bits 16-31 belong to applications)\n"
"      --to ID          call: a stateful request, only for the replier with\n"
"                       Ksock id ID (fails with EPIPE if that is not the\n"
"                       current replier)\n"
"  -1, --only-once      listen: receive each message once, even when\n"
"                       several NAMEs match it\n"
"  -m, --max-messages N set this Ksock's queue length (KBUS default 100)\n"
"  -j, --json           print each message as one JSON object per line\n"
"      --full           text form: show all the data (default: the first\n"
"                       20 bytes, then ...)\n"
"      --dump           print a multi-line dump of each message instead\n"
"  -q, --quiet          no progress lines on standard error\n"
"  -v, --verbose        also print on standard error the messages kmsg\n"
"                       sends in `call` and `reply`\n"
"  -h, --help           show this help and exit\n"
"  -V, --version        show the version and exit\n"
"\n"
"Output: standard output gets one line per message: the messages received\n"
"(listen: each one; call: the reply; reply: each request), or the message\n"
"sent (send). Text form (libkbus's kbus_msg_print2()):\n"
"  <Announcement '$.Fred' id=[0:5] from=3 data=Hellow>\n"
"  <Request '$.Q' id=[0:6] from=1 flags=0x3 REQ YOU data=hello>\n"
"KIND is Announcement, Request, Reply, Status or ReplierBindEvent; zero\n"
"fields are left out; data bytes outside 0x20-0x7e are shown as \\xNN.\n"
"JSON form (--json), one object per line with always the same keys:\n"
"  {\"kind\": \"Announcement\", \"name\": \"$.Fred\", \"id\": [0, 5],\n"
"   \"in_reply_to\": null, \"to\": 0, \"from\": 3, \"orig_from\": null,\n"
"   \"final_to\": null, \"flags\": 0, \"flag_names\": [], \"data_len\": 6,\n"
"   \"data\": \"Hellow\", \"data_encoding\": \"text\"}\n"
"ids are [network_id, serial_num] (null when zero), orig_from/final_to\n"
"[network_id, local_id] or null; data is the text when every byte is\n"
"printable ASCII, tab, CR or LF (\"data_encoding\": \"text\"), else lowercase\n"
"hex (\"hex\"); both are null without data. A ReplierBindEvent also has\n"
"\"bind_event\": {\"is_bind\": 1, \"binder\": 3, \"name\": \"$.Fred\"}.\n"
"Progress lines (bound, sent, errors) go to standard error.\n"
"\n"
"Exit codes:\n"
"   0  success\n"
"   1  usage error (bad option, command or argument)\n"
"  10  cannot open the device\n"
"  11  cannot bind (bad name, replier already bound, ...)\n"
"  12  cannot send (no replier, full queue with --all-or-fail, ...)\n"
"  13  error while waiting for or reading a message\n"
"  14  timeout: no reply to `call`, --count not reached, or a send still\n"
"      waiting for full queues\n"
"  15  call: KBUS answered with a status message (e.g.\n"
"      $.KBUS.Replier.GoneAway) instead of a reply\n"
"  16  cannot write to standard output\n"
"\n"
"Examples:\n"
"  kmsg listen '$.*'                       # everything on /dev/kbus0\n"
"  kmsg send '$.Fred' Hellow\n"
"  kmsg --json --count 1 listen '$.Sensors.%'\n"
"  kmsg reply '$.Time.Now' \"$(date)\" &  kmsg call '$.Time.Now'\n"
"  kmsg --data-hex send '$.Bytes' 'de ad be ef'\n";

struct options {
	uint32_t bus;
	uint32_t count;		/* 0 = no limit */
	double timeout;		/* seconds, 0 = no limit */
	int timeout_given;
	int data_hex;
	const char *data_file;
	int nul;
	int echo;
	uint32_t flags;
	uint32_t to;
	int only_once;
	uint32_t max_messages;
	int json;
	int full;
	int dump;
	int quiet;
	int verbose;
};

static struct options opt;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	fputs("kmsg: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kmsg: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kmsg: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry 'kmsg --help'.\n", stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

/* --- data ------------------------------------------------------------------ */

struct buffer {
	unsigned char *bytes;
	size_t len;
	size_t cap;
};

static void buffer_add(struct buffer *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *nb;

		while (b->len + n + 1 > cap)
			cap *= 2;
		nb = realloc(b->bytes, cap);
		if (!nb) {
			complain("out of memory");
			exit(EXIT_USAGE);
		}
		b->bytes = nb;
		b->cap = cap;
	}
	if (n)
		memcpy(b->bytes + b->len, p, n);
	b->len += n;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void parse_hex(struct buffer *out, const unsigned char *text, size_t len)
{
	size_t i = 0;
	int high = -1;

	if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		i = 2;
	for (; i < len; i++) {
		int v;

		if (text[i] == ' ' || text[i] == ':' || text[i] == '\n' || text[i] == '\t' ||
		    text[i] == '\r')
			continue;
		v = hex_value(text[i]);
		if (v < 0)
			usage_error("--data-hex: '%c' is not a hex digit", text[i]);
		if (high < 0) {
			high = v;
		} else {
			unsigned char byte = (unsigned char)(high << 4 | v);

			buffer_add(out, &byte, 1);
			high = -1;
		}
	}
	if (high >= 0)
		usage_error("--data-hex: odd number of hex digits");
}

static void read_file(struct buffer *out, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	unsigned char chunk[4096];
	size_t n;

	if (!f)
		usage_error("cannot open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buffer_add(out, chunk, n);
	if (ferror(f))
		usage_error("cannot read %s", path);
	if (f != stdin)
		fclose(f);
}

/* The data of the messages sent: from DATA or --data-file, maybe hex. */
static void make_data(struct buffer *data, const char *arg)
{
	struct buffer raw = { 0 };

	if (opt.data_file && arg)
		usage_error("give either DATA or --data-file, not both");
	if (opt.data_file)
		read_file(&raw, opt.data_file);
	else if (arg)
		buffer_add(&raw, arg, strlen(arg));
	if (opt.data_hex)
		parse_hex(data, raw.bytes, raw.len);
	else
		buffer_add(data, raw.bytes, raw.len);
	free(raw.bytes);
	if (opt.nul)
		buffer_add(data, "", 1);
	if (data->len > UINT32_MAX)
		usage_error("data too long");
}

/* --- output ----------------------------------------------------------------- */

static void json_string(FILE *f, const unsigned char *p, size_t len)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20 || c >= 0x7f)
				fprintf(f, "\\u%04x", (unsigned int)c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static int is_text(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\t' || p[i] == '\n' ||
		      p[i] == '\r'))
			return 0;
	return 1;
}

static void json_pair(FILE *f, uint32_t a, uint32_t b)
{
	if (a || b)
		fprintf(f, "[%" PRIu32 ", %" PRIu32 "]", a, b);
	else
		fputs("null", f);
}

static const char *kind_of(const kbus_message_t *msg)
{
	if (kbus_msg_is_reply(msg))
		return kbus_msg_is_status(msg) ? "Status" : "Reply";
	if (kbus_msg_is_request(msg))
		return "Request";
	if (kbus_msg_is_replier_bind_event(msg))	/* KBUS's own only */
		return "ReplierBindEvent";
	return "Announcement";
}

static void print_json(FILE *f, const kbus_message_t *msg)
{
	static const struct {
		uint32_t bit;
		const char *word;
	} words[] = {
		{ KBUS_BIT_WANT_A_REPLY, "REQ" }, { KBUS_BIT_WANT_YOU_TO_REPLY, "YOU" },
		{ KBUS_BIT_SYNTHETIC, "SYN" }, { KBUS_BIT_URGENT, "URG" },
		{ KBUS_BIT_ALL_OR_FAIL, "aFL" }, { KBUS_BIT_ALL_OR_WAIT, "aWT" },
	};
	const unsigned char *data = kbus_msg_data_ptr(msg);
	const char *kind = kind_of(msg);
	size_t i;
	int first = 1;

	fprintf(f, "{\"kind\": \"%s\", \"name\": ", kind);
	json_string(f, (const unsigned char *)kbus_msg_name_ptr(msg), msg->name_len);
	fputs(", \"id\": ", f);
	json_pair(f, msg->id.network_id, msg->id.serial_num);
	fputs(", \"in_reply_to\": ", f);
	json_pair(f, msg->in_reply_to.network_id, msg->in_reply_to.serial_num);
	fprintf(f, ", \"to\": %" PRIu32 ", \"from\": %" PRIu32 ", \"orig_from\": ", msg->to,
		msg->from);
	json_pair(f, msg->orig_from.network_id, msg->orig_from.local_id);
	fputs(", \"final_to\": ", f);
	json_pair(f, msg->final_to.network_id, msg->final_to.local_id);
	fprintf(f, ", \"flags\": %" PRIu32 ", \"flag_names\": [", msg->flags);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (msg->flags & words[i].bit) {
			fprintf(f, "%s\"%s\"", first ? "" : ", ", words[i].word);
			first = 0;
		}
	}
	fprintf(f, "], \"data_len\": %" PRIu32 ", \"data\": ", msg->data_len);
	if (msg->data_len == 0 || !data) {
		fputs("null, \"data_encoding\": null", f);
	} else if (is_text(data, msg->data_len)) {
		json_string(f, data, msg->data_len);
		fputs(", \"data_encoding\": \"text\"", f);
	} else {
		fputc('"', f);
		for (i = 0; i < msg->data_len; i++)
			fprintf(f, "%02x", (unsigned int)data[i]);
		fputs("\", \"data_encoding\": \"hex\"", f);
	}
	if (strcmp(kind, "ReplierBindEvent") == 0) {
		uint32_t is_bind, binder;
		char *name;

		if (kbus_msg_split_bind_event(msg, &is_bind, &binder, &name) == 0) {
			fprintf(f, ", \"bind_event\": {\"is_bind\": %" PRIu32
				", \"binder\": %" PRIu32 ", \"name\": ", is_bind, binder);
			json_string(f, (const unsigned char *)name, strlen(name));
			fputc('}', f);
			free(name);
		}
	}
	fputs("}\n", f);
}

/* One message on standard output, flushed (kmsg is often piped); exit 16
 * if it cannot be written. */
static void show(const kbus_message_t *msg)
{
	if (opt.dump) {
		kbus_msg_fdump(stdout, msg, 1);
	} else if (opt.json) {
		print_json(stdout, msg);
	} else {
		kbus_msg_print2(stdout, msg, opt.full ? 0 : KBUS_MSG_PRINT_FLAGS_ABBREVIATE);
		fputc('\n', stdout);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		complain("cannot write to standard output: %s", strerror(errno));
		exit(EXIT_OUTPUT);
	}
}

/* A message kmsg sent, on standard error with --verbose. */
static void show_sent(const char *what, const kbus_message_t *msg)
{
	if (!opt.verbose || opt.quiet)
		return;
	fprintf(stderr, "kmsg: %s ", what);
	kbus_msg_print2(stderr, msg, opt.full ? 0 : KBUS_MSG_PRINT_FLAGS_ABBREVIATE);
	fputc('\n', stderr);
}

/* --- Ksock set-up ----------------------------------------------------------- */

static kbus_ksock_t open_bus(int flags)
{
	kbus_ksock_t ksock = kbus_ksock_open(opt.bus, flags);

	if (ksock < 0) {
		complain("cannot open /dev/kbus%" PRIu32 ": %s (%s)", opt.bus, strerror(-ksock),
			 errno_name(ksock));
		exit(EXIT_OPEN);
	}
	if (opt.max_messages) {
		uint32_t n = opt.max_messages;
		int rv = kbus_ksock_max_messages(ksock, &n);

		if (rv < 0) {
			complain("cannot set the queue length: %s", strerror(-rv));
			exit(EXIT_OPEN);
		}
	}
	return ksock;
}

static uint32_t ksock_id_of(kbus_ksock_t ksock)
{
	uint32_t id = 0;

	kbus_ksock_id(ksock, &id);
	return id;
}

static void bind_or_die(kbus_ksock_t ksock, const char *name, int replier)
{
	int rv = kbus_ksock_bind(ksock, name, replier);

	if (rv < 0) {
		const char *why = strerror(-rv);

		if (rv == -EBADMSG)
			why = "not a valid message name";
		else if (rv == -EADDRINUSE)
			why = "another Ksock is already the replier";
		complain("cannot bind as %s to '%s': %s (%s)", replier ? "replier" : "listener",
			 name, why, errno_name(rv));
		exit(EXIT_BIND);
	}
}

static int64_t deadline_from(double seconds)
{
	if (seconds <= 0)
		return -1;
	return now_ns() + (int64_t)(seconds * 1e9);
}

/* Wait for a message until the deadline: 1 = readable, 0 = timeout. */
static int wait_readable(kbus_ksock_t ksock, int64_t deadline)
{
	for (;;) {
		int rv = kbus_wait_for_message_timeout(ksock, KBUS_KSOCK_READABLE,
						       ms_left(deadline));

		if (rv > 0)
			return 1;
		if (rv == 0) {
			if (deadline >= 0 && ms_left(deadline) == 0)
				return 0;
			continue;
		}
		if (rv == -EINTR)
			continue;
		complain("waiting for a message: %s", strerror(-rv));
		exit(EXIT_RECEIVE);
	}
}

static kbus_message_t *read_one(kbus_ksock_t ksock)
{
	kbus_message_t *msg = NULL;
	int rv = kbus_ksock_read_next_msg(ksock, &msg);

	if (rv < 0) {
		complain("reading a message: %s (%s)", strerror(-rv), errno_name(rv));
		exit(EXIT_RECEIVE);
	}
	return msg;
}

/*
 * Write and send, and with ALL_OR_WAIT wait (at most `timeout` seconds, 0 =
 * no limit) for the pending send to complete. *id is {0,0} unless SEND gave
 * one: an EAGAIN from the write is an error (KBUS was interrupted), only one
 * from SEND means a pending send.
 */
static int send_message(kbus_ksock_t ksock, const kbus_message_t *msg, kbus_msg_id_t *id,
			double timeout)
{
	int64_t deadline = deadline_from(timeout);
	int rv;

	id->network_id = 0;
	id->serial_num = 0;
	rv = kbus_ksock_write_msg(ksock, msg);
	if (rv < 0)
		return rv;
	rv = kbus_ksock_send(ksock, id);
	while (rv == -EAGAIN) {
		int w = kbus_wait_for_message_timeout(ksock, KBUS_KSOCK_WRITABLE,
						      ms_left(deadline));

		if (w > 0)
			return 0;	/* the pending send went through */
		if (w == 0 && deadline >= 0 && ms_left(deadline) == 0) {
			kbus_ksock_discard(ksock);
			complain("timeout: queues still full after %g s", timeout);
			exit(EXIT_TIMEOUT);
		}
		if (w < 0 && w != -EINTR)
			rv = w;
	}
	return rv;
}

static const char *send_error_text(int rv)
{
	switch (-rv) {
	case EADDRNOTAVAIL:
		return "no replier is bound to that name (or the requester has gone)";
	case EBADMSG:
		return "not a valid message name (wildcards cannot be sent)";
	case EBUSY:
		return "a recipient's queue is full";
	case EPIPE:
		return "that Ksock is not the replier (stateful request)";
	case EMSGSIZE:
		return "message too large for the device";
	case ENOLCK:
		return "our own queue has no room for the reply";
	default:
		return strerror(-rv);
	}
}

static uint32_t data_len32(const struct buffer *b)
{
	return (uint32_t)b->len;
}

/* --- commands --------------------------------------------------------------- */

static int cmd_listen(int nnames, char **names)
{
	kbus_ksock_t ksock = open_bus(O_RDONLY);
	int64_t deadline = deadline_from(opt.timeout);
	uint32_t received = 0;
	int i;

	if (opt.only_once) {
		int rv = kbus_ksock_only_once(ksock, 1);

		if (rv < 0) {
			complain("cannot set only-once: %s", strerror(-rv));
			return EXIT_BIND;
		}
	}
	for (i = 0; i < nnames; i++)
		bind_or_die(ksock, names[i], 0);
	for (i = 0; i < nnames; i++)
		note("listening on /dev/kbus%" PRIu32 " as Ksock %" PRIu32 " to '%s'", opt.bus,
		     ksock_id_of(ksock), names[i]);
	while (!opt.count || received < opt.count) {
		kbus_message_t *msg;

		if (!wait_readable(ksock, deadline))
			break;
		while ((!opt.count || received < opt.count) && (msg = read_one(ksock))) {
			show(msg);
			kbus_msg_delete(&msg);
			received++;
		}
	}
	kbus_ksock_close(ksock);
	if (opt.count && received < opt.count) {
		complain("timeout: %" PRIu32 " of %" PRIu32 " messages in %g s", received,
			 opt.count, opt.timeout);
		return EXIT_TIMEOUT;
	}
	return EXIT_OK;
}

static int cmd_send(const char *name, const struct buffer *data)
{
	kbus_ksock_t ksock = open_bus(O_RDWR);
	kbus_message_t *msg;
	kbus_msg_id_t id;
	int rv;

	rv = kbus_msg_create(&msg, name, (uint32_t)strlen(name), data->len ? data->bytes : NULL,
			     data_len32(data), opt.flags);
	if (rv < 0) {
		complain("cannot create the message: %s", strerror(-rv));
		return EXIT_SEND;
	}
	rv = send_message(ksock, msg, &id, opt.timeout);
	if (rv < 0) {
		complain("cannot send '%s': %s (%s)", name, send_error_text(rv), errno_name(rv));
		kbus_msg_delete(&msg);
		kbus_ksock_close(ksock);
		return EXIT_SEND;
	}
	msg->id = id;
	msg->from = ksock_id_of(ksock);
	msg->flags &= ~(uint32_t)KBUS_BIT_SYNTHETIC;
	show(msg);
	kbus_msg_delete(&msg);
	kbus_ksock_close(ksock);
	return EXIT_OK;
}

static int cmd_call(const char *name, const struct buffer *data)
{
	kbus_ksock_t ksock = open_bus(O_RDWR);
	double timeout = opt.timeout_given ? opt.timeout : DEFAULT_CALL_TIMEOUT;
	int64_t deadline;
	kbus_message_t *req;
	kbus_msg_id_t id;
	int rv;

	rv = kbus_msg_create_request(&req, name, (uint32_t)strlen(name),
				     data->len ? data->bytes : NULL, data_len32(data), opt.flags);
	if (rv < 0) {
		complain("cannot create the request: %s", strerror(-rv));
		return EXIT_SEND;
	}
	req->to = opt.to;
	rv = send_message(ksock, req, &id, timeout);
	if (rv < 0) {
		complain("cannot send request '%s': %s (%s)", name, send_error_text(rv),
			 errno_name(rv));
		kbus_msg_delete(&req);
		kbus_ksock_close(ksock);
		return EXIT_SEND;
	}
	req->id = id;
	req->from = ksock_id_of(ksock);
	show_sent("sent", req);
	kbus_msg_delete(&req);

	deadline = deadline_from(timeout);
	for (;;) {
		kbus_message_t *msg;

		if (!wait_readable(ksock, deadline)) {
			complain("timeout: no reply to [%" PRIu32 ":%" PRIu32 "] in %g s",
				 id.network_id, id.serial_num, timeout);
			kbus_ksock_close(ksock);
			return EXIT_TIMEOUT;
		}
		while ((msg = read_one(ksock))) {
			if (kbus_msg_compare_ids(&msg->in_reply_to, &id) == 0) {
				int status = kbus_msg_is_status(msg);

				show(msg);
				if (status)
					complain("no reply: KBUS sent %.*s", (int)msg->name_len,
						 kbus_msg_name_ptr(msg));
				kbus_msg_delete(&msg);
				kbus_ksock_close(ksock);
				return status ? EXIT_STATUS : EXIT_OK;
			}
			kbus_msg_delete(&msg);	/* not for us: cannot happen unbound */
		}
	}
}

static int cmd_reply(const char *name, const struct buffer *data)
{
	kbus_ksock_t ksock = open_bus(O_RDWR);
	int64_t deadline = deadline_from(opt.timeout);
	uint32_t answered = 0;

	bind_or_die(ksock, name, 1);
	note("replying on /dev/kbus%" PRIu32 " as Ksock %" PRIu32 " to '%s'", opt.bus,
	     ksock_id_of(ksock), name);
	while (!opt.count || answered < opt.count) {
		kbus_message_t *msg;

		if (!wait_readable(ksock, deadline))
			break;
		while ((!opt.count || answered < opt.count) && (msg = read_one(ksock))) {
			kbus_message_t *reply;
			kbus_msg_id_t id;
			int rv;

			show(msg);
			if (!kbus_msg_wants_us_to_reply(msg)) {
				kbus_msg_delete(&msg);
				continue;
			}
			if (opt.echo)
				rv = kbus_msg_create_reply_to(&reply, msg,
							      msg->data_len ?
							      kbus_msg_data_ptr(msg) : NULL,
							      msg->data_len, opt.flags);
			else
				rv = kbus_msg_create_reply_to(&reply, msg,
							      data->len ? data->bytes : NULL,
							      data_len32(data), opt.flags);
			if (rv < 0) {
				complain("cannot create a reply: %s", strerror(-rv));
				kbus_msg_delete(&msg);
				continue;
			}
			rv = kbus_ksock_send_msg(ksock, reply, &id);
			if (rv < 0) {
				complain("cannot reply to [%" PRIu32 ":%" PRIu32 "]: %s (%s)",
					 msg->id.network_id, msg->id.serial_num,
					 send_error_text(rv), errno_name(rv));
				kbus_ksock_discard(ksock);
			} else {
				reply->id = id;
				reply->from = ksock_id_of(ksock);
				show_sent("sent", reply);
				answered++;
			}
			kbus_msg_delete(&reply);
			kbus_msg_delete(&msg);
		}
	}
	kbus_ksock_close(ksock);
	if (opt.count && answered < opt.count) {
		complain("timeout: answered %" PRIu32 " of %" PRIu32 " requests in %g s",
			 answered, opt.count, opt.timeout);
		return EXIT_TIMEOUT;
	}
	return EXIT_OK;
}

/* --- main ------------------------------------------------------------------- */

enum { OPT_FLAGS = 256, OPT_TO, OPT_FULL, OPT_DUMP };

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "bus", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "data-hex", no_argument, NULL, 'x' },
		{ "data-file", required_argument, NULL, 'f' },
		{ "nul", no_argument, NULL, 'z' },
		{ "echo", no_argument, NULL, 'e' },
		{ "urgent", no_argument, NULL, 'u' },
		{ "all-or-wait", no_argument, NULL, 'w' },
		{ "all-or-fail", no_argument, NULL, 'F' },
		{ "flags", required_argument, NULL, OPT_FLAGS },
		{ "to", required_argument, NULL, OPT_TO },
		{ "only-once", no_argument, NULL, '1' },
		{ "max-messages", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "full", no_argument, NULL, OPT_FULL },
		{ "dump", no_argument, NULL, OPT_DUMP },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct buffer data = { 0 };
	const char *cmd;
	int c, i, nargs, rv;
	char **args;

	/* the original's single-dash `-bus N` */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (strcmp(argv[i], "-bus") == 0)
			argv[i] = "--bus";

	while ((c = getopt_long(argc, argv, "b:c:t:xf:zeuwF1m:jqvhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_u32(optarg, 0, UINT32_MAX, &opt.bus))
				usage_error("--bus: '%s' is not a device number", optarg);
			break;
		case 'c':
			if (parse_u32(optarg, 1, UINT32_MAX, &opt.count))
				usage_error("--count: '%s' is not a positive number", optarg);
			break;
		case 't':
			if (parse_seconds(optarg, &opt.timeout))
				usage_error("--timeout: '%s' is not a number of seconds", optarg);
			opt.timeout_given = 1;
			break;
		case 'x':
			opt.data_hex = 1;
			break;
		case 'f':
			opt.data_file = optarg;
			break;
		case 'z':
			opt.nul = 1;
			break;
		case 'e':
			opt.echo = 1;
			break;
		case 'u':
			opt.flags |= KBUS_BIT_URGENT;
			break;
		case 'w':
			opt.flags |= KBUS_BIT_ALL_OR_WAIT;
			break;
		case 'F':
			opt.flags |= KBUS_BIT_ALL_OR_FAIL;
			break;
		case OPT_FLAGS: {
			uint32_t f;

			if (parse_u32(optarg, 0, UINT32_MAX, &f))
				usage_error("--flags: '%s' is not a number", optarg);
			opt.flags |= f;
			break;
		}
		case OPT_TO:
			if (parse_u32(optarg, 1, UINT32_MAX, &opt.to))
				usage_error("--to: '%s' is not a Ksock id", optarg);
			break;
		case '1':
			opt.only_once = 1;
			break;
		case 'm':
			if (parse_u32(optarg, 1, UINT32_MAX, &opt.max_messages))
				usage_error("--max-messages: '%s' is not a positive number", optarg);
			break;
		case 'j':
			opt.json = 1;
			break;
		case OPT_FULL:
			opt.full = 1;
			break;
		case OPT_DUMP:
			opt.dump = 1;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("kmsg (libkbus %d.%d.%d)\n", LIBKBUS_VERSION_MAJOR,
			       LIBKBUS_VERSION_MINOR, LIBKBUS_VERSION_PATCH);
			return EXIT_OK;
		default:
			fputs("Try 'kmsg --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	if ((opt.flags & KBUS_BIT_ALL_OR_WAIT) && (opt.flags & KBUS_BIT_ALL_OR_FAIL))
		usage_error("--all-or-wait and --all-or-fail exclude each other");
	if (opt.json && opt.dump)
		usage_error("--json and --dump exclude each other");
	if (optind >= argc)
		usage_error("no command (listen, send, call or reply)");
	cmd = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;

	signal(SIGPIPE, SIG_DFL);
	if (strcmp(cmd, "listen") == 0) {
		if (nargs < 1)
			usage_error("listen: give at least one NAME");
		return cmd_listen(nargs, args);
	}
	if (strcmp(cmd, "send") && strcmp(cmd, "call") && strcmp(cmd, "reply"))
		usage_error("unknown command '%s' (listen, send, call or reply)", cmd);
	if (nargs < 1 || nargs > 2)
		usage_error("%s: give NAME and at most one DATA", cmd);
	if (opt.to && strcmp(cmd, "call"))
		usage_error("--to is for call only");
	make_data(&data, nargs == 2 ? args[1] : NULL);
	if (strcmp(cmd, "send") == 0)
		rv = cmd_send(args[0], &data);
	else if (strcmp(cmd, "call") == 0)
		rv = cmd_call(args[0], &data);
	else
		rv = cmd_reply(args[0], &data);
	free(data.bytes);
	return rv;
}
