/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  The nagare worker's part of SASL authentication of Kafka clients
 *	  (broker/sasl_server.c): what needs the catalog or is slow, checked against
 *	  pg_authid with PostgreSQL's own code.
 *
 * Two request kinds for SASL (payloads and results in shmem.h):
 *
 * - NAGARE_AUTH_SCRAM_LOOKUP: the first round of a SCRAM-SHA-256 login
 *   wants the role's verifier (salt, iterations, StoredKey, ServerKey), as
 *   parse_scram_secret() reads it from get_role_password().  The broker does
 *   the rest (HMACs only).
 * - NAGARE_AUTH_PLAIN_VERIFY: a PLAIN login, verified against the role's
 *   SCRAM-SHA-256 secret as scram_verify_plain_password() does: SASLprep
 *   the password, derive the salted password (PBKDF2, 4096 iterations:
 *   milliseconds, the reason this is not done in the broker) and compare
 *   its ServerKey.  The derivation is OpenSSL's PKCS5_PBKDF2_HMAC, which
 *   gives the same key as PostgreSQL 15's scram_SaltedPassword() for
 *   about a third of the CPU (that one sets up its HMAC again at every
 *   iteration), so a storm of PLAIN logins takes that much less from the
 *   broker and its clients.  Secrets of other kinds (MD5) go to
 *   plain_crypt_verify().
 *
 * And one for TLS client certificates (broker/net.c maps the subject to a
 * name by nagare.ssl_principal_mapping_rules):
 *
 * - NAGARE_AUTH_ROLE_CHECK: the role of that name may log in.  The
 *   certificate is the credential: no password is needed or looked at.
 *
 * A role logs in if it exists, has rolcanlogin (which PostgreSQL itself
 * checks only later, in InitializeSessionUserId, so it is checked here), is
 * not past rolvaliduntil (get_role_password() returns NULL then) and has a
 * password.  Any other case gets the same answer as a wrong password, after
 * the same work: SCRAM gets a mock verifier whose salt is derived from the
 * user name and the cluster's mock authentication nonce, as PostgreSQL's
 * mock_scram_secret() does (so the salt a probe sees is stable, and an
 * unknown user looks like a known one), and PLAIN derives a key from the
 * password all the same.  Why a login failed is not told to the broker.
 *
 * Each request runs in a read-only transaction of its own (syscache
 * lookups need one, and it gives pg_hmac/pg_cryptohash a resource owner).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_control.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/saslprep.h"
#include "common/scram-common.h"
#include "common/sha2.h"
#include "libpq/crypt.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "shmem.h"
#include "worker/worker.h"

/*
 * PostgreSQL 15's libpq/scram.h, which cannot be included here: it pulls in
 * libpq-be.h and with it the GSSAPI headers of the server's build.
 */
extern bool parse_scram_secret(const char *secret, int *iterations, char **salt,
							   uint8 *stored_key, uint8 *server_key);

/*
 * The OID of the role named user if it may log in (exists, rolcanlogin),
 * else InvalidOid.  rolvaliduntil is get_role_password()'s to check.
 */
static Oid
login_role(const char *user)
{
	HeapTuple	tup;
	Oid			role = InvalidOid;

	if (strlen(user) >= NAMEDATALEN)
		return InvalidOid;
	tup = SearchSysCache1(AUTHNAME, PointerGetDatum(user));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	if (((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin)
		role = ((Form_pg_authid) GETSTRUCT(tup))->oid;
	ReleaseSysCache(tup);
	return role;
}

/*
 * The mock salt of user (SCRAM_DEFAULT_SALT_LEN bytes into salt): the first
 * bytes of SHA-256(user || mock authentication nonce), as PostgreSQL's
 * scram_mock_salt().
 */
static void
mock_salt(const char *user, uint8 *salt)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		sha[PG_SHA256_DIGEST_LENGTH];

	StaticAssertStmt(PG_SHA256_DIGEST_LENGTH >= SCRAM_DEFAULT_SALT_LEN,
					 "the mock salt is cut from a SHA-256 digest");
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) user, strlen(user)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) GetMockAuthenticationNonce(),
							 MOCK_AUTH_NONCE_LEN) < 0 ||
		pg_cryptohash_final(ctx, sha, sizeof(sha)) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute the mock SCRAM salt");
	}
	pg_cryptohash_free(ctx);
	memcpy(salt, sha, SCRAM_DEFAULT_SALT_LEN);
}

static void
send_string(StringInfo buf, const char *p, int len)
{
	pq_sendint16(buf, (uint16) len);
	appendBinaryStringInfo(buf, p, len);
}

/*
 * What every answer ends with, of role (InvalidOid: none): whether it is a
 * superuser (one byte: the broker makes superusers Kafka super users, as
 * they are on the SQL door), and its rolvaliduntil (an int64 TimestampTz,
 * 0 if it has none: the broker ends a SASL session then, KIP-368).
 */
static void
send_role_facts(StringInfo buf, Oid role)
{
	TimestampTz until = 0;

	pq_sendint8(buf, OidIsValid(role) && superuser_arg(role) ? 1 : 0);
	if (OidIsValid(role))
	{
		HeapTuple tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));

		if (HeapTupleIsValid(tup))
		{
			bool isnull;
			Datum d = SysCacheGetAttr(AUTHOID, tup, Anum_pg_authid_rolvaliduntil, &isnull);

			if (!isnull && !TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(d)))
				until = DatumGetTimestampTz(d);
			ReleaseSysCache(tup);
		}
	}
	pq_sendint64(buf, until);
}

/* NAGARE_AUTH_SCRAM_LOOKUP: the verifier of user, or a mock one */
static void
scram_lookup(NagareWorkerRequest *req, const char *user)
{
	Oid			role = login_role(user);
	const char *logdetail = NULL;
	char	   *shadow = NULL;
	int			iterations = 0;
	char	   *salt = NULL;
	uint8		stored_key[SCRAM_KEY_LEN];
	uint8		server_key[SCRAM_KEY_LEN];

	if (OidIsValid(role))
		shadow = get_role_password(user, &logdetail);
	if (shadow == NULL || get_password_type(shadow) != PASSWORD_TYPE_SCRAM_SHA_256 ||
		!parse_scram_secret(shadow, &iterations, &salt, stored_key, server_key))
	{
		uint8		raw[SCRAM_DEFAULT_SALT_LEN];
		int			len;

		/* doomed: the client still gets an exchange like any other */
		role = InvalidOid;
		mock_salt(user, raw);
		salt = palloc(pg_b64_enc_len(sizeof(raw)) + 1);
		len = pg_b64_encode((const char *) raw, sizeof(raw), salt,
							pg_b64_enc_len(sizeof(raw)));
		if (len < 0)
			elog(ERROR, "could not encode the mock SCRAM salt");
		salt[len] = '\0';
		iterations = SCRAM_DEFAULT_ITERATIONS;
		memset(stored_key, 0, sizeof(stored_key));
		memset(server_key, 0, sizeof(server_key));
	}
	pq_sendint32(&req->result, (uint32) role);
	pq_sendint32(&req->result, (uint32) iterations);
	send_string(&req->result, salt, strlen(salt));
	send_string(&req->result, (const char *) stored_key, SCRAM_KEY_LEN);
	send_string(&req->result, (const char *) server_key, SCRAM_KEY_LEN);
	send_role_facts(&req->result, role);
}

/*
 * The ServerKey of password under salt and iterations (into server_key),
 * as scram_verify_plain_password() computes it: the password SASLprepped
 * when it can be (else as it is), salted by PBKDF2-HMAC-SHA-256, which is
 * scram_SaltedPassword()'s Hi() of RFC 5802.
 */
static void
plain_server_key(const char *password, const uint8 *salt, int saltlen, int iterations,
				 uint8 *server_key)
{
	char	   *prep = NULL;
	uint8		salted[SCRAM_KEY_LEN];
	const char *errstr = NULL;

	if (pg_saslprep(password, &prep) == SASLPREP_SUCCESS)
		password = prep;
	if (PKCS5_PBKDF2_HMAC(password, strlen(password), salt, saltlen, iterations,
						  EVP_sha256(), SCRAM_KEY_LEN, salted) != 1 ||
		scram_ServerKey(salted, server_key, &errstr) < 0)
		elog(ERROR, "could not derive the SCRAM key of a PLAIN password");
	explicit_bzero(salted, sizeof(salted));
	if (prep)
	{
		explicit_bzero(prep, strlen(prep));
		pfree(prep);
	}
}

/*
 * Whether password is the password of the SCRAM-SHA-256 secret shadow
 * (scram_verify_plain_password(), with the faster derivation); false too
 * if the secret does not parse.
 */
static bool
plain_matches_scram(const char *password, const char *shadow)
{
	int			iterations;
	char	   *encoded_salt;
	uint8		stored_key[SCRAM_KEY_LEN];
	uint8		server_key[SCRAM_KEY_LEN];
	uint8		computed[SCRAM_KEY_LEN];
	char	   *salt;
	int			saltlen;

	if (!parse_scram_secret(shadow, &iterations, &encoded_salt, stored_key, server_key))
		return false;
	saltlen = pg_b64_dec_len(strlen(encoded_salt));
	salt = palloc(saltlen);
	saltlen = pg_b64_decode(encoded_salt, strlen(encoded_salt), salt, saltlen);
	if (saltlen < 0)
		return false;
	plain_server_key(password, (const uint8 *) salt, saltlen, iterations, computed);
	return CRYPTO_memcmp(computed, server_key, SCRAM_KEY_LEN) == 0;
}

/* NAGARE_AUTH_PLAIN_VERIFY: is password the password of user? */
static void
plain_verify(NagareWorkerRequest *req, const char *user, const char *password)
{
	Oid			role = login_role(user);
	const char *logdetail = NULL;
	char	   *shadow = NULL;

	if (OidIsValid(role))
		shadow = get_role_password(user, &logdetail);
	if (shadow != NULL && get_password_type(shadow) == PASSWORD_TYPE_SCRAM_SHA_256)
	{
		if (!plain_matches_scram(password, shadow))
			role = InvalidOid;
	}
	else if (shadow != NULL)
	{
		if (plain_crypt_verify(user, shadow, password, &logdetail) != STATUS_OK)
			role = InvalidOid;
	}
	else
	{
		/* the key derivation a real verifier would cost, for nothing */
		uint8		salt[SCRAM_DEFAULT_SALT_LEN];
		uint8		server_key[SCRAM_KEY_LEN];

		mock_salt(user, salt);
		plain_server_key(password, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS,
						 server_key);
		role = InvalidOid;
	}
	pq_sendint32(&req->result, (uint32) role);
	send_role_facts(&req->result, role);
}

/*
 * A client certificate's role: the OID of the role named user if it may
 * log in now (login_role(), and rolvaliduntil not past), else 0.
 */
static void
role_check(NagareWorkerRequest *req, const char *user)
{
	Oid			role = login_role(user);

	if (OidIsValid(role))
	{
		HeapTuple	tup = SearchSysCache1(AUTHNAME, PointerGetDatum(user));
		bool		isnull = true;
		Datum		until = 0;

		if (HeapTupleIsValid(tup))
		{
			until = SysCacheGetAttr(AUTHNAME, tup, Anum_pg_authid_rolvaliduntil, &isnull);
			ReleaseSysCache(tup);
		}
		else
			role = InvalidOid;
		if (!isnull && DatumGetTimestampTz(until) < GetCurrentTimestamp())
			role = InvalidOid;
	}
	pq_sendint32(&req->result, (uint32) role);
	send_role_facts(&req->result, role);
}

/* One authentication request, in the transaction nagare_worker_sql() opened */
static bool
auth_sql(void *arg)
{
	NagareWorkerRequest *req = arg;
	Jsonb *payload =
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->payload)));
	char *user = nagare_worker_json_string(payload, "u");
	char	   *password;

	if (user == NULL)
		elog(ERROR, "malformed authentication request");
	if (req->kind == NAGARE_AUTH_SCRAM_LOOKUP)
		scram_lookup(req, user);
	else if (req->kind == NAGARE_AUTH_ROLE_CHECK)
		role_check(req, user);
	else
	{
		password = nagare_worker_json_string(payload, "p");
		if (password == NULL)
			elog(ERROR, "malformed authentication request");
		plain_verify(req, user, password);
		memset(password, 0, strlen(password));
	}
	return false;				/* read only: nothing to commit */
}

/*
 * Carry out the authentication requests reqs[0..n-1] and fill in their
 * answers (the caller sends them).
 */
void
nagare_worker_run_auth(NagareWorkerRequest **reqs, int n)
{
	int			i;

	pgstat_report_activity(STATE_RUNNING, "nagare worker: authentication of Kafka clients");
	for (i = 0; i < n; i++)
	{
		NagareWorkerRequest *req = reqs[i];
		ErrorData  *edata;

		resetStringInfo(&req->result);
		edata = nagare_worker_sql(auth_sql, req);
		if (edata == NULL)
			strlcpy(req->sqlstate, "00000", sizeof(req->sqlstate));
		else
		{
			nagare_worker_request_failed(req, edata);
			FreeErrorData(edata);
		}
		/* the password is in the copied payload: do not keep it */
		memset(req->payload, 0, req->len);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}
