/*-------------------------------------------------------------------------
 *
 * fuzz_tls.c
 *	  libFuzzer target for the broker's TLS read side (src/broker/tls.c):
 *	  arbitrary bytes as a client's TLS stream against the server context
 *	  the broker builds, OpenSSL between two memory BIOs as in the broker.
 *
 * The server context is tls.c's own (nagare_tls_server_ready), from a test
 * certificate and key that the Makefile makes with openssl req (an ECDSA
 * P-256 self-signed certificate, fuzz_tls_cert.pem and fuzz_tls_key.pem,
 * also the CA file): nagare.ssl_client_auth = requested, so a client
 * certificate in the input is parsed and verified too.
 *
 * OpenSSL's random numbers are made deterministic (a RAND_METHOD whose
 * every call returns the same bytes), so the server answers the same input
 * the same way, in any order of calls: a client stream recorded once
 * against it (FUZZ_TLS_RECORD=file, below) replays to the end of the
 * handshake and into application data, where the fuzzer mutates records
 * and alerts that a real session would carry.  Each input:
 *
 *	byte 0		how the stream is cut: the ciphertext goes in in pieces of
 *				1 + byte 0 bytes (1 to 256), each followed by the calls
 *				net.c makes (handshake until done, then reads into a 4 KiB
 *				buffer, taking the output), so records split anywhere
 *	the rest	the client's bytes
 *
 * Checks besides ASan/UBSan: an ereport(ERROR) aborts (fake_pg.c); a read
 * never says it got more than asked; once a call failed or the client
 * closed, no further input is handed on (net.c closes the connection);
 * the peer's DN, the description and close_notify are asked for at the
 * end, as net.c does.  Not covered: the principal mapping rules
 * (nagare_tls_map_principal, which needs PostgreSQL's regex library),
 * the write side and net.c itself.
 *
 * FUZZ_TLS_RECORD=file ./fuzz_tls: writes a seed instead of fuzzing: an
 * OpenSSL client (TLS 1.3, or 1.2 with FUZZ_TLS_VERSION=1.2, with the test
 * certificate as its client certificate when FUZZ_TLS_CLIENT_CERT is set)
 * talks to the server until the handshake is done, sends an ApiVersions
 * request and a close_notify, and its bytes are written to file.
 *
 * test/fuzz/fuzz_tls.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "mb/pg_wchar.h"
#include "regex/regex.h"
#include "utils/guc.h"

#include "broker/tls.h"
#include "nagare.h"

#include "fake.h"

int LLVMFuzzerTestOneInput(const uint8 *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* the GUCs tls.c reads (guc.c is not linked) */
char *nagare_ssl_cert_file = "fuzz_tls_cert.pem";
char *nagare_ssl_key_file = "fuzz_tls_key.pem";
char *nagare_ssl_ca_file = "fuzz_tls_cert.pem";
char *nagare_ssl_ciphers = "";
int nagare_ssl_client_auth = NAGARE_TLS_CLIENT_AUTH_REQUESTED;

const char *
GetConfigOption(const char *name, bool missing_ok, bool restrict_privileged)
{
	return NULL;
}

/* tls.c's principal mapping needs PostgreSQL's regex library: not fuzzed */
#define UNREACHABLE(name)                                \
	do                                                   \
	{                                                    \
		fprintf(stderr, "fuzz_tls: %s reached\n", name); \
		abort();                                         \
	} while (0)

int
pg_regcomp(regex_t *re, const pg_wchar *string, size_t len, int flags, Oid collation)
{
	UNREACHABLE("pg_regcomp");
}

int
pg_regexec(regex_t *re, const pg_wchar *string, size_t len, size_t search_start,
		   rm_detail_t *details, size_t nmatch, regmatch_t pmatch[], int flags)
{
	UNREACHABLE("pg_regexec");
}

size_t
pg_regerror(int errcode, const regex_t *preg, char *errbuf, size_t errbuf_size)
{
	UNREACHABLE("pg_regerror");
}

void
pg_regfree(regex_t *re)
{
	UNREACHABLE("pg_regfree");
}

int
pg_mb2wchar_with_len(const char *from, pg_wchar *to, int len)
{
	UNREACHABLE("pg_mb2wchar_with_len");
}

int
pg_wchar2mb_with_len(const pg_wchar *from, char *to, int len)
{
	UNREACHABLE("pg_wchar2mb_with_len");
}

int
pg_database_encoding_max_length(void)
{
	UNREACHABLE("pg_database_encoding_max_length");
}

/* ------------------------------------------------- deterministic random */

/*
 * Every call gets the same bytes: 0x5a, 0x5b, ... from its first byte.  As
 * a scalar these are far below any curve's order, so key generation never
 * rejects them (and never loops).
 */
static int
same_bytes(unsigned char *buf, int num)
{
	for (int i = 0; i < num; i++)
		buf[i] = (unsigned char) (0x5a + i);
	return 1;
}

static int
same_status(void)
{
	return 1;
}

static const RAND_METHOD deterministic = {NULL, same_bytes, NULL,
										  NULL, same_bytes, same_status};

/* --------------------------------------------------------------- record */

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *v = getenv("FUZZ_TLS_VERSION");

	if (v && strcmp(v, "1.2") == 0)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	if (getenv("FUZZ_TLS_CLIENT_CERT"))
	{
		SSL_CTX_use_certificate_file(ctx, nagare_ssl_cert_file, SSL_FILETYPE_PEM);
		SSL_CTX_use_PrivateKey_file(ctx, nagare_ssl_key_file, SSL_FILETYPE_PEM);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* bytes from one memory BIO to the other */
static size_t
pump(BIO *from, NagareTls *to_server, BIO *to_client, NagareTls *from_server, FILE *rec)
{
	char buf[16384];
	size_t moved = 0;
	int n;

	if (from)
		while ((n = BIO_read(from, buf, sizeof(buf))) > 0)
		{
			nagare_tls_put_input(to_server, buf, n);
			if (rec)
				fwrite(buf, 1, n, rec);
			moved += n;
		}
	if (from_server)
	{
		size_t m;

		while ((m = nagare_tls_take_output(from_server, buf, sizeof(buf))) > 0)
		{
			BIO_write(to_client, buf, (int) m);
			moved += m;
		}
	}
	return moved;
}

static void
record(const char *path)
{
	/* ApiVersions v3, correlation id 1, client "fuzz", software "fuzz" 1 */
	static const unsigned char request[] = {0, 0, 0,   24,  0,   18,  0,   3,   0,
											0, 0, 1,   0,   4,   'f', 'u', 'z', 'z',
											0, 5, 'f', 'u', 'z', 'z', 2,   '1', 0};
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = SSL_new(ctx);
	BIO *cin = BIO_new(BIO_s_mem());
	BIO *cout = BIO_new(BIO_s_mem());
	NagareTls *server = nagare_tls_new();
	FILE *rec = fopen(path, "wb");
	bool server_done = false;
	char plain[256];
	size_t got = 0;
	int rounds;

	BIO_set_mem_eof_return(cin, -1);
	BIO_set_mem_eof_return(cout, -1);
	SSL_set_bio(ssl, cin, cout);
	SSL_set_connect_state(ssl);
	fputc(255, rec); /* byte 0: pieces of 256 bytes */
	for (rounds = 0; rounds < 20; rounds++)
	{
		int rc = SSL_do_handshake(ssl);

		pump(cout, server, NULL, NULL, rec);
		if (!server_done)
		{
			NagareTlsStatus st = nagare_tls_handshake(server);

			if (st == NAGARE_TLS_FAILED)
			{
				fprintf(stderr, "record: server handshake failed: %s\n",
						nagare_tls_error(server));
				exit(1);
			}
			server_done = (st == NAGARE_TLS_OK);
		}
		pump(NULL, NULL, cin, server, NULL);
		if (rc == 1 && server_done)
			break;
	}
	SSL_write(ssl, request, sizeof(request));
	SSL_shutdown(ssl);
	pump(cout, server, NULL, NULL, rec);
	fclose(rec);
	if (nagare_tls_read(server, plain, sizeof(plain), &got) != NAGARE_TLS_CLOSED ||
		got != sizeof(request) || memcmp(plain, request, got) != 0)
	{
		fprintf(stderr, "record: the server did not read the request back (%zu bytes)\n",
				got);
		exit(1);
	}
	fprintf(stderr, "record: %s (%s, %s)\n", path, nagare_tls_describe(server),
			getenv("FUZZ_TLS_CLIENT_CERT") ? "client certificate"
										   : "no client certificate");
	exit(0);
}

/* ----------------------------------------------------------------- fuzz */

static bool verbose = false;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	fake_pg_init();
	RAND_set_rand_method(&deterministic);
	if (!nagare_tls_server_ready())
	{
		fprintf(stderr, "fuzz_tls: no server context (run in test/fuzz, after make)\n");
		exit(1);
	}
	if (getenv("FUZZ_TLS_RECORD"))
		record(getenv("FUZZ_TLS_RECORD"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	NagareTls *tls;
	size_t piece;
	size_t pos = 1;
	bool handshaken = false;
	bool over = false;
	bool failed = false;
	char plain[4096];
	char out[4096];
	size_t plain_total = 0;

	if (size < 1)
		return 0;
	piece = (size_t) data[0] + 1;
	tls = nagare_tls_new();
	while (pos < size && !over)
	{
		size_t n = Min(piece, size - pos);
		NagareTlsStatus st = NAGARE_TLS_OK;

		nagare_tls_put_input(tls, (const char *) data + pos, n);
		pos += n;
		if (!handshaken)
		{
			st = nagare_tls_handshake(tls);
			if (st == NAGARE_TLS_OK)
				handshaken = true;
		}
		while (handshaken && st == NAGARE_TLS_OK)
		{
			size_t got = 0;

			st = nagare_tls_read(tls, plain, sizeof(plain), &got);
			if (got > sizeof(plain))
				abort();
			plain_total += got;
			if (st == NAGARE_TLS_OK && got != sizeof(plain))
				abort();
		}
		if (st == NAGARE_TLS_FAILED || st == NAGARE_TLS_CLOSED)
		{
			failed = (st == NAGARE_TLS_FAILED);
			if (st == NAGARE_TLS_FAILED && strlen(nagare_tls_error(tls)) == 0)
				abort();
			over = true;
		}
		while (nagare_tls_take_output(tls, out, sizeof(out)) > 0)
			;
	}
	if (handshaken)
	{
		char dn[512];

		(void) nagare_tls_describe(tls);
		(void) nagare_tls_peer_dn(tls, dn, sizeof(dn));
	}
	if (verbose)
		fprintf(stderr, "fuzz_tls: handshake %s, %zu bytes of application data, %s\n",
				handshaken ? "done" : "not done", plain_total,
				!over    ? "input over"
				: failed ? nagare_tls_error(tls)
						 : "closed by the client");
	nagare_tls_close_notify(tls);
	while (nagare_tls_take_output(tls, out, sizeof(out)) > 0)
		;
	nagare_tls_free(tls);
	ERR_clear_error();
	return 0;
}
