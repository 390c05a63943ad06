/*-------------------------------------------------------------------------
 *
 * test_dns.c
 *	  Unit tests of the registry's DNS wire codec (src/registry/dns.c):
 *	  every RCODE path of the parser, EDNS0 sizes and versions, the names
 *	  Consul answers (tags, RFC 2782, datacenters, addr), and the answers'
 *	  bytes: compression, case kept, SRV with additional records, SOA,
 *	  truncation at the exact boundaries; host names as SRV targets and
 *	  CNAME (nagare_dns_name_to_wire's bounds).  Prints "dns: N passed, M failed".
 *
 * With TEST_DNS_OUT=dir in the environment, each answer built here is also
 * written to dir/<case>.bin, for check_answers.py to decode with dnspython
 * and check independently of this file's own reading of the bytes.
 *
 * test/dns/test_dns.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/dns.h"

static int passed;
static int failed;

#define CHECK(cond, what)                                                \
	do                                                                   \
	{                                                                    \
		if (cond)                                                        \
			passed++;                                                    \
		else                                                             \
		{                                                                \
			failed++;                                                    \
			printf("not ok: %s (%s, line %d)\n", what, #cond, __LINE__); \
		}                                                                \
	} while (0)

static DnsZone zone; /* consul., datacenter dc1 */
static DnsZone zone_nodc; /* consul., no datacenter */
static DnsZone zone_long; /* Nagare.Example.org */

static const uint8_t ip1[4] = {10, 0, 0, 1};
static const uint8_t ip2[4] = {10, 0, 0, 2};
static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
								0,    0,    0,    0,    0, 0, 0, 1};

/* ---- queries, built by hand (not by the codec) ---- */

typedef struct Query
{
	uint8_t b[1024];
	size_t len;
} Query;

/* a presentation name ("a.b.c", no escapes) in wire form; returns its length */
static size_t
wire_name(uint8_t *out, const char *name)
{
	size_t o = 0;
	const char *p = name;

	while (*p)
	{
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t) (dot - p) : strlen(p);

		out[o++] = (uint8_t) n;
		memcpy(out + o, p, n);
		o += n;
		if (!dot)
			break;
		p = dot + 1;
	}
	out[o++] = 0;
	return o;
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static unsigned
get16(const uint8_t *p)
{
	return (unsigned) (p[0] << 8 | p[1]);
}

/* a query: id 0x1234, RD, one question; edns < 0: no OPT record */
static void
mkquery(Query *q, const char *name, unsigned qtype, int edns)
{
	memset(q, 0, sizeof(*q));
	put16(q->b, 0x1234);
	put16(q->b + 2, 0x0100);
	put16(q->b + 4, 1);
	q->len = 12 + wire_name(q->b + 12, name);
	put16(q->b + q->len, qtype);
	put16(q->b + q->len + 2, DNS_CLASS_IN);
	q->len += 4;
	if (edns >= 0)
	{
		uint8_t *p = q->b + q->len;

		p[0] = 0;
		put16(p + 1, DNS_TYPE_OPT);
		put16(p + 3, (unsigned) edns);
		memset(p + 5, 0, 6);
		q->len += 11;
		put16(q->b + 10, 1);
	}
}

/* append an OPT record (version, DO) and count it */
static void
add_opt(Query *q, unsigned size, unsigned version, int dobit)
{
	uint8_t *p = q->b + q->len;

	p[0] = 0;
	put16(p + 1, DNS_TYPE_OPT);
	put16(p + 3, size);
	p[5] = 0;
	p[6] = (uint8_t) version;
	put16(p + 7, dobit ? 0x8000 : 0);
	put16(p + 9, 0);
	q->len += 11;
	put16(q->b + 10, get16(q->b + 10) + 1);
}

static DnsRcode
parse(const Query *q, DnsQuery *dq)
{
	/* an exact-size copy, so ASan sees any read past the end */
	uint8_t *m = malloc(q->len ? q->len : 1);
	DnsRcode rc;

	memcpy(m, q->b, q->len);
	rc = nagare_dns_parse_query(m, q->len, dq);
	free(m);
	return rc;
}

/* ---- answers ---- */

static uint8_t abuf[65536];

static void
save(const char *name, const uint8_t *p, size_t len)
{
	const char *dir = getenv("TEST_DNS_OUT");
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len)
	{
		printf("not ok: cannot write %s\n", path);
		failed++;
	}
	if (f)
		fclose(f);
}

static unsigned
rcode_of(const uint8_t *a)
{
	return a[3] & 0xF;
}

static bool
tc_of(const uint8_t *a)
{
	return (a[2] & 0x02) != 0;
}

/*
 * The answer's sections, walked by hand: the offset where the answer
 * section starts and where each section ends.  Names are skipped (a pointer
 * or labels).
 */
static size_t
skip(const uint8_t *a, size_t o)
{
	while (a[o] != 0)
	{
		if ((a[o] & 0xC0) == 0xC0)
			return o + 2;
		o += 1 + a[o];
	}
	return o + 1;
}

static size_t
skip_rr(const uint8_t *a, size_t o)
{
	o = skip(a, o);
	return o + 10 + get16(a + o + 8);
}

/* build the error answer to a query the parser refused */
static size_t
error_answer(const Query *q, DnsRcode *rc_out, DnsTransport t)
{
	DnsQuery dq;
	DnsAnswer a;
	DnsRcode rc = parse(q, &dq);

	*rc_out = rc;
	if (rc == DNS_DROP || !nagare_dns_begin(&a, &dq, &zone, t, 0, 1, abuf, sizeof(abuf)))
		return 0;
	return nagare_dns_finish(&a, rc);
}

static void
test_parse(void)
{
	Query q;
	DnsQuery dq;
	DnsRcode rc;
	size_t n;
	char name[400];
	int i;

	/* fewer than 12 bytes, or a response: nothing is sent */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.len = 11;
	CHECK(parse(&q, &dq) == DNS_DROP, "11 bytes dropped");
	q.len = 0;
	CHECK(parse(&q, &dq) == DNS_DROP, "0 bytes dropped");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.b[2] |= 0x80;
	CHECK(parse(&q, &dq) == DNS_DROP, "a response (QR) dropped");

	/* a plain query */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	CHECK(parse(&q, &dq) == DNS_NOERROR, "A query");
	CHECK(dq.id == 0x1234 && dq.qtype == DNS_TYPE_A && dq.qclass == DNS_CLASS_IN,
		  "A query fields");
	CHECK(dq.qname_len == 20 && !dq.has_edns, "A query name length, no EDNS");

	/* the header alone: QDCOUNT 1 but no question */
	q.len = 12;
	CHECK(parse(&q, &dq) == DNS_FORMERR && !dq.has_question, "header only: FORMERR");
	n = error_answer(&q, &rc, DNS_UDP);
	CHECK(n == 12 && rcode_of(abuf) == DNS_FORMERR && get16(abuf) == 0x1234 &&
			  get16(abuf + 4) == 0 && (abuf[2] & 0x80) && (abuf[2] & 0x01),
		  "FORMERR answer: ID, QR, RD, no question");
	save("formerr_header_only", abuf, n);

	/* QDCOUNT 0 and 2 */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	put16(q.b + 4, 0);
	CHECK(parse(&q, &dq) == DNS_FORMERR, "QDCOUNT 0: FORMERR");
	put16(q.b + 4, 2);
	CHECK(parse(&q, &dq) == DNS_FORMERR, "QDCOUNT 2: FORMERR");
	n = error_answer(&q, &rc, DNS_UDP);
	save("formerr_qdcount2", abuf, n);

	/* the question runs past the end, or lacks its type and class */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.len -= 5;
	CHECK(parse(&q, &dq) == DNS_FORMERR, "name without its root label");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.len -= 1;
	CHECK(parse(&q, &dq) == DNS_FORMERR, "class cut short");

	/* a compression pointer in the question, even one to itself */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.b[12] = 0xC0;
	q.b[13] = 12;
	CHECK(parse(&q, &dq) == DNS_FORMERR, "pointer loop in the question: FORMERR");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.b[16] = 0xC0; /* "web" then a pointer to the header */
	q.b[17] = 0;
	CHECK(parse(&q, &dq) == DNS_FORMERR, "pointer after a label: FORMERR");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.b[12] = 0x40; /* extended label type (RFC 6891) */
	CHECK(parse(&q, &dq) == DNS_FORMERR, "label type 0x40: FORMERR");
	q.b[12] = 0x80;
	CHECK(parse(&q, &dq) == DNS_FORMERR, "label type 0x80: FORMERR");

	/* a name of exactly 255 bytes, and of 257 */
	{
		/* 3 labels of 63 and one of 61: 64 * 3 + 62 + 1 = 255 */
		char l63[64];
		char l61[62];

		memset(l63, 'a', 63);
		l63[63] = '\0';
		memset(l61, 'b', 61);
		l61[61] = '\0';
		snprintf(name, sizeof(name), "%s.%s.%s.%s", l63, l63, l63, l61);
		mkquery(&q, name, DNS_TYPE_A, -1);
		CHECK(parse(&q, &dq) == DNS_NOERROR && dq.qname_len == 255, "255-byte name");
		snprintf(name, sizeof(name), "%s.%s.%s.%sbb", l63, l63, l63, l61);
		mkquery(&q, name, DNS_TYPE_A, -1);
		CHECK(parse(&q, &dq) == DNS_FORMERR, "257-byte name: FORMERR");
		n = error_answer(&q, &rc, DNS_UDP);
		CHECK(n == 12 && rcode_of(abuf) == DNS_FORMERR,
			  "over-long name: FORMERR, no question");
		save("formerr_long_name", abuf, n);
	}

	/* opcodes other than QUERY: NOTIMP, question and opcode echoed */
	for (i = 1; i <= 5; i++)
	{
		mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
		q.b[2] |= (uint8_t) (i << 3);
		CHECK(parse(&q, &dq) == DNS_NOTIMP && dq.has_question, "opcode: NOTIMP");
	}
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	q.b[2] |= 2 << 3; /* STATUS (dnspython reads UPDATE's sections differently) */
	n = error_answer(&q, &rc, DNS_UDP);
	CHECK(rcode_of(abuf) == DNS_NOTIMP && ((abuf[2] >> 3) & 0xF) == 2 &&
			  get16(abuf + 4) == 1 && !(abuf[2] & 0x04),
		  "NOTIMP answer: opcode and question echoed, not AA");
	save("notimp_status", abuf, n);

	/* classes, types */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	put16(q.b + q.len - 2, 3); /* CH */
	CHECK(parse(&q, &dq) == DNS_REFUSED, "class CH: REFUSED");
	n = error_answer(&q, &rc, DNS_UDP);
	save("refused_class_ch", abuf, n);
	put16(q.b + q.len - 2, DNS_CLASS_ANY);
	CHECK(parse(&q, &dq) == DNS_NOERROR, "class ANY accepted");
	mkquery(&q, "consul", DNS_TYPE_AXFR, -1);
	CHECK(parse(&q, &dq) == DNS_NOTIMP, "AXFR: NOTIMP");
	mkquery(&q, "consul", DNS_TYPE_IXFR, -1);
	CHECK(parse(&q, &dq) == DNS_NOTIMP, "IXFR: NOTIMP");
	mkquery(&q, "consul", DNS_TYPE_OPT, -1);
	CHECK(parse(&q, &dq) == DNS_FORMERR, "QTYPE OPT: FORMERR");

	/* EDNS0: sizes clamped to [512, 4096] */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, 100);
	CHECK(parse(&q, &dq) == DNS_NOERROR && dq.has_edns && dq.edns_size == 512,
		  "EDNS 100 -> 512");
	CHECK(nagare_dns_limit(&dq, DNS_UDP) == 512, "limit 512");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, 1232);
	CHECK(parse(&q, &dq) == DNS_NOERROR && dq.edns_size == 1232, "EDNS 1232");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, 65000);
	CHECK(parse(&q, &dq) == DNS_NOERROR && dq.edns_size == 4096, "EDNS 65000 -> 4096");
	CHECK(nagare_dns_limit(&dq, DNS_TCP) == 65535, "TCP limit 65535");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	CHECK(parse(&q, &dq) == DNS_NOERROR && nagare_dns_limit(&dq, DNS_UDP) == 512,
		  "no EDNS: 512");

	/* EDNS version 1: BADVERS, with the question and an OPT record */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	add_opt(&q, 1232, 1, 1);
	CHECK(parse(&q, &dq) == DNS_BADVERS && dq.edns_do, "EDNS version 1: BADVERS");
	n = error_answer(&q, &rc, DNS_UDP);
	CHECK(rcode_of(abuf) == 0 && get16(abuf + 10) == 1 && n == 12 + 24 + 11 &&
			  abuf[n - 11] == 0 && get16(abuf + n - 10) == DNS_TYPE_OPT &&
			  abuf[n - 6] == 1 && abuf[n - 5] == 0 && (abuf[n - 4] & 0x80),
		  "BADVERS: extended RCODE 1 in OPT, version 0, DO copied");
	save("badvers", abuf, n);

	/* two OPT records; an OPT owned by a name; an OPT in the answer section */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, 1232);
	add_opt(&q, 1232, 0, 0);
	CHECK(parse(&q, &dq) == DNS_FORMERR && dq.has_question, "two OPT: FORMERR");
	n = error_answer(&q, &rc, DNS_UDP);
	CHECK(get16(abuf + 4) == 1 && rcode_of(abuf) == DNS_FORMERR,
		  "FORMERR with the question");
	save("formerr_two_opt", abuf, n);
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	{
		uint8_t *p = q.b + q.len;

		p[0] = 0xC0; /* owner: a pointer to the question's name */
		p[1] = 12;
		put16(p + 2, DNS_TYPE_OPT);
		put16(p + 4, 1232);
		memset(p + 6, 0, 6);
		q.len += 12;
		put16(q.b + 10, 1);
	}
	CHECK(parse(&q, &dq) == DNS_FORMERR, "OPT not at the root: FORMERR");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	add_opt(&q, 1232, 0, 0);
	put16(q.b + 10, 0);
	put16(q.b + 6, 1); /* the same record, counted as an answer */
	CHECK(parse(&q, &dq) == DNS_FORMERR, "OPT in the answer section: FORMERR");

	/* other additional records are skipped (a compressed owner, a TXT) */
	mkquery(&q, "web.service.consul", DNS_TYPE_A, 1232);
	{
		uint8_t *p = q.b + q.len;

		p[0] = 0xC0;
		p[1] = 12;
		put16(p + 2, 16); /* TXT */
		put16(p + 4, 1);
		memset(p + 6, 0, 4);
		put16(p + 10, 3);
		memcpy(p + 12, "\002hi", 3);
		q.len += 15;
		put16(q.b + 10, 2);
	}
	CHECK(parse(&q, &dq) == DNS_NOERROR && dq.has_edns, "additional TXT skipped");
	q.len -= 1;
	CHECK(parse(&q, &dq) == DNS_FORMERR, "RDLENGTH past the end: FORMERR");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	put16(q.b + 10, 1); /* ARCOUNT 1 but nothing there */
	CHECK(parse(&q, &dq) == DNS_FORMERR, "missing additional record: FORMERR");
	mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
	put16(q.b + 10, 65535);
	CHECK(parse(&q, &dq) == DNS_FORMERR, "ARCOUNT 65535 of nothing: FORMERR");
}

/* interpret a name under a zone, for qtype */
static DnsNameKind
kind(const char *qname, unsigned qtype, const DnsZone *z, DnsName *out)
{
	Query q;
	DnsQuery dq;

	mkquery(&q, qname, qtype, -1);
	if (parse(&q, &dq) != DNS_NOERROR)
		return (DnsNameKind) -1;
	return nagare_dns_interpret(&dq, z, out);
}

static void
test_names(void)
{
	DnsName n;
	DnsZone z;

	CHECK(!nagare_dns_zone_init(&z, "", NULL), "empty domain refused");
	CHECK(!nagare_dns_zone_init(&z, ".", NULL), "root domain refused");
	CHECK(!nagare_dns_zone_init(&z, "a..b", NULL), "empty label refused");
	CHECK(!nagare_dns_zone_init(&z, "con sul", NULL), "space refused");
	CHECK(!nagare_dns_zone_init(&z, "consul", "dc.1"), "dotted datacenter refused");
	CHECK(nagare_dns_zone_init(&z, "consul.", NULL) && z.domain_len == 8, "consul.");

	CHECK(kind("web.service.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_SERVICE &&
			  strcmp(n.service, "web") == 0 && n.tag[0] == '\0',
		  "web.service.consul");
	CHECK(kind("WeB.SeRvIcE.CoNsUl", DNS_TYPE_A, &zone, &n) == DNS_NAME_SERVICE &&
			  strcmp(n.service, "web") == 0,
		  "case-insensitive, lower-cased");
	CHECK(kind("primary.web.service.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_SERVICE &&
			  strcmp(n.service, "web") == 0 && strcmp(n.tag, "primary") == 0,
		  "tag");
	CHECK(kind("a.B.web.service.consul", DNS_TYPE_SRV, &zone, &n) == DNS_NAME_SERVICE &&
			  strcmp(n.tag, "a.b") == 0,
		  "dotted tag, as Consul joins it");
	CHECK(kind("_web._tcp.service.consul", DNS_TYPE_SRV, &zone, &n) == DNS_NAME_SRV_RFC2782 &&
			  strcmp(n.service, "web") == 0 && n.tag[0] == '\0',
		  "RFC 2782 _tcp: no tag");
	CHECK(kind("_web._primary.service.consul", DNS_TYPE_SRV, &zone, &n) ==
				  DNS_NAME_SRV_RFC2782 &&
			  strcmp(n.tag, "primary") == 0,
		  "RFC 2782 tag");
	CHECK(kind("_web._tcp.consul", DNS_TYPE_SRV, &zone, &n) == DNS_NAME_SRV_RFC2782 &&
			  strcmp(n.service, "web") == 0,
		  "RFC 2782 without service, for SRV");
	CHECK(kind("_web._tcp.dc1.consul", DNS_TYPE_SRV, &zone, &n) == DNS_NAME_SRV_RFC2782,
		  "RFC 2782 without service, with the datacenter");
	CHECK(kind("_web._tcp.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "RFC 2782 without service, for A: nothing");
	CHECK(kind("_web._tcp.service.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_SRV_RFC2782,
		  "RFC 2782 with service, for A");
	CHECK(kind("_._tcp.service.consul", DNS_TYPE_SRV, &zone, &n) == DNS_NAME_INVALID,
		  "RFC 2782 empty service");
	CHECK(kind("web.service.dc1.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_SERVICE,
		  "our datacenter");
	CHECK(kind("web.service.DC1.dc.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_SERVICE,
		  "our datacenter, .dc form");
	CHECK(kind("web.service.dc2.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "another datacenter");
	CHECK(kind("web.service.dc1.x.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "junk after the datacenter");
	CHECK(kind("web.service.dc1.consul", DNS_TYPE_A, &zone_nodc, &n) == DNS_NAME_INVALID,
		  "no datacenter configured");
	CHECK(kind("service.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID, "no service");
	CHECK(kind("web.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID, "no kind");
	CHECK(kind("web.node.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "nodes: nothing");
	CHECK(kind("web.query.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "queries: nothing");
	CHECK(kind("consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_APEX, "the apex");
	CHECK(kind("CONSUL", DNS_TYPE_SOA, &zone, &n) == DNS_NAME_APEX, "the apex, upper case");
	CHECK(kind("example.com", DNS_TYPE_A, &zone, &n) == DNS_NAME_NOT_OURS, "example.com");
	CHECK(kind("web.service.consul.example", DNS_TYPE_A, &zone, &n) == DNS_NAME_NOT_OURS,
		  "consul.example");
	CHECK(kind("web.service.xconsul", DNS_TYPE_A, &zone, &n) == DNS_NAME_NOT_OURS,
		  "xconsul: label boundary");
	CHECK(kind("", DNS_TYPE_A, &zone, &n) == DNS_NAME_NOT_OURS, "the root");
	CHECK(kind("0a000001.addr.dc1.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_ADDR &&
			  n.addr_len == 4 && memcmp(n.addr, ip1, 4) == 0,
		  "IPv4 addr name");
	CHECK(kind("20010DB8000000000000000000000001.addr.consul", DNS_TYPE_AAAA, &zone, &n) ==
				  DNS_NAME_ADDR &&
			  n.addr_len == 16 && memcmp(n.addr, ip6, 16) == 0,
		  "IPv6 addr name");
	CHECK(kind("0a00000g.addr.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "bad hex");
	CHECK(kind("0a0000.addr.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "short hex");
	CHECK(kind("x.0a000001.addr.consul", DNS_TYPE_A, &zone, &n) == DNS_NAME_INVALID,
		  "two labels before addr");
	CHECK(kind("web.service.nagare.example.org", DNS_TYPE_A, &zone_long, &n) ==
				  DNS_NAME_SERVICE &&
			  strcmp(n.service, "web") == 0,
		  "three-label domain");
	CHECK(kind("web.service.example.org", DNS_TYPE_A, &zone_long, &n) == DNS_NAME_NOT_OURS,
		  "three-label domain, a suffix of it");
	{
		Query q;
		DnsQuery dq;

		/* a label with a NUL and one with a dot inside: never a service */
		mkquery(&q, "web.service.consul", DNS_TYPE_A, -1);
		q.b[14] = 0;
		CHECK(parse(&q, &dq) == DNS_NOERROR &&
				  nagare_dns_interpret(&dq, &zone, &n) == DNS_NAME_INVALID,
			  "NUL in a label");
		q.b[14] = '.';
		CHECK(parse(&q, &dq) == DNS_NOERROR &&
				  nagare_dns_interpret(&dq, &zone, &n) == DNS_NAME_INVALID,
			  "dot in a label");
	}
}

/* begin an answer to a query for name/qtype; edns < 0 for none */
static void
start(DnsAnswer *a, DnsQuery *dq, const char *name, unsigned qtype, int edns,
	  DnsTransport t, size_t cap)
{
	Query q;

	mkquery(&q, name, qtype, edns);
	if (parse(&q, dq) != DNS_NOERROR)
	{
		printf("not ok: cannot parse %s\n", name);
		failed++;
	}
	if (!nagare_dns_begin(a, dq, &zone, t, 0, 1700000000, abuf, cap))
	{
		printf("not ok: cannot begin %s\n", name);
		failed++;
	}
}

static void
test_answers(void)
{
	DnsQuery dq;
	DnsAnswer a;
	size_t n;
	size_t o;
	int i;

	/* two A records: owners are pointers to the question */
	start(&a, &dq, "web.service.consul", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	CHECK(nagare_dns_add_instance(&a, ip1, 4, 80, 1), "add A");
	CHECK(nagare_dns_add_instance(&a, ip6, 16, 80, 1), "AAAA skipped for A");
	CHECK(nagare_dns_add_instance(&a, ip2, 4, 80, 1), "add A 2");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 12 + 24 + 2 * 16, "two A records: size");
	CHECK(get16(abuf) == 0x1234 && get16(abuf + 2) == 0x8500 && get16(abuf + 6) == 2 &&
			  get16(abuf + 8) == 0 && get16(abuf + 10) == 0,
		  "two A records: header QR AA RD, counts");
	CHECK(get16(abuf + 36) == 0xC00C && get16(abuf + 38) == DNS_TYPE_A &&
			  memcmp(abuf + 48, ip1, 4) == 0 && memcmp(abuf + 64, ip2, 4) == 0,
		  "two A records: compressed owners, addresses");
	save("a_two", abuf, n);

	/* 0x20: the question as sent */
	start(&a, &dq, "WeB.sErViCe.CoNsUl", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_instance(&a, ip1, 4, 80, 1);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(memcmp(abuf + 13, "WeB\007sErViCe\006CoNsUl", 18) == 0,
		  "case kept in the question");
	save("a_mixed_case", abuf, n);

	/* AAAA, ANY */
	start(&a, &dq, "web.service.consul", DNS_TYPE_AAAA, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_instance(&a, ip1, 4, 80, 1);
	nagare_dns_add_instance(&a, ip6, 16, 80, 1);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 6) == 1 && n == 36 + 28, "AAAA");
	save("aaaa", abuf, n);
	start(&a, &dq, "web.service.consul", DNS_TYPE_ANY, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_instance(&a, ip1, 4, 80, 1);
	nagare_dns_add_instance(&a, ip6, 16, 80, 1);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 6) == 2 && n == 36 + 16 + 28, "ANY: A and AAAA");
	save("any", abuf, n);

	/* SRV: targets under addr.dc1, their addresses once each in additional */
	start(&a, &dq, "web.service.consul", DNS_TYPE_SRV, 1232, DNS_UDP, sizeof(abuf));
	CHECK(nagare_dns_add_instance(&a, ip1, 4, 8080, 10), "SRV 1");
	CHECK(nagare_dns_add_instance(&a, ip2, 4, 8081, 5), "SRV 2");
	CHECK(nagare_dns_add_instance(&a, ip1, 4, 9090, 1), "SRV 3, same address");
	CHECK(nagare_dns_add_instance(&a, ip6, 16, 80, 1), "SRV 4, IPv6");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 6) == 4 && get16(abuf + 10) == 4,
		  "SRV: 4 answers, 3 addresses + OPT");
	/* first SRV: ptr, fixed, prio weight port, 08 hex(8) 04 addr 03 dc1 ptr->domain */
	o = 36;
	CHECK(get16(abuf + o) == 0xC00C && get16(abuf + o + 2) == DNS_TYPE_SRV &&
			  get16(abuf + o + 10) == 6 + 9 + 5 + 4 + 2 && get16(abuf + o + 12) == 1 &&
			  get16(abuf + o + 14) == 10 && get16(abuf + o + 16) == 8080 &&
			  memcmp(abuf + o + 18, "\0100a000001\004addr\003dc1", 18) == 0 &&
			  get16(abuf + o + 36) == (0xC000 | (12 + 12)),
		  "SRV 1: target 0a000001.addr.dc1.<domain of the question>");
	o = skip_rr(abuf, o);
	CHECK(memcmp(abuf + o + 18, "\0100a000002", 9) == 0 &&
			  get16(abuf + o + 27) == (0xC000 | (36 + 18 + 9)),
		  "SRV 2: hex label, then a pointer to addr.dc1");
	o = skip_rr(abuf, o);
	CHECK(get16(abuf + o + 10) == 8 && get16(abuf + o + 18) == (0xC000 | (36 + 18)),
		  "SRV 3: the same target, one pointer");
	save("srv", abuf, n);

	/* SRV with the datacenter in the question: the target points at it */
	start(&a, &dq, "web.service.dc1.consul", DNS_TYPE_SRV, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_instance(&a, ip1, 4, 8080, 1);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 40 + 18 + 9 + 5) == (0xC000 | (12 + 12)),
		  "SRV: pointer to dc1.consul");
	save("srv_dc_in_question", abuf, n);

	/* RFC 2782 and tag forms answer the same way */
	start(&a, &dq, "_web._tcp.service.consul", DNS_TYPE_SRV, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_instance(&a, ip2, 4, 443, 1);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	save("srv_rfc2782", abuf, n);

	/* NXDOMAIN and NODATA with the SOA; the apex */
	start(&a, &dq, "nothere.service.consul", DNS_TYPE_A, 1232, DNS_UDP, sizeof(abuf));
	n = nagare_dns_finish(&a, DNS_NXDOMAIN);
	CHECK(rcode_of(abuf) == DNS_NXDOMAIN && get16(abuf + 8) == 1 &&
			  get16(abuf + 10) == 1 && (abuf[2] & 0x04),
		  "NXDOMAIN: AA, SOA, OPT");
	save("nxdomain", abuf, n);
	start(&a, &dq, "web.service.consul", DNS_TYPE_AAAA, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_instance(&a, ip1, 4, 80, 1);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(rcode_of(abuf) == 0 && get16(abuf + 6) == 0 && get16(abuf + 8) == 1,
		  "NODATA: SOA");
	save("nodata", abuf, n);
	start(&a, &dq, "Consul", DNS_TYPE_SOA, -1, DNS_UDP, sizeof(abuf));
	CHECK(nagare_dns_add_soa(&a), "apex: SOA answer");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 6) == 1 && get16(abuf + 8) == 0 && n == 12 + 12 + 50,
		  "apex SOA: one answer, no authority");
	save("apex", abuf, n);
	start(&a, &dq, "consul", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 6) == 0 && get16(abuf + 8) == 1, "apex A: NODATA");
	save("apex_nodata", abuf, n);
	start(&a, &dq, "www.example.com", DNS_TYPE_SOA, -1, DNS_UDP, sizeof(abuf));
	CHECK(!nagare_dns_add_soa(&a), "no SOA outside the domain");

	/* not ours: REFUSED, no AA, no SOA */
	start(&a, &dq, "www.example.com", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	CHECK(!nagare_dns_add_srv(&a, 1, 1, 80, ip1, 4), "no SRV outside the domain");
	n = nagare_dns_finish(&a, DNS_REFUSED);
	CHECK(rcode_of(abuf) == DNS_REFUSED && !(abuf[2] & 0x04) && n == 12 + 21, "REFUSED");
	save("refused_not_ours", abuf, n);

	/* an addr name */
	start(&a, &dq, "0a000001.addr.dc1.consul", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	nagare_dns_add_address(&a, ip1, 4);
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(get16(abuf + 6) == 1, "addr: one A");
	save("addr", abuf, n);

	/* truncation without EDNS: 512 bytes, (512 - 36) / 16 = 29 A records, TC */
	start(&a, &dq, "web.service.consul", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	for (i = 0; i < 40; i++)
	{
		uint8_t ip[4] = {10, 1, 0, (uint8_t) i};

		if (!nagare_dns_add_instance(&a, ip, 4, 80, 1))
			break;
	}
	CHECK(i == 29, "UDP 512: 29 A records fit");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 36 + 29 * 16 && n <= 512 && tc_of(abuf) && get16(abuf + 6) == 29 &&
			  get16(abuf + 8) == 0,
		  "UDP 512: TC, no SOA");
	save("trunc_udp512", abuf, n);

	/* EDNS size exactly fitting 40 records (36 + 40 * 16 + 11 = 687), and one less */
	start(&a, &dq, "web.service.consul", DNS_TYPE_A, 687, DNS_UDP, sizeof(abuf));
	for (i = 0; i < 40; i++)
	{
		uint8_t ip[4] = {10, 2, 0, (uint8_t) i};

		CHECK(nagare_dns_add_instance(&a, ip, 4, 80, 1), "exact fit: each fits");
	}
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 687 && !tc_of(abuf) && get16(abuf + 6) == 40,
		  "EDNS 687: 40 fit exactly, no TC");
	save("exact_fit", abuf, n);
	start(&a, &dq, "web.service.consul", DNS_TYPE_A, 686, DNS_UDP, sizeof(abuf));
	for (i = 0; i < 40; i++)
	{
		uint8_t ip[4] = {10, 2, 0, (uint8_t) i};

		if (!nagare_dns_add_instance(&a, ip, 4, 80, 1))
			break;
	}
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(i == 39 && n == 36 + 39 * 16 + 11 && tc_of(abuf) && get16(abuf + 6) == 39,
		  "EDNS 686: one byte short, 39 records and TC");
	CHECK(!nagare_dns_add_instance(&a, ip1, 4, 80, 1), "nothing added once truncated");
	save("one_byte_short", abuf, n);

	/* SRV truncation: SRV and its A go together (28 + 16 + 2 more for the first) */
	start(&a, &dq, "web.service.consul", DNS_TYPE_SRV, -1, DNS_UDP, sizeof(abuf));
	for (i = 0; i < 40; i++)
	{
		uint8_t ip[4] = {10, 3, 0, (uint8_t) i};

		if (!nagare_dns_add_instance(&a, ip, 4, 80, 1))
			break;
	}
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n <= 512 && tc_of(abuf) && get16(abuf + 6) == (unsigned) i &&
			  get16(abuf + 10) == (unsigned) i,
		  "SRV truncated at 512 with its addresses");
	CHECK(i == 10 && n == 36 + 54 + 9 * 45 && n + 45 > 512,
		  "SRV: the next pair would not have fit");
	save("trunc_srv", abuf, n);

	/* TCP: 64 KiB, cut without TC */
	start(&a, &dq, "web.service.consul", DNS_TYPE_A, -1, DNS_TCP, sizeof(abuf));
	for (i = 0; i < 5000; i++)
	{
		uint8_t ip[4] = {10, 4, (uint8_t) (i >> 8), (uint8_t) i};

		if (!nagare_dns_add_instance(&a, ip, 4, 80, 1))
			break;
	}
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(i == (65535 - 36) / 16 && n <= 65535 && !tc_of(abuf), "TCP: 4093 records, no TC");
	save("tcp_large", abuf, n);

	/*
	 * TCP SRV beyond 16 KiB, where compression pointers do not reach:
	 * targets and their address records' owners are spelled out there;
	 * addresses 400-499 come again after 900, when their targets are far
	 */
	start(&a, &dq, "web.service.consul", DNS_TYPE_SRV, -1, DNS_TCP, sizeof(abuf));
	for (i = 0; i < 1000; i++)
	{
		int k = i < 900 ? i : i - 500;
		uint8_t ip[4] = {10, 5, (uint8_t) (k >> 8), (uint8_t) k};

		if (!nagare_dns_add_instance(&a, ip, 4, (uint16_t) (10000 + i), 1))
			break;
	}
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(i == 1000 && n > 16384 && n <= 65535 && get16(abuf + 6) == 1000 &&
			  get16(abuf + 10) == 900,
		  "TCP SRV past 16 KiB: 1000 records, 900 addresses");
	save("tcp_srv_far", abuf, n);

	/* a small buffer: the caller's cap bounds the answer too */
	start(&a, &dq, "web.service.consul", DNS_TYPE_A, -1, DNS_UDP, 36 + 16);
	CHECK(nagare_dns_add_instance(&a, ip1, 4, 80, 1) &&
			  !nagare_dns_add_instance(&a, ip2, 4, 80, 1),
		  "buffer cap");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 52 && tc_of(abuf), "buffer cap: TC");
	{
		Query q;

		mkquery(&q, "web.service.consul", DNS_TYPE_A, 1232);
		parse(&q, &dq);
		CHECK(!nagare_dns_begin(&a, &dq, &zone, DNS_UDP, 0, 1, abuf, 36 + 10),
			  "no room for the question and OPT: nothing to send");
	}

	/* NXDOMAIN whose SOA does not fit: TC, no SOA */
	start(&a, &dq, "nothere.service.consul", DNS_TYPE_A, -1, DNS_UDP, 45);
	n = nagare_dns_finish(&a, DNS_NXDOMAIN);
	CHECK(n == 40 && tc_of(abuf) && get16(abuf + 8) == 0, "SOA does not fit: TC");

	/* TCP framing */
	{
		uint8_t pre[2];

		CHECK(nagare_dns_tcp_frame_length(pre, 1) == -1, "TCP: one byte is not a length");
		nagare_dns_tcp_put_length(pre, 513);
		CHECK(pre[0] == 2 && pre[1] == 1 && nagare_dns_tcp_frame_length(pre, 2) == 513,
			  "TCP: length prefix");
	}
}

/* instances whose address is a host name: SRV targets and CNAME */
static void
test_host_names(void)
{
	DnsQuery dq;
	DnsAnswer a;
	uint8_t w[DNS_MAX_NAME];
	uint8_t w2[DNS_MAX_NAME];
	size_t wl = 0;
	size_t wl2 = 0;
	size_t n;
	size_t o;
	char longname[300];
	int i;

	CHECK(nagare_dns_name_to_wire("db1.Example.com", w, &wl) && wl == 17 &&
			  memcmp(w, "\003db1\007Example\003com\0", 17) == 0,
		  "name_to_wire: labels, case kept");
	CHECK(nagare_dns_name_to_wire("db1.example.com.", w2, &wl2) && wl2 == 17,
		  "name_to_wire: a trailing dot");
	CHECK(nagare_dns_name_to_wire("_x-1", w2, &wl2) && wl2 == 6,
		  "name_to_wire: one label, '_' and '-'");
	CHECK(!nagare_dns_name_to_wire("", w2, &wl2), "name_to_wire: empty");
	CHECK(!nagare_dns_name_to_wire(".", w2, &wl2), "name_to_wire: the root alone");
	CHECK(!nagare_dns_name_to_wire("a..b", w2, &wl2), "name_to_wire: an empty label");
	CHECK(!nagare_dns_name_to_wire("a b.c", w2, &wl2), "name_to_wire: a space");
	CHECK(!nagare_dns_name_to_wire("a\\.b", w2, &wl2), "name_to_wire: an escape");
	memset(longname, 'a', 64);
	longname[64] = '\0';
	CHECK(!nagare_dns_name_to_wire(longname, w2, &wl2), "name_to_wire: a label of 64");
	longname[63] = '\0';
	CHECK(nagare_dns_name_to_wire(longname, w2, &wl2) && wl2 == 65,
		  "name_to_wire: a label of 63");
	/* 4 labels of 63: 4 * 64 + 1 = 257 bytes, too long; 3 labels and 61: 255 */
	for (i = 0; i < 4; i++)
	{
		memset(longname + i * 64, 'a', 63);
		longname[i * 64 + 63] = '.';
	}
	longname[4 * 64 - 1] = '\0';
	CHECK(!nagare_dns_name_to_wire(longname, w2, &wl2), "name_to_wire: 257 bytes");
	longname[3 * 64 + 61] = '\0';
	CHECK(nagare_dns_name_to_wire(longname, w2, &wl2) && wl2 == 255,
		  "name_to_wire: 255 bytes");

	/* SRV: the host name is the target, spelled out, no additional record */
	start(&a, &dq, "db.service.consul", DNS_TYPE_SRV, -1, DNS_UDP, sizeof(abuf));
	CHECK(nagare_dns_add_srv_name(&a, 1, 1, 5432, w, wl), "SRV to a host name");
	CHECK(nagare_dns_add_instance(&a, ip1, 4, 5433, 1), "and an SRV to an address");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	o = 12 + 19 + 4;
	CHECK(get16(abuf + 6) == 2 && get16(abuf + 10) == 1, "SRV: 2 answers, 1 additional");
	CHECK(get16(abuf + o) == 0xC00C && get16(abuf + o + 2) == DNS_TYPE_SRV &&
			  get16(abuf + o + 10) == 6 + 17 && get16(abuf + o + 16) == 5432 &&
			  memcmp(abuf + o + 18, w, 17) == 0,
		  "SRV: the name as its target");
	save("srv_host_name", abuf, n);

	/* A: a CNAME to the name */
	start(&a, &dq, "db.service.consul", DNS_TYPE_A, -1, DNS_UDP, sizeof(abuf));
	CHECK(nagare_dns_add_cname(&a, w, wl), "CNAME");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 12 + 19 + 4 + 12 + 17 && get16(abuf + 6) == 1 &&
			  get16(abuf + 35 + 2) == DNS_TYPE_CNAME && get16(abuf + 35 + 10) == 17 &&
			  memcmp(abuf + 35 + 12, w, 17) == 0,
		  "CNAME: owner the question, the name as rdata");
	save("cname", abuf, n);

	/* no room for the CNAME: TC */
	start(&a, &dq, "db.service.consul", DNS_TYPE_A, -1, DNS_UDP, 35 + 12 + 16);
	CHECK(!nagare_dns_add_cname(&a, w, wl), "CNAME: no room");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 35 && tc_of(abuf) && get16(abuf + 6) == 0, "CNAME: no room, TC");
	start(&a, &dq, "db.service.consul", DNS_TYPE_SRV, -1, DNS_UDP, 35 + 12 + 6 + 16);
	CHECK(!nagare_dns_add_srv_name(&a, 1, 1, 1, w, wl), "SRV to a name: no room");
	n = nagare_dns_finish(&a, DNS_NOERROR);
	CHECK(n == 35 && tc_of(abuf), "SRV to a name: no room, TC");
}

int
main(void)
{
	if (!nagare_dns_zone_init(&zone, "consul", "dc1") ||
		!nagare_dns_zone_init(&zone_nodc, "consul.", NULL) ||
		!nagare_dns_zone_init(&zone_long, "Nagare.Example.org", ""))
	{
		printf("not ok: zones\n");
		return 1;
	}
	test_parse();
	test_names();
	test_answers();
	test_host_names();
	printf("dns: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
