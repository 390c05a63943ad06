/*-------------------------------------------------------------------------
 *
 * fake.h
 *	  What fuzz_broker.c, fake_pg.c and fake_broker.c share: the fake
 *	  PostgreSQL services and the fake server around the broker's handlers.
 *
 * test/fuzz/fake.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_FUZZ_FAKE_H
#define NAGARE_FUZZ_FAKE_H

#include "postgres.h"

#include "broker/net.h"
#include "utils/timestamp.h"

/* fake_pg.c */
#define FAKE_EPOCH INT64CONST(800000000000000) /* 2025-05-09, in PostgreSQL's epoch */
extern TimestampTz fake_now;
extern size_t fake_live_bytes;
extern void fake_pg_init(void);
extern void fake_hash_defer_free(void *entry);
extern void fake_hash_free_removed(void);

/* fake_broker.c: the server as one input sees it */
typedef struct FakeConfig
{
	NagareSecurityProtocol sec; /* PLAINTEXT or SASL_PLAINTEXT */
	bool acls; /* the ACL table holds fake_acls[], else is empty */
	int allow_everyone; /* nagare.allow_everyone_if_no_acl_found */
	bool channel_full; /* the nagare worker's channel takes nothing */
	bool channel_error; /* answers are errors, else timeouts */
	bool ring_full; /* the append ring takes nothing */
} FakeConfig;

extern void fake_broker_init(void);
extern void fake_broker_configure(const FakeConfig *cfg);
extern NagareConn *fake_conn_open(NagareSecurityProtocol sec);
extern bool fake_conn_accepts(NagareConn *conn); /* not closing nor held */
extern bool fake_conn_closing(NagareConn *conn);
extern void fake_conn_expect(NagareConn *conn, int32 correlation_id);
extern void fake_conn_check_answered(NagareConn *conn);
extern void fake_conn_close_and_reap(NagareConn *conn);
extern void fake_loop_turn(void);
extern void fake_broker_end_input(void);

#endif /* NAGARE_FUZZ_FAKE_H */
