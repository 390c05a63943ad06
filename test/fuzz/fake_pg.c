/*-------------------------------------------------------------------------
 *
 * fake_pg.c
 *	  The few PostgreSQL backend services the broker's request handlers
 *	  use, for fuzz_broker: memory contexts, ereport, dynahash, the clock,
 *	  LWLocks, escape_json.  What the backend does besides is not here.
 *
 * The handlers are compiled against the server's headers as they are for
 * the extension; frontend pieces of PostgreSQL (StringInfo, base64, HMAC,
 * SCRAM, pg_prng, snprintf) come from libpgcommon and libpgport.
 *
 * Memory contexts keep every chunk on a list, so MemoryContextReset and
 * MemoryContextDelete free what a real context would, and ASan sees each
 * chunk as its own malloc (overflows are caught at the chunk's end).  The
 * context pointer sits just before each chunk, as in PostgreSQL 15.
 *
 * ereport: ERROR and above abort the fuzzer (in the broker an ERROR ends
 * the process: nothing a client sends may raise one); lower levels are
 * formatted and dropped, or printed with FUZZ_VERBOSE=1 in the
 * environment.  An allocation request over MaxAllocSize without
 * MCXT_ALLOC_HUGE is an ERROR, as in PostgreSQL.
 *
 * test/fuzz/fake_pg.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/s_lock.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "fake.h"

/* ---------------------------------------------------------------- memory */

typedef struct FakeChunk
{
	struct FakeChunk *prev;
	struct FakeChunk *next;
	size_t size;
	MemoryContext ctx; /* just before the data, as PostgreSQL's */
} FakeChunk;

typedef struct FakeContext
{
	MemoryContextData hdr; /* parent, firstchild, nextchild, reset_cbs */
	FakeChunk chunks; /* list head */
} FakeContext;

#define CHUNK_OF(p) ((FakeChunk *) ((char *) (p) - sizeof(FakeChunk)))

static FakeContext top_context;
MemoryContext TopMemoryContext = NULL;
MemoryContext CurrentMemoryContext = NULL;
MemoryContext ErrorContext = NULL;
ResourceOwner CurrentResourceOwner = NULL;

size_t fake_live_bytes = 0;

static void
context_init(FakeContext *c, MemoryContext parent, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->hdr.type = T_AllocSetContext;
	c->hdr.name = name;
	c->hdr.parent = parent;
	c->chunks.prev = c->chunks.next = &c->chunks;
	if (parent)
	{
		c->hdr.nextchild = parent->firstchild;
		if (parent->firstchild)
			parent->firstchild->prevchild = &c->hdr;
		parent->firstchild = &c->hdr;
	}
}

void
fake_pg_init(void)
{
	if (TopMemoryContext != NULL)
		return;
	context_init(&top_context, NULL, "TopMemoryContext");
	TopMemoryContext = &top_context.hdr;
	CurrentMemoryContext = TopMemoryContext;
	ErrorContext = TopMemoryContext;
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name, Size minContextSize,
							  Size initBlockSize, Size maxBlockSize)
{
	FakeContext *c = malloc(sizeof(FakeContext));

	if (c == NULL)
		abort();
	context_init(c, parent, name);
	return &c->hdr;
}

static void
free_chunks(FakeContext *c)
{
	while (c->chunks.next != &c->chunks)
	{
		FakeChunk *ch = c->chunks.next;

		ch->prev->next = ch->next;
		ch->next->prev = ch->prev;
		fake_live_bytes -= ch->size;
		free(ch);
	}
}

static void
run_callbacks(MemoryContext context)
{
	MemoryContextCallback *cb;

	while ((cb = context->reset_cbs) != NULL)
	{
		context->reset_cbs = cb->next;
		cb->func(cb->arg);
	}
}

void
MemoryContextDelete(MemoryContext context)
{
	FakeContext *c = (FakeContext *) context;

	while (context->firstchild != NULL)
		MemoryContextDelete(context->firstchild);
	run_callbacks(context);
	free_chunks(c);
	if (context->prevchild)
		context->prevchild->nextchild = context->nextchild;
	else if (context->parent)
		context->parent->firstchild = context->nextchild;
	if (context->nextchild)
		context->nextchild->prevchild = context->prevchild;
	if (CurrentMemoryContext == context)
		CurrentMemoryContext = TopMemoryContext;
	if (c != &top_context)
		free(c);
}

void
MemoryContextReset(MemoryContext context)
{
	while (context->firstchild != NULL)
		MemoryContextDelete(context->firstchild);
	run_callbacks(context);
	free_chunks((FakeContext *) context);
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	cb->next = context->reset_cbs;
	context->reset_cbs = cb;
}

static void *
alloc_in(MemoryContext context, Size size, int flags)
{
	FakeContext *c = (FakeContext *) context;
	FakeChunk *ch;

	if (!(flags & MCXT_ALLOC_HUGE) ? !AllocSizeIsValid(size) : !AllocHugeSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	ch = malloc(sizeof(FakeChunk) + Max(size, 1));
	if (ch == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		elog(ERROR, "out of memory (%zu bytes)", size);
	}
	ch->size = size;
	ch->ctx = context;
	ch->next = c->chunks.next;
	ch->prev = &c->chunks;
	c->chunks.next->prev = ch;
	c->chunks.next = ch;
	fake_live_bytes += size;
	if (flags & MCXT_ALLOC_ZERO)
		memset(ch + 1, 0, size);
	return ch + 1;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return alloc_in(context, size, 0);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return alloc_in(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return alloc_in(context, size, flags);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	size_t len = strlen(string) + 1;
	char *p = alloc_in(context, len, 0);

	memcpy(p, string, len);
	return p;
}

void *
palloc(Size size)
{
	return alloc_in(CurrentMemoryContext, size, 0);
}

void *
palloc0(Size size)
{
	return alloc_in(CurrentMemoryContext, size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return alloc_in(CurrentMemoryContext, size, flags);
}

void
pfree(void *pointer)
{
	FakeChunk *ch = CHUNK_OF(pointer);

	ch->prev->next = ch->next;
	ch->next->prev = ch->prev;
	fake_live_bytes -= ch->size;
	free(ch);
}

void *
repalloc(void *pointer, Size size)
{
	FakeChunk *old = CHUNK_OF(pointer);
	void *p = alloc_in(old->ctx, size, 0);

	memcpy(p, pointer, Min(size, old->size));
	pfree(pointer);
	return p;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	char *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

/* what pulls libpgcommon's fe_memutils.o must not: keep it out */
void *
pg_malloc(size_t size)
{
	return palloc(size);
}

void
pg_free(void *ptr)
{
	pfree(ptr);
}

ResourceOwner
ResourceOwnerCreate(ResourceOwner parent, const char *name)
{
	static int dummy;

	return (ResourceOwner) &dummy;
}

/* --------------------------------------------------------------- ereport */

static int cur_elevel;
static char cur_message[1024];
static bool verbose = false;
static bool verbose_checked = false;

bool
errstart(int elevel, const char *domain)
{
	if (!verbose_checked)
	{
		verbose = getenv("FUZZ_VERBOSE") != NULL;
		verbose_checked = true;
	}
	cur_elevel = elevel;
	cur_message[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (cur_elevel >= ERROR)
	{
		fprintf(stderr, "fuzz_broker: ERROR raised at %s:%d (%s): %s\n", filename, lineno,
				funcname, cur_message);
		abort();
	}
	if (verbose)
		fprintf(stderr, "fuzz_broker: elevel %d at %s:%d: %s\n", cur_elevel, filename,
				lineno, cur_message);
}

int
errmsg(const char *fmt, ...)
{
	va_list ap;

	if (cur_elevel < ERROR && !verbose)
		return 0;
	va_start(ap, fmt);
	vsnprintf(cur_message, sizeof(cur_message), fmt, ap);
	va_end(ap);
	return 0;
}

int
errmsg_internal(const char *fmt, ...)
{
	va_list ap;

	if (cur_elevel < ERROR && !verbose)
		return 0;
	va_start(ap, fmt);
	vsnprintf(cur_message, sizeof(cur_message), fmt, ap);
	va_end(ap);
	return 0;
}

int
errdetail(const char *fmt, ...)
{
	return 0;
}

int
errhint(const char *fmt, ...)
{
	return 0;
}

int
errcode(int sqlerrcode)
{
	return 0;
}

int
errcode_for_file_access(void)
{
	return 0;
}

/* ------------------------------------------------------------- dynahash */

/*
 * A chained hash table with what the broker uses of dynahash: fixed-size
 * entries whose key comes first, HASH_STRINGS or HASH_BLOBS keys,
 * HASH_FIND/ENTER/ENTER_NULL/REMOVE, and sequential scans that may remove
 * the entry just returned.  Entries are separate mallocs (ASan sees them).
 */
#define FAKE_HASH_BUCKETS 256

typedef struct FakeEntry
{
	struct FakeEntry *next;
	uint32 hash;
	/* the entry (MAXALIGNed) follows */
} FakeEntry;

#define ENTRY_HDR     MAXALIGN(sizeof(FakeEntry))
#define ENTRY_DATA(e) ((void *) ((char *) (e) + ENTRY_HDR))

struct HTAB
{
	Size keysize;
	Size entrysize;
	bool strings;
	long nentries;
	long max_entries; /* HASH_ENTER_NULL's limit: the table's size */
	FakeEntry *buckets[FAKE_HASH_BUCKETS];
};

static uint32
key_hash(HTAB *h, const void *key)
{
	const unsigned char *p = key;
	uint32 x = 2166136261u;
	Size n = h->strings ? strnlen(key, h->keysize - 1) : h->keysize;

	for (Size i = 0; i < n; i++)
		x = (x ^ p[i]) * 16777619u;
	return x;
}

static bool
key_equal(HTAB *h, const void *a, const void *b)
{
	if (h->strings)
		return strncmp(a, b, h->keysize - 1) == 0;
	return memcmp(a, b, h->keysize) == 0;
}

HTAB *
hash_create(const char *tabname, long nelem, const HASHCTL *info, int flags)
{
	HTAB *h = calloc(1, sizeof(HTAB));

	if (h == NULL)
		abort();
	if (!(flags & HASH_ELEM) || (flags & (HASH_FUNCTION | HASH_COMPARE | HASH_KEYCOPY)))
	{
		fprintf(stderr, "fake hash_create: flags 0x%x not supported\n", flags);
		abort();
	}
	h->keysize = info->keysize;
	h->entrysize = info->entrysize;
	h->strings = (flags & HASH_STRINGS) != 0;
	h->max_entries = (flags & HASH_FIXED_SIZE) ? nelem : LONG_MAX;
	return h;
}

void
hash_destroy(HTAB *hashp)
{
	for (int b = 0; b < FAKE_HASH_BUCKETS; b++)
		while (hashp->buckets[b])
		{
			FakeEntry *e = hashp->buckets[b];

			hashp->buckets[b] = e->next;
			free(e);
		}
	free(hashp);
}

void *
hash_search(HTAB *hashp, const void *keyPtr, HASHACTION action, bool *foundPtr)
{
	uint32 hv = key_hash(hashp, keyPtr);
	FakeEntry **pp = &hashp->buckets[hv % FAKE_HASH_BUCKETS];
	FakeEntry *e;

	for (; (e = *pp) != NULL; pp = &e->next)
		if (e->hash == hv && key_equal(hashp, ENTRY_DATA(e), keyPtr))
			break;
	if (foundPtr)
		*foundPtr = (e != NULL);
	switch (action)
	{
		case HASH_FIND:
			return e ? ENTRY_DATA(e) : NULL;
		case HASH_REMOVE:
			if (e == NULL)
				return NULL;
			*pp = e->next;
			hashp->nentries--;
			/* PostgreSQL keeps the entry readable until the next change */
			fake_hash_defer_free(e);
			return ENTRY_DATA(e);
		case HASH_ENTER:
		case HASH_ENTER_NULL:
			if (e != NULL)
				return ENTRY_DATA(e);
			if (hashp->nentries >= hashp->max_entries)
			{
				if (action == HASH_ENTER_NULL)
					return NULL;
				elog(ERROR, "out of shared memory");
			}
			e = calloc(1, ENTRY_HDR + hashp->entrysize);
			if (e == NULL)
				abort();
			e->hash = hv;
			if (hashp->strings)
				strlcpy(ENTRY_DATA(e), keyPtr, hashp->keysize);
			else
				memcpy(ENTRY_DATA(e), keyPtr, hashp->keysize);
			e->next = hashp->buckets[hv % FAKE_HASH_BUCKETS];
			hashp->buckets[hv % FAKE_HASH_BUCKETS] = e;
			hashp->nentries++;
			return ENTRY_DATA(e);
	}
	return NULL;
}

long
hash_get_num_entries(HTAB *hashp)
{
	return hashp->nentries;
}

/*
 * A scan: status->curBucket is the bucket of the next entry, status->curEntry
 * the next entry itself (taken before the current one is returned, so that
 * removing it is safe).
 */
void
hash_seq_init(HASH_SEQ_STATUS *status, HTAB *hashp)
{
	status->hashp = hashp;
	status->curBucket = 0;
	status->curEntry = (HASHELEMENT *) hashp->buckets[0];
}

void *
hash_seq_search(HASH_SEQ_STATUS *status)
{
	HTAB *h = status->hashp;
	FakeEntry *e = (FakeEntry *) status->curEntry;

	while (e == NULL)
	{
		if (++status->curBucket >= FAKE_HASH_BUCKETS)
			return NULL;
		e = h->buckets[status->curBucket];
	}
	status->curEntry = (HASHELEMENT *) e->next;
	return ENTRY_DATA(e);
}

void
hash_seq_term(HASH_SEQ_STATUS *status)
{
}

/* entries removed are freed at the end of the input, not at once */
static FakeEntry *removed = NULL;

void
fake_hash_defer_free(void *entry)
{
	FakeEntry *e = entry;

	e->next = removed;
	removed = e;
}

void
fake_hash_free_removed(void)
{
	while (removed)
	{
		FakeEntry *e = removed;

		removed = e->next;
		free(e);
	}
}

/* --------------------------------------------------------------- others */

TimestampTz fake_now = FAKE_EPOCH;

TimestampTz
GetCurrentTimestamp(void)
{
	return fake_now;
}

bool
TimestampDifferenceExceeds(TimestampTz start_time, TimestampTz stop_time, int msec)
{
	return stop_time - start_time >= (TimestampTz) msec * 1000;
}

long
TimestampDifferenceMilliseconds(TimestampTz start_time, TimestampTz stop_time)
{
	return stop_time <= start_time ? 0 : (long) ((stop_time - start_time + 999) / 1000);
}

bool
LWLockAcquire(LWLock *lock, LWLockMode mode)
{
	return true;
}

void
LWLockRelease(LWLock *lock)
{
}

uint64
GetSystemIdentifier(void)
{
	return UINT64CONST(7300000000000000042);
}

Oid
GetUserId(void)
{
	return BOOTSTRAP_SUPERUSERID;
}

char *
GetUserNameFromId(Oid roleid, bool noerr)
{
	return pstrdup("postgres");
}

bool
superuser(void)
{
	return false;
}

/* PostgreSQL's json.c escape_json: a JSON string literal of str */
void
escape_json(StringInfo buf, const char *str)
{
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoCharMacro(buf, *p);
				break;
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

/* SQL-side code linked with the broker's files: never reached from a request */
#define UNREACHABLE(name)                                                   \
	do                                                                      \
	{                                                                       \
		fprintf(stderr, "fuzz_broker: %s reached from the broker\n", name); \
		abort();                                                            \
	} while (0)

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	UNREACHABLE("DirectFunctionCall1Coll");
}

void
DefineCustomIntVariable(const char *name, const char *short_desc, const char *long_desc,
						int *valueAddr, int bootValue, int minValue, int maxValue,
						GucContext context, int flags, GucIntCheckHook check_hook,
						GucIntAssignHook assign_hook, GucShowHook show_hook)
{
	UNREACHABLE("DefineCustomIntVariable");
}

/* fmgr functions only SQL calls (DirectFunctionCall1 of them aborts) */
Datum
inet_out(PG_FUNCTION_ARGS)
{
	UNREACHABLE("inet_out");
}

Datum
inet_client_addr(PG_FUNCTION_ARGS)
{
	UNREACHABLE("inet_client_addr");
}

Datum
numeric_out(PG_FUNCTION_ARGS)
{
	UNREACHABLE("numeric_out");
}

Datum
jsonb_in(PG_FUNCTION_ARGS)
{
	UNREACHABLE("jsonb_in");
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	UNREACHABLE("pg_detoast_datum");
}

JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	UNREACHABLE("JsonbIteratorInit");
}

JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **it, JsonbValue *val, bool skipNested)
{
	UNREACHABLE("JsonbIteratorNext");
}

/* ------------------------------------- PG_TRY around a request (kafka_api.c) */

/*
 * errfinish() aborts on every ERROR, so no ERROR is ever caught: these only
 * let kafka_api.c's PG_TRY link.
 */
sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

void
pg_re_throw(void)
{
	abort();
}

int
geterrcode(void)
{
	return 0;
}

void
FlushErrorState(void)
{
}

void
LWLockReleaseAll(void)
{
}

/* spinlocks: one thread, so the inline test-and-set never fails */
int
s_lock(volatile slock_t *lock, const char *file, int line, const char *func)
{
	abort();
}
