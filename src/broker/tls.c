/*-------------------------------------------------------------------------
 *
 * tls.c
 *	  TLS for the broker's Kafka listeners: OpenSSL over memory buffers, and
 *	  principals from client certificates.
 *
 * OpenSSL never touches a socket here.  Each TLS connection has an SSL
 * object between two memory BIOs: net.c puts the ciphertext its receives
 * completed into the input BIO (nagare_tls_put_input), and sends what
 * accumulates in the output BIO (nagare_tls_take_output) with its own
 * io_uring (or plain) sends.  So the handshake, partial records, alerts and
 * close_notify all happen inside the broker's loop without blocking it: an
 * SSL call that needs more bytes says NAGARE_TLS_WANT_INPUT and the loop
 * goes on.  Writes into the output BIO always succeed (it grows); net.c
 * bounds it by encrypting only a piece of a large response at a time.
 *
 * The server context is built once, on the first TLS listener, from
 * nagare.ssl_cert_file / ssl_key_file / ssl_ca_file / ssl_ciphers, each
 * falling back to PostgreSQL's setting of the same name (relative paths
 * are relative to the data directory, the broker's working directory).
 * TLS 1.2 is the minimum; renegotiation, compression and session resumption
 * are off; a key with a passphrase is refused rather than prompted for.
 * nagare.ssl_client_auth is Kafka's ssl.client.auth: "requested" and
 * "required" verify a client certificate against the CA file, "required"
 * refuses a client without one.
 *
 * Principals: the subject of a verified client certificate, in RFC 2253
 * form (as Java's X500Principal.getName() prints it, which is what Kafka
 * maps), goes through nagare.ssl_principal_mapping_rules, Kafka's
 * ssl.principal.mapping.rules: "RULE:pattern/replacement/[LU]" rules and
 * DEFAULT, tried in order; the first rule whose pattern matches the whole
 * subject gives the name.  Patterns are PostgreSQL's advanced regular
 * expressions (Java's syntax for what Kafka's examples use: groups, lazy
 * quantifiers, classes), $n in a replacement is group n, and \c is c.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "catalog/pg_collation.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "regex/regex.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "broker/tls.h"
#include "nagare.h"

struct NagareTls
{
	SSL		   *ssl;
	BIO		   *in;				/* ciphertext from the client */
	BIO		   *out;			/* ciphertext for the client */
	bool		failed;			/* a fatal error: no close_notify */
	char		error[256];
	char		describe[128];
};

static SSL_CTX *server_ctx = NULL;
static bool server_tried = false;

/* the parsed mapping rules, for the text they were parsed from */
typedef struct MappingRule
{
	bool		is_default;
	regex_t		re;
	char	   *replacement;
	char		fold;			/* 'L', 'U' or 0 */
} MappingRule;

static char *rules_text = NULL;
static MappingRule *rules = NULL;
static int	nrules = 0;
static char rules_error[256];

/* Never prompt for a key's passphrase (the broker has no terminal) */
static int
no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	if (size > 0)
		buf[0] = '\0';
	return 0;
}

/* The first error of OpenSSL's queue, as text; clears the queue */
static const char *
openssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		strlcpy(buf, "no OpenSSL error reported", sizeof(buf));
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static const char *
setting_or_server(const char *mine, const char *server_guc)
{
	if (mine && mine[0] != '\0')
		return mine;
	return GetConfigOption(server_guc, true, false);
}

/*
 * Build the server context the first time a TLS listener opens.  Returns
 * whether there is one; the first failure is logged with a hint, and a TLS
 * listener without a context stays closed.
 */
bool
nagare_tls_server_ready(void)
{
	const char *cert;
	const char *key;
	const char *ca;
	const char *ciphers;
	SSL_CTX    *ctx;

	if (server_tried)
		return server_ctx != NULL;
	server_tried = true;

	cert = setting_or_server(nagare_ssl_cert_file, "ssl_cert_file");
	key = setting_or_server(nagare_ssl_key_file, "ssl_key_file");
	ca = setting_or_server(nagare_ssl_ca_file, "ssl_ca_file");
	ciphers = setting_or_server(nagare_ssl_ciphers, "ssl_ciphers");

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
	{
		ereport(LOG,
				(errmsg("nagare broker: could not create a TLS context: %s", openssl_error())));
		return false;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
						SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);

	/*
	 * OpenSSL's record buffers (about 17 kB each way) stay for the
	 * connection's life: SSL_MODE_RELEASE_BUFFERS would free and allocate
	 * them again around every record, a malloc and a free per record of a
	 * producer's stream, whose records are as small as the client's writes
	 * (librdkafka writes a 1 KiB message it did not copy as two records).
	 * They are small beside net.c's own buffers of a TLS connection.
	 * Read-ahead (whole buffers of records out of the input BIO at once)
	 * was measured no faster: the memory BIO's reads are cheap.
	 */

	if (cert == NULL || cert[0] == '\0' ||
		SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
	{
		ereport(LOG,
				(errmsg("nagare broker: could not load the TLS server certificate \"%s\": %s",
						cert ? cert : "", openssl_error()),
				 errhint("Set nagare.ssl_cert_file and nagare.ssl_key_file (or PostgreSQL's ssl_cert_file and ssl_key_file) to a PEM certificate and its key, relative to the data directory or absolute; the TLS listeners stay closed until then.")));
		goto fail;
	}
	if (key == NULL || key[0] == '\0' ||
		SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
	{
		ereport(LOG,
				(errmsg("nagare broker: could not load the TLS private key \"%s\": %s",
						key ? key : "", openssl_error()),
				 errhint("Set nagare.ssl_key_file to the PEM key of the certificate, without a passphrase; the TLS listeners stay closed until then.")));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
	{
		ereport(LOG,
				(errmsg("nagare broker: the TLS private key \"%s\" does not match the certificate \"%s\": %s",
						key, cert, openssl_error()),
				 errhint("The TLS listeners stay closed until nagare.ssl_key_file names the certificate's key.")));
		goto fail;
	}
	if (ciphers && ciphers[0] != '\0' && SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
	{
		ereport(LOG,
				(errmsg("nagare broker: no usable TLS cipher in \"%s\": %s", ciphers, openssl_error()),
				 errhint("Check nagare.ssl_ciphers (OpenSSL's cipher list syntax, for TLS 1.2); the TLS listeners stay closed until then.")));
		goto fail;
	}
	if (nagare_ssl_client_auth != NAGARE_TLS_CLIENT_AUTH_NONE)
	{
		STACK_OF(X509_NAME) * names;

		if (ca == NULL || ca[0] == '\0' ||
			SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
			(names = SSL_load_client_CA_file(ca)) == NULL)
		{
			ereport(LOG,
					(errmsg("nagare broker: could not load the TLS CA file \"%s\" for client certificates: %s",
							ca ? ca : "", openssl_error()),
					 errhint("nagare.ssl_client_auth = %s needs nagare.ssl_ca_file (or PostgreSQL's ssl_ca_file): the PEM certificates of the CAs that sign client certificates; the TLS listeners stay closed until then.",
							 nagare_ssl_client_auth == NAGARE_TLS_CLIENT_AUTH_REQUIRED ? "required" : "requested")));
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx,
						   SSL_VERIFY_PEER |
						   (nagare_ssl_client_auth == NAGARE_TLS_CLIENT_AUTH_REQUIRED ?
							SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
						   NULL);
	}
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	server_ctx = ctx;
	return true;

fail:
	SSL_CTX_free(ctx);
	return false;
}

/* A server-side TLS connection; nagare_tls_server_ready() must be true */
NagareTls *
nagare_tls_new(void)
{
	NagareTls  *t = palloc0(sizeof(NagareTls));

	Assert(server_ctx != NULL);
	ERR_clear_error();
	t->ssl = SSL_new(server_ctx);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->in == NULL || t->out == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("nagare broker: could not create a TLS connection: %s", openssl_error())));
	/* an empty input BIO means "retry later", not end of stream */
	BIO_set_mem_eof_return(t->in, -1);
	BIO_set_mem_eof_return(t->out, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_accept_state(t->ssl);
	return t;
}

void
nagare_tls_free(NagareTls *tls)
{
	SSL_free(tls->ssl);			/* frees the BIOs too */
	pfree(tls);
}

/* Ciphertext received from the client */
void
nagare_tls_put_input(NagareTls *tls, const char *buf, size_t len)
{
	if (BIO_write(tls->in, buf, (int) len) != (int) len)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("nagare broker: could not buffer TLS input")));
}

/* Ciphertext received and not yet decrypted */
size_t
nagare_tls_input_pending(NagareTls *tls)
{
	return BIO_ctrl_pending(tls->in);
}

/* What an SSL call's result means; sets the connection's error */
static NagareTlsStatus
call_status(NagareTls *tls, int rc)
{
	int			err = SSL_get_error(tls->ssl, rc);

	switch (err)
	{
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return NAGARE_TLS_WANT_INPUT;
		case SSL_ERROR_ZERO_RETURN:
			return NAGARE_TLS_CLOSED;
		case SSL_ERROR_SSL:
			{
				long		verify = SSL_get_verify_result(tls->ssl);

				tls->failed = true;
				if (verify != X509_V_OK)
					snprintf(tls->error, sizeof(tls->error), "client certificate: %s",
							 X509_verify_cert_error_string(verify));
				else
					strlcpy(tls->error, openssl_error(), sizeof(tls->error));
				ERR_clear_error();
				return NAGARE_TLS_FAILED;
			}
		default:
			tls->failed = true;
			snprintf(tls->error, sizeof(tls->error), "TLS error %d: %s", err, openssl_error());
			return NAGARE_TLS_FAILED;
	}
}

/* Advance the handshake with the input given so far */
NagareTlsStatus
nagare_tls_handshake(NagareTls *tls)
{
	int			rc;

	ERR_clear_error();
	rc = SSL_do_handshake(tls->ssl);
	if (rc == 1)
		return NAGARE_TLS_OK;
	return call_status(tls, rc);
}

/*
 * Decrypt into buf as much as the input gives, up to len; *got says how
 * much.  NAGARE_TLS_OK when buf filled up, else why it stopped.
 */
NagareTlsStatus
nagare_tls_read(NagareTls *tls, char *buf, size_t len, size_t *got)
{
	/*
	 * The error queue is cleared once: a successful SSL_read_ex leaves it
	 * empty, and clearing it costs a thread-local lookup per record.
	 */
	*got = 0;
	ERR_clear_error();
	while (*got < len)
	{
		size_t		n = 0;
		int			rc;

		rc = SSL_read_ex(tls->ssl, buf + *got, len - *got, &n);
		if (rc != 1)
			return call_status(tls, rc);
		*got += n;
	}
	return NAGARE_TLS_OK;
}

/* Encrypt len bytes into the output; false (with the error set) on failure */
bool
nagare_tls_write(NagareTls *tls, const char *buf, size_t len)
{
	size_t		n = 0;

	ERR_clear_error();
	if (SSL_write_ex(tls->ssl, buf, len, &n) != 1 || n != len)
	{
		tls->failed = true;
		strlcpy(tls->error, openssl_error(), sizeof(tls->error));
		return false;
	}
	return true;
}

/* Ciphertext waiting to be sent */
size_t
nagare_tls_output_pending(NagareTls *tls)
{
	return BIO_ctrl_pending(tls->out);
}

/* Move up to len bytes of ciphertext to send into buf; returns how many */
size_t
nagare_tls_take_output(NagareTls *tls, char *buf, size_t len)
{
	int			n = BIO_read(tls->out, buf, (int) Min(len, (size_t) INT_MAX));

	return n > 0 ? (size_t) n : 0;
}

/* Queue a close_notify (unless the connection failed) */
void
nagare_tls_close_notify(NagareTls *tls)
{
	if (tls->failed || !SSL_is_init_finished(tls->ssl))
		return;
	ERR_clear_error();
	(void) SSL_shutdown(tls->ssl);
	ERR_clear_error();
}

const char *
nagare_tls_error(NagareTls *tls)
{
	return tls->error[0] ? tls->error : "unknown TLS error";
}

/* "TLSv1.3, TLS_AES_256_GCM_SHA384" */
const char *
nagare_tls_describe(NagareTls *tls)
{
	snprintf(tls->describe, sizeof(tls->describe), "%s, %s",
			 SSL_get_version(tls->ssl), SSL_get_cipher_name(tls->ssl));
	return tls->describe;
}

/*
 * The subject of the client's verified certificate in RFC 2253 form
 * ("CN=alice,O=Example,C=JP"); false when the client sent none.
 */
bool
nagare_tls_peer_dn(NagareTls *tls, char *dn, size_t dnlen)
{
	X509	   *cert = SSL_get0_peer_certificate(tls->ssl);
	BIO		   *bio;
	char	   *data;
	long		len;

	if (cert == NULL || SSL_get_verify_result(tls->ssl) != X509_V_OK)
		return false;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return false;
	X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
					   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	len = BIO_get_mem_data(bio, &data);
	len = Min(len, (long) dnlen - 1);
	memcpy(dn, data, len);
	dn[len] = '\0';
	BIO_free(bio);
	return true;
}

/*---- Kafka's ssl.principal.mapping.rules ----*/

static bool
compile_pattern(const char *pat, size_t len, regex_t *re, char *err, size_t errlen)
{
	StringInfoData full;
	size_t		lead = 0;
	pg_wchar   *wide;
	int			wlen;
	int			rc;

	/*
	 * Kafka matches the whole subject (Matcher.matches()): anchor the
	 * pattern, after any leading embedded options such as (?i).
	 */
	if (len >= 3 && pat[0] == '(' && pat[1] == '?')
	{
		size_t		i = 2;

		while (i < len && ((pat[i] >= 'a' && pat[i] <= 'z')))
			i++;
		if (i < len && pat[i] == ')' && i > 2)
			lead = i + 1;
	}
	initStringInfo(&full);
	appendBinaryStringInfo(&full, pat, lead);
	appendStringInfoString(&full, "^(?:");
	appendBinaryStringInfo(&full, pat + lead, len - lead);
	appendStringInfoString(&full, ")$");
	wide = palloc((full.len + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(full.data, wide, full.len);
	rc = pg_regcomp(re, wide, wlen, REG_ADVANCED, C_COLLATION_OID);
	pfree(wide);
	if (rc != REG_OKAY)
	{
		char		msg[128];

		pg_regerror(rc, re, msg, sizeof(msg));
		snprintf(err, errlen, "invalid pattern \"%.*s\": %s", (int) len, pat, msg);
		pfree(full.data);
		return false;
	}
	pfree(full.data);
	return true;
}

static void
free_rules(MappingRule *list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (!list[i].is_default)
		{
			pg_regfree(&list[i].re);
			pfree(list[i].replacement);
		}
	if (list)
		pfree(list);
}

/*
 * Length of a rule part up to its unescaped '/' (a backslash escapes the
 * next character, as in Kafka's parser); -1 if there is no '/'.
 */
static int
part_length(const char *p)
{
	int			i = 0;

	while (p[i] != '\0' && p[i] != '/')
	{
		if (p[i] == '\\' && p[i + 1] != '\0')
			i++;
		i++;
	}
	return p[i] == '/' ? i : -1;
}

/*
 * Parse text into *list (in the current memory context).  Rules are
 * separated by commas or newlines, as Kafka splits them: a rule's pattern
 * may contain commas, and anything after a rule's flags up to the next
 * separator is ignored.
 */
static bool
parse_rules(const char *text, MappingRule **list, int *n, char *err, size_t errlen)
{
	const char *p = text;
	int			cap = 4;

	*n = 0;
	*list = palloc0(sizeof(MappingRule) * cap);
	for (;;)
	{
		MappingRule r;

		memset(&r, 0, sizeof(r));
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		if (*p == ',')
		{
			p++;				/* an empty rule */
			continue;
		}
		if (strncmp(p, "DEFAULT", 7) == 0)
		{
			r.is_default = true;
			p += 7;
		}
		else if (strncmp(p, "RULE:", 5) == 0)
		{
			int			plen;
			int			rlen;

			p += 5;
			plen = part_length(p);
			if (plen < 0)
			{
				snprintf(err, errlen, "rule \"RULE:%s\" has no \"/\" after its pattern", p);
				goto bad;
			}
			rlen = part_length(p + plen + 1);
			if (rlen < 0)
			{
				snprintf(err, errlen, "rule \"RULE:%s\" has no \"/\" after its replacement", p);
				goto bad;
			}
			if (!compile_pattern(p, plen, &r.re, err, errlen))
				goto bad;
			r.replacement = pnstrdup(p + plen + 1, rlen);
			p += plen + 1 + rlen + 1;
			if (*p == 'L' || *p == 'U')
				r.fold = *p++;
			/* Kafka ignores anything else up to the separator */
			while (*p != '\0' && *p != ',' && *p != '\n')
				p++;
		}
		else
		{
			snprintf(err, errlen, "rule \"%.40s\" is neither DEFAULT nor RULE:pattern/replacement/[LU]", p);
			goto bad;
		}
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p != '\0' && *p != ',' && *p != '\n')
		{
			snprintf(err, errlen, "unexpected \"%.40s\" after a rule", p);
			if (!r.is_default)
				pg_regfree(&r.re);
			goto bad;
		}
		if (*n == cap)
		{
			cap *= 2;
			*list = repalloc(*list, sizeof(MappingRule) * cap);
		}
		(*list)[(*n)++] = r;
	}
	return true;

bad:
	free_rules(*list, *n);
	*list = NULL;
	*n = 0;
	return false;
}

/* The replacement with $n and \c substituted, in the case asked for */
static void
apply_replacement(const MappingRule *r, const pg_wchar *wide, const regmatch_t *m,
				  int nmatch, char *name, size_t namelen)
{
	StringInfoData out;
	const char *s;

	initStringInfo(&out);
	for (s = r->replacement; *s; s++)
	{
		if (*s == '\\' && s[1] != '\0')
			appendStringInfoChar(&out, *++s);
		else if (*s == '$' && s[1] >= '0' && s[1] <= '9')
		{
			int			g = *++s - '0';

			/* Java takes more digits while they name a group */
			while (s[1] >= '0' && s[1] <= '9' && g * 10 + (s[1] - '0') < nmatch)
				g = g * 10 + (*++s - '0');
			if (g < nmatch && m[g].rm_so >= 0)
			{
				char	   *piece = palloc(pg_database_encoding_max_length() *
										   (m[g].rm_eo - m[g].rm_so) + 1);

				pg_wchar2mb_with_len(wide + m[g].rm_so, piece, m[g].rm_eo - m[g].rm_so);
				appendStringInfoString(&out, piece);
				pfree(piece);
			}
		}
		else
			appendStringInfoChar(&out, *s);
	}
	if (r->fold)
	{
		int			i;

		for (i = 0; i < out.len; i++)
			out.data[i] = r->fold == 'L' ? pg_ascii_tolower(out.data[i]) :
				pg_ascii_toupper(out.data[i]);
	}
	strlcpy(name, out.data, namelen);
	pfree(out.data);
}

/*
 * Map the subject dn to a principal name by rules (Kafka's
 * ssl.principal.mapping.rules).  False, with err set, when the rules do not
 * parse or none matches (Kafka then refuses the connection too).  The
 * parsed rules are kept until the text changes.
 */
bool
nagare_tls_map_principal(const char *text, const char *dn, char *name, size_t namelen,
						 char *err, size_t errlen)
{
	pg_wchar   *wide;
	int			wlen;
	int			i;
	bool		found = false;

	if (text == NULL)
		text = "DEFAULT";
	if (rules_text == NULL || strcmp(rules_text, text) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		free_rules(rules, nrules);
		rules = NULL;
		nrules = 0;
		rules_error[0] = '\0';
		if (rules_text)
			pfree(rules_text);
		rules_text = pstrdup(text);
		if (!parse_rules(text, &rules, &nrules, rules_error, sizeof(rules_error)))
			ereport(LOG,
					(errmsg("nagare broker: invalid nagare.ssl_principal_mapping_rules: %s", rules_error),
					 errhint("The syntax is Kafka's ssl.principal.mapping.rules: RULE:pattern/replacement/[LU] and DEFAULT, separated by commas.  Client certificates are refused until the rules are fixed.")));
		MemoryContextSwitchTo(old);
	}
	if (rules_error[0] != '\0')
	{
		snprintf(err, errlen, "invalid nagare.ssl_principal_mapping_rules: %s", rules_error);
		return false;
	}

	wide = palloc((strlen(dn) + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(dn, wide, strlen(dn));
	for (i = 0; i < nrules && !found; i++)
	{
		MappingRule *r = &rules[i];
		regmatch_t	m[10];
		int			nmatch;

		if (r->is_default)
		{
			strlcpy(name, dn, namelen);
			found = true;
			break;
		}
		nmatch = Min((int) r->re.re_nsub + 1, (int) lengthof(m));
		if (pg_regexec(&r->re, wide, wlen, 0, NULL, nmatch, m, 0) == REG_OKAY)
		{
			apply_replacement(r, wide, m, nmatch, name, namelen);
			found = true;
		}
	}
	pfree(wide);
	if (!found)
		snprintf(err, errlen, "no rule of nagare.ssl_principal_mapping_rules matches \"%s\"", dn);
	return found;
}
