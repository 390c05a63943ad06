/*
 * batchbench: the batch scenario of bench/send/run.sh, and an fsync probe.
 *
 *   batchbench -d CONNINFO -m MODE -n RECORDS -t SECONDS -o LATFILE
 *   batchbench -m fsync-probe -t SECONDS -D DIR
 *
 * Modes (each iteration is one autocommit transaction of RECORDS records,
 * 16-byte key and 100-byte value, the payload every scenario uses):
 *
 *   copy        COPY bench_t (k, v) FROM STDIN, text format, the rows built
 *               once in the client and sent in one CopyData message
 *   send_batch  SELECT count(*) FROM nagare.send_batch('bench', $1::text[],
 *               $2::text[]) as a prepared statement; the two arrays are built
 *               once in the client as text array literals, so the server
 *               parses its input as COPY does
 *   send_batch_agg
 *               the arrays are built by the server in the same statement
 *               (array_agg over generate_series): no input to parse, but the
 *               aggregation is part of the measured cost
 *   send_batch_binary
 *               as send_batch, with the arrays sent in binary format
 *               (array_recv: no text parsing)
 *   copy_binary COPY bench_t (k, v) FROM STDIN (FORMAT binary)
 *
 * Every iteration's end time and latency are written to LATFILE as
 * "end_epoch_us latency_us" lines; the summary "iterations seconds" goes to
 * stdout.  Times come from clock_gettime(CLOCK_MONOTONIC) (latency) and
 * CLOCK_REALTIME (end time, to line up with /proc samples).
 *
 * fsync-probe measures the filesystem floor of the two ways to make a small
 * write durable, each for SECONDS/3:
 *   append     write 200 bytes at the end of a growing file + fdatasync
 *              (a nagare segment: the file size changes, so the journal
 *              must commit too)
 *   overwrite  write 200 bytes into a file that was zero-filled and fsynced
 *              beforehand + fdatasync (a PostgreSQL WAL segment)
 *   fallocate  the same into space reserved with fallocate() but never
 *              written (unwritten extents: converting them is a metadata
 *              change, like append)
 * and prints one line per method: "method count p50_us p99_us".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define KEY_LEN 16
#define VALUE_LEN 100

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long
now_epoch_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
die(const char *what, PGconn *conn, PGresult *res)
{
	fprintf(stderr, "batchbench: %s: %s", what,
			res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	exit(1);
}

static void
key_of(char *out, long i)
{
	snprintf(out, KEY_LEN + 1, "%016ld", i);
}

static char value[VALUE_LEN + 1];

/* COPY text rows "key\tvalue\n" */
static char *
build_copy(int n, size_t *len)
{
	size_t		rowlen = KEY_LEN + 1 + VALUE_LEN + 1;
	char	   *buf = malloc(rowlen * n + 1);
	char	   *p = buf;

	for (int i = 0; i < n; i++)
	{
		key_of(p, i + 1);
		p += KEY_LEN;
		*p++ = '\t';
		memcpy(p, value, VALUE_LEN);
		p += VALUE_LEN;
		*p++ = '\n';
	}
	*len = p - buf;
	return buf;
}

static char *
put32(char *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
	return p + 4;
}

/* COPY binary: signature, flags, extension, tuples of 2 fields, trailer */
static char *
build_copy_binary(int n, size_t *len)
{
	char	   *buf = malloc(19 + (size_t) n * (2 + 4 + KEY_LEN + 4 + VALUE_LEN) + 2);
	char	   *p = buf;
	char		key[KEY_LEN + 1];

	memcpy(p, "PGCOPY\n\377\r\n\0", 11);
	p += 11;
	p = put32(p, 0);
	p = put32(p, 0);
	for (int i = 0; i < n; i++)
	{
		*p++ = 0;
		*p++ = 2;
		key_of(key, i + 1);
		p = put32(p, KEY_LEN);
		memcpy(p, key, KEY_LEN);
		p += KEY_LEN;
		p = put32(p, VALUE_LEN);
		memcpy(p, value, VALUE_LEN);
		p += VALUE_LEN;
	}
	*p++ = (char) 0xff;
	*p++ = (char) 0xff;
	*len = p - buf;
	return buf;
}

/* binary text[]: ndim, hasnull, element type, dimension, then length + bytes */
static char *
build_array_binary(int n, int keys, int *len)
{
	size_t		elem = keys ? KEY_LEN : VALUE_LEN;
	char	   *buf = malloc(20 + (size_t) n * (4 + elem));
	char	   *p = buf;
	char		key[KEY_LEN + 1];

	p = put32(p, 1);			/* ndim */
	p = put32(p, 0);			/* no nulls */
	p = put32(p, 25);			/* text */
	p = put32(p, n);
	p = put32(p, 1);			/* lower bound */
	for (int i = 0; i < n; i++)
	{
		p = put32(p, elem);
		if (keys)
		{
			key_of(key, i + 1);
			memcpy(p, key, KEY_LEN);
		}
		else
			memcpy(p, value, VALUE_LEN);
		p += elem;
	}
	*len = p - buf;
	return buf;
}

/* text array literal {a,b,...}; the elements need no quoting */
static char *
build_array(int n, int keys)
{
	size_t		elem = keys ? KEY_LEN : VALUE_LEN;
	char	   *buf = malloc((elem + 1) * n + 3);
	char	   *p = buf;

	*p++ = '{';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			*p++ = ',';
		if (keys)
		{
			key_of(p, i + 1);
			p += KEY_LEN;
		}
		else
		{
			memcpy(p, value, VALUE_LEN);
			p += VALUE_LEN;
		}
	}
	*p++ = '}';
	*p = '\0';
	return buf;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static void
fsync_probe(const char *dir, double seconds)
{
	const char *methods[] = {"append", "overwrite", "fallocate"};
	char		buf[200];
	size_t		cap = 1 << 20;
	double	   *lat = malloc(sizeof(double) * cap);

	memset(buf, 'x', sizeof(buf));
	for (int m = 0; m < 3; m++)
	{
		char		path[4096];
		int			fd;
		off_t		off = 0;
		size_t		n = 0;
		off_t		prealloc = 64 << 20;
		double		end;

		snprintf(path, sizeof(path), "%s/fsync-probe-%s", dir, methods[m]);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
		{
			perror(path);
			exit(1);
		}
		if (m == 1)
		{
			char	   *zero = calloc(1, 1 << 20);

			for (off_t o = 0; o < prealloc; o += 1 << 20)
				if (pwrite(fd, zero, 1 << 20, o) != 1 << 20)
				{
					perror("pwrite");
					exit(1);
				}
			free(zero);
			fsync(fd);
		}
		else if (m == 2)
		{
			if (fallocate(fd, 0, 0, prealloc) != 0)
			{
				perror("fallocate");
				exit(1);
			}
			fsync(fd);
		}
		end = now_mono() + seconds / 3;
		while (now_mono() < end && n < cap && off + (off_t) sizeof(buf) < prealloc)
		{
			double		t0 = now_mono();

			if (pwrite(fd, buf, sizeof(buf), off) != sizeof(buf) || fdatasync(fd) != 0)
			{
				perror("write/fdatasync");
				exit(1);
			}
			lat[n++] = (now_mono() - t0) * 1e6;
			off += sizeof(buf);
		}
		close(fd);
		unlink(path);
		qsort(lat, n, sizeof(double), cmp_double);
		printf("%s %zu %.1f %.1f\n", methods[m], n, lat[n / 2], lat[(size_t) (n * 0.99)]);
	}
	free(lat);
}

int
main(int argc, char **argv)
{
	const char *conninfo = "";
	const char *mode = NULL;
	const char *latfile = NULL;
	const char *dir = ".";
	int			n = 1000;
	double		seconds = 10;
	int			c;
	PGconn	   *conn;
	PGresult   *res;
	FILE	   *out;
	long		iterations = 0;
	double		start;
	double		end;
	char	   *copybuf = NULL;
	size_t		copylen = 0;
	const char *params[2];
	int			lengths[2] = {0, 0};
	int			formats[2] = {0, 0};
	const char *copy_sql = "COPY bench_t (k, v) FROM STDIN";
	char		nbuf[32];

	while ((c = getopt(argc, argv, "d:m:n:t:o:D:")) != -1)
	{
		switch (c)
		{
			case 'd': conninfo = optarg; break;
			case 'm': mode = optarg; break;
			case 'n': n = atoi(optarg); break;
			case 't': seconds = atof(optarg); break;
			case 'o': latfile = optarg; break;
			case 'D': dir = optarg; break;
			default:
				fprintf(stderr, "usage: batchbench -d conninfo -m copy|copy_binary|send_batch|send_batch_binary|send_batch_agg|fsync-probe -n records -t seconds -o latfile [-D dir]\n");
				return 2;
		}
	}
	if (mode == NULL)
	{
		fprintf(stderr, "batchbench: -m is required\n");
		return 2;
	}
	if (strcmp(mode, "fsync-probe") == 0)
	{
		fsync_probe(dir, seconds);
		return 0;
	}
	if (latfile == NULL)
	{
		fprintf(stderr, "batchbench: -o is required\n");
		return 2;
	}
	memset(value, 'v', VALUE_LEN);
	value[VALUE_LEN] = '\0';

	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		die("connect", conn, NULL);
	out = fopen(latfile, "w");
	if (out == NULL)
	{
		perror(latfile);
		return 1;
	}

	if (strcmp(mode, "copy") == 0)
		copybuf = build_copy(n, &copylen);
	else if (strcmp(mode, "copy_binary") == 0)
	{
		copybuf = build_copy_binary(n, &copylen);
		copy_sql = "COPY bench_t (k, v) FROM STDIN (FORMAT binary)";
	}
	else if (strcmp(mode, "send_batch_binary") == 0)
	{
		res = PQprepare(conn, "s",
						"SELECT count(*) FROM nagare.send_batch('bench', $1::text[], $2::text[])",
						2, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die("prepare", conn, res);
		PQclear(res);
		params[0] = build_array_binary(n, 1, &lengths[0]);
		params[1] = build_array_binary(n, 0, &lengths[1]);
		formats[0] = formats[1] = 1;
	}
	else if (strcmp(mode, "send_batch") == 0)
	{
		res = PQprepare(conn, "s",
						"SELECT count(*) FROM nagare.send_batch('bench', $1::text[], $2::text[])",
						2, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die("prepare", conn, res);
		PQclear(res);
		params[0] = build_array(n, 1);
		params[1] = build_array(n, 0);
	}
	else if (strcmp(mode, "send_batch_agg") == 0)
	{
		res = PQprepare(conn, "s",
						"SELECT count(*) FROM (SELECT array_agg(lpad(g::text, 16, '0')) AS k,"
						" array_agg($2::text) AS v FROM generate_series(1, $1::int) g) a,"
						" LATERAL nagare.send_batch('bench', a.k, a.v)",
						2, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die("prepare", conn, res);
		PQclear(res);
		snprintf(nbuf, sizeof(nbuf), "%d", n);
		params[0] = nbuf;
		params[1] = value;
	}
	else
	{
		fprintf(stderr, "batchbench: unknown mode %s\n", mode);
		return 2;
	}

	start = now_mono();
	end = start + seconds;
	while (now_mono() < end)
	{
		double		t0 = now_mono();

		if (copybuf)
		{
			res = PQexec(conn, copy_sql);
			if (PQresultStatus(res) != PGRES_COPY_IN)
				die("COPY", conn, res);
			PQclear(res);
			if (PQputCopyData(conn, copybuf, (int) copylen) != 1 ||
				PQputCopyEnd(conn, NULL) != 1)
				die("COPY data", conn, NULL);
			res = PQgetResult(conn);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				die("COPY end", conn, res);
			if (atol(PQcmdTuples(res)) != n)
				die("COPY count", conn, res);
			PQclear(res);
			while ((res = PQgetResult(conn)) != NULL)
				PQclear(res);
		}
		else
		{
			res = PQexecPrepared(conn, "s", 2, params, lengths, formats, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				die("send_batch", conn, res);
			if (atol(PQgetvalue(res, 0, 0)) != n)
				die("send_batch count", conn, res);
			PQclear(res);
		}
		fprintf(out, "%lld %.1f\n", now_epoch_us(), (now_mono() - t0) * 1e6);
		iterations++;
	}
	printf("%ld %.6f\n", iterations, now_mono() - start);
	fclose(out);
	PQfinish(conn);
	return 0;
}
