// SPDX-License-Identifier: MIT
/*
 * kspeed: KBUS benchmark. Announcement throughput with N listener processes
 * and request/reply round-trip latency. `kspeed --help` documents it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <kbus/kbus.h>

#include "common.h"

#define MAX_LIST 16
#define MAX_LISTENERS 256

static const char usage_text[] =
"Usage: kspeed [OPTIONS] [announce] [rtt]\n"
"\n"
"Benchmark a KBUS device (/dev/kbusN). Tests (default: both):\n"
"  announce  announcement throughput: one sender process sends --count\n"
"            announcements of --size bytes to --listeners listener\n"
"            processes (fork()ed); time from the first send until every\n"
"            listener has received the last message\n"
"  rtt       request/reply round trips: a requester sends --requests\n"
"            requests of --size bytes, one at a time, to a replier process\n"
"            that echoes the data back; each round trip is timed\n"
"\n"
"Options:\n"
"  -b, --bus N            use /dev/kbusN (default 0; `-bus N` works too)\n"
"  -l, --listeners LIST   announce: listener processes, a comma-separated\n"
"                         list of counts, one run each (default 1; max 256)\n"
"  -s, --size LIST        payload bytes, a comma-separated list, one run\n"
"                         per size for each test (default 16)\n"
"  -n, --count N          announce: messages per run (default 10000)\n"
"  -r, --requests N       rtt: timed round trips per run (default 2000)\n"
"  -W, --warmup N         rtt: untimed round trips first (default 50)\n"
"  -q, --queue N          queue length (MAXMSGS) of every Ksock used (default:\n"
"                         KBUS's, 100)\n"
"  -L, --lossy            announce: send without ALL_OR_WAIT, so listeners\n"
"                         whose queue is full miss messages (reported as\n"
"                         lost); by default the sender waits for queue room\n"
"                         and nothing is lost\n"
"  -N, --name NAME        message name prefix (default $.KSpeed.P<pid>);\n"
"                         messages are NAME.Data, NAME.End and NAME.Rtt\n"
"  -t, --timeout SECS     give up on a run after SECS (default 120)\n"
"  -j, --json             one JSON object per run instead of text\n"
"  -h, --help             show this help and exit\n"
"  -V, --version          show the version and exit\n"
"\n"
"Output: one line per run on standard output.\n"
"  announce size=16 listeners=1 messages=10000 lost=0 elapsed_s=0.512000\n"
"      msgs_per_s=19531.2 deliveries_per_s=19531.2 send_msgs_per_s=19600.0\n"
"  rtt size=16 requests=2000 p50_us=101.2 p90_us=120.3 p99_us=250.4\n"
"      min_us=90.1 max_us=900.2 mean_us=110.2 round_trips_per_s=9077.0\n"
"(each on one line). msgs_per_s is messages / elapsed (every listener got\n"
"each message), deliveries_per_s counts each copy delivered, send_msgs_per_s\n"
"is the sender's own rate; percentiles are nearest-rank. With --json the\n"
"same keys, plus \"test\": \"announce\" or \"rtt\", form one JSON object.\n"
"\n"
"Exit codes: 0 success, 1 usage error, 10 cannot open or bind the device,\n"
"12 a send failed, 13 a process failed or the run timed out.\n"
"\n"
"Examples:\n"
"  kspeed                                 # both tests, 16-byte payload\n"
"  kspeed -l 1,4 -s 16,1024 -n 2000 announce\n"
"  kspeed -s 16,1024 -r 500 --json rtt\n";

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_DEVICE = 10, EXIT_SEND = 12, EXIT_RUN = 13 };

static struct {
	uint32_t bus;
	uint32_t listeners[MAX_LIST];
	int nlisteners;
	uint32_t sizes[MAX_LIST];
	int nsizes;
	uint32_t count;
	uint32_t requests;
	uint32_t warmup;
	uint32_t queue;
	int lossy;
	char name[KBUS_MAX_NAME_LEN - 16];
	double timeout;
	int json;
} opt = {
	.count = 10000, .requests = 2000, .warmup = 50, .timeout = 120.0,
};

static char data_name[KBUS_MAX_NAME_LEN + 1];
static char end_name[KBUS_MAX_NAME_LEN + 1];
static char rtt_name[KBUS_MAX_NAME_LEN + 1];

static void fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kspeed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kspeed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry 'kspeed --help'.\n", stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

static void parse_list(const char *what, const char *text, uint32_t min, uint32_t max,
		       uint32_t *list, int *n)
{
	char *copy = strdup(text), *save = NULL, *tok;

	if (!copy)
		fail(EXIT_USAGE, "out of memory");
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST)
			usage_error("%s: at most %d values", what, MAX_LIST);
		if (parse_u32(tok, min, max, &list[*n]))
			usage_error("%s: '%s' is not a number in %" PRIu32 "..%" PRIu32, what, tok,
				    min, max);
		(*n)++;
	}
	free(copy);
	if (*n == 0)
		usage_error("%s: empty list", what);
}

static int64_t deadline_from_now(void)
{
	return now_ns() + (int64_t)(opt.timeout * 1e9);
}

static int name_is(const kbus_message_t *msg, const char *name)
{
	size_t len = strlen(name);

	return msg->name_len == len && memcmp(kbus_msg_name_ptr(msg), name, len) == 0;
}

static kbus_ksock_t open_ksock(int flags)
{
	kbus_ksock_t ksock = kbus_ksock_open(opt.bus, flags);

	if (ksock < 0)
		return ksock;
	if (opt.queue) {
		uint32_t n = opt.queue;
		int rv = kbus_ksock_max_messages(ksock, &n);

		if (rv < 0) {
			kbus_ksock_close(ksock);
			return rv;
		}
	}
	return ksock;
}

/* Send, waiting for queue room when an ALL_OR_WAIT send is pending. */
static int send_wait(kbus_ksock_t ksock, const kbus_message_t *msg, kbus_msg_id_t *id,
		     int64_t deadline)
{
	int rv = kbus_ksock_send_msg(ksock, msg, id);

	while (rv == -EAGAIN) {
		int w = kbus_wait_for_message_timeout(ksock, KBUS_KSOCK_WRITABLE,
						      ms_left(deadline));

		if (w > 0)
			return 0;
		if (w == 0 && ms_left(deadline) == 0) {
			kbus_ksock_discard(ksock);
			return -ETIMEDOUT;
		}
		if (w < 0 && w != -EINTR)
			return w;
	}
	return rv;
}

/* Wait until readable: 1, or 0 on timeout, or -errno. */
static int wait_readable(kbus_ksock_t ksock, int64_t deadline)
{
	for (;;) {
		int rv = kbus_wait_for_message_timeout(ksock, KBUS_KSOCK_READABLE,
						       ms_left(deadline));

		if (rv > 0)
			return 1;
		if (rv == 0 && ms_left(deadline) == 0)
			return 0;
		if (rv < 0 && rv != -EINTR)
			return rv;
	}
}

/* --- child processes ---------------------------------------------------------- */

struct child_result {
	int32_t err;		/* 0 or -errno */
	uint32_t count;		/* data messages received */
	int64_t t_end;		/* when the end marker arrived (CLOCK_MONOTONIC ns) */
};

static pid_t children[MAX_LISTENERS + 1];
static int nchildren;

static void kill_children(void)
{
	int i;

	for (i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	for (i = 0; i < nchildren; i++)
		waitpid(children[i], NULL, 0);
	nchildren = 0;
}

static void child_report(int fd, const struct child_result *r)
{
	ssize_t n = write(fd, r, sizeof(*r));

	_exit(n == (ssize_t)sizeof(*r) && r->err == 0 ? 0 : 1);
}

static void child_ready(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(2);
}

static void listener_child(int ready_fd, int result_fd)
{
	struct child_result r = { 0, 0, 0 };
	int64_t deadline = deadline_from_now();
	kbus_ksock_t ksock;
	int rv;

	ksock = open_ksock(O_RDONLY);
	if (ksock < 0) {
		r.err = ksock;
		child_ready(ready_fd, 'E');
		child_report(result_fd, &r);
	}
	rv = kbus_ksock_bind(ksock, data_name, 0);
	if (rv == 0)
		rv = kbus_ksock_bind(ksock, end_name, 0);
	if (rv < 0) {
		r.err = rv;
		child_ready(ready_fd, 'E');
		child_report(result_fd, &r);
	}
	child_ready(ready_fd, 'R');
	for (;;) {
		kbus_message_t *msg = NULL;

		rv = wait_readable(ksock, deadline);
		if (rv <= 0) {
			r.err = rv ? rv : -ETIMEDOUT;
			break;
		}
		while ((rv = kbus_ksock_read_next_msg(ksock, &msg)) == 0 && msg) {
			if (name_is(msg, end_name)) {
				r.t_end = now_ns();
				kbus_msg_delete(&msg);
				kbus_ksock_close(ksock);
				child_report(result_fd, &r);
			}
			r.count++;
			kbus_msg_delete(&msg);
		}
		if (rv < 0) {
			r.err = rv;
			break;
		}
	}
	kbus_ksock_close(ksock);
	child_report(result_fd, &r);
}

static void replier_child(int ready_fd, int result_fd)
{
	struct child_result r = { 0, 0, 0 };
	int64_t deadline = deadline_from_now();
	kbus_ksock_t ksock;
	int rv;

	ksock = open_ksock(O_RDWR);
	if (ksock < 0) {
		r.err = ksock;
		child_ready(ready_fd, 'E');
		child_report(result_fd, &r);
	}
	rv = kbus_ksock_bind(ksock, rtt_name, 1);
	if (rv == 0)
		rv = kbus_ksock_bind(ksock, end_name, 0);
	if (rv < 0) {
		r.err = rv;
		child_ready(ready_fd, 'E');
		child_report(result_fd, &r);
	}
	child_ready(ready_fd, 'R');
	for (;;) {
		kbus_message_t *msg = NULL;

		rv = wait_readable(ksock, deadline);
		if (rv <= 0) {
			r.err = rv ? rv : -ETIMEDOUT;
			break;
		}
		while ((rv = kbus_ksock_read_next_msg(ksock, &msg)) == 0 && msg) {
			kbus_message_t *reply = NULL;

			if (name_is(msg, end_name)) {
				r.t_end = now_ns();
				kbus_msg_delete(&msg);
				kbus_ksock_close(ksock);
				child_report(result_fd, &r);
			}
			if (kbus_msg_wants_us_to_reply(msg)) {
				rv = kbus_msg_create_reply_to(&reply, msg,
							      msg->data_len ?
							      kbus_msg_data_ptr(msg) : NULL,
							      msg->data_len, 0);
				if (rv == 0)
					rv = kbus_ksock_send_msg(ksock, reply, NULL);
				kbus_msg_delete(&reply);
				if (rv < 0) {
					kbus_msg_delete(&msg);
					r.err = rv;
					goto out;
				}
				r.count++;
			}
			kbus_msg_delete(&msg);
		}
		if (rv < 0) {
			r.err = rv;
			break;
		}
	}
out:
	kbus_ksock_close(ksock);
	child_report(result_fd, &r);
}

/* Fork n children running fn; wait until each has bound. */
static void start_children(int n, void (*fn)(int, int), int *result_fd)
{
	int ready[2], result[2], i, got = 0;
	int64_t deadline = deadline_from_now();

	if (pipe(ready) || pipe(result))
		fail(EXIT_RUN, "pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			kill_children();
			fail(EXIT_RUN, "fork: %s", strerror(errno));
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			close(result[0]);
			fn(ready[1], result[1]);
			_exit(3);
		}
		children[nchildren++] = pid;
	}
	close(ready[1]);
	close(result[1]);
	while (got < n) {
		struct pollfd p = { .fd = ready[0], .events = POLLIN, .revents = 0 };
		char buf[64];
		ssize_t k;
		int rv = poll(&p, 1, ms_left(deadline));

		if (rv < 0 && errno == EINTR)
			continue;
		if (rv <= 0) {
			kill_children();
			fail(EXIT_RUN, "timeout: child processes did not start");
		}
		k = read(ready[0], buf, sizeof(buf));
		if (k <= 0) {
			kill_children();
			fail(EXIT_RUN, "a child process died while starting");
		}
		for (i = 0; i < k; i++) {
			if (buf[i] != 'R') {
				kill_children();
				fail(EXIT_DEVICE, "a child process cannot open or bind /dev/kbus%"
				     PRIu32, opt.bus);
			}
		}
		got += (int)k;
	}
	close(ready[0]);
	*result_fd = result[0];
}

/* Collect n results (sum of counts, latest t_end); reaps the children. */
static void collect_children(int n, int fd, uint64_t *count, int64_t *t_end)
{
	int64_t deadline = deadline_from_now();
	int got = 0, i;

	*count = 0;
	*t_end = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
		struct child_result r;
		int rv = poll(&p, 1, ms_left(deadline));

		if (rv < 0 && errno == EINTR)
			continue;
		if (rv <= 0) {
			kill_children();
			fail(EXIT_RUN, "timeout: child processes did not finish in %g s",
			     opt.timeout);
		}
		if (read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
			kill_children();
			fail(EXIT_RUN, "a child process died");
		}
		if (r.err) {
			kill_children();
			fail(EXIT_RUN, "a child process failed: %s (%s)", strerror(-r.err),
			     errno_name(r.err));
		}
		*count += r.count;
		if (r.t_end > *t_end)
			*t_end = r.t_end;
		got++;
	}
	close(fd);
	for (i = 0; i < nchildren; i++) {
		int status;

		if (waitpid(children[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			fail(EXIT_RUN, "a child process exited abnormally");
	}
	nchildren = 0;
}

/* --- the tests ---------------------------------------------------------------- */

static unsigned char *payload(uint32_t size)
{
	unsigned char *p = malloc(size ? size : 1);

	if (!p)
		fail(EXIT_RUN, "out of memory");
	memset(p, 0x55, size);
	return p;
}

static void run_announce(uint32_t size, uint32_t listeners)
{
	kbus_message_t *msg = NULL, *end = NULL;
	unsigned char *data = payload(size);
	int64_t deadline, t0, t_sent, t_end;
	uint64_t received;
	double elapsed, sent_s;
	kbus_ksock_t ksock;
	int result_fd, rv;
	uint32_t i, lost;

	start_children((int)listeners, listener_child, &result_fd);
	ksock = open_ksock(O_RDWR);
	if (ksock < 0) {
		kill_children();
		fail(EXIT_DEVICE, "cannot open /dev/kbus%" PRIu32 ": %s", opt.bus,
		     strerror(-ksock));
	}
	if (kbus_msg_create(&msg, data_name, (uint32_t)strlen(data_name), size ? data : NULL,
			    size, opt.lossy ? 0 : KBUS_BIT_ALL_OR_WAIT) < 0 ||
	    kbus_msg_create(&end, end_name, (uint32_t)strlen(end_name), NULL, 0,
			    KBUS_BIT_ALL_OR_WAIT) < 0)
		fail(EXIT_RUN, "out of memory");
	deadline = deadline_from_now();
	t0 = now_ns();
	for (i = 0; i < opt.count; i++) {
		rv = send_wait(ksock, msg, NULL, deadline);
		if (rv < 0) {
			kill_children();
			fail(EXIT_SEND, "send %" PRIu32 " failed: %s (%s)", i, strerror(-rv),
			     errno_name(rv));
		}
	}
	t_sent = now_ns();
	rv = send_wait(ksock, end, NULL, deadline);
	if (rv < 0) {
		kill_children();
		fail(EXIT_SEND, "sending the end marker failed: %s", strerror(-rv));
	}
	collect_children((int)listeners, result_fd, &received, &t_end);
	kbus_msg_delete(&msg);
	kbus_msg_delete(&end);
	kbus_ksock_close(ksock);
	free(data);

	elapsed = (double)(t_end - t0) / 1e9;
	sent_s = (double)(t_sent - t0) / 1e9;
	if (elapsed <= 0)
		elapsed = 1e-9;
	if (sent_s <= 0)
		sent_s = 1e-9;
	lost = (uint32_t)((uint64_t)opt.count * listeners - received);
	if (opt.json)
		printf("{\"test\": \"announce\", \"size\": %" PRIu32 ", \"listeners\": %" PRIu32
		       ", \"messages\": %" PRIu32 ", \"lost\": %" PRIu32 ", \"elapsed_s\": %.6f"
		       ", \"msgs_per_s\": %.1f, \"deliveries_per_s\": %.1f"
		       ", \"send_msgs_per_s\": %.1f}\n", size, listeners, opt.count, lost,
		       elapsed, opt.count / elapsed, (double)received / elapsed,
		       opt.count / sent_s);
	else
		printf("announce size=%" PRIu32 " listeners=%" PRIu32 " messages=%" PRIu32
		       " lost=%" PRIu32 " elapsed_s=%.6f msgs_per_s=%.1f deliveries_per_s=%.1f"
		       " send_msgs_per_s=%.1f\n", size, listeners, opt.count, lost, elapsed,
		       opt.count / elapsed, (double)received / elapsed, opt.count / sent_s);
	fflush(stdout);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double percentile_us(const int64_t *s, uint32_t n, uint32_t p)
{
	uint64_t rank = ((uint64_t)p * n + 99) / 100;

	if (rank == 0)
		rank = 1;
	return (double)s[rank - 1] / 1e3;
}

static void run_rtt(uint32_t size)
{
	unsigned char *data = payload(size);
	int64_t *samples, deadline, total = 0;
	kbus_message_t *req = NULL, *end = NULL;
	uint64_t dummy_count;
	int64_t dummy_end;
	kbus_ksock_t ksock;
	int result_fd, rv;
	uint32_t i, n = opt.requests;

	samples = calloc(n, sizeof(*samples));
	if (!samples)
		fail(EXIT_RUN, "out of memory");
	start_children(1, replier_child, &result_fd);
	ksock = open_ksock(O_RDWR);
	if (ksock < 0) {
		kill_children();
		fail(EXIT_DEVICE, "cannot open /dev/kbus%" PRIu32 ": %s", opt.bus,
		     strerror(-ksock));
	}
	if (kbus_msg_create_request(&req, rtt_name, (uint32_t)strlen(rtt_name),
				    size ? data : NULL, size, 0) < 0 ||
	    kbus_msg_create(&end, end_name, (uint32_t)strlen(end_name), NULL, 0, 0) < 0)
		fail(EXIT_RUN, "out of memory");
	deadline = deadline_from_now();
	for (i = 0; i < opt.warmup + n; i++) {
		kbus_message_t *reply = NULL;
		kbus_msg_id_t id;
		int64_t t0 = now_ns(), t1;

		rv = kbus_ksock_send_msg(ksock, req, &id);
		if (rv < 0) {
			kill_children();
			fail(EXIT_SEND, "request %" PRIu32 " failed: %s (%s)", i, strerror(-rv),
			     errno_name(rv));
		}
		rv = wait_readable(ksock, deadline);
		if (rv <= 0) {
			kill_children();
			fail(EXIT_RUN, "no reply to request %" PRIu32 ": %s", i,
			     rv ? strerror(-rv) : "timeout");
		}
		rv = kbus_ksock_read_next_msg(ksock, &reply);
		t1 = now_ns();
		if (rv < 0 || !reply || kbus_msg_compare_ids(&reply->in_reply_to, &id) ||
		    kbus_msg_is_status(reply) || reply->data_len != size) {
			kill_children();
			fail(EXIT_RUN, "bad reply to request %" PRIu32, i);
		}
		kbus_msg_delete(&reply);
		if (i >= opt.warmup) {
			samples[i - opt.warmup] = t1 - t0;
			total += t1 - t0;
		}
	}
	rv = kbus_ksock_send_msg(ksock, end, NULL);
	if (rv < 0) {
		kill_children();
		fail(EXIT_SEND, "sending the end marker failed: %s", strerror(-rv));
	}
	collect_children(1, result_fd, &dummy_count, &dummy_end);
	kbus_msg_delete(&req);
	kbus_msg_delete(&end);
	kbus_ksock_close(ksock);
	free(data);

	qsort(samples, n, sizeof(*samples), cmp_i64);
	{
		double p50 = percentile_us(samples, n, 50), p90 = percentile_us(samples, n, 90);
		double p99 = percentile_us(samples, n, 99);
		double mn = (double)samples[0] / 1e3, mx = (double)samples[n - 1] / 1e3;
		double mean = (double)total / n / 1e3;
		double rate = total > 0 ? n / ((double)total / 1e9) : 0.0;

		if (opt.json)
			printf("{\"test\": \"rtt\", \"size\": %" PRIu32 ", \"requests\": %" PRIu32
			       ", \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f"
			       ", \"min_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f"
			       ", \"round_trips_per_s\": %.1f}\n", size, n, p50, p90, p99, mn, mx,
			       mean, rate);
		else
			printf("rtt size=%" PRIu32 " requests=%" PRIu32 " p50_us=%.1f p90_us=%.1f"
			       " p99_us=%.1f min_us=%.1f max_us=%.1f mean_us=%.1f"
			       " round_trips_per_s=%.1f\n", size, n, p50, p90, p99, mn, mx, mean,
			       rate);
	}
	fflush(stdout);
	free(samples);
}

static void check_sizes(void)
{
	kbus_ksock_t ksock = kbus_ksock_open(opt.bus, O_RDONLY);
	uint32_t max = 0;
	int i;

	if (ksock < 0)
		fail(EXIT_DEVICE, "cannot open /dev/kbus%" PRIu32 ": %s (%s)", opt.bus,
		     strerror(-ksock), errno_name(ksock));
	if (kbus_ksock_max_message_size(ksock, &max) < 0)
		fail(EXIT_DEVICE, "cannot query the maximum message size");
	kbus_ksock_close(ksock);
	for (i = 0; i < opt.nsizes; i++) {
		size_t len = KBUS_ENTIRE_MSG_LEN(strlen(rtt_name), (size_t)opt.sizes[i]);

		if (len > max)
			usage_error("--size %" PRIu32 ": a message would be %zu bytes, more than "
				    "the device's maximum %" PRIu32, opt.sizes[i], len, max);
	}
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "bus", required_argument, NULL, 'b' },
		{ "listeners", required_argument, NULL, 'l' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "queue", required_argument, NULL, 'q' },
		{ "lossy", no_argument, NULL, 'L' },
		{ "name", required_argument, NULL, 'N' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i, do_announce = 0, do_rtt = 0;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (strcmp(argv[i], "-bus") == 0)
			argv[i] = "--bus";
	opt.listeners[0] = 1;
	opt.nlisteners = 1;
	opt.sizes[0] = 16;
	opt.nsizes = 1;
	snprintf(opt.name, sizeof(opt.name), "$.KSpeed.P%ld", (long)getpid());

	while ((c = getopt_long(argc, argv, "b:l:s:n:r:W:q:LN:t:jhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_u32(optarg, 0, UINT32_MAX, &opt.bus))
				usage_error("--bus: '%s' is not a device number", optarg);
			break;
		case 'l':
			parse_list("--listeners", optarg, 1, MAX_LISTENERS, opt.listeners,
				   &opt.nlisteners);
			break;
		case 's':
			parse_list("--size", optarg, 0, 1u << 30, opt.sizes, &opt.nsizes);
			break;
		case 'n':
			if (parse_u32(optarg, 1, UINT32_MAX / MAX_LISTENERS, &opt.count))
				usage_error("--count: '%s' is not a positive number", optarg);
			break;
		case 'r':
			if (parse_u32(optarg, 1, 100000000, &opt.requests))
				usage_error("--requests: '%s' is not a positive number", optarg);
			break;
		case 'W':
			if (parse_u32(optarg, 0, 100000000, &opt.warmup))
				usage_error("--warmup: '%s' is not a number", optarg);
			break;
		case 'q':
			if (parse_u32(optarg, 1, UINT32_MAX, &opt.queue))
				usage_error("--queue: '%s' is not a positive number", optarg);
			break;
		case 'L':
			opt.lossy = 1;
			break;
		case 'N':
			if (strlen(optarg) >= sizeof(opt.name))
				usage_error("--name: too long");
			snprintf(opt.name, sizeof(opt.name), "%s", optarg);
			break;
		case 't':
			if (parse_seconds(optarg, &opt.timeout) || opt.timeout <= 0)
				usage_error("--timeout: '%s' is not a number of seconds", optarg);
			break;
		case 'j':
			opt.json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("kspeed (libkbus %d.%d.%d)\n", LIBKBUS_VERSION_MAJOR,
			       LIBKBUS_VERSION_MINOR, LIBKBUS_VERSION_PATCH);
			return EXIT_OK;
		default:
			fputs("Try 'kspeed --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++) {
		if (strcmp(argv[i], "announce") == 0)
			do_announce = 1;
		else if (strcmp(argv[i], "rtt") == 0)
			do_rtt = 1;
		else
			usage_error("unknown test '%s' (announce or rtt)", argv[i]);
	}
	if (!do_announce && !do_rtt)
		do_announce = do_rtt = 1;
	snprintf(data_name, sizeof(data_name), "%s.Data", opt.name);
	snprintf(end_name, sizeof(end_name), "%s.End", opt.name);
	snprintf(rtt_name, sizeof(rtt_name), "%s.Rtt", opt.name);
	check_sizes();
	signal(SIGPIPE, SIG_IGN);

	if (do_announce) {
		int s, l;

		for (s = 0; s < opt.nsizes; s++)
			for (l = 0; l < opt.nlisteners; l++)
				run_announce(opt.sizes[s], opt.listeners[l]);
	}
	if (do_rtt) {
		int s;

		for (s = 0; s < opt.nsizes; s++)
			run_rtt(opt.sizes[s]);
	}
	return EXIT_OK;
}
