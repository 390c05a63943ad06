/*
 * redis_load: the Redis Streams peer of bench/kafka, on hiredis.  One
 * measurement per invocation, one JSON line on stdout (see loadgen.h).
 *
 *   -a everysec|always   CONFIG SET appendfsync before the run (the server
 *                        runs with appendonly yes); reported as "acks"
 *
 *   produce  DEL the stream, then XADD <stream> * v <payload> at most -n
 *            times for at most -d seconds, pipelined: up to -w commands
 *            (1000) in flight on one connection.  The time runs from the
 *            first command to the last reply.  With appendfsync always the
 *            server fsyncs the AOF before it replies, once per event-loop
 *            turn, so a pipeline shares its fsyncs.
 *   consume  XREAD COUNT -w (10000) STREAMS <stream> <last id>, from 0-0,
 *            until -n entries were read; the time runs from the first reply.
 *   latency  one XADD at a time (its round trip), -n times or -d seconds.
 *   e2e      XADD on one connection while another waits in
 *            XREAD BLOCK for the entry: send -> received by the reader.
 *   rate     DEL the stream, then -p producers, one connection each, at a
 *            steady -r msgs/s in all, one XADD in flight per connection:
 *            send -> its reply (see ratemode.h).  -I idle connections
 *            send PING and read +PONG first.  For the suite's connections
 *            scenario, beside bench/suite/rate_load.c.
 */
#include <hiredis/hiredis.h>

#include "loadgen.h"
#include "ratemode.h"

static opts_t o;
static result_t r;

static redisContext *
connect_redis(void)
{
	struct timeval tv = {10, 0};
	redisContext *c = redisConnectWithTimeout(o.host, o.port, tv);

	if (!c || c->err)
		die("cannot connect to redis at %s:%d: %s", o.host, o.port, c ? c->errstr : "?");
	redisSetTimeout(c, (struct timeval) {60, 0});
	return c;
}

static redisReply *
cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *rep;

	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!rep)
		die("redis: %s", c->errstr);
	if (rep->type == REDIS_REPLY_ERROR)
		die("redis: %s", rep->str);
	return rep;
}

static void
set_fsync(redisContext *c)
{
	if (o.acks[0])
		freeReplyObject(cmd(c, "CONFIG SET appendfsync %s", o.acks));
	snprintf(r.settings, sizeof(r.settings), "appendonly yes, appendfsync %s", o.acks[0] ? o.acks : "(server's)");
}

/* XADD <stream> * v <payload>, formatted once */
static char *
format_xadd(const char *payload, size_t *len)
{
	const char *argv[] = {"XADD", o.topic, "*", "v", payload};
	size_t		argl[] = {4, strlen(o.topic), 1, 1, (size_t) o.size};
	char	   *out;
	int			n = redisFormatCommandArgv(&out, 5, argv, argl);

	if (n < 0)
		die("redisFormatCommandArgv failed");
	*len = n;
	return out;
}

static void
run_produce(void)
{
	redisContext *c = connect_redis();
	char	   *payload = malloc(o.size),
			   *xadd;
	size_t		xlen;
	long		window = o.window > 0 ? o.window : 1000;
	long		sent = 0,
				inflight = 0;
	uint64_t   *sent_at = malloc(window * sizeof(uint64_t));	/* a ring */
	int			stop = 0;
	uint64_t	t0,
				deadline;

	set_fsync(c);
	snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
			 ", XADD pipelined %ld deep", window);
	freeReplyObject(cmd(c, "DEL %s", o.topic));
	fill_payload(payload, o.size, 0);
	xadd = format_xadd(payload, &xlen);

	r.cpu0 = cpu_seconds();
	t0 = now_ns();
	deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
	for (;;)
	{
		redisReply *rep;

		while (!stop && inflight < window && sent < o.count)
		{
			if (redisAppendFormattedCommand(c, xadd, xlen) != REDIS_OK)
				die("redis: %s", c->errstr);
			if (sent % LAT_SAMPLE == 0)
				sent_at[sent % window] = now_ns();
			sent++;
			inflight++;
		}
		if (inflight == 0)
			break;
		/* flushes what is buffered when no reply is ready yet */
		if (redisGetReply(c, (void **) &rep) != REDIS_OK)
			die("redis: %s", c->errstr);
		inflight--;
		if (rep->type == REDIS_REPLY_STRING)
		{
			long		i = sent - inflight - 1;	/* replies come in order */

			if (i % LAT_SAMPLE == 0)
				lat_add(&r.lat, now_ns() - sent_at[i % window]);
			r.msgs++;
			r.bytes += o.size;
		}
		else
			result_error(&r, "XADD: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		freeReplyObject(rep);
		if ((r.msgs & 1023) == 0 && now_ns() >= deadline)
			stop = 1;
		if (r.errors)
			stop = 1;
	}
	result_stop(&r, t0);
	redisFreeCommand(xadd);
	redisFree(c);
}

static void
run_latency(void)
{
	redisContext *c = connect_redis();
	char	   *payload = malloc(o.size);
	uint64_t	t0 = 0,
				deadline = 0;

	set_fsync(c);
	snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
			 ", one XADD at a time");
	for (long i = -o.warmup; i < o.count; i++)
	{
		redisReply *rep;
		uint64_t	t;

		if (i == 0)
		{
			r.lat.n = 0;
			r.cpu0 = cpu_seconds();
			t0 = now_ns();
			deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
		}
		if (i >= 0 && now_ns() >= deadline)
			break;
		fill_payload(payload, o.size, i);
		t = now_ns();
		rep = cmd(c, "XADD %s * v %b", o.topic, payload, (size_t) o.size);
		if (i >= 0)
		{
			lat_add(&r.lat, now_ns() - t);
			r.msgs++;
			r.bytes += o.size;
		}
		freeReplyObject(rep);
	}
	result_stop(&r, t0);
	redisFree(c);
}

/*
 * An XREAD reply: [[stream, [[id, [field, value]], ...]]].  Counts the
 * entries, checks their size, and copies the last id into last.
 */
static long
take_entries(redisReply *rep, char *last, size_t lastlen, uint64_t *seq0)
{
	redisReply *entries;

	if (rep->type == REDIS_REPLY_NIL)
		return 0;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
		rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[0]->elements != 2)
	{
		result_error(&r, "XREAD: unexpected reply (type %d)", rep->type);
		return -1;
	}
	entries = rep->element[0]->element[1];
	for (size_t i = 0; i < entries->elements; i++)
	{
		redisReply *e = entries->element[i];
		redisReply *v;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			e->element[1]->elements != 2)
		{
			result_error(&r, "XREAD: unexpected entry");
			return -1;
		}
		v = e->element[1]->element[1];
		if (v->len != (size_t) o.size)
			result_error(&r, "entry %s: %zu bytes, expected %d", e->element[0]->str, v->len, o.size);
		if (seq0)
			memcpy(seq0, v->str, 8);
		snprintf(last, lastlen, "%s", e->element[0]->str);
	}
	return (long) entries->elements;
}

static void
run_consume(void)
{
	redisContext *c = connect_redis();
	long		count = o.window > 0 ? o.window : 10000;
	char		last[64] = "0-0";
	uint64_t	t0;

	snprintf(r.settings, sizeof(r.settings), "XREAD COUNT %ld from 0-0", count);
	r.cpu0 = cpu_seconds();
	t0 = now_ns();
	while ((long) r.msgs < o.count)
	{
		redisReply *rep = cmd(c, "XREAD COUNT %ld STREAMS %s %s", count, o.topic, last);
		long		n = take_entries(rep, last, sizeof(last), NULL);

		freeReplyObject(rep);
		if (n < 0)
			break;
		if (n == 0)
		{
			result_error(&r, "the stream ended after %llu of %ld entries",
						 (unsigned long long) r.msgs, o.count);
			break;
		}
		if (r.msgs == 0)
			t0 = now_ns();		/* as the others: from the first message */
		r.msgs += n;
		r.bytes += (uint64_t) n * o.size;
	}
	result_stop(&r, t0);
	redisFree(c);
}

static void
run_e2e(void)
{
	redisContext *w = connect_redis(),
			   *rd = connect_redis();
	char	   *payload = malloc(o.size);
	char		last[64];
	uint64_t	t0 = 0,
				deadline = 0;
	redisReply *rep;

	set_fsync(w);
	snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
			 ", XADD on one connection, XREAD BLOCK on another");
	fill_payload(payload, o.size, UINT64_MAX);
	rep = cmd(w, "XADD %s * v %b", o.topic, payload, (size_t) o.size);
	snprintf(last, sizeof(last), "%s", rep->str);
	freeReplyObject(rep);

	for (long i = -o.warmup; i < o.count; i++)
	{
		uint64_t	t,
					seq = UINT64_MAX;
		int			done;

		if (i == 0)
		{
			r.lat.n = 0;
			r.cpu0 = cpu_seconds();
			t0 = now_ns();
			deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
		}
		if (i >= 0 && now_ns() >= deadline)
			break;
		/* the reader waits for the entry after the last one it saw */
		if (redisAppendCommand(rd, "XREAD BLOCK 5000 COUNT 1 STREAMS %s %s", o.topic, last) != REDIS_OK)
			die("redis: %s", rd->errstr);
		do
		{
			if (redisBufferWrite(rd, &done) != REDIS_OK)
				die("redis: %s", rd->errstr);
		} while (!done);
		fill_payload(payload, o.size, (uint64_t) i);
		t = now_ns();
		freeReplyObject(cmd(w, "XADD %s * v %b", o.topic, payload, (size_t) o.size));
		if (redisGetReply(rd, (void **) &rep) != REDIS_OK)
			die("redis: %s", rd->errstr);
		if (take_entries(rep, last, sizeof(last), &seq) != 1 || seq != (uint64_t) i)
		{
			result_error(&r, "XREAD BLOCK did not return entry %ld", i);
			freeReplyObject(rep);
			break;
		}
		freeReplyObject(rep);
		lat_add(&r.lat, now_ns() - t);
	}
	result_stop(&r, t0);
	r.msgs = r.lat.n;
	r.bytes = r.lat.n * (uint64_t) o.size;
	redisFree(w);
	redisFree(rd);
}

/* the rate mode: one connection and one formatted XADD per producer */
typedef struct
{
	char	   *xadd;
	size_t		xlen;
} rate_redis_t;

static int
rate_open(rate_prod_t *p, const char *payload)
{
	struct timeval tv = {10, 0};
	redisContext *c = redisConnectWithTimeout(o.host, o.port, tv);
	rate_redis_t *x = calloc(1, sizeof(*x));

	if (!c || c->err)
	{
		rate_error(p, "cannot connect to redis at %s:%d: %s", o.host, o.port, c ? c->errstr : "?");
		if (c)
			redisFree(c);
		free(x);
		return -1;
	}
	redisSetTimeout(c, (struct timeval) {60, 0});
	if (!x)
		die("out of memory");
	x->xadd = format_xadd(payload, &x->xlen);
	p->conn = c;
	p->aux = x;
	return 0;
}

static int
rate_send(rate_prod_t *p, const char *payload)
{
	redisContext *c = p->conn;
	rate_redis_t *x = p->aux;
	redisReply *rep;

	(void) payload;				/* formatted into x->xadd */
	if (redisAppendFormattedCommand(c, x->xadd, x->xlen) != REDIS_OK ||
		redisGetReply(c, (void **) &rep) != REDIS_OK)
	{
		rate_error(p, "redis: %s", c->errstr);
		return -2;
	}
	if (rep->type != REDIS_REPLY_STRING)
	{
		rate_error(p, "XADD: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		freeReplyObject(rep);
		return -1;
	}
	freeReplyObject(rep);
	return 0;
}

static void
rate_close(rate_prod_t *p)
{
	rate_redis_t *x = p->aux;

	redisFree(p->conn);
	redisFreeCommand(x->xadd);
	free(x);
}

static int
run_rate_redis(void)
{
	static const rate_ops_t ops = {rate_open, rate_send, rate_close, "PING\r\n", "+PONG\r\n"};
	redisContext *c = connect_redis();
	size_t		n;

	set_fsync(c);
	freeReplyObject(cmd(c, "DEL %s", o.topic));
	redisFree(c);
	n = strlen(r.settings);
	snprintf(r.settings + n, sizeof(r.settings) - n,
			 ", hiredis %d.%d.%d, %d producer(s), one XADD in flight per connection, %d B, %.0f msgs/s in all",
			 HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, o.producers, o.size, o.rate);
	return run_rate(&o, &ops, r.settings);
}

int
main(int argc, char **argv)
{
	parse_opts(&o, argc, argv, "redis",
			   "  -a FSYNC       everysec or always: CONFIG SET appendfsync first\n");
	if (strcmp(o.mode, "drop") == 0)
		die("drop: only nats_load has it");
	if (strcmp(o.mode, "rate") == 0)
		return run_rate_redis();
	if (strcmp(o.mode, "produce") == 0)
		run_produce();
	else if (strcmp(o.mode, "consume") == 0)
		run_consume();
	else if (strcmp(o.mode, "latency") == 0)
		run_latency();
	else
		run_e2e();
	return print_result(&o, &r);
}
