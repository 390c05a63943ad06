/*-------------------------------------------------------------------------
 *
 * sasl.h
 *	  The messages of SASL PLAIN (RFC 4616) and SCRAM (RFC 5802, RFC 7677),
 *	  as Kafka clients send them: parsing of what clients send, building of
 *	  what the server answers.
 *
 * Nothing here includes postgres.h, allocates or keeps state: the parsers
 * read untrusted bytes (a SaslAuthenticate's AuthBytes, or a raw SASL frame
 * after SaslHandshake v0) and are fuzzed standalone (test/fuzz/fuzz_sasl.c).
 * Every parse either fills its result with spans of the input and returns
 * SASL_OK, or returns a SaslError and the caller answers every error the
 * same way (SASL_AUTHENTICATION_FAILED, with a generic message: the bytes a
 * client sent are never echoed before it is authenticated).
 *
 * What the cryptography needs (base64, HMAC, the stored verifier) is the
 * caller's: see auth.c, which uses PostgreSQL's own SCRAM helpers against
 * the role's verifier in pg_authid.
 *
 * Kafka clients' quirks kept here (../shared/research/wave2-notes.md §1):
 *	- no SASLprep: user names are compared as sent, after SCRAM's "=2C" and
 *	  "=3D" unescaping;
 *	- librdkafka before 2.6.1 sends the final nonce as cnonce || server nonce
 *	  although the server nonce already starts with cnonce, so the final
 *	  nonce must *end with* the server's nonce and start with cnonce
 *	  (nagare_sasl_scram_final_nonce_ok), as Kafka 3.8.1+ checks it;
 *	- extensions (",key=value") after the nonce are allowed and ignored,
 *	  except tokenauth=true (delegation tokens, which nagare does not have).
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/auth/sasl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SASL_H
#define NAGARE_SASL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest user name accepted (PostgreSQL's role names are shorter) */
#define SASL_MAX_USER		255
/* Longest nonce accepted from a client (librdkafka sends 32 characters) */
#define SASL_MAX_NONCE		255
/* Longest password accepted in PLAIN */
#define SASL_MAX_PASSWORD	1024

typedef enum SaslError
{
	SASL_OK = 0,
	SASL_ERR_FORMAT,			/* not the message the state expects */
	SASL_ERR_CHANNEL_BINDING,	/* "p=": nagare offers no channel binding */
	SASL_ERR_AUTHZID,			/* an authorization id other than the user */
	SASL_ERR_EXTENSION,			/* "m=" or tokenauth=true */
	SASL_ERR_USER,				/* empty, too long, or bad escaping */
	SASL_ERR_NONCE				/* empty, too long, or not printable */
} SaslError;

/* A span of the input */
typedef struct SaslSpan
{
	const char *p;
	size_t		len;
} SaslSpan;

/* PLAIN: [authzid] NUL authcid NUL passwd */
typedef struct SaslPlain
{
	char		user[SASL_MAX_USER + 1];	/* NUL-terminated, no NUL inside */
	SaslSpan	password;
} SaslPlain;

/* SCRAM client-first-message: gs2-header client-first-bare */
typedef struct ScramClientFirst
{
	char		user[SASL_MAX_USER + 1];	/* unescaped, NUL-terminated */
	SaslSpan	gs2_header;		/* "n,," or "y,,": what c= must encode */
	SaslSpan	bare;			/* client-first-bare, for the AuthMessage */
	SaslSpan	nonce;			/* r= */
} ScramClientFirst;

/* SCRAM client-final-message */
typedef struct ScramClientFinal
{
	SaslSpan	channel_binding;	/* c=, base64 (of the gs2 header) */
	SaslSpan	nonce;			/* r= */
	SaslSpan	without_proof;	/* the message up to ",p=", for the AuthMessage */
	SaslSpan	proof;			/* p=, base64 */
} ScramClientFinal;

extern SaslError nagare_sasl_parse_plain(const char *msg, size_t len, SaslPlain *out);
extern SaslError nagare_sasl_parse_scram_client_first(const char *msg, size_t len,
											   ScramClientFirst *out);
extern SaslError nagare_sasl_parse_scram_client_final(const char *msg, size_t len,
											   ScramClientFinal *out);
extern bool nagare_sasl_scram_final_nonce_ok(SaslSpan final_nonce, SaslSpan client_nonce,
									  SaslSpan server_nonce);
extern bool nagare_sasl_printable_nonce(const char *p, size_t len);
extern const char *nagare_sasl_strerror(SaslError err);

#endif							/* NAGARE_SASL_H */
