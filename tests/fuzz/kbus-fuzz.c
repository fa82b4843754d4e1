// SPDX-License-Identifier: MIT
/*
 * kbus-fuzz: a seeded, bounded fuzzer for the KBUS kernel module, run in the
 * rig guest on a bus of its own (`make fuzz`; README.md, "Fuzzing").
 *
 *   kbus-fuzz [--seed N] [--ops N] [--seconds N] [--procs N] [--round R]
 *             [--round-ops N] [--unload] [--quiet]
 *
 * The run is a series of rounds.  In each round --procs worker processes do
 * random open/close/bind/unbind/write/read/ioctl/poll operations on their
 * own Ksocks (up to four each) with valid, boundary and garbage arguments:
 * unmapped and kernel addresses, buffers that end at an unmapped page, huge
 * lengths, bad names, messages written in pieces, pending ALL_OR_WAIT sends,
 * and short-lived children killed (SIGKILL) in the middle of their own
 * operations.  The parent may SIGKILL a worker too.  Every worker's random
 * decisions come from a generator seeded by (seed, round, worker), so a seed
 * (and --round R for one round) replays the same per-process op sequences;
 * the interleaving of the processes, and so the results, can differ.
 *
 * Invariants checked (each breach is reported with seed, round and worker):
 *   - every Request that SEND accepted gets exactly one reply (the replier's
 *     or a $.KBUS.Replier.* / ErrorSending status) on a requester that stays
 *     open; no reply to a request that was never sent;
 *   - a second reply to the same request is refused;
 *   - two Ksocks see the messages they both received (non-urgent,
 *     non-synthetic) in the same relative order;
 *   - every message read is well formed: guards, lengths, a NUL and zero
 *     padding after the name, zero padding after the data, extra == 0,
 *     name and data pointers NULL;
 *   - arguments that must fail do (bad pointers: EFAULT; unknown ioctls:
 *     ENOTTY; ...) and arguments that must work do;
 *   - after each round, once everything is closed, /proc/kbus/stats lists
 *     no Ksock and no set-aside event and /proc/kbus/bindings no binding;
 *   - with --unload, at the end `rmmod kbus` succeeds and the kernel log of
 *     the run has no WARNING/BUG/Oops (or sanitizer/lockdep report; a KCSAN
 *     data-race report counts only when one of the racing accesses is
 *     kbus's: on a KCSAN kernel the races among the kernel's own parts are
 *     shown, not counted, as tests/debug/check_kernel_log.py does).
 * A summary (ops by kind, errors by errno, requests and replies, kills) is
 * printed at the end; the exit status is 1 on any breach, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kbus_defns.h>

#define MAX_PROCS	16
#define MAX_KS		4
#define LOG_CAP		(1u << 17)	/* order-log records per worker and round */
#define FAIL_LEN	600
#define MAX_ERRNO	160
#define SETTLE_SECONDS	60
#define BIG_DATA	(64 * 1024)
#define HDR_LEN		((uint32_t)sizeof(struct kbus_message_header))

/* ---- the op kinds (counted in the summary) ---- */

enum op {
	OP_OPEN, OP_CLOSE, OP_BIND, OP_UNBIND, OP_REPLIER, OP_SEND_MSG,
	OP_REPLY, OP_WRITE_PART, OP_WRITE_GARBAGE, OP_SEND, OP_DISCARD,
	OP_NEXTMSG, OP_READ, OP_RECV, OP_IOC_U32, OP_IOC_SWITCH, OP_IOC_BAD,
	OP_LASTSENT, OP_POLL, OP_KID, OP_NEWDEVICE,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"open", "close", "bind", "unbind", "replier", "send-msg", "reply",
	"write-part", "write-garbage", "send", "discard", "nextmsg", "read",
	"recv", "ioctl-u32", "ioctl-switch", "ioctl-bad", "lastsent", "poll",
	"kid", "newdevice",
};

/* ---- shared memory: one slot per worker, written live ---- */

struct order_rec {
	uint32_t ksock;		/* (device << 24) | Ksock id */
	uint32_t serial;
};

struct slot {
	uint64_t ops[OP_COUNT];
	uint64_t op_errs[OP_COUNT];
	uint64_t errs[MAX_ERRNO];
	uint64_t requests;	/* Requests SEND accepted (sure) */
	uint64_t requests_maybe; /* pending ALL_OR_WAIT ones */
	uint64_t replies_sent;
	uint64_t answers;	/* replies and statuses received for them */
	uint64_t statuses;	/* of which $.KBUS.* statuses */
	uint64_t forfeited;	/* requests whose requester was closed */
	uint64_t msgs_read;
	uint64_t kids;
	uint64_t kids_killed;
	uint64_t settle_ops;	/* draining and answering at the end */
	volatile int satisfied;	/* settling: all own requests answered */
	volatile int finished;
	uint32_t nlog;
	int failed;
	char fail[FAIL_LEN];
	struct order_rec log[LOG_CAP];
};

struct shared {
	volatile int phase;	/* 0 ops, 1 finish */
	struct slot slot[MAX_PROCS];
};

static struct shared *shm;

/* ---- options ---- */

static uint64_t opt_seed;
static bool opt_seed_set;
static uint64_t opt_ops = 20000;
static double opt_seconds = 600;
static int opt_procs = 4;
static long opt_round = -1;
static uint32_t opt_round_ops = 1500;	/* per worker */
static bool opt_unload;
static bool opt_quiet;

/* ---- a small seeded generator (splitmix64 / xorshift*) ---- */

struct rng {
	uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

static bool chance(struct rng *r, uint32_t one_in)
{
	return below(r, one_in) == 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- per-process state ---- */

/* What a request id is expected to get. */
enum expect { EXP_SURE = 1, EXP_MAYBE = 2 };

struct track {
	uint64_t key;		/* (device << 32) | serial; 0 = empty */
	uint32_t owner;		/* Ksock id of the requester */
	uint8_t expect;
	uint8_t answers;
};

struct owed {
	struct kbus_msg_id id;
	uint32_t requester;
	int replies_ok;		/* replies SEND accepted so far */
	bool maybe;		/* a reply went pending: may have been sent */
};

struct ksock {
	int fd;			/* -1: slot free */
	int dev;
	uint32_t id;
	bool writable;
	bool pending;		/* an ALL_OR_WAIT send returned EAGAIN */
	bool writing;		/* a message is partly written */
	bool complete;		/* a message is completely written */
	bool reading;		/* NEXTMSG gave a message not yet read */
	uint8_t part[256];	/* a well-formed message written in part */
	uint32_t part_len, part_pos;
	uint32_t read_len, read_pos;
	struct kbus_msg_id last_sent;
	struct owed *owed;
	uint32_t nowed, owed_cap;
	/* the message written but not sent yet */
	bool wmsg_request;
	bool wmsg_reply;
	struct kbus_msg_id wmsg_reply_to;
	int wmsg_owed;		/* index into owed[] of the reply, or -1 */
};

struct proc {
	struct rng rng;
	int widx;		/* worker index, -1 for a kid */
	struct slot *slot;	/* NULL: nothing logged (kids) */
	struct ksock ks[MAX_KS];
	struct track *tr;
	uint32_t tr_cap, tr_count;
	bool settling;
	double settle_close_at;
	uint8_t *buf;		/* RW pages followed by a PROT_NONE page */
	size_t buf_len;
	uint8_t *noaccess;
	uint8_t *rbuf;		/* read buffer */
	size_t rbuf_len;
	uint64_t seed;
	long round;
};

static struct slot kid_slot;	/* kids count into a private slot */

/* ---- failures ---- */

static void fail(struct proc *p, const char *fmt, ...)
{
	char msg[FAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kbus-fuzz: FAIL seed=%" PRIu64 " round=%ld worker=%d: %s\n",
		p->seed, p->round, p->widx, msg);
	if (p->slot && !p->slot->failed) {
		p->slot->failed = 1;
		snprintf(p->slot->fail, FAIL_LEN, "%s", msg);
	}
	if (p->widx < 0)
		_exit(1);
}

static struct slot *counters(struct proc *p)
{
	return p->slot ? p->slot : &kid_slot;
}

static void count_op(struct proc *p, enum op op, long ret)
{
	struct slot *s = counters(p);

	if (p->settling) {
		s->settle_ops++;
		return;
	}
	s->ops[op]++;
	if (ret < 0) {
		s->op_errs[op]++;
		s->errs[errno < MAX_ERRNO ? errno : 0]++;
	}
}

/* Is errno one of the (0-terminated) list? */
static bool errno_in(int err, const int *list)
{
	for (; *list; list++)
		if (*list == err)
			return true;
	return false;
}

#define EXPECT_ERR(p, what, ret, ...)					\
	do {								\
		static const int _ok[] = { __VA_ARGS__, 0 };		\
		if ((ret) >= 0)						\
			fail(p, "%s: succeeded, expected an error", what); \
		else if (!errno_in(errno, _ok))				\
			fail(p, "%s: unexpected %s", what,		\
			     strerrorname_np(errno));			\
	} while (0)

/* ---- request tracking (open addressing on the request id) ---- */

static struct track *track_find(struct proc *p, uint64_t key, bool add)
{
	uint32_t i;

	if (add && (p->tr_count + 1) * 2 > p->tr_cap) {
		struct track *old = p->tr;
		uint32_t old_cap = p->tr_cap;

		p->tr_cap = old_cap ? old_cap * 2 : 1024;
		p->tr = calloc(p->tr_cap, sizeof(*p->tr));
		if (!p->tr) {
			perror("kbus-fuzz: calloc");
			_exit(3);
		}
		p->tr_count = 0;
		for (i = 0; i < old_cap; i++) {
			if (old[i].key) {
				*track_find(p, old[i].key, true) = old[i];
				p->tr_count++;
			}
		}
		free(old);
	}
	if (!p->tr_cap)
		return NULL;
	for (i = mix64(key) & (p->tr_cap - 1);; i = (i + 1) & (p->tr_cap - 1)) {
		if (p->tr[i].key == key)
			return &p->tr[i];
		if (!p->tr[i].key) {
			if (!add)
				return NULL;
			return &p->tr[i];
		}
	}
}

static uint64_t track_key(int dev, struct kbus_msg_id id)
{
	return ((uint64_t)(dev + 1) << 32) | id.serial_num;
}

static void track_request(struct proc *p, struct ksock *k,
			  struct kbus_msg_id id, enum expect how)
{
	struct track *t;

	if (id.network_id || !id.serial_num)
		return;
	t = track_find(p, track_key(k->dev, id), true);
	if (!t->key)
		p->tr_count++;
	if (t->key && t->expect == EXP_SURE && how == EXP_MAYBE)
		return;
	if (t->key && t->owner != k->id)
		fail(p, "request id %u sent twice (Ksocks %u and %u)",
		     id.serial_num, t->owner, k->id);
	if (!t->key) {
		if (how == EXP_SURE)
			counters(p)->requests++;
		else
			counters(p)->requests_maybe++;
	} else if (t->expect == EXP_MAYBE && how == EXP_SURE) {
		counters(p)->requests++;
	}
	t->key = track_key(k->dev, id);
	t->owner = k->id;
	t->expect = how;
}

/* A reply or status arrived on k for in_reply_to. */
static void track_answer(struct proc *p, struct ksock *k,
			 const struct kbus_message_header *h)
{
	const char *what = (h->flags & KBUS_BIT_SYNTHETIC) ? "a status" : "a reply";
	struct track *t;

	if (h->in_reply_to.network_id)
		return;
	t = track_find(p, track_key(k->dev, h->in_reply_to), false);
	if (!t || t->owner != k->id) {
		fail(p, "Ksock %u got %s (id %u from %u) in reply to %u:%u, which it never sent",
		     k->id, what, h->id.serial_num, h->from,
		     h->in_reply_to.network_id, h->in_reply_to.serial_num);
		return;
	}
	if (++t->answers > 1)
		fail(p, "request %u of Ksock %u answered twice (now by %s, id %u from %u)",
		     h->in_reply_to.serial_num, k->id, what, h->id.serial_num,
		     h->from);
	counters(p)->answers++;
	if (h->flags & KBUS_BIT_SYNTHETIC)
		counters(p)->statuses++;
}

/* The requests of Ksock id owner are forfeited (it closed). */
static void track_forget(struct proc *p, int dev, uint32_t owner)
{
	uint32_t i;

	for (i = 0; i < p->tr_cap; i++) {
		struct track *t = &p->tr[i];

		if (t->key && t->owner == owner && (int)(t->key >> 32) == dev + 1) {
			if (t->expect == EXP_SURE && !t->answers)
				counters(p)->forfeited++;
			/* keep the key (answered ids still catch duplicates) */
			t->owner = 0;
			t->expect = 0;
		}
	}
}

static char *read_file(const char *path);

static void dump_stats(void)
{
	char *s = read_file("/proc/kbus/stats");

	fprintf(stderr, "kbus-fuzz: /proc/kbus/stats now:\n%s", s ? s : "?\n");
}

/* Requests of open Ksocks still waiting for their one answer. */
static uint32_t track_unanswered(struct proc *p, bool report)
{
	uint32_t i, n = 0;

	for (i = 0; i < p->tr_cap; i++) {
		struct track *t = &p->tr[i];

		if (t->key && t->expect == EXP_SURE && !t->answers) {
			if (report && n < 5) {
				fail(p, "request %u of Ksock %u on kbus%u never answered",
				     (uint32_t)t->key, t->owner,
				     (uint32_t)(t->key >> 32) - 1);
				if (!n) {
					int j;

					dump_stats();
					for (j = 0; j < MAX_KS; j++)
						fprintf(stderr, "  slot %d: fd %d kbus%d Ksock %u\n",
							j, p->ks[j].fd, p->ks[j].dev,
							p->ks[j].id);
				}
			}
			n++;
		}
	}
	return n;
}

/* Requests of k still waiting for their answer. */
static uint32_t track_unanswered_by(struct proc *p, const struct ksock *k)
{
	uint32_t i, n = 0;

	for (i = 0; i < p->tr_cap; i++) {
		struct track *t = &p->tr[i];

		if (t->key && t->expect == EXP_SURE && !t->answers &&
		    t->owner == k->id && (int)(t->key >> 32) == k->dev + 1)
			n++;
	}
	return n;
}

/* ---- addresses ---- */

/* A pointer that faults: NULL, low, kernel, unmapped, or partly mapped. */
static void *bad_ptr(struct proc *p, size_t len)
{
	switch (below(&p->rng, 6)) {
	case 0:
		return NULL;
	case 1:
		return (void *)(uintptr_t)(1 + below(&p->rng, 4095));
	case 2:
		return (void *)(uintptr_t)(sizeof(void *) == 8 ?
					   0xffffffff81000000ULL : 0xc0008000UL);
	case 3:
		return p->noaccess + below(&p->rng, 4096);
	case 4:
		return (void *)(uintptr_t)-1 - below(&p->rng, 64);
	default:
		/* ends inside the PROT_NONE page */
		if (!len)
			len = 1;
		return p->noaccess - (len > 1 ? 1 + below(&p->rng, (uint32_t)(len < 4096 ? len - 1 : 4095)) : 0);
	}
}

/* len bytes of user buffer ending right before the PROT_NONE page. */
static uint8_t *tail_buf(struct proc *p, size_t len)
{
	if (len > p->buf_len)
		len = p->buf_len;
	return p->noaccess - len;
}

/* ---- names ---- */

static const char *const words[] = {
	"a", "b", "c", "Fz", "x1", "Sensor", "T", "k9", "Q", "zz",
};

/* A valid name under $.F (listener and replier bindings never see $.R). */
static uint32_t valid_name(struct proc *p, char *out, bool wildcard)
{
	uint32_t n = (uint32_t)sprintf(out, "$.F");
	uint32_t levels = below(&p->rng, 3);

	while (levels--)
		n += (uint32_t)sprintf(out + n, ".%s",
				       words[below(&p->rng, chance(&p->rng, 4) ? 10 : 3)]);
	if (wildcard && chance(&p->rng, 3))
		n += (uint32_t)sprintf(out + n, chance(&p->rng, 2) ? ".*" : ".%%");
	return n;
}

/* Names to bind: mostly valid, sometimes garbage, never matching $.R.* */
static uint32_t bind_name(struct proc *p, char *out, uint32_t cap)
{
	uint32_t n, i;

	switch (below(&p->rng, 10)) {
	case 0:		/* mutated */
		n = valid_name(p, out, true);
		for (i = 0; i < 1 + below(&p->rng, 3); i++)
			out[below(&p->rng, n)] = (char)below(&p->rng, 256);
		break;
	case 1:		/* long: maybe over KBUS_MAX_NAME_LEN */
		n = 900 + below(&p->rng, 200);
		if (n > cap)
			n = cap;
		memcpy(out, "$.F", 3);
		for (i = 3; i < n; i++)
			out[i] = (i % 8 == 3) ? '.' : 'a' + (char)(i % 26);
		if (out[n - 1] == '.')
			out[n - 1] = 'z';
		break;
	case 2:		/* short garbage */
		n = below(&p->rng, 5);
		for (i = 0; i < n; i++)
			out[i] = "$.*%F"[below(&p->rng, 5)];
		break;
	default:
		return valid_name(p, out, true);
	}
	/* Keep replies ($.R.*), wildcards at the top and $.KBUS out of reach. */
	if (n >= 3 && out[0] == '$' && out[1] == '.' && out[2] != 'F')
		out[2] = 'F';
	return n;
}

/* ---- ioctl helpers ---- */

static long do_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg);
}

static long ioc_u32(int fd, unsigned long cmd, uint32_t *val)
{
	return ioctl(fd, cmd, val);
}

/* ---- Ksock slots ---- */

static struct ksock *pick_open(struct proc *p)
{
	uint32_t start = below(&p->rng, MAX_KS), i;

	for (i = 0; i < MAX_KS; i++) {
		struct ksock *k = &p->ks[(start + i) % MAX_KS];

		if (k->fd >= 0)
			return k;
	}
	return NULL;
}

static int num_devices(void)
{
	int n = 0;
	char path[32];

	for (;;) {
		snprintf(path, sizeof(path), "/dev/kbus%d", n);
		if (access(path, F_OK))
			return n;
		n++;
	}
}

static void ks_open(struct proc *p, struct ksock *k)
{
	char path[32];
	int flags, fd, ndev;
	uint32_t id = 0;

	ndev = num_devices();
	k->dev = (ndev > 1 && chance(&p->rng, 8)) ? 1 : 0;
	snprintf(path, sizeof(path), "/dev/kbus%d", k->dev);
	flags = chance(&p->rng, 10) ? O_RDONLY : O_RDWR;
	if (chance(&p->rng, 4))
		flags |= O_NONBLOCK;
	fd = open(path, flags | O_CLOEXEC);
	count_op(p, OP_OPEN, fd);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENXIO && errno != EMFILE)
			fail(p, "open %s: %s", path, strerrorname_np(errno));
		return;
	}
	if (ioc_u32(fd, KBUS_IOC_KSOCKID, &id) || !id)
		fail(p, "KSOCKID on a new Ksock: %ld, id %u", (long)errno, id);
	memset(k, 0, sizeof(*k));
	k->fd = fd;
	k->dev = (path[9] - '0');
	k->id = id;
	k->writable = (flags & O_ACCMODE) == O_RDWR;
	k->wmsg_owed = -1;
}

static void ks_close(struct proc *p, struct ksock *k)
{
	long ret = close(k->fd);

	count_op(p, OP_CLOSE, ret);
	if (ret)
		fail(p, "close Ksock %u: %s", k->id, strerrorname_np(errno));
	track_forget(p, k->dev, k->id);
	free(k->owed);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

static void op_discard(struct proc *p, struct ksock *k);

/* No message is being written on k any more. */
static void wreset(struct ksock *k)
{
	k->writing = false;
	k->complete = false;
	k->part_len = 0;
}

/* ---- BIND / UNBIND / REPLIER ---- */

static void op_bind(struct proc *p, struct ksock *k, bool bind)
{
	char name[1200];
	struct kbus_bind_request req;
	unsigned long cmd = bind ? KBUS_IOC_BIND : KBUS_IOC_UNBIND;
	enum op op = bind ? OP_BIND : OP_UNBIND;
	uint32_t len;
	char *at;
	long ret;

	len = bind_name(p, name, sizeof(name));
	at = (char *)tail_buf(p, len);
	memcpy(at, name, len);
	req.is_replier = chance(&p->rng, 3) ? 1 : 0;
	if (chance(&p->rng, 20))
		req.is_replier = (uint32_t)rnd(&p->rng);
	req.name_len = len;
	req.name = at;

	switch (below(&p->rng, 12)) {
	case 0:		/* the request itself unreadable */
		ret = do_ioctl(k->fd, cmd, bad_ptr(p, sizeof(req)));
		count_op(p, op, ret);
		EXPECT_ERR(p, "BIND/UNBIND with a bad argument", ret, EFAULT);
		return;
	case 1:		/* the name unreadable */
		if (!len)
			break;
		req.name = bad_ptr(p, len);
		ret = do_ioctl(k->fd, cmd, &req);
		count_op(p, op, ret);
		EXPECT_ERR(p, "BIND/UNBIND with a bad name pointer", ret,
			   EFAULT, ENAMETOOLONG);
		return;
	case 2:		/* name_len beyond the buffer */
		req.name_len = (uint32_t)rnd(&p->rng);
		break;
	default:
		break;
	}
	ret = do_ioctl(k->fd, cmd, &req);
	count_op(p, op, ret);
	if (ret < 0 && !errno_in(errno, (const int[]){ EBADMSG, ENAMETOOLONG,
			EINVAL, EADDRINUSE, EFAULT, EAGAIN, EBUSY, ENOMEM, 0 }))
		fail(p, "%s: unexpected %s", bind ? "BIND" : "UNBIND",
		     strerrorname_np(errno));
}

static void op_replier(struct proc *p, struct ksock *k)
{
	char name[1200];
	struct kbus_bind_query q = { 0 };
	long ret;

	q.name_len = bind_name(p, name, sizeof(name));
	q.name = (char *)tail_buf(p, q.name_len);
	memcpy(q.name, name, q.name_len);
	if (chance(&p->rng, 6)) {
		ret = do_ioctl(k->fd, KBUS_IOC_REPLIER,
			       bad_ptr(p, sizeof(q)));
		count_op(p, OP_REPLIER, ret);
		EXPECT_ERR(p, "REPLIER with a bad argument", ret, EFAULT);
		return;
	}
	ret = do_ioctl(k->fd, KBUS_IOC_REPLIER, &q);
	count_op(p, OP_REPLIER, ret);
	if (ret < 0 && !errno_in(errno, (const int[]){ ENAMETOOLONG, EFAULT,
							 0 }))
		fail(p, "REPLIER: unexpected %s", strerrorname_np(errno));
	if (ret == 0 && q.return_id)
		fail(p, "REPLIER returned 0 with id %u", q.return_id);
	if (ret == 1 && !q.return_id)
		fail(p, "REPLIER returned 1 with id 0");
}

/* ---- writing messages ---- */

/* Write len bytes from src in random pieces; false if a write failed. */
static bool write_pieces(struct proc *p, struct ksock *k, const uint8_t *src,
			 size_t len, enum op op)
{
	size_t done = 0;

	while (done < len) {
		size_t n = len - done;
		long ret;

		if (chance(&p->rng, 3))
			n = 1 + below(&p->rng, (uint32_t)(n < 200 ? n : 200));
		ret = write(k->fd, src + done, n);
		count_op(p, op, ret);
		if (ret < 0) {
			wreset(k);
			return false;
		}
		if ((size_t)ret != n)
			fail(p, "write of %zu returned %ld", n, ret);
		done += n;
		k->writing = true;
		k->part_len = 0;
	}
	return true;
}

/* Build the entire form of a message in buf (which is big enough). */
static size_t build_entire(uint8_t *buf, struct kbus_message_header *h,
			   const char *name, const uint8_t *data)
{
	size_t off = HDR_LEN;
	uint32_t pn = KBUS_PADDED_NAME_LEN(h->name_len);
	uint32_t pd = KBUS_PADDED_DATA_LEN(h->data_len);
	uint32_t guard = KBUS_MSG_END_GUARD;

	memcpy(buf, h, HDR_LEN);
	memset(buf + off, 0x5a, pn);	/* padding is ignored on input */
	memcpy(buf + off, name, h->name_len);
	off += pn;
	memset(buf + off, 0xa5, pd);
	if (h->data_len)
		memcpy(buf + off, data, h->data_len);
	off += pd;
	memcpy(buf + off, &guard, 4);
	return off + 4;
}

enum msg_kind { MK_ANNOUNCE, MK_REQUEST, MK_REPLY, MK_BOGUS_REPLY,
		MK_STATEFUL };

/*
 * Write one well-formed message (pointy or entire, in pieces) and SEND it.
 * Returns the SEND result (-1 and errno) or -2 if the write failed.
 */
static void op_send_msg(struct proc *p, struct ksock *k, enum msg_kind kind,
			int owed_idx)
{
	struct kbus_message_header h = { 0 };
	static uint8_t data[BIG_DATA];
	char name[64];
	struct kbus_msg_id id = { 0 }, before = { 0 };
	enum op op = (kind == MK_REPLY) ? OP_REPLY : OP_SEND_MSG;
	bool pointy = chance(&p->rng, 3);
	bool bad_id_ptr = chance(&p->rng, 25);
	bool was_request = false;
	uint8_t *wbuf;
	size_t len;
	long ret;

	if (!k->writable || k->pending || k->writing || k->complete)
		return;
	h.start_guard = KBUS_MSG_START_GUARD;
	h.end_guard = KBUS_MSG_END_GUARD;
	switch (kind) {
	case MK_REPLY: {
		struct owed *o = &k->owed[owed_idx];

		h.in_reply_to = o->id;
		h.to = o->requester;
		h.name_len = (uint32_t)sprintf(name, "$.R.%s",
					       words[below(&p->rng, 10)]);
		break;
	}
	case MK_BOGUS_REPLY:
		/* ids no real message has (serials stay far below 2^31) */
		h.in_reply_to.serial_num = 0x80000000u | (uint32_t)rnd(&p->rng);
		h.to = chance(&p->rng, 2) ? k->id : (uint32_t)below(&p->rng, 64);
		h.name_len = (uint32_t)sprintf(name, "$.R.b");
		break;
	case MK_REQUEST:
	case MK_STATEFUL:
		h.flags = KBUS_BIT_WANT_A_REPLY;
		if (kind == MK_STATEFUL)
			h.to = below(&p->rng, 40);
		h.name_len = valid_name(p, name, false);
		was_request = true;
		break;
	default:
		h.name_len = valid_name(p, name, false);
		if (chance(&p->rng, 8)) {	/* Limpet-style fields */
			h.orig_from.network_id = (uint32_t)rnd(&p->rng);
			h.final_to.local_id = (uint32_t)rnd(&p->rng);
			h.to = (uint32_t)rnd(&p->rng);
		}
		break;
	}
	if (chance(&p->rng, 6))
		h.flags |= KBUS_BIT_URGENT;
	if (chance(&p->rng, 8))
		h.flags |= KBUS_BIT_ALL_OR_WAIT;
	else if (chance(&p->rng, 8))
		h.flags |= KBUS_BIT_ALL_OR_FAIL;
	if (chance(&p->rng, 10))
		h.flags |= KBUS_BIT_SYNTHETIC | KBUS_BIT_WANT_YOU_TO_REPLY;
	if (chance(&p->rng, 6))
		h.flags |= (uint32_t)rnd(&p->rng) & 0xffff0000u;
	if (chance(&p->rng, 10))
		h.extra = (uint32_t)rnd(&p->rng);
	switch (below(&p->rng, 8)) {
	case 0:
		h.data_len = below(&p->rng, BIG_DATA);
		break;
	case 1: case 2: case 3:
		h.data_len = 0;
		break;
	default:
		h.data_len = below(&p->rng, 64);
		break;
	}
	for (len = 0; len < h.data_len && len < 64; len++)
		data[len] = (uint8_t)rnd(&p->rng);

	if (pointy) {
		char *nm = (char *)tail_buf(p, h.name_len + 1 + h.data_len);

		memcpy(nm, name, h.name_len);
		nm[h.name_len] = 0;
		h.name = nm;
		h.data = h.data_len ? nm + h.name_len + 1 : NULL;
		if (h.data_len)
			memcpy(h.data, data, h.data_len);
		wbuf = (uint8_t *)&h;
		len = HDR_LEN;
	} else {
		wbuf = p->buf;
		len = build_entire(wbuf, &h, name, data);
	}
	k->wmsg_request = was_request;
	k->wmsg_reply = kind == MK_REPLY;
	k->wmsg_reply_to = h.in_reply_to;
	k->wmsg_owed = owed_idx;
	if (!write_pieces(p, k, wbuf, len, op)) {
		if (errno != EMSGSIZE && errno != ENOMEM)
			fail(p, "writing a well-formed message: %s",
			     strerrorname_np(errno));
		return;
	}
	k->complete = true;
	if (bad_id_ptr)
		ioctl(k->fd, KBUS_IOC_LASTSENT, &before);
	ret = do_ioctl(k->fd, KBUS_IOC_SEND, bad_id_ptr ? bad_ptr(p, 8) : (void *)&id);
	count_op(p, OP_SEND, ret);
	if (bad_id_ptr) {
		/*
		 * The id could not be copied back: the message may still
		 * have gone (or be pending); LASTSENT tells.
		 */
		int err = ret < 0 ? errno : 0;

		if (ioctl(k->fd, KBUS_IOC_LASTSENT, &id))
			fail(p, "LASTSENT: %s", strerrorname_np(errno));
		if (id.serial_num == before.serial_num &&
		    id.network_id == before.network_id)
			memset(&id, 0, sizeof(id));
		if (err == EFAULT && !id.serial_num) {
			/* refused before SEND looked at it: still written */
			k->writing = true;
			k->complete = true;
			if (kind == MK_REPLY)	/* a later SEND may send it */
				k->owed[owed_idx].maybe = true;
			return;
		}
		if (err == EFAULT && id.serial_num) {
			/* sent, or (ALL_OR_WAIT) maybe pending */
			ret = 0;
			if (h.flags & KBUS_BIT_ALL_OR_WAIT) {
				ret = -1;
				err = EAGAIN;
			}
		}
		errno = err;
	}
	if (ret == 0) {
		struct kbus_msg_id last;

		wreset(k);
		k->last_sent = id;
		if (chance(&p->rng, 4) && !ioctl(k->fd, KBUS_IOC_LASTSENT, &last) &&
		    (last.serial_num != id.serial_num ||
		     last.network_id != id.network_id))
			fail(p, "LASTSENT %u:%u right after SEND gave %u:%u",
			     last.network_id, last.serial_num, id.network_id,
			     id.serial_num);
		if (was_request)
			track_request(p, k, id, EXP_SURE);
		if (kind == MK_REPLY) {
			counters(p)->replies_sent++;
			k->owed[owed_idx].replies_ok++;
			if (k->owed[owed_idx].replies_ok > 1 &&
			    !k->owed[owed_idx].maybe)
				fail(p, "a second reply to request %u was accepted",
				     k->owed[owed_idx].id.serial_num);
		}
		return;
	}
	if (errno == EAGAIN && (h.flags & KBUS_BIT_ALL_OR_WAIT)) {
		k->pending = true;
		k->last_sent = id;
		/* answered or not, depending on how the retry goes */
		track_request(p, k, id, EXP_MAYBE);
		if (kind == MK_REPLY)
			k->owed[owed_idx].maybe = true;
		return;
	}
	/* any other error discards the message */
	wreset(k);
	switch (kind) {
	case MK_REPLY:
		if (k->owed[owed_idx].maybe)
			break;
		if (k->owed[owed_idx].replies_ok && errno != ECONNREFUSED &&
		    errno != EADDRNOTAVAIL)
			fail(p, "a second reply to request %u: %s, not ECONNREFUSED",
			     k->owed[owed_idx].id.serial_num,
			     strerrorname_np(errno));
		if (!k->owed[owed_idx].replies_ok && errno == ECONNREFUSED)
			fail(p, "the first reply to popped request %u refused",
			     k->owed[owed_idx].id.serial_num);
		break;
	case MK_BOGUS_REPLY:
		if (errno != ECONNREFUSED && errno != EADDRNOTAVAIL &&
		    errno != EFAULT)
			fail(p, "a reply to a request never sent: %s",
			     strerrorname_np(errno));
		break;
	default:
		if (!errno_in(errno, (const int[]){ EADDRNOTAVAIL, EBUSY, ENOLCK,
				EPIPE, EMSGSIZE, ENOMEM, EFAULT, EAGAIN, 0 }))
			fail(p, "SEND: unexpected %s", strerrorname_np(errno));
		break;
	}
}

/* Reply to one of the requests this Ksock popped (or again to one done). */
static void op_reply(struct proc *p, struct ksock *k)
{
	uint32_t i;

	if (!k->nowed)
		return;
	i = below(&p->rng, k->nowed);
	op_send_msg(p, k, MK_REPLY, (int)i);
	/* forget answered ones now and then (keeps the list short) */
	if (k->owed[i].replies_ok > 0 && chance(&p->rng, 2))
		k->owed[i] = k->owed[--k->nowed];
}

/*
 * A message written in parts across other operations: start one (a random
 * prefix of a well-formed announcement), or write its next part, or write
 * past its end (EMSGSIZE, discarded).
 */
static void op_write_part(struct proc *p, struct ksock *k)
{
	struct kbus_message_header h = { 0 };
	char name[64];
	uint8_t data[40];
	uint32_t n, i;
	long ret;

	if (!k->writable || k->pending)
		return;
	if (k->part_len && k->part_pos <= k->part_len && (k->writing || k->complete)) {
		bool over = k->part_pos == k->part_len || chance(&p->rng, 10);
		uint32_t left = k->part_len - k->part_pos;

		n = over ? left + 1 + below(&p->rng, 8) : 1 + below(&p->rng, left);
		memset(k->part + k->part_len, 0x33, sizeof(k->part) - k->part_len);
		ret = write(k->fd, k->part + k->part_pos, n);
		count_op(p, OP_WRITE_PART, ret);
		if (over) {
			EXPECT_ERR(p, "a write past the end of a message", ret,
				   EMSGSIZE);
			wreset(k);
			k->part_len = 0;
			return;
		}
		if (ret != (long)n) {
			/* the header completes: the device maximum may be small */
			if (ret >= 0 || errno != EMSGSIZE ||
			    k->part_pos >= HDR_LEN || k->part_pos + n < HDR_LEN)
				fail(p, "the next part of a message: %ld %s", ret,
				     ret < 0 ? strerrorname_np(errno) : "");
			wreset(k);
			k->part_len = 0;
			return;
		}
		k->part_pos += n;
		k->complete = k->part_pos == k->part_len;
		return;
	}
	if (k->writing || k->complete)
		return;
	h.start_guard = KBUS_MSG_START_GUARD;
	h.end_guard = KBUS_MSG_END_GUARD;
	h.name_len = valid_name(p, name, false);
	h.data_len = below(&p->rng, sizeof(data));
	for (i = 0; i < h.data_len; i++)
		data[i] = (uint8_t)rnd(&p->rng);
	if (chance(&p->rng, 5))
		h.flags = KBUS_BIT_URGENT;
	k->part_len = (uint32_t)build_entire(k->part, &h, name, data);
	n = 1 + below(&p->rng, k->part_len);
	ret = write(k->fd, k->part, n);
	count_op(p, OP_WRITE_PART, ret);
	if (ret != (long)n) {
		if (ret >= 0 || errno != EMSGSIZE || n < HDR_LEN)
			fail(p, "a partial well-formed write: %ld %s", ret,
			     ret < 0 ? strerrorname_np(errno) : "");
		k->part_len = 0;
		return;
	}
	k->part_pos = n;
	k->writing = true;
	k->complete = n == k->part_len;
	k->wmsg_request = false;
	k->wmsg_reply = false;
	k->wmsg_owed = -1;
}

/* Garbage: broken headers, bad pointers, huge lengths. */
static void op_write_garbage(struct proc *p, struct ksock *k)
{
	struct kbus_message_header h = { 0 };
	uint8_t *src = (uint8_t *)&h;
	size_t len = HDR_LEN;
	long ret;
	uint32_t i;

	if (!k->writable || k->pending)
		return;
	if (k->writing || k->complete)
		op_discard(p, k);
	h.start_guard = KBUS_MSG_START_GUARD;
	h.end_guard = KBUS_MSG_END_GUARD;
	h.name_len = 5;
	switch (below(&p->rng, 10)) {
	case 0:
		h.start_guard = (uint32_t)rnd(&p->rng);
		break;
	case 1:
		h.end_guard = (uint32_t)rnd(&p->rng);
		break;
	case 2:
		h.name_len = chance(&p->rng, 2) ? 0 : 1001 + below(&p->rng, 1u << 30);
		break;
	case 3:
		h.data_len = 0xffffffffu - below(&p->rng, 16);
		break;
	case 4:	/* pointy with pointers that fault at SEND */
		h.name = bad_ptr(p, 6);
		h.data_len = below(&p->rng, 3) ? 0 : 1 + below(&p->rng, 4000);
		h.data = h.data_len ? bad_ptr(p, h.data_len) : NULL;
		break;
	case 5:	/* inconsistent pointers */
		h.data = p->buf;
		h.data_len = below(&p->rng, 2);
		break;
	case 6:
		h.flags = KBUS_BIT_ALL_OR_WAIT | KBUS_BIT_ALL_OR_FAIL;
		h.name = (char *)"$.F.a";
		break;
	case 7:	/* write from a bad buffer */
		src = bad_ptr(p, len);
		break;
	case 8:	/* huge length, mapped only in part */
		src = tail_buf(p, 64);
		len = (size_t)1 << (20 + below(&p->rng, 11));
		break;
	default:	/* random bytes */
		for (i = 0; i < HDR_LEN; i++)
			src[i] = (uint8_t)rnd(&p->rng);
		break;
	}
	ret = write(k->fd, src, len);
	count_op(p, OP_WRITE_GARBAGE, ret);
	if (ret >= 0) {
		k->writing = true;
		k->part_len = 0;
		k->complete = h.name != NULL;
		k->wmsg_request = false;
		k->wmsg_reply = false;
		k->wmsg_owed = -1;
	} else {
		wreset(k);
	}
	if (chance(&p->rng, 2) && ret >= 0) {
		struct kbus_msg_id id;

		ret = do_ioctl(k->fd, KBUS_IOC_SEND, &id);
		count_op(p, OP_SEND, ret);
		if (ret == 0 || (ret < 0 && errno == EAGAIN))
			fail(p, "SEND of a garbage message succeeded (case flags %#x)",
			     h.flags);
		wreset(k);
	}
}

static void op_send_plain(struct proc *p, struct ksock *k)
{
	struct kbus_msg_id id = { 0 };
	bool was_pending = k->pending;
	long ret;

	ret = do_ioctl(k->fd, KBUS_IOC_SEND, &id);
	count_op(p, OP_SEND, ret);
	if (ret < 0 && errno == EAGAIN) {
		if (!was_pending && !k->complete)
			fail(p, "SEND with nothing complete gave EAGAIN");
		/* a retained request now pending: a poll may send it */
		if (k->wmsg_request)
			track_request(p, k, id, EXP_MAYBE);
		k->pending = true;
		return;
	}
	if (ret == 0) {
		if (!k->complete && !was_pending)
			fail(p, "SEND with no complete message succeeded");
		if (k->wmsg_request)
			track_request(p, k, id, EXP_SURE);
	} else if (!k->complete && !k->writing && !was_pending &&
		   errno != ENOMSG) {
		fail(p, "SEND with nothing written: %s, not ENOMSG",
		     strerrorname_np(errno));
	} else if (!k->complete && k->writing && !was_pending &&
		   errno != EINVAL) {
		fail(p, "SEND of an incomplete message: %s, not EINVAL",
		     strerrorname_np(errno));
	}
	k->pending = false;
	wreset(k);
}

static void op_discard(struct proc *p, struct ksock *k)
{
	long ret = do_ioctl(k->fd, KBUS_IOC_DISCARD, NULL);

	count_op(p, OP_DISCARD, ret);
	if (ret)
		fail(p, "DISCARD: %s", strerrorname_np(errno));
	k->pending = false;
	wreset(k);
}

/* ---- reading ---- */

static void owed_add(struct proc *p, struct ksock *k, struct kbus_msg_id id,
		     uint32_t requester)
{
	(void)p;
	if (k->nowed == k->owed_cap) {
		k->owed_cap = k->owed_cap ? k->owed_cap * 2 : 16;
		k->owed = realloc(k->owed, k->owed_cap * sizeof(*k->owed));
		if (!k->owed) {
			perror("kbus-fuzz: realloc");
			_exit(3);
		}
	}
	k->owed[k->nowed].id = id;
	k->owed[k->nowed].requester = requester;
	k->owed[k->nowed].replies_ok = 0;
	k->owed[k->nowed].maybe = false;
	k->nowed++;
}

/* A message's header has been read: track answers, requests, the order. */
static void on_header(struct proc *p, struct ksock *k,
		      const struct kbus_message_header *h)
{
	if (h->start_guard != KBUS_MSG_START_GUARD ||
	    h->end_guard != KBUS_MSG_END_GUARD) {
		fail(p, "message with bad guards %#x %#x", h->start_guard,
		     h->end_guard);
		return;
	}
	if (h->name || h->data || h->extra)
		fail(p, "message %u: name %p data %p extra %#x (all must be 0)",
		     h->id.serial_num, (void *)h->name, (void *)h->data, h->extra);
	if (h->flags & KBUS_BIT_WANT_YOU_TO_REPLY) {
		if (!(h->flags & KBUS_BIT_WANT_A_REPLY))
			fail(p, "message %u: WANT_YOU_TO_REPLY without WANT_A_REPLY",
			     h->id.serial_num);
		owed_add(p, k, h->id, h->from);
	}
	/* replies and statuses ($.R.* and $.KBUS.*: nobody listens to them) */
	if ((h->in_reply_to.serial_num || h->in_reply_to.network_id) &&
	    h->to == k->id)
		track_answer(p, k, h);
	/* the order log: non-urgent, non-synthetic, local ids */
	if (p->slot && !(h->flags & (KBUS_BIT_URGENT | KBUS_BIT_SYNTHETIC)) &&
	    !h->id.network_id && p->slot->nlog < LOG_CAP) {
		struct order_rec *r = &p->slot->log[p->slot->nlog];

		r->ksock = ((uint32_t)k->dev << 24) | k->id;
		r->serial = h->id.serial_num;
		__atomic_store_n(&p->slot->nlog, p->slot->nlog + 1,
				 __ATOMIC_RELEASE);
	}
}

/* Check a message read whole (entire form): lengths, padding, guard. */
static void check_entire(struct proc *p, const uint8_t *m, uint32_t len)
{
	struct kbus_message_header h;
	const char *name = (const char *)m + HDR_LEN;
	uint32_t pn, pd, i, guard;
	const uint8_t *data;

	counters(p)->msgs_read++;
	memcpy(&h, m, HDR_LEN);
	if (!h.name_len || h.name_len > KBUS_MAX_NAME_LEN ||
	    KBUS_ENTIRE_MSG_LEN(h.name_len, (uint64_t)h.data_len) != len) {
		fail(p, "message of %u bytes with name_len %u data_len %u", len,
		     h.name_len, h.data_len);
		return;
	}
	if (sizeof(void *) == 8) {
		uint32_t pad1, pad2;

		memcpy(&pad1, m + 60, 4);
		memcpy(&pad2, m + 84, 4);
		if (pad1 || pad2)
			fail(p, "message %u: header padding %#x %#x", h.id.serial_num,
			     pad1, pad2);
	}
	pn = KBUS_PADDED_NAME_LEN(h.name_len);
	pd = KBUS_PADDED_DATA_LEN(h.data_len);
	for (i = h.name_len; i < pn; i++)
		if (name[i])
			fail(p, "message %u: name padding byte %u is %#x",
			     h.id.serial_num, i, (uint8_t)name[i]);
	if (memchr(name, 0, h.name_len))
		fail(p, "message %u: NUL inside the name", h.id.serial_num);
	data = m + HDR_LEN + pn;
	for (i = h.data_len; i < pd; i++)
		if (data[i])
			fail(p, "message %u: data padding byte %u is %#x",
			     h.id.serial_num, i, data[i]);
	memcpy(&guard, data + pd, 4);
	if (guard != KBUS_MSG_END_GUARD)
		fail(p, "message %u: final guard %#x", h.id.serial_num, guard);
	if ((h.in_reply_to.serial_num || h.in_reply_to.network_id) &&
	    (h.flags & KBUS_BIT_SYNTHETIC) &&
	    strncmp(name, "$.KBUS.", 7))
		fail(p, "synthetic reply %u named %.*s", h.id.serial_num,
		     (int)h.name_len, name);
}

/* Read n bytes of the current message into buf, maybe in pieces. */
static bool read_bytes(struct proc *p, struct ksock *k, uint8_t *buf,
		       uint32_t n, bool pieces)
{
	uint32_t done = 0;

	while (done < n) {
		uint32_t want = n - done;
		long ret;

		if (pieces && chance(&p->rng, 2))
			want = 1 + below(&p->rng, want < 100 ? want : 100);
		ret = read(k->fd, buf + done, want);
		count_op(p, OP_READ, ret);
		if (ret != (long)want) {
			fail(p, "read of %u (%u of %u): %ld %s", want, done, n,
			     ret, ret < 0 ? strerrorname_np(errno) : "");
			return false;
		}
		done += want;
	}
	return true;
}

/*
 * NEXTMSG (sometimes with a bad pointer: EFAULT, the message still
 * current), read the header and track it, then read the rest (all checked)
 * or abandon it to the next NEXTMSG.
 */
static void op_recv(struct proc *p, struct ksock *k, bool pieces,
		    bool abandon)
{
	uint32_t len = 0;
	long ret;

	k->reading = false;
	if (chance(&p->rng, 12)) {
		uint32_t before = 0;

		/*
		 * EFAULT either before anything happened (the address is not
		 * a user one) or after the next message was popped: the
		 * current message (if any) is then the new one, unread.
		 * Here every current message has had its header read, so
		 * LENLEFT tells the two apart.
		 */
		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &before))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		ret = do_ioctl(k->fd, KBUS_IOC_NEXTMSG, bad_ptr(p, 4));
		count_op(p, OP_NEXTMSG, ret);
		EXPECT_ERR(p, "NEXTMSG with a bad pointer", ret, EFAULT);
		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &len))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		if (!len || (before && len == before))
			return;
	} else {
		ret = ioc_u32(k->fd, KBUS_IOC_NEXTMSG, &len);
		count_op(p, abandon ? OP_NEXTMSG : OP_RECV, ret);
		if (ret < 0) {
			if (errno != ENOMEM)
				fail(p, "NEXTMSG: %s", strerrorname_np(errno));
			return;
		}
		if (ret == 0) {
			if (len)
				fail(p, "NEXTMSG found nothing but gave length %u", len);
			return;
		}
	}
	if (len < HDR_LEN + 8 || len > p->rbuf_len) {
		fail(p, "NEXTMSG length %u", len);
		return;
	}
	memset(p->rbuf, 0xaa, len + 8);
	if (!read_bytes(p, k, p->rbuf, HDR_LEN, pieces))
		return;
	on_header(p, k, (const struct kbus_message_header *)p->rbuf);
	if (abandon) {
		k->reading = true;
		return;
	}
	if (!read_bytes(p, k, p->rbuf + HDR_LEN, len - HDR_LEN, pieces))
		return;
	ret = read(k->fd, p->rbuf + len, 16);
	if (ret != 0)
		fail(p, "read after the end of a message: %ld", ret);
	if (p->rbuf[len] != 0xaa)
		fail(p, "read wrote past the end of the message");
	check_entire(p, p->rbuf, len);
}

/* Reads of odd sizes from the current message (if any). */
static void op_read(struct proc *p, struct ksock *k)
{
	long ret;
	uint32_t left = 0;

	switch (below(&p->rng, 4)) {
	case 0: {	/* a bad buffer: all copied, or EFAULT and none */
		uint32_t n = 1 + below(&p->rng, 300), after = 0;

		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &left))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		ret = read(k->fd, bad_ptr(p, n), n);
		count_op(p, OP_READ, ret);
		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &after))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		if (!left && ret != 0 && !(ret < 0 && errno == EFAULT))
			fail(p, "read with no current message: %ld", ret);
		else if (ret < 0 && errno != EFAULT)
			fail(p, "read into a bad buffer: %s", strerrorname_np(errno));
		else if (ret < 0 && after != left && left)
			fail(p, "read into a bad buffer failed (EFAULT) but consumed %u of the %u bytes left",
			     left - after, left);
		else if (ret >= 0 && ret != (long)(left < n ? left : n))
			fail(p, "read of %u into a bad buffer with %u left returned %ld",
			     n, left, ret);
		break;
	}
	case 1:	/* zero bytes */
		ret = read(k->fd, p->rbuf, 0);
		count_op(p, OP_READ, ret);
		if (ret != 0)
			fail(p, "read of 0 bytes: %ld", ret);
		break;
	default: {	/* a few bytes; check they add up with LENLEFT */
		uint32_t n = 1 + below(&p->rng, 200), after = 0;

		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &left))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		ret = read(k->fd, p->rbuf, n);
		count_op(p, OP_READ, ret);
		if (ret < 0 || (uint32_t)ret != (left < n ? left : n))
			fail(p, "read of %u with %u left returned %ld", n, left,
			     ret);
		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &after))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		if (ret >= 0 && after != left - (uint32_t)ret)
			fail(p, "LENLEFT %u after reading %ld of %u", after, ret,
			     left);
		break;
	}
	}
}

/* ---- the other ioctls ---- */

static void op_ioc_u32(struct proc *p, struct ksock *k)
{
	static const unsigned long cmds[] = {
		KBUS_IOC_KSOCKID, KBUS_IOC_MAXMSGS, KBUS_IOC_NUMMSGS,
		KBUS_IOC_UNREPLIEDTO, KBUS_IOC_MAXMSGSIZE, KBUS_IOC_LENLEFT,
		KBUS_IOC_RESET,
	};
	unsigned long cmd = cmds[below(&p->rng, 7)];
	uint32_t val = 0;
	long ret;

	if (cmd == KBUS_IOC_MAXMSGS) {
		static const uint32_t v[] = { 0, 1, 2, 5, 100, 1000, 0xffffffff };

		val = v[below(&p->rng, 7)];
		/* keep the memory small: big limits are rare */
		if (val > 1000 && !chance(&p->rng, 4))
			val = 100;
	} else if (cmd == KBUS_IOC_MAXMSGSIZE) {
		static const uint32_t v[] = { 0, 1, 99, 100, 101, 200, 409600,
					      409601, 0xffffffff };

		val = v[below(&p->rng, 9)];
		/* a small size hurts everyone else: undo it mostly */
		if (val >= 100 && val < 409600 && !chance(&p->rng, 5))
			val = 409600;
	}
	if (chance(&p->rng, 8)) {
		ret = do_ioctl(k->fd, cmd, bad_ptr(p, 4));
		count_op(p, OP_IOC_U32, ret);
		if (cmd != KBUS_IOC_RESET)
			EXPECT_ERR(p, "a u32 ioctl with a bad pointer", ret, EFAULT);
		return;
	}
	ret = ioc_u32(k->fd, cmd, &val);
	count_op(p, OP_IOC_U32, ret);
	if (ret < 0 && !(cmd == KBUS_IOC_MAXMSGSIZE && errno == EINVAL))
		fail(p, "ioctl %#lx: %s", cmd, strerrorname_np(errno));
	if (cmd == KBUS_IOC_KSOCKID && val != k->id)
		fail(p, "KSOCKID %u, not %u", val, k->id);
}

static void op_ioc_switch(struct proc *p, struct ksock *k)
{
	static const unsigned long cmds[] = {
		KBUS_IOC_MSGONLYONCE, KBUS_IOC_VERBOSE,
		KBUS_IOC_REPORTREPLIERBINDS,
	};
	unsigned long cmd = cmds[below(&p->rng, 3)];
	static const uint32_t v[] = { 0, 1, 2, 0xffffffff, 0x80000000 };
	uint32_t val = v[below(&p->rng, 5)];
	bool valid = val <= 1 || val == 0xffffffff;
	long ret;

	/* verbose floods the kernel log: never switch it on */
	if (cmd == KBUS_IOC_VERBOSE && val == 1)
		val = 0xffffffff;
	if (chance(&p->rng, 8)) {
		ret = do_ioctl(k->fd, cmd, bad_ptr(p, 4));
		count_op(p, OP_IOC_SWITCH, ret);
		EXPECT_ERR(p, "a switch ioctl with a bad pointer", ret, EFAULT);
		return;
	}
	ret = ioc_u32(k->fd, cmd, &val);
	count_op(p, OP_IOC_SWITCH, ret);
	if (!valid)
		EXPECT_ERR(p, "a switch ioctl with a bad value", ret, EINVAL);
	else if (ret < 0 && !(cmd == KBUS_IOC_REPORTREPLIERBINDS &&
			      (errno == EBUSY || errno == ENOMEM)))
		fail(p, "switch ioctl %#lx: %s", cmd, strerrorname_np(errno));
	else if (ret == 0 && val > 1)
		fail(p, "switch ioctl %#lx: old state %u", cmd, val);
}

static const unsigned long kbus_cmds[] = {
	KBUS_IOC_RESET, KBUS_IOC_BIND, KBUS_IOC_UNBIND, KBUS_IOC_KSOCKID,
	KBUS_IOC_REPLIER, KBUS_IOC_NEXTMSG, KBUS_IOC_LENLEFT, KBUS_IOC_SEND,
	KBUS_IOC_DISCARD, KBUS_IOC_LASTSENT, KBUS_IOC_MAXMSGS,
	KBUS_IOC_NUMMSGS, KBUS_IOC_UNREPLIEDTO, KBUS_IOC_MSGONLYONCE,
	KBUS_IOC_VERBOSE, KBUS_IOC_NEWDEVICE, KBUS_IOC_REPORTREPLIERBINDS,
	KBUS_IOC_MAXMSGSIZE,
};

/* Commands KBUS does not have: ENOTTY (or EFAULT from the size check). */
static void op_ioc_bad(struct proc *p, struct ksock *k)
{
	unsigned long cmd;
	uint32_t i;
	long ret;

	switch (below(&p->rng, 4)) {
	case 0:
		cmd = _IOR('k', 0, char *);
		break;
	case 1:
		cmd = _IOC(below(&p->rng, 4), 'k', 19 + below(&p->rng, 237),
			   below(&p->rng, 16384));
		break;
	case 2:	/* another magic: no generic VFS ioctl uses 'j' */
		cmd = _IOC(below(&p->rng, 4), 'j', below(&p->rng, 256),
			   below(&p->rng, 16384));
		break;
	default:	/* a KBUS number with the wrong size or direction */
		cmd = _IOC(below(&p->rng, 4), 'k', 1 + below(&p->rng, 18),
			   below(&p->rng, 16384));
		break;
	}
	for (i = 0; i < sizeof(kbus_cmds) / sizeof(kbus_cmds[0]); i++)
		if (cmd == kbus_cmds[i])
			return;
	ret = do_ioctl(k->fd, cmd, chance(&p->rng, 2) ? bad_ptr(p, 8) : p->buf);
	count_op(p, OP_IOC_BAD, ret);
	EXPECT_ERR(p, "an unknown ioctl", ret, ENOTTY, EFAULT);
}

static void op_lastsent(struct proc *p, struct ksock *k)
{
	struct kbus_msg_id id;
	long ret;

	if (chance(&p->rng, 5)) {
		ret = do_ioctl(k->fd, KBUS_IOC_LASTSENT, bad_ptr(p, 8));
		count_op(p, OP_LASTSENT, ret);
		EXPECT_ERR(p, "LASTSENT with a bad pointer", ret, EFAULT);
		return;
	}
	ret = do_ioctl(k->fd, KBUS_IOC_LASTSENT, &id);
	count_op(p, OP_LASTSENT, ret);
	if (ret)
		fail(p, "LASTSENT: %s", strerrorname_np(errno));
	else if (id.network_id)
		fail(p, "LASTSENT %u:%u: this run sends local ids only",
		     id.network_id, id.serial_num);
}

static void op_poll(struct proc *p)
{
	struct pollfd pfd[MAX_KS];
	int n = 0, i, ret;

	for (i = 0; i < MAX_KS; i++) {
		if (p->ks[i].fd < 0)
			continue;
		pfd[n].fd = p->ks[i].fd;
		pfd[n].events = POLLIN | (chance(&p->rng, 2) ? POLLOUT : 0);
		n++;
	}
	if (!n)
		return;
	ret = poll(pfd, (nfds_t)n, chance(&p->rng, 10) ? 2 : 0);
	count_op(p, OP_POLL, ret);
	if (ret < 0 && errno != EINTR)
		fail(p, "poll: %s", strerrorname_np(errno));
	for (i = 0, n = 0; ret > 0 && i < MAX_KS; i++) {
		struct ksock *k = &p->ks[i];

		if (k->fd < 0)
			continue;
		if (pfd[n].revents & (POLLERR | POLLNVAL))
			fail(p, "poll: revents %#x", pfd[n].revents);
		/* writable: a pending send has been resolved */
		if ((pfd[n].revents & POLLOUT) && k->pending) {
			k->pending = false;
			wreset(k);
		}
		if ((pfd[n].revents & POLLOUT) && !k->writable)
			fail(p, "poll: a read-only Ksock is writable");
		n++;
	}
}

/* ---- one random op ---- */

static void run_ops(struct proc *p, uint32_t nops, double deadline);

static void op_kid(struct proc *p)
{
	struct proc kid;
	pid_t pid;
	uint64_t kid_seed = rnd(&p->rng);
	uint32_t kid_ops = 5 + below(&p->rng, 60);
	uint32_t delay_us = below(&p->rng, 20000);
	int status, i;

	pid = fork();
	if (pid < 0) {
		count_op(p, OP_KID, -1);
		return;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		kid = *p;
		kid.rng.s = kid_seed;
		kid.widx = -1;
		kid.slot = NULL;
		kid.tr = NULL;
		kid.tr_cap = kid.tr_count = 0;
		for (i = 0; i < MAX_KS; i++) {
			if (p->ks[i].fd >= 0)
				close(p->ks[i].fd);
			memset(&kid.ks[i], 0, sizeof(kid.ks[i]));
			kid.ks[i].fd = -1;
		}
		run_ops(&kid, kid_ops, now() + 5);
		_exit(0);
	}
	count_op(p, OP_KID, 0);
	counters(p)->kids++;
	usleep(delay_us);
	if (kill(pid, SIGKILL) == 0)
		counters(p)->kids_killed++;
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status))
		fail(p, "a child (seed %#" PRIx64 ") found a breach; rerun to see it",
		     kid_seed);
}

static void one_op(struct proc *p)
{
	struct ksock *k;
	uint32_t r = below(&p->rng, 1000);
	int i;

	if (r < 15) {		/* open */
		for (i = 0; i < MAX_KS; i++) {
			if (p->ks[i].fd < 0) {
				ks_open(p, &p->ks[i]);
				return;
			}
		}
		r = 25;
	}
	k = pick_open(p);
	if (!k) {
		ks_open(p, &p->ks[below(&p->rng, MAX_KS)]);
		return;
	}
	if (r < 25)
		ks_close(p, k);
	else if (r < 110)
		op_bind(p, k, true);
	else if (r < 150)
		op_bind(p, k, false);
	else if (r < 165)
		op_replier(p, k);
	else if (r < 260)
		op_send_msg(p, k, MK_ANNOUNCE, -1);
	else if (r < 350 && !p->settling)
		op_send_msg(p, k, chance(&p->rng, 8) ? MK_STATEFUL : MK_REQUEST,
			    -1);
	else if (r < 420)
		op_reply(p, k);
	else if (r < 430)
		op_send_msg(p, k, MK_BOGUS_REPLY, -1);
	else if (r < 460)
		op_write_part(p, k);
	else if (r < 500)
		op_write_garbage(p, k);
	else if (r < 520)
		op_send_plain(p, k);
	else if (r < 540)
		op_discard(p, k);
	else if (r < 570)
		op_recv(p, k, chance(&p->rng, 3), true);
	else if (r < 620)
		op_read(p, k);
	else if (r < 790)
		op_recv(p, k, chance(&p->rng, 3), false);
	else if (r < 850)
		op_ioc_u32(p, k);
	else if (r < 880)
		op_ioc_switch(p, k);
	else if (r < 900)
		op_ioc_bad(p, k);
	else if (r < 920)
		op_lastsent(p, k);
	else if (r < 990)
		op_poll(p);
	else if (r < 999 && p->widx >= 0)
		op_kid(p);
	else if (p->widx >= 0) {
		uint32_t idx = 0;
		long ret;

		/* a second device now and then (at most kbus0..kbus3) */
		if (num_devices() >= 4)
			return;
		ret = ioc_u32(k->fd, KBUS_IOC_NEWDEVICE, &idx);
		count_op(p, OP_NEWDEVICE, ret);
		if (ret < 0 && errno != ENOMEM)
			fail(p, "NEWDEVICE: %s", strerrorname_np(errno));
	}
}

static void run_ops(struct proc *p, uint32_t nops, double deadline)
{
	uint32_t i;

	for (i = 0; i < nops; i++) {
		if ((i & 63) == 0 && now() > deadline)
			break;
		one_op(p);
	}
}

/* ---- the end of a worker's round: answer, drain, check ---- */

static void settle_ksock(struct proc *p, struct ksock *k)
{
	uint32_t n = 0, i;
	int guard;

	if (k->pending || k->writing || k->complete)
		op_discard(p, k);
	for (guard = 0; guard < 100000; guard++) {
		uint32_t before = (uint32_t)counters(p)->msgs_read;

		op_recv(p, k, false, false);
		if ((uint32_t)counters(p)->msgs_read == before)
			break;
	}
	/* answer every request popped and not answered yet */
	for (i = 0; i < k->nowed && k->writable; i++) {
		if (!k->owed[i].replies_ok) {
			op_send_msg(p, k, MK_REPLY, (int)i);
			if (k->pending || k->writing || k->complete)
				op_discard(p, k);
		}
	}
	k->nowed = 0;
	/*
	 * Requests it owes but lost (NEXTMSG abandoned them unread): close
	 * it, which answers them (Ignored) -- once its own requests are
	 * answered, or after a while (two such Ksocks could wait on each
	 * other).
	 */
	if (ioc_u32(k->fd, KBUS_IOC_UNREPLIEDTO, &n) == 0 && n &&
	    (now() > p->settle_close_at || !track_unanswered_by(p, k)))
		ks_close(p, k);
}

static int worker(uint64_t seed, long round, int widx, uint32_t nops,
		  double deadline)
{
	struct proc p = { 0 };
	double settle_end;
	int i;

	p.seed = seed;
	p.round = round;
	p.widx = widx;
	p.slot = &shm->slot[widx];
	p.rng.s = mix64(seed ^ mix64((uint64_t)round * 131 + (uint64_t)widx + 1));
	for (i = 0; i < MAX_KS; i++)
		p.ks[i].fd = -1;
	p.buf_len = 512 * 1024;
	p.buf = mmap(NULL, p.buf_len + 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p.rbuf_len = 512 * 1024;
	p.rbuf = malloc(p.rbuf_len + 16);
	if (p.buf == MAP_FAILED || !p.rbuf) {
		perror("kbus-fuzz: buffers");
		return 3;
	}
	p.noaccess = p.buf + p.buf_len;
	mprotect(p.noaccess, 4096, PROT_NONE);

	run_ops(&p, nops, deadline);

	/* settle: no new requests; serve others until everyone is answered */
	p.settling = true;
	settle_end = now() + SETTLE_SECONDS;
	p.settle_close_at = now() + 2;
	while (!shm->phase) {
		for (i = 0; i < MAX_KS; i++)
			if (p.ks[i].fd >= 0)
				settle_ksock(&p, &p.ks[i]);
		if (!p.slot->satisfied && !track_unanswered(&p, false))
			p.slot->satisfied = 1;
		if (now() > settle_end) {
			track_unanswered(&p, true);
			p.slot->satisfied = 1;
			settle_end = now() + 3600;
		}
		usleep(1000);
	}
	/* finish: one last drain (late answers would be duplicates) */
	for (i = 0; i < MAX_KS; i++)
		if (p.ks[i].fd >= 0)
			settle_ksock(&p, &p.ks[i]);
	for (i = 0; i < MAX_KS; i++)
		if (p.ks[i].fd >= 0)
			ks_close(&p, &p.ks[i]);
	p.slot->finished = 1;
	return p.slot->failed ? 1 : 0;
}

/* ---- the parent: rounds, kills, the order check, /proc ---- */

static int cmp_rec(const void *a, const void *b)
{
	const struct order_rec *x = a, *y = b;

	if (x->ksock != y->ksock)
		return x->ksock < y->ksock ? -1 : 1;
	return 0;
}

/* Within each Ksock the records keep their order (stable merge by index). */
struct rec_ix {
	struct order_rec r;
	uint32_t ix;
};

static int cmp_rec_ix(const void *a, const void *b)
{
	const struct rec_ix *x = a, *y = b;
	int c = cmp_rec(&x->r, &y->r);

	if (c)
		return c;
	return x->ix < y->ix ? -1 : x->ix > y->ix;
}

static uint64_t order_pairs_checked;

/*
 * Every two Ksocks see their common messages in the same order: for each
 * Ksock B, positions of B's messages; walking A's sequence the positions
 * (of messages B got too) must increase.
 */
static int check_order(uint64_t seed, long round, int nprocs)
{
	struct rec_ix *all;
	uint32_t total = 0, i, w, nks = 0;
	uint32_t *start, max_serial = 0;
	int32_t *pos;
	int bad = 0;

	for (w = 0; w < (uint32_t)nprocs; w++)
		total += shm->slot[w].nlog;
	if (!total)
		return 0;
	all = malloc(total * sizeof(*all));
	start = malloc((total + 1) * sizeof(*start));
	if (!all || !start) {
		perror("kbus-fuzz: malloc");
		exit(3);
	}
	total = 0;
	for (w = 0; w < (uint32_t)nprocs; w++) {
		for (i = 0; i < shm->slot[w].nlog; i++) {
			all[total].r = shm->slot[w].log[i];
			all[total].ix = total;
			if (all[total].r.serial > max_serial)
				max_serial = all[total].r.serial;
			total++;
		}
	}
	qsort(all, total, sizeof(*all), cmp_rec_ix);
	for (i = 0; i < total; i++)
		if (!i || all[i].r.ksock != all[i - 1].r.ksock)
			start[nks++] = i;
	start[nks] = total;
	pos = malloc(((size_t)max_serial + 1) * sizeof(*pos));
	if (!pos) {
		perror("kbus-fuzz: malloc");
		exit(3);
	}
	for (uint32_t b = 0; b < nks && !bad; b++) {
		uint32_t dev_b = all[start[b]].r.ksock >> 24;

		memset(pos, 0xff, ((size_t)max_serial + 1) * sizeof(*pos));
		for (i = start[b]; i < start[b + 1]; i++)
			if (pos[all[i].r.serial] < 0)
				pos[all[i].r.serial] = (int32_t)(i - start[b]);
		for (uint32_t a = 0; a < nks && !bad; a++) {
			int32_t last = -1;
			uint32_t last_serial = 0;

			if (a == b || (all[start[a]].r.ksock >> 24) != dev_b)
				continue;
			order_pairs_checked++;
			for (i = start[a]; i < start[a + 1]; i++) {
				int32_t q = pos[all[i].r.serial];

				if (q < 0 || q == last)
					continue;
				if (q < last) {
					fprintf(stderr,
						"kbus-fuzz: FAIL seed=%" PRIu64 " round=%ld: Ksocks %u and %u saw messages %u and %u in different orders\n",
						seed, round,
						all[start[a]].r.ksock & 0xffffff,
						all[start[b]].r.ksock & 0xffffff,
						last_serial, all[i].r.serial);
					bad = 1;
					break;
				}
				last = q;
				last_serial = all[i].r.serial;
			}
		}
	}
	free(pos);
	free(start);
	free(all);
	return bad;
}

static char *read_file(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Device-wide switches back to their defaults (workers may change them). */
static void reset_devices(void)
{
	int d, ndev = num_devices();

	for (d = 0; d < ndev; d++) {
		char path[32];
		uint32_t v;
		int fd;

		snprintf(path, sizeof(path), "/dev/kbus%d", d);
		fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		v = 0;
		ioctl(fd, KBUS_IOC_REPORTREPLIERBINDS, &v);
		v = 0;
		ioctl(fd, KBUS_IOC_VERBOSE, &v);
		v = 409600;
		ioctl(fd, KBUS_IOC_MAXMSGSIZE, &v);
		close(fd);
	}
}

/* Is the /proc text clean: no Ksock, no set-aside event, no binding? */
static bool proc_clean(const char *stats, const char *bindings)
{
	const char *line, *end;

	for (line = stats; line && *line; line = end ? end + 1 : NULL) {
		size_t len;

		end = strchr(line, '\n');
		len = end ? (size_t)(end - line) : strlen(line);
		if (!strncmp(line, "    ksock ", 10))
			return false;
		if (!strncmp(line, "dev ", 4) &&
		    (len < 19 || memcmp(line + len - 19, "unsent unbindings 0", 19)))
			return false;
	}
	for (line = bindings; line && *line; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (*line != '#' && *line != '\n')
			return false;
	}
	return true;
}

/* After a round: nothing left on any device (waits for kids' exit). */
static int check_proc(uint64_t seed, long round)
{
	double until = now() + 20;
	char stats[1 << 16], bindings[1 << 16];

	for (;;) {
		char *s = read_file("/proc/kbus/stats");

		if (!s) {
			fprintf(stderr, "kbus-fuzz: cannot read /proc/kbus/stats\n");
			return 1;
		}
		snprintf(stats, sizeof(stats), "%s", s);
		s = read_file("/proc/kbus/bindings");
		snprintf(bindings, sizeof(bindings), "%s", s ? s : "");
		if (proc_clean(stats, bindings))
			return 0;
		if (now() > until)
			break;
		usleep(20000);
	}
	fprintf(stderr, "kbus-fuzz: FAIL seed=%" PRIu64 " round=%ld: leftovers after every Ksock closed:\n%s%s",
		seed, round, stats, bindings);
	return 1;
}

/* ---- the kernel log ---- */

static char *klog_read(void)
{
	int size = klogctl(10, NULL, 0);	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *buf;
	int n;

	if (size <= 0)
		size = 1 << 20;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return NULL;
	n = klogctl(3, buf, size);		/* SYSLOG_ACTION_READ_ALL */
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

static const char *const bad_log[] = {
	"WARNING:", "BUG:", "Oops", "general protection",
	"Unable to handle", "KASAN", "UBSAN", "kmemleak", "possible circular",
	"possible recursive", "inconsistent lock", "INFO: task", "refcount_t",
	"list_add corruption", "list_del corruption", "Kernel panic",
	"stack-protector", "kernel BUG", "Call Trace", NULL,
};

/*
 * KCSAN reports: only a race where one of the two accesses is kbus's counts
 * (the same rule as tests/debug/check_kernel_log.py): a "[kbus]" frame among
 * the first KCSAN_DEPTH frames of that access's stack, no synchronisation
 * primitive above it (a race inside the mutex code that two kbus calls
 * contend on is the mutex's).  A function is one when its name, leading
 * underscores dropped, starts with one of sync_prefixes or is "down"/"up".
 */
#define KCSAN_DEPTH 4

static const char *const sync_prefixes[] = {
	"osq_", "mutex_", "ww_mutex", "rt_mutex", "raw_spin_", "do_raw_spin_",
	"spin_", "queued_", "rwsem", "down_", "up_read", "up_write", "wake_up",
	"try_to_wake_up", "autoremove_wake_function", "default_wake_function",
	"schedule", "preempt_schedule", "prepare_to_wait", "finish_wait",
	"add_wait_queue", "remove_wait_queue", "rcu_", "synchronize_rcu",
	"call_rcu", "lock_acquire", "lock_release", "complete",
	"wait_for_completion", NULL,
};

/* The function of a stack frame line ("...]  func+0x1c/0x30 [kbus]"), or NULL. */
static const char *frame_function(const char *line, size_t len, size_t *flen)
{
	const char *end = line + len, *p = memchr(line, ']', len), *f;

	if (!p)
		return NULL;
	for (p++; p < end && *p == ' '; p++)
		;
	for (f = p; p < end && *p != '+' && *p != ' '; p++)
		;
	if (p == f || p + 3 > end || memcmp(p, "+0x", 3))
		return NULL;
	*flen = (size_t)(p - f);
	return f;
}

static int is_sync_function(const char *f, size_t len)
{
	int i;

	while (len && *f == '_')
		f++, len--;
	if ((len == 4 && !memcmp(f, "down", 4)) || (len == 2 && !memcmp(f, "up", 2)))
		return 1;
	for (i = 0; sync_prefixes[i]; i++) {
		size_t n = strlen(sync_prefixes[i]);

		if (len >= n && !memcmp(f, sync_prefixes[i], n))
			return 1;
	}
	return 0;
}

/*
 * A KCSAN report starting at line (NUL-terminated, the rest of the log
 * after it): whether one of its racing accesses is kbus's, looking up to
 * its closing line of "="; *next is set to the line after that.
 */
static int kcsan_involves_kbus(char *line, char **next)
{
	char *p = line + strlen(line) + 1;
	int kbus = 0, depth = -1;	/* frames seen of the current access; -1: none */

	while (*p) {
		char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p), flen = 0;
		int last = memmem(p, len, "==========", 10) != NULL;
		const char *f = frame_function(p, len, &flen);

		if (memmem(p, len, " to 0x", 6) && memmem(p, len, " bytes by ", 10)) {
			depth = 0;		/* an access: its stack follows */
		} else if (f && depth >= 0) {
			if (depth < KCSAN_DEPTH && memmem(p, len, "[kbus]", 6))
				kbus = 1;
			if (is_sync_function(f, flen))
				depth = KCSAN_DEPTH;	/* the rest is the lock's caller */
			else
				depth++;
		} else {
			depth = -1;
		}
		p += len + (end ? 1 : 0);
		if (last)
			break;
	}
	*next = p;
	return kbus;
}

/* Lines of the log after marker that look like a kernel problem. */
static int klog_check(const char *marker)
{
	char *log = klog_read(), *from, *line, *p;
	int bad = 0, i;

	if (!log) {
		fprintf(stderr, "kbus-fuzz: cannot read the kernel log: %s\n",
			strerror(errno));
		return 1;
	}
	from = log;
	if (marker && *marker) {
		for (p = strstr(log, marker); p; p = strstr(p + 1, marker))
			from = p + strlen(marker);
	}
	for (line = from; *line; ) {
		char *end = strchr(line, '\n');

		if (end)
			*end = 0;
		if (end && strstr(line, "BUG: KCSAN: ")) {
			char *next;

			if (kcsan_involves_kbus(line, &next)) {
				fprintf(stderr, "kbus-fuzz: kernel log: %s\n", line);
				bad = 1;
			} else {
				fprintf(stderr, "kbus-fuzz: kernel log (not kbus's race, not counted): %s\n",
					line);
			}
			line = next;
			continue;
		}
		for (i = 0; bad_log[i]; i++) {
			if (strstr(line, bad_log[i])) {
				fprintf(stderr, "kbus-fuzz: kernel log: %s\n", line);
				bad = 1;
				break;
			}
		}
		if (!end)
			break;
		line = end + 1;
	}
	free(log);
	return bad;
}

/* ---- the summary ---- */

static void add_slot(struct slot *sum, const struct slot *s)
{
	int i;

	for (i = 0; i < OP_COUNT; i++) {
		sum->ops[i] += s->ops[i];
		sum->op_errs[i] += s->op_errs[i];
	}
	for (i = 0; i < MAX_ERRNO; i++)
		sum->errs[i] += s->errs[i];
	sum->requests += s->requests;
	sum->requests_maybe += s->requests_maybe;
	sum->replies_sent += s->replies_sent;
	sum->answers += s->answers;
	sum->statuses += s->statuses;
	sum->forfeited += s->forfeited;
	sum->msgs_read += s->msgs_read;
	sum->kids += s->kids;
	sum->kids_killed += s->kids_killed;
	sum->settle_ops += s->settle_ops;
}

static uint64_t total_ops(const struct slot *s)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < OP_COUNT; i++)
		n += s->ops[i];
	return n;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kbus-fuzz [--seed N] [--ops N] [--seconds N] [--procs N]\n"
		"                 [--round R] [--round-ops N] [--unload] [--quiet]\n"
		"  --seed N       the run's seed (default: from the clock; printed)\n"
		"  --ops N        stop after about N operations in all (default 20000)\n"
		"  --seconds N    stop starting rounds after N seconds (default 600)\n"
		"  --procs N      worker processes per round, 1..%d (default 4)\n"
		"  --round R      replay only round R of the seed\n"
		"  --round-ops N  operations per worker per round (default 1500)\n"
		"  --unload       at the end: rmmod kbus, check the kernel log\n"
		"  --quiet        no line per round\n", MAX_PROCS);
	exit(2);
}

static uint64_t num_arg(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || !*s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct slot sum = { 0 }, kids_sum;
	double t0, deadline;
	uint64_t done_ops = 0, kills = 0, workers_failed = 0;
	long round, rounds = 0;
	int i, failures = 0;
	char marker[200] = "";
	char *log;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--unload")) {
			opt_unload = true;
		} else if (!strcmp(a, "--quiet")) {
			opt_quiet = true;
		} else if (i + 1 < argc && !strcmp(a, "--seed")) {
			opt_seed = num_arg(argv[++i]);
			opt_seed_set = true;
		} else if (i + 1 < argc && !strcmp(a, "--ops")) {
			opt_ops = num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--seconds")) {
			opt_seconds = (double)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--procs")) {
			opt_procs = (int)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--round")) {
			opt_round = (long)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--round-ops")) {
			opt_round_ops = (uint32_t)num_arg(argv[++i]);
		} else {
			usage();
		}
	}
	if (opt_procs < 1 || opt_procs > MAX_PROCS || !opt_round_ops)
		usage();
	if (!opt_seed_set)
		opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	if (access("/dev/kbus0", R_OK | W_OK)) {
		fprintf(stderr, "kbus-fuzz: /dev/kbus0: %s (modprobe kbus?)\n",
			strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		perror("kbus-fuzz: mmap");
		return 3;
	}
	log = klog_read();
	if (log) {
		size_t n = strlen(log);

		snprintf(marker, sizeof(marker), "%s", log + (n > 120 ? n - 120 : 0));
		free(log);
	}
	printf("kbus-fuzz: seed %" PRIu64 " (replay: kbus-fuzz --seed %" PRIu64
	       " --procs %d --round-ops %u%s), up to %" PRIu64 " ops, %.0f s\n",
	       opt_seed, opt_seed, opt_procs, opt_round_ops,
	       opt_round >= 0 ? " --round R" : "", opt_ops, opt_seconds);

	t0 = now();
	deadline = t0 + opt_seconds;
	for (round = opt_round >= 0 ? opt_round : 0;
	     done_ops < opt_ops && now() < deadline; round++) {
		struct rng prng = { mix64(opt_seed ^ 0x5eed ^ mix64((uint64_t)round)) };
		pid_t pids[MAX_PROCS];
		int victim = -1, status;
		double kill_at = 0, settle_from = 0;
		uint64_t round_ops;
		struct slot rsum = { 0 };
		uint32_t nops = opt_round_ops;

		if (opt_ops - done_ops < (uint64_t)nops * (uint64_t)opt_procs)
			nops = (uint32_t)((opt_ops - done_ops + (uint64_t)opt_procs - 1) /
					  (uint64_t)opt_procs);
		memset(shm, 0, sizeof(*shm));
		if (chance(&prng, 3)) {
			victim = (int)below(&prng, (uint32_t)opt_procs);
			kill_at = now() + below(&prng, 3000) / 1000.0;
		}
		for (i = 0; i < opt_procs; i++) {
			pids[i] = fork();
			if (pids[i] < 0) {
				perror("kbus-fuzz: fork");
				return 3;
			}
			if (pids[i] == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				_exit(worker(opt_seed, round, i, nops,
					     deadline + 30));
			}
		}
		/* wait: kill the victim on time; finish once all are answered */
		for (;;) {
			int live = 0, sat = 0;

			if (victim >= 0 && kill_at && now() >= kill_at) {
				if (!shm->slot[victim].finished &&
				    kill(pids[victim], SIGKILL) == 0)
					kills++;
				kill_at = 0;
			}
			for (i = 0; i < opt_procs; i++) {
				if (!pids[i])
					continue;
				if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
					if (!WIFEXITED(status) ||
					    WEXITSTATUS(status)) {
						if (!(WIFSIGNALED(status) &&
						      WTERMSIG(status) == SIGKILL &&
						      i == victim)) {
							fprintf(stderr, "kbus-fuzz: worker %d ended with status %#x\n",
								i, status);
							workers_failed++;
						}
					}
					pids[i] = 0;
					continue;
				}
				live++;
				sat += shm->slot[i].satisfied;
			}
			if (!live)
				break;
			if (sat == live && !shm->phase) {
				if (!settle_from)
					settle_from = now();
				/* the victim's kill is still to come: wait */
				if (!kill_at)
					shm->phase = 1;
			}
			usleep(2000);
		}
		for (i = 0; i < opt_procs; i++) {
			add_slot(&rsum, &shm->slot[i]);
			if (shm->slot[i].failed) {
				fprintf(stderr, "kbus-fuzz: FAIL seed=%" PRIu64
					" round=%ld worker=%d: %s\n", opt_seed,
					round, i, shm->slot[i].fail);
				failures++;
			}
		}
		failures += check_order(opt_seed, round, opt_procs);
		reset_devices();
		failures += check_proc(opt_seed, round);
		if (workers_failed) {
			failures += (int)workers_failed;
			workers_failed = 0;
		}
		add_slot(&sum, &rsum);
		round_ops = total_ops(&rsum);
		done_ops += round_ops;
		rounds++;
		if (!opt_quiet)
			printf("round %ld: %" PRIu64 " ops, %" PRIu64 " requests, %" PRIu64
			       " answers%s, total %" PRIu64 " ops in %.1f s\n",
			       round, round_ops, rsum.requests, rsum.answers,
			       victim >= 0 ? ", a worker killed" : "", done_ops,
			       now() - t0);
		if (failures) {
			fprintf(stderr, "kbus-fuzz: replay with: kbus-fuzz --seed %" PRIu64
				" --procs %d --round-ops %u --round %ld\n",
				opt_seed, opt_procs, opt_round_ops, round);
			break;
		}
		if (opt_round >= 0)
			break;
	}
	memset(&kids_sum, 0, sizeof(kids_sum));

	if (opt_unload) {
		int rc = system("rmmod kbus");

		if (rc) {
			fprintf(stderr, "kbus-fuzz: FAIL: rmmod kbus: status %d\n", rc);
			failures++;
		}
	}
	if (klog_check(marker)) {
		fprintf(stderr, "kbus-fuzz: FAIL seed=%" PRIu64
			": the kernel log has reports (above)\n", opt_seed);
		failures++;
	}

	printf("\nkbus-fuzz summary: seed %" PRIu64 ", %ld round(s) of %d workers, %" PRIu64
	       " ops in %.1f s\n", opt_seed, rounds, opt_procs, done_ops, now() - t0);
	printf("  %-14s %10s %10s\n", "op", "count", "errors");
	for (i = 0; i < OP_COUNT; i++)
		if (sum.ops[i])
			printf("  %-14s %10" PRIu64 " %10" PRIu64 "\n", op_names[i],
			       sum.ops[i], sum.op_errs[i]);
	printf("  errors by errno:");
	for (i = 0; i < MAX_ERRNO; i++)
		if (sum.errs[i])
			printf(" %s %" PRIu64, i ? strerrorname_np(i) : "other",
			       sum.errs[i]);
	printf("\n  requests %" PRIu64 " (+%" PRIu64 " pending ALL_OR_WAIT), answers %"
	       PRIu64 " (statuses %" PRIu64 "), forfeited by closing %" PRIu64
	       ", replies sent %" PRIu64 "\n",
	       sum.requests, sum.requests_maybe, sum.answers, sum.statuses,
	       sum.forfeited, sum.replies_sent);
	printf("  ops while settling (draining, answering, closing; not counted above) %" PRIu64 "\n",
	       sum.settle_ops);
	printf("  messages read %" PRIu64 ", order pairs checked %" PRIu64
	       ", workers killed %" PRIu64 ", children spawned %" PRIu64
	       " (killed %" PRIu64 ")\n", sum.msgs_read, order_pairs_checked,
	       kills, sum.kids, sum.kids_killed);
	printf("kbus-fuzz: %s (seed %" PRIu64 ")\n",
	       failures ? "FAILED" : "no invariant breach", opt_seed);
	return failures ? 1 : 0;
}
