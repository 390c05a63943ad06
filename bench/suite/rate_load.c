/*
 * rate_load: Kafka producers at a steady rate, on librdkafka, measuring the
 * latency of every message (send to delivery report).  Used by the suite's
 * isolation, partitions and connections scenarios (bench/suite/suite.py).
 *
 *   rate_load -H HOST:PORT -t TOPIC [-p PRODUCERS] [-r TOTAL_RATE] [-s BYTES]
 *             [-d SECONDS] [-a ACKS] [-I IDLE_CONNECTIONS] [-W WARMUP_S]
 *             [-c CLIENT_ID] [-X KEY=VALUE]... [-C CONSUMERS]
 *
 * -p producers (one rd_kafka_t each, each in its own thread) share the
 * total rate -r evenly; each sends one message every 1/(r/p) seconds
 * (linger.ms=0, keyless, the default partitioner) and serves its delivery
 * reports in between; a message's latency runs from its scheduled send time
 * to its delivery report.  Messages sent during the first -W seconds are not
 * counted.  -I opens that many more TCP connections to the broker first,
 * each sends one ApiVersions request and then stays idle until the end.
 * -c sets the producers' client.id (default librdkafka's), -X any
 * librdkafka setting of theirs (applied last, e.g. linger.ms=5 for a
 * producer that batches).  -C starts that many consumers first (simple
 * consumers, no group, fetch.wait.max.ms=100, client.id CLIENT_ID-consumer),
 * each reading every partition of the topic from its end: every message
 * then carries its scheduled send time, and a consumer's latency runs from
 * that time to when it received the message (end to end), reported as
 * e2e_p50_us... over all consumers' messages of the counted window.
 * Prints one JSON line (see bench/kafka/loadgen.h), with p99.9.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>

#include "../kafka/loadgen.h"

static const char *host = "127.0.0.1",
		   *topic = NULL,
		   *acks = "all",
		   *client_id = NULL;
static const char *xconf[32];	/* -X key=value */
static int	nxconf;
static int	port,
			nprod = 1,
			ncons = 0,
			size = 1024,
			idle = 0;
static double rate = 1000,
			duration = 10,
			warmup = 1;
static uint64_t t_start,
			t_count,
			t_end;

typedef struct
{
	int			id;
	rd_kafka_t *rk;
	lat_t		lat;
	uint64_t	msgs,
				errors,
				sent;
	int			wake[2];		/* librdkafka writes to [1] when a report is queued */
	char		error[256];
} prod_t;

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	prod_t	   *p = opaque;
	uint64_t	sent_at = (uint64_t) (uintptr_t) m->_private;

	(void) rk;
	if (m->err)
	{
		if (!p->errors++)
			snprintf(p->error, sizeof(p->error), "delivery failed: %s", rd_kafka_err2str(m->err));
		return;
	}
	if (sent_at >= t_count)
	{
		p->msgs++;
		lat_add(&p->lat, now_ns() - sent_at);
	}
}

static void *
producer(void *arg)
{
	prod_t	   *p = arg;
	char		err[512],
				bootstrap[300];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *main_q;
	char	   *payload = malloc(size);
	double		interval = 1e9 / (rate / nprod);
	uint64_t	next;

	snprintf(bootstrap, sizeof(bootstrap), "%s:%d", host, port);
#define SET(k, v) do { if (rd_kafka_conf_set(conf, (k), (v), err, sizeof(err)) != RD_KAFKA_CONF_OK) die("%s: %s", (k), err); } while (0)
	SET("bootstrap.servers", bootstrap);
	SET("acks", acks);
	SET("linger.ms", "0");
	SET("enable.idempotence", "false");
	SET("compression.type", "none");
	if (client_id)
		SET("client.id", client_id);
	for (int i = 0; i < nxconf; i++)
	{
		char		kv[256],
				   *eq;

		snprintf(kv, sizeof(kv), "%s", xconf[i]);
		eq = strchr(kv, '=');
		if (!eq)
			die("-X wants key=value");
		*eq = '\0';
		SET(kv, eq + 1);
	}
#undef SET
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!p->rk)
		die("rd_kafka_new: %s", err);
	rkt = rd_kafka_topic_new(p->rk, topic, NULL);
	fill_payload(payload, size, p->id);

	/*
	 * Wait for the next send time in ppoll() on a pipe that librdkafka
	 * writes to when a delivery report is queued, so that a report is served
	 * (and its latency taken) when it arrives.  rd_kafka_poll()'s timeout is
	 * in whole milliseconds: waiting in it, a report that arrived during the
	 * last millisecond before a send would be seen only at that send, and
	 * every latency would be rounded up to the send interval.
	 */
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0)
		die("pipe: %s", strerror(errno));
	main_q = rd_kafka_queue_get_main(p->rk);
	rd_kafka_queue_io_event_enable(main_q, p->wake[1], "x", 1);

	/* spread the producers' send times over one interval */
	next = t_start + (uint64_t) (interval * p->id / nprod);
	while (next < t_end)
	{
		uint64_t	now = now_ns();

		while (now < next)
		{
			struct pollfd pfd = {.fd = p->wake[0], .events = POLLIN};
			struct timespec ts = {(time_t) ((next - now) / 1000000000),
			(long) ((next - now) % 1000000000)};
			char		drain[64];

			if (ppoll(&pfd, 1, &ts, NULL) > 0)
			{
				while (read(p->wake[0], drain, sizeof(drain)) > 0)
					;
				rd_kafka_poll(p->rk, 0);
			}
			now = now_ns();
		}
		/* the latency runs from the scheduled send time, as the peers' (ratemode.h) */
		if (ncons)
			memcpy(payload + 8, &next, 8);	/* for the consumers; copied */
		if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, ncons ? RD_KAFKA_MSG_F_COPY : 0,
							 payload, size, NULL, 0, (void *) (uintptr_t) next) == -1)
		{
			if (!p->errors++)
				snprintf(p->error, sizeof(p->error), "produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
		}
		else
			p->sent++;
		rd_kafka_poll(p->rk, 0);
		next += (uint64_t) interval;
	}
	rd_kafka_queue_io_event_enable(main_q, -1, NULL, 0);
	rd_kafka_queue_destroy(main_q);
	rd_kafka_flush(p->rk, 30000);
	rd_kafka_topic_destroy(rkt);
	close(p->wake[0]);
	close(p->wake[1]);
	return NULL;
}

/*
 * a consumer: every partition of the topic from its end; stops when it has
 * seen every message acknowledged in the counted window, or 5 s after the
 * producers are done
 */
typedef struct
{
	int			id;
	lat_t		lat;
	uint64_t	msgs,
				errors;
	char		error[256];
	volatile int ready;
} cons_t;

static volatile uint64_t sent_counted;	/* set before producers_done */
static volatile int producers_done;

static void *
consumer(void *arg)
{
	cons_t	   *c = arg;
	char		err[512],
				bootstrap[300],
				cid[300];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *q;
	const struct rd_kafka_metadata *md;
	int			np;
	uint64_t	deadline = 0;

	snprintf(bootstrap, sizeof(bootstrap), "%s:%d", host, port);
	snprintf(cid, sizeof(cid), "%s-consumer", client_id ? client_id : "rate_load");
#define SET(k, v) do { if (rd_kafka_conf_set(conf, (k), (v), err, sizeof(err)) != RD_KAFKA_CONF_OK) die("%s: %s", (k), err); } while (0)
	SET("bootstrap.servers", bootstrap);
	SET("client.id", cid);
	SET("enable.auto.commit", "false");
	SET("enable.auto.offset.store", "false");
	SET("fetch.wait.max.ms", "100");
#undef SET
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		die("rd_kafka_new: %s", err);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1)
		die("metadata of %s failed", topic);
	np = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	q = rd_kafka_queue_new(rk);
	for (int p = 0; p < np; p++)
		if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_END, q) == -1)
			die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
	c->ready = 1;
	for (;;)
	{
		rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
		uint64_t	now = now_ns();

		if (m)
		{
			if (m->err)
			{
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && !c->errors++)
					snprintf(c->error, sizeof(c->error), "consume: %s", rd_kafka_message_errstr(m));
			}
			else if (m->len >= 16)
			{
				uint64_t	at;

				memcpy(&at, (char *) m->payload + 8, 8);
				if (at >= t_count && at < t_end)
				{
					c->msgs++;
					lat_add(&c->lat, now - at);
				}
			}
			rd_kafka_message_destroy(m);
		}
		if (producers_done)
		{
			if (!deadline)
				deadline = now + 5000000000ull;
			if (c->msgs >= sent_counted || now > deadline)
				break;
		}
	}
	for (int p = 0; p < np; p++)
		rd_kafka_consume_stop(rkt, p);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return NULL;
}

/* IDLE connections, each having sent one ApiVersions v0 and read its answer */
static int
open_idle(int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	unsigned char req[] = {0, 0, 0, 16, 0, 18, 0, 0, 0, 0, 0, 1, 0, 6, 'i', 'd', 'l', 'e', 'r', 's'};
	int			ok = 0;

	inet_pton(AF_INET, host, &a.sin_addr);
	for (int i = 0; i < n; i++)
	{
		int			fd = socket(AF_INET, SOCK_STREAM, 0);
		unsigned char len[4];
		char		buf[4096];
		uint32_t	want,
					got = 0;

		if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)))
		{
			fprintf(stderr, "rate_load: idle connection %d: %s\n", i, strerror(errno));
			break;
		}
		if (write(fd, req, sizeof(req)) != sizeof(req) || read(fd, len, 4) != 4)
			continue;
		want = (len[0] << 24) | (len[1] << 16) | (len[2] << 8) | len[3];
		while (got < want)
		{
			ssize_t		k = read(fd, buf, want - got < sizeof(buf) ? want - got : sizeof(buf));

			if (k <= 0)
				break;
			got += k;
		}
		if (got == want)
			ok++;
	}
	return ok;
}

int
main(int argc, char **argv)
{
	int			c,
				idle_ok = 0;
	prod_t	   *ps;
	pthread_t  *th,
			   *cth = NULL;
	cons_t	   *cs = NULL;
	lat_t		all = {0},
				e2e = {0};
	uint64_t	cmsgs = 0;
	uint64_t	msgs = 0,
				errors = 0,
				sent = 0;
	const char *error = NULL;
	double		cpu0,
				secs;
	char	   *colon;

	while ((c = getopt(argc, argv, "H:t:p:r:s:d:a:I:W:c:X:C:")) != -1)
	{
		switch (c)
		{
			case 'H':
				host = strdup(optarg);
				colon = strrchr(host, ':');
				if (!colon)
					die("-H wants HOST:PORT");
				*colon = '\0';
				port = atoi(colon + 1);
				break;
			case 't': topic = optarg; break;
			case 'p': nprod = atoi(optarg); break;
			case 'r': rate = atof(optarg); break;
			case 's': size = atoi(optarg); break;
			case 'd': duration = atof(optarg); break;
			case 'a': acks = optarg; break;
			case 'I': idle = atoi(optarg); break;
			case 'W': warmup = atof(optarg); break;
			case 'c': client_id = optarg; break;
			case 'C': ncons = atoi(optarg); break;
			case 'X':
				if (nxconf == 32)
					die("too many -X");
				xconf[nxconf++] = optarg;
				break;
			default: die("bad option (see the comment at the top of rate_load.c)");
		}
	}
	if (!port || !topic || size < 16 || nprod < 1)
		die("-H and -t are required");
	if (idle)
		idle_ok = open_idle(idle);
	if (ncons)
	{
		cs = calloc(ncons, sizeof(*cs));
		cth = calloc(ncons, sizeof(*cth));
		t_count = t_end = UINT64_MAX;	/* until the producers' times are set */
		for (int i = 0; i < ncons; i++)
		{
			cs[i].id = i;
			pthread_create(&cth[i], NULL, consumer, &cs[i]);
		}
		for (int i = 0; i < ncons; i++)
			while (!cs[i].ready)
				usleep(1000);
		usleep(500000);			/* their first Fetch is at the end */
	}
	ps = calloc(nprod, sizeof(*ps));
	th = calloc(nprod, sizeof(*th));
	cpu0 = cpu_seconds();
	t_start = now_ns() + 2000000000ull;	/* time for every producer to connect */
	t_count = t_start + (uint64_t) (warmup * 1e9);
	t_end = t_count + (uint64_t) (duration * 1e9);
	for (int i = 0; i < nprod; i++)
	{
		ps[i].id = i;
		pthread_create(&th[i], NULL, producer, &ps[i]);
	}
	for (int i = 0; i < nprod; i++)
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
	if (ncons)
	{
		/* what was sent in the counted window and acknowledged */
		sent_counted = msgs;
		producers_done = 1;
		for (int i = 0; i < ncons; i++)
		{
			pthread_join(cth[i], NULL);
			for (size_t j = 0; j < cs[i].lat.n; j++)
				lat_add(&e2e, cs[i].lat.v[j]);
			cmsgs += cs[i].msgs;
			errors += cs[i].errors;
			if (cs[i].error[0] && !error)
				error = cs[i].error;
		}
		qsort(e2e.v, e2e.n, sizeof(*e2e.v), cmp_u64);
	}
	secs = duration;
	qsort(all.v, all.n, sizeof(*all.v), cmp_u64);
	printf("{\"system\":\"nagare\",\"mode\":\"rate\",\"topic\":\"%s\",\"size\":%d,\"acks\":\"%s\","
		   "\"producers\":%d,\"target_rate\":%.0f,\"idle_connections\":%d,\"msgs\":%llu,\"sent\":%llu,"
		   "\"bytes\":%llu,\"secs\":%.3f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,\"lat_n\":%zu",
		   topic, size, acks, nprod, rate, idle_ok, (unsigned long long) msgs, (unsigned long long) sent,
		   (unsigned long long) msgs * size, secs, msgs / secs, msgs * size / secs / 1e6, all.n);
	printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"cpu_s\":%.3f,\"errors\":%llu,\"error\":",
		   lat_pct(&all, 50), lat_pct(&all, 99), lat_pct(&all, 99.9), lat_pct(&all, 100),
		   cpu_seconds() - cpu0, (unsigned long long) errors);
	if (error)
		json_str(stdout, error);
	else
		fputs("null", stdout);
	if (ncons)
		printf(",\"consumers\":%d,\"consumer_msgs\":%llu,\"e2e_p50_us\":%.1f,\"e2e_p99_us\":%.1f,"
			   "\"e2e_p999_us\":%.1f,\"e2e_max_us\":%.1f",
			   ncons, (unsigned long long) cmsgs, lat_pct(&e2e, 50), lat_pct(&e2e, 99),
			   lat_pct(&e2e, 99.9), lat_pct(&e2e, 100));
	printf(",\"settings\":\"librdkafka %s, %d producer(s), acks=%s, linger.ms=0, %d B, %.0f msgs/s in all%s%s\"}\n",
		   rd_kafka_version_str(), nprod, acks, size, rate, client_id ? ", client.id " : "",
		   client_id ? client_id : "");
	for (int i = 0; i < nprod; i++)
		rd_kafka_destroy(ps[i].rk);
	return errors ? 1 : 0;
}
