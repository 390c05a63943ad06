/*-------------------------------------------------------------------------
 *
 * testcodec.c
 *	  String buffer, canonical printing helpers, tracking arena and value
 *	  filler for the Kafka message codec tests (see testcodec.h).
 *
 * test/proto/testcodec.c
 *
 *-------------------------------------------------------------------------
 */
#include "testcodec.h"

static void *
xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n);

	if (q == NULL)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	return q;
}

bool		print_omit_tagged = false;

void
sb_init(StrBuf *b)
{
	b->cap = 256;
	b->len = 0;
	b->data = xrealloc(NULL, b->cap);
	b->data[0] = '\0';
}

void
sb_free(StrBuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
sb_reset(StrBuf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

static void
sb_reserve(StrBuf *b, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		b->data = xrealloc(b->data, b->cap);
	}
}

void
sb_puts(StrBuf *b, const char *s)
{
	size_t		n = strlen(s);

	sb_reserve(b, n);
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

void
sb_printf(StrBuf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

void
sb_sep(StrBuf *b, bool *first)
{
	if (!*first)
		sb_puts(b, ",");
	*first = false;
}

void
print_str(StrBuf *b, KafkaStr s)
{
	int32_t		i;

	if (s.len < 0)
	{
		sb_puts(b, "null");
		return;
	}
	sb_puts(b, "\"");
	for (i = 0; i < s.len; i++)
	{
		unsigned char c = (unsigned char) s.ptr[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			sb_printf(b, "\\x%02x", c);
		else
		{
			char		t[2] = {(char) c, 0};

			sb_puts(b, t);
		}
	}
	sb_puts(b, "\"");
}

void
print_bytes(StrBuf *b, KafkaBytes v)
{
	int32_t		i;

	if (v.len < 0)
	{
		sb_puts(b, "null");
		return;
	}
	sb_puts(b, "0x");
	for (i = 0; i < v.len; i++)
		sb_printf(b, "%02x", v.ptr[i]);
}

void
print_uuid(StrBuf *b, const KafkaUuid *u)
{
	int			i;

	sb_puts(b, "uuid:");
	for (i = 0; i < 16; i++)
		sb_printf(b, "%02x", u->b[i]);
}

bool
uuid_is_zero(const KafkaUuid *u)
{
	int			i;

	for (i = 0; i < 16; i++)
		if (u->b[i] != 0)
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */

static void *
arena_alloc(void *ctx, size_t size)
{
	TestArena  *ar = ctx;
	void	   *p;

	if (size == 0)
	{
		fprintf(stderr, "codec allocated 0 bytes\n");
		abort();
	}
	if (ar->limit != 0 && ar->live_bytes + size > ar->limit)
		return NULL;
	p = malloc(size);
	if (p == NULL)
		return NULL;
	if (ar->n == ar->cap)
	{
		ar->cap = ar->cap ? ar->cap * 2 : 64;
		ar->ptrs = xrealloc(ar->ptrs, ar->cap * sizeof(void *));
		ar->sizes = xrealloc(ar->sizes, ar->cap * sizeof(size_t));
	}
	ar->ptrs[ar->n] = p;
	ar->sizes[ar->n] = size;
	ar->n++;
	ar->live_bytes += size;
	if (ar->live_bytes > ar->peak_bytes)
		ar->peak_bytes = ar->live_bytes;
	return p;
}

static void
arena_free(void *ctx, void *ptr)
{
	TestArena  *ar = ctx;
	size_t		i;

	if (ptr == NULL)
	{
		fprintf(stderr, "codec freed NULL\n");
		abort();
	}
	for (i = ar->n; i > 0; i--)
	{
		if (ar->ptrs[i - 1] == ptr)
		{
			ar->live_bytes -= ar->sizes[i - 1];
			free(ptr);
			ar->ptrs[i - 1] = ar->ptrs[ar->n - 1];
			ar->sizes[i - 1] = ar->sizes[ar->n - 1];
			ar->n--;
			return;
		}
	}
	fprintf(stderr, "codec freed memory it did not allocate\n");
	abort();
}

void
arena_init(TestArena *ar)
{
	memset(ar, 0, sizeof(*ar));
	ar->alloc.alloc = arena_alloc;
	ar->alloc.free = arena_free;
	ar->alloc.ctx = ar;
}

void
arena_reset(TestArena *ar)
{
	size_t		i;

	for (i = 0; i < ar->n; i++)
		free(ar->ptrs[i]);
	ar->n = 0;
	ar->live_bytes = 0;
	ar->peak_bytes = 0;
}

void
arena_destroy(TestArena *ar)
{
	arena_reset(ar);
	free(ar->ptrs);
	free(ar->sizes);
	ar->ptrs = NULL;
	ar->sizes = NULL;
	ar->cap = 0;
}

/* ---------------------------------------------------------------------- */

void
fill_init(Fill *f, uint64_t seed, bool minimal, TestArena *arena)
{
	f->state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
	f->minimal = minimal;
	f->plain = false;
	f->arena = arena;
	f->depth = 0;
}

uint64_t
fill_rand(Fill *f)
{
	uint64_t	x = f->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	f->state = x;
	return x;
}

/* Interesting values often: 0, -1, extremes, small numbers. */
int64_t
fill_int(Fill *f, int bits)
{
	uint64_t	r;
	int64_t		v;

	if (f->minimal)
		return 0;
	r = fill_rand(f);
	switch (r % 8)
	{
		case 0:
			v = 0;
			break;
		case 1:
			v = -1;
			break;
		case 2:
			v = bits == 64 ? INT64_MAX : (INT64_C(1) << (bits - 1)) - 1;
			break;
		case 3:
			v = bits == 64 ? INT64_MIN : -(INT64_C(1) << (bits - 1));
			break;
		case 4:
		case 5:
			v = (int64_t) (fill_rand(f) % 100);
			break;
		default:
			v = (int64_t) fill_rand(f);
			if (bits < 64)
				v = (int64_t) ((uint64_t) v & ((UINT64_C(1) << bits) - 1)) - (INT64_C(1) << (bits - 1));
			break;
	}
	return v;
}

bool
fill_bool(Fill *f)
{
	return !f->minimal && (fill_rand(f) & 1);
}

double
fill_double(Fill *f)
{
	return f->minimal ? 0.0 : (double) (fill_rand(f) % 1000) / 8.0;
}

static const char *const fill_words[] = {
	"", "a", "topic-1", "__consumer_offsets", "x.y_z", "quote\"back\\slash",
	"caf\xc3\xa9", "tab\tnl\n", "0123456789abcdefghijklmnopqrstuvwxyz", "Z"
};

KafkaStr
fill_str(Fill *f, bool nullable)
{
	if (f->minimal)
		return nullable ? kafka_str_null() : kafka_str("");
	if (nullable && fill_rand(f) % 5 == 0)
		return kafka_str_null();
	return kafka_str(fill_words[fill_rand(f) % (sizeof(fill_words) / sizeof(fill_words[0]))]);
}

KafkaBytes
fill_bytes(Fill *f, bool nullable)
{
	KafkaBytes	v;
	uint8_t    *p;
	int32_t		i;

	if (f->minimal)
	{
		if (nullable)
			return kafka_bytes_null();
		v.ptr = (const uint8_t *) "";
		v.len = 0;
		return v;
	}
	if (f->plain)
	{
		v.ptr = (const uint8_t *) "";
		v.len = 0;
		return v;
	}
	if (nullable && fill_rand(f) % 5 == 0)
		return kafka_bytes_null();
	v.len = (int32_t) (fill_rand(f) % 24);
	p = fill_alloc(f, v.len > 0 ? v.len : 1, 1);
	for (i = 0; i < v.len; i++)
		p[i] = (uint8_t) fill_rand(f);
	v.ptr = p;
	return v;
}

void
fill_uuid(Fill *f, KafkaUuid *u)
{
	int			i;

	for (i = 0; i < 16; i++)
		u->b[i] = f->minimal ? 0 : (uint8_t) fill_rand(f);
}

int32_t
fill_count(Fill *f, bool nullable)
{
	if (f->minimal)
		return 2;
	if (nullable && fill_rand(f) % 5 == 0)
		return -1;
	return (int32_t) (fill_rand(f) % 4);
}

void *
fill_alloc(Fill *f, int32_t count, size_t size)
{
	void	   *p;

	if (count <= 0)
		return NULL;
	p = f->arena->alloc.alloc(f->arena, (size_t) count * size);
	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	memset(p, 0, (size_t) count * size);
	return p;
}

/* ---------------------------------------------------------------------- */

const TestApi *
test_api_lookup(int16_t key)
{
	int			i;

	for (i = 0; i < test_apis_count; i++)
		if (test_apis[i].key == key)
			return &test_apis[i];
	return NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t		n = strlen(hex);
	size_t		i;
	uint8_t    *p;

	if (n % 2 != 0)
		return -1;
	p = xrealloc(NULL, n / 2 + 1);
	for (i = 0; i < n / 2; i++)
	{
		int			hi = hexval(hex[2 * i]);
		int			lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			free(p);
			return -1;
		}
		p[i] = (uint8_t) (hi << 4 | lo);
	}
	*out = p;
	*len = n / 2;
	return 0;
}

void
hex_print(FILE *fp, const uint8_t *p, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		fprintf(fp, "%02x", p[i]);
}
