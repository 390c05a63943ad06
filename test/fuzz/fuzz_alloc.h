/*-------------------------------------------------------------------------
 *
 * fuzz_alloc.h
 *	  The KafkaAllocator the fuzz targets pass to the codec, and the
 *	  targets' assertion (FUZZ_ASSERT: abort, so the fuzzer reports it).
 *
 * malloc() underneath, plus accounting that turns the codec's memory
 * promises into crashes the fuzzer can report:
 *
 *	- the codec never asks for 0 bytes and never frees NULL (codec.h);
 *	- no single allocation and no total of live allocations exceeds
 *	  FUZZ_ALLOC_LIVE_MAX.  The targets decompress with a 1 MiB cap; the
 *	  legitimate peak (output buffer while doubling, a zstd or zlib context,
 *	  then re-encoding) stays well below 16 MiB, so going above it means a
 *	  size taken from the input escaped its bound;
 *	- everything is freed by the end of each input (checked by the target).
 *
 * Header-only and static: each target is one translation unit.
 *
 * test/fuzz/fuzz_alloc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FUZZ_ALLOC_H
#define FUZZ_ALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/codec.h"

/* Unlike assert(), kept in every build */
#define FUZZ_ASSERT(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "assertion failed: %s (line %d)\n", #cond, __LINE__); \
			abort(); \
		} \
	} while (0)

#define FUZZ_ALLOC_LIVE_MAX		(16 * 1024 * 1024)
#define FUZZ_ALLOC_PREFIX		16	/* keeps the user pointer 16-aligned */

typedef struct FuzzAllocState
{
	size_t		live_bytes;
	long		live_count;
} FuzzAllocState;

static FuzzAllocState fuzz_alloc_state;

static inline void *
fuzz_alloc(void *ctx, size_t size)
{
	FuzzAllocState *st = ctx;
	unsigned char *p;

	if (size == 0)
	{
		fprintf(stderr, "codec allocated 0 bytes\n");
		abort();
	}
	if (size > FUZZ_ALLOC_LIVE_MAX || st->live_bytes + size > FUZZ_ALLOC_LIVE_MAX)
	{
		fprintf(stderr, "codec allocation of %zu bytes with %zu live exceeds %d\n",
				size, st->live_bytes, FUZZ_ALLOC_LIVE_MAX);
		abort();
	}
	p = malloc(size + FUZZ_ALLOC_PREFIX);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	st->live_bytes += size;
	st->live_count++;
	return p + FUZZ_ALLOC_PREFIX;
}

static inline void
fuzz_free(void *ctx, void *ptr)
{
	FuzzAllocState *st = ctx;
	unsigned char *p;
	size_t		size;

	if (ptr == NULL)
	{
		fprintf(stderr, "codec freed NULL\n");
		abort();
	}
	p = (unsigned char *) ptr - FUZZ_ALLOC_PREFIX;
	memcpy(&size, p, sizeof(size));
	st->live_bytes -= size;
	st->live_count--;
	free(p);
}

static const KafkaAllocator fuzz_allocator = {fuzz_alloc, fuzz_free, &fuzz_alloc_state};

/* Abort if the codec kept memory past the end of an input. */
static inline void
fuzz_alloc_check_empty(void)
{
	if (fuzz_alloc_state.live_count != 0)
	{
		fprintf(stderr, "codec leaked %ld allocations (%zu bytes)\n",
				fuzz_alloc_state.live_count, fuzz_alloc_state.live_bytes);
		abort();
	}
}

#endif							/* FUZZ_ALLOC_H */
