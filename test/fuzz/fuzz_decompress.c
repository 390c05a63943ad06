/*-------------------------------------------------------------------------
 *
 * fuzz_decompress.c
 *	  libFuzzer target: the decompressors (and compressors) of src/kafka.
 *
 * Input layout: byte 0 selects the codec (low 3 bits, so the unsupported
 * codes 5-7 are exercised too), byte 1 the output cap (1 KiB << (byte % 11),
 * i.e. 1 KiB .. 1 MiB), the rest is the compressed data.
 *
 * Properties checked besides memory safety, UB and the allocation rules of
 * fuzz_alloc.h:
 *
 *	- codes 5-7 are KAFKA_ERR_UNSUPPORTED, and a failed call returns a
 *	  KafkaCodecError and holds no memory;
 *	- a successful result is at most the cap, and the cap is exact:
 *	  decompressing again with the cap set to the output size gives the
 *	  same output, and with one byte less gives KAFKA_ERR_TOO_LARGE (not
 *	  success, not a different error);
 *	- our own compressor round-trips both the decompressed output and the
 *	  raw input bytes.
 *
 * test/fuzz/fuzz_decompress.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/codec.h"
#include "kafka/compress.h"
#include "fuzz_alloc.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
release(uint8_t *p)
{
	fuzz_free(fuzz_allocator.ctx, p);
}

/* compress(in) then decompress must give in back */
static void
roundtrip(int codec, const uint8_t *in, size_t len)
{
	uint8_t    *c;
	uint8_t    *d;
	size_t		clen;
	size_t		dlen;

	FUZZ_ASSERT(kafka_compress(codec, in, len, &c, &clen, &fuzz_allocator) == KAFKA_OK);
	FUZZ_ASSERT(kafka_decompress(codec, c, clen, len, &d, &dlen, &fuzz_allocator) == KAFKA_OK);
	FUZZ_ASSERT(dlen == len && (len == 0 || memcmp(d, in, len) == 0));
	release(d);
	release(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			codec;
	size_t		cap;
	const uint8_t *in;
	size_t		inlen;
	uint8_t    *out = NULL;
	size_t		outlen = 0;
	int			rc;

	if (size < 2)
		return 0;
	codec = data[0] & 7;
	cap = (size_t) 1024 << (data[1] % 11);
	in = data + 2;
	inlen = size - 2;

	rc = kafka_decompress(codec, in, inlen, cap, &out, &outlen, &fuzz_allocator);
	if (codec > KAFKA_COMPRESSION_MAX)
	{
		FUZZ_ASSERT(rc == KAFKA_ERR_UNSUPPORTED);
		fuzz_alloc_check_empty();
		return 0;
	}
	if (rc != KAFKA_OK)
	{
		FUZZ_ASSERT(rc == KAFKA_ERR_CORRUPT || rc == KAFKA_ERR_TOO_LARGE);
		fuzz_alloc_check_empty();
	}
	else
	{
		uint8_t    *out2;
		size_t		outlen2;

		FUZZ_ASSERT(outlen <= cap);

		/* the same output with the cap at exactly its size */
		rc = kafka_decompress(codec, in, inlen, outlen, &out2, &outlen2, &fuzz_allocator);
		if (rc != KAFKA_OK)
		{
			fprintf(stderr, "%s: %zu bytes with cap %zu, but cap %zu gives \"%s\"\n",
					kafka_compression_name(codec), outlen, cap, outlen,
					kafka_codec_strerror(rc));
			abort();
		}
		FUZZ_ASSERT(outlen2 == outlen && (outlen == 0 || memcmp(out, out2, outlen) == 0));
		release(out2);

		/* and one byte less is too large, nothing else */
		if (outlen > 0)
		{
			rc = kafka_decompress(codec, in, inlen, outlen - 1, &out2, &outlen2, &fuzz_allocator);
			if (rc != KAFKA_ERR_TOO_LARGE)
			{
				fprintf(stderr, "%s: %zu bytes with cap %zu, but cap %zu gives \"%s\"\n",
						kafka_compression_name(codec), outlen, cap, outlen - 1,
						kafka_codec_strerror(rc));
				abort();
			}
		}
		roundtrip(codec, out, outlen);
		release(out);
	}

	/* the compressors on arbitrary bytes */
	roundtrip(codec, in, inlen);

	fuzz_alloc_check_empty();
	return 0;
}
