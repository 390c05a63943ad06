/*-------------------------------------------------------------------------
 *
 * test_sasl.c
 *	  Unit tests of the SASL message parsers (src/auth/sasl.c): RFC 5802 and
 *	  RFC 7677's examples, what Kafka clients send (librdkafka's doubled
 *	  final nonce, kafka-python's and Kafka's extensions), and what must be
 *	  refused.  Prints "sasl: N passed, M failed".
 *
 * test/auth/test_sasl.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "auth/sasl.h"

static int	passed;
static int	failed;

#define CHECK(cond, what) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			printf("not ok: %s (%s, line %d)\n", what, #cond, __LINE__); \
		} \
	} while (0)

static bool
span_is(SaslSpan s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static SaslError
first(const char *m, ScramClientFirst *out)
{
	return nagare_sasl_parse_scram_client_first(m, strlen(m), out);
}

static SaslError
final(const char *m, ScramClientFinal *out)
{
	return nagare_sasl_parse_scram_client_final(m, strlen(m), out);
}

static void
test_client_first(void)
{
	ScramClientFirst f;

	/* RFC 7677, section 3 */
	CHECK(first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &f) == SASL_OK, "RFC 7677 client-first");
	CHECK(strcmp(f.user, "user") == 0, "user");
	CHECK(span_is(f.nonce, "rOprNGfwEbeRWgbNEkqO"), "nonce");
	CHECK(span_is(f.gs2_header, "n,,"), "gs2 header");
	CHECK(span_is(f.bare, "n=user,r=rOprNGfwEbeRWgbNEkqO"), "bare");

	/* escaped names, "y" flag, an authzid naming the user, extensions */
	CHECK(first("n,,n=a=2Cb=3Dc,r=xyz", &f) == SASL_OK && strcmp(f.user, "a,b=c") == 0,
		  "=2C and =3D unescape");
	CHECK(first("y,,n=bob,r=abc", &f) == SASL_OK && span_is(f.gs2_header, "y,,"), "y flag");
	CHECK(first("n,a=bob,n=bob,r=abc", &f) == SASL_OK, "authzid = user");
	CHECK(first("n,,n=bob,r=abc,tokenauth=false,foo=bar", &f) == SASL_OK &&
		  span_is(f.nonce, "abc"), "Kafka extensions are ignored");

	/* refused */
	CHECK(first("p=tls-unique,,n=bob,r=abc", &f) == SASL_ERR_CHANNEL_BINDING, "channel binding");
	CHECK(first("n,a=alice,n=bob,r=abc", &f) == SASL_ERR_AUTHZID, "authzid of another user");
	CHECK(first("n,,m=ext,n=bob,r=abc", &f) == SASL_ERR_EXTENSION, "mandatory extension");
	CHECK(first("n,,n=bob,r=abc,tokenauth=true", &f) == SASL_ERR_EXTENSION, "delegation token");
	CHECK(first("n,,n=,r=abc", &f) == SASL_ERR_USER, "empty user");
	CHECK(first("n,,n=a=2Xb,r=abc", &f) == SASL_ERR_USER, "bad escape");
	CHECK(first("n,,n=ab=2,r=abc", &f) == SASL_ERR_USER, "short escape");
	CHECK(first("n,,n=bob,r=", &f) == SASL_ERR_NONCE, "empty nonce");
	CHECK(first("n,,n=bob,r=a b", &f) == SASL_ERR_NONCE, "nonce with a space");
	CHECK(first("n,,n=bob,r=abc,", &f) == SASL_ERR_FORMAT, "trailing comma");
	CHECK(first("n,,r=abc,n=bob", &f) == SASL_ERR_FORMAT, "attributes out of order");
	CHECK(first("n,,n=bob", &f) == SASL_ERR_FORMAT, "no nonce");
	CHECK(first("x,,n=bob,r=abc", &f) == SASL_ERR_FORMAT, "bad gs2 flag");
	CHECK(first("n,", &f) == SASL_ERR_FORMAT, "truncated");
	{
		const char	m[] = "n,,n=b\0b,r=abc";

		CHECK(nagare_sasl_parse_scram_client_first(m, sizeof(m) - 1, &f) == SASL_ERR_USER, "NUL in user");
	}
	{
		char		m[600];

		snprintf(m, sizeof(m), "n,,n=%0300d,r=abc", 0);
		CHECK(first(m, &f) == SASL_ERR_USER, "user too long");
	}
}

static void
test_client_final(void)
{
	ScramClientFinal f;
	SaslSpan	cn = {"rOprNGfwEbeRWgbNEkqO", 20};
	SaslSpan	sn = {"rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", 50};
	const char *rfc = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

	CHECK(final(rfc, &f) == SASL_OK, "RFC 7677 client-final");
	CHECK(span_is(f.channel_binding, "biws"), "c=");
	CHECK(span_is(f.nonce, "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"), "r=");
	CHECK(span_is(f.proof, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="), "p=");
	CHECK(span_is(f.without_proof, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
		  "without proof");
	CHECK(nagare_sasl_scram_final_nonce_ok(f.nonce, cn, sn), "final nonce = server nonce");

	/* librdkafka < 2.6.1: r=cnonce || server nonce */
	{
		const char *rdk = "c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA";

		CHECK(final(rdk, &f) == SASL_OK, "librdkafka's doubled nonce parses");
		CHECK(nagare_sasl_scram_final_nonce_ok(f.nonce, cn, sn), "librdkafka's doubled nonce is accepted");
	}
	CHECK(final("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIljXhNlF$k0,p=AAAA", &f) == SASL_OK &&
		  !nagare_sasl_scram_final_nonce_ok(f.nonce, cn, sn), "a different server nonce is refused");
	CHECK(final("c=biws,r=%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", &f) == SASL_OK &&
		  !nagare_sasl_scram_final_nonce_ok(f.nonce, cn, sn), "a nonce without the client's part is refused");
	CHECK(final("c=biws,r=abc,ext=1,p=AAAA", &f) == SASL_OK &&
		  span_is(f.without_proof, "c=biws,r=abc,ext=1"), "extensions before the proof");

	CHECK(final("c=biws,r=abc", &f) == SASL_ERR_FORMAT, "no proof");
	CHECK(final("c=biws,r=abc,p=", &f) == SASL_ERR_FORMAT, "empty proof");
	CHECK(final("c=biws,r=abc,p=AAAA,x=1", &f) == SASL_ERR_FORMAT, "proof not last");
	CHECK(final("c=biws,r=abc,p=AAAA,", &f) == SASL_ERR_FORMAT, "trailing comma");
	CHECK(final("r=abc,c=biws,p=AAAA", &f) == SASL_ERR_FORMAT, "out of order");
	CHECK(final("c=biws,r=abc,tokenauth=true,p=AAAA", &f) == SASL_ERR_EXTENSION, "tokenauth");
}

static void
test_plain(void)
{
	SaslPlain	p;
	const char	ok[] = "\0alice\0s3cret";
	const char	authz[] = "alice\0alice\0pw";
	const char	other[] = "bob\0alice\0pw";
	const char	nouser[] = "\0\0pw";
	const char	nopw[] = "\0alice\0";
	const char	onenul[] = "alice\0pw";

	CHECK(nagare_sasl_parse_plain(ok, sizeof(ok) - 1, &p) == SASL_OK, "PLAIN");
	CHECK(strcmp(p.user, "alice") == 0 && span_is(p.password, "s3cret"), "PLAIN user and password");
	CHECK(nagare_sasl_parse_plain(authz, sizeof(authz) - 1, &p) == SASL_OK, "PLAIN authzid = user");
	CHECK(nagare_sasl_parse_plain(other, sizeof(other) - 1, &p) == SASL_ERR_AUTHZID, "PLAIN authzid of another");
	CHECK(nagare_sasl_parse_plain(nouser, sizeof(nouser) - 1, &p) == SASL_ERR_USER, "PLAIN empty user");
	CHECK(nagare_sasl_parse_plain(nopw, sizeof(nopw) - 1, &p) == SASL_ERR_FORMAT, "PLAIN empty password");
	CHECK(nagare_sasl_parse_plain(onenul, sizeof(onenul) - 1, &p) == SASL_ERR_FORMAT, "PLAIN one NUL");
}

int
main(void)
{
	test_client_first();
	test_client_final();
	test_plain();
	printf("sasl: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
