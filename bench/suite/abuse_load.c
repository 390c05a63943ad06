/*
 * abuse_load: the abusive clients of the suite's quota scenarios
 * (bench/suite/suite.py): a consumer that takes all it can, and a storm of
 * connections.  One JSON line on stdout.
 *
 *   abuse_load consume -H HOST:PORT -t TOPIC [-c CLIENT_ID] [-d SECONDS]
 *                      [-W WARMUP_S] [-X KEY=VALUE]...
 *
 *     One simple consumer (librdkafka, no group) reads every partition of
 *     TOPIC from the beginning, and from the beginning again whenever it
 *     reaches the end, as fast as the broker lets it, for -W + -d seconds.
 *     -X passes librdkafka settings (e.g. fetch.wait.max.ms=0: the KIP-124
 *     consumer, whose every Fetch of a caught-up partition returns at once
 *     and is sent again at once).  With -e it reads from the end instead
 *     and stays there (tailing a topic nobody writes: nothing but empty
 *     Fetches).  Counts what it received during the last -d seconds:
 *     records, payload bytes and the Fetch requests librdkafka sent
 *     (statistics: brokers[].req.Fetch), and the throttle times the broker
 *     reported (brokers[].throttle.max over the statistics intervals).
 *
 *   abuse_load storm -H HOST:PORT [-b SOURCE_ADDRESS] [-r RATE] [-d SECONDS]
 *                    [-W WARMUP_S] [-m MAX_OPEN]
 *
 *     Opens RATE connections per second from SOURCE_ADDRESS (bound before
 *     connecting, e.g. 127.0.0.2, so that the broker sees another ip than
 *     the other clients' 127.0.0.1), at most -m (1000) open at once; on each
 *     sends one ApiVersions v0 request, waits for its answer (at most 5 s)
 *     and closes it with a reset (SO_LINGER 0: no TIME_WAIT, so the
 *     ephemeral ports last).  Counts, during the last -d seconds:
 *     connections attempted, answered, refused or closed by the broker
 *     before answering, timed out, and not attempted because -m were
 *     still open; the latency from connect() to the answer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>

#include "../kafka/loadgen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static const char *mode,
		   *host = "127.0.0.1",
		   *topic,
		   *client_id = "abuse_load",
		   *source = NULL;
static const char *xconf[32];
static int	nxconf,
			port,
			from_end = 0,
			max_open = 1000;
static double duration = 10,
			warmup = 1,
			rate = 1000;

/* ---------------------------------------------------------------- consume */

static volatile uint64_t fetch_reqs,
			throttle_max_ms,
			throttle_sum_ms,
			throttle_n;

/* in librdkafka's statistics JSON: the object after "key": (spaces allowed) */
static char *
json_object_at(char *p, const char *key, char **end)
{
	size_t		n = strlen(key);

	while ((p = strstr(p, key)) != NULL)
	{
		char	   *q = p + n;

		while (*q == ' ')
			q++;
		if (*q == ':')
		{
			q++;
			while (*q == ' ')
				q++;
			if (*q == '{')
			{
				*end = strchr(q, '}');	/* these objects are flat */
				return *end ? q : NULL;
			}
		}
		p += n;
	}
	return NULL;
}

/* the number after "key": in [p, end), or -1 */
static long long
json_number_in(char *p, char *end, const char *key)
{
	char	   *k = strstr(p, key);

	if (!k || k > end)
		return -1;
	k += strlen(key);
	while (*k == ' ' || *k == ':')
		k++;
	return strtoll(k, NULL, 10);
}

/*
 * Every statistics interval: the Fetch requests sent so far (brokers[].req
 * .Fetch) and the largest throttle time the broker reported in the interval
 * (brokers[].throttle.max, in ms)
 */
static int
stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	char	   *p = json,
			   *end;
	uint64_t	reqs = 0;

	(void) rk;
	(void) len;
	(void) opaque;
	while ((p = json_object_at(p, "\"req\"", &end)) != NULL)
	{
		long long	v = json_number_in(p, end, "\"Fetch\"");

		if (v > 0)
			reqs += v;
		p = end;
	}
	fetch_reqs = reqs;
	p = json;
	while ((p = json_object_at(p, "\"throttle\"", &end)) != NULL)
	{
		long long	v = json_number_in(p, end, "\"max\"");

		if (v > 0)
		{
			if ((uint64_t) v > throttle_max_ms)
				throttle_max_ms = v;
			throttle_sum_ms += v;
			throttle_n++;
		}
		p = end;
	}
	return 0;
}

static int
run_consume(void)
{
	char		err[512],
				bootstrap[300];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *q;
	const struct rd_kafka_metadata *md;
	int			np;
	uint64_t	t0,
				t_count,
				t_end,
				msgs = 0,
				bytes = 0,
				errors = 0,
				reqs0 = 0;
	double		cpu0 = cpu_seconds();
	char		error[256] = "";

	snprintf(bootstrap, sizeof(bootstrap), "%s:%d", host, port);
#define SET(k, v) do { if (rd_kafka_conf_set(conf, (k), (v), err, sizeof(err)) != RD_KAFKA_CONF_OK) die("%s=%s: %s", (k), (v), err); } while (0)
	SET("bootstrap.servers", bootstrap);
	SET("client.id", client_id);
	SET("enable.auto.commit", "false");
	SET("enable.auto.offset.store", "false");
	SET("enable.partition.eof", "true");
	SET("statistics.interval.ms", "500");
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
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
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
		if (rd_kafka_consume_start_queue(rkt, p, from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING, q) == -1)
			die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
	t0 = now_ns();
	t_count = t0 + (uint64_t) (warmup * 1e9);
	t_end = t_count + (uint64_t) (duration * 1e9);
	for (;;)
	{
		rd_kafka_message_t *batch[1024];
		ssize_t		n = rd_kafka_consume_batch_queue(q, 100, batch, 1024);
		uint64_t	now = now_ns();

		rd_kafka_poll(rk, 0);	/* the statistics callback */

		if (now >= t_count && !reqs0)
			reqs0 = fetch_reqs ? fetch_reqs : 1;
		for (ssize_t i = 0; i < n; i++)
		{
			rd_kafka_message_t *m = batch[i];

			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				if (!from_end && rd_kafka_seek(rkt, m->partition, RD_KAFKA_OFFSET_BEGINNING, 1000))
				{
					if (!errors++)
						snprintf(error, sizeof(error), "seek: %s", rd_kafka_err2str(rd_kafka_last_error()));
				}
			}
			else if (m->err)
			{
				if (!errors++)
					snprintf(error, sizeof(error), "consume: %s", rd_kafka_message_errstr(m));
			}
			else if (now >= t_count && now < t_end)
			{
				msgs++;
				bytes += m->len + (m->key ? m->key_len : 0);
			}
			rd_kafka_message_destroy(m);
		}
		if (now >= t_end)
			break;
	}
	/* the statistics of the window's end */
	usleep(600000);
	rd_kafka_poll(rk, 0);
	rd_kafka_consume_batch_queue(q, 0, NULL, 0);
	for (int p = 0; p < np; p++)
		rd_kafka_consume_stop(rkt, p);
	{
		uint64_t	reqs = fetch_reqs - (reqs0 > 1 ? reqs0 : 0);

		printf("{\"system\":\"nagare\",\"mode\":\"abuse-consume\",\"topic\":\"%s\",\"client_id\":\"%s\","
			   "\"msgs\":%llu,\"bytes\":%llu,\"secs\":%.3f,\"msgs_per_s\":%.1f,\"bytes_per_s\":%.0f,"
			   "\"mb_per_s\":%.3f,\"fetch_requests\":%llu,\"fetch_per_s\":%.1f,\"throttle_max_ms\":%llu,"
			   "\"throttle_avg_ms\":%.1f,\"cpu_s\":%.3f,\"errors\":%llu,\"error\":",
			   topic, client_id, (unsigned long long) msgs, (unsigned long long) bytes, duration,
			   msgs / duration, bytes / duration, bytes / duration / 1e6, (unsigned long long) reqs,
			   reqs / duration, (unsigned long long) throttle_max_ms,
			   throttle_n ? (double) throttle_sum_ms / throttle_n : 0.0, cpu_seconds() - cpu0,
			   (unsigned long long) errors);
		if (error[0])
			json_str(stdout, error);
		else
			fputs("null", stdout);
		printf(",\"settings\":\"librdkafka %s, simple consumer from the %s, %d partition(s)",
			   rd_kafka_version_str(), from_end ? "end" : "beginning (again at every end)", np);
		for (int i = 0; i < nxconf; i++)
			printf(", %s", xconf[i]);
		printf("\"}\n");
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return 0;
}

/* ---------------------------------------------------------------- storm */

typedef struct
{
	int			fd;
	int			state;			/* 0 free, 1 connecting, 2 sent */
	uint64_t	started;
	uint32_t	want,
				got;
	unsigned char len[4];
} conn_t;

static int
run_storm(void)
{
	static const unsigned char req[] = {0, 0, 0, 16, 0, 18, 0, 0, 0, 0, 0, 1, 0, 6, 's', 't', 'o', 'r', 'm', '!'};
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)},
				src = {.sin_family = AF_INET};
	conn_t	   *cs = calloc(max_open, sizeof(*cs));
	int			ep = epoll_create1(0),
				open_now = 0;
	double		interval = 1e9 / rate,
				cpu0 = cpu_seconds();
	uint64_t	t0 = now_ns(),
				t_count = t0 + (uint64_t) (warmup * 1e9),
				t_end = t_count + (uint64_t) (duration * 1e9),
				next = t0;
	uint64_t	attempted = 0,
				answered = 0,
				closed = 0,
				refused = 0,
				timed_out = 0,
				skipped = 0,
				no_port = 0;
	lat_t		lat = {0};
	struct linger lg = {1, 0};
	char		error[256] = "";

	inet_pton(AF_INET, host, &dst.sin_addr);
	if (source && inet_pton(AF_INET, source, &src.sin_addr) != 1)
		die("-b wants an IPv4 address");
	while (1)
	{
		uint64_t	now = now_ns();
		struct epoll_event evs[256];
		int			n,
					wait_ms;

		/* open what is due */
		while (next <= now && next < t_end)
		{
			int			counted = next >= t_count,
						slot = -1,
						fd,
						one = 1;

			next += (uint64_t) interval;
			if (open_now == max_open)
			{
				skipped += counted;
				continue;
			}
			for (int i = 0; i < max_open; i++)
				if (!cs[i].state)
				{
					slot = i;
					break;
				}
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0)
				die("socket: %s", strerror(errno));
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (source)
			{
				setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
				if (bind(fd, (struct sockaddr *) &src, sizeof(src)))
					die("bind %s: %s", source, strerror(errno));
			}
			attempted += counted;
			if (connect(fd, (struct sockaddr *) &dst, sizeof(dst)) && errno != EINPROGRESS)
			{
				if (errno == EADDRNOTAVAIL)
					no_port += counted;
				else
				{
					refused += counted;
					if (!error[0])
						snprintf(error, sizeof(error), "connect: %s", strerror(errno));
				}
				close(fd);
				continue;
			}
			cs[slot] = (conn_t) {.fd = fd, .state = 1, .started = now};
			open_now++;
			{
				struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = slot};

				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
		if (now >= t_end && open_now == 0)
			break;
		if (now >= t_end + 6000000000ull)
			break;
		wait_ms = next > now && next < t_end ? (int) ((next - now) / 1000000) : (now < t_end ? 0 : 100);
		n = epoll_wait(ep, evs, 256, wait_ms);
		now = now_ns();
		for (int i = 0; i < n; i++)
		{
			conn_t	   *c = &cs[evs[i].data.u32];
			int			done = 0,
						counted = c->started >= t_count && c->started < t_end;

			if (c->state == 1 && (evs[i].events & EPOLLOUT) && !(evs[i].events & (EPOLLERR | EPOLLHUP)))
			{
				struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = evs[i].data.u32};

				if (write(c->fd, req, sizeof(req)) != sizeof(req))
				{
					closed += counted;
					done = 1;
				}
				else
				{
					c->state = 2;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			else if (c->state == 2 && (evs[i].events & EPOLLIN))
			{
				/* the answer: 4 bytes of length, then that many */
				for (;;)
				{
					unsigned char buf[4096];
					size_t		room = c->got < 4 ? 4 - c->got : c->want - c->got;
					ssize_t		k = read(c->fd, c->got < 4 ? c->len + c->got : buf,
										 room < sizeof(buf) ? room : sizeof(buf));

					if (k == 0 || (k < 0 && errno != EAGAIN))
					{
						closed += counted;
						done = 1;
						break;
					}
					if (k < 0)
						break;
					c->got += k;
					if (c->got == 4)
						c->want = ((uint32_t) c->len[0] << 24 | (uint32_t) c->len[1] << 16 |
								   (uint32_t) c->len[2] << 8 | c->len[3]) + 4;
					if (c->got >= 4 && c->got == c->want)
					{
						if (counted)
						{
							answered++;
							lat_add(&lat, now - c->started);
						}
						done = 1;
						break;
					}
				}
			}
			else if (evs[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			{
				if (c->state == 1)
					refused += counted;
				else
					closed += counted;
				done = 1;
			}
			if (done)
			{
				close(c->fd);
				c->state = 0;
				open_now--;
			}
		}
		/* the ones that waited too long */
		for (int i = 0; i < max_open; i++)
			if (cs[i].state && now - cs[i].started > 5000000000ull)
			{
				timed_out += cs[i].started >= t_count && cs[i].started < t_end;
				close(cs[i].fd);
				cs[i].state = 0;
				open_now--;
			}
	}
	qsort(lat.v, lat.n, sizeof(*lat.v), cmp_u64);
	printf("{\"system\":\"nagare\",\"mode\":\"storm\",\"source\":\"%s\",\"target_rate\":%.0f,\"secs\":%.3f,"
		   "\"attempted\":%llu,\"answered\":%llu,\"answered_per_s\":%.1f,\"closed_by_broker\":%llu,"
		   "\"refused\":%llu,\"timed_out\":%llu,\"skipped_max_open\":%llu,\"no_port\":%llu,"
		   "\"msgs\":%llu,\"msgs_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"cpu_s\":%.3f,"
		   "\"errors\":0,\"error\":",
		   source ? source : "", rate, duration, (unsigned long long) attempted, (unsigned long long) answered,
		   answered / duration, (unsigned long long) closed, (unsigned long long) refused,
		   (unsigned long long) timed_out, (unsigned long long) skipped, (unsigned long long) no_port,
		   (unsigned long long) answered, answered / duration, lat_pct(&lat, 50), lat_pct(&lat, 99),
		   lat_pct(&lat, 99.9), cpu_seconds() - cpu0);
	if (error[0])
		json_str(stdout, error);
	else
		fputs("null", stdout);
	printf(",\"settings\":\"%.0f connections/s from %s, at most %d open, ApiVersions v0 on each, closed with a reset\"}\n",
		   rate, source ? source : "any address", max_open);
	return 0;
}

int
main(int argc, char **argv)
{
	int			c;
	char	   *colon;

	if (argc < 2 || (strcmp(argv[1], "consume") && strcmp(argv[1], "storm")))
		die("usage: abuse_load consume|storm -H HOST:PORT ... (see the comment at the top of abuse_load.c)");
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "H:t:c:d:W:X:eb:r:m:")) != -1)
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
			case 'c': client_id = optarg; break;
			case 'd': duration = atof(optarg); break;
			case 'W': warmup = atof(optarg); break;
			case 'X':
				if (nxconf == 32)
					die("too many -X");
				xconf[nxconf++] = optarg;
				break;
			case 'e': from_end = 1; break;
			case 'b': source = optarg; break;
			case 'r': rate = atof(optarg); break;
			case 'm': max_open = atoi(optarg); break;
			default: die("bad option (see the comment at the top of abuse_load.c)");
		}
	}
	if (!port)
		die("-H is required");
	if (strcmp(mode, "consume") == 0)
	{
		if (!topic)
			die("-t is required");
		return run_consume();
	}
	return run_storm();
}
