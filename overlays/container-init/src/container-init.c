/*
 * container-init, compiled: the first process of every ephemeral-builder container, with the
 * connection on stdin/stdout. It does what files/usr/lib/ephemeral-builder/container-init (the
 * shell form, kept for images of another architecture than the build machine's) does: fills the
 * tmpfs home from its template as `cp -a TEMPLATE/. HOME/` would, makes sshd's privilege separation
 * directory when the host's spawn did not mount one, and execs `sshd -i -e`; with --exec CMD...,
 * it runs CMD instead (debug shells).
 *
 * Why compiled: this runs on every connection, before sshd's banner. The shell form costs a dash
 * and a cp process, about 7 ms of each connection on the VMs we measure on (bench/README.md);
 * this is one exec. It is linked statically (static-pie) because it is built on the build machine
 * but runs on the image's C library, which may be older.
 *
 * Copies directories, regular files and symbolic links with their owner, mode and times, as cp -a
 * does; any other file type is an error (the verify stage's special-files rule keeps devices,
 * sockets and FIFOs out of an image). Hard links become separate copies.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUILDER_ENV "/usr/lib/ephemeral-builder/builder.env"

static void die(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	fputs("container-init: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	exit(1);
}

/* BUILDER_USER from the settings the container-init overlay wrote (the shell form sources them). */
static void builder_user(char *out, size_t size)
{
	char line[512];
	FILE *f = fopen(BUILDER_ENV, "re");

	if (!f)
		die("cannot read %s", BUILDER_ENV);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "BUILDER_USER=", 13) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (snprintf(out, size, "%s", line + 13) >= (int)size || !out[0] || strchr(out, '/'))
			break;
		fclose(f);
		return;
	}
	fclose(f);
	errno = 0;
	die("%s has no usable BUILDER_USER line", BUILDER_ENV);
}

/* Owner first: chown clears the set-id bits that chmod then sets. Times last. */
static void copy_attributes(int fd, const struct stat *st, const char *what)
{
	const struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fchown(fd, st->st_uid, st->st_gid) || fchmod(fd, st->st_mode & 07777) || futimens(fd, times))
		die("cannot set owner, mode or times of %s", what);
}

static void copy_file(int from_dir, int to_dir, const char *name, const struct stat *st, const char *what)
{
	char buf[65536];
	ssize_t n;
	int in = openat(from_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (in < 0 || out < 0)
		die("cannot copy %s", what);
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("cannot read %s", what);
		}
		for (char *p = buf; n > 0;) {
			ssize_t w = write(out, p, (size_t)n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("cannot write %s", what); /* ENOSPC: the template is larger than the home */
			}
			p += w;
			n -= w;
		}
	}
	copy_attributes(out, st, what);
	close(in);
	close(out);
}

/* Copies the entries of from_dir into to_dir, then gives to_dir the attributes of from_dir. */
static void copy_tree(int from_dir, int to_dir, const char *path)
{
	struct stat dir_st;
	struct dirent *e;
	int list_fd = dup(from_dir);
	DIR *d = list_fd < 0 ? NULL : fdopendir(list_fd);

	if (!d || fstat(from_dir, &dir_st))
		die("cannot read directory %s", path);
	while ((errno = 0, e = readdir(d))) {
		char what[PATH_MAX];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(what, sizeof what, "%s/%s", path, e->d_name) >= (int)sizeof what) {
			errno = ENAMETOOLONG;
			die("cannot copy %s", path);
		}
		if (fstatat(from_dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			die("cannot stat %s", what);
		if (S_ISREG(st.st_mode)) {
			copy_file(from_dir, to_dir, e->d_name, &st, what);
		} else if (S_ISDIR(st.st_mode)) {
			int sub_from, sub_to;

			if (mkdirat(to_dir, e->d_name, 0700))
				die("cannot create %s", what);
			sub_from = openat(from_dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			sub_to = openat(to_dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub_from < 0 || sub_to < 0)
				die("cannot open %s", what);
			copy_tree(sub_from, sub_to, what);
			close(sub_from);
			close(sub_to);
		} else if (S_ISLNK(st.st_mode)) {
			const struct timespec times[2] = { st.st_atim, st.st_mtim };
			char target[PATH_MAX];
			ssize_t len = readlinkat(from_dir, e->d_name, target, sizeof target - 1);

			if (len < 0)
				die("cannot read link %s", what);
			target[len] = '\0';
			if (symlinkat(target, to_dir, e->d_name))
				die("cannot create %s", what);
			/* A link has no mode of its own. */
			if (fchownat(to_dir, e->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) ||
			    utimensat(to_dir, e->d_name, times, AT_SYMLINK_NOFOLLOW))
				die("cannot set owner or times of %s", what);
		} else {
			errno = 0;
			die("%s is not a file, a directory or a symbolic link: a home template cannot hold it", what);
		}
	}
	if (errno)
		die("cannot read directory %s", path);
	copy_attributes(to_dir, &dir_st, path);
	closedir(d);
}

int main(int argc, char **argv)
{
	char user[256], home[PATH_MAX], template[PATH_MAX];
	int from, to;

	builder_user(user, sizeof user);
	snprintf(home, sizeof home, "/home/%s", user);
	snprintf(template, sizeof template, "/home/%s.template", user);
	from = open(template, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	to = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (from < 0 || to < 0)
		die("cannot open %s or %s", template, home);
	copy_tree(from, to, template);
	close(from);
	close(to);
	if (mkdir("/run/sshd", 0755) && errno != EEXIST)
		die("cannot create /run/sshd");

	if (argc > 1 && !strcmp(argv[1], "--exec")) {
		if (argc < 3) {
			errno = 0;
			die("--exec needs a command");
		}
		execvp(argv[2], argv + 2);
		die("cannot run %s", argv[2]);
	}
	/* -e: log to stderr, which the host's service sends to its journal (there is no syslog here). */
	execv("/usr/sbin/sshd", (char *[]){ "/usr/sbin/sshd", "-i", "-e", NULL });
	die("cannot run /usr/sbin/sshd");
}
