/*
 * phys: the machine's own limits, measured in the same run as the brokers,
 * so that every figure of the suite can be read as a fraction of them.
 *
 *   phys write DIR MB       sequential 1 MiB writes of MB megabytes into a
 *                           new file in DIR: buffered (no fdatasync until
 *                           the end, which is timed too), then with an
 *                           fdatasync after every MiB
 *   phys fsync DIR N        N appends of 200 bytes, each followed by
 *                           fdatasync (what a segment of a log does)
 *   phys pingpong PORT N    N round trips of 100 bytes over loopback TCP
 *                           (TCP_NODELAY) between two processes
 *
 * Each prints one JSON line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../kafka/loadgen.h"

static void
pcts(const char *name, lat_t *l)
{
	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	printf("\"%s_n\":%zu,\"%s_p50_us\":%.1f,\"%s_p99_us\":%.1f,\"%s_p999_us\":%.1f,\"%s_max_us\":%.1f",
		   name, l->n, name, lat_pct(l, 50), name, lat_pct(l, 99), name, lat_pct(l, 99.9),
		   name, lat_pct(l, 100));
}

static double
write_file(const char *path, long mb, int sync_each)
{
	static char buf[1 << 20];
	int			fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	uint64_t	t0;

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	memset(buf, 'x', sizeof(buf));
	t0 = now_ns();
	for (long i = 0; i < mb; i++)
	{
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			die("write: %s", strerror(errno));
		if (sync_each && fdatasync(fd))
			die("fdatasync: %s", strerror(errno));
	}
	if (sync_each < 0 || sync_each)
		fdatasync(fd);
	double		s = (now_ns() - t0) / 1e9;

	if (!sync_each)
	{
		/* the buffered rate, then what the final flush adds */
		uint64_t	t1 = now_ns();

		fdatasync(fd);
		printf("\"write_flush_s\":%.3f,", (now_ns() - t1) / 1e9);
	}
	close(fd);
	unlink(path);
	return mb * 1048576.0 / 1e6 / s;
}

static int
cmd_write(const char *dir, long mb)
{
	char		path[4096];

	snprintf(path, sizeof(path), "%s/phys-write.dat", dir);
	printf("{\"mode\":\"write\",\"mb\":%ld,", mb);
	double		buffered = write_file(path, mb, 0);
	double		synced = write_file(path, mb / 4 > 64 ? mb / 4 : mb, 1);

	printf("\"buffered_mb_per_s\":%.1f,\"fdatasync_each_mib_mb_per_s\":%.1f}\n", buffered, synced);
	return 0;
}

static int
cmd_fsync(const char *dir, long n)
{
	char		path[4096],
				buf[200];
	lat_t		l = {0};
	int			fd;

	snprintf(path, sizeof(path), "%s/phys-fsync.dat", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0600);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	memset(buf, 'y', sizeof(buf));
	for (long i = 0; i < n; i++)
	{
		uint64_t	t0 = now_ns();

		if (write(fd, buf, sizeof(buf)) != sizeof(buf) || fdatasync(fd))
			die("write/fdatasync: %s", strerror(errno));
		lat_add(&l, now_ns() - t0);
	}
	close(fd);
	unlink(path);
	printf("{\"mode\":\"fsync\",");
	pcts("append_fdatasync", &l);
	printf("}\n");
	return 0;
}

static void
xfer(int fd, char *buf, int n, int rd)
{
	int			done = 0;

	while (done < n)
	{
		ssize_t		k = rd ? read(fd, buf + done, n - done) : write(fd, buf + done, n - done);

		if (k <= 0)
			exit(rd ? 0 : 1);
		done += k;
	}
}

static int
cmd_pingpong(int port, long n)
{
	int			ls = socket(AF_INET, SOCK_STREAM, 0),
				one = 1,
				fd;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	char		buf[100] = {0};
	lat_t		l = {0};
	pid_t		child;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *) &a, sizeof(a)) || listen(ls, 1))
		die("bind/listen %d: %s", port, strerror(errno));
	child = fork();
	if (child == 0)
	{
		int			c = accept(ls, NULL, NULL);

		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (;;)
		{
			xfer(c, buf, sizeof(buf), 1);
			xfer(c, buf, sizeof(buf), 0);
		}
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *) &a, sizeof(a)))
		die("connect: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (long i = -1000; i < n; i++)
	{
		uint64_t	t0 = now_ns();

		xfer(fd, buf, sizeof(buf), 0);
		xfer(fd, buf, sizeof(buf), 1);
		if (i >= 0)
			lat_add(&l, now_ns() - t0);
	}
	close(fd);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	printf("{\"mode\":\"pingpong\",");
	pcts("tcp_rtt", &l);
	printf("}\n");
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "fsync") == 0)
		return cmd_fsync(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "pingpong") == 0)
		return cmd_pingpong(atoi(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: phys write DIR MB | fsync DIR N | pingpong PORT N\n");
	return 2;
}
