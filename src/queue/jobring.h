/*-------------------------------------------------------------------------
 *
 * jobring.h
 *	  Single-producer, single-consumer rings of variable-size messages in
 *	  shared memory, between the broker and the nagare worker.
 *
 * The broker asks the worker for work that needs SQL (consumer group
 * offsets) through one ring and reads the answers from another; each ring
 * has exactly one writer and one reader, so positions are plain atomics:
 * the writer copies a message in, issues a write barrier and advances head;
 * the reader reads head, issues a read barrier, reads the message and
 * advances tail.  Positions are byte counts that never wrap (the byte at
 * position p is at data[p % size]).  A message that does not fit before the
 * end of the ring is preceded by a pad message to the end (there is always
 * room for a header there, as messages are 8-byte aligned).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_JOBRING_H
#define NAGARE_JOBRING_H

#include "port/atomics.h"

typedef struct NagareJobRing
{
	pg_atomic_uint64 head;		/* written by the producer */
	pg_atomic_uint64 tail;		/* written by the consumer */
	uint64		size;			/* bytes of data, a multiple of 8 */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} NagareJobRing;

typedef struct NagareJobHeader
{
	uint32		len;			/* payload bytes */
	uint32		kind;			/* 0 = pad to the end of the ring */
	uint64		id;
} NagareJobHeader;

#define NAGARE_JOB_PAD	0

static inline uint64
nagare_job_space(uint32 len)
{
	return sizeof(NagareJobHeader) + TYPEALIGN(8, len);
}

/*
 * Append a message; false if the ring has no room for it now.  Producer
 * only.
 */
static inline bool
nagare_job_put(NagareJobRing *r, uint32 kind, uint64 id, const void *payload, uint32 len)
{
	uint64		head = pg_atomic_read_u64(&r->head);
	uint64		tail = pg_atomic_read_u64(&r->tail);
	uint64		need = nagare_job_space(len);
	uint64		left = r->size - head % r->size;
	NagareJobHeader *h;

	if (need > r->size / 2)
		return false;
	if (left < need)
	{
		if (head + left + need - tail > r->size)
			return false;
		h = (NagareJobHeader *) (r->data + head % r->size);
		h->len = (uint32) (left - sizeof(NagareJobHeader));
		h->kind = NAGARE_JOB_PAD;
		h->id = 0;
		head += left;
	}
	else if (head + need - tail > r->size)
		return false;
	h = (NagareJobHeader *) (r->data + head % r->size);
	h->len = len;
	h->kind = kind;
	h->id = id;
	if (len > 0)
		memcpy((char *) h + sizeof(NagareJobHeader), payload, len);
	pg_write_barrier();
	pg_atomic_write_u64(&r->head, head + need);
	return true;
}

/*
 * The next message, or NULL if there is none; *payload points into the
 * ring until nagare_job_done().  Consumer only.
 */
static inline NagareJobHeader *
nagare_job_peek(NagareJobRing *r, const char **payload)
{
	for (;;)
	{
		uint64		tail = pg_atomic_read_u64(&r->tail);
		NagareJobHeader *h;

		if (tail == pg_atomic_read_u64(&r->head))
			return NULL;
		pg_read_barrier();
		h = (NagareJobHeader *) (r->data + tail % r->size);
		if (h->kind == NAGARE_JOB_PAD)
		{
			pg_atomic_write_u64(&r->tail, tail + nagare_job_space(h->len));
			continue;
		}
		*payload = (const char *) h + sizeof(NagareJobHeader);
		return h;
	}
}

static inline void
nagare_job_done(NagareJobRing *r, NagareJobHeader *h)
{
	uint64		tail = pg_atomic_read_u64(&r->tail);

	pg_memory_barrier();		/* finish reading before the space is reused */
	pg_atomic_write_u64(&r->tail, tail + nagare_job_space(h->len));
}

#endif							/* NAGARE_JOBRING_H */
