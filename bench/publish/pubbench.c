/*
 * pubbench: the load generator of bench/publish/run.sh.
 *
 *   pubbench -d CONNINFO -m MODE [-s SYSTEM] [options]
 *
 * Every mode prints one JSON line on stdout: what it did, how long it took,
 * what it checked.  Times come from clock_gettime(CLOCK_MONOTONIC).  The
 * value of every message is 100 bytes ("<number>:vvvv...").
 *
 * Modes:
 *
 *   multi    -x transactions (or -t seconds) of -n messages (default 1000),
 *            each one autocommit statement over generate_series, back to
 *            back; then waits until everything committed is consumable:
 *              publish  SELECT count(nagare.publish($1, g::text, $2)) FROM generate_series(1, $3) g
 *              pgq      SELECT count(pgq.insert_event($1, 'ev', $2, g::text, NULL, NULL, NULL)) FROM ...
 *              outbox   INSERT INTO outbox (topic, key, value) SELECT $1, g::text, $2 FROM ...
 *
 *   pipe     one-message transactions on one connection in pipeline mode,
 *            -w of them in flight (each statement followed by a Sync, so
 *            each is a transaction of its own with its own commit), for -t
 *            seconds (or -x transactions); then waits until consumable:
 *              publish  SELECT nagare.publish($1, $2, $3)
 *              pgq      SELECT pgq.insert_event($1, 'ev', $3, $2, NULL, NULL, NULL)
 *              outbox   INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)
 *
 *   "Consumable" (the end of the end-to-end time):
 *     publish  the high watermark of topic -q (nagare.partitions) has moved
 *              by the number of messages committed, so nagare.consume() and
 *              Kafka clients return them (looked at every -P microseconds);
 *              0.3 s later it is read again: more is a duplicate;
 *     pgq      pgq.ticker(queue) has made a tick after the last commit and
 *              pgq.next_batch(queue, 'bench') has returned the batch that
 *              holds the events (run.sh sets the queue's ticker_max_count
 *              to 1, so the ticker ticks for any new event; nothing ticks
 *              during the run); the batch is then finished;
 *     outbox   the commit: a poller's SELECT sees the rows once committed.
 *
 *   latency  one-message publish() transactions to topic -q, one autocommit
 *            statement each, at -r per second (Poisson arrivals, as
 *            pgbench -R) over -c connections for -t seconds, while a
 *            consumer thread with a connection of its own reads the topic
 *            with nagare.consume(), sleeping -p microseconds whenever it
 *            finds nothing new.  Message i's value starts with i; the time
 *            from the moment its client got the COMMIT's answer to the
 *            moment the consumer got the record is its commit-to-consumable
 *            latency (negative when the consumer had it before the client
 *            heard back).  -o FILE: every message's latency (ms), sorted.
 *
 *   cdc      -n rows inserted into table -T (id bigint primary key, v text,
 *            n int) then updated (n = n + 1), -b rows per transaction: 2n
 *            changes; then waits until all of them are out, looking every
 *            -P microseconds:
 *              nagare    the high watermark of topic -q has moved by 2n
 *              wal2json  file -f (pg_recvlogical, format-version 2: one
 *                        line per change) has 2n more "I", "U" or "D" lines
 *
 *   wait     until the high watermark of topic -q reaches -X
 *
 * Other options: -o FILE per-transaction latencies in microseconds (multi),
 * -W seconds to wait for consumability before giving up (default 60).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define VALUE_LEN 100

static const char *conninfo = "";
static const char *mode = NULL;
static const char *sys = NULL;
static const char *topic = "bench";
static const char *table = "cdc";
static const char *file = NULL;
static const char *latfile = NULL;
static int	nmsgs = 1000;
static int	batch = 10000;
static double seconds = 5;
static int	depth = 100;
static double rate = 1000;
static int	nconns = 8;
static int	poll_us = 500;
static int	hwm_poll_us = 5000;
static double wait_max = 60;
static long long max_tx = 0;
static long long target_arg = -1;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sleep_us(int us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};

	nanosleep(&ts, NULL);
}

static void
die(const char *what, PGconn *conn, PGresult *res)
{
	fprintf(stderr, "pubbench: %s: %s", what,
			res ? PQresultErrorMessage(res) : conn ? PQerrorMessage(conn) : "\n");
	exit(1);
}

static PGconn *
connect_db(void)
{
	PGconn	   *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		die("connect", c, NULL);
	return c;
}

/* one value of a one-row query with text parameters; -1 when NULL */
static long long
query_ll(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult   *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	long long	v = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, c, r);
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void
prepare(PGconn *c, const char *name, const char *sql)
{
	PGresult   *r = PQprepare(c, name, sql, 0, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die(sql, c, r);
	PQclear(r);
}

/*
 * CPU seconds a connection's backend has used so far (it runs on this
 * machine: /proc/<pid>/stat, utime + stime); NAN when unreadable
 */
static double
backend_cpu(PGconn *c)
{
	char		path[64],
				buf[1024];
	FILE	   *f;
	char	   *p;
	unsigned long ut,
				st;
	size_t		n;

	snprintf(path, sizeof(path), "/proc/%d/stat", PQbackendPID(c));
	if ((f = fopen(path, "r")) == NULL)
		return NAN;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after the command name in parentheses: state is field 3, utime 14 */
	if ((p = strrchr(buf, ')')) == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return NAN;
	return (double) (ut + st) / sysconf(_SC_CLK_TCK);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* q-quantile of n sorted values (nearest rank) */
static double
quantile(const double *v, long n, double q)
{
	long		i;

	if (n == 0)
		return NAN;
	i = (long) ceil(q * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
print_num(const char *name, double v)
{
	if (isnan(v))
		printf(", \"%s\": null", name);
	else
		printf(", \"%s\": %.6g", name, v);
}

/* payload: the value, VALUE_LEN bytes */
static char value[VALUE_LEN + 1];

static void
make_value(long long i)
{
	int			n = snprintf(value, sizeof(value), "%lld:", i);

	memset(value + n, 'v', VALUE_LEN - n);
	value[VALUE_LEN] = '\0';
}

/* ------------------------------------------------------------------ */
/* consumability */

#define HWM_SQL "SELECT coalesce(sum(high_watermark), 0)::bigint FROM nagare.partitions WHERE topic = $1"

static long long
hwm(PGconn *c, const char *t)
{
	/* prepared once per connection: planning the view costs more than running it */
	static PGconn *prepared[8];
	static int	nprepared = 0;
	const char *p[1] = {t};
	PGresult   *r;
	long long	v = -1;
	int			i;

	for (i = 0; i < nprepared && prepared[i] != c; i++)
		;
	if (i == nprepared)
	{
		prepare(c, "hwm", HWM_SQL);
		if (nprepared < 8)
			prepared[nprepared++] = c;
	}
	r = PQexecPrepared(c, "hwm", 1, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("the high watermark", c, r);
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/*
 * Wait until the high watermark of topic t reaches target; returns the time
 * it did (NAN if it did not within wait_max), *seen the last value read.
 */
static double
wait_hwm(PGconn *c, const char *t, long long target, long long *seen)
{
	double		deadline = now() + wait_max;

	for (;;)
	{
		*seen = hwm(c, t);
		if (*seen >= target)
			return now();
		if (now() > deadline)
			return NAN;
		sleep_us(hwm_poll_us);
	}
}

/* pgq: tick every new event (set by run.sh), finish what the consumer has open */
static void
pgq_drain(PGconn *c)
{
	const char *p[1] = {topic};

	for (;;)
	{
		long long	b;
		char		bs[32];
		const char *q[1] = {bs};

		query_ll(c, "SELECT pgq.ticker($1)", 1, p);
		b = query_ll(c, "SELECT pgq.next_batch($1, 'bench')", 1, p);
		if (b < 0)
			return;
		snprintf(bs, sizeof(bs), "%lld", b);
		query_ll(c, "SELECT pgq.finish_batch($1::bigint)", 1, q);
	}
}

/*
 * pgq: tick, then open the consumer's next batch; returns the time the
 * batch was there, *events its event count (from the sequence: an upper
 * bound when inserts rolled back)
 */
static double
pgq_consumable(PGconn *c, long long *events)
{
	const char *p[1] = {topic};
	double		deadline = now() + wait_max;
	long long	b;
	double		t;
	char		bs[32];
	const char *q[1] = {bs};

	for (;;)
	{
		query_ll(c, "SELECT pgq.ticker($1)", 1, p);
		b = query_ll(c, "SELECT pgq.next_batch($1, 'bench')", 1, p);
		if (b >= 0)
			break;
		if (now() > deadline)
			return NAN;
		sleep_us(poll_us);
	}
	t = now();
	snprintf(bs, sizeof(bs), "%lld", b);
	*events = query_ll(c, "SELECT seq_end - seq_start FROM pgq.get_batch_info($1::bigint)", 1, q);
	query_ll(c, "SELECT pgq.finish_batch($1::bigint)", 1, q);
	return t;
}

/* ------------------------------------------------------------------ */
/* multi and pipe */

static void
run_throughput(int pipelined)
{
	PGconn	   *c = connect_db();
	PGconn	   *w = connect_db();
	const char *sql;
	long long	h0 = 0,
				h1 = 0,
				events = -1,
				tx = 0,
				msgs = 0,
				errors = 0;
	double		t0,
				t_commit,
				t_ready;
	double	   *lat = NULL;
	long		nlat = 0,
				maxlat = 0;
	char		nbuf[16];
	char		kbuf[32];
	int			is_publish = strcmp(sys, "publish") == 0;
	int			is_pgq = strcmp(sys, "pgq") == 0;
	double		cpu_c,
				cpu_w;

	if (!is_publish && !is_pgq && strcmp(sys, "outbox") != 0)
		die("-s must be publish, pgq or outbox", NULL, NULL);
	if (pipelined)
		sql = is_publish ? "SELECT nagare.publish($1::text, $2::text, $3::text)" :
			is_pgq ? "SELECT pgq.insert_event($1::text, 'ev', $3::text, $2::text, NULL, NULL, NULL)" :
			"INSERT INTO outbox (topic, key, value) VALUES ($1::text, $2::text, $3::text)";
	else
		sql = is_publish ? "SELECT count(nagare.publish($1::text, g::text, $2::text)) FROM generate_series(1, $3::int) g" :
			is_pgq ? "SELECT count(pgq.insert_event($1::text, 'ev', $2::text, g::text, NULL, NULL, NULL)) FROM generate_series(1, $3::int) g" :
			"INSERT INTO outbox (topic, key, value) SELECT $1::text, g::text, $2::text FROM generate_series(1, $3::int) g";
	prepare(c, "s", sql);
	make_value(0);
	snprintf(nbuf, sizeof(nbuf), "%d", nmsgs);
	if (is_publish)
		h0 = hwm(w, topic);
	if (is_pgq)
		pgq_drain(w);
	cpu_c = backend_cpu(c);
	cpu_w = backend_cpu(w);

	t0 = now();
	if (!pipelined)
	{
		const char *p[3] = {topic, value, nbuf};

		while (max_tx > 0 ? tx < max_tx : now() - t0 < seconds)
		{
			double		s = now();
			PGresult   *r = PQexecPrepared(c, "s", 3, p, NULL, NULL, 0);

			if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
				die("the statement", c, r);
			PQclear(r);
			if (nlat == maxlat)
			{
				maxlat = maxlat ? maxlat * 2 : 4096;
				lat = realloc(lat, sizeof(double) * maxlat);
			}
			lat[nlat++] = (now() - s) * 1e6;
			tx++;
			msgs += nmsgs;
		}
	}
	else
	{
		long long	sent = 0;
		int			inflight = 0;
		int			stop = 0;
		const char *p[3] = {topic, kbuf, value};

		if (!PQenterPipelineMode(c))
			die("pipeline mode", c, NULL);
		for (;;)
		{
			PGresult   *r;

			if (!stop && (max_tx > 0 ? sent >= max_tx : now() - t0 >= seconds))
				stop = 1;
			while (!stop && inflight < depth)
			{
				snprintf(kbuf, sizeof(kbuf), "%lld", sent);
				if (!PQsendQueryPrepared(c, "s", 3, p, NULL, NULL, 0) || !PQpipelineSync(c))
					die("pipeline send", c, NULL);
				sent++;
				inflight++;
			}
			if (inflight == 0)
				break;
			/* one transaction's answers: result, NULL, then its Sync */
			r = PQgetResult(c);
			if (r == NULL)
				die("pipeline: no result", c, NULL);
			if (PQresultStatus(r) == PGRES_PIPELINE_SYNC)
			{
				PQclear(r);
				inflight--;
				tx++;
				continue;
			}
			if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
			{
				fprintf(stderr, "pubbench: pipelined statement: %s", PQresultErrorMessage(r));
				errors++;
			}
			else
				msgs++;
			PQclear(r);
			r = PQgetResult(c);	/* NULL: end of this query's results */
			if (r != NULL)
				die("pipeline: unexpected result", c, r);
		}
		if (!PQexitPipelineMode(c))
			die("exit pipeline mode", c, NULL);
		if (errors > 0)
			die("statements failed in the pipeline", NULL, NULL);
	}
	t_commit = now();
	if (is_publish)
		t_ready = wait_hwm(w, topic, h0 + msgs, &h1);
	else if (is_pgq)
		t_ready = pgq_consumable(w, &events);
	else
		t_ready = t_commit;
	if (is_publish && !isnan(t_ready))
	{
		/* more than committed is a duplicate: look again a little later */
		sleep_us(300000);
		h1 = hwm(w, topic);
	}

	printf("{\"mode\": \"%s\", \"system\": \"%s\", \"msgs_per_tx\": %d, \"transactions\": %lld, \"msgs\": %lld",
		   mode, sys, pipelined ? 1 : nmsgs, tx, msgs);
	print_num("commit_s", t_commit - t0);
	print_num("e2e_s", t_ready - t0);
	print_num("drain_ms", (t_ready - t_commit) * 1000);
	print_num("commit_msgs_per_s", msgs / (t_commit - t0));
	print_num("e2e_msgs_per_s", msgs / (t_ready - t0));
	if (is_publish)
		printf(", \"hwm_moved\": %lld", h1 - h0);
	if (is_pgq)
		printf(", \"batch_events\": %lld", events);
	print_num("workload_backend_cpu_s", backend_cpu(c) - cpu_c);
	print_num("poller_backend_cpu_s", backend_cpu(w) - cpu_w);
	if (nlat > 0)
	{
		qsort(lat, nlat, sizeof(double), cmp_double);
		print_num("tx_p50_us", quantile(lat, nlat, 0.5));
		print_num("tx_p99_us", quantile(lat, nlat, 0.99));
	}
	if (isnan(t_ready))
		printf(", \"error\": \"not consumable after %.0f s: %s\"", wait_max,
			   is_publish ? "the high watermark stopped short" : "no batch");
	printf("}\n");
	if (latfile && nlat > 0)
	{
		FILE	   *f = fopen(latfile, "w");
		long		i;

		if (f)
		{
			for (i = 0; i < nlat; i++)
				fprintf(f, "%.1f\n", lat[i]);
			fclose(f);
		}
	}
	PQfinish(c);
	PQfinish(w);
}

/* ------------------------------------------------------------------ */
/* latency */

static double *t_commit_of;		/* by message number; 0 = not committed */
static double *t_read_of;		/* by message number; 0 = not read */
static volatile long long lat_total = -1;	/* messages sent, once known */
static volatile int producer_done = 0;
static long long dup_reads = 0,
			stray_reads = 0,
			polls = 0,
			empty_polls = 0;
static long long max_msgs;
static long long consumer_start;
static double consumer_cpu = NAN;

static void *
consumer(void *arg)
{
	PGconn	   *c = connect_db();
	long long	off = consumer_start;
	long long	read = 0;
	double		deadline = 0;
	char		obuf[32];
	const char *p[2] = {topic, obuf};

	(void) arg;
	prepare(c, "c", "SELECT \"offset\", convert_from(value, 'UTF8') FROM nagare.consume($1::text, 0, $2::bigint, 5000)");
	consumer_cpu = backend_cpu(c);
	for (;;)
	{
		PGresult   *r;
		int			n,
					i;
		double		t;

		snprintf(obuf, sizeof(obuf), "%lld", off);
		r = PQexecPrepared(c, "c", 2, p, NULL, NULL, 0);
		t = now();
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("nagare.consume()", c, r);
		polls++;
		n = PQntuples(r);
		for (i = 0; i < n; i++)
		{
			long long	o = atoll(PQgetvalue(r, i, 0));
			long long	m = atoll(PQgetvalue(r, i, 1));

			off = o + 1;
			if (m < 0 || m >= max_msgs)
				stray_reads++;
			else if (t_read_of[m] != 0)
				dup_reads++;
			else
			{
				t_read_of[m] = t;
				read++;
			}
		}
		PQclear(r);
		if (producer_done)
		{
			if (deadline == 0)
				deadline = now() + wait_max;
			if (read >= lat_total || now() > deadline)
				break;
		}
		if (n == 0)
		{
			empty_polls++;
			sleep_us(poll_us);
		}
	}
	consumer_cpu = backend_cpu(c) - consumer_cpu;
	PQfinish(c);
	return NULL;
}

typedef struct Slot
{
	PGconn	   *conn;
	long long	msg;			/* in flight, or -1 */
	double		sched;			/* when it was due */
} Slot;

static void
run_latency(void)
{
	Slot	   *slots = calloc(nconns, sizeof(Slot));
	PGconn	   *w = connect_db();
	struct pollfd *pfd = calloc(nconns, sizeof(struct pollfd));
	pthread_t	th;
	double		t0,
				next,
				end;
	long long	sent = 0,
				done = 0,
				missing = 0,
				negative = 0;
	long long	backlog_max = 0;
	double	   *commit_lat,
			   *c2c;
	long		nc2c = 0,
				i;
	char		kbuf[32];
	unsigned int seed = 12345;

	max_msgs = (long long) (rate * seconds * 1.5) + 1000;
	t_commit_of = calloc(max_msgs, sizeof(double));
	t_read_of = calloc(max_msgs, sizeof(double));
	commit_lat = calloc(max_msgs, sizeof(double));
	for (i = 0; i < nconns; i++)
	{
		slots[i].conn = connect_db();
		slots[i].msg = -1;
		prepare(slots[i].conn, "p", "SELECT nagare.publish($1::text, $2::text, $3::text)");
		if (PQsetnonblocking(slots[i].conn, 1) != 0)
			die("nonblocking", slots[i].conn, NULL);
	}
	consumer_start = hwm(w, topic);
	if (pthread_create(&th, NULL, consumer, NULL) != 0)
		die("pthread_create", NULL, NULL);
	sleep_us(200000);

	t0 = now();
	next = t0;
	end = t0 + seconds;
	while (next < end || done < sent)
	{
		int			free_slot = -1;
		int			busy = 0;
		double		t = now();

		/* start what is due, on free connections */
		for (i = 0; i < nconns; i++)
		{
			if (slots[i].msg >= 0)
			{
				busy++;
				continue;
			}
			if (free_slot < 0)
				free_slot = i;
		}
		while (next < end && next <= t && free_slot >= 0 && sent < max_msgs)
		{
			const char *p[3] = {topic, kbuf, value};
			Slot	   *s = &slots[free_slot];

			snprintf(kbuf, sizeof(kbuf), "%lld", sent);
			make_value(sent);
			if (!PQsendQueryPrepared(s->conn, "p", 3, p, NULL, NULL, 0))
				die("send", s->conn, NULL);
			while (PQflush(s->conn) == 1)
				;
			s->msg = sent++;
			s->sched = next;
			/* Poisson arrivals, as pgbench -R */
			next += -log(1.0 - (rand_r(&seed) + 0.5) / ((double) RAND_MAX + 1.0)) / rate;
			busy++;
			free_slot = -1;
			for (i = 0; i < nconns; i++)
				if (slots[i].msg < 0)
				{
					free_slot = i;
					break;
				}
		}
		if (next <= t && next < end && free_slot < 0)
		{
			long long	b = (long long) ((t - next) * rate) + 1;

			if (b > backlog_max)
				backlog_max = b;
		}
		/* wait for answers, or until the next one is due */
		for (i = 0; i < nconns; i++)
		{
			pfd[i].fd = PQsocket(slots[i].conn);
			pfd[i].events = slots[i].msg >= 0 ? POLLIN : 0;
			pfd[i].revents = 0;
		}
		{
			double		d = 0.1;
			struct timespec ts;

			if (next < end && free_slot >= 0)
				d = next - now();
			if (d > 0)
			{
				ts.tv_sec = (time_t) d;
				ts.tv_nsec = (long) ((d - ts.tv_sec) * 1e9);
				(void) ppoll(pfd, nconns, &ts, NULL);
			}
		}
		for (i = 0; i < nconns; i++)
		{
			Slot	   *s = &slots[i];

			if (s->msg < 0)
				continue;
			if (!PQconsumeInput(s->conn))
				die("consume input", s->conn, NULL);
			while (!PQisBusy(s->conn))
			{
				PGresult   *r = PQgetResult(s->conn);
				double		tc;

				if (r == NULL)
				{
					tc = now();
					t_commit_of[s->msg] = tc;
					commit_lat[done] = (tc - s->sched) * 1e6;
					done++;
					s->msg = -1;
					break;
				}
				if (PQresultStatus(r) != PGRES_TUPLES_OK)
					die("publish", s->conn, r);
				PQclear(r);
			}
		}
	}
	lat_total = sent;
	__sync_synchronize();
	producer_done = 1;
	pthread_join(th, NULL);

	c2c = calloc(sent > 0 ? sent : 1, sizeof(double));
	for (i = 0; i < sent; i++)
	{
		if (t_read_of[i] == 0)
		{
			missing++;
			continue;
		}
		c2c[nc2c] = (t_read_of[i] - t_commit_of[i]) * 1000;
		if (c2c[nc2c] < 0)
			negative++;
		nc2c++;
	}
	qsort(commit_lat, done, sizeof(double), cmp_double);
	qsort(c2c, nc2c, sizeof(double), cmp_double);
	printf("{\"mode\": \"latency\", \"system\": \"publish\", \"connections\": %d, \"target_rate\": %g, \"msgs\": %lld",
		   nconns, rate, sent);
	print_num("seconds", seconds);
	print_num("rate", sent / seconds);
	print_num("commit_p50_ms", quantile(commit_lat, done, 0.5) / 1000);
	print_num("commit_p99_ms", quantile(commit_lat, done, 0.99) / 1000);
	print_num("c2c_p50_ms", quantile(c2c, nc2c, 0.5));
	print_num("c2c_p99_ms", quantile(c2c, nc2c, 0.99));
	print_num("c2c_p999_ms", quantile(c2c, nc2c, 0.999));
	print_num("c2c_max_ms", nc2c ? c2c[nc2c - 1] : NAN);
	print_num("c2c_min_ms", nc2c ? c2c[0] : NAN);
	printf(", \"read\": %ld, \"missing\": %lld, \"duplicates\": %lld, \"stray\": %lld, \"negative\": %lld"
		   ", \"backlog_max\": %lld, \"polls\": %lld, \"empty_polls\": %lld",
		   nc2c, missing, dup_reads, stray_reads, negative, backlog_max, polls, empty_polls);
	print_num("poller_backend_cpu_s", consumer_cpu);
	if (missing > 0)
		printf(", \"error\": \"%lld of %lld committed messages not read within %.0f s\"", missing, sent, wait_max);
	printf("}\n");
	if (latfile)
	{
		FILE	   *f = fopen(latfile, "w");

		if (f)
		{
			for (i = 0; i < nc2c; i++)
				fprintf(f, "%.3f\n", c2c[i]);
			fclose(f);
		}
	}
	for (i = 0; i < nconns; i++)
		PQfinish(slots[i].conn);
	PQfinish(w);
}

/* ------------------------------------------------------------------ */
/* cdc */

/* changes in a wal2json format-version 2 file so far (reads what is new) */
static long long
count_changes(int fd, char *carry, size_t *ncarry)
{
	static char buf[1 << 20];
	long long	n = 0;
	ssize_t		got;

	while ((got = read(fd, buf, sizeof(buf))) > 0)
	{
		char	   *p = buf,
				   *e = buf + got;

		while (p < e)
		{
			char	   *nl = memchr(p, '\n', e - p);
			size_t		len = nl ? (size_t) (nl - p) : (size_t) (e - p);

			/* a line starts {"action":"X": keep its first 16 bytes */
			if (*ncarry < 16)
			{
				size_t		k = len < 16 - *ncarry ? len : 16 - *ncarry;

				memcpy(carry + *ncarry, p, k);
				*ncarry += k;
			}
			if (!nl)
				break;
			if (*ncarry >= 13 && memcmp(carry, "{\"action\":\"", 11) == 0 &&
				(carry[11] == 'I' || carry[11] == 'U' || carry[11] == 'D'))
				n++;
			*ncarry = 0;
			p = nl + 1;
		}
	}
	return n;
}

static void
run_cdc(void)
{
	PGconn	   *c = connect_db();
	PGconn	   *w = connect_db();
	int			is_nagare = strcmp(sys, "nagare") == 0;
	long long	h0 = 0,
				h1 = 0,
				got = 0,
				target = 2LL * nmsgs;
	long long	i;
	double		t0,
				t_work,
				t_ready = NAN,
				deadline;
	int			fd = -1;
	char		carry[16];
	size_t		ncarry = 0;
	char		sql[512];
	double		ins_s;
	double		cpu_c = backend_cpu(c),
				cpu_w = backend_cpu(w);

	if (!is_nagare && strcmp(sys, "wal2json") != 0)
		die("-s must be nagare or wal2json", NULL, NULL);
	if (is_nagare)
		h0 = hwm(w, topic);
	else
	{
		if (!file)
			die("wal2json needs -f FILE", NULL, NULL);
		fd = open(file, O_RDONLY);
		if (fd < 0)
			die("cannot open the wal2json output file", NULL, NULL);
		/* what an earlier run left in the file does not count */
		(void) count_changes(fd, carry, &ncarry);
	}
	snprintf(sql, sizeof(sql),
			 "INSERT INTO %s (id, v, n) SELECT g, md5(g::text) || repeat('x', 68), 0 FROM generate_series($1::bigint, $2::bigint) g",
			 table);
	prepare(c, "ins", sql);
	snprintf(sql, sizeof(sql), "UPDATE %s SET n = n + 1 WHERE id BETWEEN $1::bigint AND $2::bigint", table);
	prepare(c, "upd", sql);

	t0 = now();
	for (int phase = 0; phase < 2; phase++)
	{
		for (i = 1; i <= nmsgs; i += batch)
		{
			char		a[32],
						b[32];
			const char *p[2] = {a, b};
			PGresult   *r;

			snprintf(a, sizeof(a), "%lld", i);
			snprintf(b, sizeof(b), "%lld", i + batch - 1 < nmsgs ? i + batch - 1 : (long long) nmsgs);
			r = PQexecPrepared(c, phase == 0 ? "ins" : "upd", 2, p, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				die("the CDC workload", c, r);
			PQclear(r);
		}
		if (phase == 0)
			ins_s = now() - t0;
	}
	t_work = now();
	deadline = t_work + wait_max;
	for (;;)
	{
		if (is_nagare)
		{
			h1 = hwm(w, topic);
			got = h1 - h0;
		}
		else
			got += count_changes(fd, carry, &ncarry);
		if (got >= target)
		{
			t_ready = now();
			break;
		}
		if (now() > deadline)
			break;
		sleep_us(hwm_poll_us);
	}
	if (!isnan(t_ready))
	{
		/* more than the workload made is a duplicate: look again a little later */
		sleep_us(300000);
		if (is_nagare)
			got = hwm(w, topic) - h0;
		else
			got += count_changes(fd, carry, &ncarry);
	}
	printf("{\"mode\": \"cdc\", \"system\": \"%s\", \"rows\": %d, \"rows_per_tx\": %d, \"changes\": %lld, \"out\": %lld",
		   sys, nmsgs, batch, target, got);
	print_num("insert_s", ins_s);
	print_num("workload_s", t_work - t0);
	print_num("e2e_s", t_ready - t0);
	print_num("drain_ms", (t_ready - t_work) * 1000);
	print_num("workload_changes_per_s", target / (t_work - t0));
	print_num("e2e_changes_per_s", target / (t_ready - t0));
	print_num("workload_backend_cpu_s", backend_cpu(c) - cpu_c);
	print_num("poller_backend_cpu_s", backend_cpu(w) - cpu_w);
	if (isnan(t_ready))
		printf(", \"error\": \"%lld of %lld changes out after %.0f s\"", got, target, wait_max);
	printf("}\n");
	if (fd >= 0)
		close(fd);
	PQfinish(c);
	PQfinish(w);
}

/* ------------------------------------------------------------------ */
/* wait: until the high watermark of topic -q reaches -X */

static void
run_wait(void)
{
	PGconn	   *w = connect_db();
	double		t0 = now();
	long long	seen = 0;
	double		t = wait_hwm(w, topic, target_arg, &seen);

	if (!isnan(t))
	{
		sleep_us(300000);
		seen = hwm(w, topic);
	}
	printf("{\"mode\": \"wait\", \"target\": %lld, \"hwm\": %lld", target_arg, seen);
	print_num("wait_ms", (t - t0) * 1000);
	if (isnan(t))
		printf(", \"error\": \"the high watermark stopped at %lld, short of %lld, for %.0f s\"", seen, target_arg, wait_max);
	printf("}\n");
	PQfinish(w);
}

int
main(int argc, char **argv)
{
	int			opt;

	while ((opt = getopt(argc, argv, "d:m:s:q:T:f:o:n:b:t:w:r:c:p:P:W:x:X:")) != -1)
	{
		switch (opt)
		{
			case 'd': conninfo = optarg; break;
			case 'm': mode = optarg; break;
			case 's': sys = optarg; break;
			case 'q': topic = optarg; break;
			case 'T': table = optarg; break;
			case 'f': file = optarg; break;
			case 'o': latfile = optarg; break;
			case 'n': nmsgs = atoi(optarg); break;
			case 'b': batch = atoi(optarg); break;
			case 't': seconds = atof(optarg); break;
			case 'w': depth = atoi(optarg); break;
			case 'r': rate = atof(optarg); break;
			case 'c': nconns = atoi(optarg); break;
			case 'p': poll_us = atoi(optarg); break;
			case 'P': hwm_poll_us = atoi(optarg); break;
			case 'W': wait_max = atof(optarg); break;
			case 'x': max_tx = atoll(optarg); break;
			case 'X': target_arg = atoll(optarg); break;
			default:
				fprintf(stderr, "usage: see the comment at the top of pubbench.c\n");
				return 2;
		}
	}
	if (!mode)
		die("-m is missing", NULL, NULL);
	if (strcmp(mode, "multi") == 0)
		run_throughput(0);
	else if (strcmp(mode, "pipe") == 0)
		run_throughput(1);
	else if (strcmp(mode, "latency") == 0)
		run_latency();
	else if (strcmp(mode, "cdc") == 0)
		run_cdc();
	else if (strcmp(mode, "wait") == 0)
		run_wait();
	else
		die("unknown mode", NULL, NULL);
	return 0;
}
