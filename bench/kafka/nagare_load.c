/*
 * nagare_load: a Kafka load generator on librdkafka, for nagare's broker
 * (or any Kafka broker).  One measurement per invocation, one JSON line on
 * stdout (see loadgen.h).
 *
 *   produce  send at most -n messages of -s bytes (no key) for at most -d
 *            seconds, as a throughput-minded user would configure the
 *            producer: linger.ms=5, batch.size=1000000, no compression,
 *            acks=-a (1 or all), no idempotence.  The time runs from the
 *            first send to the last delivery report (rd_kafka_flush).
 *   consume  read -n messages from the beginning of every partition of the
 *            topic with the simple (legacy) consumer: no group.id, so no
 *            group coordinator and no offset commits.  The time runs from
 *            the first message received to the n-th (so that the client's
 *            start-up, which librdkafka sometimes stretches by half a
 *            second, is not counted).
 *   latency  one message in flight: send, wait for its delivery report,
 *            repeat (linger.ms=0), for -n messages or -d seconds.
 *   e2e      the same, but waiting until a consumer of the same partition
 *            has received the message: send -> fetched by another client.
 *
 * -X key=value passes any librdkafka setting (applied last).
 */
#include <librdkafka/rdkafka.h>

#include "loadgen.h"

static opts_t o;
static result_t r;

static rd_kafka_conf_t *
base_conf(int producer)
{
	char		err[512],
				buf[64];
	char		bootstrap[300];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

#define SET(k, v) do { \
	if (rd_kafka_conf_set(conf, (k), (v), err, sizeof(err)) != RD_KAFKA_CONF_OK) \
		die("%s=%s: %s", (k), (v), err); \
} while (0)

	snprintf(bootstrap, sizeof(bootstrap), "%s:%d", o.host, o.port);
	SET("bootstrap.servers", bootstrap);
	SET("client.id", "nagare-bench");
	if (producer)
	{
		SET("enable.idempotence", "false");
		SET("acks", o.acks[0] ? o.acks : "all");
		SET("compression.type", "none");
		if (strcmp(o.mode, "produce") == 0)
		{
			SET("linger.ms", "5");
			SET("batch.size", "1000000");
			SET("batch.num.messages", "1000000");
			/*
			 * the queue stays librdkafka's default (100000 messages): a
			 * larger one is not faster, only longer to wait in
			 */
		}
		else
		{
			SET("linger.ms", "0");
		}
	}
	else
	{
		/* no group.id: the simple consumer, no coordinator, no commits */
		SET("enable.auto.commit", "false");
		SET("enable.auto.offset.store", "false");
		if (strcmp(o.mode, "e2e") == 0)
			SET("fetch.wait.max.ms", "100");
	}
	snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
			 "%slibrdkafka %s", r.settings[0] ? "; " : "", rd_kafka_version_str());
	if (producer)
	{
		size_t		n = sizeof(buf);

		rd_kafka_conf_get(conf, "linger.ms", buf, &n);
		snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
				 ", acks=%s, linger.ms=%s%s", o.acks[0] ? o.acks : "all", buf,
				 strcmp(o.mode, "produce") == 0 ? ", batch.size=1000000, compression none" : "");
	}
	for (int i = 0; i < o.nconf; i++)
	{
		char	   *kv = strdup(o.conf[i]),
				   *eq = strchr(kv, '=');

		if (!eq)
			die("-X wants key=value");
		*eq = '\0';
		SET(kv, eq + 1);
		snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
				 ", %s=%s", kv, eq + 1);
	}
#undef SET
	return conf;
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void) rk;
	(void) opaque;
	result_error(&r, "client error: %s: %s", rd_kafka_err2name(err), reason);
}

static rd_kafka_t *
make_client(rd_kafka_conf_t *conf, rd_kafka_type_t type)
{
	char		err[512];
	rd_kafka_t *rk;

	rd_kafka_conf_set_error_cb(conf, error_cb);
	rk = rd_kafka_new(type, conf, err, sizeof(err));
	if (!rk)
		die("rd_kafka_new: %s", err);
	return rk;
}

/* wait until the client knows the topic's partitions; returns how many */
static int
partition_count(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int			n = -1;
	uint64_t	until = now_ns() + 10 * 1000000000ull;

	do
	{
		err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			if (md->topic_cnt == 1 && md->topics[0].err == 0)
				n = md->topics[0].partition_cnt;
			else if (md->topic_cnt == 1)
				err = md->topics[0].err;
			rd_kafka_metadata_destroy(md);
		}
		if (n > 0)
			return n;
		usleep(100000);
	} while (now_ns() < until);
	die("no metadata for topic %s: %s", o.topic, rd_kafka_err2str(err));
	return 0;
}

/* ---------------------------------------------------------------- produce */

static uint64_t lat_t0;			/* latency mode: when the message was sent */
static int	lat_done;
static int	lat_opaque;			/* produce: each message's opaque is its send time */

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void) rk;
	(void) opaque;
	if (m->err)
	{
		result_error(&r, "delivery failed: %s", rd_kafka_err2str(m->err));
	}
	else
	{
		r.msgs++;
		r.bytes += m->len;
		if (lat_opaque && m->_private)
			lat_add(&r.lat, now_ns() - (uint64_t) (uintptr_t) m->_private);
	}
	if (lat_t0)
	{
		if (!m->err)
			lat_add(&r.lat, now_ns() - lat_t0);
		lat_done = 1;
	}
}

static void
run_produce(void)
{
	rd_kafka_conf_t *conf = base_conf(1);
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char	   *payload = malloc(o.size);
	uint64_t	t0 = 0,
				deadline;
	long		sent;

	fill_payload(payload, o.size, 0);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rk = make_client(conf, RD_KAFKA_PRODUCER);
	rkt = rd_kafka_topic_new(rk, o.topic, NULL);
	partition_count(rk, rkt);

	lat_opaque = 1;
	r.cpu0 = cpu_seconds();
	t0 = now_ns();
	deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
	for (sent = 0; sent < o.count; sent++)
	{
		if ((sent & 1023) == 0)
		{
			if (now_ns() >= deadline || r.errors)
				break;
			rd_kafka_poll(rk, 0);
		}
		/*
		 * no copy: every message points at the same payload; the opaque of
		 * one in LAT_SAMPLE is when it was handed to the client (for the
		 * latency under load)
		 */
		void	   *sent_at = sent % LAT_SAMPLE ? NULL : (void *) (uintptr_t) now_ns();

		while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, payload, o.size,
								NULL, 0, sent_at) == -1)
		{
			rd_kafka_resp_err_t err = rd_kafka_last_error();

			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			{
				result_error(&r, "produce: %s", rd_kafka_err2str(err));
				goto done;
			}
			rd_kafka_poll(rk, 1);
		}
	}
done:
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		result_error(&r, "flush: %d messages still undelivered after 60 s",
					 rd_kafka_outq_len(rk));
	result_stop(&r, t0);
	if (r.msgs != (uint64_t) sent && !r.errors)
		result_error(&r, "%ld sent, %llu delivered", sent, (unsigned long long) r.msgs);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

static void
run_latency(void)
{
	rd_kafka_conf_t *conf = base_conf(1);
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char	   *payload = malloc(o.size);
	uint64_t	t0 = 0,
				deadline = 0;
	long		i;

	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rk = make_client(conf, RD_KAFKA_PRODUCER);
	rkt = rd_kafka_topic_new(rk, o.topic, NULL);
	partition_count(rk, rkt);

	for (i = -o.warmup; i < o.count; i++)
	{
		if (i == 0)
		{
			r.lat.n = 0;
			r.msgs = r.bytes = 0;
			r.cpu0 = cpu_seconds();
			t0 = now_ns();
			deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
		}
		if (i >= 0 && now_ns() >= deadline)
			break;
		fill_payload(payload, o.size, i);
		lat_done = 0;
		lat_t0 = now_ns();
		if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, payload, o.size, NULL, 0, NULL) == -1)
		{
			result_error(&r, "produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
			break;
		}
		while (!lat_done)
			rd_kafka_poll(rk, 1000);
		if (r.errors)
			break;
	}
	result_stop(&r, t0);
	lat_t0 = 0;
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

/* ---------------------------------------------------------------- consume */

typedef struct
{
	int64_t    *next;			/* per partition: the offset expected next */
	uint64_t	t_first;		/* the first message arrived */
	uint64_t	t_last;
} consume_state_t;

static void
consume_cb(rd_kafka_message_t *m, void *opaque)
{
	consume_state_t *st = opaque;

	if (m->err)
	{
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			result_error(&r, "consume: %s", rd_kafka_message_errstr(m));
		return;
	}
	if ((long) r.msgs >= o.count)
		return;
	if (!st->t_first)
		st->t_first = now_ns();
	if (m->len != (size_t) o.size)
		result_error(&r, "partition %d offset %lld: %zu bytes, expected %d",
					 m->partition, (long long) m->offset, m->len, o.size);
	if (st->next[m->partition] >= 0 && m->offset != st->next[m->partition])
		result_error(&r, "partition %d: offset %lld after %lld",
					 m->partition, (long long) m->offset,
					 (long long) st->next[m->partition] - 1);
	st->next[m->partition] = m->offset + 1;
	r.msgs++;
	r.bytes += m->len;
	if ((long) r.msgs == o.count)
		st->t_last = now_ns();
}

static void
run_consume(void)
{
	rd_kafka_conf_t *conf = base_conf(0);
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
	rd_kafka_queue_t *q;
	consume_state_t st = {0};
	int			np;
	uint64_t	t0 = 0,
				last_progress;
	uint64_t	seen = 0;
	char		err[256];

	if (rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "smallest", err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die("%s", err);
	rk = make_client(conf, RD_KAFKA_CONSUMER);
	rkt = rd_kafka_topic_new(rk, o.topic, tconf);
	np = partition_count(rk, rkt);
	st.next = calloc(np, sizeof(*st.next));
	for (int p = 0; p < np; p++)
		st.next[p] = -1;
	snprintf(r.settings + strlen(r.settings), sizeof(r.settings) - strlen(r.settings),
			 ", simple consumer from the beginning of %d partition(s), no group", np);

	q = rd_kafka_queue_new(rk);
	r.cpu0 = cpu_seconds();
	t0 = now_ns();
	for (int p = 0; p < np; p++)
		if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q) == -1)
			die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
	last_progress = t0;
	while ((long) r.msgs < o.count)
	{
		rd_kafka_consume_callback_queue(q, 200, consume_cb, &st);
		if (r.msgs != seen)
		{
			seen = r.msgs;
			last_progress = now_ns();
		}
		else if (now_ns() - last_progress > 10 * 1000000000ull)
		{
			result_error(&r, "stalled: %llu of %ld messages after 10 s without progress",
						 (unsigned long long) r.msgs, o.count);
			st.t_last = last_progress;
			break;
		}
		if (r.errors > 100)
			break;
	}
	if (!st.t_last)
		st.t_last = now_ns();
	r.secs = (st.t_last - (st.t_first ? st.t_first : t0)) / 1e9;
	r.cpu_s = cpu_seconds() - r.cpu0;
	for (int p = 0; p < np; p++)
		rd_kafka_consume_stop(rkt, p);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

/* ---------------------------------------------------------------- e2e */

static void
run_e2e(void)
{
	rd_kafka_conf_t *pconf = base_conf(1),
			   *cconf = base_conf(0);
	rd_kafka_t *rp,
			   *rc;
	rd_kafka_topic_t *tp,
			   *tc;
	char	   *payload = malloc(o.size);
	int64_t		lo,
				hi;
	rd_kafka_resp_err_t err;
	uint64_t	t0 = 0,
				deadline = 0;
	long		i;

	rd_kafka_conf_set_dr_msg_cb(pconf, dr_cb);
	rp = make_client(pconf, RD_KAFKA_PRODUCER);
	rc = make_client(cconf, RD_KAFKA_CONSUMER);
	tp = rd_kafka_topic_new(rp, o.topic, NULL);
	tc = rd_kafka_topic_new(rc, o.topic, NULL);
	partition_count(rp, tp);
	partition_count(rc, tc);
	/* start at the current end, known before the first message is sent */
	err = rd_kafka_query_watermark_offsets(rc, o.topic, 0, &lo, &hi, 5000);
	if (err)
		die("watermarks: %s", rd_kafka_err2str(err));
	if (rd_kafka_consume_start(tc, 0, hi) == -1)
		die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));

	for (i = -o.warmup; i < o.count; i++)
	{
		uint64_t	sent;

		if (i == 0)
		{
			r.lat.n = 0;
			r.cpu0 = cpu_seconds();
			t0 = now_ns();
			deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
		}
		if (i >= 0 && now_ns() >= deadline)
			break;
		fill_payload(payload, o.size, (uint64_t) i);
		sent = now_ns();
		if (rd_kafka_produce(tp, 0, RD_KAFKA_MSG_F_COPY, payload, o.size, NULL, 0, NULL) == -1)
		{
			result_error(&r, "produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
			break;
		}
		for (;;)
		{
			rd_kafka_message_t *m = rd_kafka_consume(tc, 0, 5000);
			uint64_t	seq;

			rd_kafka_poll(rp, 0);
			if (!m)
			{
				result_error(&r, "message %ld not received within 5 s", i);
				goto out;
			}
			if (m->err)
			{
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					result_error(&r, "consume: %s", rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				continue;
			}
			memcpy(&seq, m->payload, 8);
			rd_kafka_message_destroy(m);
			if (seq == (uint64_t) i)
				break;
		}
		lat_add(&r.lat, now_ns() - sent);
	}
out:
	result_stop(&r, t0);
	rd_kafka_flush(rp, 10000);
	r.msgs = r.lat.n;
	r.bytes = r.lat.n * (uint64_t) o.size;
	rd_kafka_consume_stop(tc, 0);
	rd_kafka_topic_destroy(tc);
	rd_kafka_topic_destroy(tp);
	rd_kafka_destroy(rc);
	rd_kafka_destroy(rp);
}

int
main(int argc, char **argv)
{
	parse_opts(&o, argc, argv, "nagare",
			   "  -a ACKS        1 or all (all)\n"
			   "  -X KEY=VALUE   librdkafka setting\n");
	if (strcmp(o.mode, "drop") == 0)
		die("drop: only nats_load has it");
	if (strcmp(o.mode, "rate") == 0)
		die("rate: bench/suite/rate_load does it for Kafka");
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
