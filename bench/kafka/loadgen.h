/*
 * loadgen.h: what the three load generators of bench/kafka share: the
 * command line, the clock, latency percentiles and the one JSON line each
 * run prints on stdout.
 *
 * Every generator runs one measurement and prints exactly one line:
 *
 *   {"system":"nagare","mode":"produce","size":100,"acks":"1","msgs":...,
 *    "bytes":...,"secs":...,"msgs_per_s":...,"mb_per_s":...,"lat_n":...,
 *    "p50_us":...,"p99_us":...,"p999_us":...,"max_us":...,"cpu_s":...,"errors":0,
 *    "error":null,"settings":"..."}
 *
 * msgs and bytes count what was acknowledged (produce) or received
 * (consume); bytes are payload bytes only; mb_per_s is 10^6 bytes per
 * second.  cpu_s is the generator's own CPU time (user + system), to show
 * when the client, not the server, is the limit.  Diagnostics go to stderr.
 * The exit status is 0 when the run did what it was asked without errors.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static inline double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ---------------------------------------------------------------- latency */

/*
 * Throughput runs time one message in LAT_SAMPLE (its latency under load):
 * reading the clock for every message costs the client more than the rest
 * of its bookkeeping.
 */
#define LAT_SAMPLE 16

typedef struct
{
	uint64_t   *v;				/* nanoseconds */
	size_t		n,
				cap;
} lat_t;

static void
lat_add(lat_t *l, uint64_t ns)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			die("out of memory");
	}
	l->v[l->n++] = ns;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a,
				y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile in microseconds; call after lat_sort */
static double
lat_pct(const lat_t *l, double p)
{
	size_t		i;

	if (l->n == 0)
		return NAN;
	i = (size_t) ceil(p / 100.0 * l->n);
	if (i > 0)
		i--;
	if (i >= l->n)
		i = l->n - 1;
	return l->v[i] / 1000.0;
}

/* ---------------------------------------------------------------- options */

typedef struct
{
	const char *system;			/* "nagare", "redis", "nats" */
	const char *mode;			/* produce, consume, latency, e2e, rate */
	const char *host;			/* 127.0.0.1 */
	int			port;
	const char *topic;			/* topic, stream key or stream name */
	int			size;			/* payload bytes */
	long		count;			/* messages (produce: at most; consume: exactly) */
	double		duration;		/* produce/latency: stop after this many seconds */
	const char *acks;			/* "1", "all" (nagare), "everysec", "always" (redis) */
	long		window;			/* pipeline depth, pending window, batch... */
	long		warmup;			/* latency: messages not counted */
	double		warmup_s;		/* rate: seconds not counted (1) */
	int			producers;		/* rate: producers, one connection each (1) */
	double		rate;			/* rate: messages per second, all producers (1000) */
	int			idle;			/* rate: idle connections opened first (0) */
	char	   *conf[64];		/* -X key=value (librdkafka) */
	int			nconf;
} opts_t;

static void
usage(const char *prog, const char *extra)
{
	fprintf(stderr,
			"usage: %s MODE [options]\n"
			"  MODE: produce | consume | latency | e2e | rate (redis, nats: see ratemode.h)\n"
			"        | drop (delete the stream: nats only)\n"
			"  -H HOST:PORT   server (127.0.0.1:PORT)\n"
			"  -t NAME        topic / stream\n"
			"  -s BYTES       payload size (100)\n"
			"  -n COUNT       produce/latency: at most COUNT messages; consume: read COUNT\n"
			"  -d SECONDS     produce/latency: stop after SECONDS (0: no limit)\n"
			"  -a ACKS        durability setting (see below)\n"
			"  -w N           window: pipeline depth / pending acks / fetch batch\n"
			"  -W N           latency/e2e: warm-up messages not counted (100);\n"
			"                 rate: warm-up seconds not counted (1)\n"
			"  -p N, -r RATE  rate: N producers (1) sharing RATE msgs/s (1000)\n"
			"  -I N           rate: open N idle connections first (0)\n"
			"%s", prog, extra);
	exit(2);
}

static void
parse_opts(opts_t *o, int argc, char **argv, const char *system, const char *extra)
{
	int			c,
				size_set = 0;
	char	   *colon;

	memset(o, 0, sizeof(*o));
	o->system = system;
	o->host = "127.0.0.1";
	o->size = 100;
	o->count = 1000000;
	o->acks = "";
	o->warmup = 100;
	o->warmup_s = 1;
	o->producers = 1;
	o->rate = 1000;
	if (argc < 2)
		usage(argv[0], extra);
	o->mode = argv[1];
	if (strcmp(o->mode, "produce") && strcmp(o->mode, "consume") &&
		strcmp(o->mode, "latency") && strcmp(o->mode, "e2e") &&
		strcmp(o->mode, "drop") && strcmp(o->mode, "rate"))
		usage(argv[0], extra);
	optind = 2;
	while ((c = getopt(argc, argv, "H:t:s:n:d:a:w:W:X:p:r:I:")) != -1)
	{
		switch (c)
		{
			case 'H':
				o->host = strdup(optarg);
				colon = strrchr(o->host, ':');
				if (!colon)
					die("-H wants HOST:PORT");
				*colon = '\0';
				o->port = atoi(colon + 1);
				break;
			case 't':
				o->topic = optarg;
				break;
			case 's':
				o->size = atoi(optarg);
				size_set = 1;
				break;
			case 'n':
				o->count = atol(optarg);
				break;
			case 'd':
				o->duration = atof(optarg);
				break;
			case 'a':
				o->acks = optarg;
				break;
			case 'w':
				o->window = atol(optarg);
				break;
			case 'W':
				o->warmup = atol(optarg);
				o->warmup_s = atof(optarg);
				break;
			case 'p':
				o->producers = atoi(optarg);
				break;
			case 'r':
				o->rate = atof(optarg);
				break;
			case 'I':
				o->idle = atoi(optarg);
				break;
			case 'X':
				if (o->nconf == 64)
					die("too many -X");
				o->conf[o->nconf++] = optarg;
				break;
			default:
				usage(argv[0], extra);
		}
	}
	if (!o->port || !o->topic)
		die("-H and -t are required");
	if (strcmp(o->mode, "rate") == 0)
	{
		/* rate_load's defaults */
		if (!size_set)
			o->size = 1024;
		if (o->duration <= 0)
			o->duration = 10;
		if (o->producers < 1 || o->rate <= 0 || o->idle < 0 || o->warmup_s < 0)
			die("rate: -p, -r must be positive, -I and -W not negative");
	}
	if (o->size < 16)
		die("-s must be at least 16 (the payload carries a sequence number and a timestamp)");
}

/* a payload: a sequence number and a send time, then filler */
static void
fill_payload(char *buf, int size, uint64_t seq)
{
	uint64_t	t = now_ns();

	memcpy(buf, &seq, 8);
	memcpy(buf + 8, &t, 8);
	for (int i = 16; i < size; i++)
		buf[i] = 'a' + (i * 7 + 3) % 26;
}

/* ---------------------------------------------------------------- result */

typedef struct
{
	uint64_t	msgs;			/* acknowledged / received */
	uint64_t	bytes;
	double		secs;
	lat_t		lat;
	uint64_t	errors;
	char		error[512];		/* the first error */
	char		settings[512];	/* what the generator configured */
	double		cpu0;			/* CPU time when the measurement started... */
	double		cpu_s;			/* ...and what it used until result_stop() */
} result_t;

/* the measurement ends: its time and the CPU it used */
static void
result_stop(result_t *r, uint64_t t0)
{
	r->secs = (now_ns() - t0) / 1e9;
	r->cpu_s = cpu_seconds() - r->cpu0;
}

static void
result_error(result_t *r, const char *fmt, ...)
{
	va_list ap;

	r->errors++;
	if (r->error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "loadgen: %s\n", r->error);
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void
json_num(FILE *f, const char *key, double v, int decimals)
{
	if (isnan(v) || isinf(v))
		fprintf(f, ",\"%s\":null", key);
	else
		fprintf(f, ",\"%s\":%.*f", key, decimals, v);
}

static int
print_result(const opts_t *o, result_t *r)
{
	FILE	   *f = stdout;

	qsort(r->lat.v, r->lat.n, sizeof(*r->lat.v), cmp_u64);
	fprintf(f, "{\"system\":");
	json_str(f, o->system);
	fprintf(f, ",\"mode\":");
	json_str(f, o->mode);
	fprintf(f, ",\"topic\":");
	json_str(f, o->topic);
	fprintf(f, ",\"size\":%d,\"acks\":", o->size);
	json_str(f, o->acks);
	fprintf(f, ",\"msgs\":%llu,\"bytes\":%llu",
			(unsigned long long) r->msgs, (unsigned long long) r->bytes);
	json_num(f, "secs", r->secs, 4);
	json_num(f, "msgs_per_s", r->secs > 0 ? r->msgs / r->secs : NAN, 1);
	json_num(f, "mb_per_s", r->secs > 0 ? r->bytes / r->secs / 1e6 : NAN, 2);
	fprintf(f, ",\"lat_n\":%zu", r->lat.n);
	json_num(f, "p50_us", lat_pct(&r->lat, 50), 1);
	json_num(f, "p99_us", lat_pct(&r->lat, 99), 1);
	json_num(f, "p999_us", lat_pct(&r->lat, 99.9), 1);
	json_num(f, "max_us", lat_pct(&r->lat, 100), 1);
	json_num(f, "cpu_s", r->cpu_s, 3);
	fprintf(f, ",\"errors\":%llu,\"error\":", (unsigned long long) r->errors);
	if (r->error[0])
		json_str(f, r->error);
	else
		fputs("null", f);
	fprintf(f, ",\"settings\":");
	json_str(f, r->settings);
	fputs("}\n", f);
	fflush(f);
	return r->errors ? 1 : 0;
}

#endif
