// SPDX-License-Identifier: MIT
/*
 * kbus-fuzz: a seeded, bounded fuzzer for the KBUS kernel module, run in the
 * rig guest on a bus of its own (`make fuzz`; docs/fuzzing.md).
 *
 *   kbus-fuzz [--seed N] [--ops N] [--seconds N] [--procs N] [--threads N]
 *             [--churn] [--max-device-bytes N] [--round R] [--round-ops N]
 *             [--no-min-activity] [--unload] [--quiet]
 *   kbus-fuzz --scenario NAME [--unpriv] [--duration S] [--owed N] [--unload]
 *
 * Random mode is a series of rounds.  In each round --procs worker processes
 * do random open/close/bind/unbind/write/read/ioctl/poll operations on their
 * own Ksocks (up to four each) with valid, boundary and garbage arguments:
 * unmapped and kernel addresses, buffers that end at an unmapped page, huge
 * lengths, bad names, messages written in pieces, pending ALL_OR_WAIT sends,
 * and short-lived children killed (SIGKILL) in the middle of their own
 * operations.  The parent may SIGKILL a worker too.  With --threads N each
 * worker runs N threads on the same Ksocks (the same file descriptors) at
 * once.  With --churn the workers also hold the headers of big entire
 * messages and DISCARD them, leave big reads half done and send big
 * messages to full listeners, so that the device's byte budget (lowered
 * with --max-device-bytes) goes up and down under the senders.  Every
 * worker's (and thread's) random decisions come from a generator seeded by
 * (seed, round, worker, thread), so a seed (and --round R for one round)
 * replays the same per-thread op sequences; the interleaving, and so the
 * results, can differ.
 *
 * Invariants checked (each breach is reported with seed, round and worker):
 *   - every Request that SEND accepted gets exactly one answer (the
 *     replier's reply or a $.KBUS.* status): a Ksock that wants to close
 *     first waits for its answers, a Request that went pending (ALL_OR_WAIT,
 *     EAGAIN) is followed until it is resolved (poll reports POLLOUT: sent,
 *     or failed with a status; or SEND, DISCARD or close end it unsent), and
 *     every answer is due by the end of the round's settling;
 *   - no answer for a request that was never sent (or was dropped while
 *     pending); a second reply to the same request is refused;
 *   - a reply or status is read only by the Ksock its `to` names (statuses
 *     only ever go to their requester; no Ksock here listens to a reply's
 *     name, so no other Ksock may see a reply);
 *   - two Ksocks see the messages they both received (non-urgent,
 *     non-synthetic) in the same relative order;
 *   - every message read is well formed: guards, lengths, a NUL and zero
 *     padding after the name, zero padding after the data, extra == 0,
 *     name and data pointers NULL;
 *   - arguments that must fail do (bad pointers: EFAULT; unknown ioctls:
 *     ENOTTY; ...) and arguments that must work do;
 *   - after each round, once everything is closed, /proc/kbus/stats lists
 *     no Ksock and no set-aside event and /proc/kbus/bindings no binding;
 *   - a minimum of activity per run (answered requests, messages read,
 *     Ksock pairs with messages in common compared), scaled by the
 *     operations done: a module that refuses everything fails the run;
 *   - with --unload, at the end `rmmod kbus` succeeds and the kernel log of
 *     the run has no WARNING/BUG/Oops (or sanitizer/lockdep report; a KCSAN
 *     data-race report counts only when one of the racing accesses is
 *     kbus's: on a KCSAN kernel the races among the kernel's own parts are
 *     shown, not counted, as tests/debug/check_kernel_log.py does).
 * Threads mode relaxes what threads sharing a Ksock cannot know; see
 * threads_note below and docs/fuzzing.md.
 *
 * Scenario mode (--scenario NAME, `--scenario list`) runs one deterministic
 * reproduction of a known defect class instead (see the scenarios table).
 *
 * A summary (ops by kind, errors by errno, requests and answers, activity)
 * is printed at the end; the exit status is 1 on any breach, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kbus_defns.h>

#define MAX_PROCS	16
#define MAX_THREADS	8
#define MAX_KS		4
#define LOG_CAP		(1u << 17)	/* order-log records per worker and round */
#define FAIL_LEN	600
#define MAX_ERRNO	160
#define SETTLE_SECONDS	60	/* every accepted request answered by then */
#define BIG_DATA	(64 * 1024)
#define CHURN_MIN	(20 * 1024)	/* --churn: big messages, 20 to 40 KB */
#define CHURN_MAX	(40 * 1024)
#define HDR_LEN		((uint32_t)sizeof(struct kbus_message_header))
#define NOBODY		65534

static const char threads_note[] =
	"threads mode: each Ksock is 'tracked' (threads take turns to write+SEND\n"
	"and to NEXTMSG+read it, while others bind, ioctl and poll it at the same\n"
	"time) or 'wild' (every thread does anything to it at once); on wild\n"
	"Ksocks a read can get the middle of a message another thread popped, so\n"
	"only reads that start at a message start are checked (whole, well\n"
	"formed), their requests' answers are counted at most once but not\n"
	"required, and they log no order\n";

/* ---- the op kinds (counted in the summary) ---- */

enum op {
	OP_OPEN, OP_CLOSE, OP_BIND, OP_UNBIND, OP_REPLIER, OP_SEND_MSG,
	OP_REPLY, OP_WRITE_PART, OP_WRITE_GARBAGE, OP_SEND, OP_DISCARD,
	OP_NEXTMSG, OP_READ, OP_RECV, OP_IOC_U32, OP_IOC_SWITCH, OP_IOC_BAD,
	OP_LASTSENT, OP_POLL, OP_KID, OP_NEWDEVICE, OP_BIG_HDR, OP_BIG_END,
	OP_WILD_WRITE, OP_WILD_READ,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"open", "close", "bind", "unbind", "replier", "send-msg", "reply",
	"write-part", "write-garbage", "send", "discard", "nextmsg", "read",
	"recv", "ioctl-u32", "ioctl-switch", "ioctl-bad", "lastsent", "poll",
	"kid", "newdevice", "big-header", "big-finish", "wild-write",
	"wild-read",
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
	uint64_t requests;	/* Requests accepted: SEND 0, or pending then sent */
	uint64_t pend_requests;	/* Requests that went pending (EAGAIN) */
	uint64_t pend_sent;	/* of which resolved as sent */
	uint64_t pend_dropped;	/* of which dropped unsent (DISCARD, SEND error, close) */
	uint64_t replies_sent;
	uint64_t answers;	/* replies and statuses received for them */
	uint64_t statuses;	/* of which $.KBUS.* statuses */
	uint64_t forfeited;	/* requests whose requester closed unanswered */
	uint64_t closes_deferred; /* closes that waited for answers first */
	uint64_t wild_sends;	/* ids SEND returned on wild Ksocks */
	uint64_t wild_answers;	/* answers read for them */
	uint64_t whole_reads;	/* wild reads that started at a message start */
	uint64_t torn_reads;	/* wild reads that got the middle of one */
	uint64_t big_held;	/* --churn: big headers written and held */
	uint64_t big_discarded;
	uint64_t big_sent;
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

#define ADD(x, n)	__atomic_fetch_add(&(x), (n), __ATOMIC_RELAXED)

/* ---- options ---- */

static uint64_t opt_seed;
static bool opt_seed_set;
static uint64_t opt_ops = 20000;
static double opt_seconds = 600;
static int opt_procs = 4;
static int opt_threads = 1;
static long opt_round = -1;
static uint32_t opt_round_ops = 1500;	/* per worker */
static bool opt_unload;
static bool opt_quiet;
static bool opt_churn;
static bool opt_no_min;
static bool opt_unpriv;
static unsigned long opt_max_dev_bytes;
static const char *opt_scenario;
static double opt_duration;		/* scenarios: 0 = the scenario's own */
static uint32_t opt_owed = 8000;	/* ownedclose */
static bool is_root;

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

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- per-process state ---- */

/* What a request id is expected to get. */
enum expect {
	EXP_NONE,		/* never sent (dropped while pending): nothing */
	EXP_SURE,		/* accepted: exactly one answer */
	EXP_PENDING,		/* ALL_OR_WAIT EAGAIN, not resolved yet */
	EXP_WILD,		/* sent from a wild Ksock: at most one answer */
};

struct track {
	uint64_t key;		/* (device << 32) | serial; 0 = empty */
	uint32_t owner;		/* Ksock id of the requester; 0 once closed */
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
	bool wild;		/* threads mode: no turns taken on it */
	/* the writer's state (its turn: wlock) */
	bool pending;		/* an ALL_OR_WAIT send returned EAGAIN */
	bool pend_req;		/* ... and it is a Request */
	bool pend_unsure;	/* ... or was sent (its id could not be copied) */
	struct kbus_msg_id pend_id;
	bool writing;		/* a message is partly written */
	bool complete;		/* a message is completely written */
	uint8_t part[256];	/* a well-formed message written in part */
	uint32_t part_len, part_pos;
	bool wmsg_request;	/* the message written is a Request */
	bool wmsg_reply;	/* ... or a reply, to wmsg_owed */
	struct owed wmsg_owed;
	bool big;		/* --churn: the header of a big message held */
	struct kbus_message_header big_h;
	char big_name[64];
	uint32_t big_pos, big_len;
	struct kbus_msg_id last_sent;
	bool close_wanted;	/* closes once its requests are answered */
	/* the reader's state (its turn: rlock) */
	bool reading;		/* NEXTMSG gave a message not yet read */
	/* replies owed (olock) */
	struct owed *owed;
	uint32_t nowed, owed_cap;
	/* locks: used only while threads run (threads mode) */
	pthread_rwlock_t life;	/* ops share it; open and close take it alone */
	pthread_rwlock_t send_rw; /* SEND + its bookkeeping share it */
	pthread_mutex_t wlock, rlock, olock;
};

#define KS_STATE_LEN	offsetof(struct ksock, life)

struct worker {
	struct slot *slot;	/* NULL: nothing logged (kids) */
	int widx;
	uint64_t seed;
	long round;
	int nthreads;
	bool mt;		/* threads are running: take the locks */
	bool settling;
	struct ksock ks[MAX_KS];
	pthread_mutex_t tr_lock;
	struct track *tr;
	uint32_t tr_cap, tr_count;
};

struct proc {
	struct rng rng;
	struct worker *w;
	struct ksock *ks;	/* w->ks */
	struct slot *slot;	/* w->slot */
	int widx;		/* worker index, -1 for a kid */
	int tidx;		/* thread index */
	uint64_t seed;
	long round;
	bool force_big;		/* --churn: the next message is big */
	uint8_t *buf;		/* RW pages followed by a PROT_NONE page */
	size_t buf_len;
	uint8_t *noaccess;
	uint8_t *rbuf;		/* read buffer */
	size_t rbuf_len;
	uint8_t data[BIG_DATA];
};

static struct slot kid_slot;	/* kids count into a private slot */

/* ---- failures ---- */

static void fail(struct proc *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct proc *p, const char *fmt, ...)
{
	char msg[FAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kbus-fuzz: FAIL seed=%" PRIu64 " round=%ld worker=%d%s: %s\n",
		p->seed, p->round, p->widx,
		p->w && p->w->nthreads > 1 ? (p->tidx ? " (a thread)" : " (thread 0)") : "",
		msg);
	if (p->slot && !__atomic_exchange_n(&p->slot->failed, 1, __ATOMIC_SEQ_CST))
		snprintf(p->slot->fail, FAIL_LEN, "%s", msg);
	if (p->widx < 0)
		_exit(1);
}

static struct slot *counters(struct proc *p)
{
	return p->slot ? p->slot : &kid_slot;
}

#define CNT(p, field)	ADD(counters(p)->field, 1)

static void count_op(struct proc *p, enum op op, long ret)
{
	struct slot *s = counters(p);

	if (p->w->settling) {
		ADD(s->settle_ops, 1);
		return;
	}
	ADD(s->ops[op], 1);
	if (ret < 0) {
		ADD(s->op_errs[op], 1);
		ADD(s->errs[errno < MAX_ERRNO ? errno : 0], 1);
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

/* ---- locks (only while threads run) ---- */

static bool mt(const struct proc *p)
{
	return p->w->mt;
}

/* Tracked Ksocks in threads mode: threads take turns to write and read. */
static bool turns(const struct proc *p, const struct ksock *k)
{
	return p->w->mt && !k->wild;
}

static void wturn(struct proc *p, struct ksock *k, bool take)
{
	if (turns(p, k))
		(take ? pthread_mutex_lock : pthread_mutex_unlock)(&k->wlock);
}

static void rturn(struct proc *p, struct ksock *k, bool take)
{
	if (turns(p, k))
		(take ? pthread_mutex_lock : pthread_mutex_unlock)(&k->rlock);
}

static void olock(struct proc *p, struct ksock *k, bool take)
{
	if (mt(p))
		(take ? pthread_mutex_lock : pthread_mutex_unlock)(&k->olock);
}

static void tr_lock(struct proc *p, bool take)
{
	if (mt(p))
		(take ? pthread_mutex_lock : pthread_mutex_unlock)(&p->w->tr_lock);
}

/* A SEND and the recording of its id: answers wait for these to finish. */
static void send_begin(struct proc *p, struct ksock *k)
{
	if (mt(p))
		pthread_rwlock_rdlock(&k->send_rw);
}

static void send_end(struct proc *p, struct ksock *k)
{
	if (mt(p))
		pthread_rwlock_unlock(&k->send_rw);
}

static void ks_locks_init(struct ksock *k)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&k->life, &a);
	pthread_rwlock_init(&k->send_rw, &a);
	pthread_rwlockattr_destroy(&a);
	pthread_mutex_init(&k->wlock, NULL);
	pthread_mutex_init(&k->rlock, NULL);
	pthread_mutex_init(&k->olock, NULL);
}

static void worker_init(struct worker *w, int nthreads)
{
	int i;

	memset(w, 0, sizeof(*w));
	w->nthreads = nthreads;
	pthread_mutex_init(&w->tr_lock, NULL);
	for (i = 0; i < MAX_KS; i++) {
		ks_locks_init(&w->ks[i]);
		w->ks[i].fd = -1;
	}
}

/* ---- request tracking (open addressing on the request id; tr_lock) ---- */

/* The slot of key: its own, or the empty one it would take (tr_cap > 0). */
static struct track *track_slot(struct worker *w, uint64_t key)
{
	uint32_t i;

	for (i = mix64(key) & (w->tr_cap - 1);; i = (i + 1) & (w->tr_cap - 1))
		if (w->tr[i].key == key || !w->tr[i].key)
			return &w->tr[i];
}

static struct track *track_find(struct worker *w, uint64_t key, bool add)
{
	struct track *t;
	uint32_t i;

	if (add && (w->tr_count + 1) * 2 > w->tr_cap) {
		struct track *old = w->tr;
		uint32_t old_cap = w->tr_cap;

		w->tr_cap = old_cap ? old_cap * 2 : 1024;
		w->tr = calloc(w->tr_cap, sizeof(*w->tr));
		if (!w->tr) {
			perror("kbus-fuzz: calloc");
			_exit(3);
		}
		for (i = 0; i < old_cap; i++)
			if (old[i].key)
				*track_slot(w, old[i].key) = old[i];
		free(old);
	}
	if (!w->tr_cap)
		return NULL;
	t = track_slot(w, key);
	return t->key || add ? t : NULL;
}

static uint64_t track_key(int dev, struct kbus_msg_id id)
{
	return ((uint64_t)(dev + 1) << 32) | id.serial_num;
}

static struct track *track_lookup(struct worker *w, uint64_t key)
{
	return track_find(w, key, false);
}

static void track_request(struct proc *p, struct ksock *k,
			  struct kbus_msg_id id, enum expect how)
{
	uint64_t key = track_key(k->dev, id);
	struct track *t;

	if (!id.serial_num)
		return;
	if (id.network_id) {
		fail(p, "SEND gave id %u:%u: this run sends local ids only",
		     id.network_id, id.serial_num);
		return;
	}
	tr_lock(p, true);
	t = track_find(p->w, key, true);
	if (!t->key) {
		p->w->tr_count++;
		t->key = key;
		t->owner = k->id;
		t->expect = (uint8_t)how;
		t->answers = 0;
		if (how == EXP_SURE)
			CNT(p, requests);
		else if (how == EXP_PENDING)
			CNT(p, pend_requests);
		else
			CNT(p, wild_sends);
	} else if (t->owner != k->id) {
		fail(p, "request id %u sent twice (Ksocks %u and %u)",
		     id.serial_num, t->owner, k->id);
	} else if (t->expect == EXP_PENDING && how == EXP_SURE) {
		t->expect = EXP_SURE;
		CNT(p, requests);
		CNT(p, pend_sent);
	}
	tr_lock(p, false);
}

/* A pending request was resolved: sent (an answer will come) or dropped. */
static void track_resolve(struct proc *p, struct ksock *k,
			  struct kbus_msg_id id, bool sent)
{
	struct track *t;

	tr_lock(p, true);
	t = track_lookup(p->w, track_key(k->dev, id));
	if (t && t->owner == k->id && t->expect == EXP_PENDING) {
		if (sent) {
			t->expect = EXP_SURE;
			CNT(p, requests);
			CNT(p, pend_sent);
		} else {
			if (t->answers)
				fail(p, "request %u of Ksock %u was dropped while pending but was answered",
				     id.serial_num, k->id);
			t->expect = EXP_NONE;
			CNT(p, pend_dropped);
		}
	}
	tr_lock(p, false);
}

/* A reply or status arrived on k, addressed to k, for in_reply_to. */
static void track_answer(struct proc *p, struct ksock *k,
			 const struct kbus_message_header *h)
{
	const char *what = (h->flags & KBUS_BIT_SYNTHETIC) ? "a status" : "a reply";
	uint64_t key = track_key(k->dev, h->in_reply_to);
	struct track *t;

	if (h->in_reply_to.network_id) {
		fail(p, "Ksock %u got %s (id %u from %u) in reply to %u:%u: this run sends local ids only",
		     k->id, what, h->id.serial_num, h->from,
		     h->in_reply_to.network_id, h->in_reply_to.serial_num);
		return;
	}
	tr_lock(p, true);
	t = track_lookup(p->w, key);
	if ((!t || t->owner != k->id) && mt(p)) {
		/* its SEND may not have recorded it yet: wait for those on k */
		tr_lock(p, false);
		pthread_rwlock_wrlock(&k->send_rw);
		pthread_rwlock_unlock(&k->send_rw);
		tr_lock(p, true);
		t = track_lookup(p->w, key);
	}
	if (!t || t->owner != k->id) {
		fail(p, "Ksock %u got %s (id %u from %u) in reply to %u:%u, which it never sent",
		     k->id, what, h->id.serial_num, h->from,
		     h->in_reply_to.network_id, h->in_reply_to.serial_num);
	} else if (t->expect == EXP_NONE) {
		fail(p, "Ksock %u got %s (id %u from %u) in reply to %u, which was dropped unsent while pending",
		     k->id, what, h->id.serial_num, h->from,
		     h->in_reply_to.serial_num);
	} else {
		if (++t->answers > 1)
			fail(p, "request %u of Ksock %u answered twice (now by %s, id %u from %u)",
			     h->in_reply_to.serial_num, k->id, what,
			     h->id.serial_num, h->from);
		if (t->expect == EXP_WILD) {
			CNT(p, wild_answers);
		} else {
			CNT(p, answers);
			if (h->flags & KBUS_BIT_SYNTHETIC)
				CNT(p, statuses);
		}
	}
	tr_lock(p, false);
}

/* Ksock owner closed: its unanswered requests (should be none) forfeit. */
static void track_forget(struct proc *p, int dev, uint32_t owner)
{
	uint32_t i;

	tr_lock(p, true);
	for (i = 0; i < p->w->tr_cap; i++) {
		struct track *t = &p->w->tr[i];

		if (t->key && t->owner == owner && (int)(t->key >> 32) == dev + 1) {
			if (t->expect == EXP_SURE && !t->answers)
				CNT(p, forfeited);
			/* keep the key (answered ids still catch duplicates) */
			t->owner = 0;
		}
	}
	tr_lock(p, false);
}

static char *read_file(const char *path);

static void dump_stats(void)
{
	char *s = read_file("/proc/kbus/stats");

	fprintf(stderr, "kbus-fuzz: /proc/kbus/stats now:\n%s", s ? s : "?\n");
}

static bool track_waiting(const struct track *t)
{
	return t->key && t->owner &&
	       ((t->expect == EXP_SURE && !t->answers) || t->expect == EXP_PENDING);
}

/* Requests of open Ksocks still waiting for their answer (or pending). */
static uint32_t track_unanswered(struct proc *p, bool report)
{
	uint32_t i, n = 0;

	tr_lock(p, true);
	for (i = 0; i < p->w->tr_cap; i++) {
		struct track *t = &p->w->tr[i];

		if (!track_waiting(t))
			continue;
		if (report && n < 5) {
			fail(p, "request %u of Ksock %u on kbus%u %s within %d s",
			     (uint32_t)t->key, t->owner,
			     (uint32_t)(t->key >> 32) - 1,
			     t->expect == EXP_PENDING ?
			     "still pending (ALL_OR_WAIT) and not resolved" :
			     "never answered", SETTLE_SECONDS);
			if (!n) {
				int j;

				dump_stats();
				for (j = 0; j < MAX_KS; j++)
					fprintf(stderr, "  slot %d: fd %d kbus%d Ksock %u%s\n",
						j, p->ks[j].fd, p->ks[j].dev,
						p->ks[j].id,
						p->ks[j].wild ? " (wild)" : "");
			}
		}
		n++;
	}
	tr_lock(p, false);
	return n;
}

/* Requests of k still waiting for their answer (or pending). */
static uint32_t track_unanswered_by(struct proc *p, const struct ksock *k)
{
	uint32_t i, n = 0;

	tr_lock(p, true);
	for (i = 0; i < p->w->tr_cap; i++) {
		struct track *t = &p->w->tr[i];

		if (track_waiting(t) && t->owner == k->id &&
		    (int)(t->key >> 32) == k->dev + 1)
			n++;
	}
	tr_lock(p, false);
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

/*
 * Names to bind: mostly valid, sometimes garbage, never matching $.R.* or
 * $.KBUS.* (so no Ksock here ever listens to a reply or a status).
 */
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

/* ---- Ksock slots ---- */

static void ks_clear(struct ksock *k)
{
	free(k->owed);
	memset(k, 0, KS_STATE_LEN);
	k->fd = -1;
}

/* Open a Ksock into slot k (free; its life lock held alone while threads run). */
static void ks_open(struct proc *p, struct ksock *k)
{
	char path[32];
	int flags, fd, ndev, dev;
	uint32_t id = 0;

	ndev = num_devices();
	dev = (ndev > 1 && chance(&p->rng, 8)) ? 1 : 0;
	snprintf(path, sizeof(path), "/dev/kbus%d", dev);
	flags = chance(&p->rng, 10) ? O_RDONLY : O_RDWR;
	if (chance(&p->rng, 4))
		flags |= O_NONBLOCK;
	fd = open(path, flags | O_CLOEXEC);
	count_op(p, OP_OPEN, fd);
	if (fd < 0) {
		/* EMFILE: the process's limit, or a per-user Ksock limit */
		if (!errno_in(errno, (const int[]){ ENOENT, ENXIO, EMFILE, ENFILE,
						     ENOMEM, 0 }))
			fail(p, "open %s: %s", path, strerrorname_np(errno));
		return;
	}
	if (ioc_u32(fd, KBUS_IOC_KSOCKID, &id) || !id)
		fail(p, "KSOCKID on a new Ksock: %s, id %u", strerrorname_np(errno), id);
	ks_clear(k);
	k->fd = fd;
	k->dev = dev;
	k->id = id;
	k->writable = (flags & O_ACCMODE) == O_RDWR;
	k->wild = p->w->nthreads > 1 && chance(&p->rng, 2);
}

/* No message is being written on k any more. */
static void wreset(struct ksock *k)
{
	k->writing = false;
	k->complete = false;
	k->part_len = 0;
	k->big = false;
	k->wmsg_request = false;
	k->wmsg_reply = false;
}

/* ---- the pending ALL_OR_WAIT send of a Ksock ---- */

/*
 * The pending send of k ended: sent (poll said POLLOUT: delivered, or
 * failed and KBUS queued a status to k for a Request, spec 8.4), or
 * dropped unsent (DISCARD, close, a SEND that failed).
 */
static void pending_resolved(struct proc *p, struct ksock *k, bool sent)
{
	if (k->pend_req)
		track_resolve(p, k, k->pend_id, sent);
	k->pending = false;
	k->pend_req = false;
	k->pend_unsure = false;
	wreset(k);
}

/* Has k's pending send been resolved? Poll tells (its retry runs in poll). */
static bool pending_poll(struct proc *p, struct ksock *k, int timeout_ms)
{
	struct pollfd pfd = { .fd = k->fd, .events = POLLOUT };
	int ret = poll(&pfd, 1, timeout_ms);

	count_op(p, OP_POLL, ret);
	if (ret < 0) {
		if (errno != EINTR)
			fail(p, "poll: %s", strerrorname_np(errno));
		return false;
	}
	if (pfd.revents & (POLLERR | POLLNVAL))
		fail(p, "poll: revents %#x", pfd.revents);
	if (!(pfd.revents & POLLOUT))
		return false;
	pending_resolved(p, k, true);
	return true;
}

static void ks_close(struct proc *p, struct ksock *k)
{
	long ret;

	/* a pending send still pending now is dropped by the close */
	if (k->pending && !k->wild && !pending_poll(p, k, 0))
		pending_resolved(p, k, false);
	ret = close(k->fd);
	count_op(p, OP_CLOSE, ret);
	if (ret)
		fail(p, "close Ksock %u: %s", k->id, strerrorname_np(errno));
	track_forget(p, k->dev, k->id);
	ks_clear(k);
}

/*
 * Close k, or (a tracked Ksock with requests not answered yet) stop
 * sending requests on it and close it once they are answered.
 */
static void ks_want_close(struct proc *p, struct ksock *k)
{
	if (!k->wild && k->pending && k->pend_req)
		pending_poll(p, k, 0);
	if (k->wild || !track_unanswered_by(p, k)) {
		ks_close(p, k);
		return;
	}
	if (!k->close_wanted) {
		k->close_wanted = true;
		CNT(p, closes_deferred);
	}
}

/* ---- replies owed (olock) ---- */

static void owed_add(struct proc *p, struct ksock *k, struct kbus_msg_id id,
		     uint32_t requester)
{
	olock(p, k, true);
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
	olock(p, k, false);
}

/* A copy of a random owed entry; false if none. */
static bool owed_pick(struct proc *p, struct ksock *k, struct owed *o)
{
	bool found;

	olock(p, k, true);
	found = k->nowed > 0;
	if (found)
		*o = k->owed[below(&p->rng, k->nowed)];
	olock(p, k, false);
	return found;
}

enum owed_what { OWED_OK, OWED_MAYBE, OWED_GONE, OWED_GC };

/* Update the entry o is a copy of: a reply sent, maybe sent, or drop it. */
static void owed_note(struct proc *p, struct ksock *k, const struct owed *o,
		      enum owed_what what)
{
	uint32_t i;

	olock(p, k, true);
	for (i = 0; i < k->nowed; i++) {
		struct owed *e = &k->owed[i];

		if (e->id.serial_num != o->id.serial_num ||
		    e->id.network_id != o->id.network_id ||
		    e->requester != o->requester)
			continue;
		if (what == OWED_OK)
			e->replies_ok++;
		else if (what == OWED_MAYBE)
			e->maybe = true;
		if (what == OWED_GONE || (what == OWED_GC && e->replies_ok > 0))
			k->owed[i] = k->owed[--k->nowed];
		break;
	}
	olock(p, k, false);
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
	/* ENOSPC: a per-Ksock, per-device or per-user binding limit */
	if (ret < 0 && !errno_in(errno, (const int[]){ EBADMSG, ENAMETOOLONG,
			EINVAL, EADDRINUSE, EFAULT, EAGAIN, EBUSY, ENOMEM,
			ENOSPC, 0 }))
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
			int err = errno;

			wreset(k);
			errno = err;
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
static size_t build_entire(uint8_t *buf, const struct kbus_message_header *h,
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
	if (h->data_len && data)
		memcpy(buf + off, data, h->data_len);
	off += pd;
	memcpy(buf + off, &guard, 4);
	return off + 4;
}

enum msg_kind { MK_ANNOUNCE, MK_REQUEST, MK_REPLY, MK_BOGUS_REPLY,
		MK_STATEFUL };

/* A random message header (and name, data) of the given kind. */
static void random_message(struct proc *p, enum msg_kind kind,
			   const struct owed *o, uint32_t self,
			   struct kbus_message_header *h, char *name)
{
	uint32_t i;

	memset(h, 0, sizeof(*h));
	h->start_guard = KBUS_MSG_START_GUARD;
	h->end_guard = KBUS_MSG_END_GUARD;
	switch (kind) {
	case MK_REPLY:
		h->in_reply_to = o->id;
		h->to = o->requester;
		h->name_len = (uint32_t)sprintf(name, "$.R.%s",
						words[below(&p->rng, 10)]);
		break;
	case MK_BOGUS_REPLY:
		/* ids no real message has (serials stay far below 2^31) */
		h->in_reply_to.serial_num = 0x80000000u | (uint32_t)rnd(&p->rng);
		h->to = chance(&p->rng, 2) ? self : (uint32_t)below(&p->rng, 64);
		h->name_len = (uint32_t)sprintf(name, "$.R.b");
		break;
	case MK_REQUEST:
	case MK_STATEFUL:
		h->flags = KBUS_BIT_WANT_A_REPLY;
		if (kind == MK_STATEFUL)
			h->to = below(&p->rng, 40);
		h->name_len = valid_name(p, name, false);
		break;
	default:
		h->name_len = valid_name(p, name, false);
		if (chance(&p->rng, 8)) {	/* Limpet-style fields */
			h->orig_from.network_id = (uint32_t)rnd(&p->rng);
			h->final_to.local_id = (uint32_t)rnd(&p->rng);
			h->to = (uint32_t)rnd(&p->rng);
		}
		break;
	}
	if (chance(&p->rng, 6))
		h->flags |= KBUS_BIT_URGENT;
	if (chance(&p->rng, 8))
		h->flags |= KBUS_BIT_ALL_OR_WAIT;
	else if (chance(&p->rng, 8))
		h->flags |= KBUS_BIT_ALL_OR_FAIL;
	if (chance(&p->rng, 10))
		h->flags |= KBUS_BIT_SYNTHETIC | KBUS_BIT_WANT_YOU_TO_REPLY;
	if (chance(&p->rng, 6))
		h->flags |= (uint32_t)rnd(&p->rng) & 0xffff0000u;
	if (chance(&p->rng, 10))
		h->extra = (uint32_t)rnd(&p->rng);
	if (p->force_big) {
		h->data_len = CHURN_MIN + below(&p->rng, CHURN_MAX - CHURN_MIN + 1);
	} else {
		switch (below(&p->rng, 8)) {
		case 0:
			h->data_len = below(&p->rng, BIG_DATA);
			break;
		case 1: case 2: case 3:
			h->data_len = 0;
			break;
		default:
			h->data_len = below(&p->rng, 64);
			break;
		}
	}
	for (i = 0; i < h->data_len && i < 64; i++)
		p->data[i] = (uint8_t)rnd(&p->rng);
}

/*
 * Write one well-formed message (pointy or entire, in pieces) and SEND it.
 * For MK_REPLY, o is a copy of the owed entry it answers.  Returns 0 (sent),
 * EAGAIN (pending), the errno of a SEND that failed, or -1 (nothing sent:
 * not written, or still written).
 */
static int op_send_msg(struct proc *p, struct ksock *k, enum msg_kind kind,
			const struct owed *o)
{
	struct kbus_message_header h;
	char name[64];
	struct kbus_msg_id id = { 0 }, before = { 0 };
	enum op op = (kind == MK_REPLY) ? OP_REPLY : OP_SEND_MSG;
	bool pointy = chance(&p->rng, 3);
	bool bad_id_ptr = chance(&p->rng, 25);
	bool was_request = kind == MK_REQUEST || kind == MK_STATEFUL;
	bool unsure = false;
	uint8_t *wbuf;
	size_t len;
	long ret;
	int err;

	if (!k->writable || k->pending || k->writing || k->complete)
		return -1;
	random_message(p, kind, o, k->id, &h, name);
	if (pointy) {
		char *nm = (char *)tail_buf(p, h.name_len + 1 + h.data_len);

		memcpy(nm, name, h.name_len);
		nm[h.name_len] = 0;
		h.name = nm;
		h.data = h.data_len ? nm + h.name_len + 1 : NULL;
		if (h.data_len)
			memcpy(h.data, p->data, h.data_len < BIG_DATA ? h.data_len : BIG_DATA);
		wbuf = (uint8_t *)&h;
		len = HDR_LEN;
	} else {
		wbuf = p->buf;
		len = build_entire(wbuf, &h, name, p->data);
	}
	k->wmsg_request = was_request;
	k->wmsg_reply = kind == MK_REPLY;
	if (o)
		k->wmsg_owed = *o;
	if (!write_pieces(p, k, wbuf, len, op)) {
		if (errno != EMSGSIZE && errno != ENOMEM)
			fail(p, "writing a well-formed message: %s",
			     strerrorname_np(errno));
		return -1;
	}
	k->wmsg_request = was_request;
	k->wmsg_reply = kind == MK_REPLY;
	k->complete = true;
	send_begin(p, k);
	if (bad_id_ptr)
		ioctl(k->fd, KBUS_IOC_LASTSENT, &before);
	ret = do_ioctl(k->fd, KBUS_IOC_SEND, bad_id_ptr ? bad_ptr(p, 8) : (void *)&id);
	count_op(p, OP_SEND, ret);
	if (bad_id_ptr) {
		/*
		 * The id could not be copied back: the message may still
		 * have gone (or be pending); LASTSENT tells.
		 */
		err = ret < 0 ? errno : 0;
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
				owed_note(p, k, o, OWED_MAYBE);
			send_end(p, k);
			return -1;
		}
		if (err == EFAULT && id.serial_num) {
			/* sent, or (ALL_OR_WAIT) maybe pending */
			ret = 0;
			if (h.flags & KBUS_BIT_ALL_OR_WAIT) {
				ret = -1;
				err = EAGAIN;
				unsure = true;
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
			CNT(p, replies_sent);
			owed_note(p, k, o, OWED_OK);
			if (o->replies_ok > 0 && !o->maybe)
				fail(p, "a second reply to request %u was accepted",
				     o->id.serial_num);
		}
		send_end(p, k);
		return 0;
	}
	if (errno == EAGAIN && (h.flags & KBUS_BIT_ALL_OR_WAIT)) {
		k->pending = true;
		k->pend_req = was_request;
		k->pend_unsure = unsure;
		k->pend_id = id;
		k->last_sent = id;
		if (was_request)
			track_request(p, k, id, EXP_PENDING);
		if (kind == MK_REPLY)	/* resolved later: sent or dropped */
			owed_note(p, k, o, OWED_MAYBE);
		send_end(p, k);
		return EAGAIN;
	}
	/* any other error discards the message */
	err = errno;
	wreset(k);
	send_end(p, k);
	errno = err;
	switch (kind) {
	case MK_REPLY:
		if (errno == EADDRNOTAVAIL && !o->maybe) {
			/* the requester has gone: nothing owed any more */
			owed_note(p, k, o, OWED_GONE);
			break;
		}
		/* ENOMEM: a pointy message is charged at SEND, before any check */
		if (o->maybe || errno == ENOMEM)
			break;
		if (o->replies_ok && errno != ECONNREFUSED &&
		    errno != EADDRNOTAVAIL)
			fail(p, "a second reply to request %u: %s, not ECONNREFUSED",
			     o->id.serial_num, strerrorname_np(errno));
		if (!o->replies_ok && errno == ECONNREFUSED)
			fail(p, "the first reply to popped request %u refused",
			     o->id.serial_num);
		break;
	case MK_BOGUS_REPLY:
		if (errno != ECONNREFUSED && errno != EADDRNOTAVAIL &&
		    errno != EFAULT && errno != ENOMEM)
			fail(p, "a reply to a request never sent: %s",
			     strerrorname_np(errno));
		break;
	default:
		if (!errno_in(errno, (const int[]){ EADDRNOTAVAIL, EBUSY, ENOLCK,
				EPIPE, EMSGSIZE, ENOMEM, EFAULT, EAGAIN, 0 }))
			fail(p, "SEND: unexpected %s", strerrorname_np(errno));
		break;
	}
	return err;
}

/* Reply to one of the requests this Ksock popped (or again to one done). */
static void op_reply(struct proc *p, struct ksock *k)
{
	struct owed o;

	if (!owed_pick(p, k, &o))
		return;
	op_send_msg(p, k, MK_REPLY, &o);
	/* forget answered ones now and then (keeps the list short) */
	if (chance(&p->rng, 2))
		owed_note(p, k, &o, OWED_GC);
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

	if (!k->writable || k->pending || k->big)
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
			return;
		}
		if (ret != (long)n) {
			/* the header completes: the device maximum may be small */
			if (ret >= 0 || !errno_in(errno, (const int[]){ EMSGSIZE, ENOMEM, 0 }) ||
			    k->part_pos >= HDR_LEN || k->part_pos + n < HDR_LEN)
				fail(p, "the next part of a message: %ld %s", ret,
				     ret < 0 ? strerrorname_np(errno) : "");
			wreset(k);
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
		if (ret >= 0 || !errno_in(errno, (const int[]){ EMSGSIZE, ENOMEM, 0 }) ||
		    n < HDR_LEN)
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
}

static void op_discard(struct proc *p, struct ksock *k);

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
	} else {
		wreset(k);
	}
	if (chance(&p->rng, 2) && ret >= 0) {
		struct kbus_msg_id id;

		send_begin(p, k);
		ret = do_ioctl(k->fd, KBUS_IOC_SEND, &id);
		count_op(p, OP_SEND, ret);
		if (ret == 0 || (ret < 0 && errno == EAGAIN))
			fail(p, "SEND of a garbage message succeeded (case flags %#x)",
			     h.flags);
		send_end(p, k);
		wreset(k);
	}
}

/* SEND whatever is written: a retry if a send is pending. */
static void op_send_plain(struct proc *p, struct ksock *k)
{
	struct kbus_msg_id id = { 0 };
	bool was_pending = k->pending;
	bool was_big = k->big;
	long ret;

	send_begin(p, k);
	ret = do_ioctl(k->fd, KBUS_IOC_SEND, &id);
	count_op(p, OP_SEND, ret);
	if (ret < 0 && errno == EAGAIN) {
		if (!was_pending && !k->complete)
			fail(p, "SEND with nothing complete gave EAGAIN");
		if (!was_pending) {
			/* a message written earlier now pending */
			k->pending = true;
			k->pend_req = k->wmsg_request;
			k->pend_unsure = false;
			k->pend_id = id;
			if (k->wmsg_request)
				track_request(p, k, id, EXP_PENDING);
			if (k->wmsg_reply)
				owed_note(p, k, &k->wmsg_owed, OWED_MAYBE);
		}
		send_end(p, k);
		return;
	}
	if (ret == 0) {
		if (!k->complete && !was_pending)
			fail(p, "SEND with no complete message succeeded");
		if (was_pending) {
			pending_resolved(p, k, true);
		} else {
			if (k->wmsg_request)
				track_request(p, k, id, EXP_SURE);
			if (k->wmsg_reply) {
				CNT(p, replies_sent);
				owed_note(p, k, &k->wmsg_owed, OWED_OK);
			}
		}
		if (was_big)
			CNT(p, big_sent);
	} else if (was_pending) {
		/* the retry failed: the message is dropped, no status (8.4) */
		if (errno == ENOMSG && !k->pend_unsure)
			fail(p, "SEND of a pending message gave ENOMSG: the pending message vanished");
		pending_resolved(p, k, errno == ENOMSG);
	} else if (!k->complete && !k->writing && errno != ENOMSG) {
		fail(p, "SEND with nothing written: %s, not ENOMSG",
		     strerrorname_np(errno));
	} else if (!k->complete && k->writing && errno != EINVAL) {
		fail(p, "SEND of an incomplete message: %s, not EINVAL",
		     strerrorname_np(errno));
	}
	k->pending = false;
	wreset(k);
	send_end(p, k);
}

static void op_discard(struct proc *p, struct ksock *k)
{
	bool was_big = k->big;
	long ret;

	/* a send that is no longer pending has been sent: poll tells */
	if (k->pending)
		pending_poll(p, k, 0);
	ret = do_ioctl(k->fd, KBUS_IOC_DISCARD, NULL);
	count_op(p, OP_DISCARD, ret);
	if (ret)
		fail(p, "DISCARD: %s", strerrorname_np(errno));
	if (k->pending)
		pending_resolved(p, k, false);
	if (was_big)
		CNT(p, big_discarded);
	wreset(k);
}

/* ---- reading ---- */

/*
 * A message's header has been read on k: check it, note a request to
 * answer, account an answer, log the order (log: k's reads take turns).
 */
static void on_header(struct proc *p, struct ksock *k,
		      const struct kbus_message_header *h, bool log)
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
	if (h->in_reply_to.serial_num || h->in_reply_to.network_id) {
		/*
		 * An answer goes to the Ksock its `to` names; listeners of
		 * the name get copies, but nobody here listens to $.R.* or
		 * $.KBUS.*, and statuses only ever go to their requester.
		 */
		if (h->to != k->id && (h->flags & KBUS_BIT_SYNTHETIC))
			fail(p, "Ksock %u got a status (id %u) in reply to %u:%u addressed to Ksock %u: statuses go only to their requester",
			     k->id, h->id.serial_num, h->in_reply_to.network_id,
			     h->in_reply_to.serial_num, h->to);
		else if (h->to != k->id)
			fail(p, "Ksock %u got a reply (id %u from %u) in reply to %u:%u addressed to Ksock %u, and listens to no reply name",
			     k->id, h->id.serial_num, h->from,
			     h->in_reply_to.network_id,
			     h->in_reply_to.serial_num, h->to);
		else
			track_answer(p, k, h);
	}
	/* the order log: non-urgent, non-synthetic, local ids */
	if (log && p->slot && !(h->flags & (KBUS_BIT_URGENT | KBUS_BIT_SYNTHETIC)) &&
	    !h->id.network_id) {
		uint32_t i = ADD(p->slot->nlog, 1);

		if (i < LOG_CAP) {
			p->slot->log[i].ksock = ((uint32_t)k->dev << 24) | k->id;
			p->slot->log[i].serial = h->id.serial_num;
		}
	}
}

/*
 * What is wrong with the entire message m of len bytes (NULL: nothing):
 * lengths, header padding, name and data padding, the final guard.
 */
static const char *entire_problem(const uint8_t *m, uint32_t len, char *why,
				  size_t cap)
{
	struct kbus_message_header h;
	const char *name = (const char *)m + HDR_LEN;
	uint32_t pn, pd, i, guard;
	const uint8_t *data;

	memcpy(&h, m, HDR_LEN);
	if (h.start_guard != KBUS_MSG_START_GUARD || h.end_guard != KBUS_MSG_END_GUARD) {
		snprintf(why, cap, "header guards %#x %#x", h.start_guard, h.end_guard);
		return why;
	}
	if (!h.name_len || h.name_len > KBUS_MAX_NAME_LEN ||
	    KBUS_ENTIRE_MSG_LEN(h.name_len, (uint64_t)h.data_len) != len) {
		snprintf(why, cap, "message of %u bytes with name_len %u data_len %u",
			 len, h.name_len, h.data_len);
		return why;
	}
	if (h.name || h.data || h.extra) {
		snprintf(why, cap, "message %u: name %p data %p extra %#x (all must be 0)",
			 h.id.serial_num, (void *)h.name, (void *)h.data, h.extra);
		return why;
	}
	if (sizeof(void *) == 8) {
		uint32_t pad1, pad2;

		memcpy(&pad1, m + 60, 4);
		memcpy(&pad2, m + 84, 4);
		if (pad1 || pad2) {
			snprintf(why, cap, "message %u: header padding %#x %#x",
				 h.id.serial_num, pad1, pad2);
			return why;
		}
	}
	pn = KBUS_PADDED_NAME_LEN(h.name_len);
	pd = KBUS_PADDED_DATA_LEN(h.data_len);
	for (i = h.name_len; i < pn; i++) {
		if (name[i]) {
			snprintf(why, cap, "message %u: name padding byte %u is %#x",
				 h.id.serial_num, i, (uint8_t)name[i]);
			return why;
		}
	}
	if (memchr(name, 0, h.name_len)) {
		snprintf(why, cap, "message %u: NUL inside the name", h.id.serial_num);
		return why;
	}
	data = m + HDR_LEN + pn;
	for (i = h.data_len; i < pd; i++) {
		if (data[i]) {
			snprintf(why, cap, "message %u: data padding byte %u is %#x",
				 h.id.serial_num, i, data[i]);
			return why;
		}
	}
	memcpy(&guard, data + pd, 4);
	if (guard != KBUS_MSG_END_GUARD) {
		snprintf(why, cap, "message %u: final guard %#x", h.id.serial_num, guard);
		return why;
	}
	if ((h.in_reply_to.serial_num || h.in_reply_to.network_id) &&
	    (h.flags & KBUS_BIT_SYNTHETIC) && strncmp(name, "$.KBUS.", 7)) {
		snprintf(why, cap, "synthetic reply %u named %.*s", h.id.serial_num,
			 (int)(h.name_len < 60 ? h.name_len : 60), name);
		return why;
	}
	return NULL;
}

/* Check a message read whole (entire form). */
static void check_entire(struct proc *p, const uint8_t *m, uint32_t len)
{
	char why[200];

	CNT(p, msgs_read);
	if (entire_problem(m, len, why, sizeof(why)))
		fail(p, "%s", why);
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

static bool header_at(const uint8_t *m, uint32_t len)
{
	struct kbus_message_header h;

	memcpy(&h, m, HDR_LEN);
	return h.start_guard == KBUS_MSG_START_GUARD &&
	       h.end_guard == KBUS_MSG_END_GUARD && h.name_len &&
	       h.name_len <= KBUS_MAX_NAME_LEN &&
	       (!len || KBUS_ENTIRE_MSG_LEN(h.name_len, (uint64_t)h.data_len) == len);
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
	bool have_header = false;
	long ret;

	k->reading = false;
	if (chance(&p->rng, 12)) {
		uint32_t before = 0;

		/*
		 * EFAULT either before anything happened (the address is not
		 * a user one) or after the next message was popped: the
		 * current message (if any) is then the new one, unread.
		 * Here every current message has had its header read, so
		 * LENLEFT tells the two apart -- unless the new message is
		 * as long as what was left of the old one: then its first
		 * bytes tell (a header, or the middle of the old one).
		 */
		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &before))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		ret = do_ioctl(k->fd, KBUS_IOC_NEXTMSG, bad_ptr(p, 4));
		count_op(p, OP_NEXTMSG, ret);
		EXPECT_ERR(p, "NEXTMSG with a bad pointer", ret, EFAULT);
		if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &len))
			fail(p, "LENLEFT: %s", strerrorname_np(errno));
		if (!len)
			return;
		if (before && len == before) {
			if (len < HDR_LEN + 8 || len > p->rbuf_len)
				return;
			memset(p->rbuf, 0xaa, len + 8);
			ret = read(k->fd, p->rbuf, HDR_LEN);
			count_op(p, OP_READ, ret);
			if (ret != (long)HDR_LEN || !header_at(p->rbuf, len))
				return;
			have_header = true;
		}
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
	if (!have_header) {
		memset(p->rbuf, 0xaa, len + 8);
		if (!read_bytes(p, k, p->rbuf, HDR_LEN, pieces))
			return;
	}
	on_header(p, k, (const struct kbus_message_header *)p->rbuf, true);
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
	/* an unprivileged MAXMSGSIZE change (not a query) may be refused */
	if (ret < 0 && !(cmd == KBUS_IOC_MAXMSGSIZE && errno == EINVAL) &&
	    !(cmd == KBUS_IOC_MAXMSGSIZE && errno == EPERM && !is_root))
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
	else if (ret < 0 && cmd != KBUS_IOC_MSGONLYONCE && errno == EPERM &&
		 !is_root && val <= 1)
		;	/* unprivileged changes of device-wide switches */
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

static void op_newdevice(struct proc *p, struct ksock *k)
{
	uint32_t idx = 0;
	long ret;

	/* a second device now and then (at most kbus0..kbus3) */
	if (num_devices() >= 4)
		return;
	ret = ioc_u32(k->fd, KBUS_IOC_NEWDEVICE, &idx);
	count_op(p, OP_NEWDEVICE, ret);
	if (ret < 0 && errno != ENOMEM && errno != EINVAL &&
	    !(errno == EPERM && !is_root))
		fail(p, "NEWDEVICE: %s", strerrorname_np(errno));
}

/*
 * Poll the open Ksocks.  Asking POLLOUT retries a pending send, so a
 * Ksock with one always asks, and its resolution is noted; while threads
 * run, a tracked Ksock is polled only in its writer's turn.
 */
static void op_poll(struct proc *p)
{
	struct pollfd pfd[MAX_KS];
	struct ksock *ks[MAX_KS];
	int n = 0, i, ret;

	for (i = 0; i < MAX_KS; i++) {
		struct ksock *k = &p->ks[i];

		if (mt(p)) {
			if (pthread_rwlock_tryrdlock(&k->life))
				continue;
			if (k->fd < 0 || (!k->wild && pthread_mutex_trylock(&k->wlock))) {
				pthread_rwlock_unlock(&k->life);
				continue;
			}
		} else if (k->fd < 0) {
			continue;
		}
		ks[n] = k;
		pfd[n].fd = k->fd;
		pfd[n].events = POLLIN;
		if ((k->pending && !k->wild) || chance(&p->rng, 2))
			pfd[n].events |= POLLOUT;
		n++;
	}
	if (!n)
		return;
	ret = poll(pfd, (nfds_t)n, chance(&p->rng, 10) ? 2 : 0);
	count_op(p, OP_POLL, ret);
	if (ret < 0 && errno != EINTR)
		fail(p, "poll: %s", strerrorname_np(errno));
	for (i = 0; i < n; i++) {
		struct ksock *k = ks[i];

		if (ret > 0) {
			if (pfd[i].revents & (POLLERR | POLLNVAL))
				fail(p, "poll: revents %#x", pfd[i].revents);
			/* writable: a pending send has been resolved */
			if ((pfd[i].revents & POLLOUT) && k->pending && !k->wild)
				pending_resolved(p, k, true);
			if ((pfd[i].revents & POLLOUT) && !k->writable)
				fail(p, "poll: a read-only Ksock is writable");
		}
		if (mt(p)) {
			if (!k->wild)
				pthread_mutex_unlock(&k->wlock);
			pthread_rwlock_unlock(&k->life);
		}
	}
}

/* ---- --churn: big messages held, half-done reads, full listeners ---- */

/* Write the header of a big entire message and hold it (charged whole). */
static void big_start(struct proc *p, struct ksock *k)
{
	struct kbus_message_header h = { 0 };
	long ret;

	if (!k->writable || k->pending || k->writing || k->complete)
		return;
	h.start_guard = KBUS_MSG_START_GUARD;
	h.end_guard = KBUS_MSG_END_GUARD;
	h.name_len = valid_name(p, k->big_name, false);
	h.data_len = CHURN_MIN + below(&p->rng, CHURN_MAX - CHURN_MIN + 1);
	switch (below(&p->rng, 4)) {
	case 0:
		h.flags = KBUS_BIT_ALL_OR_WAIT;
		break;
	case 1:
		h.flags = KBUS_BIT_ALL_OR_FAIL;
		break;
	case 2:
		h.flags = KBUS_BIT_URGENT;
		break;
	default:
		break;
	}
	ret = write(k->fd, &h, HDR_LEN);
	count_op(p, OP_BIG_HDR, ret);
	if (ret != (long)HDR_LEN) {
		/* ENOMEM: the byte budget (the device's, or the user's share) */
		if (ret >= 0 || !errno_in(errno, (const int[]){ EMSGSIZE, ENOMEM, 0 }))
			fail(p, "the header of a big message: %ld %s", ret,
			     ret < 0 ? strerrorname_np(errno) : "");
		wreset(k);
		return;
	}
	k->writing = true;
	k->big = true;
	k->big_h = h;
	k->big_pos = HDR_LEN;
	k->big_len = (uint32_t)KBUS_ENTIRE_MSG_LEN(h.name_len, h.data_len);
	CNT(p, big_held);
}

/* A held big message: DISCARD it, or write the rest and SEND it. */
static void big_end(struct proc *p, struct ksock *k)
{
	uint32_t len, n;
	long ret;

	if (!k->big || k->pending)
		return;
	if (chance(&p->rng, 2)) {
		op_discard(p, k);
		return;
	}
	len = (uint32_t)build_entire(p->buf, &k->big_h, k->big_name, NULL);
	while (k->big_pos < len) {
		n = len - k->big_pos;
		if (chance(&p->rng, 2))
			n = 1 + below(&p->rng, n);
		ret = write(k->fd, p->buf + k->big_pos, n);
		count_op(p, OP_BIG_END, ret);
		if (ret != (long)n) {
			fail(p, "the rest of a big message (%u of %u written): %ld %s",
			     k->big_pos, len, ret, ret < 0 ? strerrorname_np(errno) : "");
			wreset(k);
			return;
		}
		k->big_pos += n;
	}
	k->complete = true;
	op_send_plain(p, k);
}

/* NEXTMSG, the header and a few bytes more; the rest later (or never). */
static void half_read(struct proc *p, struct ksock *k)
{
	long ret;

	op_recv(p, k, false, true);
	if (!k->reading)
		return;
	ret = read(k->fd, p->rbuf, 1 + below(&p->rng, 64));
	count_op(p, OP_READ, ret);
	if (ret < 0)
		fail(p, "read: %s", strerrorname_np(errno));
}

/* Finish the current message (its bytes are charged until then). */
static void finish_read(struct proc *p, struct ksock *k)
{
	uint32_t left = 0;
	long ret;

	if (ioc_u32(k->fd, KBUS_IOC_LENLEFT, &left))
		fail(p, "LENLEFT: %s", strerrorname_np(errno));
	if (!left || left > p->rbuf_len)
		return;
	ret = read(k->fd, p->rbuf, left);
	count_op(p, OP_READ, ret);
	if (ret != (long)left)
		fail(p, "read of the %u bytes left: %ld %s", left, ret,
		     ret < 0 ? strerrorname_np(errno) : "");
	k->reading = false;
}

static void churn_maxmsgs(struct proc *p, struct ksock *k)
{
	static const uint32_t v[] = { 1, 2, 3, 1000, 0xffffffff };
	uint32_t val = v[below(&p->rng, 5)];
	long ret = ioc_u32(k->fd, KBUS_IOC_MAXMSGS, &val);

	count_op(p, OP_IOC_U32, ret);
	if (ret < 0)
		fail(p, "MAXMSGS: %s", strerrorname_np(errno));
}

/* ---- one random op ---- */

static void run_ops(struct proc *p, uint32_t nops, double deadline);

static void op_kid(struct proc *p)
{
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
		/* the child's own copy of *p, with a worker of its own */
		struct worker *kw = malloc(sizeof(*kw));

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (i = 0; i < MAX_KS; i++)
			if (p->ks[i].fd >= 0)
				close(p->ks[i].fd);
		if (!kw)
			_exit(3);
		worker_init(kw, 1);
		kw->widx = -1;
		kw->seed = p->seed;
		kw->round = p->round;
		p->w = kw;
		p->ks = kw->ks;
		p->slot = NULL;
		p->widx = -1;
		p->rng.s = kid_seed;
		run_ops(p, kid_ops, now() + 5);
		_exit(0);
	}
	count_op(p, OP_KID, 0);
	CNT(p, kids);
	usleep(delay_us);
	if (kill(pid, SIGKILL) == 0)
		CNT(p, kids_killed);
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status))
		fail(p, "a child (seed %#" PRIx64 ") found a breach; rerun to see it",
		     kid_seed);
}

/* ---- threads mode: wild Ksocks (every thread does anything at once) ---- */

static void wild_send(struct proc *p, struct ksock *k)
{
	struct kbus_msg_id id = { 0 };
	long ret;

	send_begin(p, k);
	ret = do_ioctl(k->fd, KBUS_IOC_SEND, &id);
	count_op(p, OP_SEND, ret);
	if (ret == 0 || errno == EAGAIN)
		track_request(p, k, id, EXP_WILD);
	else if (!errno_in(errno, (const int[]){ ENOMSG, EINVAL, EADDRNOTAVAIL,
			EBUSY, ENOLCK, EPIPE, EMSGSIZE, ENOMEM, EFAULT,
			ECONNREFUSED, EBADMSG, ENAMETOOLONG, 0 }))
		fail(p, "SEND on a wild Ksock: unexpected %s", strerrorname_np(errno));
	send_end(p, k);
}

/* A message (announcement, request or a reply) written in one write, or part of one. */
static void wild_write(struct proc *p, struct ksock *k, bool whole)
{
	struct kbus_message_header h;
	struct owed o = { 0 };
	enum msg_kind kind = MK_ANNOUNCE;
	char name[64];
	uint8_t *wbuf;
	size_t len;
	long ret;

	if (!k->writable)
		return;
	if (chance(&p->rng, 3))
		kind = MK_REQUEST;
	else if (chance(&p->rng, 4) && owed_pick(p, k, &o))
		kind = MK_REPLY;
	random_message(p, kind, &o, k->id, &h, name);
	if (chance(&p->rng, 3)) {
		char *nm = (char *)tail_buf(p, h.name_len + 1 + h.data_len);

		memcpy(nm, name, h.name_len);
		nm[h.name_len] = 0;
		h.name = nm;
		h.data = h.data_len ? nm + h.name_len + 1 : NULL;
		wbuf = (uint8_t *)&h;
		len = HDR_LEN;
	} else {
		wbuf = p->buf;
		len = build_entire(wbuf, &h, name, p->data);
	}
	if (!whole)
		len = 1 + below(&p->rng, (uint32_t)len);
	ret = write(k->fd, wbuf, len);
	count_op(p, OP_WILD_WRITE, ret);
	if (ret < 0 && !errno_in(errno, (const int[]){ EALREADY, EMSGSIZE, EINVAL,
			ENAMETOOLONG, EBADMSG, EFAULT, ENOMEM, 0 }))
		fail(p, "write on a wild Ksock: unexpected %s", strerrorname_np(errno));
	else if (ret >= 0 && (size_t)ret != len)
		fail(p, "write of %zu on a wild Ksock returned %ld", len, ret);
	if (ret >= 0 && whole && chance(&p->rng, 2))
		wild_send(p, k);
}

/*
 * One read of up to a whole message.  It starts at a message start if and
 * only if the bytes start with a header: then it must be the whole message
 * (one read is atomic), well formed, and it is accounted.
 */
static void wild_read(struct proc *p, struct ksock *k)
{
	long ret = read(k->fd, p->rbuf, p->rbuf_len);

	count_op(p, OP_WILD_READ, ret);
	if (ret < 0) {
		fail(p, "read on a wild Ksock: %s", strerrorname_np(errno));
		return;
	}
	if (ret >= (long)HDR_LEN && header_at(p->rbuf, 0)) {
		const struct kbus_message_header *h = (const void *)p->rbuf;
		uint64_t total = KBUS_ENTIRE_MSG_LEN(h->name_len, (uint64_t)h->data_len);

		if ((uint64_t)ret != total) {
			fail(p, "a read from the start of message %u returned %ld of its %" PRIu64 " bytes",
			     h->id.serial_num, ret, total);
			return;
		}
		CNT(p, whole_reads);
		check_entire(p, p->rbuf, (uint32_t)ret);
		on_header(p, k, h, false);
	} else if (ret > 0) {
		CNT(p, torn_reads);
	}
}

static void wild_reply(struct proc *p, struct ksock *k)
{
	struct kbus_message_header h;
	struct kbus_msg_id id;
	struct owed o;
	char name[64];
	size_t len;
	long ret;

	if (!k->writable || !owed_pick(p, k, &o))
		return;
	random_message(p, MK_REPLY, &o, k->id, &h, name);
	h.flags &= ~(uint32_t)KBUS_BIT_ALL_OR_WAIT;
	len = build_entire(p->buf, &h, name, p->data);
	ret = write(k->fd, p->buf, len);
	count_op(p, OP_WILD_WRITE, ret);
	if (ret < 0)
		return;
	send_begin(p, k);
	ret = do_ioctl(k->fd, KBUS_IOC_SEND, &id);
	count_op(p, OP_REPLY, ret);
	if (ret == 0) {
		CNT(p, replies_sent);
		track_request(p, k, id, EXP_WILD);
	}
	if (ret == 0 || errno == ECONNREFUSED || errno == EADDRNOTAVAIL)
		owed_note(p, k, &o, OWED_GONE);
	send_end(p, k);
}

static void wild_op(struct proc *p, struct ksock *k)
{
	uint32_t len = 0, n;
	long ret;

	switch (below(&p->rng, 20)) {
	case 0: case 1: case 2:
		wild_write(p, k, true);
		break;
	case 3:
		wild_write(p, k, false);
		break;
	case 4: case 5:
		wild_send(p, k);
		break;
	case 6:
		ret = do_ioctl(k->fd, KBUS_IOC_DISCARD, NULL);
		count_op(p, OP_DISCARD, ret);
		if (ret)
			fail(p, "DISCARD: %s", strerrorname_np(errno));
		break;
	case 7: case 8:
		if (chance(&p->rng, 6)) {
			ret = do_ioctl(k->fd, KBUS_IOC_NEXTMSG, bad_ptr(p, 4));
			count_op(p, OP_NEXTMSG, ret);
			EXPECT_ERR(p, "NEXTMSG with a bad pointer", ret, EFAULT);
			break;
		}
		ret = ioc_u32(k->fd, KBUS_IOC_NEXTMSG, &len);
		count_op(p, OP_NEXTMSG, ret);
		if (ret < 0 && errno != ENOMEM)
			fail(p, "NEXTMSG: %s", strerrorname_np(errno));
		break;
	case 9: case 10: case 11:
		wild_read(p, k);
		break;
	case 12:
		n = 1 + below(&p->rng, 200);
		if (chance(&p->rng, 3)) {
			ret = read(k->fd, bad_ptr(p, n), n);
			count_op(p, OP_READ, ret);
			if (ret < 0 && errno != EFAULT)
				fail(p, "read into a bad buffer: %s", strerrorname_np(errno));
		} else {
			ret = read(k->fd, p->rbuf, n);
			count_op(p, OP_READ, ret);
			if (ret < 0)
				fail(p, "read: %s", strerrorname_np(errno));
		}
		break;
	case 13:
		op_ioc_u32(p, k);
		break;
	case 14:
		switch (below(&p->rng, 3)) {
		case 0:
			op_ioc_switch(p, k);
			break;
		case 1:
			op_lastsent(p, k);
			break;
		default:
			op_ioc_bad(p, k);
			break;
		}
		break;
	case 15:
		op_bind(p, k, !chance(&p->rng, 3));
		break;
	case 16:
		wild_reply(p, k);
		break;
	case 17: {
		struct pollfd pfd = { .fd = k->fd, .events = POLLIN | POLLOUT };

		ret = poll(&pfd, 1, chance(&p->rng, 10) ? 2 : 0);
		count_op(p, OP_POLL, ret);
		if (ret < 0 && errno != EINTR)
			fail(p, "poll: %s", strerrorname_np(errno));
		if (ret > 0 && (pfd.revents & (POLLERR | POLLNVAL)))
			fail(p, "poll: revents %#x", pfd.revents);
		break;
	}
	default:
		ret = ioc_u32(k->fd, KBUS_IOC_NEXTMSG, &len);
		count_op(p, OP_RECV, ret);
		if (ret < 0 && errno != ENOMEM)
			fail(p, "NEXTMSG: %s", strerrorname_np(errno));
		if (ret > 0)
			wild_read(p, k);
		break;
	}
}

/* ---- the op dispatcher ---- */

/* An open Ksock at random (its life lock shared while threads run). */
static struct ksock *pick(struct proc *p)
{
	uint32_t start = below(&p->rng, MAX_KS), i;

	for (i = 0; i < MAX_KS; i++) {
		struct ksock *k = &p->ks[(start + i) % MAX_KS];

		if (mt(p) && pthread_rwlock_tryrdlock(&k->life))
			continue;
		if (k->fd >= 0)
			return k;
		if (mt(p))
			pthread_rwlock_unlock(&k->life);
	}
	return NULL;
}

static void unpick(struct proc *p, struct ksock *k)
{
	if (mt(p))
		pthread_rwlock_unlock(&k->life);
}

/* Open a Ksock into a free slot; false if there is none. */
static bool open_free(struct proc *p)
{
	int i;

	for (i = 0; i < MAX_KS; i++) {
		struct ksock *k = &p->ks[i];
		bool done = false;

		if (mt(p) && pthread_rwlock_trywrlock(&k->life))
			continue;
		if (k->fd < 0) {
			ks_open(p, k);
			done = true;
		}
		if (mt(p))
			pthread_rwlock_unlock(&k->life);
		if (done)
			return true;
	}
	return false;
}

/* Close slot k if it still holds Ksock id (other threads may have changed it). */
static void close_slot(struct proc *p, struct ksock *k, uint32_t id)
{
	if (mt(p))
		pthread_rwlock_wrlock(&k->life);
	if (k->fd >= 0 && k->id == id)
		ks_want_close(p, k);
	if (mt(p))
		pthread_rwlock_unlock(&k->life);
}

#define WTURN(p, k, call)						\
	do {								\
		wturn(p, k, true);					\
		call;							\
		wturn(p, k, false);					\
	} while (0)

#define RTURN(p, k, call)						\
	do {								\
		rturn(p, k, true);					\
		call;							\
		rturn(p, k, false);					\
	} while (0)

static void churn_op(struct proc *p, struct ksock *k, bool requests_ok)
{
	switch (below(&p->rng, 7)) {
	case 0:
		WTURN(p, k, big_start(p, k));
		break;
	case 1:
		WTURN(p, k, big_end(p, k));
		break;
	case 2:
		p->force_big = true;
		WTURN(p, k, op_send_msg(p, k, requests_ok && chance(&p->rng, 3) ?
					MK_REQUEST : MK_ANNOUNCE, NULL));
		p->force_big = false;
		break;
	case 3:
		RTURN(p, k, half_read(p, k));
		break;
	case 4:
		RTURN(p, k, finish_read(p, k));
		break;
	case 5:
		churn_maxmsgs(p, k);
		break;
	default:
		RTURN(p, k, op_recv(p, k, false, false));
		break;
	}
}

/* One op on the tracked Ksock k; true: close it. */
static bool tracked_op(struct proc *p, struct ksock *k, uint32_t r)
{
	bool requests_ok = !p->w->settling && !k->close_wanted;

	/* it wanted to close and its answers are all in: close now */
	if (k->close_wanted && !track_unanswered_by(p, k))
		return true;
	if (r < 25)
		return true;
	if (opt_churn && chance(&p->rng, 4)) {
		churn_op(p, k, requests_ok);
		return false;
	}
	if (r < 110)
		op_bind(p, k, true);
	else if (r < 150)
		op_bind(p, k, false);
	else if (r < 165)
		op_replier(p, k);
	else if (r < 260)
		WTURN(p, k, op_send_msg(p, k, MK_ANNOUNCE, NULL));
	else if (r < 350 && requests_ok)
		WTURN(p, k, op_send_msg(p, k, chance(&p->rng, 8) ? MK_STATEFUL :
					MK_REQUEST, NULL));
	else if (r < 420)
		WTURN(p, k, op_reply(p, k));
	else if (r < 430)
		WTURN(p, k, op_send_msg(p, k, MK_BOGUS_REPLY, NULL));
	else if (r < 460)
		WTURN(p, k, op_write_part(p, k));
	else if (r < 500)
		WTURN(p, k, op_write_garbage(p, k));
	else if (r < 520)
		WTURN(p, k, op_send_plain(p, k));
	else if (r < 540)
		WTURN(p, k, op_discard(p, k));
	else if (r < 570)
		RTURN(p, k, op_recv(p, k, chance(&p->rng, 3), true));
	else if (r < 620)
		RTURN(p, k, op_read(p, k));
	else if (r < 790)
		RTURN(p, k, op_recv(p, k, chance(&p->rng, 3), false));
	else if (r < 850)
		op_ioc_u32(p, k);
	else if (r < 880)
		op_ioc_switch(p, k);
	else if (r < 900)
		op_ioc_bad(p, k);
	else
		op_lastsent(p, k);
	return false;
}

static void one_op(struct proc *p)
{
	uint32_t r = below(&p->rng, 1000), id;
	bool close = false;
	struct ksock *k;

	if (r < 15) {
		if (open_free(p))
			return;
		r = 25;		/* every slot is taken */
	}
	if (r >= 920 && r < 990) {
		op_poll(p);
		return;
	}
	if (r >= 990 && r < 999) {
		if (p->widx >= 0)
			op_kid(p);
		return;
	}
	k = pick(p);
	if (!k) {
		open_free(p);
		return;
	}
	id = k->id;
	if (r >= 999) {
		if (p->widx >= 0)
			op_newdevice(p, k);
	} else if (k->wild) {
		if (r < 25)
			close = true;
		else
			wild_op(p, k);
	} else {
		close = tracked_op(p, k, r);
	}
	unpick(p, k);
	if (close)
		close_slot(p, k, id);
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

/* ---- the end of a worker's round: answer, drain, check (one thread) ---- */

static void drain(struct proc *p, struct ksock *k)
{
	int guard;

	for (guard = 0; guard < 100000; guard++) {
		uint64_t before = counters(p)->msgs_read;

		op_recv(p, k, false, false);
		if (counters(p)->msgs_read == before)
			break;
	}
}

/*
 * Reply to every request k popped and has not answered; those whose reply
 * fails for want of room (or size) stay owed and are tried again.
 * Returns how many are still owed.
 */
static uint32_t answer_owed(struct proc *p, struct ksock *k)
{
	struct owed *copy;
	uint32_t n = k->nowed, i, left = 0;
	int r;

	if (!n || !k->writable)
		return n;
	copy = malloc(n * sizeof(*copy));
	if (!copy) {
		perror("kbus-fuzz: malloc");
		_exit(3);
	}
	memcpy(copy, k->owed, n * sizeof(*copy));
	for (i = 0; i < n && !k->pending; i++) {
		if (copy[i].replies_ok) {
			owed_note(p, k, &copy[i], OWED_GC);
			continue;
		}
		/* on a wild Ksock any thread's SEND may have sent a reply */
		if (k->wild)
			copy[i].maybe = true;
		r = op_send_msg(p, k, MK_REPLY, &copy[i]);
		if (r == 0 || r == EADDRNOTAVAIL ||
		    (r == ECONNREFUSED && copy[i].maybe)) {
			/* answered now, or before by a pending reply */
			copy[i].replies_ok = 1;
			owed_note(p, k, &copy[i], OWED_GONE);
			continue;
		}
		if (r == EMSGSIZE) {
			uint32_t v = 409600;	/* undo a small maximum */

			ioc_u32(k->fd, KBUS_IOC_MAXMSGSIZE, &v);
		}
		if (!k->pending && (k->writing || k->complete))
			op_discard(p, k);
		left++;
	}
	free(copy);
	return left + (n - i);
}

static void settle_ksock(struct proc *p, struct ksock *k, double since)
{
	uint32_t n = 0, left;
	long ret;

	if (k->wild) {
		/*
		 * Nothing is known of what its threads left written: drop
		 * it, drain, answer what it knows of, close (the rest of
		 * what it owes gets $.KBUS.Replier.Ignored).
		 */
		ret = do_ioctl(k->fd, KBUS_IOC_DISCARD, NULL);
		count_op(p, OP_DISCARD, ret);
		drain(p, k);
		answer_owed(p, k);
		ks_close(p, k);
		return;
	}
	/*
	 * A pending send resolves by itself once there is room, and poll
	 * tells; one still pending after 5 s is DISCARDed (unsent: nothing
	 * owed for it) -- it may wait for room only this Ksock's replies
	 * would make.
	 */
	if (k->pending && !pending_poll(p, k, 0) && now() - since > 5)
		op_discard(p, k);
	else if (!k->pending && (k->writing || k->complete))
		op_discard(p, k);
	drain(p, k);
	/* a read-only Ksock cannot reply: only its close answers (Ignored) */
	left = k->writable ? answer_owed(p, k) : 0;
	if (k->close_wanted && !track_unanswered_by(p, k)) {
		ks_close(p, k);
		return;
	}
	/*
	 * Requests it owes but cannot answer (read-only) or does not know of
	 * (their header was never read): close it, which answers them
	 * ($.KBUS.Replier.Ignored) -- once its own requests are answered.
	 */
	if (!left && !k->pending && ioc_u32(k->fd, KBUS_IOC_UNREPLIEDTO, &n) == 0 &&
	    n && !track_unanswered_by(p, k))
		ks_close(p, k);
}

struct thread_arg {
	struct proc *p;
	uint32_t nops;
	double deadline;
	pthread_t tid;
};

static void *thread_main(void *arg)
{
	struct thread_arg *a = arg;

	run_ops(a->p, a->nops, a->deadline);
	return NULL;
}

static struct proc *proc_new(struct worker *w, int tidx)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p) {
		perror("kbus-fuzz: calloc");
		_exit(3);
	}
	p->w = w;
	p->ks = w->ks;
	p->slot = w->slot;
	p->widx = w->widx;
	p->tidx = tidx;
	p->seed = w->seed;
	p->round = w->round;
	p->rng.s = mix64(w->seed ^ mix64((uint64_t)w->round * 131 + (uint64_t)w->widx + 1));
	if (tidx)
		p->rng.s ^= mix64(0x7417 + (uint64_t)tidx);
	p->buf_len = 512 * 1024;
	p->buf = mmap(NULL, p->buf_len + 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->rbuf_len = 512 * 1024;
	p->rbuf = malloc(p->rbuf_len + 16);
	if (p->buf == MAP_FAILED || !p->rbuf) {
		perror("kbus-fuzz: buffers");
		_exit(3);
	}
	p->noaccess = p->buf + p->buf_len;
	mprotect(p->noaccess, 4096, PROT_NONE);
	return p;
}

static int worker(uint64_t seed, long round, int widx, uint32_t nops,
		  double deadline)
{
	struct thread_arg targ[MAX_THREADS];
	struct worker *w = malloc(sizeof(*w));
	double settle_end, since;
	struct proc *p;
	int i, t, nt = opt_threads;

	if (!w) {
		perror("kbus-fuzz: malloc");
		return 3;
	}
	worker_init(w, nt);
	w->slot = &shm->slot[widx];
	w->widx = widx;
	w->seed = seed;
	w->round = round;
	for (t = 0; t < nt; t++) {
		targ[t].p = proc_new(w, t);
		targ[t].nops = (nops + (uint32_t)nt - 1) / (uint32_t)nt;
		targ[t].deadline = deadline;
	}
	p = targ[0].p;
	if (nt == 1) {
		run_ops(p, nops, deadline);
	} else {
		w->mt = true;
		for (t = 1; t < nt; t++)
			if (pthread_create(&targ[t].tid, NULL, thread_main, &targ[t]))
				targ[t].p = NULL;
		run_ops(p, targ[0].nops, deadline);
		for (t = 1; t < nt; t++)
			if (targ[t].p)
				pthread_join(targ[t].tid, NULL);
		w->mt = false;
	}

	/*
	 * settle: no new requests; serve others until everyone is answered.
	 * A requester whose MAXMSGS went below its outstanding requests
	 * refuses their replies (spec 8.2: a reply only takes one reserved
	 * slot): raise it again.
	 */
	w->settling = true;
	for (i = 0; i < MAX_KS; i++) {
		uint32_t v = 0;

		if (p->ks[i].fd >= 0 && !ioc_u32(p->ks[i].fd, KBUS_IOC_MAXMSGS, &v) &&
		    v < 1000) {
			v = 1000;
			ioc_u32(p->ks[i].fd, KBUS_IOC_MAXMSGS, &v);
		}
	}
	since = now();
	settle_end = since + SETTLE_SECONDS;
	while (!shm->phase) {
		for (i = 0; i < MAX_KS; i++)
			if (p->ks[i].fd >= 0)
				settle_ksock(p, &p->ks[i], since);
		if (!w->slot->satisfied && !track_unanswered(p, false))
			w->slot->satisfied = 1;
		if (now() > settle_end) {
			track_unanswered(p, true);
			w->slot->satisfied = 1;
			settle_end = now() + 3600;
		}
		usleep(1000);
	}
	/* finish: one last drain (late answers would be duplicates), close */
	for (i = 0; i < MAX_KS; i++)
		if (p->ks[i].fd >= 0)
			settle_ksock(p, &p->ks[i], since);
	for (i = 0; i < MAX_KS; i++)
		if (p->ks[i].fd >= 0)
			ks_close(p, &p->ks[i]);
	w->slot->finished = 1;
	return w->slot->failed ? 1 : 0;
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

static uint64_t order_pairs_common;	/* pairs with >= 2 messages in common */
static uint64_t order_common_msgs;	/* messages in common, over those pairs */

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

	for (w = 0; w < (uint32_t)nprocs; w++) {
		if (shm->slot[w].nlog > LOG_CAP)
			shm->slot[w].nlog = LOG_CAP;
		total += shm->slot[w].nlog;
	}
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
			uint32_t last_serial = 0, common = 0;

			if (a == b || (all[start[a]].r.ksock >> 24) != dev_b)
				continue;
			for (i = start[a]; i < start[a + 1]; i++) {
				int32_t q = pos[all[i].r.serial];

				if (q < 0 || q == last)
					continue;
				common++;
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
			if (a < b && common >= 2) {
				order_pairs_common++;
				order_common_msgs += common;
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
	static __thread char buf[1 << 16];
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
	"wait_for_completion", "bit_spin_", "rht_lock", "rht_unlock",
	"rht_assign_unlock", NULL,
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
			if (is_sync_function(f, flen)) {
				/* the lock's own access (even out of line in kbus.ko):
				 * the rest is the lock's caller */
				depth = KCSAN_DEPTH;
			} else {
				if (depth < KCSAN_DEPTH && memmem(p, len, "[kbus]", 6))
					kbus = 1;
				depth++;
			}
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

/* ---- module parameters (root; restored at exit) ---- */

static const char *const param_names[] = {
	"kbus_max_device_bytes", "kbus_max_ksock_bytes",
};
static unsigned long param_old[2];
static bool param_saved[2];
static pid_t main_pid;

static int param_index(const char *name)
{
	int i;

	for (i = 0; i < 2; i++)
		if (!strcmp(name, param_names[i]))
			return i;
	return -1;
}

static int param_read(const char *name, unsigned long *v)
{
	char path[128], *s;

	snprintf(path, sizeof(path), "/sys/module/kbus/parameters/%s", name);
	s = read_file(path);
	if (!s)
		return -errno;
	*v = strtoul(s, NULL, 10);
	return 0;
}

static int param_write(const char *name, unsigned long v)
{
	int i = param_index(name);
	char path[128];
	FILE *f;

	if (i >= 0 && !param_saved[i]) {
		if (param_read(name, &param_old[i]))
			return -errno;
		param_saved[i] = true;
	}
	snprintf(path, sizeof(path), "/sys/module/kbus/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%lu\n", v);
	if (fclose(f))
		return -errno;
	return 0;
}

static void params_restore(void)
{
	int i;

	if (getpid() != main_pid)
		return;
	for (i = 0; i < 2; i++) {
		if (param_saved[i] && !access("/sys/module/kbus", F_OK)) {
			param_saved[i] = false;
			param_write(param_names[i], param_old[i]);
			param_saved[i] = false;
		}
	}
}

/* The kernel's own unreclaimable slab and the memory available, in kB. */
static void meminfo(long *sunreclaim, long *available)
{
	char *s = read_file("/proc/meminfo"), *at;

	*sunreclaim = *available = -1;
	if (!s)
		return;
	at = strstr(s, "SUnreclaim:");
	if (at)
		*sunreclaim = strtol(at + 11, NULL, 10);
	at = strstr(s, "MemAvailable:");
	if (at)
		*available = strtol(at + 13, NULL, 10);
}

/* The last bytes of the kernel log now: what comes after is this run's. */
static void klog_marker(char *marker, size_t cap)
{
	char *log = klog_read();

	marker[0] = 0;
	if (log) {
		size_t n = strlen(log);

		snprintf(marker, cap, "%s", log + (n > 120 ? n - 120 : 0));
		free(log);
	}
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
	sum->pend_requests += s->pend_requests;
	sum->pend_sent += s->pend_sent;
	sum->pend_dropped += s->pend_dropped;
	sum->replies_sent += s->replies_sent;
	sum->answers += s->answers;
	sum->statuses += s->statuses;
	sum->forfeited += s->forfeited;
	sum->closes_deferred += s->closes_deferred;
	sum->wild_sends += s->wild_sends;
	sum->wild_answers += s->wild_answers;
	sum->whole_reads += s->whole_reads;
	sum->torn_reads += s->torn_reads;
	sum->big_held += s->big_held;
	sum->big_discarded += s->big_discarded;
	sum->big_sent += s->big_sent;
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

/*
 * Minimum activity per 1000 operations (docs/fuzzing.md): about a
 * third of the lowest rate measured over 8 to 33 seeds of 20000 operations
 * with the default mix (4 workers, 1500 ops per round), in each mode
 * (lowest seen: plain 6.6 answered requests, 121 messages read, 7.2 Ksock
 * pairs compared; --threads 3: 4.0, 85, 2.7; --churn with a 256 KB
 * budget: 5.6, 53, 3.6; both: 3.0, 38, 1.0), so that an unlucky seed
 * passes but a module that refuses sends, drops messages or never answers
 * does not.  Below MIN_ACTIVITY_OPS operations the figures are too noisy:
 * printed, not enforced.
 */
struct activity_rates {
	double answers, reads, pairs;
};

static const struct activity_rates rates_plain = { 2.0, 40.0, 2.0 };
static const struct activity_rates rates_threads = { 1.2, 25.0, 0.8 };
static const struct activity_rates rates_churn = { 1.8, 17.0, 1.1 };
static const struct activity_rates rates_churn_threads = { 1.0, 12.0, 0.3 };
#define MIN_ACTIVITY_OPS	4000

/* Checks the minimum activity and prints it; returns the failures. */
static int activity_check(const struct slot *sum, uint64_t ops, uint64_t seed)
{
	const struct activity_rates *r = opt_threads > 1 ?
		(opt_churn ? &rates_churn_threads : &rates_threads) :
		(opt_churn ? &rates_churn : &rates_plain);
	uint64_t min_ans = (uint64_t)(r->answers * (double)ops / 1000);
	uint64_t min_reads = (uint64_t)(r->reads * (double)ops / 1000);
	uint64_t min_pairs = (uint64_t)(r->pairs * (double)ops / 1000);
	bool enforce = ops >= MIN_ACTIVITY_OPS && !opt_no_min;
	bool low = sum->answers < min_ans || sum->msgs_read < min_reads ||
		   order_pairs_common < min_pairs;

	printf("  activity: answered requests %" PRIu64 " (min %" PRIu64
	       "), messages read %" PRIu64 " (min %" PRIu64
	       "), Ksock pairs with messages in common compared %" PRIu64
	       " (min %" PRIu64 "): %s\n", sum->answers, min_ans,
	       sum->msgs_read, min_reads, order_pairs_common, min_pairs,
	       !low ? "ok" : enforce ? "TOO LOW" :
	       opt_no_min ? "too low (not enforced: --no-min-activity)" :
	       "too low (not enforced under 4000 operations)");
	if (low && enforce) {
		fprintf(stderr, "kbus-fuzz: FAIL seed=%" PRIu64 ": too little activity for %" PRIu64
			" operations (see the activity line): the module refused or lost too much\n",
			seed, ops);
		return 1;
	}
	return 0;
}

static int run_scenario(void);
static void list_scenarios(FILE *f);

static void usage(void)
{
	fprintf(stderr,
		"usage: kbus-fuzz [--seed N] [--ops N] [--seconds N] [--procs N] [--threads N]\n"
		"                 [--churn] [--max-device-bytes N] [--round R] [--round-ops N]\n"
		"                 [--no-min-activity] [--unload] [--quiet]\n"
		"       kbus-fuzz --scenario NAME|list [--unpriv] [--duration S] [--owed N] [--unload]\n"
		"  --seed N       the run's seed (default: from the clock; printed)\n"
		"  --ops N        stop after about N operations in all (default 20000)\n"
		"  --seconds N    stop starting rounds after N seconds (default 600)\n"
		"  --procs N      worker processes per round, 1..%d (default 4)\n"
		"  --threads N    threads per worker sharing its Ksocks, 1..%d (default 1)\n"
		"  --churn        also big held headers, half-done reads, full listeners\n"
		"  --max-device-bytes N  kbus_max_device_bytes for the run (root; restored)\n"
		"  --round R      replay only round R of the seed\n"
		"  --round-ops N  operations per worker per round (default 1500)\n"
		"  --no-min-activity  print the activity figures but do not enforce them\n"
		"  --unload       at the end: rmmod kbus, check the kernel log\n"
		"  --quiet        no line per round\n"
		"  --scenario NAME  run one seeded scenario instead (list: the names)\n"
		"  --unpriv       scenario: bus clients run as uid/gid %d (no parameter changed)\n"
		"  --duration S   scenario: how long its load runs (default: its own)\n"
		"  --owed N       ownedclose: replies owed (default 8000)\n",
		MAX_PROCS, MAX_THREADS, NOBODY);
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

static void parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--unload")) {
			opt_unload = true;
		} else if (!strcmp(a, "--quiet")) {
			opt_quiet = true;
		} else if (!strcmp(a, "--churn")) {
			opt_churn = true;
		} else if (!strcmp(a, "--no-min-activity")) {
			opt_no_min = true;
		} else if (!strcmp(a, "--unpriv")) {
			opt_unpriv = true;
		} else if (i + 1 < argc && !strcmp(a, "--seed")) {
			opt_seed = num_arg(argv[++i]);
			opt_seed_set = true;
		} else if (i + 1 < argc && !strcmp(a, "--ops")) {
			opt_ops = num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--seconds")) {
			opt_seconds = (double)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--procs")) {
			opt_procs = (int)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--threads")) {
			opt_threads = (int)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--max-device-bytes")) {
			opt_max_dev_bytes = (unsigned long)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--round")) {
			opt_round = (long)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--round-ops")) {
			opt_round_ops = (uint32_t)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--scenario")) {
			opt_scenario = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--duration")) {
			opt_duration = (double)num_arg(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--owed")) {
			opt_owed = (uint32_t)num_arg(argv[++i]);
		} else {
			usage();
		}
	}
	if (opt_procs < 1 || opt_procs > MAX_PROCS || !opt_round_ops ||
	    opt_threads < 1 || opt_threads > MAX_THREADS || !opt_owed)
		usage();
}

/* Rounds of random operations; returns the failures. */
static int random_run(uint64_t *done_out, double t0)
{
	struct slot sum = { 0 };
	double deadline = t0 + opt_seconds;
	uint64_t done_ops = 0, kills = 0, workers_failed = 0;
	long round, rounds = 0;
	int i, failures = 0;

	printf("kbus-fuzz: seed %" PRIu64 " (replay: kbus-fuzz --seed %" PRIu64
	       " --procs %d --threads %d --round-ops %u%s%s), up to %" PRIu64 " ops, %.0f s\n",
	       opt_seed, opt_seed, opt_procs, opt_threads, opt_round_ops,
	       opt_churn ? " --churn" : "", opt_round >= 0 ? " --round R" : "",
	       opt_ops, opt_seconds);
	if (opt_threads > 1 && !opt_quiet)
		printf("%s", threads_note);

	for (round = opt_round >= 0 ? opt_round : 0;
	     done_ops < opt_ops && now() < deadline; round++) {
		struct rng prng = { mix64(opt_seed ^ 0x5eed ^ mix64((uint64_t)round)) };
		pid_t pids[MAX_PROCS];
		int victim = -1, status;
		double kill_at = 0;
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
		fflush(stdout);
		for (i = 0; i < opt_procs; i++) {
			pids[i] = fork();
			if (pids[i] < 0) {
				perror("kbus-fuzz: fork");
				exit(3);
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
			/* the victim's kill is still to come: wait */
			if (sat == live && !shm->phase && !kill_at)
				shm->phase = 1;
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
				" --procs %d --threads %d --round-ops %u%s --round %ld\n",
				opt_seed, opt_procs, opt_threads, opt_round_ops,
				opt_churn ? " --churn" : "", round);
			break;
		}
		if (opt_round >= 0)
			break;
	}

	printf("\nkbus-fuzz summary: seed %" PRIu64 ", %ld round(s) of %d workers",
	       opt_seed, rounds, opt_procs);
	if (opt_threads > 1)
		printf(" x %d threads", opt_threads);
	printf("%s, %" PRIu64 " ops in %.1f s\n", opt_churn ? " (churn)" : "",
	       done_ops, now() - t0);
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
	printf("\n  requests accepted %" PRIu64 ", answers %" PRIu64 " (statuses %" PRIu64
	       "), replies sent %" PRIu64 "\n", sum.requests, sum.answers,
	       sum.statuses, sum.replies_sent);
	printf("  pending ALL_OR_WAIT requests %" PRIu64 ": resolved as sent %" PRIu64
	       ", dropped unsent %" PRIu64 "; closes that waited for answers %" PRIu64
	       ", requests forfeited by closing %" PRIu64 "\n", sum.pend_requests,
	       sum.pend_sent, sum.pend_dropped, sum.closes_deferred, sum.forfeited);
	if (opt_threads > 1)
		printf("  wild Ksocks: sends %" PRIu64 " (answers %" PRIu64
		       "), reads from a message start %" PRIu64 ", torn reads %" PRIu64 "\n",
		       sum.wild_sends, sum.wild_answers, sum.whole_reads, sum.torn_reads);
	if (opt_churn)
		printf("  churn: big headers held %" PRIu64 " (discarded %" PRIu64
		       ", big messages sent %" PRIu64 ")\n", sum.big_held,
		       sum.big_discarded, sum.big_sent);
	printf("  ops while settling (draining, answering, closing; not counted above) %" PRIu64 "\n",
	       sum.settle_ops);
	printf("  messages read %" PRIu64 ", Ksock pairs with messages in common compared %" PRIu64
	       " (%" PRIu64 " common messages), workers killed %" PRIu64
	       ", children spawned %" PRIu64 " (killed %" PRIu64 ")\n",
	       sum.msgs_read, order_pairs_common, order_common_msgs, kills,
	       sum.kids, sum.kids_killed);
	failures += activity_check(&sum, done_ops, opt_seed);
	*done_out = done_ops;
	return failures;
}

int main(int argc, char **argv)
{
	char marker[200];
	int failures = 0;
	double t0;
	uint64_t done_ops = 0;

	parse_args(argc, argv);
	main_pid = getpid();
	is_root = geteuid() == 0;
	if (opt_scenario && !strcmp(opt_scenario, "list")) {
		list_scenarios(stdout);
		return 0;
	}
	if (!opt_seed_set)
		opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	if (access("/dev/kbus0", R_OK | W_OK)) {
		fprintf(stderr, "kbus-fuzz: /dev/kbus0: %s (modprobe kbus?)\n",
			strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	atexit(params_restore);
	klog_marker(marker, sizeof(marker));
	if (opt_max_dev_bytes) {
		unsigned long old = 0;
		int err;

		param_read("kbus_max_device_bytes", &old);
		err = param_write("kbus_max_device_bytes", opt_max_dev_bytes);
		if (err) {
			fprintf(stderr, "kbus-fuzz: cannot set kbus_max_device_bytes: %s (root?)\n",
				strerror(-err));
			return 2;
		}
		printf("kbus-fuzz: kbus_max_device_bytes %lu for this run (was %lu)\n",
		       opt_max_dev_bytes, old);
	}
	t0 = now();
	if (opt_scenario) {
		failures = run_scenario();
		if (failures < 0)
			return 2;
	} else {
		shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (shm == MAP_FAILED) {
			perror("kbus-fuzz: mmap");
			return 3;
		}
		failures = random_run(&done_ops, t0);
	}
	params_restore();
	if (opt_unload) {
		int rc = system("rmmod kbus");

		if (rc) {
			fprintf(stderr, "kbus-fuzz: FAIL: rmmod kbus: status %d\n", rc);
			failures++;
		}
	}
	if (klog_check(marker)) {
		fprintf(stderr, "kbus-fuzz: FAIL: the kernel log has reports (above)\n");
		failures++;
	}
	if (opt_scenario)
		printf("kbus-fuzz: %s (scenario %s%s)\n",
		       failures ? "FAILED" : "no invariant breach", opt_scenario,
		       opt_unpriv ? ", unprivileged" : "");
	else
		printf("kbus-fuzz: %s (seed %" PRIu64 ")\n",
		       failures ? "FAILED" : "no invariant breach", opt_seed);
	return failures ? 1 : 0;
}

/* ==== scenarios: deterministic reproductions of known defect classes ==== */

struct sc_shared {
	int breaches;
	int setup_failed;
	int low_activity;
};

static struct sc_shared *scs;
static const char *sc_name;

static void sbreach(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void snote(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ssetup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line to stderr in one write (several scenario processes report). */
static void sline(const char *prefix, const char *fmt, va_list ap)
{
	char msg[FAIL_LEN + 200];
	int n = snprintf(msg, sizeof(msg), "kbus-fuzz: %s", prefix);

	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	strcat(msg, "\n");
	fputs(msg, stderr);
}

/* An invariant breach (to stderr, counted). */
static void sbreach(const char *fmt, ...)
{
	char prefix[80];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "BREACH (scenario %s): ", sc_name);
	va_start(ap, fmt);
	sline(prefix, fmt, ap);
	va_end(ap);
	ADD(scs->breaches, 1);
}

static void snote(const char *fmt, ...)
{
	va_list ap;

	printf("kbus-fuzz: %s: ", sc_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The scenario could not get the module into the state it needs (a failure too). */
static void ssetup(const char *fmt, ...)
{
	char prefix[80];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "scenario %s could not be set up: ", sc_name);
	va_start(ap, fmt);
	sline(prefix, fmt, ap);
	va_end(ap);
	ADD(scs->setup_failed, 1);
}

/* The activity line of a scenario: too little is a failure (not vacuous). */
static void sactivity(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sactivity(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("  activity: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(": %s\n", ok ? "ok" : "TOO LOW");
	if (!ok) {
		fprintf(stderr, "kbus-fuzz: scenario %s: too little activity (see the activity line)\n",
			sc_name);
		ADD(scs->low_activity, 1);
	}
}

struct sk {
	int fd;
	uint32_t id;
};

static int sc_dev;	/* the device this scenario process uses */

static int sk_open(struct sk *s)
{
	char path[32];

	snprintf(path, sizeof(path), "/dev/kbus%d", sc_dev);
	s->id = 0;
	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	if (ioctl(s->fd, KBUS_IOC_KSOCKID, &s->id))
		return -errno;
	return 0;
}

static void sk_close(struct sk *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int sk_bind(const struct sk *s, const char *name, bool replier)
{
	struct kbus_bind_request r = {
		.is_replier = replier,
		.name_len = (uint32_t)strlen(name),
		.name = (char *)name,
	};

	return ioctl(s->fd, KBUS_IOC_BIND, &r) ? -errno : 0;
}

/* A u32 ioctl: 0 (or NEXTMSG's 1: a message) or -errno. */
static int sk_u32(const struct sk *s, unsigned long cmd, uint32_t *v)
{
	return ioctl(s->fd, cmd, v) < 0 ? -errno : 0;
}

static uint32_t sk_get(const struct sk *s, unsigned long cmd)
{
	uint32_t v = 0;

	ioctl(s->fd, cmd, &v);
	return v;
}

static struct kbus_message_header sk_hdr(const char *name, uint32_t data_len,
					 uint32_t flags)
{
	struct kbus_message_header h = { 0 };

	h.start_guard = KBUS_MSG_START_GUARD;
	h.end_guard = KBUS_MSG_END_GUARD;
	h.name_len = (uint32_t)strlen(name);
	h.data_len = data_len;
	h.flags = flags;
	return h;
}

static uint32_t entire_len(const char *name, uint32_t data_len)
{
	return (uint32_t)KBUS_ENTIRE_MSG_LEN(strlen(name), data_len);
}

/* Write the entire message in one write(): 0 or -errno. */
static int sk_write(const struct sk *s, uint8_t *buf,
		    const struct kbus_message_header *h, const char *name)
{
	size_t len = build_entire(buf, h, name, NULL);
	ssize_t r = write(s->fd, buf, len);

	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

static int sk_send(const struct sk *s, struct kbus_msg_id *id)
{
	memset(id, 0, sizeof(*id));
	return ioctl(s->fd, KBUS_IOC_SEND, id) ? -errno : 0;
}

/* Write and SEND an entire message: 0 or -errno (the message discarded). */
static int sk_post(const struct sk *s, uint8_t *buf,
		   const struct kbus_message_header *h, const char *name,
		   struct kbus_msg_id *id)
{
	int r = sk_write(s, buf, h, name);

	if (r)
		return r;
	r = sk_send(s, id);
	if (r == -EAGAIN)
		ioctl(s->fd, KBUS_IOC_DISCARD, 0);
	return r;
}

/* NEXTMSG and read the whole message: its length, 0 if none, or -errno. */
static long sk_recv(const struct sk *s, uint8_t *buf, size_t cap)
{
	uint32_t len = 0;
	char why[200];
	long r = ioctl(s->fd, KBUS_IOC_NEXTMSG, &len);

	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	if (len < HDR_LEN + 8 || len > cap) {
		sbreach("NEXTMSG on Ksock %u gave length %u", s->id, len);
		return -EMSGSIZE;
	}
	r = read(s->fd, buf, len);
	if (r != (long)len) {
		sbreach("read of a %u-byte message on Ksock %u: %ld %s", len, s->id,
			r, r < 0 ? strerrorname_np(errno) : "");
		return -EIO;
	}
	if (entire_problem(buf, len, why, sizeof(why))) {
		sbreach("Ksock %u read a malformed message: %s", s->id, why);
		return -EBADMSG;
	}
	return (long)len;
}

static const struct kbus_message_header *mhdr(const uint8_t *buf)
{
	return (const struct kbus_message_header *)buf;
}

static bool mname_is(const uint8_t *buf, const char *name)
{
	return mhdr(buf)->name_len == strlen(name) &&
	       !memcmp(buf + HDR_LEN, name, strlen(name));
}

static void *map_shared(size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);

	if (m == MAP_FAILED) {
		perror("kbus-fuzz: mmap");
		exit(3);
	}
	return m;
}

static uint8_t *big_buf(void)
{
	uint8_t *b = malloc(512 * 1024);

	if (!b) {
		perror("kbus-fuzz: malloc");
		exit(3);
	}
	return b;
}

/*
 * Become uid and gid 65534 (nobody), keeping only the group of the device
 * node (a member of the group that may use KBUS, as the image's kbus
 * group; none if it is root's).
 */
static int drop_privileges(void)
{
	struct stat st;
	gid_t g;

	if (geteuid() != 0)
		return 0;
	if (stat("/dev/kbus0", &st))
		return -errno;
	g = st.st_gid;
	if (g != 0 ? setgroups(1, &g) : setgroups(0, NULL))
		return -errno;
	if (setgid(NOBODY) || setuid(NOBODY))
		return -errno;
	if (geteuid() != NOBODY || !setuid(0))
		return -EPERM;
	is_root = false;
	return 0;
}

/*
 * Fill the byte budget the bus clients see (the device's, or their user's
 * share of it: whichever ends first) with queued messages, then make room
 * for about target bytes again: 16 listeners take 64 KB messages (each
 * copy counts) until ALL_OR_FAIL fails, one more takes 4 KB ones, and
 * then 4 KB ones are read until target bytes are free.  Needs no
 * privilege: nothing but messages queued to Ksocks that do not read.
 */
#define PF_COARSE	16
#define PF_COARSE_DATA	(64 * 1024)
#define PF_FINE_DATA	4096

struct prefill {
	struct sk send, coarse[PF_COARSE], fine;
	uint64_t charged;
	uint32_t fine_queued, coarse_queued;
	int next_coarse;
};

static void prefill_close(struct prefill *pf)
{
	int i;

	sk_close(&pf->send);
	sk_close(&pf->fine);
	for (i = 0; i < PF_COARSE; i++)
		sk_close(&pf->coarse[i]);
}

/* Read one queued filler message: the bytes freed, 0 if none. */
static uint32_t prefill_pop(struct prefill *pf, uint8_t *buf)
{
	int i;

	if (pf->fine_queued && sk_recv(&pf->fine, buf, 512 * 1024) > 0) {
		pf->fine_queued--;
		return entire_len("$.Fill.f", PF_FINE_DATA);
	}
	for (i = 0; i < PF_COARSE; i++) {
		struct sk *c = &pf->coarse[pf->next_coarse];

		pf->next_coarse = (pf->next_coarse + 1) % PF_COARSE;
		if (sk_recv(c, buf, 512 * 1024) > 0)
			return entire_len("$.Fill.c", PF_COARSE_DATA);
	}
	return 0;
}

/* One more 4 KB filler message: false if there is no room for it. */
static bool prefill_push(struct prefill *pf, uint8_t *buf)
{
	struct kbus_message_header h = sk_hdr("$.Fill.f", PF_FINE_DATA,
					      KBUS_BIT_ALL_OR_FAIL);
	struct kbus_msg_id id;

	if (sk_post(&pf->send, buf, &h, "$.Fill.f", &id))
		return false;
	pf->fine_queued++;
	pf->charged += entire_len("$.Fill.f", PF_FINE_DATA);
	return true;
}

static int prefill(struct prefill *pf, uint64_t target, uint8_t *buf)
{
	struct kbus_message_header hc = sk_hdr("$.Fill.c", PF_COARSE_DATA,
					       KBUS_BIT_ALL_OR_FAIL);
	uint32_t big = 0xffffffff, i;
	uint64_t freed = 0;
	struct kbus_msg_id id;
	int r;

	memset(pf, 0, sizeof(*pf));
	if ((r = sk_open(&pf->send)) || (r = sk_open(&pf->fine))) {
		ssetup("prefill: open: %s", strerror(-r));
		return r;
	}
	sk_u32(&pf->fine, KBUS_IOC_MAXMSGS, &big);
	if ((r = sk_bind(&pf->fine, "$.Fill.f", false))) {
		ssetup("prefill: bind: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < PF_COARSE; i++) {
		big = 0xffffffff;
		if ((r = sk_open(&pf->coarse[i])) ||
		    (r = sk_u32(&pf->coarse[i], KBUS_IOC_MAXMSGS, &big)) ||
		    (r = sk_bind(&pf->coarse[i], "$.Fill.c", false))) {
			ssetup("prefill: a filler Ksock: %s", strerror(-r));
			return r;
		}
	}
	for (i = 0; i < 100000; i++) {
		r = sk_post(&pf->send, buf, &hc, "$.Fill.c", &id);
		if (r == -ENOMEM || r == -EBUSY)
			break;
		if (r) {
			ssetup("prefill: a 64 KB filler message: %s", strerror(-r));
			return r;
		}
		pf->charged += PF_COARSE * (uint64_t)entire_len("$.Fill.c", PF_COARSE_DATA);
		pf->coarse_queued++;
	}
	while (prefill_push(pf, buf) && pf->fine_queued < 100000)
		;
	/* now less than two 4 KB messages fit: make target bytes of room */
	while (freed < target) {
		uint32_t n = prefill_pop(pf, buf);

		if (!n) {
			ssetup("prefill: nothing left to read for %" PRIu64 " bytes of room",
			       target);
			return -ENOSPC;
		}
		freed += n;
		pf->charged -= n;
	}
	snote("kbus%d: filled the byte budget with %" PRIu64 " bytes of queued messages, then read %"
	      PRIu64 " bytes of them", sc_dev, pf->charged + freed, freed);
	return 0;
}

/* Is thread tid of this process asleep (state S)? */
static bool thread_sleeping(pid_t tid)
{
	char path[64], *s, *paren;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	s = read_file(path);
	if (!s)
		return false;
	paren = strrchr(s, ')');
	return paren && paren[1] == ' ' && paren[2] == 'S';
}

/*
 * sendrace: 48 listeners (MAXMSGS 1000) drained round-robin by one
 * process; two processes each writing the header of a 40 KB entire message
 * (charged whole) and DISCARDing it, in a loop; one sender of 20 KB
 * announcements to the listeners.  The byte budget is about half a fan-out
 * (root: kbus_max_device_bytes; --unpriv: a prefill of the default one),
 * so every send meets full listeners and the budget moves under it.  With
 * allor the sender also sends ALL_OR_FAIL and ALL_OR_WAIT (and the budget
 * is 1.25 fan-outs, so that those can succeed): one that SEND accepted
 * must reach every listener, one that failed none.  Checks: every copy
 * read is well formed, no listener gets a message twice, the ALL_OR_*
 * rule, and (outside) the kernel log.
 */
#define SR_N		48
#define SR_DATA		(20 * 1024)
#define SR_CHURN	(40 * 1024)
#define SR_MAXSER	(1u << 17)

enum { SRK_NONE, SRK_PLAIN, SRK_AOF_OK, SRK_AOF_FAIL, SRK_AOW_OK };

struct sr_state {
	volatile int stop, ready, sender_done, drainer_done;
	volatile uint64_t idle;	/* drainer passes that found every queue empty */
	volatile double until;	/* the sender stops then (the run may extend it) */
	uint32_t base;		/* the sender's serials start here */
	uint64_t plain_ok, aof_ok, aof_fail, aow_ok, aow_pending;
	uint64_t write_enomem, send_enomem, churn_ok, churn_enomem, drained;
	uint8_t kind[SR_MAXSER];
	uint8_t count[SR_MAXSER];
	uint64_t seen[SR_N][SR_MAXSER / 64];
};

static void sr_drainer(struct sr_state *st, uint8_t *buf)
{
	struct sk l[SR_N];
	uint32_t v;
	int i, r;

	for (i = 0; i < SR_N; i++) {
		v = 1000;
		if ((r = sk_open(&l[i])) || (r = sk_u32(&l[i], KBUS_IOC_MAXMSGS, &v)) ||
		    (r = sk_bind(&l[i], "$.Race.a", false))) {
			ssetup("listener %d: %s", i, strerror(-r));
			_exit(1);
		}
	}
	st->ready = 1;
	for (;;) {
		bool got = false, done = st->sender_done;

		for (i = 0; i < SR_N; i++) {
			long n = sk_recv(&l[i], buf, 512 * 1024);
			uint32_t idx;

			if (n == -ENOMEM)
				continue;
			if (n < 0) {
				if (n != -EBADMSG && n != -EIO && n != -EMSGSIZE)
					sbreach("NEXTMSG on listener %d: %s", i, strerror((int)-n));
				continue;
			}
			if (!n)
				continue;
			got = true;
			ADD(st->drained, 1);
			if (!mname_is(buf, "$.Race.a") || mhdr(buf)->data_len != SR_DATA) {
				sbreach("listener %d got a message (%u) it is not bound to",
					i, mhdr(buf)->id.serial_num);
				continue;
			}
			idx = mhdr(buf)->id.serial_num - st->base;
			if (idx >= SR_MAXSER)
				continue;
			if (st->seen[i][idx / 64] & (1ULL << (idx % 64)))
				sbreach("listener %d got message %u twice", i,
					mhdr(buf)->id.serial_num);
			st->seen[i][idx / 64] |= 1ULL << (idx % 64);
			st->count[idx]++;
		}
		if (!got && done)
			break;
		if (!got) {
			ADD(st->idle, 1);
			usleep(200);
		}
	}
	st->drainer_done = 1;
}

static void sr_churner(struct sr_state *st)
{
	struct kbus_message_header h = sk_hdr("$.Race.c", SR_CHURN, 0);
	struct sk s;
	int r;

	if ((r = sk_open(&s))) {
		ssetup("churner: open: %s", strerror(-r));
		_exit(1);
	}
	while (!st->stop) {
		long n = write(s.fd, &h, HDR_LEN);

		if (n == (long)HDR_LEN)
			ADD(st->churn_ok, 1);
		else if (n < 0 && errno == ENOMEM)
			ADD(st->churn_enomem, 1);
		else
			sbreach("the header of a 40 KB message: %ld %s", n,
				n < 0 ? strerrorname_np(errno) : "");
		if (ioctl(s.fd, KBUS_IOC_DISCARD, 0))
			sbreach("DISCARD: %s", strerrorname_np(errno));
	}
}

static void sr_sender(struct sr_state *st, bool allor, uint8_t *buf)
{
	static const uint32_t flags[3] = { 0, KBUS_BIT_ALL_OR_FAIL, KBUS_BIT_ALL_OR_WAIT };
	struct kbus_msg_id id;
	struct sk s;
	uint64_t i;
	int r;

	if ((r = sk_open(&s))) {
		ssetup("sender: open: %s", strerror(-r));
		_exit(1);
	}
	for (i = 0; !st->stop && now() < st->until; i++) {
		uint32_t f = allor ? flags[i % 3] : 0, idx;
		struct kbus_message_header h = sk_hdr("$.Race.a", SR_DATA, f);

		/*
		 * Every other ALL_OR_FAIL send waits (at most 1 s) for a drainer
		 * pass that found the queues empty, so that it can succeed even
		 * when the drainer is slower than the sender: the churners still
		 * move the budget under it.
		 */
		if (f == KBUS_BIT_ALL_OR_FAIL && (i / 3) % 2 == 0) {
			uint64_t idle0 = st->idle;
			double t0 = now();

			while (st->idle == idle0 && now() - t0 < 1 && !st->stop)
				usleep(200);
		}

		r = sk_write(&s, buf, &h, "$.Race.a");
		if (r == -ENOMEM) {
			ADD(st->write_enomem, 1);
			sched_yield();
			continue;
		}
		if (r) {
			sbreach("writing a 20 KB announcement: %s", strerror(-r));
			continue;
		}
		r = sk_send(&s, &id);
		if (r == -EBUSY && f == KBUS_BIT_ALL_OR_FAIL)
			ioctl(s.fd, KBUS_IOC_LASTSENT, &id);
		idx = id.serial_num - st->base;
		if (id.serial_num && idx >= SR_MAXSER)
			break;
		if (r == 0) {
			st->kind[idx] = f == KBUS_BIT_ALL_OR_FAIL ? SRK_AOF_OK :
					f == KBUS_BIT_ALL_OR_WAIT ? SRK_AOW_OK : SRK_PLAIN;
			if (f == KBUS_BIT_ALL_OR_FAIL)
				ADD(st->aof_ok, 1);
			else if (f == KBUS_BIT_ALL_OR_WAIT)
				ADD(st->aow_ok, 1);
			else
				ADD(st->plain_ok, 1);
		} else if (r == -EBUSY && f == KBUS_BIT_ALL_OR_FAIL) {
			st->kind[idx] = SRK_AOF_FAIL;
			ADD(st->aof_fail, 1);
		} else if (r == -EAGAIN && f == KBUS_BIT_ALL_OR_WAIT) {
			double t0 = now();
			struct pollfd pfd = { .fd = s.fd, .events = POLLOUT };

			ADD(st->aow_pending, 1);
			while (poll(&pfd, 1, 100) <= 0 || !(pfd.revents & POLLOUT)) {
				if (now() - t0 > 10)
					break;
			}
			if (pfd.revents & POLLOUT) {
				/* resolved: delivered to all, or dropped (none) */
				st->kind[idx] = SRK_AOW_OK;
				ADD(st->aow_ok, 1);
			} else {
				sbreach("an ALL_OR_WAIT send (%u) still pending after 10 s of polling",
					id.serial_num);
				ioctl(s.fd, KBUS_IOC_DISCARD, 0);
			}
		} else if (r == -ENOMEM) {
			ADD(st->send_enomem, 1);
		} else {
			sbreach("SEND of a 20 KB announcement (flags %#x): %s", f, strerror(-r));
		}
	}
	st->sender_done = 1;
}

static pid_t sc_fork(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("kbus-fuzz: fork");
		exit(3);
	}
	if (!pid)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

/* Enough activity for the run's floor (checked again, fully, at the end)? */
static bool sr_busy_enough(const struct sr_state *st, bool allor)
{
	if (st->drained < 100 || st->churn_ok < 100)
		return false;
	if (allor)
		return st->aof_ok >= 1 && st->aof_fail >= 1 && st->aow_ok >= 1;
	return st->plain_ok >= 20;
}

static void sc_sendrace_run(bool allor)
{
	struct sr_state *st = map_shared(sizeof(*st));
	uint32_t e = entire_len("$.Race.a", SR_DATA);
	uint64_t fanout = (uint64_t)SR_N * e;
	uint64_t budget = allor ? fanout * 5 / 4 : fanout / 2;
	double secs = opt_duration ? opt_duration : 10, cap;
	uint64_t partial = 0, full = 0, none = 0, i, top = 0;
	struct prefill pf = { .send.fd = -1 };
	struct kbus_message_header h = sk_hdr("$.Race.probe", 0, 0);
	uint8_t *buf = big_buf();
	pid_t pids[4];
	struct kbus_msg_id id;
	struct sk probe;
	int n, shown = 0, r;

	if (opt_unpriv) {
		if (prefill(&pf, budget, buf))
			return;
	} else {
		/* one user alone may hold half of a device's bytes */
		r = param_write("kbus_max_device_bytes", (unsigned long)(2 * budget));
		if (r) {
			ssetup("kbus_max_device_bytes: %s", strerror(-r));
			return;
		}
		snote("kbus_max_device_bytes %" PRIu64 ": a user's share %" PRIu64
		      " (a fan-out is %d x %u = %" PRIu64 " bytes)",
		      2 * budget, budget, SR_N, e, fanout);
	}
	if ((r = sk_open(&probe)) || (r = sk_post(&probe, buf, &h, "$.Race.probe", &id))) {
		ssetup("a probe message: %s", strerror(-r));
		return;
	}
	st->base = id.serial_num + 1;
	sk_close(&probe);

	pids[0] = sc_fork();
	if (!pids[0]) {
		sr_drainer(st, buf);
		_exit(0);
	}
	while (!st->ready)
		usleep(1000);
	for (n = 1; n <= 2; n++) {
		pids[n] = sc_fork();
		if (!pids[n]) {
			sr_churner(st);
			_exit(0);
		}
	}
	st->until = now() + secs;
	/* a slow (sanitizer, emulated) kernel gets longer to reach the floor */
	cap = st->until + 9 * secs;
	pids[3] = sc_fork();
	if (!pids[3]) {
		sr_sender(st, allor, buf);
		_exit(0);
	}
	snote("running for %.0f s (up to %.0f s until the activity floor is met): 1 drainer of %d listeners, 2 processes writing and DISCARDing 40 KB headers, 1 sender%s",
	      secs, 10 * secs, SR_N, allor ? " (plain, ALL_OR_FAIL and ALL_OR_WAIT in turn)" : "");
	while (!st->sender_done) {
		double t = now();

		if (t >= st->until) {
			if (sr_busy_enough(st, allor) || t >= cap)
				break;
			st->until = t + 1;
		}
		usleep(20000);
	}
	st->stop = 1;
	for (n = 3; n >= 0; n--) {
		int status;

		if (n == 0) {
			double t0 = now();

			while (!st->drainer_done && now() - t0 < 120)
				usleep(10000);
			if (!st->drainer_done) {
				sbreach("the listeners were not drained within 120 s");
				kill(pids[0], SIGKILL);
			}
		}
		waitpid(pids[n], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			sbreach("process %d ended with status %#x", n, status);
	}
	prefill_close(&pf);

	for (i = 0; i < SR_MAXSER; i++) {
		uint8_t c = st->count[i];

		if (st->kind[i])
			top = i + 1;
		switch (st->kind[i]) {
		case SRK_AOF_OK:
			if (c != SR_N && shown++ < 5)
				sbreach("ALL_OR_FAIL send %u returned 0 but reached %u of the %d listeners",
					st->base + (uint32_t)i, c, SR_N);
			break;
		case SRK_AOF_FAIL:
			if (c && shown++ < 5)
				sbreach("ALL_OR_FAIL send %u failed (EBUSY) but reached %u of the %d listeners",
					st->base + (uint32_t)i, c, SR_N);
			break;
		case SRK_AOW_OK:
			if (c && c != SR_N && shown++ < 5)
				sbreach("ALL_OR_WAIT send %u reached %u of the %d listeners (all or none)",
					st->base + (uint32_t)i, c, SR_N);
			break;
		case SRK_PLAIN:
			if (c == SR_N)
				full++;
			else if (c)
				partial++;
			else
				none++;
			break;
		default:
			if (c && shown++ < 5)
				sbreach("message %u reached %u listeners but the sender has no record of sending it",
					st->base + (uint32_t)i, c);
			break;
		}
	}
	if (shown > 5)
		sbreach("... %d ALL_OR_* breaches in all", shown);
	snote("sends: plain %" PRIu64 " (reached all %" PRIu64 ", some %" PRIu64 ", none %" PRIu64
	      "), ALL_OR_FAIL accepted %" PRIu64 " refused %" PRIu64 ", ALL_OR_WAIT resolved %" PRIu64
	      " (went pending %" PRIu64 "); writes refused ENOMEM %" PRIu64 ", SENDs ENOMEM %" PRIu64,
	      st->plain_ok, full, partial, none, st->aof_ok, st->aof_fail, st->aow_ok,
	      st->aow_pending, st->write_enomem, st->send_enomem);
	snote("40 KB headers written and DISCARDed %" PRIu64 " (refused ENOMEM %" PRIu64
	      "), copies drained %" PRIu64 " over %" PRIu64 " serials",
	      st->churn_ok, st->churn_enomem, st->drained, top);
	/* not vacuous: sends went, the budget edge was met, the headers churned */
	if (allor)
		sactivity(st->aof_ok >= 1 && st->aof_fail >= 1 && st->aow_ok >= 1 &&
			  st->drained >= 100 && st->churn_ok >= 100,
			  "ALL_OR_FAIL accepted %" PRIu64 " (min 1) and refused %" PRIu64
			  " (min 1), ALL_OR_WAIT resolved %" PRIu64 " (min 1), copies drained %" PRIu64
			  " (min 100), headers churned %" PRIu64 " (min 100)",
			  st->aof_ok, st->aof_fail, st->aow_ok, st->drained, st->churn_ok);
	else
		sactivity(st->plain_ok >= 20 && partial >= 1 && st->drained >= 100 &&
			  st->churn_ok >= 100,
			  "sends %" PRIu64 " (min 20), sends that reached only some listeners %" PRIu64
			  " (min 1: the budget edge), copies drained %" PRIu64
			  " (min 100), headers churned %" PRIu64 " (min 100)",
			  st->plain_ok, partial, st->drained, st->churn_ok);
	free(buf);
}

static void sc_sendrace(void)
{
	sc_sendrace_run(false);
}

static void sc_sendrace_allor(void)
{
	sc_sendrace_run(true);
}

/*
 * snapshot: 1000 replier names of 900+ bytes bound; a Ksock with MAXMSGS
 * 0xFFFFFFFF switches REPORTREPLIERBINDS on (each time KBUS queues it a
 * bind event per replier, about 1.1 KB each) and off again, in a loop,
 * never reading.  The memory the kernel holds for that must stay bounded:
 * the module bounds the message bytes a Ksock's queue may hold
 * (kbus_max_ksock_bytes) and a device's (kbus_max_device_bytes); the
 * memory behind B bytes of messages is at most 2 B (kmalloc rounds up to
 * a power of two) plus a 64-byte queue entry per message; 4 MiB more are
 * left for the rest of the kernel.  A breach if the unreclaimable slab
 * (SUnreclaim) grows past that.  As root the bounds are lowered (1 MiB per
 * Ksock, 4 MiB per device) to keep the run short; --unpriv keeps the
 * defaults (8 MiB, 64 MiB).
 */
#define SNAP_NAMES	1000
#define SNAP_KSOCKS	20

static void snap_name(char *out, uint32_t i)
{
	uint32_t len = 900 + (i * 7) % 95, n;

	n = (uint32_t)sprintf(out, "$.Snap.n%04u", i);
	for (; n < len; n++)
		out[n] = (n % 9 == 0) ? '.' : 'a' + (char)(n % 26);
	if (out[len - 1] == '.')
		out[len - 1] = 'z';
	out[len] = 0;
}

static void sc_snapshot(void)
{
	struct sk rep[SNAP_KSOCKS], t = { .fd = -1 };
	unsigned long b_ks = 8UL << 20, b_dev = 64UL << 20, b;
	uint64_t ev_bytes = 0, bound;
	uint32_t nbound = 0, min_ev = 0xffffffff, max_ev = 0, queued = 0, big = 0xffffffff;
	uint32_t min_queued, ev;
	long s0 = 0, a0 = 0, s, a, grew = 0, max_grew = 0;
	int nrep = 0, toggles = 0, max_toggles, accepted = 0, r = 0, i;
	bool refused = false;
	char name[1100];

	if (!opt_unpriv) {
		if ((r = param_write("kbus_max_ksock_bytes", 1UL << 20)) ||
		    (r = param_write("kbus_max_device_bytes", 4UL << 20))) {
			ssetup("module parameters: %s", strerror(-r));
			return;
		}
	}
	param_read("kbus_max_ksock_bytes", &b_ks);
	param_read("kbus_max_device_bytes", &b_dev);
	b = b_ks < b_dev ? b_ks : b_dev;
	for (i = 0; i < SNAP_KSOCKS; i++)
		rep[i].fd = -1;
	for (i = 0; i < SNAP_NAMES && nrep <= SNAP_KSOCKS; ) {
		if (!nrep || r == -ENOSPC) {
			if (nrep == SNAP_KSOCKS)
				break;
			if ((r = sk_open(&rep[nrep]))) {
				ssetup("open: %s", strerror(-r));
				break;
			}
			nrep++;
		}
		snap_name(name, (uint32_t)i);
		r = sk_bind(&rep[nrep - 1], name, true);
		if (r == -ENOSPC)
			continue;	/* a binding limit: the next Ksock */
		if (r) {
			if (r != -ENOMEM)
				sbreach("binding replier name %d (%zu bytes): %s", i,
					strlen(name), strerror(-r));
			break;
		}
		nbound++;
		ev = (uint32_t)KBUS_ENTIRE_MSG_LEN(strlen(KBUS_MSG_NAME_REPLIER_BIND_EVENT),
						   12 + KBUS_PADDED_NAME_LEN(strlen(name)));
		ev_bytes += ev;
		if (ev < min_ev)
			min_ev = ev;
		if (ev > max_ev)
			max_ev = ev;
		i++;
		r = 0;
	}
	if (!nbound || (r = sk_open(&t)) || (r = sk_u32(&t, KBUS_IOC_MAXMSGS, &big))) {
		ssetup("%u replier names bound; the toggling Ksock: %s", nbound,
		       strerror(-r));
		goto out;
	}
	bound = 2 * (uint64_t)b + ((uint64_t)b / min_ev + 1) * 64 + (4ULL << 20);
	max_toggles = (int)((3 * bound) / ev_bytes) + 2;
	if (max_toggles < 4)
		max_toggles = 4;
	if (max_toggles > 200)
		max_toggles = 200;
	snote("%u replier names of 900+ bytes bound on %d Ksock(s); a snapshot queues %" PRIu64
	      " bytes of bind events; the bound: 2 x %lu + 64 per message + 4 MiB = %" PRIu64
	      " kB; up to %d toggles", nbound, nrep, ev_bytes, b, bound / 1024, max_toggles);
	sleep_ms(200);
	meminfo(&s0, &a0);
	for (toggles = 0; toggles < max_toggles; toggles++) {
		uint32_t v = 1;

		r = sk_u32(&t, KBUS_IOC_REPORTREPLIERBINDS, &v);
		if (r == -EPERM && !is_root) {
			snote("REPORTREPLIERBINDS(1) refused with EPERM for an unprivileged user");
			refused = true;
			break;
		}
		if (r && r != -EBUSY && r != -ENOMEM)
			sbreach("REPORTREPLIERBINDS(1): %s", strerror(-r));
		if (!r)
			accepted++;
		v = 0;
		r = sk_u32(&t, KBUS_IOC_REPORTREPLIERBINDS, &v);
		if (r && !(r == -EPERM && !is_root))
			sbreach("REPORTREPLIERBINDS(0): %s", strerror(-r));
		queued = sk_get(&t, KBUS_IOC_NUMMSGS);
		meminfo(&s, &a);
		grew = s - s0;
		if (grew > max_grew)
			max_grew = grew;
		if (!opt_quiet)
			snote("toggle %d: %u events queued, SUnreclaim +%ld kB, MemAvailable %+ld kB",
			      toggles + 1, queued, grew, a - a0);
		if ((uint64_t)grew * 1024 > bound) {
			sbreach("after %d toggles of REPORTREPLIERBINDS the kernel holds %ld kB more unreclaimable slab (%u events queued to one Ksock), past the bound of %" PRIu64 " kB",
				toggles + 1, grew, queued, bound / 1024);
			toggles++;
			break;
		}
	}
	snote("%d toggles, %d snapshots accepted, %u events left queued, SUnreclaim grew at most %ld kB (bound %" PRIu64 " kB)",
	      toggles, accepted, queued, max_grew, bound / 1024);
	/*
	 * Not vacuous: the snapshots did queue events, at least half of one
	 * snapshot or of what the byte bound lets one Ksock hold (a bounded
	 * snapshot stops with EBUSY), unless the user may not switch it.
	 */
	min_queued = nbound;
	if ((uint64_t)b / max_ev < min_queued)
		min_queued = (uint32_t)((uint64_t)b / max_ev);
	min_queued /= 2;
	sactivity(refused || (queued >= min_queued && nbound >= 100),
		  "events queued %u (min %u), snapshots accepted whole %d, replier names bound %u (min 100)%s",
		  queued, min_queued, accepted, nbound,
		  refused ? "; REPORTREPLIERBINDS refused for the unprivileged user" : "");
out:
	sk_close(&t);
	for (i = 0; i < nrep; i++)
		sk_close(&rep[i]);
	sleep_ms(300);
	meminfo(&s, &a);
	snote("after closing everything: SUnreclaim %+ld kB from the start", s - s0);
}

/*
 * ownedclose: a replier owes N replies (it popped N requests, from one
 * requester and then from eight, whose MAXMSGS are raised), then closes.
 * Each request must get exactly one $.KBUS.Replier.Ignored (to its
 * requester, in reply to it, from the replier).  The close is timed and
 * printed, not checked.
 */
static double owned_close_ms;

static uint32_t ownedclose_once(uint32_t nreq, int nq, uint8_t *buf)
{
	struct sk rp, q[8];
	uint32_t per = nreq / (uint32_t)nq, sent[8] = { 0 }, got[8] = { 0 };
	uint32_t base = 0, total = 0, popped = 0, owed, v, bad = 0;
	uint8_t *owner = calloc(nreq + 64, 1), *answered = calloc(nreq + 64, 1);
	struct kbus_message_header h = sk_hdr("$.Owed.q", 0, KBUS_BIT_WANT_A_REPLY);
	struct kbus_msg_id id;
	double t0, t1;
	long n;
	int j, r;

	if (!owner || !answered) {
		perror("kbus-fuzz: calloc");
		exit(3);
	}
	for (j = 0; j < 8; j++)
		q[j].fd = -1;
	v = nreq + 64;
	if ((r = sk_open(&rp)) || (r = sk_u32(&rp, KBUS_IOC_MAXMSGS, &v)) ||
	    (r = sk_bind(&rp, "$.Owed.q", true))) {
		ssetup("the replier: %s", strerror(-r));
		goto out;
	}
	for (j = 0; j < nq; j++) {
		v = per + 64;
		if ((r = sk_open(&q[j])) || (r = sk_u32(&q[j], KBUS_IOC_MAXMSGS, &v))) {
			ssetup("requester %d: %s", j, strerror(-r));
			goto out;
		}
	}
	for (j = 0; j < nq; j++) {
		for (sent[j] = 0; sent[j] < per; sent[j]++) {
			uint32_t idx;

			r = sk_post(&q[j], buf, &h, "$.Owed.q", &id);
			if (r) {
				snote("requester %d: request %u refused: %s", j, sent[j] + 1,
				      strerror(-r));
				break;
			}
			if (!base)
				base = id.serial_num;
			idx = id.serial_num - base;
			if (idx >= nreq + 64) {
				ssetup("request serials are not consecutive");
				goto out;
			}
			owner[idx] = (uint8_t)(j + 1);
		}
		total += sent[j];
	}
	while ((n = sk_recv(&rp, buf, 512 * 1024)) > 0) {
		const struct kbus_message_header *m = mhdr(buf);

		popped++;
		if (!(m->flags & KBUS_BIT_WANT_YOU_TO_REPLY))
			sbreach("the replier got request %u without WANT_YOU_TO_REPLY",
				m->id.serial_num);
	}
	owed = sk_get(&rp, KBUS_IOC_UNREPLIEDTO);
	if (popped != total || owed != total)
		sbreach("the replier popped %u of %u requests and owes %u replies", popped,
			total, owed);
	t0 = now();
	sk_close(&rp);
	t1 = now();
	for (j = 0; j < nq; j++) {
		while ((n = sk_recv(&q[j], buf, 512 * 1024)) > 0) {
			const struct kbus_message_header *m = mhdr(buf);
			uint32_t idx = m->in_reply_to.serial_num - base;

			if (!mname_is(buf, KBUS_MSG_NAME_REPLIER_IGNORED) ||
			    !(m->flags & KBUS_BIT_SYNTHETIC) || m->to != q[j].id ||
			    m->from != rp.id || idx >= nreq + 64 ||
			    owner[idx] != j + 1 || m->in_reply_to.network_id) {
				if (bad++ < 5)
					sbreach("requester %d (Ksock %u) got %.*s (id %u, to %u, from %u) in reply to %u:%u, not one of its requests' Ignored",
						j, q[j].id, (int)(m->name_len < 40 ? m->name_len : 40),
						(const char *)buf + HDR_LEN, m->id.serial_num,
						m->to, m->from, m->in_reply_to.network_id,
						m->in_reply_to.serial_num);
				continue;
			}
			if (answered[idx]++ && bad++ < 5)
				sbreach("request %u of requester %d answered twice",
					m->in_reply_to.serial_num, j);
			got[j]++;
		}
		if (got[j] != sent[j])
			sbreach("requester %d (Ksock %u): %u of its %u requests got $.KBUS.Replier.Ignored",
				j, q[j].id, got[j], sent[j]);
	}
	owned_close_ms = (t1 - t0) * 1e3;
	snote("close of a replier owing %u replies to %d requester(s): %.1f ms (%.1f us per owed reply)",
	      owed, nq, (t1 - t0) * 1e3, owed ? (t1 - t0) * 1e6 / owed : 0);
out:
	sk_close(&rp);
	for (j = 0; j < 8; j++)
		sk_close(&q[j]);
	free(owner);
	free(answered);
	return total;
}

static void sc_ownedclose(void)
{
	uint8_t *buf = big_buf();
	uint32_t nh = ownedclose_once(opt_owed / 2, 1, buf);
	double half_ms = owned_close_ms;
	uint32_t n1 = ownedclose_once(opt_owed, 1, buf);
	double full_ms = owned_close_ms;
	uint32_t n8 = ownedclose_once(opt_owed, 8, buf);

	if (nh && half_ms > 0)
		snote("twice the owed replies (%u, then %u) made the close %.1f times as long (2: linear, 4: quadratic)",
		      nh, n1, full_ms / half_ms);

	sactivity(n1 >= opt_owed && n8 >= opt_owed / 8 * 8,
		  "requests owed %u with one requester, %u with eight (min %u each)",
		  n1, n8, opt_owed / 8 * 8);
	free(buf);
}

/*
 * netid: two requesters send requests carrying the same preserved id
 * (network_id 7) to one replier, which pops both, replies to one (the
 * first, or the second, or both) and closes.  Each requester must get
 * exactly one answer: its reply, or $.KBUS.Replier.Ignored.
 */
static int netid_case(int c, uint8_t *buf)
{
	static const char *const how[] = { "the second", "the first", "both" };
	struct kbus_msg_id nid = { .network_id = 7, .serial_num = 1000 + (uint32_t)c };
	struct sk rp, rq[2];
	struct kbus_msg_id id;
	uint32_t from[2] = { 0, 0 };
	int j, r, reached = 0;
	long n;

	rq[0].fd = rq[1].fd = -1;
	if ((r = sk_open(&rp)) || (r = sk_bind(&rp, "$.Net.q", true)) ||
	    (r = sk_open(&rq[0])) || (r = sk_open(&rq[1]))) {
		ssetup("open and bind: %s", strerror(-r));
		goto out;
	}
	for (j = 0; j < 2; j++) {
		struct kbus_message_header h = sk_hdr("$.Net.q", 0, KBUS_BIT_WANT_A_REPLY);

		h.id = nid;
		r = sk_post(&rq[j], buf, &h, "$.Net.q", &id);
		if (r || id.network_id != nid.network_id || id.serial_num != nid.serial_num) {
			sbreach("a request with preserved id %u:%u: %s, id %u:%u",
				nid.network_id, nid.serial_num, strerror(-r),
				id.network_id, id.serial_num);
			goto out;
		}
	}
	for (j = 0; j < 2; j++) {
		n = sk_recv(&rp, buf, 512 * 1024);
		if (n <= 0 || mhdr(buf)->id.network_id != nid.network_id ||
		    mhdr(buf)->id.serial_num != nid.serial_num) {
			sbreach("the replier did not get request %d (%ld)", j + 1, n);
			goto out;
		}
		from[j] = mhdr(buf)->from;
	}
	if (from[0] != rq[0].id || from[1] != rq[1].id) {
		ssetup("requests from %u and %u, not %u and %u", from[0], from[1],
		       rq[0].id, rq[1].id);
		goto out;
	}
	for (j = 0; j < 2; j++) {
		struct kbus_message_header h = sk_hdr("$.Net.q", 0, 0);

		if ((c == 0 && j == 0) || (c == 1 && j == 1))
			continue;
		h.in_reply_to = nid;
		h.to = rq[j].id;
		r = sk_post(&rp, buf, &h, "$.Net.q", &id);
		if (r)
			sbreach("the reply to requester %d: %s", j, strerror(-r));
	}
	sk_close(&rp);
	reached = 1;
	for (j = 0; j < 2; j++) {
		int answers = 0;

		while ((n = sk_recv(&rq[j], buf, 512 * 1024)) > 0) {
			const struct kbus_message_header *m = mhdr(buf);

			if (m->in_reply_to.network_id == nid.network_id &&
			    m->in_reply_to.serial_num == nid.serial_num &&
			    m->to == rq[j].id)
				answers++;
		}
		if (answers != 1)
			sbreach("replying to %s of two requests with the same id %u:%u: requester %d (Ksock %u) got %d answers, not 1",
				how[c], nid.network_id, nid.serial_num, j + 1, rq[j].id,
				answers);
	}
out:
	sk_close(&rp);
	sk_close(&rq[0]);
	sk_close(&rq[1]);
	return reached;
}

static void sc_netid(void)
{
	uint8_t *buf = big_buf();
	int c, done = 0;

	for (c = 0; c < 3; c++)
		done += netid_case(c, buf);
	snote("3 cases: two requests with one preserved id, the replier answers the second, the first, both; then closes");
	sactivity(done == 3, "cases that got as far as the check %d (min 3)", done);
	free(buf);
}

/*
 * allorwait: an ALL_OR_WAIT sender blocked by byte room, not queue slots
 * (its one listener has MAXMSGS 1000 and an empty queue): the budget is
 * filled (see prefill) so that its 32 KB message can be written but its
 * copy does not fit.  Then another Ksock makes 128 KB of room: it
 * finishes a read it had left half done, or DISCARDs the header of a big
 * entire message it had written, or its next write of that message
 * fails (EFAULT).  The sender is registered with epoll (level-triggered,
 * EPOLLOUT) before its send went pending, and one thread waits in
 * epoll_wait while another waits in poll(POLLOUT): each must report the
 * sender writable within 5 s.  As root the device budget is lowered to
 * 2 MiB (a small fill); --unpriv fills the default one.
 */
#define AW_DATA		(32 * 1024)
#define AW_HOLD		(128 * 1024)
#define AW_WAIT_MS	5000	/* the bound */
#define AW_TIMEOUT_MS	6000	/* the waiters' own timeout, past the bound */

struct aw_waiter {
	int fd, epfd;
	bool use_epoll;
	volatile pid_t tid;
	int got;
	double t;
};

static void *aw_wait(void *arg)
{
	struct aw_waiter *w = arg;
	int n;

	w->tid = gettid();
	if (w->use_epoll) {
		struct epoll_event ev;

		n = epoll_wait(w->epfd, &ev, 1, AW_TIMEOUT_MS);
		w->got = n > 0 && (ev.events & EPOLLOUT);
	} else {
		struct pollfd pfd = { .fd = w->fd, .events = POLLOUT };

		n = poll(&pfd, 1, AW_TIMEOUT_MS);
		w->got = n > 0 && (pfd.revents & POLLOUT);
	}
	w->t = now();
	return NULL;
}

static int aw_case(int kind, uint8_t *buf)
{
	static const char *const how[] = {
		"finishing a half-done read", "DISCARDing a written header",
		"a failed write (EFAULT)",
	};
	struct sk l = { .fd = -1 }, hold = { .fd = -1 }, helper = { .fd = -1 }, s = { .fd = -1 };
	struct kbus_message_header ha = sk_hdr("$.AW.t", AW_DATA, KBUS_BIT_ALL_OR_WAIT);
	struct kbus_message_header hh = sk_hdr("$.AW.h", AW_HOLD, 0);
	uint32_t m = entire_len("$.AW.t", AW_DATA), v = 1000;
	struct aw_waiter w[2] = { { 0 }, { 0 } };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	struct prefill pf = { .send.fd = -1, .fine.fd = -1 };
	pthread_t th[2];
	struct kbus_msg_id id;
	int epfd = -1, r = 0, tries, i, reached = 0;
	bool pending = false;
	double t0;
	long n;

	for (i = 0; i < PF_COARSE; i++)
		pf.coarse[i].fd = -1;
	if ((r = sk_open(&l)) || (r = sk_u32(&l, KBUS_IOC_MAXMSGS, &v)) ||
	    (r = sk_bind(&l, "$.AW.t", false)) || (r = sk_open(&s)) ||
	    (r = sk_open(&hold))) {
		ssetup("open and bind: %s", strerror(-r));
		goto out;
	}
	/* the 128 KB another Ksock holds, to be given back later */
	if (kind == 0) {
		if ((r = sk_bind(&hold, "$.AW.h", false)) || (r = sk_open(&helper)) ||
		    (r = sk_post(&helper, buf, &hh, "$.AW.h", &id)) ||
		    (r = sk_u32(&hold, KBUS_IOC_NEXTMSG, &v)) ||
		    read(hold.fd, buf, 100) != 100) {
			ssetup("a half-done read of a 128 KB message: %s", strerror(-r));
			goto out;
		}
		sk_close(&helper);
	} else if (write(hold.fd, &hh, HDR_LEN) != (long)HDR_LEN) {
		ssetup("the header of a 128 KB message: %s", strerrorname_np(errno));
		goto out;
	}
	if (prefill(&pf, m + 2048, buf))
		goto out;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = s.fd;
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, s.fd, &ev)) {
		ssetup("epoll: %s", strerrorname_np(errno));
		goto out;
	}
	/* the sender's message must fit, its copy must not: adjust by 4 KB */
	for (tries = 0; tries < 40 && !pending; tries++) {
		r = sk_write(&s, buf, &ha, "$.AW.t");
		if (r == -ENOMEM) {
			prefill_pop(&pf, buf);
			continue;
		}
		if (r) {
			ssetup("writing the 32 KB message: %s", strerror(-r));
			goto out;
		}
		r = sk_send(&s, &id);
		if (r == -EAGAIN) {
			pending = true;
		} else if (r == 0) {
			sk_recv(&l, buf, 512 * 1024);
			prefill_push(&pf, buf);
			prefill_push(&pf, buf);
		} else {
			ssetup("SEND of the ALL_OR_WAIT message: %s", strerror(-r));
			goto out;
		}
	}
	if (!pending) {
		ssetup("the ALL_OR_WAIT send never went pending for want of bytes");
		goto out;
	}
	/* the epoll entry from before: looked at once while pending, not ready */
	if (epoll_wait(epfd, &ev, 1, 0) > 0 && (ev.events & EPOLLOUT)) {
		ssetup("the pending send resolved before any room was made");
		goto out;
	}
	reached = 1;
	w[0].epfd = epfd;
	w[0].use_epoll = true;
	w[1].fd = s.fd;
	for (i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, aw_wait, &w[i])) {
			ssetup("pthread_create");
			goto out;
		}
	t0 = now();
	while (now() - t0 < 3 && !(w[0].tid && w[1].tid && thread_sleeping(w[0].tid) &&
				   thread_sleeping(w[1].tid)))
		sleep_ms(5);
	sleep_ms(100);
	t0 = now();
	if (kind == 0) {
		n = read(hold.fd, buf, 512 * 1024);
		if (n != (long)(entire_len("$.AW.h", AW_HOLD) - 100))
			sbreach("finishing the half-done read: %ld", n);
	} else if (kind == 1) {
		if (ioctl(hold.fd, KBUS_IOC_DISCARD, 0))
			sbreach("DISCARD: %s", strerrorname_np(errno));
	} else {
		void *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		n = write(hold.fd, none, 16);
		if (n != -1 || errno != EFAULT)
			sbreach("a write from an unmapped page: %ld %s, not EFAULT", n,
				n < 0 ? strerrorname_np(errno) : "");
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++) {
		const char *what = i ? "poll() for POLLOUT" : "epoll (registered before the send went pending)";
		double ms = (w[i].t - t0) * 1e3;

		if (w[i].got && ms <= AW_WAIT_MS)
			snote("kbus%d: room made by %s: %s reported the sender writable after %.0f ms",
			      sc_dev, how[kind], what, ms);
		else
			sbreach("kbus%d: room made by %s: %s did not report the pending ALL_OR_WAIT sender writable within %d s%s",
				sc_dev, how[kind], what, AW_WAIT_MS / 1000,
				w[i].got ? " (only the re-check at its own timeout found the room: no wake-up came)" : "");
	}
	n = sk_recv(&l, buf, 512 * 1024);
	if ((w[0].got || w[1].got) && n != (long)m)
		snote("the listener has no copy of the message (%ld): the retry dropped it", n);
out:
	if (s.fd >= 0)
		ioctl(s.fd, KBUS_IOC_DISCARD, 0);
	if (epfd >= 0)
		close(epfd);
	sk_close(&s);
	sk_close(&l);
	sk_close(&hold);
	sk_close(&helper);
	prefill_close(&pf);
	return reached;
}

static void sc_allorwait(void)
{
	uint8_t *buf = big_buf();
	int kind, reached = 0, r, i, status;
	pid_t pids[3];

	if (!opt_unpriv) {
		r = param_write("kbus_max_device_bytes", 2UL << 20);
		if (r) {
			ssetup("kbus_max_device_bytes: %s", strerror(-r));
			free(buf);
			return;
		}
	}
	/*
	 * The three cases at once, one per device (a case whose wake-up does
	 * not come takes 6 s), if there are (or may be made) three devices;
	 * else one after another on kbus0.
	 */
	while (num_devices() < 3) {
		uint32_t idx;
		int fd = open("/dev/kbus0", O_RDWR | O_CLOEXEC);

		r = fd < 0 ? -1 : (int)ioctl(fd, KBUS_IOC_NEWDEVICE, &idx);
		if (fd >= 0)
			close(fd);
		if (r)
			break;
		for (i = 0; i < 100 && access("/dev/kbus2", F_OK) && num_devices() < 3; i++)
			sleep_ms(10);
	}
	if (num_devices() >= 3) {
		for (kind = 0; kind < 3; kind++) {
			pids[kind] = sc_fork();
			if (!pids[kind]) {
				sc_dev = kind;
				_exit(aw_case(kind, buf) ? 0 : 1);
			}
		}
		for (kind = 0; kind < 3; kind++) {
			waitpid(pids[kind], &status, 0);
			reached += WIFEXITED(status) && !WEXITSTATUS(status);
		}
	} else {
		for (kind = 0; kind < 3; kind++)
			reached += aw_case(kind, buf);
	}
	sactivity(reached == 3, "cases with the sender pending for want of bytes %d (min 3)",
		  reached);
	free(buf);
}

/* ---- the table and the runner ---- */

static const struct scenario {
	const char *name;
	void (*run)(void);
	bool params;		/* changes module parameters (unless --unpriv) */
	const char *what;
} scenarios[] = {
	{ "sendrace", sc_sendrace, true,
	  "48 listeners drained round-robin, 2 processes writing and DISCARDing 40 KB headers, a sender of 20 KB announcements, the byte budget at half a fan-out" },
	{ "sendrace-allor", sc_sendrace_allor, true,
	  "sendrace with ALL_OR_FAIL and ALL_OR_WAIT sends too: each reaches every listener or none" },
	{ "snapshot", sc_snapshot, true,
	  "REPORTREPLIERBINDS(1) toggled with MAXMSGS 0xFFFFFFFF and 1000 replier names of 900+ bytes: the kernel's memory stays bounded" },
	{ "ownedclose", sc_ownedclose, false,
	  "a replier owing N replies closes: exactly one $.KBUS.Replier.Ignored per request; the close is timed" },
	{ "netid", sc_netid, false,
	  "two requests with the same preserved id (network_id != 0) to one replier: each requester gets exactly one answer" },
	{ "allorwait", sc_allorwait, true,
	  "an ALL_OR_WAIT sender blocked by bytes is woken (epoll and poll) when a read, a DISCARD or a failed write makes room" },
};

#define NSCENARIOS	(sizeof(scenarios) / sizeof(scenarios[0]))

static void list_scenarios(FILE *f)
{
	size_t i;

	for (i = 0; i < NSCENARIOS; i++)
		fprintf(f, "%-15s %s%s\n", scenarios[i].name, scenarios[i].what,
			scenarios[i].params ? " (root, or --unpriv)" : "");
}

/* Runs opt_scenario; returns the failures, or -1 on bad usage. */
static int run_scenario(void)
{
	const struct scenario *sc = NULL;
	size_t i;

	for (i = 0; i < NSCENARIOS; i++)
		if (!strcmp(opt_scenario, scenarios[i].name))
			sc = &scenarios[i];
	if (!sc) {
		fprintf(stderr, "kbus-fuzz: no scenario %s; there are:\n", opt_scenario);
		list_scenarios(stderr);
		return -1;
	}
	if (sc->params && !opt_unpriv && !is_root) {
		fprintf(stderr, "kbus-fuzz: scenario %s changes module parameters: run it as root, or with --unpriv\n",
			sc->name);
		return -1;
	}
	scs = map_shared(sizeof(*scs));
	sc_name = sc->name;
	printf("kbus-fuzz: scenario %s%s: %s\n", sc->name,
	       opt_unpriv ? " (unprivileged: uid 65534, no module parameter changed)" : "",
	       sc->what);
	if (opt_unpriv) {
		int status, err;
		pid_t pid = sc_fork();

		if (!pid) {
			err = drop_privileges();
			if (err) {
				ssetup("dropping privileges: %s", strerror(-err));
				_exit(1);
			}
			snote("running as uid %u gid %u", (unsigned int)getuid(),
			      (unsigned int)getgid());
			sc->run();
			fflush(stdout);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "kbus-fuzz: the scenario's process ended with status %#x\n",
				status);
			ADD(scs->setup_failed, 1);
		}
	} else {
		sc->run();
	}
	params_restore();
	printf("kbus-fuzz: scenario %s: %d breach(es)%s%s\n", sc->name, scs->breaches,
	       scs->setup_failed ? ", could not be set up" : "",
	       scs->low_activity ? ", too little activity" : "");
	return scs->breaches + scs->setup_failed + scs->low_activity;
}
