// SPDX-License-Identifier: MIT
/*
 * kbus-policy: check and load a KBUS device's access policy.
 *
 *   kbus-policy [-b BUS] check FILE|DIR...   parse, report errors, load nothing
 *   kbus-policy [-b BUS] load FILE|DIR...    parse and load (root)
 *   kbus-policy [-b BUS] clear               remove the policy (root)
 *   kbus-policy show                         print /proc/kbus/policy (root)
 *
 * A DIR stands for its *.conf files in name order. The language, a line at a
 * time (# starts a comment):
 *
 *   default allow|deny
 *   allow|deny own|listen|send PATTERN [user NAME|UID | group NAME|GID]
 *
 * PATTERN is a message name or a wildcard ($.STB.Decoder.*, $.STB.%). See
 * docs/policy.md for what the rules mean and how a decision is made.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <kbus/linux/kbus_defns.h>

#include "common.h"

#define MAX_RULES KBUS_POLICY_MAX_RULES

struct rule {
	struct kbus_policy_rule hdr;
	char *name;
	const char *file;
	unsigned int line;
};

static struct rule *rules;
static unsigned int num_rules, cap_rules;
static int default_effect = KBUS_POLICY_ALLOW;
static int default_set;
static unsigned int errors;

static void error_at(const char *file, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errors++;
}

/* The KBUS name grammar (spec 3.1), wildcards allowed at the end. */
static const char *name_problem(const char *name)
{
	size_t len = strlen(name), i;

	if (len > KBUS_MAX_NAME_LEN)
		return "longer than 1000 bytes";
	if (len < 3 || name[0] != '$' || name[1] != '.')
		return "does not start with \"$.\"";
	if (len >= 2 && name[len - 2] == '.' &&
	    (name[len - 1] == '*' || name[len - 1] == '%'))
		len -= 2;
	if (len < 3)
		return len == 1 ? NULL : "has an empty part";
	if (name[len - 1] == '.')
		return "ends with a dot";
	for (i = 2; i < len; i++) {
		if (name[i] == '.') {
			if (name[i - 1] == '.')
				return "has an empty part";
		} else if (!((name[i] >= 'a' && name[i] <= 'z') ||
			     (name[i] >= 'A' && name[i] <= 'Z') ||
			     (name[i] >= '0' && name[i] <= '9'))) {
			return "has a character other than letters, digits and dots";
		}
	}
	return NULL;
}

static int parse_subject(const char *kind, const char *who, uint32_t *id)
{
	if (!parse_u32(who, 0, UINT32_MAX - 1, id))
		return 0;
	if (!strcmp(kind, "user")) {
		struct passwd *pw = getpwnam(who);

		if (pw) {
			*id = pw->pw_uid;
			return 0;
		}
	} else {
		struct group *gr = getgrnam(who);

		if (gr) {
			*id = gr->gr_gid;
			return 0;
		}
	}
	return -1;
}

static void add_rule(const struct kbus_policy_rule *hdr, const char *name,
		     const char *file, unsigned int line)
{
	struct rule *r;

	if (num_rules == MAX_RULES) {
		error_at(file, line, "more than %u rules", MAX_RULES);
		return;
	}
	if (num_rules == cap_rules) {
		cap_rules = cap_rules ? cap_rules * 2 : 64;
		rules = realloc(rules, cap_rules * sizeof(*rules));
		if (!rules) {
			perror("kbus-policy");
			exit(1);
		}
	}
	r = &rules[num_rules++];
	r->hdr = *hdr;
	r->name = strdup(name);
	r->file = file;
	r->line = line;
	if (!r->name) {
		perror("kbus-policy");
		exit(1);
	}
}

static void parse_line(char *text, const char *file, unsigned int line)
{
	char *words[8];
	unsigned int n = 0;
	char *save = NULL, *w;
	struct kbus_policy_rule hdr = { 0 };
	const char *problem;

	w = strchr(text, '#');
	if (w)
		*w = '\0';
	for (w = strtok_r(text, " \t\r\n", &save); w;
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 8) {
			error_at(file, line, "too many words");
			return;
		}
		words[n++] = w;
	}
	if (!n)
		return;
	if (!strcmp(words[0], "default")) {
		if (n != 2 || (strcmp(words[1], "allow") && strcmp(words[1], "deny"))) {
			error_at(file, line, "expected \"default allow\" or \"default deny\"");
			return;
		}
		if (default_set)
			error_at(file, line, "a second \"default\" line");
		default_set = 1;
		default_effect = strcmp(words[1], "allow") ? KBUS_POLICY_DENY :
							     KBUS_POLICY_ALLOW;
		return;
	}
	if (!strcmp(words[0], "allow")) {
		hdr.effect = KBUS_POLICY_ALLOW;
	} else if (!strcmp(words[0], "deny")) {
		hdr.effect = KBUS_POLICY_DENY;
	} else {
		error_at(file, line, "expected \"allow\", \"deny\" or \"default\", not \"%s\"",
			 words[0]);
		return;
	}
	if (n != 3 && n != 5) {
		error_at(file, line,
			 "expected \"%s own|listen|send PATTERN [user WHO|group WHO]\"",
			 words[0]);
		return;
	}
	if (!strcmp(words[1], "own")) {
		hdr.action = KBUS_POLICY_OWN;
	} else if (!strcmp(words[1], "listen")) {
		hdr.action = KBUS_POLICY_LISTEN;
	} else if (!strcmp(words[1], "send")) {
		hdr.action = KBUS_POLICY_SEND;
	} else {
		error_at(file, line, "unknown action \"%s\" (own, listen or send)",
			 words[1]);
		return;
	}
	problem = name_problem(words[2]);
	if (problem) {
		error_at(file, line, "name pattern \"%s\" %s", words[2], problem);
		return;
	}
	hdr.subject = KBUS_POLICY_EVERYONE;
	if (n == 5) {
		if (!strcmp(words[3], "user")) {
			hdr.subject = KBUS_POLICY_USER;
		} else if (!strcmp(words[3], "group")) {
			hdr.subject = KBUS_POLICY_GROUP;
		} else {
			error_at(file, line, "expected \"user\" or \"group\", not \"%s\"",
				 words[3]);
			return;
		}
		if (parse_subject(words[3], words[4], &hdr.id)) {
			error_at(file, line, "no %s \"%s\"", words[3], words[4]);
			return;
		}
	}
	hdr.name_len = strlen(words[2]);
	add_rule(&hdr, words[2], file, line);
}

static void parse_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0;
	unsigned int line = 0;
	char *file;

	if (!f) {
		fprintf(stderr, "kbus-policy: %s: %s\n", path, strerror(errno));
		errors++;
		return;
	}
	file = strdup(path);	/* rules point to it for their messages */
	if (!file) {
		perror("kbus-policy");
		exit(1);
	}
	while (getline(&text, &cap, f) >= 0)
		parse_line(text, file, ++line);
	free(text);
	fclose(f);
}

static int conf_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 5 &&
	       !strcmp(d->d_name + len - 5, ".conf");
}

static void parse_path(const char *path)
{
	struct dirent **list;
	int n, i;

	n = scandir(path, &list, conf_file, alphasort);
	if (n < 0) {
		if (errno == ENOTDIR) {
			parse_file(path);
			return;
		}
		fprintf(stderr, "kbus-policy: %s: %s\n", path, strerror(errno));
		errors++;
		return;
	}
	for (i = 0; i < n; i++) {
		char *full;

		if (asprintf(&full, "%s/%s", path, list[i]->d_name) < 0) {
			perror("kbus-policy");
			exit(1);
		}
		parse_file(full);
		free(full);
		free(list[i]);
	}
	free(list);
}

/* The rules as SETPOLICY takes them; *size gets their length. */
static uint8_t *pack_rules(uint32_t *size)
{
	size_t total = 0, off = 0;
	unsigned int i;
	uint8_t *blob;

	for (i = 0; i < num_rules; i++)
		total += sizeof(struct kbus_policy_rule) +
			 ((rules[i].hdr.name_len + 3) & ~3U);
	blob = calloc(1, total ? total : 1);
	if (!blob) {
		perror("kbus-policy");
		exit(1);
	}
	for (i = 0; i < num_rules; i++) {
		memcpy(blob + off, &rules[i].hdr, sizeof(rules[i].hdr));
		off += sizeof(rules[i].hdr);
		memcpy(blob + off, rules[i].name, rules[i].hdr.name_len);
		off += (rules[i].hdr.name_len + 3) & ~3U;
	}
	*size = (uint32_t)total;
	return blob;
}

static int set_policy(unsigned int bus, int effect, const uint8_t *blob,
		      uint32_t size, unsigned int count)
{
	struct kbus_policy pol = {
		.magic = KBUS_POLICY_MAGIC,
		.version = KBUS_POLICY_VERSION,
		.default_effect = effect,
		.num_rules = count,
		.size = size,
		.rules = (uintptr_t)blob,
	};
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/kbus%u", bus);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kbus-policy: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (ioctl(fd, KBUS_IOC_SETPOLICY, &pol) < 0) {
		fprintf(stderr, "kbus-policy: SETPOLICY on %s: %s\n", path,
			strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static int show(void)
{
	FILE *f = fopen("/proc/kbus/policy", "r");
	char buf[4096];
	size_t n;

	if (!f) {
		fprintf(stderr, "kbus-policy: /proc/kbus/policy: %s\n", strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (fwrite(buf, 1, n, stdout) != n) {
			fclose(f);
			return 1;
		}
	fclose(f);
	return fflush(stdout) ? 1 : 0;
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: kbus-policy [-b BUS] check FILE|DIR...\n"
		"       kbus-policy [-b BUS] load FILE|DIR...\n"
		"       kbus-policy [-b BUS] clear\n"
		"       kbus-policy show\n"
		"A DIR stands for its *.conf files in name order. Lines:\n"
		"  default allow|deny\n"
		"  allow|deny own|listen|send PATTERN [user NAME|UID | group NAME|GID]\n"
		"Exit status: 0 done, 1 failed, 2 usage, 3 errors in the files.\n");
}

int main(int argc, char **argv)
{
	unsigned int bus = 0;
	const char *cmd;
	uint32_t size;
	uint8_t *blob;
	int i = 1, ret;

	if (i + 1 < argc && !strcmp(argv[i], "-b")) {
		uint32_t b;

		if (parse_u32(argv[i + 1], 0, 255, &b)) {
			usage(stderr);
			return 2;
		}
		bus = b;
		i += 2;
	}
	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	if (!strcmp(cmd, "show"))
		return i == argc ? show() : (usage(stderr), 2);
	if (!strcmp(cmd, "clear"))
		return i == argc ? set_policy(bus, KBUS_POLICY_ALLOW, NULL, 0, 0) :
				   (usage(stderr), 2);
	if ((strcmp(cmd, "check") && strcmp(cmd, "load")) || i == argc) {
		usage(stderr);
		return 2;
	}
	for (; i < argc; i++)
		parse_path(argv[i]);
	if (errors) {
		fprintf(stderr, "kbus-policy: %u error%s, nothing loaded\n", errors,
			errors == 1 ? "" : "s");
		return 3;
	}
	if (!strcmp(cmd, "check")) {
		printf("kbus-policy: %u rule%s, default %s\n", num_rules,
		       num_rules == 1 ? "" : "s",
		       default_effect == KBUS_POLICY_ALLOW ? "allow" : "deny");
		return 0;
	}
	blob = pack_rules(&size);
	ret = set_policy(bus, default_effect, blob, size, num_rules);
	free(blob);
	return ret;
}
