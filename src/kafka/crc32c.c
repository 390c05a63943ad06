/*-------------------------------------------------------------------------
 *
 * crc32c.c
 *	  CRC-32C (Castagnoli) for Kafka record batches.
 *
 * Every produced batch is checksummed once by the broker and every batch
 * written from SQL once by the encoder, so this is on the per-byte path of
 * the system.  Two implementations:
 *
 *	- On x86-64 CPUs with SSE4.2, the CRC32 instruction, eight bytes at a
 *	  time (about 8 bytes per 3 cycles, the instruction's latency).  The
 *	  function is compiled with __attribute__((target("sse4.2"))) so the rest
 *	  of the file, and the extension, still run on any x86-64.
 *	- Everywhere else, slice-by-8 tables: eight table lookups per eight input
 *	  bytes instead of eight dependent ones.  The input is read byte by byte,
 *	  so the code has no alignment or endianness assumptions; compilers fuse
 *	  the byte loads into one word load on little-endian machines.
 *
 * PostgreSQL's src/port/pg_crc32c_sse42.c and pg_crc32c_sb8.c follow the same
 * plan; we cannot use them because this directory must build without
 * PostgreSQL (see codec.h).
 *
 * Global state: the 8 KiB table and the choice of implementation are
 * computed on first use and never change afterwards.  Both are idempotent
 * to compute, and the callers (PostgreSQL processes, the fuzzers) are single
 * threaded.
 *
 * src/kafka/crc32c.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "kafka/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define KAFKA_CRC32C_HAVE_SSE42 1
#endif

/* Reflected CRC-32C polynomial. */
#define CRC32C_POLY 0x82F63B78U

/* Which implementation kafka_crc32c() uses; chosen on the first call. */
typedef enum Crc32cImpl
{
	CRC32C_IMPL_UNKNOWN = 0,
	CRC32C_IMPL_SB8,
	CRC32C_IMPL_SSE42
} Crc32cImpl;

static Crc32cImpl crc32c_impl = CRC32C_IMPL_UNKNOWN;

/*
 * crc32c_table[k][b] is the CRC register after feeding byte b followed by k
 * zero bytes into a zero register: the contribution of a byte that has k
 * more bytes after it in an 8-byte step.
 */
static uint32_t crc32c_table[8][256];
static int	crc32c_table_ready = 0;

static void
crc32c_build_table(void)
{
	uint32_t	n;
	int			k;

	for (n = 0; n < 256; n++)
	{
		uint32_t	c = n;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][n] = c;
	}
	for (n = 0; n < 256; n++)
	{
		uint32_t	c = crc32c_table[0][n];

		for (k = 1; k < 8; k++)
		{
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[k][n] = c;
		}
	}
	crc32c_table_ready = 1;
}

/* Slice-by-8 over the raw (un-inverted) CRC register. */
static uint32_t
crc32c_sb8(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8)
	{
		uint32_t	lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
								(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
		uint32_t	hi = ((uint32_t) p[4] | (uint32_t) p[5] << 8 |
						  (uint32_t) p[6] << 16 | (uint32_t) p[7] << 24);

		crc = crc32c_table[7][lo & 0xff] ^
			crc32c_table[6][(lo >> 8) & 0xff] ^
			crc32c_table[5][(lo >> 16) & 0xff] ^
			crc32c_table[4][lo >> 24] ^
			crc32c_table[3][hi & 0xff] ^
			crc32c_table[2][(hi >> 8) & 0xff] ^
			crc32c_table[1][(hi >> 16) & 0xff] ^
			crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#ifdef KAFKA_CRC32C_HAVE_SSE42
/*
 * The CRC32 instruction over the raw register.  memcpy() is the portable way
 * to express an unaligned load; it compiles to a single mov.
 */
__attribute__((target("sse4.2")))
static uint32_t
crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t	c64 = crc;
	uint32_t	c32;

	while (len >= 8)
	{
		uint64_t	word;

		memcpy(&word, p, sizeof(word));
		c64 = _mm_crc32_u64(c64, word);
		p += 8;
		len -= 8;
	}
	c32 = (uint32_t) c64;
	if (len >= 4)
	{
		uint32_t	word;

		memcpy(&word, p, sizeof(word));
		c32 = _mm_crc32_u32(c32, word);
		p += 4;
		len -= 4;
	}
	while (len-- > 0)
		c32 = _mm_crc32_u8(c32, *p++);
	return c32;
}
#endif

static void
crc32c_choose_impl(void)
{
#ifdef KAFKA_CRC32C_HAVE_SSE42
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
	{
		crc32c_impl = CRC32C_IMPL_SSE42;
		return;
	}
#endif
	if (!crc32c_table_ready)
		crc32c_build_table();
	crc32c_impl = CRC32C_IMPL_SB8;
}

uint32_t
kafka_crc32c(uint32_t crc, const void *data, size_t len)
{
	if (crc32c_impl == CRC32C_IMPL_UNKNOWN)
		crc32c_choose_impl();
#ifdef KAFKA_CRC32C_HAVE_SSE42
	if (crc32c_impl == CRC32C_IMPL_SSE42)
		return ~crc32c_sse42(~crc, data, len);
#endif
	return ~crc32c_sb8(~crc, data, len);
}

uint32_t
kafka_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	if (!crc32c_table_ready)
		crc32c_build_table();
	return ~crc32c_sb8(~crc, data, len);
}

int
kafka_crc32c_hw_available(void)
{
	if (crc32c_impl == CRC32C_IMPL_UNKNOWN)
		crc32c_choose_impl();
	return crc32c_impl == CRC32C_IMPL_SSE42;
}
