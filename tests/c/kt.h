/* SPDX-License-Identifier: MIT */
/*
 * kt: a tiny self-contained test harness for the libkbus C tests (C and C++).
 *
 * A test is a function `static void name(void)` listed in a KT_TEST table;
 * the KT_* check macros record a failure and return from the test. kt_main()
 * runs the tests (all, or those whose name contains one of the command-line
 * arguments), prints one line per test:
 *     PASS name
 *       file:line: what went wrong
 *     FAIL name
 *     SKIP name (no /dev/kbus0)
 * and finally exactly `N passed, N failed`; it exits non-zero if any test
 * failed. Tests marked as needing the device are skipped when /dev/kbus0 does
 * not exist, unless KBUS_TEST_REQUIRE_DEVICE is set in the environment (then
 * they fail). Each test runs under a 30 s alarm. Ksocks opened with kt_open()
 * are closed after the test, and the device-wide settings of /dev/kbus0
 * (replier-bind reporting, verbose, maximum message size) are restored.
 */
#ifndef KT_H
#define KT_H

#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <kbus/kbus.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*kt_fn)(void);

struct kt_test {
	const char *name;
	kt_fn fn;
	int needs_device;
};

#define KT_TEST(fn) { #fn, fn, 0 }
#define KT_DEVICE_TEST(fn) { #fn, fn, 1 }

#define KT_MAX_KSOCKS 64

static int kt_failed_now;
static const char *kt_current;
static kbus_ksock_t kt_ksocks[KT_MAX_KSOCKS];
static int kt_nksocks;

static inline void kt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void kt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (kt_failed_now)
		return;
	kt_failed_now = 1;
	printf("  %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define KT_CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			kt_fail(__FILE__, __LINE__, "%s", #cond);		\
			return;							\
		}								\
	} while (0)

#define KT_CMP(a, op, b)							\
	do {									\
		long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);	\
		if (!(kt_a_ op kt_b_)) {					\
			kt_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)",	\
				#a, #op, #b, kt_a_, kt_b_);			\
			return;							\
		}								\
	} while (0)

#define KT_EQ(a, b) KT_CMP(a, ==, b)

/* An errno result: KT_ERR(call, -EINVAL). */
#define KT_ERR(expr, err)							\
	do {									\
		long long kt_r_ = (long long)(expr);				\
		if (kt_r_ != (long long)(err)) {				\
			kt_fail(__FILE__, __LINE__, "%s gave %lld (%s), not %s",\
				#expr, kt_r_, kt_r_ < 0 ? strerror((int)-kt_r_) : "-",	\
				#err);						\
			return;							\
		}								\
	} while (0)

#define KT_OK(expr) KT_ERR(expr, 0)

#define KT_STREQ(a, b)								\
	do {									\
		const char *kt_s1_ = (a), *kt_s2_ = (b);			\
		if (!kt_s1_ || !kt_s2_ || strcmp(kt_s1_, kt_s2_) != 0) {	\
			kt_fail(__FILE__, __LINE__, "%s is \"%s\", not \"%s\"",	\
				#a, kt_s1_ ? kt_s1_ : "(null)",			\
				kt_s2_ ? kt_s2_ : "(null)");			\
			return;							\
		}								\
	} while (0)

/* Open /dev/kbusN for the test; closed after the test. Fails the test
 * (returning -1 to the caller) if it cannot. */
static inline kbus_ksock_t kt_open_dev(uint32_t dev, int flags)
{
	kbus_ksock_t k = kbus_ksock_open(dev, flags);

	if (k < 0) {
		kt_fail(__FILE__, __LINE__, "cannot open /dev/kbus%u: %s", (unsigned int)dev,
			strerror(-k));
		return -1;
	}
	if (kt_nksocks < KT_MAX_KSOCKS)
		kt_ksocks[kt_nksocks++] = k;
	return k;
}

static inline kbus_ksock_t kt_open(int flags)
{
	return kt_open_dev(0, flags);
}

/* Close a Ksock opened with kt_open() (so that cleanup leaves it alone). */
static inline int kt_close(kbus_ksock_t k)
{
	int i;

	for (i = 0; i < kt_nksocks; i++)
		if (kt_ksocks[i] == k)
			kt_ksocks[i] = -1;
	return kbus_ksock_close(k);
}

#define KT_OPEN(var, flags)							\
	do {									\
		(var) = kt_open(flags);						\
		if ((var) < 0)							\
			return;							\
	} while (0)

/* The one-line summary of a message, malloc()ed. */
static inline char *kt_print(const kbus_message_t *msg, unsigned int flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	kbus_msg_print2(f, msg, flags);
	fclose(f);
	return buf;
}

#define KT_PRINTS(msg, flags, expected)						\
	do {									\
		char *kt_p_ = kt_print(msg, flags);				\
		int kt_same_ = kt_p_ && strcmp(kt_p_, expected) == 0;		\
		if (!kt_same_) {						\
			kt_fail(__FILE__, __LINE__, "printed\n    %s\n  not\n    %s",\
				kt_p_ ? kt_p_ : "(null)", expected);		\
			free(kt_p_);						\
			return;							\
		}								\
		free(kt_p_);							\
	} while (0)

static uint32_t kt_saved_max_size;

static inline void kt_device_cleanup(void)
{
	kbus_ksock_t k;
	int i;

	for (i = 0; i < kt_nksocks; i++)
		if (kt_ksocks[i] >= 0)
			kbus_ksock_close(kt_ksocks[i]);
	kt_nksocks = 0;
	k = kbus_ksock_open(0, O_RDONLY);
	if (k < 0)
		return;
	kbus_ksock_report_replier_binds(k, 0);
	kbus_ksock_kernel_module_verbose(k, 0);
	if (kt_saved_max_size) {
		uint32_t size = kt_saved_max_size;

		kbus_ksock_max_message_size(k, &size);
	}
	kbus_ksock_close(k);
}

static inline void kt_on_alarm(int sig)
{
	static const char msg[] = ": timed out (30 s)\n";

	(void)sig;
	if (write(1, "FAIL ", 5) < 0 || write(1, kt_current, strlen(kt_current)) < 0 ||
	    write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

static inline int kt_selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return 1;
	for (i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

static inline int kt_main(int argc, char **argv, const struct kt_test *tests, size_t ntests)
{
	struct stat st;
	int have_device = stat("/dev/kbus0", &st) == 0;
	int require = getenv("KBUS_TEST_REQUIRE_DEVICE") != NULL;
	int passed = 0, failed = 0, skipped = 0;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < ntests; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	if (have_device) {
		kbus_ksock_t k = kbus_ksock_open(0, O_RDONLY);

		if (k >= 0) {
			kbus_ksock_max_message_size(k, &kt_saved_max_size);
			kbus_ksock_close(k);
		}
	}
	for (i = 0; i < ntests; i++) {
		const struct kt_test *t = &tests[i];

		if (!kt_selected(t->name, argc, argv))
			continue;
		if (t->needs_device && !have_device) {
			if (require) {
				printf("FAIL %s: no /dev/kbus0\n", t->name);
				failed++;
			} else {
				printf("SKIP %s (no /dev/kbus0)\n", t->name);
				skipped++;
			}
			continue;
		}
		kt_failed_now = 0;
		kt_current = t->name;
		signal(SIGALRM, kt_on_alarm);
		alarm(30);
		t->fn();
		alarm(0);
		if (t->needs_device)
			kt_device_cleanup();
		if (kt_failed_now) {
			printf("FAIL %s\n", t->name);
			failed++;
		} else {
			printf("PASS %s\n", t->name);
			passed++;
		}
	}
	if (skipped)
		printf("# %d skipped: no /dev/kbus0 (load kbus.ko)\n", skipped);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* KT_H */
