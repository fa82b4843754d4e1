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

		if (ret < 0)
			die("NEXTMSG: %s", strerror(errno));
		if (ret)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 10000) <= 0)
			die("no message within 10 s");
	}
	if (len > size)
		die("message of %u bytes too big", len);
	if (read_full(fd, buf, len))
		die("read: %s", errno ? strerror(errno) : "EOF");
	return len;
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

static double throughput(int listeners, size_t payload, int n)
{
	char *data = calloc(1, payload ? payload : 1);
	size_t size = KBUS_ENTIRE_MSG_LEN(64, payload) + 64;
	struct kbus_message_header hdr;
	int ready[2], done[2];
	double t0, t1;
	char c;
	int fd, i, l;

	if (!data || pipe(ready) || pipe(done))
		die("out of memory");
	for (l = 0; l < listeners; l++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			char *buf = malloc(size);
			int lfd = ksock_open();

			if (!buf)
				_exit(1);
			ksock_max_messages(lfd, 1000);
			ksock_bind(lfd, "$.Bench.Speed", 0);
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			for (i = 0; i < n; i++)
				ksock_recv(lfd, buf, size);
			if (write(done[1], "d", 1) != 1)
				_exit(1);
			_exit(0);
		}
	}
	for (l = 0; l < listeners; l++)
		if (read(ready[0], &c, 1) != 1)
			die("listener did not start");
	fd = ksock_open();
	header(&hdr, "$.Bench.Speed", data, payload, KBUS_BIT_ALL_OR_WAIT);
	t0 = now();
	for (i = 0; i < n; i++)
		ksock_send_wait(fd, &hdr);
	for (l = 0; l < listeners; l++)
		if (read(done[0], &c, 1) != 1)
			die("listener failed");
	t1 = now();
	while (wait(NULL) > 0)
		;
	close(fd);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	free(data);
	return n / (t1 - t0);
}

/*
 * The floor for throughput: the same fan-out over pipes, the sender writing
 * every message into one pipe per listener, each listener reading it back
 * message by message.
 */
static double pipe_fanout(int listeners, size_t payload, int n)
{
	char *data = calloc(1, payload ? payload : 1);
	int *fds = calloc(listeners, sizeof(int));
	int done[2], l, i;
	double t0, t1;
	char c;

	if (!data || !fds || pipe(done))
		die("out of memory");
	for (l = 0; l < listeners; l++) {
		int p[2];
		pid_t pid;

		if (pipe(p))
			die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[1]);
			for (i = 0; i < n; i++)
				if (read_full(p[0], data, payload))
					_exit(1);
			if (write(done[1], "d", 1) != 1)
				_exit(1);
			_exit(0);
		}
		close(p[0]);
		fds[l] = p[1];
	}
	t0 = now();
	for (i = 0; i < n; i++)
		for (l = 0; l < listeners; l++)
			if (write(fds[l], data, payload) != (ssize_t)payload)
				die("write: %s", strerror(errno));
	for (l = 0; l < listeners; l++)
		if (read(done[0], &c, 1) != 1)
			die("pipe listener failed");
	t1 = now();
	while (wait(NULL) > 0)
		;
	for (l = 0; l < listeners; l++)
		close(fds[l]);
	close(done[0]);
	close(done[1]);
	free(fds);
	free(data);
	return n / (t1 - t0);
}

static void bench_throughput(void)
{
	static const int counts[] = { 1, 4, 16 };
	static const size_t sizes[] = { 16, 1024, 65536 };
	unsigned int c, s;

	printf("\nAnnouncement throughput (messages/s sent, every listener gets every one;\n"
	       "floor: the same fan-out over one pipe per listener)\n");
	printf("%9s %8s %12s %12s %10s\n", "listeners", "payload", "kbus msg/s",
	       "pipe msg/s", "kbus/pipe");
	for (c = 0; c < 3; c++) {
		for (s = 0; s < 3; s++) {
			int n = quick ? 200 : (sizes[s] > 4096 ? 500 : 2000);
			double rate = throughput(counts[c], sizes[s], n);
			double floor = pipe_fanout(counts[c], sizes[s], n);
			char key[64];

			printf("%9d %8zu %12.0f %12.0f %10.2f\n", counts[c], sizes[s],
			       rate, floor, rate / floor);
			snprintf(key, sizeof(key), "announce_%dl_%zu_msgs_per_s",
				 counts[c], sizes[s]);
			json_value(key, rate);
			snprintf(key, sizeof(key), "pipe_fanout_%dl_%zu_msgs_per_s",
				 counts[c], sizes[s]);
			json_value(key, floor);
			snprintf(key, sizeof(key), "announce_%dl_%zu_vs_pipe",
				 counts[c], sizes[s]);
			json_value(key, rate / floor);
		}
	}
}

/* ---- send cost against the number of bindings ---- */

#define SEND_ROUNDS 10
#define CROWD_KSOCKS 10	/* the bindings are spread over this many Ksocks */

static double send_cost(int others, int wildcard)
{
	int n = quick ? 2000 : 20000;
	struct kbus_message_header hdr;
	int crowd[CROWD_KSOCKS], fd = ksock_open();
	char name[64];
	double t0, t1, best = 0;
	int i, r;

	/* spread over Ksocks: one Ksock binds at most kbus_max_ksock_bindings */
	for (i = 0; i < CROWD_KSOCKS; i++)
		crowd[i] = ksock_open();
	for (i = 0; i < others; i++) {
		snprintf(name, sizeof(name), wildcard ? "$.Other%d.*" : "$.Other.N%d",
			 i);
		ksock_bind(crowd[i % CROWD_KSOCKS], name, 0);
	}
	/*
	 * Nobody listens to the target: the cost is finding that out. The
	 * best of several rounds, so that other load on the machine (and the
	 * emulator's translation warm-up) counts as little as possible.
	 */
	header(&hdr, "$.Bench.Target.Name", NULL, 0, 0);
	for (r = 0; r < SEND_ROUNDS; r++) {
		t0 = now();
		for (i = 0; i < n / SEND_ROUNDS; i++) {
			struct kbus_msg_id id;

			if (ksock_send(fd, &hdr, &id))
				die("send: %s", strerror(errno));
		}
		t1 = now();
		if (r == 0 || t1 - t0 < best)
			best = t1 - t0;
	}
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
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else {
			printf("usage: kbus-bench [--quick] [--json FILE] [--bus N] [--only SECTION]\n"
			       "  --quick         fewer iterations (a smoke run)\n"
			       "  --json FILE     also write the figures as JSON\n"
			       "  --bus N         use /dev/kbusN (default 0)\n"
			       "  --only SECTION  rtt, throughput, bindings or memory\n");
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
	if (!only || !strcmp(only, "memory"))
		bench_memory();
	if (json) {
		fprintf(json, "\n}\n");
		fclose(json);
	}
	return 0;
}
