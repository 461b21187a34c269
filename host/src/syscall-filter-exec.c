/*
 * @NAME@ syscall-filter-exec: the fast path of `syscall-filter exec`, compiled. spawn runs it on
 * every connection: it loads the filter chain stored by `@NAME@ctl refresh-filter` into itself and
 * execs systemd-nspawn with SYSTEMD_SECCOMP=0, as the Perl helper does, without starting perl
 * (perl's start-up and compiling the helper cost about 6 ms of every connection; this costs the
 * exec of a small binary).
 *
 * Usage: syscall-filter-exec FILTER PROGRAM [ARG...]   (spawn; PROGRAM is systemd-nspawn)
 *
 * It only ever takes the fast path when the stored chain is certainly usable: root's alone, the
 * header the Perl helper would write now, byte for byte (this machine and kernel, this
 * systemd-nspawn, the libraries it loaded when the chain was stored as they are now, these
 * EB_NSPAWN_EXTRA_OPTIONS), and well formed. Anything else (missing, stale, damaged, a filter the kernel
 * refuses) hands over to the Perl helper next to it, `syscall-filter exec FILTER PROGRAM...`, which
 * says why, stores a stale chain again, or lets nspawn compile its own filter. So this file needs
 * no messages of its own, and where it and the Perl helper could ever disagree, the Perl helper
 * decides. The file format is the Perl helper's (see write_chain there).
 */
#define _GNU_SOURCE /* strchrnul, memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAGIC "ebsf2"
#define NSPAWN "systemd-nspawn"
/* The stored chain of nspawn 257 is about 12 KiB; anything this large is not one of ours. */
#define MAX_FILE (1024 * 1024)
#define MAX_INSNS 4096

static unsigned char file[MAX_FILE + 1];
static char header[8192];

/* Hands over to the Perl helper: `perl DIR/syscall-filter exec FILTER PROGRAM [ARG...]`. */
static void perl_helper(char **argv, int argc) {
	const char *self = argv[0], *slash = strrchr(self, '/');
	size_t dir = slash ? (size_t)(slash - self + 1) : 0;
	char *helper = malloc(dir + sizeof "syscall-filter");
	char **args = calloc((size_t)argc + 3, sizeof *args);
	if (!helper || !args) _exit(1);
	memcpy(helper, self, dir);
	memcpy(helper + dir, "syscall-filter", sizeof "syscall-filter");
	args[0] = "perl";
	args[1] = helper;
	args[2] = "exec";
	for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
	execvp("perl", args);
	fprintf(stderr, "@NAME@ syscall-filter-exec: cannot run perl: %s\n", strerror(errno));
	_exit(1);
}

/* The Perl helper's ident(): "dev:ino:size:mtime:ctime" of a file, "-" when it is missing. */
static int ident(char *out, size_t size, const char *path) {
	struct stat st;
	if (stat(path, &st) != 0) return snprintf(out, size, "-");
	return snprintf(out, size, "%llu:%llu:%lld:%lld:%lld", (unsigned long long)st.st_dev,
			(unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtime,
			(long long)st.st_ctime);
}

/* The Perl helper's in_path(): the first executable PROGRAM in PATH, else PROGRAM itself. */
static int nspawn_ident(char *out, size_t size) {
	const char *path = getenv("PATH");
	char candidate[4096];
	if (!path) path = "/usr/sbin:/usr/bin:/sbin:/bin";
	for (const char *dir = path;; dir++) {
		const char *end = strchrnul(dir, ':');
		int n = snprintf(candidate, sizeof candidate, "%.*s/" NSPAWN, (int)(end - dir), dir);
		if (n > 0 && (size_t)n < sizeof candidate && access(candidate, X_OK) == 0) return ident(out, size, candidate);
		if (!*end) break;
		dir = end;
	}
	return ident(out, size, NSPAWN);
}

/* Appends to the header; false when it would not fit. */
static int append(size_t *len, int n) {
	if (n < 0 || (size_t)n >= sizeof header - *len) return 0;
	*len += (size_t)n;
	return 1;
}

/* The header the Perl helper writes: magic, the machine and kernel, nspawn's identity, each
 * library the stored header (the first `stored` bytes of the file) names with its identity now,
 * the extra options' words in hex. Its length, or 0. */
static size_t expected_header(size_t stored) {
	const char *options = getenv("EB_NSPAWN_EXTRA_OPTIONS");
	const char *hex = "0123456789abcdef";
	const char *line = (const char *)file, *end = memchr(file, '\n', stored);
	struct utsname u;
	size_t len = 0;
	int first = 1;
	if (!end || uname(&u) != 0) return 0;
	if (!append(&len, snprintf(header, sizeof header, MAGIC " arch=%s kernel=%s nspawn=", u.machine, u.release))) return 0;
	if (!append(&len, nspawn_ident(header + len, sizeof header - len))) return 0;
	/* The Perl helper's / lib=([^\s\@]+)\@/g: each " lib=PATH@" of the stored line, in order. */
	for (const char *p = line; (p = memmem(p, (size_t)(end - p), " lib=", 5)) != NULL;) {
		const char *path = p + 5, *q = path;
		char name[4096];
		while (q < end && *q != '@' && *q != ' ' && !(*q >= '\t' && *q <= '\r')) q++;
		p = q;
		if (q == end || *q != '@' || q == path || (size_t)(q - path) >= sizeof name) continue;
		memcpy(name, path, (size_t)(q - path));
		name[q - path] = 0;
		if (!append(&len, snprintf(header + len, sizeof header - len, " lib=%s@", name))) return 0;
		if (!append(&len, ident(header + len, sizeof header - len, name))) return 0;
	}
	if (!append(&len, snprintf(header + len, sizeof header - len, " options="))) return 0;
	/* join(' ', split(' ', $options)): the words, one space between them. */
	for (const unsigned char *p = (const unsigned char *)(options ? options : ""); *p;) {
		while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
		if (!*p) break;
		if (!first) {
			if (len + 3 >= sizeof header) return 0;
			header[len++] = '2', header[len++] = '0';
		}
		first = 0;
		for (; *p && !(*p == ' ' || (*p >= '\t' && *p <= '\r')); p++) {
			if (len + 3 >= sizeof header) return 0;
			header[len++] = hex[*p >> 4], header[len++] = hex[*p & 15];
		}
	}
	if (len + 2 >= sizeof header) return 0;
	header[len++] = '\n';
	header[len] = 0;
	return len;
}

/* Reads FILTER if root's alone (as the Perl helper requires); its length, or -1. */
static ssize_t read_filter(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t len = 0, n;
	if (fd < 0) return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) {
		close(fd);
		return -1;
	}
	while (len <= MAX_FILE && (n = read(fd, file + len, (size_t)(MAX_FILE + 1 - len))) > 0) len += n;
	close(fd);
	return n < 0 || len > MAX_FILE ? -1 : len;
}

/* The instruction count of the filter at pos (32 bits, big-endian). */
static uint32_t count_at(size_t pos) {
	uint32_t n;
	memcpy(&n, file + pos, 4);
	return ntohl(n);
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: syscall-filter-exec FILTER PROGRAM [ARG...]\n");
		return 1;
	}
	ssize_t len = read_filter(argv[1]);
	size_t head = len > 0 ? expected_header((size_t)len) : 0;
	if (len < 0 || head == 0 || (size_t)len <= head || memcmp(file, header, head) != 0) perl_helper(argv, argc);

	/* The chain: per filter its instruction count, then its instructions. Checked whole before
	 * any filter is loaded; len > head above means it holds at least one. */
	for (size_t pos = head; pos < (size_t)len; pos += 4 + (size_t)count_at(pos) * 8) {
		uint32_t n = pos + 4 <= (size_t)len ? count_at(pos) : 0;
		if (n < 1 || n > MAX_INSNS || pos + 4 + (size_t)n * 8 > (size_t)len) perl_helper(argv, argc);
	}

	/* Oldest first, as they were loaded into the container nspawn started: the order decides
	 * between two filters that give the same action with different errno values. A filter the
	 * kernel refuses sends us to the Perl helper, which says so; filters already loaded stay
	 * (they only refuse more). */
	for (size_t pos = head; pos < (size_t)len; pos += 4 + (size_t)count_at(pos) * 8) {
		struct sock_fprog prog = { .len = (unsigned short)count_at(pos), .filter = (struct sock_filter *)(void *)(file + pos + 4) };
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) perl_helper(argv, argc);
	}
	if (setenv("SYSTEMD_SECCOMP", "0", 1) != 0) perl_helper(argv, argc);
	execvp(argv[2], argv + 2);
	fprintf(stderr, "@NAME@ syscall-filter-exec: cannot run %s: %s\n", argv[2], strerror(errno));
	return 1;
}
