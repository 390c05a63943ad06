/*-------------------------------------------------------------------------
 *
 * dns.h
 *	  The DNS wire codec of the service registry: parsing a query, reading
 *	  its name against the configured domain, and encoding the answer
 *	  (RFC 1035, RFC 2782 SRV, RFC 6891 EDNS0), with Consul's names and
 *	  conventions (../shared/research/wave2-notes.md section 4.4).
 *
 * Nothing here includes postgres.h, allocates or keeps state: the parser
 * reads untrusted datagrams and is fuzzed standalone (test/fuzz/fuzz_dns.c),
 * and the encoder writes into the caller's buffer.  The registry's DNS
 * server (a background worker answering from shared memory) does, per
 * datagram or TCP message:
 *
 *		rc = nagare_dns_parse_query(msg, len, &q);
 *		if (rc == DNS_DROP || !nagare_dns_begin(&a, &q, &zone, transport, ttl,
 *												serial, buf, cap))
 *			send nothing;
 *		else if (rc != DNS_NOERROR)
 *			len = nagare_dns_finish(&a, rc);
 *		else switch (nagare_dns_interpret(&q, &zone, &name)):
 *			NOT_OURS: REFUSED;  INVALID: NXDOMAIN;
 *			APEX: nagare_dns_add_soa() for SOA and ANY, then NOERROR;
 *			ADDR: nagare_dns_add_address(name.addr), then NOERROR;
 *			SERVICE, SRV_RFC2782: nagare_dns_add_instance() for each passing
 *				instance of name.service (having name.tag, if any) until it
 *				returns false; NOERROR, or NXDOMAIN if there was none.
 *				An instance whose address is a host name: for SRV,
 *				nagare_dns_add_srv_name() with the name (nagare_dns_name_to_wire());
 *				for A, AAAA, ANY and CNAME, nagare_dns_add_cname() of one such
 *				instance, only if no passing instance has an IP address.
 *
 * test/dns/serve_dns.c does exactly this over a fixed set of instances.
 *
 * The choices where Consul (agent/dns.go) leaves room, all in one place:
 *	- QTYPE ANY on a service is answered with its A and AAAA records, as
 *	  Consul does; SRV only when asked; other types get NODATA.  AXFR, IXFR,
 *	  MAILA and MAILB are NOTIMP (Consul: AXFR NOTIMP).
 *	- The domain itself answers SOA (and ANY) with its SOA record, as Consul;
 *	  its other types, NS included, get NODATA (Consul lists its servers as
 *	  NS records; nagare's DNS server is the one answering).
 *	- Names outside the domain are REFUSED (nagare is no recursor).
 *	- A service with no passing instance is NXDOMAIN, one with instances but
 *	  none of the asked type NODATA (NOERROR, no answer); both carry the
 *	  domain's SOA in the authority section with Consul's values: "ns." and
 *	  "hostmaster." under the domain, refresh 3600, retry 600, expire 86400,
 *	  minimum 0, the serial the caller gives (Consul: the current Unix time).
 *	- Datacenter labels ("web.service.dc1.consul", "....dc1.dc.consul") are
 *	  accepted only for the configured datacenter name; any other, or any
 *	  when none is configured, is NXDOMAIN (nagare has one datacenter).
 *	- Node names ("<node>.node.<domain>") and Consul's other kinds (connect,
 *	  virtual, ingress, query) are NXDOMAIN: nagare's instances carry
 *	  addresses, not nodes.  SRV targets are "<hex-ip>.addr[.<dc>].<domain>"
 *	  as Consul gives for instances with an address of their own, and such
 *	  names resolve (DNS_NAME_ADDR).
 *	- Truncation: an answer is cut to whole records at the limit (512 bytes
 *	  without EDNS0, the client's EDNS0 size clamped to [512, 4096] with it,
 *	  65535 on TCP) and TC is set on UDP, so that resolvers retry over TCP.
 *	  Consul sets TC only with enable_truncate, and without EDNS0 also cuts
 *	  to udp_answer_limit (3) answers: with it, resolvers never see more
 *	  than 3 instances.  TC is never set on TCP (the answer is cut silently
 *	  at 64 KiB, as Consul does).
 *	- A response (QR set) or fewer than 12 bytes is dropped, not answered:
 *	  answering responses lets two servers ping-pong.
 *	- Instances whose address is a host name (Consul: agent/dns.go's
 *	  makeRecordFromFQDN): an SRV record's target is the name itself, with
 *	  no additional record (Consul adds the name's addresses only when it
 *	  has recursors; nagare is no recursor).  A, AAAA and ANY questions get
 *	  a CNAME to the name of one of them (the rotation's first) only when
 *	  no instance answering has an IP address, since a CNAME cannot sit
 *	  beside other records of its name (RFC 1034 3.6.2).  Consul keeps the
 *	  first CNAME and answers it only when no address record was written
 *	  for the question's type, so its AAAA question of a service with IPv4
 *	  instances and a named one gets the CNAME while its A question gets A
 *	  records: the name would be an alias for one type and not another.
 *	  nagare answers NODATA there instead (the safe subset).  A CNAME
 *	  question of such a service gets the same CNAME.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/registry/dns.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_DNS_H
#define NAGARE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_SIZE  12
#define DNS_MAX_NAME     255 /* wire form, with the root label's 0 */
#define DNS_MAX_LABEL    63
#define DNS_UDP_MIN      512 /* RFC 1035: UDP without EDNS0 */
#define DNS_EDNS_MAX     4096 /* the largest EDNS0 size honoured */
#define DNS_TCP_MAX      65535 /* the 2-byte length prefix's limit */
#define DNS_TARGET_SLOTS 2048 /* SRV targets' address records: hash slots */
#define DNS_TARGET_MAX   1536 /* ... and the most recorded (75% full) */

/* RCODEs, with DNS_DROP for "send nothing" */
typedef enum DnsRcode
{
	DNS_DROP = -1,
	DNS_NOERROR = 0,
	DNS_FORMERR = 1,
	DNS_SERVFAIL = 2,
	DNS_NXDOMAIN = 3,
	DNS_NOTIMP = 4,
	DNS_REFUSED = 5,
	DNS_BADVERS = 16 /* extended: needs the OPT record */
} DnsRcode;

/* The types the codec knows */
#define DNS_TYPE_A     1
#define DNS_TYPE_NS    2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA   6
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_SRV   33
#define DNS_TYPE_OPT   41
#define DNS_TYPE_IXFR  251
#define DNS_TYPE_AXFR  252
#define DNS_TYPE_MAILB 253
#define DNS_TYPE_MAILA 254
#define DNS_TYPE_ANY   255
#define DNS_CLASS_IN   1
#define DNS_CLASS_ANY  255

typedef enum DnsTransport
{
	DNS_UDP,
	DNS_TCP
} DnsTransport;

/* A parsed query; filled as far as it could be read */
typedef struct DnsQuery
{
	uint16_t id;
	uint16_t flags; /* as received: opcode, RD */
	bool has_question; /* qname, qtype, qclass are valid */
	uint8_t qname[DNS_MAX_NAME]; /* wire form, as sent (case kept) */
	size_t qname_len; /* with the root label's 0 */
	uint16_t qtype;
	uint16_t qclass;
	bool has_edns; /* an OPT record came */
	uint16_t edns_size; /* its UDP size, clamped to [512, 4096] */
	bool edns_do; /* its DO bit, copied to the answer */
} DnsQuery;

/* The domain served: settings checked once (nagare_dns_zone_init) */
typedef struct DnsZone
{
	uint8_t domain[DNS_MAX_NAME]; /* wire form, lower case */
	size_t domain_len; /* with the root label's 0 */
	int domain_labels; /* without the root */
	char dc[DNS_MAX_LABEL + 1]; /* lower case; "" for none */
} DnsZone;

typedef enum DnsNameKind
{
	DNS_NAME_NOT_OURS, /* outside the domain: REFUSED */
	DNS_NAME_INVALID, /* in the domain, names nothing: NXDOMAIN */
	DNS_NAME_APEX, /* the domain itself: its SOA, else NODATA */
	DNS_NAME_SERVICE, /* [<tag>.]<service>.service[.<dc>].<domain> */
	DNS_NAME_SRV_RFC2782, /* _<service>._<tag|tcp>[.service][.<dc>].<domain> */
	DNS_NAME_ADDR /* <hex-ip>.addr[.<dc>].<domain> */
} DnsNameKind;

/* What a query's name asks for; names are lower case, NUL-terminated */
typedef struct DnsName
{
	DnsNameKind kind;
	char service[DNS_MAX_LABEL + 1];
	char tag[DNS_MAX_NAME + 1]; /* "" for no tag filter */
	uint8_t addr[16]; /* DNS_NAME_ADDR: the address */
	int addr_len; /* 4 or 16 */
} DnsName;

/* An answer being written into the caller's buffer (nagare_dns_begin) */
typedef struct DnsAnswer
{
	uint8_t *buf;
	size_t limit; /* the most bytes the answer may take */
	size_t len; /* header, question, answers, authority */
	size_t tail; /* additional records: [tail, limit - reserve) */
	size_t reserve; /* kept at the end for the OPT record */
	const DnsQuery *q;
	const DnsZone *zone;
	DnsTransport transport;
	uint32_t ttl;
	uint32_t serial;
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;
	bool truncated; /* a record did not fit: no more are added */
	int domain_off; /* where the domain is in the message, or -1 */
	int dc_off; /* where "<dc>.<domain>" is, or -1 */
	int addr_off; /* where "addr.[<dc>.]<domain>" is, or -1 */
	/*
	 * The address records written, by their address's hash: each slot the
	 * offset of one in buf, 0 for none.  Cleared at the first SRV record
	 * (not by nagare_dns_begin: A and AAAA answers never use it).  A 64 KiB
	 * answer holds at most 1,456 address records, so the table never fills;
	 * past DNS_TARGET_MAX an address would only get a second record.
	 */
	int ntargets; /* -1 until cleared */
	uint16_t targets[DNS_TARGET_SLOTS];
} DnsAnswer;

extern bool nagare_dns_zone_init(DnsZone *zone, const char *domain, const char *dc);
extern DnsRcode nagare_dns_parse_query(const uint8_t *msg, size_t len, DnsQuery *q);
extern DnsNameKind nagare_dns_interpret(const DnsQuery *q, const DnsZone *zone,
										DnsName *out);
extern bool nagare_dns_begin(DnsAnswer *a, const DnsQuery *q, const DnsZone *zone,
							 DnsTransport transport, uint32_t ttl, uint32_t serial,
							 uint8_t *buf, size_t cap);
extern bool nagare_dns_add_a(DnsAnswer *a, const uint8_t addr[4]);
extern bool nagare_dns_add_aaaa(DnsAnswer *a, const uint8_t addr[16]);
extern bool nagare_dns_add_srv(DnsAnswer *a, uint16_t priority, uint16_t weight,
							   uint16_t port, const uint8_t *addr, int addr_len);
extern bool nagare_dns_add_address(DnsAnswer *a, const uint8_t *addr, int addr_len);
extern bool nagare_dns_add_instance(DnsAnswer *a, const uint8_t *addr, int addr_len,
									uint16_t port, uint16_t weight);
extern bool nagare_dns_name_to_wire(const char *name, uint8_t *out, size_t *out_len);
extern bool nagare_dns_add_cname(DnsAnswer *a, const uint8_t *target, size_t target_len);
extern bool nagare_dns_add_srv_name(DnsAnswer *a, uint16_t priority, uint16_t weight,
									uint16_t port, const uint8_t *target,
									size_t target_len);
extern bool nagare_dns_add_soa(DnsAnswer *a);
extern size_t nagare_dns_finish(DnsAnswer *a, DnsRcode rcode);
extern long nagare_dns_tcp_frame_length(const uint8_t *p, size_t avail);
extern void nagare_dns_tcp_put_length(uint8_t *p, size_t len);
extern size_t nagare_dns_limit(const DnsQuery *q, DnsTransport transport);

#endif /* NAGARE_DNS_H */
