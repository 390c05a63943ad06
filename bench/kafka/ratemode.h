/*
 * ratemode.h: the rate mode of redis_load and nats_load, their peer of
 * bench/suite/rate_load.c (nagare, librdkafka) in the suite's connections
 * scenario.  Include after loadgen.h.
 *
 *   redis_load|nats_load rate -H HOST:PORT -t NAME [-p PRODUCERS]
 *       [-r TOTAL_RATE] [-s BYTES] [-d SECONDS] [-a ACKS]
 *       [-I IDLE_CONNECTIONS] [-W WARMUP_S]
 *
 * -p producers (threads, one connection each) share the total rate -r
 * evenly: each sends one message every 1/(r/p) seconds, their first send
 * times spread over one interval, and waits for its acknowledgement: one
 * message in flight per connection (the clients' synchronous calls).  The
 * latency of a message runs from its send time, as scheduled, to its
 * acknowledgement (as pgbench -R): an acknowledgement that comes after the
 * producer's next send time delays that send, and the delay counts in the
 * next message's latency, as it would for a client.  Messages
 * sent during the first -W seconds (1) are not counted; the run lasts -d
 * seconds (10) after that.  -I opens that many more TCP connections first;
 * each does one round trip (the system's ping) and then stays idle until
 * the end.  Defaults as rate_load's: 1 producer, 1,000 msgs/s, 1,024 bytes.
 *
 * Prints one JSON line with the keys rate_load prints.
 */
#ifndef RATEMODE_H
#define RATEMODE_H

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

typedef struct
{
	int			id;
	void	   *conn;			/* the system's connection... */
	void	   *aux;			/* ...and what else it keeps */
	lat_t		lat;
	uint64_t	msgs,			/* acknowledged, sent after the warm-up */
				sent,			/* sent, warm-up included (as rate_load) */
				errors;
	char		error[256];		/* the first error */
} rate_prod_t;

typedef struct
{
	/* in the producer's thread, before the run: 0, or -1 after rate_error() */
	int			(*open) (rate_prod_t *p, const char *payload);

	/*
	 * send one message and wait for its acknowledgement: 0 when it is
	 * acknowledged; -1 when it failed, -2 when the connection is lost (the
	 * producer stops), after rate_error()
	 */
	int			(*send) (rate_prod_t *p, const char *payload);
	void		(*close) (rate_prod_t *p);
	const char *idle_request;	/* what an idle connection sends... */
	const char *idle_reply;		/* ...and reads until it has seen this */
} rate_ops_t;

static const opts_t *rate_o;
static const rate_ops_t *rate_ops;
static uint64_t rate_t_start,
			rate_t_count,
			rate_t_end;
static pthread_barrier_t rate_ready;

static void
rate_error(rate_prod_t *p, const char *fmt, ...)
{
	va_list		ap;

	if (p->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
}

static void
sleep_until(uint64_t t)
{
	struct timespec ts = {(time_t) (t / 1000000000u), (long) (t % 1000000000u)};

	/* now_ns() reads CLOCK_MONOTONIC */
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *
rate_producer(void *arg)
{
	rate_prod_t *p = arg;
	const opts_t *o = rate_o;
	char	   *payload = malloc(o->size);
	double		interval = 1e9 / (o->rate / o->producers);
	uint64_t	next;
	int			ok;

	if (!payload)
		die("out of memory");
	fill_payload(payload, o->size, (uint64_t) p->id);
	ok = rate_ops->open(p, payload) == 0;
	/* every producer has connected (or failed); then the main thread sets the times */
	pthread_barrier_wait(&rate_ready);
	pthread_barrier_wait(&rate_ready);
	if (!ok)
	{
		free(payload);
		return NULL;
	}
	/* spread the producers' send times over one interval */
	next = rate_t_start + (uint64_t) (interval * p->id / o->producers);
	while (next < rate_t_end)
	{
		int			rc;

		if (now_ns() < next)
			sleep_until(next);
		rc = rate_ops->send(p, payload);
		if (rc == -2)
			break;
		p->sent++;
		if (rc == 0 && next >= rate_t_count)
		{
			p->msgs++;
			lat_add(&p->lat, now_ns() - next);
		}
		next += (uint64_t) interval;
	}
	rate_ops->close(p);
	free(payload);
	return NULL;
}

/* the process may hold 1,000 and more sockets: the soft limit up to the hard */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			fprintf(stderr, "loadgen: setrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
	}
}

/*
 * n idle connections, each having sent idle_request and read until
 * idle_reply; their sockets go to fds.  Returns how many did the round trip.
 */
static int
open_idle(const opts_t *o, const rate_ops_t *ops, int n, int *fds)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM},
			   *ai;
	char		port[16];
	struct timeval tv = {10, 0};
	size_t		reqlen = strlen(ops->idle_request),
				replen = strlen(ops->idle_reply);
	int			ok = 0,
				rc;

	snprintf(port, sizeof(port), "%d", o->port);
	if ((rc = getaddrinfo(o->host, port, &hints, &ai)) != 0)
		die("%s: %s", o->host, gai_strerror(rc));
	for (int i = 0; i < n; i++)
	{
		int			fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		char		buf[8192];
		size_t		got = 0;
		int			seen = 0;

		fds[i] = fd;
		if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		{
			fprintf(stderr, "loadgen: idle connection %d: %s\n", i, strerror(errno));
			break;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (write(fd, ops->idle_request, reqlen) != (ssize_t) reqlen)
		{
			fprintf(stderr, "loadgen: idle connection %d: write: %s\n", i, strerror(errno));
			continue;
		}
		while (!seen)
		{
			ssize_t		k = read(fd, buf + got, sizeof(buf) - 1 - got);

			if (k <= 0)
			{
				fprintf(stderr, "loadgen: idle connection %d: %s\n", i,
						k == 0 ? "closed by the server" : strerror(errno));
				break;
			}
			got += k;
			buf[got] = '\0';
			seen = strstr(buf, ops->idle_reply) != NULL;
			if (!seen && got > replen && got == sizeof(buf) - 1)
			{
				/* keep the tail, where the reply may have begun */
				memmove(buf, buf + got - replen, replen);
				got = replen;
			}
		}
		if (seen)
			ok++;
	}
	freeaddrinfo(ai);
	return ok;
}

/*
 * The rate mode: idle connections, then the producers; prints the JSON line
 * and returns the exit status.  settings: what the generator configured.
 */
static int
run_rate(const opts_t *o, const rate_ops_t *ops, const char *settings)
{
	int		   *idle_fds = NULL,
				idle_ok = 0;
	rate_prod_t *ps = calloc(o->producers, sizeof(*ps));
	pthread_t  *th = calloc(o->producers, sizeof(*th));
	lat_t		all = {0};
	uint64_t	msgs = 0,
				sent = 0,
				errors = 0;
	const char *error = NULL;
	char		idle_error[128];
	double		cpu0,
				secs = o->duration;
	FILE	   *f = stdout;

	if (!ps || !th)
		die("out of memory");
	rate_o = o;
	rate_ops = ops;
	signal(SIGPIPE, SIG_IGN);	/* a connection the server closed: an error, not the end */
	raise_nofile();
	if (o->idle)
	{
		idle_fds = malloc(o->idle * sizeof(int));
		if (!idle_fds)
			die("out of memory");
		for (int i = 0; i < o->idle; i++)
			idle_fds[i] = -1;
		idle_ok = open_idle(o, ops, o->idle, idle_fds);
	}
	cpu0 = cpu_seconds();
	pthread_barrier_init(&rate_ready, NULL, o->producers + 1);
	for (int i = 0; i < o->producers; i++)
	{
		ps[i].id = i;
		if (pthread_create(&th[i], NULL, rate_producer, &ps[i]) != 0)
			die("pthread_create: %s", strerror(errno));
	}
	pthread_barrier_wait(&rate_ready);	/* every producer connected */
	rate_t_start = now_ns() + 10000000;	/* 10 ms */
	rate_t_count = rate_t_start + (uint64_t) (o->warmup_s * 1e9);
	rate_t_end = rate_t_count + (uint64_t) (o->duration * 1e9);
	pthread_barrier_wait(&rate_ready);
	for (int i = 0; i < o->producers; i++)
	{
		pthread_join(th[i], NULL);
		for (size_t j = 0; j < ps[i].lat.n; j++)
			lat_add(&all, ps[i].lat.v[j]);
		msgs += ps[i].msgs;
		sent += ps[i].sent;
		errors += ps[i].errors;
		if (ps[i].error[0] && !error)
			error = ps[i].error;
	}
	if (idle_ok < o->idle)
	{
		snprintf(idle_error, sizeof(idle_error), "%d of %d idle connections opened", idle_ok, o->idle);
		errors++;
		if (!error)
			error = idle_error;
	}
	if (error)
		fprintf(stderr, "loadgen: %s\n", error);
	qsort(all.v, all.n, sizeof(*all.v), cmp_u64);
	fprintf(f, "{\"system\":");
	json_str(f, o->system);
	fprintf(f, ",\"mode\":\"rate\",\"topic\":");
	json_str(f, o->topic);
	fprintf(f, ",\"size\":%d,\"acks\":", o->size);
	json_str(f, o->acks);
	fprintf(f, ",\"producers\":%d,\"target_rate\":%.0f,\"idle_connections\":%d,\"msgs\":%llu,"
			"\"sent\":%llu,\"bytes\":%llu", o->producers, o->rate, idle_ok, (unsigned long long) msgs,
			(unsigned long long) sent, (unsigned long long) msgs * o->size);
	json_num(f, "secs", secs, 3);
	json_num(f, "msgs_per_s", msgs / secs, 1);
	json_num(f, "mb_per_s", msgs * o->size / secs / 1e6, 3);
	fprintf(f, ",\"lat_n\":%zu", all.n);
	json_num(f, "p50_us", lat_pct(&all, 50), 1);
	json_num(f, "p99_us", lat_pct(&all, 99), 1);
	json_num(f, "p999_us", lat_pct(&all, 99.9), 1);
	json_num(f, "max_us", lat_pct(&all, 100), 1);
	json_num(f, "cpu_s", cpu_seconds() - cpu0, 3);
	fprintf(f, ",\"errors\":%llu,\"error\":", (unsigned long long) errors);
	if (error)
		json_str(f, error);
	else
		fputs("null", f);
	fprintf(f, ",\"settings\":");
	json_str(f, settings);
	fputs("}\n", f);
	fflush(f);
	for (int i = 0; i < o->idle; i++)
		if (idle_fds[i] >= 0)
			close(idle_fds[i]);
	pthread_barrier_destroy(&rate_ready);
	return errors ? 1 : 0;
}

#endif
