/*-------------------------------------------------------------------------
 *
 * sasl.c
 *	  Parsing of SASL PLAIN and SCRAM client messages (see sasl.h).
 *
 * The input is untrusted and need not be NUL-terminated; every read is
 * bounded by the message's length, and nothing is allocated.  The grammar
 * is RFC 5802's (section 7), restricted to what nagare offers: no channel
 * binding, an authorization id only if it names the user, and Kafka's
 * extensions (",key=value" after the nonce) ignored except tokenauth.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/auth/sasl.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "auth/sasl.h"

/* A cursor over the message: [p, end) */
typedef struct Cursor
{
	const char *p;
	const char *end;
} Cursor;

/*
 * Take the next comma-separated attribute "x=value" (the value may be
 * empty); on success *name is the attribute letter(s) and the cursor is past
 * the comma (or at the end).  A value runs to the next comma: SCRAM values
 * never contain one (saslnames escape it as "=2C").
 */
static bool
next_attr(Cursor *c, SaslSpan *name, SaslSpan *value)
{
	const char *start = c->p;
	const char *eq;
	const char *comma;

	if (c->p >= c->end)
		return false;
	comma = memchr(c->p, ',', c->end - c->p);
	if (comma == NULL)
		comma = c->end;
	else if (comma + 1 == c->end)
		return false;			/* a trailing comma: an empty attribute */
	eq = memchr(c->p, '=', comma - c->p);
	if (eq == NULL || eq == start)
		return false;
	name->p = start;
	name->len = eq - start;
	value->p = eq + 1;
	value->len = comma - (eq + 1);
	c->p = comma < c->end ? comma + 1 : comma;
	return true;
}

static bool
attr_is(SaslSpan name, const char *what)
{
	size_t		n = strlen(what);

	return name.len == n && memcmp(name.p, what, n) == 0;
}

/*
 * Unescape a saslname ("=2C" is ',' and "=3D" is '='; any other '=' is an
 * error) into out, NUL-terminated.  NUL bytes are refused: the name goes on
 * to catalog lookups as a C string.
 */
static SaslError
unescape_user(SaslSpan v, char *out)
{
	size_t		i = 0;
	size_t		n = 0;

	if (v.len == 0)
		return SASL_ERR_USER;
	while (i < v.len)
	{
		char		ch = v.p[i];

		if (n >= SASL_MAX_USER)
			return SASL_ERR_USER;
		if (ch == '\0')
			return SASL_ERR_USER;
		if (ch == '=')
		{
			if (v.len - i < 3)
				return SASL_ERR_USER;
			if (v.p[i + 1] == '2' && (v.p[i + 2] == 'C' || v.p[i + 2] == 'c'))
				ch = ',';
			else if (v.p[i + 1] == '3' && (v.p[i + 2] == 'D' || v.p[i + 2] == 'd'))
				ch = '=';
			else
				return SASL_ERR_USER;
			i += 3;
		}
		else
			i++;
		out[n++] = ch;
	}
	out[n] = '\0';
	return SASL_OK;
}

/* A nonce is printable ASCII other than ',' (RFC 5802 "printable") */
bool
nagare_sasl_printable_nonce(const char *p, size_t len)
{
	size_t		i;

	if (len == 0 || len > SASL_MAX_NONCE)
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) p[i];

		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

/*
 * Kafka's extensions after the nonce: "key=value" with a non-empty key.
 * tokenauth=true asks for a delegation-token login, which nagare does not
 * offer; anything else is ignored, as Kafka does.
 */
static SaslError
check_extensions(Cursor *c, bool stop_at_proof, SaslSpan *proof)
{
	SaslSpan	name;
	SaslSpan	value;

	while (c->p < c->end)
	{
		const char *attr_start = c->p;

		if (!next_attr(c, &name, &value))
			return SASL_ERR_FORMAT;
		if (stop_at_proof && attr_is(name, "p"))
		{
			if (c->p != c->end)
				return SASL_ERR_FORMAT;
			/* the proof is the last attribute */
			proof->p = value.p;
			proof->len = value.len;
			c->p = attr_start;
			return SASL_OK;
		}
		if (attr_is(name, "tokenauth") && value.len == 4 && memcmp(value.p, "true", 4) == 0)
			return SASL_ERR_EXTENSION;
	}
	return stop_at_proof ? SASL_ERR_FORMAT : SASL_OK;
}

/*
 * PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.  The user and the
 * password must not be empty; an authorization id must name the user.
 */
SaslError
nagare_sasl_parse_plain(const char *msg, size_t len, SaslPlain *out)
{
	const char *nul1;
	const char *nul2;
	const char *end = msg + len;
	SaslSpan	authzid;
	SaslSpan	authcid;

	memset(out, 0, sizeof(*out));
	nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return SASL_ERR_FORMAT;
	nul2 = memchr(nul1 + 1, '\0', end - (nul1 + 1));
	if (nul2 == NULL)
		return SASL_ERR_FORMAT;
	authzid.p = msg;
	authzid.len = nul1 - msg;
	authcid.p = nul1 + 1;
	authcid.len = nul2 - (nul1 + 1);
	out->password.p = nul2 + 1;
	out->password.len = end - (nul2 + 1);
	if (authcid.len == 0 || authcid.len > SASL_MAX_USER)
		return SASL_ERR_USER;
	if (out->password.len == 0 || out->password.len > SASL_MAX_PASSWORD ||
		memchr(out->password.p, '\0', out->password.len) != NULL)
		return SASL_ERR_FORMAT;
	if (authzid.len > 0 &&
		(authzid.len != authcid.len || memcmp(authzid.p, authcid.p, authcid.len) != 0))
		return SASL_ERR_AUTHZID;
	memcpy(out->user, authcid.p, authcid.len);
	out->user[authcid.len] = '\0';
	return SASL_OK;
}

/*
 * client-first-message = gs2-header client-first-message-bare
 *	gs2-header = ("n" / "y" / "p=" cb-name) "," [ "a=" saslname ] ","
 *	bare = [ "m=" ... "," ] "n=" saslname "," "r=" nonce [ "," extensions ]
 */
SaslError
nagare_sasl_parse_scram_client_first(const char *msg, size_t len, ScramClientFirst *out)
{
	Cursor		c = {msg, msg + len};
	const char *comma;
	SaslSpan	name;
	SaslSpan	value;
	char		authzid[SASL_MAX_USER + 1];
	bool		have_authzid = false;
	SaslError	err;

	memset(out, 0, sizeof(*out));
	if (len < 3)
		return SASL_ERR_FORMAT;

	/* gs2-cbind-flag */
	if (msg[0] == 'p')
		return SASL_ERR_CHANNEL_BINDING;
	if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
		return SASL_ERR_FORMAT;
	c.p = msg + 2;

	/* [ "a=" saslname ] "," */
	comma = memchr(c.p, ',', c.end - c.p);
	if (comma == NULL)
		return SASL_ERR_FORMAT;
	if (comma > c.p)
	{
		SaslSpan	a;

		if (comma - c.p < 3 || c.p[0] != 'a' || c.p[1] != '=')
			return SASL_ERR_FORMAT;
		a.p = c.p + 2;
		a.len = comma - a.p;
		if (unescape_user(a, authzid) != SASL_OK)
			return SASL_ERR_AUTHZID;
		have_authzid = true;
	}
	c.p = comma + 1;
	out->gs2_header.p = msg;
	out->gs2_header.len = c.p - msg;
	out->bare.p = c.p;
	out->bare.len = c.end - c.p;

	/* [ "m=" ... ] "n=" saslname */
	if (!next_attr(&c, &name, &value))
		return SASL_ERR_FORMAT;
	if (attr_is(name, "m"))
		return SASL_ERR_EXTENSION;
	if (!attr_is(name, "n"))
		return SASL_ERR_FORMAT;
	if ((err = unescape_user(value, out->user)) != SASL_OK)
		return err;
	if (have_authzid && strcmp(authzid, out->user) != 0)
		return SASL_ERR_AUTHZID;

	/* "r=" nonce */
	if (!next_attr(&c, &name, &value) || !attr_is(name, "r"))
		return SASL_ERR_FORMAT;
	if (!nagare_sasl_printable_nonce(value.p, value.len))
		return SASL_ERR_NONCE;
	out->nonce = value;

	return check_extensions(&c, false, NULL);
}

/*
 * client-final-message =
 *	"c=" base64 "," "r=" nonce [ "," extensions ] "," "p=" base64
 */
SaslError
nagare_sasl_parse_scram_client_final(const char *msg, size_t len, ScramClientFinal *out)
{
	Cursor		c = {msg, msg + len};
	SaslSpan	name;
	SaslSpan	value;
	SaslError	err;

	memset(out, 0, sizeof(*out));
	if (!next_attr(&c, &name, &value) || !attr_is(name, "c") || value.len == 0)
		return SASL_ERR_FORMAT;
	out->channel_binding = value;
	if (!next_attr(&c, &name, &value) || !attr_is(name, "r"))
		return SASL_ERR_FORMAT;
	if (!nagare_sasl_printable_nonce(value.p, value.len))
		return SASL_ERR_NONCE;
	out->nonce = value;
	if ((err = check_extensions(&c, true, &out->proof)) != SASL_OK)
		return err;
	if (out->proof.len == 0)
		return SASL_ERR_FORMAT;
	/* c.p is at the proof attribute, after the comma before it */
	out->without_proof.p = msg;
	out->without_proof.len = (c.p - 1) - msg;
	return SASL_OK;
}

/*
 * The final nonce must end with the nonce the server sent (client nonce ||
 * server part) and start with the client's nonce.  The exact form is
 * cnonce || snonce; librdkafka before 2.6.1 sends cnonce || cnonce ||
 * snonce, which this accepts too, as Kafka 3.8.1+ does.  The proof covers
 * the bytes as sent, so this leniency costs nothing.
 */
bool
nagare_sasl_scram_final_nonce_ok(SaslSpan final_nonce, SaslSpan client_nonce, SaslSpan server_nonce)
{
	if (final_nonce.len < server_nonce.len || server_nonce.len < client_nonce.len)
		return false;
	if (memcmp(final_nonce.p + final_nonce.len - server_nonce.len,
			   server_nonce.p, server_nonce.len) != 0)
		return false;
	return memcmp(final_nonce.p, client_nonce.p, client_nonce.len) == 0;
}

const char *
nagare_sasl_strerror(SaslError err)
{
	switch (err)
	{
		case SASL_OK:
			return "ok";
		case SASL_ERR_FORMAT:
			return "malformed SASL message";
		case SASL_ERR_CHANNEL_BINDING:
			return "channel binding is not supported";
		case SASL_ERR_AUTHZID:
			return "authorization identity differs from the user";
		case SASL_ERR_EXTENSION:
			return "unsupported SCRAM extension";
		case SASL_ERR_USER:
			return "invalid user name";
		case SASL_ERR_NONCE:
			return "invalid nonce";
	}
	return "unknown SASL error";
}
