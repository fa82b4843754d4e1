// SPDX-License-Identifier: MIT
/*
 * kbus-bench: KBUS speed and memory figures, each next to a floor measured
 * in the same run (pipe and Unix-socket ping-pong, a pipe fan-out, and a
 * D-Bus method call through a private dbus-daemon), so that figures taken
 * under emulation can still be compared as ratios.
 *
 *   kbus-bench [--quick] [--json FILE] [--bus N] [--only SECTION]
 *
 * Uses the kernel ABI directly (linux/kbus_defns.h), not libkbus, so that
 * what is measured is the module; libdbus for the D-Bus floor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kbus_defns.h>

#include <dbus/dbus.h>

static int bus;
static int quick;
static const char *only;
static FILE *json;
static int json_first = 1;
/*
 * System calls made by this process (counted by the helpers below; the
 * throughput section reports them per message).
 */
static unsigned long long nsys;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kbus-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void json_value(const char *key, double value)
{
	if (!json)
		return;
	fprintf(json, "%s\n  \"%s\": %.6g", json_first ? "{" : ",", key, value);
	json_first = 0;
}

/* ---- the KBUS ABI ---- */

static int ksock_open(void)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/kbus%d", bus);
	fd = open(path, O_RDWR);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

static void ksock_bind(int fd, const char *name, int replier)
{
	struct kbus_bind_request req = {
		.is_replier = replier,
		.name_len = strlen(name),
		.name = (char *)name,
	};

	if (ioctl(fd, KBUS_IOC_BIND, &req) < 0)
		die("bind %s: %s", name, strerror(errno));
}

static void ksock_max_messages(int fd, uint32_t max)
{
	if (ioctl(fd, KBUS_IOC_MAXMSGS, &max) < 0)
		die("MAXMSGS: %s", strerror(errno));
}

/* Write a pointy header and SEND; returns 0 or -errno. */
static int ksock_send(int fd, struct kbus_message_header *hdr,
		      struct kbus_msg_id *id)
{
	nsys += 2;
	if (write(fd, hdr, sizeof(*hdr)) != (ssize_t)sizeof(*hdr))
		die("write: %s", strerror(errno));
	if (ioctl(fd, KBUS_IOC_SEND, id) < 0)
		return -errno;
	return 0;
}

/* Send, waiting (poll for write) while a listener is full. */
static void ksock_send_wait(int fd, struct kbus_message_header *hdr)
{
	struct kbus_msg_id id;
	int err = ksock_send(fd, hdr, &id);

	while (err == -EAGAIN) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		nsys++;
		if (poll(&p, 1, 10000) <= 0)
			die("poll for write timed out");
		err = 0;
	}
	if (err)
		die("send: %s", strerror(-err));
}

/* Read exactly len bytes; 0, or -1 on an error or end of file. */
static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t got = read(fd, (char *)buf + done, len - done);

		nsys++;

		if (got <= 0) {
			if (got == 0)
				errno = 0;	/* end of file */
			return -1;
		}
		done += got;
	}
	return 0;
}

/* Wait for, pop and read the next message into buf; returns its length. */
static size_t ksock_recv(int fd, char *buf, size_t size)
{
	uint32_t len = 0;

	for (;;) {
		int ret = ioctl(fd, KBUS_IOC_NEXTMSG, &len);

		nsys++;
		if (ret < 0)
			die("NEXTMSG: %s", strerror(errno));
		if (ret)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		nsys++;
		if (poll(&p, 1, 10000) <= 0)
			die("no message within 10 s");
	}
	if (len > size)
		die("message of %u bytes too big", len);
	if (read_full(fd, buf, len))
		die("read: %s", errno ? strerror(errno) : "EOF");
	return len;
}

/*
 * With BATCHREAD on: wait for and read whole messages into buf (len bytes);
 * returns how many messages came.
 */
static int ksock_recv_batch(int fd, char *buf, size_t len)
{
	for (;;) {
		ssize_t got = read(fd, buf, len);
		size_t off = 0;
		int count = 0;

		nsys++;
		if (got < 0)
			die("batch read: %s", strerror(errno));
		while (off < (size_t)got) {
			const struct kbus_message_header *h = (const void *)(buf + off);

			off += KBUS_ENTIRE_MSG_LEN(h->name_len, h->data_len);
			count++;
		}
		if (count)
			return count;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		nsys++;
		if (poll(&p, 1, 10000) <= 0)
			die("no message within 10 s");
	}
}

static void header(struct kbus_message_header *hdr, const char *name,
		   void *data, uint32_t data_len, uint32_t flags)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->start_guard = KBUS_MSG_START_GUARD;
	hdr->end_guard = KBUS_MSG_END_GUARD;
	hdr->name = (char *)name;
	hdr->name_len = strlen(name);
	hdr->data = data_len ? data : NULL;
	hdr->data_len = data_len;
	hdr->flags = flags;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(double *v, int n, double p)
{
	int i = (int)(p / 100.0 * (n - 1) + 0.5);

	return v[i];
}

/* ---- round trips ---- */

enum floor { FLOOR_PIPE, FLOOR_UNIX };

/* A ping-pong over two pipes or a socket pair: the floor for a round trip. */
static void floor_rtt(enum floor kind, size_t payload, int n, double *lat)
{
	int to_child[2], to_parent[2];
	char *buf = calloc(1, payload);
	pid_t pid;
	int i;

	if (!buf)
		die("out of memory");
	if (kind == FLOOR_PIPE) {
		if (pipe(to_child) || pipe(to_parent))
			die("pipe: %s", strerror(errno));
	} else {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair: %s", strerror(errno));
		to_child[0] = sv[1];
		to_child[1] = sv[0];
		to_parent[0] = sv[0];
		to_parent[1] = sv[1];
	}
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		for (i = 0; i < n; i++) {
			if (read_full(to_child[0], buf, payload) ||
			    write(to_parent[1], buf, payload) != (ssize_t)payload)
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i < n; i++) {
		double t0 = now();

		if (write(to_child[1], buf, payload) != (ssize_t)payload)
			die("write: %s", strerror(errno));
		if (read_full(to_parent[0], buf, payload))
			die("read: %s", errno ? strerror(errno) : "EOF");
		lat[i] = now() - t0;
	}
	waitpid(pid, NULL, 0);
	close(to_child[0]);
	close(to_child[1]);
	if (kind == FLOOR_PIPE) {
		close(to_parent[0]);
		close(to_parent[1]);
	}
	free(buf);
}

/* A KBUS Request -> Reply round trip with a replier in another process. */
static void kbus_rtt(size_t payload, int n, double *lat)
{
	size_t size = KBUS_ENTIRE_MSG_LEN(64, payload) + 64;
	char *data = calloc(1, payload ? payload : 1);
	char *buf = malloc(size);
	struct kbus_message_header hdr;
	int ready[2];
	pid_t pid;
	int fd, i;

	if (!data || !buf || pipe(ready))
		die("out of memory");
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int rfd = ksock_open();

		ksock_bind(rfd, "$.Bench.RTT", 1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < n; i++) {
			struct kbus_message_header *req = (void *)buf;
			struct kbus_msg_id id;

			ksock_recv(rfd, buf, size);
			header(&hdr, "$.Bench.RTT", data, payload, 0);
			hdr.in_reply_to = req->id;
			hdr.to = req->from;
			if (ksock_send(rfd, &hdr, &id))
				_exit(1);
		}
		_exit(0);
	}
	if (read(ready[0], buf, 1) != 1)
		die("replier did not start");
	fd = ksock_open();
	for (i = 0; i < n; i++) {
		struct kbus_msg_id id;
		double t0 = now();

		header(&hdr, "$.Bench.RTT", data, payload, KBUS_BIT_WANT_A_REPLY);
		if (ksock_send(fd, &hdr, &id))
			die("request: %s", strerror(errno));
		ksock_recv(fd, buf, size);
		lat[i] = now() - t0;
	}
	waitpid(pid, NULL, 0);
	close(fd);
	close(ready[0]);
	close(ready[1]);
	free(buf);
	free(data);
}

/* ---- the D-Bus floor: a method call through a private dbus-daemon ---- */

#define BENCH_DBUS_NAME "org.kbus.Bench"
#define BENCH_DBUS_PATH "/org/kbus/Bench"

static const char dbus_config[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>session</type>\n"
	"  <listen>unix:tmpdir=/tmp</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
	"    <allow eavesdrop=\"true\"/>\n"
	"    <allow own=\"*\"/>\n"
	"  </policy>\n"
	"</busconfig>\n";

static pid_t dbus_daemon;
static char dbus_address[512];

/* Start a dbus-daemon of our own (its address into dbus_address). */
static void dbus_start(void)
{
	char conf[] = "/tmp/kbus-bench-dbus-XXXXXX";
	char conf_arg[64], fd_arg[32];
	size_t len = sizeof(dbus_config) - 1, got = 0;
	int fd = mkstemp(conf), out[2];

	if (fd < 0 || write(fd, dbus_config, len) != (ssize_t)len || close(fd))
		die("D-Bus configuration %s: %s", conf, strerror(errno));
	if (pipe(out))
		die("pipe: %s", strerror(errno));
	dbus_daemon = fork();
	if (dbus_daemon < 0)
		die("fork: %s", strerror(errno));
	if (dbus_daemon == 0) {
		close(out[0]);
		snprintf(conf_arg, sizeof(conf_arg), "--config-file=%s", conf);
		snprintf(fd_arg, sizeof(fd_arg), "--print-address=%d", out[1]);
		execlp("dbus-daemon", "dbus-daemon", "--nofork", conf_arg, fd_arg,
		       (char *)NULL);
		fprintf(stderr, "kbus-bench: dbus-daemon: %s\n", strerror(errno));
		_exit(127);
	}
	close(out[1]);
	while (got < sizeof(dbus_address) - 1 && !memchr(dbus_address, '\n', got)) {
		ssize_t n = read(out[0], dbus_address + got,
				 sizeof(dbus_address) - 1 - got);

		if (n <= 0)
			break;
		got += n;
	}
	close(out[0]);
	unlink(conf);
	dbus_address[got] = '\0';
	dbus_address[strcspn(dbus_address, "\n")] = '\0';
	if (!dbus_address[0])
		die("dbus-daemon did not start (no address)");
}

static void dbus_stop(void)
{
	kill(dbus_daemon, SIGTERM);
	waitpid(dbus_daemon, NULL, 0);
}

static DBusConnection *dbus_connect(void)
{
	DBusConnection *conn;
	DBusError err;

	dbus_error_init(&err);
	conn = dbus_connection_open_private(dbus_address, &err);
	if (!conn || !dbus_bus_register(conn, &err))
		die("D-Bus connection to %s: %s", dbus_address,
		    err.message ? err.message : "failed");
	return conn;
}

/* The server: answers n Echo calls with the bytes they carried. */
static void dbus_server(int n, int ready)
{
	DBusConnection *conn = dbus_connect();
	DBusError err;
	int served = 0;

	dbus_error_init(&err);
	if (dbus_bus_request_name(conn, BENCH_DBUS_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE,
				  &err) != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER)
		_exit(1);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	while (served < n) {
		DBusMessage *call = dbus_connection_pop_message(conn), *reply;
		const unsigned char *bytes;
		int len;

		if (!call) {
			if (!dbus_connection_read_write(conn, -1))
				_exit(1);
			continue;
		}
		if (dbus_message_is_method_call(call, BENCH_DBUS_NAME, "Echo")) {
			if (!dbus_message_get_args(call, &err, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE,
						   &bytes, &len, DBUS_TYPE_INVALID))
				_exit(1);
			reply = dbus_message_new_method_return(call);
			if (!reply ||
			    !dbus_message_append_args(reply, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE,
						      &bytes, len, DBUS_TYPE_INVALID) ||
			    !dbus_connection_send(conn, reply, NULL))
				_exit(1);
			dbus_connection_flush(conn);
			dbus_message_unref(reply);
			served++;
		}
		dbus_message_unref(call);
	}
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	_exit(0);
}

/* A D-Bus method call carrying payload bytes, answered with as many. */
static void dbus_rtt(size_t payload, int n, double *lat)
{
	unsigned char *data = calloc(1, payload ? payload : 1);
	DBusConnection *conn;
	DBusError err;
	int ready[2], i;
	pid_t pid;
	char c;

	if (!data || pipe(ready))
		die("out of memory");
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		dbus_server(n, ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("D-Bus server did not start");
	conn = dbus_connect();
	dbus_error_init(&err);
	for (i = 0; i < n; i++) {
		const unsigned char *bytes = data;
		double t0 = now();
		DBusMessage *call, *reply;

		call = dbus_message_new_method_call(BENCH_DBUS_NAME, BENCH_DBUS_PATH,
						    BENCH_DBUS_NAME, "Echo");
		if (!call || !dbus_message_append_args(call, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE,
						       &bytes, (int)payload, DBUS_TYPE_INVALID))
			die("out of memory");
		reply = dbus_connection_send_with_reply_and_block(conn, call, 10000, &err);
		if (!reply)
			die("D-Bus call: %s", err.message ? err.message : "failed");
		lat[i] = now() - t0;
		dbus_message_unref(reply);
		dbus_message_unref(call);
	}
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	free(data);
}

static double p50_us(double *lat, int n, double *p99)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	*p99 = percentile(lat, n, 99) * 1e6;
	return percentile(lat, n, 50) * 1e6;
}

static void bench_rtt(void)
{
	static const size_t sizes[] = { 16, 1024, 65536 };
	int n = quick ? 200 : 2000;
	double *lat = calloc(n, sizeof(double));
	unsigned int s;

	if (!lat)
		die("out of memory");
	dbus_start();
	printf("\nRound trip (request -> reply; floors: pipe and Unix-socket ping-pong;\n"
	       "D-Bus method call through dbus-daemon), %d each, p50 and p99 in us\n", n);
	printf("%7s  %8s %8s  %8s %8s  %8s %8s  %8s %8s  %9s %9s\n", "payload",
	       "kbus p50", "p99", "pipe p50", "p99", "unix p50", "p99",
	       "dbus p50", "p99", "kbus/pipe", "kbus/dbus");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double k50, k99, p50, p99, u50, u99, d50, d99;
		char key[64];

		kbus_rtt(sizes[s], n, lat);
		k50 = p50_us(lat, n, &k99);
		floor_rtt(FLOOR_PIPE, sizes[s], n, lat);
		p50 = p50_us(lat, n, &p99);
		floor_rtt(FLOOR_UNIX, sizes[s], n, lat);
		u50 = p50_us(lat, n, &u99);
		dbus_rtt(sizes[s], n, lat);
		d50 = p50_us(lat, n, &d99);
		printf("%7zu  %8.1f %8.1f  %8.1f %8.1f  %8.1f %8.1f  %8.1f %8.1f  %9.2f %9.2f\n",
		       sizes[s], k50, k99, p50, p99, u50, u99, d50, d99, k50 / p50,
		       k50 / d50);
		snprintf(key, sizeof(key), "rtt_%zu_kbus_p50_us", sizes[s]);
		json_value(key, k50);
		snprintf(key, sizeof(key), "rtt_%zu_kbus_p99_us", sizes[s]);
		json_value(key, k99);
		snprintf(key, sizeof(key), "rtt_%zu_pipe_p50_us", sizes[s]);
		json_value(key, p50);
		snprintf(key, sizeof(key), "rtt_%zu_pipe_p99_us", sizes[s]);
		json_value(key, p99);
		snprintf(key, sizeof(key), "rtt_%zu_unix_p50_us", sizes[s]);
		json_value(key, u50);
		snprintf(key, sizeof(key), "rtt_%zu_unix_p99_us", sizes[s]);
		json_value(key, u99);
		snprintf(key, sizeof(key), "rtt_%zu_vs_pipe", sizes[s]);
		json_value(key, k50 / p50);
		snprintf(key, sizeof(key), "rtt_%zu_vs_unix", sizes[s]);
		json_value(key, k50 / u50);
		if (sizes[s] == 16)
			json_value("rtt_vs_pipe", k50 / p50);
		snprintf(key, sizeof(key), "rtt_%zu_dbus_p50_us", sizes[s]);
		json_value(key, d50);
		snprintf(key, sizeof(key), "rtt_%zu_dbus_p99_us", sizes[s]);
		json_value(key, d99);
		snprintf(key, sizeof(key), "rtt_%zu_vs_dbus", sizes[s]);
		json_value(key, k50 / d50);
		if (sizes[s] == 16)
			json_value("rtt_vs_dbus", k50 / d50);
	}
	dbus_stop();
	free(lat);
}

/* ---- announcement throughput ---- */

/*
 * Both sides of the comparison get the same start and the same queues:
 *
 * - the clock starts once every listener (process) is ready to read: bound
 *   to the name, or holding its pipe's read end, and has said so;
 * - each listener's queue holds the same number of messages: a KBUS
 *   listener's MAXMSGS, a pipe's capacity (F_SETPIPE_SZ) divided by the
 *   payload. A pipe's capacity is a power of two pages, so the depth is
 *   the number of messages in the smallest such pipe that holds
 *   QUEUE_DEPTH of them (1 page = 256 16-byte messages).
 *
 * Every process counts the system calls it makes, shown per message sent.
 */
#define QUEUE_DEPTH 64

struct fanout {
	double rate;		/* messages sent per second */
	double tx_sys;		/* system calls of the sender, per message */
	double rx_sys;		/* of one listener (the average), per message */
};

/* The queue depth (in messages) of both sides for this payload. */
static int fanout_depth(size_t payload)
{
	int p[2], size;
	long want = (long)QUEUE_DEPTH * (long)payload;
	long page = sysconf(_SC_PAGESIZE);

	if (pipe(p))
		die("pipe: %s", strerror(errno));
	if (want < page)
		want = page;
	if (fcntl(p[1], F_SETPIPE_SZ, (int)want) < 0)
		fprintf(stderr, "kbus-bench: F_SETPIPE_SZ %ld: %s (the pipes keep their size)\n",
			want, strerror(errno));
	size = fcntl(p[1], F_GETPIPE_SZ);
	close(p[0]);
	close(p[1]);
	if (size < (int)payload)
		die("a pipe of %d bytes cannot hold a %zu-byte message", size, payload);
	return size / (int)payload;
}

/* A listener reports its system calls through the `done` pipe. */
static void report_done(int fd)
{
	if (write(fd, &nsys, sizeof(nsys)) != (ssize_t)sizeof(nsys))
		_exit(1);
}

static void wait_ready(int fd, int listeners)
{
	char c;
	int l;

	for (l = 0; l < listeners; l++)
		if (read(fd, &c, 1) != 1)
			die("listener did not start");
}

static double wait_done(int fd, int listeners)
{
	unsigned long long sum = 0, one;
	int l;

	for (l = 0; l < listeners; l++) {
		if (read_full(fd, &one, sizeof(one)))
			die("listener failed");
		sum += one;
	}
	return (double)sum / listeners;
}

static struct fanout kbus_fanout(int listeners, size_t payload, int n, int depth,
				 int batch)
{
	char *data = calloc(1, payload ? payload : 1);
	size_t size = KBUS_ENTIRE_MSG_LEN(64, payload) + 64;
	size_t batch_len = size * 16 > 65536 ? size * 16 : 65536;
	struct kbus_message_header hdr;
	struct fanout f;
	int ready[2], done[2];
	double t0, t1, rx;
	int fd, i, l;

	if (!data || pipe(ready) || pipe(done))
		die("out of memory");
	for (l = 0; l < listeners; l++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			char *buf = malloc(batch ? batch_len : size);
			int lfd = ksock_open();
			uint32_t on = 1;

			if (!buf)
				_exit(1);
			ksock_max_messages(lfd, depth);
			ksock_bind(lfd, "$.Bench.Speed", 0);
			if (batch && ioctl(lfd, KBUS_IOC_BATCHREAD, &on) < 0)
				die("BATCHREAD: %s", strerror(errno));
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			nsys = 0;
			if (batch) {
				for (i = 0; i < n;)
					i += ksock_recv_batch(lfd, buf, batch_len);
			} else {
				for (i = 0; i < n; i++)
					ksock_recv(lfd, buf, size);
			}
			report_done(done[1]);
			_exit(0);
		}
	}
	fd = ksock_open();
	header(&hdr, "$.Bench.Speed", data, payload, KBUS_BIT_ALL_OR_WAIT);
	wait_ready(ready[0], listeners);
	nsys = 0;
	t0 = now();
	for (i = 0; i < n; i++)
		ksock_send_wait(fd, &hdr);
	f.tx_sys = (double)nsys / n;
	rx = wait_done(done[0], listeners);
	t1 = now();
	while (wait(NULL) > 0)
		;
	close(fd);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	free(data);
	f.rate = n / (t1 - t0);
	f.rx_sys = rx / n;
	return f;
}

/*
 * The floor for throughput: the same fan-out over pipes, the sender writing
 * every message into one pipe per listener (a pipe has one reader), each
 * listener reading it back message by message.
 */
static struct fanout pipe_fanout(int listeners, size_t payload, int n, int depth)
{
	char *data = calloc(1, payload ? payload : 1);
	int *fds = calloc(listeners, sizeof(int));
	int ready[2], done[2], l, i;
	struct fanout f;
	double t0, t1, rx;

	if (!data || !fds || pipe(ready) || pipe(done))
		die("out of memory");
	for (l = 0; l < listeners; l++) {
		int p[2];
		pid_t pid;

		if (pipe(p))
			die("pipe: %s", strerror(errno));
		/* as many messages as a KBUS listener's queue (fanout_depth) */
		if (fcntl(p[1], F_SETPIPE_SZ, (int)(depth * payload)) < 0 &&
		    fcntl(p[1], F_GETPIPE_SZ) < (int)(depth * payload))
			die("F_SETPIPE_SZ: %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[1]);
			for (i = 0; i < l; i++)
				close(fds[i]);
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			nsys = 0;
			for (i = 0; i < n; i++)
				if (read_full(p[0], data, payload))
					_exit(1);
			report_done(done[1]);
			_exit(0);
		}
		close(p[0]);
		fds[l] = p[1];
	}
	wait_ready(ready[0], listeners);
	nsys = 0;
	t0 = now();
	for (i = 0; i < n; i++) {
		for (l = 0; l < listeners; l++) {
			nsys++;
			if (write(fds[l], data, payload) != (ssize_t)payload)
				die("write: %s", strerror(errno));
		}
	}
	f.tx_sys = (double)nsys / n;
	rx = wait_done(done[0], listeners);
	t1 = now();
	while (wait(NULL) > 0)
		;
	for (l = 0; l < listeners; l++)
		close(fds[l]);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	free(fds);
	free(data);
	f.rate = n / (t1 - t0);
	f.rx_sys = rx / n;
	return f;
}

static void bench_throughput(void)
{
	static const int counts[] = { 1, 4, 16 };
	static const size_t sizes[] = { 16, 1024, 65536 };
	unsigned int c, s;

	printf("\nAnnouncement throughput (messages/s sent, every listener gets every one;\n"
	       "floor: the same fan-out over one pipe per listener; both start once every\n"
	       "listener is ready, each listener queues `depth` messages; `batch`: the\n"
	       "listeners read with BATCHREAD; system calls per message sent: the\n"
	       "sender's / one listener's)\n");
	printf("%9s %8s %6s %12s %12s %12s %10s %10s %13s %13s %13s\n", "listeners",
	       "payload", "depth", "kbus msg/s", "batch msg/s", "pipe msg/s", "kbus/pipe",
	       "batch/pipe", "kbus sys", "batch sys", "pipe sys");
	for (c = 0; c < 3; c++) {
		for (s = 0; s < 3; s++) {
			int n = quick ? 200 : (sizes[s] > 4096 ? 500 : 2000);
			int depth = fanout_depth(sizes[s]);
			struct fanout k = kbus_fanout(counts[c], sizes[s], n, depth, 0);
			struct fanout b = kbus_fanout(counts[c], sizes[s], n, depth, 1);
			struct fanout p = pipe_fanout(counts[c], sizes[s], n, depth);
			char key[80], ksys[32], bsys[32], psys[32];

			snprintf(ksys, sizeof(ksys), "%.1f / %.1f", k.tx_sys, k.rx_sys);
			snprintf(bsys, sizeof(bsys), "%.1f / %.2f", b.tx_sys, b.rx_sys);
			snprintf(psys, sizeof(psys), "%.1f / %.1f", p.tx_sys, p.rx_sys);
			printf("%9d %8zu %6d %12.0f %12.0f %12.0f %10.2f %10.2f %13s %13s %13s\n",
			       counts[c], sizes[s], depth, k.rate, b.rate, p.rate,
			       k.rate / p.rate, b.rate / p.rate, ksys, bsys, psys);
#define KEY(fmt) (snprintf(key, sizeof(key), fmt, counts[c], sizes[s]), key)
			json_value(KEY("announce_%dl_%zu_msgs_per_s"), k.rate);
			json_value(KEY("announce_batch_%dl_%zu_msgs_per_s"), b.rate);
			json_value(KEY("pipe_fanout_%dl_%zu_msgs_per_s"), p.rate);
			json_value(KEY("announce_%dl_%zu_vs_pipe"), k.rate / p.rate);
			json_value(KEY("announce_batch_%dl_%zu_vs_pipe"), b.rate / p.rate);
			json_value(KEY("announce_%dl_%zu_depth"), depth);
			json_value(KEY("announce_%dl_%zu_sender_syscalls_per_msg"), k.tx_sys);
			json_value(KEY("announce_%dl_%zu_listener_syscalls_per_msg"), k.rx_sys);
			json_value(KEY("announce_batch_%dl_%zu_listener_syscalls_per_msg"),
				   b.rx_sys);
			json_value(KEY("pipe_fanout_%dl_%zu_sender_syscalls_per_msg"), p.tx_sys);
			json_value(KEY("pipe_fanout_%dl_%zu_listener_syscalls_per_msg"),
				   p.rx_sys);
#undef KEY
		}
	}
}

/* ---- send cost against the number of bindings ---- */

#define SEND_ROUNDS 10
#define CROWD_KSOCKS 10	/* the bindings are spread over this many Ksocks */

/*
 * The best of SEND_ROUNDS rounds of n / SEND_ROUNDS sends of hdr from fd
 * (each read back by reader, unless it is -1), in seconds per round: so
 * that other load on the machine (and the emulator's translation warm-up)
 * counts as little as possible.
 */
static double best_round(int fd, struct kbus_message_header *hdr, int n,
			 int reader)
{
	static char buf[4096];
	double t0, t1, best = 0;
	int i, r;

	for (r = 0; r < SEND_ROUNDS; r++) {
		t0 = now();
		for (i = 0; i < n / SEND_ROUNDS; i++) {
			struct kbus_msg_id id;

			if (ksock_send(fd, hdr, &id))
				die("send: %s", strerror(errno));
			if (reader >= 0)
				ksock_recv(reader, buf, sizeof(buf));
		}
		t1 = now();
		if (r == 0 || t1 - t0 < best)
			best = t1 - t0;
	}
	return best;
}

static double send_cost(int others, int wildcard)
{
	int n = quick ? 2000 : 20000;
	struct kbus_message_header hdr;
	int crowd[CROWD_KSOCKS], fd = ksock_open();
	char name[64];
	double best;
	int i;

	/* spread over Ksocks: one Ksock binds at most kbus_max_ksock_bindings */
	for (i = 0; i < CROWD_KSOCKS; i++)
		crowd[i] = ksock_open();
	for (i = 0; i < others; i++) {
		snprintf(name, sizeof(name), wildcard ? "$.Other%d.*" : "$.Other.N%d",
			 i);
		ksock_bind(crowd[i % CROWD_KSOCKS], name, 0);
	}
	/* Nobody listens to the target: the cost is finding that out. */
	header(&hdr, "$.Bench.Target.Name", NULL, 0, 0);
	best = best_round(fd, &hdr, n, -1);
	for (i = 0; i < CROWD_KSOCKS; i++)
		close(crowd[i]);
	close(fd);
	return best / (n / SEND_ROUNDS) * 1e6;
}

static void bench_bindings(void)
{
	static const int counts[] = { 10, 100, 1000, 10000 };
	double base = 0, cost;
	unsigned int i;

	printf("\nSend cost (one announcement, write + SEND) with bindings on other names\n");
	printf("%10s %12s %10s\n", "bindings", "us/send", "vs 10");
	for (i = 0; i < 4; i++) {
		char key[64];

		cost = send_cost(counts[i], 0);
		if (i == 0)
			base = cost;
		printf("%10d %12.2f %10.2f\n", counts[i], cost, cost / base);
		snprintf(key, sizeof(key), "send_us_%d_bindings", counts[i]);
		json_value(key, cost);
		if (counts[i] == 10000)
			json_value("bindings_10000_vs_10", cost / base);
	}
	cost = send_cost(1000, 1);
	printf("%10s %12.2f %10.2f\n", "1000 wild", cost, cost / base);
	json_value("send_us_1000_wildcards", cost);
	json_value("wildcards_1000_vs_10", cost / base);
}

/* ---- send cost with an access policy loaded ---- */

static void set_policy(int fd, int nrules)
{
	size_t cap = (size_t)nrules * (sizeof(struct kbus_policy_rule) + 64) + 64;
	char *blob = calloc(1, cap);
	struct kbus_policy pol = {
		.magic = KBUS_POLICY_MAGIC,
		.version = KBUS_POLICY_VERSION,
		.default_effect = nrules ? KBUS_POLICY_DENY : KBUS_POLICY_ALLOW,
		.num_rules = nrules,
	};
	size_t off = 0;
	int i;

	if (!blob)
		die("out of memory");
	for (i = 0; i < nrules; i++) {
		struct kbus_policy_rule r = {
			.effect = KBUS_POLICY_ALLOW,
			.subject = KBUS_POLICY_USER,
			.id = 1000 + i % 7,
		};
		char name[64];

		/* the last three let the benchmark's sends and listener through */
		if (i == nrules - 3)
			snprintf(name, sizeof(name), "$.Bench.*");
		else if (i >= nrules - 2)
			snprintf(name, sizeof(name), "$.*");
		else
			snprintf(name, sizeof(name), "$.Other.Rule%d.*", i);
		r.action = i == nrules - 1 ? KBUS_POLICY_LISTEN :
			   i >= nrules - 3 ? KBUS_POLICY_SEND : 1 + i % 3;
		if (i >= nrules - 3)
			r.subject = KBUS_POLICY_EVERYONE;
		r.name_len = strlen(name);
		memcpy(blob + off, &r, sizeof(r));
		off += sizeof(r);
		memcpy(blob + off, name, r.name_len);
		off += (r.name_len + 3) & ~3U;
	}
	pol.size = off;
	pol.rules = (uintptr_t)blob;
	if (ioctl(fd, KBUS_IOC_SETPOLICY, &pol) < 0)
		die("SETPOLICY: %s", strerror(errno));
	free(blob);
}

/* us per announcement sent to a name with one (full) listener. */
static double policy_send_cost(int nrules)
{
	int n = quick ? 2000 : 20000;
	int fd = ksock_open(), listener = ksock_open();
	struct kbus_message_header hdr;
	double best;

	set_policy(fd, nrules);
	ksock_max_messages(listener, 1);
	ksock_bind(listener, "$.Bench.*", 0);
	header(&hdr, "$.Bench.Target.Name", NULL, 0, 0);
	best = best_round(fd, &hdr, n, -1);
	set_policy(fd, 0);
	close(listener);
	close(fd);
	return best / (n / SEND_ROUNDS) * 1e6;
}

static void bench_policy(void)
{
	double none = policy_send_cost(0), some = policy_send_cost(10);
	double many = policy_send_cost(1000);

	printf("\nSend cost (one announcement, a full listener) with an access policy\n");
	printf("%10s %12s %10s\n", "rules", "us/send", "vs none");
	printf("%10s %12.2f %10.2f\n", "none", none, 1.0);
	printf("%10d %12.2f %10.2f\n", 10, some, some / none);
	printf("%10d %12.2f %10.2f\n", 1000, many, many / none);
	json_value("send_us_no_policy", none);
	json_value("send_us_policy_10_rules", some);
	json_value("send_us_policy_1000_rules", many);
	json_value("policy_1000_vs_none", many / none);
}

/* ---- traffic beside senders held up by a full listener ---- */

/*
 * A child whose ALL_OR_WAIT send to the full listener stays pending: it
 * polls for write until the listener goes (the parent closes it), when
 * its send goes too.
 */
static pid_t waiting_sender(int stuck, int ready)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct kbus_message_header hdr;
		struct kbus_msg_id id;
		struct pollfd p;
		int fd, err;

		close(stuck);	/* the parent's close must end the wait */
		fd = ksock_open();
		header(&hdr, "$.Bench.Stuck", NULL, 0, KBUS_BIT_ALL_OR_WAIT);
		err = ksock_send(fd, &hdr, &id);
		if (err != -EAGAIN)
			die("a send to the full listener: %s",
			    err ? strerror(-err) : "not held up");
		if (write(ready, "r", 1) != 1)
			_exit(1);
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 60000) <= 0)
			die("pending send not resolved within 60 s");
		_exit(0);
	}
	return pid;
}

/* Announcements sent and read per second, with `waiters` sends held up. */
static double traffic_beside(int waiters)
{
	int n = quick ? 500 : 5000;
	int stuck = ksock_open(), ready[2];
	int fd, listener, i;
	struct kbus_message_header hdr, fill;
	double best;
	pid_t pids[64];

	if (pipe(ready))
		die("pipe: %s", strerror(errno));
	ksock_max_messages(stuck, 1);
	ksock_bind(stuck, "$.Bench.Stuck", 0);
	header(&fill, "$.Bench.Stuck", NULL, 0, 0);
	fd = ksock_open();
	if (ksock_send(fd, &fill, &(struct kbus_msg_id){ 0 }))
		die("filling the listener: %s", strerror(errno));
	listener = ksock_open();
	ksock_bind(listener, "$.Bench.Beside", 0);
	for (i = 0; i < waiters; i++)
		pids[i] = waiting_sender(stuck, ready[1]);
	wait_ready(ready[0], waiters);
	header(&hdr, "$.Bench.Beside", "sixteen bytes!!", 16, 0);
	best = best_round(fd, &hdr, n, listener);
	close(stuck);
	for (i = 0; i < waiters; i++)
		if (waitpid(pids[i], NULL, 0) < 0)
			die("waitpid: %s", strerror(errno));
	close(listener);
	close(fd);
	close(ready[0]);
	close(ready[1]);
	return (n / SEND_ROUNDS) / best;
}

static void bench_waiting(void)
{
	double none = traffic_beside(0), eight = traffic_beside(8);

	printf("\nTraffic beside held-up senders (one announcement sent and read, 16 B,\n"
	       "while N ALL_OR_WAIT sends wait for a listener that does not read)\n");
	printf("%10s %12s %10s\n", "waiting", "msgs/s", "vs none");
	printf("%10d %12.0f %10.2f\n", 0, none, 1.0);
	printf("%10d %12.0f %10.2f\n", 8, eight, eight / none);
	json_value("beside_msgs_no_waiters", none);
	json_value("beside_msgs_8_waiters", eight);
	json_value("beside_8_waiters_vs_none", eight / none);
}

/* ---- kernel memory ---- */

static long slab_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void bench_memory(void)
{
	int n = 1000, i;
	int *fds = calloc(n, sizeof(int));
	struct kbus_message_header hdr;
	long before, after;
	double per_ksock, per_msg;
	int sender, listener;

	if (!fds)
		die("out of memory");
	printf("\nKernel memory (slab growth; 16-byte messages)\n");
	before = slab_kib();
	for (i = 0; i < n; i++)
		fds[i] = ksock_open();
	after = slab_kib();
	per_ksock = (after - before) * 1024.0 / n;
	for (i = 0; i < n; i++)
		close(fds[i]);

	listener = ksock_open();
	sender = ksock_open();
	ksock_max_messages(listener, 100000);
	ksock_bind(listener, "$.Bench.Mem", 0);
	header(&hdr, "$.Bench.Mem", "0123456789abcdef", 16, 0);
	before = slab_kib();
	for (i = 0; i < 10 * n; i++)
		ksock_send_wait(sender, &hdr);
	after = slab_kib();
	per_msg = (after - before) * 1024.0 / (10 * n);
	close(listener);
	close(sender);
	free(fds);
	printf("%-28s %8.0f bytes\n", "per open Ksock", per_ksock);
	printf("%-28s %8.0f bytes\n", "per queued message", per_msg);
	json_value("kernel_bytes_per_ksock", per_ksock);
	json_value("kernel_bytes_per_queued_msg", per_msg);
}

static int is_section(const char *name)
{
	static const char *const sections[] = { "rtt", "throughput", "bindings", "policy",
						"waiting", "memory" };
	unsigned int i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strcmp(name, sections[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *json_path = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json_path = argv[++i];
		} else if (!strcmp(argv[i], "--bus") && i + 1 < argc) {
			bus = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc && is_section(argv[i + 1])) {
			only = argv[++i];
		} else {
			FILE *out = strcmp(argv[i], "--help") ? stderr : stdout;

			if (!strcmp(argv[i], "--only") && i + 1 < argc)
				fprintf(stderr, "kbus-bench: no section '%s'\n", argv[i + 1]);
			fprintf(out,
				"usage: kbus-bench [--quick] [--json FILE] [--bus N] [--only SECTION]\n"
				"  --quick         fewer iterations (a smoke run)\n"
				"  --json FILE     also write the figures as JSON\n"
				"  --bus N         use /dev/kbusN (default 0)\n"
				"  --only SECTION  rtt, throughput, bindings, policy, waiting or memory\n");
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (json_path) {
		json = fopen(json_path, "w");
		if (!json)
			die("%s: %s", json_path, strerror(errno));
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!only || !strcmp(only, "rtt"))
		bench_rtt();
	if (!only || !strcmp(only, "throughput"))
		bench_throughput();
	if (!only || !strcmp(only, "bindings"))
		bench_bindings();
	if (!only || !strcmp(only, "policy"))
		bench_policy();
	if (!only || !strcmp(only, "waiting"))
		bench_waiting();
	if (!only || !strcmp(only, "memory"))
		bench_memory();
	if (json) {
		fprintf(json, json_first ? "{}\n" : "\n}\n");
		if (fclose(json))
			die("%s: %s", json_path, strerror(errno));
	}
	return 0;
}
