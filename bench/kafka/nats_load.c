/*
 * nats_load: the NATS JetStream peer of bench/kafka, on the NATS C client
 * (cnats).  One measurement per invocation, one JSON line on stdout (see
 * loadgen.h).  The stream is named -t and takes the subject of the same
 * name, with file storage.
 *
 *   produce  delete and re-create the stream, then js_PublishAsync at most
 *            -n messages for at most -d seconds with at most -w (10000)
 *            publishes awaiting their ack.  The time runs from the first
 *            publish to the last ack (js_PublishAsyncComplete).
 *   consume  a pull consumer (no acks) from the first message; Fetch in
 *            batches of -w (10000) until -n messages were read; the time
 *            runs from the first batch received.
 *   latency  js_Publish, one at a time: publish -> ack.
 *   e2e      js_PublishAsync while a push consumer of the stream waits for
 *            the message: publish -> received.
 *   rate     delete and re-create the stream, then -p producers, one
 *            connection each, at a steady -r msgs/s in all, js_Publish
 *            (one in flight per connection): publish -> ack (see
 *            ratemode.h).  -I idle connections send CONNECT and PING and
 *            read until PONG first.  For the suite's connections scenario,
 *            beside bench/suite/rate_load.c.
 *
 * JetStream acknowledges a publish once the message is in its file store's
 * write buffer; it fsyncs on its own timer (every 2 minutes by default;
 * nats-server 2.9 has no setting to fsync each write: sync_interval came in
 * 2.10).  -a is only a label here.
 */
#include <nats/nats.h>

#include "loadgen.h"
#include "ratemode.h"

static opts_t o;
static result_t r;

static natsConnection *nc;
static jsCtx *js;

/* acks are counted on the library's thread */
static volatile uint64_t acked,
			nacked;
static uint64_t *sent_at;		/* produce: send time of message i (stream seq i + 1) */
static long sent_cap;

static void
ack_cb(jsCtx *ctx, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void) ctx;
	(void) closure;
	if (pa && !pae)
	{
		__atomic_add_fetch(&acked, 1, __ATOMIC_RELAXED);
		/* the stream is new: its sequence numbers count our publishes */
		if (sent_at && pa->Sequence >= 1 && (long) pa->Sequence <= sent_cap &&
			(pa->Sequence - 1) % LAT_SAMPLE == 0)
			lat_add(&r.lat, now_ns() - sent_at[pa->Sequence - 1]);
	}
	else
	{
		if (__atomic_add_fetch(&nacked, 1, __ATOMIC_RELAXED) == 1)
			fprintf(stderr, "nats_load: publish failed: %s (%s)\n",
					pae ? natsStatus_GetText(pae->Err) : "?",
					pae && pae->ErrText ? pae->ErrText : "");
	}
	natsMsg_Destroy(msg);
}

static void
check(natsStatus s, jsErrCode jerr, const char *what)
{
	if (s != NATS_OK)
		die("%s: %s (JetStream error %d) %s", what, natsStatus_GetText(s), (int) jerr,
			nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
}

/* a connection and its JetStream context; what failed goes to *what */
static natsStatus
open_js(natsConnection **ncp, jsCtx **jsp, int async_window, const char **what)
{
	char		url[300];
	jsOptions	jo;
	natsStatus	s;
	natsOptions *no = NULL;

	snprintf(url, sizeof(url), "nats://%s:%d", o.host, o.port);
	*what = "options";
	if ((s = natsOptions_Create(&no)) != NATS_OK || (s = natsOptions_SetURL(no, url)) != NATS_OK)
		goto out;
	/*
	 * one message at a time: send it at once rather than when the client's
	 * flusher thread gets to it
	 */
	if (strcmp(o.mode, "latency") == 0 || strcmp(o.mode, "e2e") == 0 ||
		strcmp(o.mode, "rate") == 0)
		if ((s = natsOptions_SetSendAsap(no, true)) != NATS_OK)
			goto out;
	*what = "connect";
	if ((s = natsConnection_Connect(ncp, no)) != NATS_OK)
		goto out;
	jsOptions_Init(&jo);
	jo.Wait = 30000;
	if (async_window)
	{
		jo.PublishAsync.MaxPending = async_window;
		jo.PublishAsync.AckHandler = ack_cb;
		jo.PublishAsync.StallWait = 60000;
	}
	*what = "JetStream context";
	s = natsConnection_JetStream(jsp, *ncp, &jo);
out:
	natsOptions_Destroy(no);
	return s;
}

static void
connect_js(int async_window)
{
	const char *what = NULL;
	natsStatus	s = open_js(&nc, &js, async_window, &what);

	check(s, 0, what);
}

static void
reset_stream(void)
{
	jsStreamConfig sc;
	jsErrCode	jerr = 0;
	const char *subjects[] = {o.topic};
	natsStatus	s;

	js_DeleteStream(js, o.topic, NULL, &jerr);	/* may not exist */
	jsStreamConfig_Init(&sc);
	sc.Name = o.topic;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	jerr = 0;
	s = js_AddStream(NULL, js, &sc, NULL, &jerr);
	check(s, jerr, "add stream");
}

static void
settings(const char *what)
{
	snprintf(r.settings, sizeof(r.settings),
			 "file store, acked after its write buffer, fsync every 2 min (server default); %s", what);
}

static void
run_produce(void)
{
	char	   *payload = malloc(o.size);
	long		window = o.window > 0 ? o.window : 10000;
	long		sent;
	uint64_t	t0,
				deadline;
	jsPubOptions po;
	natsStatus	s;
	char		what[128];

	connect_js(window);
	snprintf(what, sizeof(what), "js_PublishAsync, %ld pending at most", window);
	settings(what);
	reset_stream();
	fill_payload(payload, o.size, 0);
	sent_cap = o.count;
	sent_at = calloc(sent_cap, sizeof(uint64_t));
	if (!sent_at)
		die("out of memory");
	r.cpu0 = cpu_seconds();
	t0 = now_ns();
	deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : UINT64_MAX;
	for (sent = 0; sent < o.count; sent++)
	{
		if ((sent & 1023) == 0 && (now_ns() >= deadline || nacked))
			break;
		if (sent % LAT_SAMPLE == 0)
			sent_at[sent] = now_ns();
		s = js_PublishAsync(js, o.topic, payload, o.size, NULL);
		if (s != NATS_OK)
		{
			result_error(&r, "js_PublishAsync: %s", natsStatus_GetText(s));
			break;
		}
	}
	jsPubOptions_Init(&po);
	po.MaxWait = 60000;
	s = js_PublishAsyncComplete(js, &po);
	if (s != NATS_OK)
		result_error(&r, "js_PublishAsyncComplete: %s", natsStatus_GetText(s));
	result_stop(&r, t0);
	r.msgs = acked;
	r.bytes = acked * (uint64_t) o.size;
	if (nacked)
	{
		r.errors += nacked - 1;
		result_error(&r, "%llu publishes failed", (unsigned long long) nacked);
	}
	if (r.msgs != (uint64_t) sent && !r.errors)
		result_error(&r, "%ld sent, %llu acked", sent, (unsigned long long) r.msgs);
}

static void
run_latency(void)
{
	char	   *payload = malloc(o.size);
	uint64_t	t0 = 0,
				deadline = 0;

	connect_js(0);
	settings("js_Publish, one at a time");
	reset_stream();
	for (long i = -o.warmup; i < o.count; i++)
	{
		jsPubAck   *pa = NULL;
		jsErrCode	jerr = 0;
		natsStatus	s;
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
		s = js_Publish(&pa, js, o.topic, payload, o.size, NULL, &jerr);
		if (s != NATS_OK)
		{
			result_error(&r, "js_Publish: %s (%d)", natsStatus_GetText(s), (int) jerr);
			break;
		}
		if (i >= 0)
		{
			lat_add(&r.lat, now_ns() - t);
			r.msgs++;
			r.bytes += o.size;
		}
		jsPubAck_Destroy(pa);
	}
	result_stop(&r, t0);
}

static void
run_consume(void)
{
	long		batch = o.window > 0 ? o.window : 10000;
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode	jerr = 0;
	natsStatus	s;
	uint64_t	t0;
	char		durable[64],
				what[128];

	connect_js(0);
	snprintf(what, sizeof(what), "pull consumer, AckNone, Fetch batches of %ld", batch);
	settings(what);
	snprintf(durable, sizeof(durable), "bench%d", (int) getpid());
	jsSubOptions_Init(&so);
	so.Stream = o.topic;
	so.Config.DeliverPolicy = js_DeliverAll;
	so.Config.AckPolicy = js_AckNone;
	so.Config.MaxRequestBatch = 0;
	r.cpu0 = cpu_seconds();
	t0 = now_ns();
	s = js_PullSubscribe(&sub, js, o.topic, durable, NULL, &so, &jerr);
	check(s, jerr, "pull subscribe");
	/* the client holds what it has been sent: let it hold a batch */
	natsSubscription_SetPendingLimits(sub, -1, -1);
	while ((long) r.msgs < o.count)
	{
		natsMsgList list = {0};
		long		want = o.count - (long) r.msgs;

		jerr = 0;
		s = natsSubscription_Fetch(&list, sub, (int) (want < batch ? want : batch), 10000, &jerr);
		if (s != NATS_OK)
		{
			result_error(&r, "Fetch after %llu messages: %s (%d)",
						 (unsigned long long) r.msgs, natsStatus_GetText(s), (int) jerr);
			break;
		}
		if (r.msgs == 0 && list.Count > 0)
			t0 = now_ns();		/* as the others: from the first message */
		for (int i = 0; i < list.Count; i++)
		{
			int			len = natsMsg_GetDataLength(list.Msgs[i]);

			if (len != o.size)
				result_error(&r, "message of %d bytes, expected %d", len, o.size);
			r.msgs++;
			r.bytes += len;
		}
		natsMsgList_Destroy(&list);
	}
	result_stop(&r, t0);
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	js_DeleteConsumer(js, o.topic, durable, NULL, NULL);
}

static void
run_e2e(void)
{
	char	   *payload = malloc(o.size);
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode	jerr = 0;
	natsStatus	s;
	uint64_t	t0 = 0,
				deadline = 0;

	connect_js(1000);
	settings("js_PublishAsync while an ordered push consumer waits");
	reset_stream();
	jsSubOptions_Init(&so);
	so.Stream = o.topic;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverNew;
	s = js_SubscribeSync(&sub, js, o.topic, NULL, &so, &jerr);
	check(s, jerr, "subscribe");
	for (long i = -o.warmup; i < o.count; i++)
	{
		uint64_t	t,
					seq = UINT64_MAX;

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
		t = now_ns();
		s = js_PublishAsync(js, o.topic, payload, o.size, NULL);
		if (s != NATS_OK)
		{
			result_error(&r, "js_PublishAsync: %s", natsStatus_GetText(s));
			break;
		}
		while (seq != (uint64_t) i)
		{
			natsMsg    *m = NULL;

			s = natsSubscription_NextMsg(&m, sub, 5000);
			if (s != NATS_OK)
			{
				result_error(&r, "message %ld not received: %s", i, natsStatus_GetText(s));
				goto out;
			}
			if (natsMsg_GetDataLength(m) >= 8)
				memcpy(&seq, natsMsg_GetData(m), 8);
			natsMsg_Destroy(m);
		}
		lat_add(&r.lat, now_ns() - t);
	}
out:
	result_stop(&r, t0);
	r.msgs = r.lat.n;
	r.bytes = r.lat.n * (uint64_t) o.size;
	{
		jsPubOptions po;

		jsPubOptions_Init(&po);
		po.MaxWait = 10000;
		js_PublishAsyncComplete(js, &po);
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
}

/* the rate mode: one connection and JetStream context per producer */
static int
rate_open(rate_prod_t *p, const char *payload)
{
	natsConnection *c = NULL;
	jsCtx	   *j = NULL;
	const char *what;
	natsStatus	s = open_js(&c, &j, 0, &what);

	(void) payload;
	if (s != NATS_OK)
	{
		rate_error(p, "%s: %s", what, natsStatus_GetText(s));
		if (c)
			natsConnection_Destroy(c);
		return -1;
	}
	p->conn = c;
	p->aux = j;
	return 0;
}

static int
rate_send(rate_prod_t *p, const char *payload)
{
	jsPubAck   *pa = NULL;
	jsErrCode	jerr = 0;
	natsStatus	s = js_Publish(&pa, p->aux, o.topic, payload, o.size, NULL, &jerr);

	if (s != NATS_OK)
	{
		rate_error(p, "js_Publish: %s (JetStream error %d)", natsStatus_GetText(s), (int) jerr);
		return s == NATS_CONNECTION_CLOSED ? -2 : -1;
	}
	jsPubAck_Destroy(pa);
	return 0;
}

static void
rate_close(rate_prod_t *p)
{
	jsCtx_Destroy(p->aux);
	natsConnection_Destroy(p->conn);
}

static int
run_rate_nats(void)
{
	static const rate_ops_t ops = {rate_open, rate_send, rate_close,
	"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n", "PONG\r\n"};
	char		what[256];

	connect_js(0);
	reset_stream();
	/* only the producers' and the idle connections from here */
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	js = NULL;
	nc = NULL;
	snprintf(what, sizeof(what), "cnats %s, %d producer(s), js_Publish (one in flight per connection), "
			 "%d B, %.0f msgs/s in all", nats_GetVersion(), o.producers, o.size, o.rate);
	settings(what);
	return run_rate(&o, &ops, r.settings);
}

int
main(int argc, char **argv)
{
	natsStatus	s = nats_Open(-1);

	if (s != NATS_OK)
		die("nats_Open: %s", natsStatus_GetText(s));
	parse_opts(&o, argc, argv, "nats",
			   "  -a LABEL       only reported (JetStream has one durability setting)\n");
	if (strcmp(o.mode, "drop") == 0)
	{
		/* delete the stream and its files; no result line */
		connect_js(0);
		js_DeleteStream(js, o.topic, NULL, NULL);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		return 0;
	}
	if (strcmp(o.mode, "rate") == 0)
	{
		s = run_rate_nats();
		nats_Close();
		return s;
	}
	if (strcmp(o.mode, "produce") == 0)
		run_produce();
	else if (strcmp(o.mode, "consume") == 0)
		run_consume();
	else if (strcmp(o.mode, "latency") == 0)
		run_latency();
	else
		run_e2e();
	s = print_result(&o, &r);
	if (js)
		jsCtx_Destroy(js);
	if (nc)
		natsConnection_Destroy(nc);
	return s;
}
