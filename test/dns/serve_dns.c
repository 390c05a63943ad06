/*-------------------------------------------------------------------------
 *
 * serve_dns.c
 *	  A test DNS server over the registry's codec (src/registry/dns.c), for
 *	  resolver_check.py: UDP and TCP on 127.0.0.1, a fixed set of instances,
 *	  answered as the registry's DNS server will answer (the codec's API,
 *	  used in the order dns.h gives).  Not the server: one process, poll(),
 *	  blocking TCP reads; it exists so that a real resolver library (and
 *	  dig) can be pointed at the codec.
 *
 *	  serve_dns [PORT]	(0 or none: any free port)
 *
 * Prints "port N" once it listens; serves until killed or 60 s have passed
 * since the last query.  Zone "consul", datacenter "dc1".  Services:
 *	web	40 instances 10.0.0.1-40, ports 8001-8040, the first 5 tagged
 *		"primary"
 *	db	2 instances 2001:db8::1 and 2001:db8::2, port 5432
 *
 * test/dns/serve_dns.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "registry/dns.h"

typedef struct Instance
{
	const char *service;
	uint8_t addr[16];
	int addr_len;
	uint16_t port;
	bool primary;
} Instance;

#define NINST 42
static Instance inst[NINST];
static DnsZone zone;

static void
setup(void)
{
	int i;

	for (i = 0; i < 40; i++)
	{
		inst[i].service = "web";
		inst[i].addr[0] = 10;
		inst[i].addr[3] = (uint8_t) (i + 1);
		inst[i].addr_len = 4;
		inst[i].port = (uint16_t) (8001 + i);
		inst[i].primary = i < 5;
	}
	for (i = 40; i < 42; i++)
	{
		static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};

		inst[i].service = "db";
		memcpy(inst[i].addr, v6, 16);
		inst[i].addr[15] = (uint8_t) (i - 39);
		inst[i].addr_len = 16;
		inst[i].port = 5432;
	}
	if (!nagare_dns_zone_init(&zone, "consul", "dc1"))
		exit(1);
}

/* the answer to one message; 0 when nothing is to be sent */
static size_t
answer(const uint8_t *msg, size_t len, uint8_t *out, size_t cap, DnsTransport t)
{
	DnsQuery q;
	DnsAnswer a;
	DnsName n;
	DnsRcode rc = nagare_dns_parse_query(msg, len, &q);
	int i;
	bool found = false;

	if (rc == DNS_DROP || !nagare_dns_begin(&a, &q, &zone, t, 0, 1, out, cap))
		return 0;
	if (rc != DNS_NOERROR)
		return nagare_dns_finish(&a, rc);
	switch (nagare_dns_interpret(&q, &zone, &n))
	{
		case DNS_NAME_NOT_OURS:
			return nagare_dns_finish(&a, DNS_REFUSED);
		case DNS_NAME_INVALID:
			return nagare_dns_finish(&a, DNS_NXDOMAIN);
		case DNS_NAME_APEX:
			if (q.qtype == DNS_TYPE_SOA || q.qtype == DNS_TYPE_ANY)
				nagare_dns_add_soa(&a);
			return nagare_dns_finish(&a, DNS_NOERROR);
		case DNS_NAME_ADDR:
			nagare_dns_add_address(&a, n.addr, n.addr_len);
			return nagare_dns_finish(&a, DNS_NOERROR);
		case DNS_NAME_SERVICE:
		case DNS_NAME_SRV_RFC2782:
			for (i = 0; i < NINST; i++)
			{
				if (strcmp(inst[i].service, n.service) != 0 ||
					(n.tag[0] != '\0' &&
					 !(strcmp(n.tag, "primary") == 0 && inst[i].primary)))
					continue;
				found = true;
				if (!nagare_dns_add_instance(&a, inst[i].addr, inst[i].addr_len,
											 inst[i].port, 1))
					break;
			}
			return nagare_dns_finish(&a, found ? DNS_NOERROR : DNS_NXDOMAIN);
	}
	return 0;
}

static bool
read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0)
	{
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return false;
		p += r;
		n -= (size_t) r;
	}
	return true;
}

/* one TCP connection: length-prefixed messages until the client closes */
static void
serve_tcp(int fd)
{
	static uint8_t in[65536];
	static uint8_t out[2 + 65536];
	struct timeval tv = {2, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;)
	{
		uint8_t pre[2];
		long len;
		size_t n;

		if (!read_full(fd, pre, 2))
			break;
		len = nagare_dns_tcp_frame_length(pre, 2);
		if (len < 0 || !read_full(fd, in, (size_t) len))
			break;
		n = answer(in, (size_t) len, out + 2, sizeof(out) - 2, DNS_TCP);
		if (n == 0)
			break;
		nagare_dns_tcp_put_length(out, n);
		if (write(fd, out, n + 2) != (ssize_t) (n + 2))
			break;
	}
	close(fd);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	static uint8_t in[65536];
	static uint8_t out[65536];

	setup();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t) (argc > 1 ? atoi(argv[1]) : 0));
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* the TCP port first, then the same number for UDP */
	if (bind(t, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(t, 16) != 0 ||
		getsockname(t, (struct sockaddr *) &sa, &sl) != 0 ||
		bind(u, (struct sockaddr *) &sa, sizeof(sa)) != 0)
	{
		perror("serve_dns");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;)
	{
		struct pollfd p[2] = {{u, POLLIN, 0}, {t, POLLIN, 0}};

		if (poll(p, 2, 60000) <= 0)
			break;
		if (p[0].revents & POLLIN)
		{
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t r = recvfrom(u, in, sizeof(in), 0, (struct sockaddr *) &from, &fl);
			size_t n;

			if (r >= 0 && (n = answer(in, (size_t) r, out, sizeof(out), DNS_UDP)) > 0)
				sendto(u, out, n, 0, (struct sockaddr *) &from, fl);
		}
		if (p[1].revents & POLLIN)
		{
			int c = accept(t, NULL, NULL);

			if (c >= 0)
				serve_tcp(c);
		}
	}
	return 0;
}
