/*-------------------------------------------------------------------------
 *
 * fuzz_dns.c
 *	  libFuzzer target: the registry's DNS codec (src/registry/dns.c), which
 *	  reads datagrams and TCP messages from anyone.
 *
 * An input is two bytes of setting, then a DNS message:
 *	- byte 0: the answer buffer's size: 12 + 4 * b for b < 128 (12-520
 *	  bytes), else 512 * (b - 127) (512-65536 bytes); the buffer is
 *	  allocated at exactly that size, so ASan sees any write past it;
 *	- byte 1: bit 0 TCP (else UDP); bit 7 a zone without datacenter (else
 *	  "consul" with "dc1"); bits 1-6 times 8: how many instances the answer
 *	  tries to add (0-504), alternating IPv4 and IPv6, every third address
 *	  repeated, every seventh a host name (all of them when there are 8):
 *	  an SRV record to the name, or one CNAME when no instance has an
 *	  address, as the DNS server answers.  The host name is the question's
 *	  name as text when nagare_dns_name_to_wire() takes it, which is
 *	  checked against the wire form it came from.
 * The message is parsed (from an exact-size copy); whatever is not dropped
 * is answered as the DNS server will: the parser's RCODE, or REFUSED for
 * other names, NXDOMAIN for unknown ones, or the instances.  The target
 * checks the promises of dns.h: the RCODE is one the parser may give, a
 * parsed name is well-formed wire, names are lower case without '.' or NUL,
 * the answer fits both the buffer and the transport's limit, TC only on
 * UDP, and the answer is a well-formed message: walking its sections by the
 * counts in its header ends exactly at its length, every compression
 * pointer points backwards at a label, and a CNAME is the answer's only
 * record.
 *
 * test/fuzz/fuzz_dns.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_alloc.h"
#include "registry/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static DnsZone zone_dc;
static DnsZone zone_nodc;

static unsigned
get16(const uint8_t *p)
{
	return (unsigned) (p[0] << 8 | p[1]);
}

/*
 * Walk a name of our own answer at off: labels, ending in the root or a
 * pointer to an earlier offset where a name's label starts (starts[] marks
 * those).  Returns the offset after it.
 */
static size_t
walk_name(const uint8_t *a, size_t len, size_t off, const uint8_t *starts)
{
	size_t total = 0;

	for (;;)
	{
		FUZZ_ASSERT(off < len);
		if ((a[off] & 0xC0) == 0xC0)
		{
			size_t to;

			FUZZ_ASSERT(off + 2 <= len);
			to = get16(a + off) & 0x3FFF;
			FUZZ_ASSERT(to < off && starts[to]);
			return off + 2;
		}
		FUZZ_ASSERT((a[off] & 0xC0) == 0);
		if (a[off] == 0)
			return off + 1;
		total += 1 + a[off];
		FUZZ_ASSERT(total < DNS_MAX_NAME);
		FUZZ_ASSERT(off + 1 + a[off] <= len);
		off += 1 + a[off];
	}
}

/* mark the label starts of the name at off (up to a pointer) */
static void
mark_name(const uint8_t *a, size_t len, size_t off, uint8_t *starts)
{
	while (off < len && a[off] != 0 && (a[off] & 0xC0) == 0)
	{
		starts[off] = 1;
		off += 1 + a[off];
	}
	if (off < len && a[off] == 0)
		starts[off] = 1;
}

static void
check_answer(const uint8_t *a, size_t len, const DnsQuery *q, DnsTransport t)
{
	uint8_t *starts = calloc(len ? len : 1, 1);
	size_t off = DNS_HEADER_SIZE;
	unsigned nrr;
	unsigned i;
	bool opt = false;

	FUZZ_ASSERT(len >= DNS_HEADER_SIZE);
	FUZZ_ASSERT(get16(a) == q->id);
	FUZZ_ASSERT(a[2] & 0x80);
	FUZZ_ASSERT(t == DNS_UDP || !(a[2] & 0x02));
	FUZZ_ASSERT(get16(a + 4) == (q->has_question ? 1u : 0u));
	if (q->has_question)
	{
		FUZZ_ASSERT(memcmp(a + off, q->qname, q->qname_len) == 0);
		mark_name(a, len, off, starts);
		off += q->qname_len + 4;
	}
	nrr = get16(a + 6) + get16(a + 8) + get16(a + 10);
	for (i = 0; i < nrr; i++)
	{
		size_t owner = off;
		unsigned type;
		unsigned rdlen;

		off = walk_name(a, len, off, starts);
		mark_name(a, len, owner, starts);
		FUZZ_ASSERT(off + 10 <= len);
		type = get16(a + off);
		rdlen = get16(a + off + 8);
		off += 10;
		FUZZ_ASSERT(off + rdlen <= len);
		switch (type)
		{
			case DNS_TYPE_A:
				FUZZ_ASSERT(rdlen == 4);
				break;
			case DNS_TYPE_AAAA:
				FUZZ_ASSERT(rdlen == 16);
				break;
			case DNS_TYPE_SRV:
				FUZZ_ASSERT(rdlen > 6);
				mark_name(a, len, off + 6, starts);
				FUZZ_ASSERT(walk_name(a, len, off + 6, starts) == off + rdlen);
				break;
			case DNS_TYPE_SOA:
			{
				size_t p;

				mark_name(a, len, off, starts);
				p = walk_name(a, len, off, starts);
				mark_name(a, len, p, starts);
				p = walk_name(a, len, p, starts);
				FUZZ_ASSERT(p + 20 == off + rdlen);
				break;
			}
			case DNS_TYPE_CNAME:
				FUZZ_ASSERT(i == 0 && get16(a + 6) == 1);
				mark_name(a, len, off, starts);
				FUZZ_ASSERT(rdlen > 0 && walk_name(a, len, off, starts) == off + rdlen);
				break;
			case DNS_TYPE_OPT:
				FUZZ_ASSERT(q->has_edns && !opt && rdlen == 0 && a[owner] == 0);
				FUZZ_ASSERT(i == nrr - 1);
				opt = true;
				break;
			default:
				FUZZ_ASSERT(!"a type the codec does not write");
		}
		off += rdlen;
	}
	FUZZ_ASSERT(off == len);
	FUZZ_ASSERT(opt == q->has_edns);
	free(starts);
}

static void
check_names(const DnsName *n)
{
	size_t i;
	size_t sl = strnlen(n->service, sizeof(n->service));
	size_t tl = strnlen(n->tag, sizeof(n->tag));

	FUZZ_ASSERT(sl < sizeof(n->service) && tl < sizeof(n->tag));
	if (n->kind == DNS_NAME_SERVICE || n->kind == DNS_NAME_SRV_RFC2782)
		FUZZ_ASSERT(sl > 0);
	for (i = 0; i < sl; i++)
		FUZZ_ASSERT(n->service[i] > ' ' && n->service[i] <= '~' && n->service[i] != '.' &&
					!(n->service[i] >= 'A' && n->service[i] <= 'Z'));
	for (i = 0; i < tl; i++)
		FUZZ_ASSERT(n->tag[i] > ' ' && n->tag[i] <= '~' &&
					!(n->tag[i] >= 'A' && n->tag[i] <= 'Z'));
	if (n->kind == DNS_NAME_ADDR)
		FUZZ_ASSERT(n->addr_len == 4 || n->addr_len == 16);
}

/*
 * The question's name as text ("a.b.c"), through nagare_dns_name_to_wire():
 * it must take exactly the names whose labels are letters, digits, '-' and
 * '_' (and give the same wire form back), and refuse the others.  Returns
 * whether it took it (the wire form in w).
 */
static bool
check_name_to_wire(const DnsQuery *q, uint8_t *w, size_t *wl)
{
	char text[DNS_MAX_NAME + 1];
	size_t t = 0;
	size_t o = 0;
	bool ldh = q->qname_len > 1;
	bool took;

	while (q->qname[o] != 0)
	{
		size_t n = q->qname[o];
		size_t k;

		if (t > 0)
			text[t++] = '.';
		for (k = 0; k < n; k++)
		{
			uint8_t c = q->qname[o + 1 + k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '-' || c == '_'))
				ldh = false;
			/* a NUL or '.' inside a label would change the text's reading */
			text[t++] = (c == 0 || c == '.') ? '!' : (char) c;
		}
		o += 1 + n;
	}
	text[t] = '\0';
	took = nagare_dns_name_to_wire(text, w, wl);
	FUZZ_ASSERT(took == ldh);
	if (took)
		FUZZ_ASSERT(*wl == q->qname_len && memcmp(w, q->qname, *wl) == 0);
	return took;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg;
	uint8_t *buf;
	size_t cap;
	size_t msglen;
	DnsTransport t;
	const DnsZone *zone;
	int ninst;
	DnsQuery q;
	DnsName name;
	DnsAnswer a;
	DnsRcode rc;
	size_t len;

	if (!zone_dc.domain_len)
	{
		FUZZ_ASSERT(nagare_dns_zone_init(&zone_dc, "consul", "dc1"));
		FUZZ_ASSERT(nagare_dns_zone_init(&zone_nodc, "Nagare.Example", NULL));
	}
	if (size < 2)
		return 0;
	cap = data[0] < 128 ? 12 + 4 * (size_t) data[0] : 512 * (size_t) (data[0] - 127);
	t = (data[1] & 1) ? DNS_TCP : DNS_UDP;
	zone = (data[1] & 0x80) ? &zone_nodc : &zone_dc;
	ninst = ((data[1] >> 1) & 0x3F) * 8;
	msglen = size - 2;
	msg = malloc(msglen ? msglen : 1);
	memcpy(msg, data + 2, msglen);

	rc = nagare_dns_parse_query(msg, msglen, &q);
	free(msg);
	FUZZ_ASSERT(rc == DNS_DROP || rc == DNS_NOERROR || rc == DNS_FORMERR ||
				rc == DNS_NOTIMP || rc == DNS_REFUSED || rc == DNS_BADVERS);
	if (rc == DNS_DROP)
		return 0;
	FUZZ_ASSERT(rc != DNS_NOERROR || q.has_question);
	FUZZ_ASSERT(rc != DNS_BADVERS || q.has_edns);
	if (q.has_question)
	{
		size_t o = 0;

		FUZZ_ASSERT(q.qname_len >= 1 && q.qname_len <= DNS_MAX_NAME);
		while (q.qname[o] != 0)
		{
			FUZZ_ASSERT(q.qname[o] <= DNS_MAX_LABEL);
			o += 1 + q.qname[o];
			FUZZ_ASSERT(o < q.qname_len);
		}
		FUZZ_ASSERT(o + 1 == q.qname_len);
	}
	if (q.has_edns)
		FUZZ_ASSERT(q.edns_size >= DNS_UDP_MIN && q.edns_size <= DNS_EDNS_MAX);

	buf = malloc(cap);
	if (!nagare_dns_begin(&a, &q, zone, t, 0, 1, buf, cap))
	{
		FUZZ_ASSERT(cap < DNS_HEADER_SIZE + (q.has_question ? q.qname_len + 4 : 0) +
							  (q.has_edns ? 11 : 0));
		free(buf);
		return 0;
	}
	if (rc == DNS_NOERROR)
	{
		DnsNameKind k = nagare_dns_interpret(&q, zone, &name);

		FUZZ_ASSERT(k == name.kind);
		check_names(&name);
		if (k == DNS_NAME_NOT_OURS)
			rc = DNS_REFUSED;
		else if (k == DNS_NAME_INVALID)
			rc = DNS_NXDOMAIN;
		else if (k == DNS_NAME_ADDR)
			nagare_dns_add_address(&a, name.addr, name.addr_len);
		else if (k == DNS_NAME_APEX)
		{
			if (q.qtype == DNS_TYPE_SOA || q.qtype == DNS_TYPE_ANY)
				(void) nagare_dns_add_soa(&a);
		}
		else
		{
			int i;
			uint8_t host[DNS_MAX_NAME];
			size_t hlen;
			bool named = false;
			bool any_ip = false;

			if (!check_name_to_wire(&q, host, &hlen))
				FUZZ_ASSERT(nagare_dns_name_to_wire("db-1.example.com", host, &hlen));
			if (ninst == 0)
				rc = DNS_NXDOMAIN;
			for (i = 0; i < ninst; i++)
			{
				uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8};
				int n = (i % 3 == 2) ? i - 1 : i;

				addr[14] = (uint8_t) (n >> 8);
				addr[15] = (uint8_t) n;
				if (n % 2 == 0)
				{
					addr[0] = 10;
					addr[1] = 0;
					addr[2] = (uint8_t) (n >> 8);
					addr[3] = (uint8_t) n;
				}
				if (ninst == 8 || i % 7 == 6)
				{
					/* a host name: the DNS server's sequence */
					named = true;
					if (q.qtype == DNS_TYPE_SRV &&
						!nagare_dns_add_srv_name(&a, 1, 1, (uint16_t) (8000 + i), host,
												 hlen))
						break;
					continue;
				}
				any_ip = true;
				if (!nagare_dns_add_instance(&a, addr, n % 2 == 0 ? 4 : 16,
											 (uint16_t) (8000 + i), 1))
					break;
			}
			if (named && !any_ip &&
				(q.qtype == DNS_TYPE_A || q.qtype == DNS_TYPE_AAAA ||
				 q.qtype == DNS_TYPE_ANY || q.qtype == DNS_TYPE_CNAME))
				(void) nagare_dns_add_cname(&a, host, hlen);
		}
	}
	len = nagare_dns_finish(&a, rc);
	FUZZ_ASSERT(len <= cap && len <= nagare_dns_limit(&q, t));
	check_answer(buf, len, &q, t);
	free(buf);
	return 0;
}
