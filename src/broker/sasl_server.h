/*-------------------------------------------------------------------------
 *
 * sasl_server.h
 *	  SASL authentication of Kafka clients on SASL_* listeners, and the
 *	  roles of client certificates (sasl_server.c).
 *
 * A connection requires SASL iff nagare_conn_security() is
 * NAGARE_SEC_SASL_PLAINTEXT or NAGARE_SEC_SASL_SSL.  Until it has
 * authenticated, only ApiVersions, SaslHandshake and SaslAuthenticate are
 * served; after SaslHandshake v0 the next frames are raw SASL tokens.  The
 * handlers of SaslHandshake and SaslAuthenticate are declared with the
 * others, from src/kafka/api_table.h (kafka_api.h).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_SASL_SERVER_H
#define NAGARE_BROKER_SASL_SERVER_H

#include "utils/timestamp.h"

#include "broker/net.h"

/*
 * Called first for every request frame (kafka_api.c).  True if the frame
 * was SASL's to take (a raw token, or a request refused before
 * authentication, which closes the connection); false if it is to be
 * dispatched as usual.
 */
extern bool nagare_sasl_frame(NagareConn *conn, const uint8 *frame, size_t len);

/*
 * net.c: conn's client certificate maps to role (nagare.ssl_principal_mapping_rules).
 * The connection is held until the nagare worker says the role may log in
 * (it exists, LOGIN, not past VALID UNTIL); then it is User:<role>, else it
 * is closed and counted as a failed authentication.
 */
extern void nagare_auth_certificate(NagareConn *conn, const char *role);

/* Each loop turn (broker.c): hand logins to the worker, close failed ones */
extern void nagare_sasl_turn(TimestampTz now);
extern bool nagare_sasl_busy(void);

#endif							/* NAGARE_BROKER_SASL_SERVER_H */
