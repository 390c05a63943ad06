/*-------------------------------------------------------------------------
 *
 * fuzz_sasl.c
 *	  libFuzzer target: the SASL PLAIN and SCRAM client-message parsers
 *	  (src/auth/sasl.c), which read what an unauthenticated client sends.
 *
 * Each input goes through every parser.  Whatever a parser accepts must
 * hold its promises: spans lie inside the input, user names are
 * NUL-terminated with no NUL inside and no longer than SASL_MAX_USER,
 * nonces are printable, the client-final's "without proof" part is a prefix
 * of the message that ends right before ",p=", and the gs2 header and the
 * bare message together are the whole client-first message.  The input is
 * also split in two at its first byte's value, as a client nonce and a
 * final nonce, for nagare_sasl_scram_final_nonce_ok.
 *
 * test/fuzz/fuzz_sasl.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "fuzz_alloc.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_span(SaslSpan s, const char *base, size_t size)
{
	if (s.len == 0)
		return;
	FUZZ_ASSERT(s.p >= base && s.p + s.len <= base + size);
}

static void
check_user(const char *user)
{
	size_t		n = strnlen(user, SASL_MAX_USER + 1);

	FUZZ_ASSERT(n > 0 && n <= SASL_MAX_USER);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past the end */
	char	   *msg = malloc(size ? size : 1);
	SaslPlain	plain;
	ScramClientFirst first;
	ScramClientFinal final;

	memcpy(msg, data, size);

	if (nagare_sasl_parse_plain(msg, size, &plain) == SASL_OK)
	{
		check_user(plain.user);
		check_span(plain.password, msg, size);
		FUZZ_ASSERT(plain.password.len > 0);
	}

	if (nagare_sasl_parse_scram_client_first(msg, size, &first) == SASL_OK)
	{
		check_user(first.user);
		check_span(first.gs2_header, msg, size);
		check_span(first.bare, msg, size);
		check_span(first.nonce, msg, size);
		FUZZ_ASSERT(first.gs2_header.p == msg);
		FUZZ_ASSERT(first.gs2_header.len + first.bare.len == size);
		FUZZ_ASSERT(nagare_sasl_printable_nonce(first.nonce.p, first.nonce.len));
	}

	if (nagare_sasl_parse_scram_client_final(msg, size, &final) == SASL_OK)
	{
		check_span(final.channel_binding, msg, size);
		check_span(final.nonce, msg, size);
		check_span(final.proof, msg, size);
		check_span(final.without_proof, msg, size);
		FUZZ_ASSERT(final.without_proof.p == msg);
		FUZZ_ASSERT(final.without_proof.len + 3 <= size);
		FUZZ_ASSERT(memcmp(msg + final.without_proof.len, ",p=", 3) == 0);
		FUZZ_ASSERT(final.proof.p + final.proof.len == msg + size);
		FUZZ_ASSERT(nagare_sasl_printable_nonce(final.nonce.p, final.nonce.len));
	}

	if (size > 1)
	{
		size_t		cut = 1 + data[0] % (size - 1);
		SaslSpan	client = {msg + 1, cut - 1};
		SaslSpan	server = {msg + 1, size - 1};
		SaslSpan	fin = {msg + cut, size - cut};

		(void) nagare_sasl_scram_final_nonce_ok(fin, client, server);
		(void) nagare_sasl_scram_final_nonce_ok(server, client, fin);
	}

	free(msg);
	return 0;
}
