/*-------------------------------------------------------------------------
 *
 * compress.c
 *	  gzip, snappy, lz4 and zstd as Kafka record batches use them.
 *
 * See compress.h for the formats written and accepted.  Notes on the
 * implementation:
 *
 * Every decoder treats its input as hostile.  Sizes read from the input are
 * checked against the remaining input before use, the output is bounded by
 * max_out, and every loop either consumes input or produces output, so the
 * work done is linear in input plus (bounded) output; zstd frames without a
 * content size are decoded again after each doubling of the buffer, which is
 * at most twice the work.
 *
 * LZ4 frames are parsed here rather than with liblz4's LZ4F_decompress(),
 * which allocates its context with malloc() (a custom-allocator variant is
 * recent and in the static-linking-only API) and cannot tell us the output
 * size in advance.  Parsing ourselves costs ~100 lines: the frame format is a
 * 7-19 byte header, then length-prefixed blocks that are handed to the
 * allocation-free LZ4_decompress_safe*() block functions, with XXH32 for the
 * optional checksums.  A first pass over the frames measures the output
 * exactly (lz4_block_output_size() walks the sequence tokens without copying
 * anything) and verifies the header and block checksums; the second pass
 * decodes into a buffer allocated once.  The same approach is used for
 * xerial-framed snappy, where each chunk's raw snappy block starts with its
 * uncompressed length.
 *
 * LZ4 compression writes the frame itself for the same reason, using
 * LZ4_compress_fast_extState() with a state block from the caller's
 * allocator.
 *
 * src/kafka/compress.c
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <string.h>

#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY	/* for ZSTD_customMem */
#include <zstd.h>
#include <zstd_errors.h>

#include "kafka/byteorder.h"
#include "kafka/compress.h"

/* gzip: windowBits 15 plus 16 selects the gzip wrapper in zlib. */
#define GZIP_WINDOW_BITS		(15 + 16)
#define GZIP_MIN_MEMBER			18	/* 10-byte header, 8-byte trailer */
#define GZIP_MAX_RATIO			1032	/* deflate's maximum expansion */

/* xerial snappy-java framing. */
#define XERIAL_MAGIC			"\x82SNAPPY\0"
#define XERIAL_MAGIC_LEN		8
#define XERIAL_HEADER_LEN		16
#define XERIAL_VERSION			1
#define XERIAL_COMPAT_VERSION	1
#define XERIAL_BLOCK_SIZE		(32 * 1024)	/* SnappyOutputStream's default */

/* LZ4 frame format (lz4_Frame_format.md, v1.6.x). */
#define LZ4F_FRAME_MAGIC		0x184D2204U
#define LZ4F_SKIPPABLE_MAGIC	0x184D2A50U /* low 4 bits are free */
#define LZ4F_SKIPPABLE_MASK		0xFFFFFFF0U
#define LZ4F_FLG_VERSION_MASK	0xC0
#define LZ4F_FLG_VERSION_01		0x40
#define LZ4F_FLG_BLOCK_INDEP	0x20
#define LZ4F_FLG_BLOCK_CHECKSUM 0x10
#define LZ4F_FLG_CONTENT_SIZE	0x08
#define LZ4F_FLG_CONTENT_CKSUM	0x04
#define LZ4F_FLG_RESERVED		0x02
#define LZ4F_FLG_DICT_ID		0x01
#define LZ4F_BD_RESERVED		0x8F
#define LZ4F_BLOCK_UNCOMPRESSED 0x80000000U
#define LZ4F_BLOCK_64KB_ID		4
#define LZ4F_BLOCK_MAX(id)		((size_t) 1 << (2 * (id) + 8))
#define LZ4_DICT_MAX			(64 * 1024)		/* LZ4 window */
#define LZ4_MIN_MATCH			4

/* zstd: Kafka's default compression.zstd.level (ZSTD_CLEVEL_DEFAULT). */
#define KAFKA_ZSTD_LEVEL		3

/* First guess for an output buffer whose final size is unknown. */
#define OUTBUF_MIN_GUESS		4096

/*
 * An output buffer.  Decompressors grow it by doubling up to a hard limit
 * (max_out); compressors allocate their worst case once, after len bytes of
 * headroom for the caller (see kafka_compress_headroom).
 */
typedef struct OutBuf
{
	const KafkaAllocator *alloc;
	uint8_t    *data;
	size_t		len;			/* bytes produced */
	size_t		cap;			/* bytes allocated */
	size_t		limit;			/* max_out: cap never exceeds it */
} OutBuf;

static void
outbuf_init(OutBuf *ob, const KafkaAllocator *a, size_t limit)
{
	ob->alloc = a;
	ob->data = NULL;
	ob->len = 0;
	ob->cap = 0;
	ob->limit = limit;
}

/*
 * Make the capacity at least min(want, limit).  The first allocation is
 * hint bytes (if that is at least want), later ones double the capacity, so
 * the copying is linear overall.  Returns KAFKA_ERR_TOO_LARGE only if no
 * growth is possible because the capacity is already at the limit; callers
 * decide whether that matters.
 */
static int
outbuf_grow(OutBuf *ob, size_t want, size_t hint)
{
	size_t		newcap;
	uint8_t    *p;

	if (want <= ob->cap)
		return KAFKA_OK;
	if (ob->cap >= ob->limit)
		return KAFKA_ERR_TOO_LARGE;

	newcap = ob->cap > 0 ? ob->cap : hint;
	if (newcap == 0)
		newcap = OUTBUF_MIN_GUESS;
	/* newcap < limit <= KAFKA_MAX_BATCH_SIZE, so doubling cannot overflow */
	while (newcap < want && newcap < ob->limit)
		newcap *= 2;
	if (newcap > ob->limit)
		newcap = ob->limit;

	p = kafka_mem_alloc(ob->alloc, newcap);
	if (p == NULL)
		return KAFKA_ERR_NOMEM;
	if (ob->len > 0)
		memcpy(p, ob->data, ob->len);
	kafka_mem_free(ob->alloc, ob->data);
	ob->data = p;
	ob->cap = newcap;
	return KAFKA_OK;
}

/*
 * Where the next output byte goes.  Avoids forming NULL + 0, which is
 * undefined behaviour, when nothing has been allocated yet.
 */
static inline uint8_t *
outbuf_tail(OutBuf *ob)
{
	return ob->data != NULL ? ob->data + ob->len : NULL;
}

/* First-allocation guess when only the input size is known. */
static size_t
outbuf_guess(size_t inlen)
{
	size_t		guess = inlen < SIZE_MAX / 4 ? inlen * 4 : SIZE_MAX;

	return guess > OUTBUF_MIN_GUESS ? guess : OUTBUF_MIN_GUESS;
}

/*
 * First and only allocation, for an output whose size (or worst case) is
 * known: size bytes after the ob->len bytes of headroom the caller asked
 * for.
 */
static int
outbuf_alloc_exact(OutBuf *ob, size_t size)
{
	if (size > ob->limit)
		return KAFKA_ERR_TOO_LARGE;
	ob->data = kafka_mem_alloc(ob->alloc, ob->len + size);
	if (ob->data == NULL)
		return KAFKA_ERR_NOMEM;
	ob->cap = ob->len + size;
	return KAFKA_OK;
}

/* Hand the result to the caller on success, release it on failure. */
static int
outbuf_finish(OutBuf *ob, int rc, uint8_t **out, size_t *outlen)
{
	if (rc == KAFKA_OK && ob->data == NULL)
	{
		/* empty output: still return an allocation the caller can free */
		ob->data = kafka_mem_alloc(ob->alloc, 1);
		if (ob->data == NULL)
			rc = KAFKA_ERR_NOMEM;
	}
	if (rc != KAFKA_OK)
	{
		kafka_mem_free(ob->alloc, ob->data);
		ob->data = NULL;
		return rc;
	}
	*out = ob->data;
	*outlen = ob->len;
	return KAFKA_OK;
}

/* ----------------------------------------------------------------
 *		XXH32
 *
 * The reference algorithm (github.com/Cyan4973/xxHash, xxhash.h), reading
 * the input with byte loads so it has no alignment requirement.
 * ----------------------------------------------------------------
 */
#define XXH_PRIME32_1	0x9E3779B1U
#define XXH_PRIME32_2	0x85EBCA77U
#define XXH_PRIME32_3	0xC2B2AE3DU
#define XXH_PRIME32_4	0x27D4EB2FU
#define XXH_PRIME32_5	0x165667B1U

static inline uint32_t
xxh_rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static inline uint32_t
xxh32_round(uint32_t acc, uint32_t input)
{
	acc += input * XXH_PRIME32_2;
	acc = xxh_rotl32(acc, 13);
	return acc * XXH_PRIME32_1;
}

uint32_t
kafka_xxh32(const void *data, size_t len, uint32_t seed)
{
	const uint8_t *p = data;
	const uint8_t *end = p + len;
	uint32_t	h;

	if (len >= 16)
	{
		const uint8_t *limit = end - 16;
		uint32_t	v1 = seed + XXH_PRIME32_1 + XXH_PRIME32_2;
		uint32_t	v2 = seed + XXH_PRIME32_2;
		uint32_t	v3 = seed;
		uint32_t	v4 = seed - XXH_PRIME32_1;

		do
		{
			v1 = xxh32_round(v1, kafka_load_le32(p));
			v2 = xxh32_round(v2, kafka_load_le32(p + 4));
			v3 = xxh32_round(v3, kafka_load_le32(p + 8));
			v4 = xxh32_round(v4, kafka_load_le32(p + 12));
			p += 16;
		} while (p <= limit);
		h = xxh_rotl32(v1, 1) + xxh_rotl32(v2, 7) +
			xxh_rotl32(v3, 12) + xxh_rotl32(v4, 18);
	}
	else
		h = seed + XXH_PRIME32_5;

	/* the algorithm mixes in the length modulo 2^32 */
	h += (uint32_t) len;

	while (end - p >= 4)
	{
		h += kafka_load_le32(p) * XXH_PRIME32_3;
		h = xxh_rotl32(h, 17) * XXH_PRIME32_4;
		p += 4;
	}
	while (p < end)
	{
		h += (uint32_t) *p++ * XXH_PRIME32_5;
		h = xxh_rotl32(h, 11) * XXH_PRIME32_1;
	}

	h ^= h >> 15;
	h *= XXH_PRIME32_2;
	h ^= h >> 13;
	h *= XXH_PRIME32_3;
	h ^= h >> 16;
	return h;
}

/* ----------------------------------------------------------------
 *		gzip (zlib)
 * ----------------------------------------------------------------
 */

/* zlib's allocation hooks, routed to the caller's allocator. */
static voidpf
gzip_zalloc(voidpf opaque, uInt items, uInt size)
{
	const KafkaAllocator *a = opaque;

	if (size != 0 && items > SIZE_MAX / size)
		return Z_NULL;
	return kafka_mem_alloc(a, (size_t) items * size);
}

static void
gzip_zfree(voidpf opaque, voidpf ptr)
{
	kafka_mem_free((const KafkaAllocator *) opaque, ptr);
}

static void
gzip_stream_init(z_stream *zs, const KafkaAllocator *a)
{
	memset(zs, 0, sizeof(*zs));
	zs->zalloc = gzip_zalloc;
	zs->zfree = gzip_zfree;
	zs->opaque = (voidpf) a;
}

static int
gzip_compress(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	z_stream	zs;
	uLong		bound;
	int			zrc;
	int			rc;

	gzip_stream_init(&zs, ob->alloc);
	zrc = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
					   GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY);
	if (zrc != Z_OK)
		return zrc == Z_MEM_ERROR ? KAFKA_ERR_NOMEM : KAFKA_ERR_CORRUPT;

	/* deflateBound() includes the gzip header and trailer */
	bound = deflateBound(&zs, (uLong) inlen);
	rc = outbuf_alloc_exact(ob, bound);
	if (rc == KAFKA_OK)
	{
		zs.next_in = (Bytef *) in;
		zs.avail_in = (uInt) inlen;
		zs.next_out = ob->data + ob->len;
		zs.avail_out = (uInt) bound;
		zrc = deflate(&zs, Z_FINISH);
		if (zrc == Z_STREAM_END)
			ob->len += bound - zs.avail_out;
		else
			rc = zrc == Z_MEM_ERROR ? KAFKA_ERR_NOMEM : KAFKA_ERR_CORRUPT;
	}
	deflateEnd(&zs);
	return rc;
}

/*
 * Inflate one or more gzip members.  zlib reports progress through
 * next_in/next_out; each inflate() call either makes progress or returns
 * Z_BUF_ERROR, so the loop is bounded by input size plus max_out.
 */
static int
gzip_decompress(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	z_stream	zs;
	size_t		hint;
	int			zrc;
	int			rc = KAFKA_OK;

	/*
	 * A gzip member ends with ISIZE, its uncompressed length modulo 2^32;
	 * for the usual single member that is the exact output size, so use it
	 * for the first allocation.  It is only a hint: it is untrusted, so cap
	 * it at deflate's maximum expansion (about 1032:1) to keep a lying
	 * 20-byte input from making us allocate max_out up front.
	 */
	hint = outbuf_guess(inlen);
	if (inlen >= GZIP_MIN_MEMBER)
	{
		size_t		isize = kafka_load_le32(in + inlen - 4);

		if (isize > 0 && isize / GZIP_MAX_RATIO <= inlen)
			hint = isize;
	}

	gzip_stream_init(&zs, ob->alloc);
	zrc = inflateInit2(&zs, GZIP_WINDOW_BITS);
	if (zrc != Z_OK)
		return zrc == Z_MEM_ERROR ? KAFKA_ERR_NOMEM : KAFKA_ERR_CORRUPT;
	zs.next_in = (Bytef *) in;
	zs.avail_in = (uInt) inlen;

	for (;;)
	{
		uint8_t		probe;
		int			at_limit = 0;

		if (ob->len == ob->cap)
		{
			rc = outbuf_grow(ob, ob->cap + 1, hint);
			if (rc == KAFKA_ERR_TOO_LARGE)
				at_limit = 1;
			else if (rc != KAFKA_OK)
				break;
			rc = KAFKA_OK;
		}

		if (at_limit)
		{
			/*
			 * The buffer is full at max_out: the stream may still end here
			 * without further output.  Let zlib write into a one-byte probe
			 * to find out; any byte there means the output is too large.
			 */
			zs.next_out = &probe;
			zs.avail_out = 1;
		}
		else
		{
			zs.next_out = ob->data + ob->len;
			zs.avail_out = (uInt) (ob->cap - ob->len);
		}

		zrc = inflate(&zs, Z_NO_FLUSH);

		if (at_limit)
		{
			if (zs.avail_out == 0)
			{
				rc = KAFKA_ERR_TOO_LARGE;
				break;
			}
		}
		else
			ob->len = ob->cap - zs.avail_out;

		if (zrc == Z_STREAM_END)
		{
			if (zs.avail_in == 0)
				break;
			/* another gzip member follows */
			if (inflateReset(&zs) != Z_OK)
			{
				rc = KAFKA_ERR_CORRUPT;
				break;
			}
			continue;
		}
		if (zrc == Z_OK)
			continue;
		/* Z_BUF_ERROR here means the input ended inside a member */
		rc = zrc == Z_MEM_ERROR ? KAFKA_ERR_NOMEM : KAFKA_ERR_CORRUPT;
		break;
	}
	inflateEnd(&zs);
	return rc;
}

/* ----------------------------------------------------------------
 *		snappy
 * ----------------------------------------------------------------
 */
static int
snappy_compress_xerial(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	size_t		nblocks = (inlen + XERIAL_BLOCK_SIZE - 1) / XERIAL_BLOCK_SIZE;
	size_t		bound;
	size_t		off;
	uint8_t    *p;
	int			rc;

	/*
	 * Every block but the last is XERIAL_BLOCK_SIZE bytes, so bounding each
	 * by the largest block's bound bounds the whole; inlen is at most
	 * KAFKA_MAX_BATCH_SIZE, so this cannot overflow.
	 */
	bound = XERIAL_HEADER_LEN +
		nblocks * (4 + snappy_max_compressed_length(XERIAL_BLOCK_SIZE));
	rc = outbuf_alloc_exact(ob, bound);
	if (rc != KAFKA_OK)
		return rc;

	p = ob->data + ob->len;
	memcpy(p, XERIAL_MAGIC, XERIAL_MAGIC_LEN);
	kafka_store_be32(p + 8, XERIAL_VERSION);
	kafka_store_be32(p + 12, XERIAL_COMPAT_VERSION);
	ob->len += XERIAL_HEADER_LEN;

	for (off = 0; off < inlen; off += XERIAL_BLOCK_SIZE)
	{
		size_t		blen = inlen - off < XERIAL_BLOCK_SIZE ? inlen - off : XERIAL_BLOCK_SIZE;
		size_t		clen = ob->cap - ob->len - 4;

		if (snappy_compress((const char *) in + off, blen,
							(char *) ob->data + ob->len + 4, &clen) != SNAPPY_OK)
			return KAFKA_ERR_CORRUPT;	/* cannot happen: buffer is large enough */
		kafka_store_be32(ob->data + ob->len, (uint32_t) clen);
		ob->len += 4 + clen;
	}
	return KAFKA_OK;
}

/*
 * Walk xerial chunks.  With dst == NULL, measure: validate the framing and
 * sum the uncompressed lengths the raw blocks declare, failing once the sum
 * exceeds limit.  With dst, decode into dst, which has exactly the measured
 * size.
 */
static int
snappy_xerial_walk(const uint8_t *in, size_t inlen, uint8_t *dst,
				   size_t limit, size_t *total)
{
	const uint8_t *p = in;
	const uint8_t *end = in + inlen;
	size_t		produced = 0;

	while (p < end)
	{
		uint32_t	clen;
		size_t		ulen;

		/* snappy-java may concatenate whole streams, headers included */
		if ((size_t) (end - p) >= XERIAL_MAGIC_LEN &&
			memcmp(p, XERIAL_MAGIC, XERIAL_MAGIC_LEN) == 0)
		{
			if ((size_t) (end - p) < XERIAL_HEADER_LEN)
				return KAFKA_ERR_CORRUPT;
			p += XERIAL_HEADER_LEN;
			continue;
		}

		if (end - p < 4)
			return KAFKA_ERR_CORRUPT;
		clen = kafka_load_be32(p);
		p += 4;
		/* a raw snappy block is at least its 1-byte length varint */
		if (clen == 0 || clen > (size_t) (end - p))
			return KAFKA_ERR_CORRUPT;

		if (snappy_uncompressed_length((const char *) p, clen, &ulen) != SNAPPY_OK)
			return KAFKA_ERR_CORRUPT;
		if (ulen > limit - produced)
			return KAFKA_ERR_TOO_LARGE;

		if (dst != NULL)
		{
			size_t		got = ulen;

			if (snappy_uncompress((const char *) p, clen,
								  (char *) dst + produced, &got) != SNAPPY_OK ||
				got != ulen)
				return KAFKA_ERR_CORRUPT;
		}
		produced += ulen;
		p += clen;
	}
	*total = produced;
	return KAFKA_OK;
}

static int
snappy_decompress(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	size_t		total;
	int			rc;

	if (inlen >= XERIAL_MAGIC_LEN && memcmp(in, XERIAL_MAGIC, XERIAL_MAGIC_LEN) == 0)
	{
		rc = snappy_xerial_walk(in, inlen, NULL, ob->limit, &total);
		if (rc == KAFKA_OK)
			rc = outbuf_alloc_exact(ob, total);
		if (rc == KAFKA_OK)
			rc = snappy_xerial_walk(in, inlen, ob->data, ob->limit, &total);
		if (rc == KAFKA_OK)
			ob->len = total;
		return rc;
	}

	/* raw snappy: one block, which starts with its uncompressed length */
	if (snappy_uncompressed_length((const char *) in, inlen, &total) != SNAPPY_OK)
		return KAFKA_ERR_CORRUPT;
	rc = outbuf_alloc_exact(ob, total);
	if (rc != KAFKA_OK)
		return rc;
	ob->len = total;
	if (snappy_uncompress((const char *) in, inlen, (char *) ob->data, &ob->len) != SNAPPY_OK ||
		ob->len != total)
		return KAFKA_ERR_CORRUPT;
	return KAFKA_OK;
}

/* ----------------------------------------------------------------
 *		lz4
 * ----------------------------------------------------------------
 */
static int
lz4_compress_frame(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	size_t		block_max = LZ4F_BLOCK_MAX(LZ4F_BLOCK_64KB_ID);
	size_t		nblocks = (inlen + block_max - 1) / block_max;
	size_t		bound;
	size_t		off;
	void	   *state;
	uint8_t    *p;
	int			rc;

	/*
	 * Header (7) + per block a 4-byte size and at most the block itself
	 * (blocks that do not shrink are stored uncompressed, as Java does) +
	 * end mark (4).
	 */
	bound = 7 + nblocks * 4 + inlen + 4;
	rc = outbuf_alloc_exact(ob, bound);
	if (rc != KAFKA_OK)
		return rc;
	state = kafka_mem_alloc(ob->alloc, (size_t) LZ4_sizeofState());
	if (state == NULL)
		return KAFKA_ERR_NOMEM;

	p = ob->data + ob->len;
	kafka_store_le32(p, LZ4F_FRAME_MAGIC);
	p[4] = LZ4F_FLG_VERSION_01 | LZ4F_FLG_BLOCK_INDEP;
	p[5] = LZ4F_BLOCK_64KB_ID << 4;
	p[6] = (uint8_t) (kafka_xxh32(p + 4, 2, 0) >> 8);
	ob->len += 7;

	for (off = 0; off < inlen; off += block_max)
	{
		size_t		blen = inlen - off < block_max ? inlen - off : block_max;
		int			clen;

		/* capacity blen - 1: accept the block only if it shrinks */
		clen = LZ4_compress_fast_extState(state, (const char *) in + off,
										  (char *) ob->data + ob->len + 4,
										  (int) blen, (int) blen - 1, 1);
		if (clen > 0)
		{
			kafka_store_le32(ob->data + ob->len, (uint32_t) clen);
			ob->len += 4 + (size_t) clen;
		}
		else
		{
			kafka_store_le32(ob->data + ob->len, (uint32_t) blen | LZ4F_BLOCK_UNCOMPRESSED);
			memcpy(ob->data + ob->len + 4, in + off, blen);
			ob->len += 4 + blen;
		}
	}
	kafka_store_le32(ob->data + ob->len, 0);	/* end mark */
	ob->len += 4;

	kafka_mem_free(ob->alloc, state);
	return KAFKA_OK;
}

/*
 * Number of bytes the LZ4 block at src decodes to, by walking its sequences
 * without copying: each is a token (literal length : match length, 4 bits
 * each, 15 meaning "more length bytes follow, each added, until one is not
 * 255"), the literals, and unless the block ends there a 2-byte offset and
 * the match length extension; matches are at least LZ4_MIN_MATCH long.
 *
 * Only sizes are checked here; whether the block is otherwise valid (offsets
 * within the window, the end-of-block rules) is LZ4_decompress_safe's job.
 * Stops with KAFKA_ERR_CORRUPT as soon as the size passes limit, so the
 * caller's bound also bounds the arithmetic.
 */
static int
lz4_block_output_size(const uint8_t *src, size_t srclen, size_t limit,
					  size_t *size)
{
	const uint8_t *p = src;
	const uint8_t *end = src + srclen;
	size_t		out = 0;

	for (;;)
	{
		uint8_t		token;
		size_t		lit;
		size_t		match;

		if (p >= end)
			return KAFKA_ERR_CORRUPT;
		token = *p++;

		lit = token >> 4;
		if (lit == 15)
		{
			uint8_t		b;

			do
			{
				if (p >= end)
					return KAFKA_ERR_CORRUPT;
				b = *p++;
				lit += b;
			} while (b == 255);
		}
		if (lit > (size_t) (end - p) || lit > limit - out)
			return KAFKA_ERR_CORRUPT;
		p += lit;
		out += lit;

		if (p == end)
			break;				/* the last sequence has literals only */

		if (end - p < 2)
			return KAFKA_ERR_CORRUPT;
		p += 2;					/* offset */

		match = token & 15;
		if (match == 15)
		{
			uint8_t		b;

			do
			{
				if (p >= end)
					return KAFKA_ERR_CORRUPT;
				b = *p++;
				match += b;
			} while (b == 255);
		}
		match += LZ4_MIN_MATCH;
		if (match > limit - out)
			return KAFKA_ERR_CORRUPT;
		out += match;
	}
	*size = out;
	return KAFKA_OK;
}

/*
 * Parse one LZ4 frame starting at *pos (just past its magic number).
 *
 * With dst == NULL, measure: check the frame descriptor, header checksum,
 * block sizes and block checksums, and add the frame's decoded size to
 * *produced, failing with KAFKA_ERR_TOO_LARGE once that passes limit.
 * With dst, decode the blocks to dst + *produced (dst holds exactly the
 * measured total) and verify the content checksum.
 *
 * flags: KAFKA_DECOMPRESS_LZ4_NO_HC skips the header checksum (see
 * kafka_decompress_flags).
 */
static int
lz4_walk_frame(const uint8_t **pos, const uint8_t *end, uint8_t *dst,
			   size_t limit, size_t *produced, int flags)
{
	const uint8_t *p = *pos;
	size_t		frame_start = *produced;
	size_t		out = *produced;
	size_t		desc_len;
	size_t		block_max;
	uint64_t	content_size = 0;
	uint8_t		flg;
	uint8_t		bd;

	/* Frame descriptor: FLG, BD, [content size (8)], header checksum (1) */
	if (end - p < 3)
		return KAFKA_ERR_CORRUPT;
	flg = p[0];
	bd = p[1];
	if ((flg & LZ4F_FLG_VERSION_MASK) != LZ4F_FLG_VERSION_01 ||
		(flg & (LZ4F_FLG_RESERVED | LZ4F_FLG_DICT_ID)) != 0 ||
		(bd & LZ4F_BD_RESERVED) != 0 || (bd >> 4) < LZ4F_BLOCK_64KB_ID)
		return KAFKA_ERR_CORRUPT;
	block_max = LZ4F_BLOCK_MAX(bd >> 4);
	desc_len = (flg & LZ4F_FLG_CONTENT_SIZE) ? 10 : 2;
	if ((size_t) (end - p) < desc_len + 1)
		return KAFKA_ERR_CORRUPT;
	if (flg & LZ4F_FLG_CONTENT_SIZE)
		content_size = kafka_load_le64(p + 2);
	if (!(flags & KAFKA_DECOMPRESS_LZ4_NO_HC) &&
		p[desc_len] != (uint8_t) (kafka_xxh32(p, desc_len, 0) >> 8))
		return KAFKA_ERR_CORRUPT;
	p += desc_len + 1;

	if ((flg & LZ4F_FLG_CONTENT_SIZE) && content_size > limit - out)
		return KAFKA_ERR_TOO_LARGE;

	/* Data blocks, up to the end mark */
	for (;;)
	{
		uint32_t	word;
		size_t		blen;
		size_t		ulen;
		int			raw;

		if (end - p < 4)
			return KAFKA_ERR_CORRUPT;
		word = kafka_load_le32(p);
		p += 4;
		if (word == 0)
			break;

		raw = (word & LZ4F_BLOCK_UNCOMPRESSED) != 0;
		blen = word & ~LZ4F_BLOCK_UNCOMPRESSED;
		if (blen > block_max || blen > (size_t) (end - p))
			return KAFKA_ERR_CORRUPT;

		if ((flg & LZ4F_FLG_BLOCK_CHECKSUM) && (size_t) (end - p) - blen < 4)
			return KAFKA_ERR_CORRUPT;

		if (dst == NULL)
		{
			if ((flg & LZ4F_FLG_BLOCK_CHECKSUM) &&
				kafka_load_le32(p + blen) != kafka_xxh32(p, blen, 0))
				return KAFKA_ERR_CORRUPT;
			if (raw)
				ulen = blen;
			else if (lz4_block_output_size(p, blen, block_max, &ulen) != KAFKA_OK)
				return KAFKA_ERR_CORRUPT;
			if (ulen > limit - out)
				return KAFKA_ERR_TOO_LARGE;
		}
		else if (raw)
		{
			/* the measuring pass saw the same block, but check anyway */
			if (blen > limit - out)
				return KAFKA_ERR_CORRUPT;
			memcpy(dst + out, p, blen);
			ulen = blen;
		}
		else
		{
			/* the sizes were checked when measuring, so the casts are safe */
			int			cap = (int) (limit - out);
			int			n;

			if (flg & LZ4F_FLG_BLOCK_INDEP)
				n = LZ4_decompress_safe((const char *) p, (char *) dst + out,
										(int) blen, cap);
			else
			{
				/* linked blocks may refer to the previous 64 KiB of the frame */
				size_t		dict = out - frame_start;

				if (dict > LZ4_DICT_MAX)
					dict = LZ4_DICT_MAX;
				n = LZ4_decompress_safe_usingDict((const char *) p,
												  (char *) dst + out,
												  (int) blen, cap,
												  (const char *) dst + out - dict,
												  (int) dict);
			}
			if (n < 0)
				return KAFKA_ERR_CORRUPT;
			ulen = (size_t) n;
		}

		out += ulen;
		p += blen;
		if (flg & LZ4F_FLG_BLOCK_CHECKSUM)
			p += 4;
	}

	if ((flg & LZ4F_FLG_CONTENT_SIZE) && content_size != out - frame_start)
		return KAFKA_ERR_CORRUPT;

	if (flg & LZ4F_FLG_CONTENT_CKSUM)
	{
		if (end - p < 4)
			return KAFKA_ERR_CORRUPT;
		if (dst != NULL &&
			kafka_load_le32(p) != kafka_xxh32(dst + frame_start, out - frame_start, 0))
			return KAFKA_ERR_CORRUPT;
		p += 4;
	}

	*pos = p;
	*produced = out;
	return KAFKA_OK;
}

/* Walk all frames of the input; see lz4_walk_frame() for the two modes. */
static int
lz4_walk(const uint8_t *in, size_t inlen, uint8_t *dst, size_t limit,
		 size_t *total, int flags)
{
	const uint8_t *p = in;
	const uint8_t *end = in + inlen;
	size_t		produced = 0;
	int			rc;

	if (inlen == 0)
		return KAFKA_ERR_CORRUPT;
	while (p < end)
	{
		uint32_t	magic;

		if (end - p < 4)
			return KAFKA_ERR_CORRUPT;
		magic = kafka_load_le32(p);
		p += 4;
		if ((magic & LZ4F_SKIPPABLE_MASK) == LZ4F_SKIPPABLE_MAGIC)
		{
			uint32_t	skip;

			if (end - p < 4)
				return KAFKA_ERR_CORRUPT;
			skip = kafka_load_le32(p);
			p += 4;
			if (skip > (size_t) (end - p))
				return KAFKA_ERR_CORRUPT;
			p += skip;
			continue;
		}
		if (magic != LZ4F_FRAME_MAGIC)
			return KAFKA_ERR_CORRUPT;
		rc = lz4_walk_frame(&p, end, dst, limit, &produced, flags);
		if (rc != KAFKA_OK)
			return rc;
	}
	if (dst != NULL && produced != limit)
		return KAFKA_ERR_CORRUPT;	/* decoding disagreed with measuring */
	*total = produced;
	return KAFKA_OK;
}

static int
lz4_decompress(const uint8_t *in, size_t inlen, OutBuf *ob, int flags)
{
	size_t		total;
	int			rc;

	rc = lz4_walk(in, inlen, NULL, ob->limit, &total, flags);
	if (rc == KAFKA_OK)
		rc = outbuf_alloc_exact(ob, total);
	/* decoding pass: the limit is now the exact measured size */
	if (rc == KAFKA_OK)
		rc = lz4_walk(in, inlen, ob->data, total, &total, flags);
	if (rc == KAFKA_OK)
		ob->len = total;
	return rc;
}

/* ----------------------------------------------------------------
 *		zstd
 * ----------------------------------------------------------------
 */
static void *
zstd_alloc(void *opaque, size_t size)
{
	return kafka_mem_alloc((const KafkaAllocator *) opaque, size);
}

static void
zstd_free(void *opaque, void *ptr)
{
	kafka_mem_free((const KafkaAllocator *) opaque, ptr);
}

static ZSTD_customMem
zstd_custom_mem(const KafkaAllocator *a)
{
	ZSTD_customMem cmem;

	cmem.customAlloc = zstd_alloc;
	cmem.customFree = zstd_free;
	cmem.opaque = (void *) a;
	return cmem;
}

static int
zstd_error_code(size_t r)
{
	return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ?
		KAFKA_ERR_NOMEM : KAFKA_ERR_CORRUPT;
}

static int
zstd_compress(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	ZSTD_CCtx  *cctx;
	size_t		bound = ZSTD_compressBound(inlen);
	size_t		r;
	int			rc;

	if (ZSTD_isError(bound))
		return KAFKA_ERR_TOO_LARGE;
	rc = outbuf_alloc_exact(ob, bound);
	if (rc != KAFKA_OK)
		return rc;
	cctx = ZSTD_createCCtx_advanced(zstd_custom_mem(ob->alloc));
	if (cctx == NULL)
		return KAFKA_ERR_NOMEM;
	/* one-shot compression records the content size in the frame header */
	r = ZSTD_compressCCtx(cctx, ob->data + ob->len, bound, in, inlen, KAFKA_ZSTD_LEVEL);
	ZSTD_freeCCtx(cctx);
	if (ZSTD_isError(r))
		return zstd_error_code(r);
	ob->len += r;
	return KAFKA_OK;
}

/*
 * Decode frame by frame with the one-shot ZSTD_decompressDCtx(), which
 * writes straight into our buffer and so never allocates a window buffer,
 * whatever window size the (untrusted) frame header declares; the streaming
 * API would allocate up to 128 MiB for it.
 */
static int
zstd_decompress(const uint8_t *in, size_t inlen, OutBuf *ob)
{
	ZSTD_DCtx  *dctx;
	const uint8_t *p = in;
	const uint8_t *end = in + inlen;
	int			rc = KAFKA_OK;

	if (inlen == 0)
		return KAFKA_ERR_CORRUPT;
	dctx = ZSTD_createDCtx_advanced(zstd_custom_mem(ob->alloc));
	if (dctx == NULL)
		return KAFKA_ERR_NOMEM;

	while (p < end && rc == KAFKA_OK)
	{
		size_t		fsize;
		uint32_t	magic;
		unsigned long long csize;
		size_t		r = 0;

		if (end - p < 4)
		{
			rc = KAFKA_ERR_CORRUPT;
			break;
		}
		magic = kafka_load_le32(p);
		fsize = ZSTD_findFrameCompressedSize(p, (size_t) (end - p));
		if (ZSTD_isError(fsize))
		{
			rc = KAFKA_ERR_CORRUPT;
			break;
		}
		if ((magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START)
		{
			p += fsize;
			continue;
		}
		if (magic != ZSTD_MAGICNUMBER)
		{
			/* legacy formats; their decoders would allocate with malloc */
			rc = KAFKA_ERR_CORRUPT;
			break;
		}

		csize = ZSTD_getFrameContentSize(p, fsize);
		if (csize == ZSTD_CONTENTSIZE_ERROR)
		{
			rc = KAFKA_ERR_CORRUPT;
			break;
		}
		if (csize != ZSTD_CONTENTSIZE_UNKNOWN)
		{
			if (csize > ob->limit - ob->len)
			{
				rc = KAFKA_ERR_TOO_LARGE;
				break;
			}
			rc = outbuf_grow(ob, ob->len + (size_t) csize, (size_t) csize);
			if (rc != KAFKA_OK)
				break;
			r = ZSTD_decompressDCtx(dctx, outbuf_tail(ob), (size_t) csize, p, fsize);
			if (ZSTD_isError(r))
				rc = zstd_error_code(r);
			else if (r != csize)
				rc = KAFKA_ERR_CORRUPT;
		}
		else
		{
			/* size unknown: decode, and on "too small" double and retry */
			for (;;)
			{
				rc = outbuf_grow(ob, ob->len + 1, outbuf_guess(inlen));
				if (rc == KAFKA_ERR_TOO_LARGE)
					rc = KAFKA_OK;	/* full: an empty frame still fits */
				else if (rc != KAFKA_OK)
					break;
				r = ZSTD_decompressDCtx(dctx, outbuf_tail(ob), ob->cap - ob->len, p, fsize);
				if (!ZSTD_isError(r))
					break;
				if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall)
				{
					rc = zstd_error_code(r);
					break;
				}
				rc = outbuf_grow(ob, ob->cap + 1, 0);
				if (rc != KAFKA_OK)
					break;
			}
		}
		if (rc == KAFKA_OK)
		{
			ob->len += r;
			p += fsize;
		}
	}
	ZSTD_freeDCtx(dctx);
	return rc;
}

/* ----------------------------------------------------------------
 *		Public entry points
 * ----------------------------------------------------------------
 */
int
kafka_compress_headroom(int codec, const uint8_t *in, size_t inlen,
						size_t headroom, uint8_t **out, size_t *outlen,
						const KafkaAllocator *a)
{
	OutBuf		ob;
	int			rc;

	if (codec < KAFKA_COMPRESSION_NONE || codec > KAFKA_COMPRESSION_MAX)
		return KAFKA_ERR_UNSUPPORTED;
	if (inlen > KAFKA_MAX_BATCH_SIZE || headroom > KAFKA_MAX_BATCH_SIZE)
		return KAFKA_ERR_TOO_LARGE;

	/* compressors allocate their worst case once; the check below bounds it */
	outbuf_init(&ob, a, SIZE_MAX);
	ob.len = headroom;
	switch (codec)
	{
		case KAFKA_COMPRESSION_NONE:
			rc = outbuf_alloc_exact(&ob, inlen);
			if (rc == KAFKA_OK && inlen > 0)
				memcpy(ob.data + ob.len, in, inlen);
			ob.len += inlen;
			break;
		case KAFKA_COMPRESSION_GZIP:
			rc = gzip_compress(in, inlen, &ob);
			break;
		case KAFKA_COMPRESSION_SNAPPY:
			rc = snappy_compress_xerial(in, inlen, &ob);
			break;
		case KAFKA_COMPRESSION_LZ4:
			rc = lz4_compress_frame(in, inlen, &ob);
			break;
		default:
			rc = zstd_compress(in, inlen, &ob);
			break;
	}
	if (rc == KAFKA_OK && ob.len > KAFKA_MAX_BATCH_SIZE)
		rc = KAFKA_ERR_TOO_LARGE;

	/*
	 * The worst case can be far larger than the result (64 MiB for 64 MiB of
	 * zeros that compress to 2 KiB).  Do not hand the caller mostly unused
	 * memory: if less than half is used, copy to an exact-size buffer.
	 */
	if (rc == KAFKA_OK && ob.len < ob.cap / 2)
	{
		uint8_t    *exact = kafka_mem_alloc(a, ob.len);

		if (exact == NULL)
			rc = KAFKA_ERR_NOMEM;
		else
		{
			memcpy(exact, ob.data, ob.len);
			kafka_mem_free(a, ob.data);
			ob.data = exact;
			ob.cap = ob.len;
		}
	}
	return outbuf_finish(&ob, rc, out, outlen);
}

int
kafka_compress(int codec, const uint8_t *in, size_t inlen,
			   uint8_t **out, size_t *outlen, const KafkaAllocator *a)
{
	return kafka_compress_headroom(codec, in, inlen, 0, out, outlen, a);
}

int
kafka_decompress(int codec, const uint8_t *in, size_t inlen, size_t max_out,
				 uint8_t **out, size_t *outlen, const KafkaAllocator *a)
{
	return kafka_decompress_flags(codec, in, inlen, max_out, 0, out, outlen, a);
}

int
kafka_decompress_flags(int codec, const uint8_t *in, size_t inlen,
					   size_t max_out, int flags, uint8_t **out,
					   size_t *outlen, const KafkaAllocator *a)
{
	OutBuf		ob;
	int			rc;

	if (codec < KAFKA_COMPRESSION_NONE || codec > KAFKA_COMPRESSION_MAX)
		return KAFKA_ERR_UNSUPPORTED;
	/* no valid input or output is this large; see KAFKA_MAX_BATCH_SIZE */
	if (inlen > KAFKA_MAX_BATCH_SIZE)
		return KAFKA_ERR_CORRUPT;
	if (max_out > KAFKA_MAX_BATCH_SIZE)
		max_out = KAFKA_MAX_BATCH_SIZE;

	outbuf_init(&ob, a, max_out);
	switch (codec)
	{
		case KAFKA_COMPRESSION_NONE:
			rc = outbuf_alloc_exact(&ob, inlen);
			if (rc == KAFKA_OK && inlen > 0)
				memcpy(ob.data, in, inlen);
			ob.len = inlen;
			break;
		case KAFKA_COMPRESSION_GZIP:
			rc = gzip_decompress(in, inlen, &ob);
			break;
		case KAFKA_COMPRESSION_SNAPPY:
			rc = snappy_decompress(in, inlen, &ob);
			break;
		case KAFKA_COMPRESSION_LZ4:
			rc = lz4_decompress(in, inlen, &ob, flags);
			break;
		default:
			rc = zstd_decompress(in, inlen, &ob);
			break;
	}
	return outbuf_finish(&ob, rc, out, outlen);
}

static const char *const compression_names[] = {
	"none", "gzip", "snappy", "lz4", "zstd"
};

const char *
kafka_compression_name(int codec)
{
	if (codec < KAFKA_COMPRESSION_NONE || codec > KAFKA_COMPRESSION_MAX)
		return NULL;
	return compression_names[codec];
}

int
kafka_compression_from_name(const char *name)
{
	int			codec;

	for (codec = KAFKA_COMPRESSION_NONE; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		if (strcmp(name, compression_names[codec]) == 0)
			return codec;
	}
	return -1;
}
