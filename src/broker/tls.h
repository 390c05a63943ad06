/*-------------------------------------------------------------------------
 *
 * tls.h
 *	  TLS for the broker's Kafka listeners: OpenSSL over memory buffers, and
 *	  principals from client certificates.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_TLS_H
#define NAGARE_TLS_H

typedef struct NagareTls NagareTls;

typedef enum NagareTlsStatus
{
	NAGARE_TLS_OK,				/* done (the handshake), or bytes returned */
	NAGARE_TLS_WANT_INPUT,		/* needs more ciphertext from the client */
	NAGARE_TLS_CLOSED,			/* the client sent close_notify */
	NAGARE_TLS_FAILED			/* a fatal error; nagare_tls_error() says which */
} NagareTlsStatus;

/* how client certificates are asked for (nagare.ssl_client_auth) */
typedef enum NagareTlsClientAuth
{
	NAGARE_TLS_CLIENT_AUTH_NONE,
	NAGARE_TLS_CLIENT_AUTH_REQUESTED,
	NAGARE_TLS_CLIENT_AUTH_REQUIRED
} NagareTlsClientAuth;

extern bool nagare_tls_server_ready(void);

extern NagareTls *nagare_tls_new(void);
extern void nagare_tls_free(NagareTls *tls);
extern void nagare_tls_put_input(NagareTls *tls, const char *buf, size_t len);
extern size_t nagare_tls_input_pending(NagareTls *tls);
extern NagareTlsStatus nagare_tls_handshake(NagareTls *tls);
extern NagareTlsStatus nagare_tls_read(NagareTls *tls, char *buf, size_t len, size_t *got);
extern bool nagare_tls_write(NagareTls *tls, const char *buf, size_t len);
extern size_t nagare_tls_output_pending(NagareTls *tls);
extern size_t nagare_tls_take_output(NagareTls *tls, char *buf, size_t len);
extern void nagare_tls_close_notify(NagareTls *tls);
extern const char *nagare_tls_error(NagareTls *tls);
extern const char *nagare_tls_describe(NagareTls *tls);
extern bool nagare_tls_peer_dn(NagareTls *tls, char *dn, size_t dnlen);

/* Kafka's ssl.principal.mapping.rules (nagare.ssl_principal_mapping_rules) */
extern bool nagare_tls_map_principal(const char *rules, const char *dn,
									 char *name, size_t namelen, char *err, size_t errlen);

#endif							/* NAGARE_TLS_H */
