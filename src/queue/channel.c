/*-------------------------------------------------------------------------
 *
 * channel.c
 *	  The channels between the processes that have no database connection
 *	  and the nagare worker: what the broker asks the worker to do in SQL
 *	  (topic changes for Kafka admin clients, consumer groups' committed
 *	  offsets, logins), what the "nagare http" process asks (registrations,
 *	  logins), and the worker's answers.
 *
 * One channel per client process (shmem.h, NagareChannelClient), each two
 * rings in main shared memory (NagareChannel): requests from the client to
 * the worker and answers from the worker to the client.  A client process
 * opens its channel once (nagare_channel_open()); the worker takes from
 * every channel, the broker's first, and answers each request on the
 * channel it came from.  Each
 * ring has exactly one writer and one reader, so its positions are plain
 * atomics: the writer copies a message in, issues a write barrier and
 * advances head; the reader reads head, issues a read barrier, reads the
 * message and, once done with it, advances tail after a full barrier.  A
 * message that does not fit before the end of the ring is preceded by a pad
 * to the end: a pad message where a header fits, else the few bytes left
 * (messages are 8-byte aligned, a header is larger), which the reader skips
 * by the same rule.  A message may take at most half a ring.
 *
 * Rings rather than a pool of slots: payloads range from a few bytes (the
 * offsets of one group) to hundreds of kilobytes (a commit of many
 * partitions, the rows of a fetch), and a ring holds as many small ones as
 * fit without a per-slot maximum; the worker takes every waiting request in
 * one pass, in the order they were made, which is what lets it put the
 * offset commits that wait together into one transaction (and the last
 * commit of a partition win); a full ring is one comparison for the broker.
 *
 * Framing: a message is a header (payload length, kind, id, and in an
 * answer the microseconds the worker spent on the request) and the
 * payload.  A client numbers its requests from its channel's counter in
 * shared memory, so a restarted client never takes a late answer to its predecessor's
 * request for one of its own; an answer carries its request's kind and id,
 * then the SQLSTATE and the message or the result (the payload convention
 * is documented with the kinds, NagareChannelKind in shmem.h).
 *
 * The client's end never waits.  nagare_channel_submit() refuses a request
 * that does not fit, and the caller answers its client with an error or
 * tries again in a later loop turn.  Once per loop turn nagare_channel_turn()
 * hands each answer to the callback its request was submitted with, calls
 * back the requests whose deadline passed without an answer (a late answer
 * is then dropped), and sets the worker's latch if anything was submitted
 * since the last turn: one wake-up per turn, so that the requests of a turn
 * reach the worker together.
 *
 * The worker's end takes requests without freeing their space, answers
 * them, and only then frees them all (nagare_channel_release()).  A worker
 * that exits in between (an ERROR outside a request's transaction, a
 * termination) leaves them to the next worker, which carries them out
 * again: the same offsets are stored again, a read is read again, and a
 * topic change that had committed fails the second time (TOPIC_ALREADY_EXISTS
 * and the like) if the broker still waits for it.  (A crash of any server
 * process reinitialises shared memory, and the channel with it.)  When no
 * worker runs, requests wait in the ring until their deadline, and a full
 * ring refuses new ones.  An answer waits for room: the client reads answers
 * every turn, and when it does not run, its successor reads (and drops)
 * them.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "queue/channel.h"

typedef struct ChannelHeader
{
	uint32		len;			/* payload bytes */
	uint32		kind;			/* NagareChannelKind, or CHANNEL_PAD */
	uint64		id;
	uint64		usec;			/* answers: the worker's time on the request */
} ChannelHeader;

/* kind of a pad to the end of the ring */
#define CHANNEL_PAD		0

/* The SQLSTATE at the head of an answer: 5 characters and a NUL */
#define SQLSTATE_BYTES	6

/* A request the broker waits for */
typedef struct PendingRequest
{
	dlist_node	node;
	uint64		id;
	TimestampTz deadline;		/* 0: none */
	NagareChannelCallback cb;
	void	   *arg;
	void	   *owner;			/* charged for the worker's time, or NULL */
	NagareChannelChargeHook charge;
} PendingRequest;

/*
 * the client's end (a process has one channel, chosen by
 * nagare_channel_open()): requests in the ring or at the worker, oldest first
 */
static NagareChannel *my_channel = NULL;
static dlist_head pending = DLIST_STATIC_INIT(pending);
static int	npending_timed = 0; /* of which have a deadline */
static bool wake_worker = false;	/* submitted since the last turn */
static void *charge_owner = NULL;	/* nagare_channel_charge_to() */
static NagareChannelChargeHook charge_hook = NULL;
static MemoryContext channel_context = NULL;

/*
 * the worker's end, per channel: the position after the last request taken,
 * and whether it answered since the last wake-up of the client
 */
static bool taking[NAGARE_CHANNEL_CLIENTS];
static uint64 taken_upto[NAGARE_CHANNEL_CLIENTS];
static bool answered[NAGARE_CHANNEL_CLIENTS];

/*---- the rings ----*/

static inline uint64
message_space(uint32 len)
{
	return sizeof(ChannelHeader) + TYPEALIGN(8, len);
}

/*
 * Append a message of two parts (either may be empty); false if the ring
 * has no room for it now.  Writer only.
 */
static bool
ring_put(NagareChannelRing *r, uint32 kind, uint64 id, uint64 usec, const char *part1,
		 uint32 len1, const char *part2, uint32 len2)
{
	uint64		head = pg_atomic_read_u64(&r->head);
	uint64		tail = pg_atomic_read_u64(&r->tail);
	uint64		need = message_space(len1 + len2);
	uint64		left = r->size - head % r->size;
	ChannelHeader *h;
	char	   *payload;

	Assert(tail <= head && head - tail <= r->size);
	if (need > r->size / 2)
		return false;
	if (left < need)
	{
		if (head + left + need - tail > r->size)
			return false;
		if (left >= sizeof(ChannelHeader))
		{
			h = (ChannelHeader *) (r->data + head % r->size);
			h->len = (uint32) (left - sizeof(ChannelHeader));
			h->kind = CHANNEL_PAD;
			h->id = 0;
			h->usec = 0;
		}
		head += left;
	}
	else if (head + need - tail > r->size)
		return false;
	h = (ChannelHeader *) (r->data + head % r->size);
	h->len = len1 + len2;
	h->kind = kind;
	h->id = id;
	h->usec = usec;
	payload = (char *) h + sizeof(ChannelHeader);
	if (len1 > 0)
		memcpy(payload, part1, len1);
	if (len2 > 0)
		memcpy(payload + len1, part2, len2);
	pg_write_barrier();
	pg_atomic_write_u64(&r->head, head + need);
	return true;
}

/* Could a message of len payload bytes ever fit in the ring? */
static bool
ring_fits(NagareChannelRing *r, uint64 len)
{
	return message_space(0) + TYPEALIGN(8, len) <= r->size / 2;
}

/*
 * The message at *pos (skipping a pad), or NULL if there is none; *pos
 * moves past it.  The message stays valid until the reader moves tail past
 * it.  Reader only.
 */
static ChannelHeader *
ring_next(NagareChannelRing *r, uint64 *pos)
{
	for (;;)
	{
		ChannelHeader *h;

		if (*pos == pg_atomic_read_u64(&r->head))
			return NULL;
		pg_read_barrier();
		if (r->size - *pos % r->size < sizeof(ChannelHeader))
		{
			/* too little room for a pad's header: the writer skipped it */
			*pos += r->size - *pos % r->size;
			continue;
		}
		h = (ChannelHeader *) (r->data + *pos % r->size);
		*pos += message_space(h->len);
		Assert(*pos <= pg_atomic_read_u64(&r->head));	/* the writer framed it */
		if (h->kind != CHANNEL_PAD)
			return h;
	}
}

/* Free the ring's space below pos.  Reader only. */
static void
ring_release(NagareChannelRing *r, uint64 pos)
{
	Assert(pos >= pg_atomic_read_u64(&r->tail) && pos <= pg_atomic_read_u64(&r->head));
	pg_memory_barrier();		/* finish reading before the space is reused */
	pg_atomic_write_u64(&r->tail, pos);
}

/*---- the client's end ----*/

/*
 * This process is the channel's client from now on: its requests go to the
 * worker through that channel and the worker's answers set its latch.  A
 * client that exits leaves its procno: the next one replaces it, and a
 * stray SetLatch() on a reused PGPROC is harmless.
 */
void
nagare_channel_open(NagareChannelClient client)
{
	Assert(client >= 0 && client < NAGARE_CHANNEL_CLIENTS);
	my_channel = &nagare_shared->channels[client];
	pg_atomic_write_u32(&my_channel->client_procno, (uint32) MyProc->pgprocno + 1);
}

/*
 * Queue a request for the worker.  cb(arg, ...) is called from a later
 * nagare_channel_turn() with the answer, or without one once deadline (a
 * GetCurrentTimestamp() time; 0: none) has passed.  Returns false, and
 * queues nothing, when the request ring has no room for it now.
 */
bool
nagare_channel_submit(NagareChannelKind kind, const char *payload, uint32 len,
					  TimestampTz deadline, NagareChannelCallback cb, void *arg)
{
	NagareChannel *ch = my_channel;
	PendingRequest *req;

	Assert(ch != NULL);
	if (!ring_put(&ch->requests, kind, ch->next_id, 0, payload, len, NULL, 0))
		return false;
	if (channel_context == NULL)
		channel_context = AllocSetContextCreate(TopMemoryContext, "nagare channel",
												ALLOCSET_SMALL_SIZES);
	req = MemoryContextAlloc(channel_context, sizeof(PendingRequest));
	req->id = ch->next_id++;
	req->deadline = deadline;
	req->cb = cb;
	req->arg = arg;
	req->owner = charge_owner;
	req->charge = charge_hook;
	if (req->owner != NULL)
		req->charge(req->owner, false, 0);
	dlist_push_tail(&pending, &req->node);
	if (deadline != 0)
		npending_timed++;
	wake_worker = true;
	return true;
}

/*
 * Requests submitted from now on are charged to owner through hook (NULL:
 * to nobody); see channel.h.
 */
void
nagare_channel_charge_to(void *owner, NagareChannelChargeHook hook)
{
	charge_owner = hook != NULL ? owner : NULL;
	charge_hook = hook;
}

/* The worker's time on a request goes to its owner, before its callback */
static void
pending_charge(PendingRequest *req, uint64 usec)
{
	if (req->owner != NULL)
		req->charge(req->owner, true, usec);
	req->owner = NULL;
}

static void
pending_forget(PendingRequest *req)
{
	dlist_delete(&req->node);
	if (req->deadline != 0)
		npending_timed--;
	pfree(req);
}

/*
 * Each loop turn of the client: hand the worker's answers to their
 * callbacks, call back the requests whose deadline passed, and wake the
 * worker if requests were submitted since the last turn.
 */
void
nagare_channel_turn(TimestampTz now)
{
	NagareChannelRing *r;
	uint64 pos;
	ChannelHeader *h;
	dlist_mutable_iter iter;

	if (my_channel == NULL)
		return;
	r = &my_channel->answers;
	pos = pg_atomic_read_u64(&r->tail);

	while ((h = ring_next(r, &pos)) != NULL)
	{
		const char *payload = (const char *) h + sizeof(ChannelHeader);

		dlist_foreach_modify(iter, &pending)
		{
			PendingRequest *req = dlist_container(PendingRequest, node, iter.cur);
			NagareChannelCallback cb = req->cb;
			void	   *arg = req->arg;

			if (req->id != h->id)
				continue;
			pending_charge(req, h->usec);
			pending_forget(req);
			if (h->len < SQLSTATE_BYTES || payload[SQLSTATE_BYTES - 1] != '\0')
				cb(arg, "XX000", "", 0);	/* cannot happen */
			else if (nagare_channel_succeeded(payload))
				cb(arg, payload, payload + SQLSTATE_BYTES, h->len - SQLSTATE_BYTES);
			else if (h->len > SQLSTATE_BYTES && payload[h->len - 1] == '\0')
				cb(arg, payload, payload + SQLSTATE_BYTES, h->len - SQLSTATE_BYTES - 1);
			else
				cb(arg, payload, "", 0);	/* cannot happen */
			break;
		}
		/* no one waits for it (timed out, or asked by an earlier broker) */
		ring_release(r, pos);
	}

	/* requests the worker did not answer in time (it may still, later) */
	if (npending_timed > 0)
	{
		dlist_foreach_modify(iter, &pending)
		{
			PendingRequest *req = dlist_container(PendingRequest, node, iter.cur);
			NagareChannelCallback cb = req->cb;
			void	   *arg = req->arg;

			if (req->deadline == 0 || now < req->deadline)
				continue;
			pending_charge(req, 0);
			pending_forget(req);
			cb(arg, NULL, NULL, 0);
		}
	}

	if (wake_worker)
	{
		nagare_wake_worker();
		wake_worker = false;
	}
}

/* Does a request with a deadline wait (the loop then wakes up to time it out)? */
bool
nagare_channel_busy(void)
{
	return npending_timed > 0;
}

/*---- the worker's end ----*/

/*
 * The next request after those taken since the last release, or false if
 * there is none now: the broker's first, then the http process's.
 * req->payload points into the ring until nagare_channel_release().
 */
bool
nagare_channel_take(NagareChannelRequest *req)
{
	for (int c = 0; c < NAGARE_CHANNEL_CLIENTS; c++)
	{
		NagareChannelRing *r = &nagare_shared->channels[c].requests;
		ChannelHeader *h;

		if (!taking[c])
		{
			taken_upto[c] = pg_atomic_read_u64(&r->tail);
			taking[c] = true;
		}
		h = ring_next(r, &taken_upto[c]);
		if (h == NULL)
			continue;
		req->client = (NagareChannelClient) c;
		req->kind = (NagareChannelKind) h->kind;
		req->id = h->id;
		req->payload = (const char *) h + sizeof(ChannelHeader);
		req->len = h->len;
		return true;
	}
	return false;
}

/* Set the latch of a channel's client */
static void
wake_client(NagareChannelClient client)
{
	uint32 procno = pg_atomic_read_u32(&nagare_shared->channels[client].client_procno);

	if (procno > 0)
		nagare_wake_proc((int) procno - 1);
}

/*
 * Wake the clients answered since the last wake-up (a client reads its
 * answers in its next loop turn).
 */
void
nagare_channel_wake_answered(void)
{
	for (int c = 0; c < NAGARE_CHANNEL_CLIENTS; c++)
	{
		if (answered[c])
			wake_client((NagareChannelClient) c);
		answered[c] = false;
	}
}

/*
 * Answer a request: sqlstate "00000" and its result (len bytes), or an
 * error's SQLSTATE and message (cut to NAGARE_CHANNEL_MESSAGE_MAX).  Waits
 * while the answer ring is full (the broker empties it every loop turn).  A
 * result too large for the ring becomes an error.
 */
void
nagare_channel_answer(NagareChannelClient client, NagareChannelKind kind, uint64 id,
					  const char *sqlstate, const char *message, const char *result,
					  uint32 len)
{
	nagare_channel_answer_timed(client, kind, id, sqlstate, message, result, len, 0);
}

/* The same, telling the client the usec the worker spent on the request */
void
nagare_channel_answer_timed(NagareChannelClient client, NagareChannelKind kind, uint64 id,
							const char *sqlstate, const char *message, const char *result,
							uint32 len, uint64 usec)
{
	NagareChannelRing *r = &nagare_shared->channels[client].answers;
	char		state[SQLSTATE_BYTES];
	char		text[NAGARE_CHANNEL_MESSAGE_MAX];
	bool		waited = false;

	strlcpy(state, sqlstate, sizeof(state));
	if (nagare_channel_succeeded(state) && !ring_fits(r, (uint64) SQLSTATE_BYTES + len))
	{
		strlcpy(state, unpack_sql_state(ERRCODE_PROGRAM_LIMIT_EXCEEDED), sizeof(state));
		message = "the answer is too large for the channel";
	}
	if (!nagare_channel_succeeded(state))
	{
		/* the message, with its NUL */
		strlcpy(text, message ? message : "", sizeof(text));
		result = text;
		len = strlen(text) + 1;
	}

	while (!ring_put(r, kind, id, usec, state, SQLSTATE_BYTES, result, len))
	{
		wake_client(client);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited = true;
	}
	answered[client] = true;
	/* a wake-up meant for the worker's own loop may have been reset above */
	if (waited)
		SetLatch(MyLatch);
}

/*
 * Free the space of every request taken, once each has been answered, and
 * wake the clients for the answers.
 */
void
nagare_channel_release(void)
{
	for (int c = 0; c < NAGARE_CHANNEL_CLIENTS; c++)
	{
		if (!taking[c])
			continue;
		ring_release(&nagare_shared->channels[c].requests, taken_upto[c]);
		taking[c] = false;
	}
	nagare_channel_wake_answered();
}
