/*-------------------------------------------------------------------------
 *
 * fuzz_broker.c
 *	  libFuzzer target for the broker's whole request path: frames, the
 *	  request header, dispatch by the API table, every API's decoder, its
 *	  real handler, and the response encoder, on one client connection.
 *
 * The broker's files are linked as the extension builds them (kafka_api.c,
 * metadata.c, produce.c, producers.c, fetch.c, group*.c, admin.c,
 * acl_api.c, quota_api.c, sasl_server.c, errmap.c, topicmap.c, with
 * ../acl, ../auth, ../quota, ../topic/config.c, logstore/readplan.c and
 * logstore/producerstate.c, and all of ../kafka); fake_pg.c stands in for
 * the PostgreSQL backend and fake_broker.c for the rest of the server: the
 * connection (net.c), shared memory with three topics, the append ring and
 * a partition store in memfds, file I/O, and the nagare worker's channel,
 * which never runs SQL (see there).
 *
 * Input: byte 0 configures the server for this input, the rest is what a
 * client sends on one connection, frames with their 4-byte size:
 *
 *	bits 0-1	3: a SASL_PLAINTEXT listener (only SASL passes until the
 *				client authenticates, which it cannot: the catalog lookups
 *				go to the channel); else PLAINTEXT
 *	bit 2		the ACL table holds fake_broker.c's ACLs, else is empty
 *	bits 3-4	nagare.allow_everyone_if_no_acl_found: auto, on, off, auto
 *	bit 5		the nagare worker's channel is full
 *	bit 6		the channel answers with an error, else never (timeouts)
 *	bit 7		the append ring is full
 *
 * A frame whose size is negative or over nagare.max_request_size closes the
 * connection, as net.c does; an incomplete last frame is dropped (the
 * client hung up).  After each frame the loop turns once (produce, aio,
 * channel answers, fetch, admin, groups, SASL).  A request that holds the
 * connection (a Produce waiting for the ring) gets a few turns; if it still
 * holds it, the rest of the input is not read.
 *
 * Besides ASan and UBSan: an ereport(ERROR) aborts (fake_pg.c); the
 * connection checks net.c's contract (fake_broker.c): whole frames,
 * responses in request order for requests sent, ready once, dropped only
 * when closing, balanced holds and pins.  At the end of the input, while
 * the connection is still open, the clock moves on (in growing steps, up
 * to 25 days) until every request but a Produce with acks=0 has
 * its answer, or the input fails.  Then the client hangs up, and within
 * eight more turns, an hour apart, nothing may keep the connection
 * (fake_conn_close_and_reap).  Between inputs the broker's consumer groups
 * and producer states expire and go (fake_broker_end_input).
 *
 * test/fuzz/fuzz_broker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "broker/kafka_api.h"
#include "kafka/byteorder.h"
#include "nagare.h"

#include "fake.h"

int LLVMFuzzerTestOneInput(const uint8 *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FUZZ_STATS=n: the memory the broker keeps, every n inputs */
static long stats_every = 0;
static long inputs = 0;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_STATS"))
		stats_every = atol(getenv("FUZZ_STATS"));
	fake_broker_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	FakeConfig cfg;
	NagareConn *conn;
	size_t pos = 1;

	if (size < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.sec = (data[0] & 3) == 3 ? NAGARE_SEC_SASL_PLAINTEXT : NAGARE_SEC_PLAINTEXT;
	cfg.acls = (data[0] & 4) != 0;
	cfg.allow_everyone = ((data[0] >> 3) & 3) == 3   ? NAGARE_ALLOW_EVERYONE_AUTO
						 : ((data[0] >> 3) & 3) == 1 ? NAGARE_ALLOW_EVERYONE_ON
						 : ((data[0] >> 3) & 3) == 2 ? NAGARE_ALLOW_EVERYONE_OFF
													 : NAGARE_ALLOW_EVERYONE_AUTO;
	cfg.channel_full = (data[0] & 0x20) != 0;
	cfg.channel_error = (data[0] & 0x40) != 0;
	cfg.ring_full = (data[0] & 0x80) != 0;
	fake_broker_configure(&cfg);

	conn = fake_conn_open(cfg.sec);
	while (pos + 4 <= size && !fake_conn_closing(conn))
	{
		int32 len = (int32) kafka_load_be32(data + pos);
		uint8 *frame;

		if (len < 0 || len > nagare_max_request_size)
		{
			nagare_conn_close(conn, NULL);
			break;
		}
		if ((size_t) len > size - pos - 4)
			break;
		/* its own copy, so that ASan sees reads past the frame */
		frame = malloc(Max(len, 1));
		memcpy(frame, data + pos + 4, len);
		pos += 4 + len;
		if (len >= 8)
			fake_conn_expect(conn, (int32) kafka_load_be32(frame + 4));
		nagare_kafka_request(conn, frame, len);
		free(frame);
		fake_loop_turn();
		for (int turns = 0;
			 turns < 4 && !fake_conn_accepts(conn) && !fake_conn_closing(conn); turns++)
			fake_loop_turn();
		if (!fake_conn_accepts(conn))
			break;
	}
	fake_conn_check_answered(conn);
	fake_conn_close_and_reap(conn);
	fake_broker_end_input();
	if (stats_every > 0 && ++inputs % stats_every == 0)
		fprintf(stderr, "fuzz_broker: %ld inputs, %zu bytes palloc'd live\n", inputs,
				fake_live_bytes);
	return 0;
}
