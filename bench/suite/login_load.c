/*
 * login_load: a storm of SASL/SCRAM-SHA-256 logins against a Kafka
 * listener, in C (suite/login_load.py does the same in Python, and PLAIN).
 *
 * Opens connections at a steady rate and on each: SaslHandshake v1
 * (SCRAM-SHA-256), the two SaslAuthenticate v0 round trips of RFC 5802,
 * then closes.  A login counts only if the server's final message (v=)
 * verifies, so the server proved it knows the password's verifier.  The
 * salted password is derived once per salt: PBKDF2 is the client's cost,
 * and a fleet of clients logging in runs on machines of its own.  For the
 * same reason this generator is in C and single-threaded (epoll): the
 * Python one needs about half a CPU for 500 logins/s, which on the
 * broker's own machine comes out of the broker's and its producers' share.
 *
 *   login_load -H 127.0.0.1:9093 -u alice -p secret -r 500 -d 10
 *
 * Prints one JSON line: rate asked and achieved, logins ok and failed,
 * login latency percentiles (ms, connect to verified final message), its
 * own CPU time.  Built by bench/suite/suite.py: cc -O2 ... -lcrypto -lm.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXMSG 4096

typedef struct Login
{
	int			fd;
	int			step;			/* 0 handshake, 1 first, 2 final */
	double		t0;
	char		cnonce[32];
	char		first_bare[256];
	char		expected[64];	/* base64 ServerSignature */
	unsigned char in[MAXMSG];
	size_t		inlen;
} Login;

static const char *user,
		   *password;
static struct sockaddr_in addr;
static double timeout_s = 10;
static long nok,
			nfailed;
static double *lat;
static long nlat,
			cap;
/* derived from the password once per "salt,iterations" (salted_for) */
static unsigned char salted[32],
			client_key[32],
			stored_key[32],
			server_key[32];
static char salted_for[256];

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
b64(const unsigned char *in, int len, char *out)
{
	EVP_EncodeBlock((unsigned char *) out, in, len);
}

/* a request frame: size, api key, version, correlation id, client id, body */
static int
send_frame(int fd, int api, int version, int corr, const void *body, size_t blen)
{
	unsigned char buf[MAXMSG];
	const char *cid = "login_load";
	size_t		n = 4;
	uint32_t	size;

	buf[n++] = api >> 8, buf[n++] = api;
	buf[n++] = version >> 8, buf[n++] = version;
	buf[n++] = corr >> 24, buf[n++] = corr >> 16, buf[n++] = corr >> 8, buf[n++] = corr;
	buf[n++] = 0, buf[n++] = strlen(cid);
	memcpy(buf + n, cid, strlen(cid));
	n += strlen(cid);
	memcpy(buf + n, body, blen);
	n += blen;
	size = htonl(n - 4);
	memcpy(buf, &size, 4);
	/* small: the socket buffer takes it whole */
	return send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t) n ? 0 : -1;
}

static int
send_auth(Login *l, int corr, const char *token)
{
	unsigned char body[1024];
	uint32_t	len = htonl(strlen(token));

	memcpy(body, &len, 4);
	memcpy(body + 4, token, strlen(token));
	return send_frame(l->fd, 36, 0, corr, body, 4 + strlen(token));
}

static void
finish(Login *l, int epfd, int ok)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	if (ok)
	{
		if (nlat == cap)
			lat = realloc(lat, sizeof(double) * (cap = cap ? 2 * cap : 1024));
		lat[nlat++] = (now() - l->t0) * 1000.0;
		nok++;
	}
	else
		nfailed++;
	free(l);
}

/* the client-final-message for server_first (NULL if it does not parse) */
static int
client_final(Login *l, const char *server_first, char *out)
{
	const char *r = strstr(server_first, "r="),
			   *s = strstr(server_first, ",s="),
			   *i = strstr(server_first, ",i=");
	char		nonce[256],
				salt64[128],
				key[300],
				without[300],
				auth[1024];
	unsigned char salt[96],
				sig[32],
				proof[32],
				server_sig[32];
	unsigned int mlen;
	int			iters,
				saltlen,
				k;
	char		proof64[64];

	if (!r || !s || !i || r != server_first)
		return -1;
	snprintf(nonce, sizeof(nonce), "%.*s", (int) (s - r - 2), r + 2);
	snprintf(salt64, sizeof(salt64), "%.*s", (int) (i - s - 3), s + 3);
	iters = atoi(i + 3);
	if (strncmp(nonce, l->cnonce, strlen(l->cnonce)) != 0)
		return -1;
	snprintf(key, sizeof(key), "%s,%d", salt64, iters);
	if (strcmp(key, salted_for) != 0)
	{
		saltlen = EVP_DecodeBlock(salt, (const unsigned char *) salt64, strlen(salt64));
		if (saltlen < 0)
			return -1;
		saltlen -= (salt64[strlen(salt64) - 1] == '=') + (salt64[strlen(salt64) - 2] == '=');
		PKCS5_PBKDF2_HMAC(password, strlen(password), salt, saltlen, iters, EVP_sha256(), 32, salted);
		HMAC(EVP_sha256(), salted, 32, (const unsigned char *) "Client Key", 10, client_key, &mlen);
		SHA256(client_key, 32, stored_key);
		HMAC(EVP_sha256(), salted, 32, (const unsigned char *) "Server Key", 10, server_key, &mlen);
		strcpy(salted_for, key);
	}
	snprintf(without, sizeof(without), "c=biws,r=%s", nonce);
	snprintf(auth, sizeof(auth), "%s,%s,%s", l->first_bare, server_first, without);
	HMAC(EVP_sha256(), stored_key, 32, (unsigned char *) auth, strlen(auth), sig, &mlen);
	for (k = 0; k < 32; k++)
		proof[k] = client_key[k] ^ sig[k];
	HMAC(EVP_sha256(), server_key, 32, (unsigned char *) auth, strlen(auth), server_sig, &mlen);
	b64(server_sig, 32, l->expected);
	b64(proof, 32, proof64);
	sprintf(out, "%s,p=%s", without, proof64);
	return 0;
}

/* a whole response frame: the next step; 1 when the login is over (l freed) */
static int
on_response(Login *l, int epfd, const unsigned char *resp, size_t len)
{
	int16_t		err;
	int16_t		mlen;
	int32_t		blen;
	size_t		pos;
	char		bytes[1024],
				final[1024];

	/* correlation id, error code */
	if (len < 6)
	{
		finish(l, epfd, 0);
		return 1;
	}
	err = (int16_t) (resp[4] << 8 | resp[5]);
	if (err != 0)
	{
		finish(l, epfd, 0);
		return 1;
	}
	if (l->step == 0)
	{
		char		first[300];

		snprintf(first, sizeof(first), "n,,%s", l->first_bare);
		l->step = 1;
		if (send_auth(l, 2, first) < 0)
			finish(l, epfd, 0);
		return 1;
	}
	/* error message (nullable string), auth bytes */
	mlen = (int16_t) (resp[6] << 8 | resp[7]);
	pos = 8 + (mlen > 0 ? mlen : 0);
	if (pos + 4 > len)
	{
		finish(l, epfd, 0);
		return 1;
	}
	blen = (int32_t) ((uint32_t) resp[pos] << 24 | resp[pos + 1] << 16 | resp[pos + 2] << 8 | resp[pos + 3]);
	if (blen < 0 || pos + 4 + blen > len || blen >= (int) sizeof(bytes))
	{
		finish(l, epfd, 0);
		return 1;
	}
	memcpy(bytes, resp + pos + 4, blen);
	bytes[blen] = '\0';
	if (l->step == 1)
	{
		l->step = 2;
		if (client_final(l, bytes, final) < 0 || send_auth(l, 3, final) < 0)
			finish(l, epfd, 0);
		return 1;
	}
	finish(l, epfd, strncmp(bytes, "v=", 2) == 0 && strcmp(bytes + 2, l->expected) == 0);
	return 1;
}

static void
start_login(int epfd)
{
	Login	   *l = calloc(1, sizeof(Login));
	unsigned char raw[18];
	struct epoll_event ev;
	int			one = 1;
	unsigned char body[64];
	const char *mech = "SCRAM-SHA-256";
	int			k;

	l->t0 = now();
	/* unique, not secret: a load generator's nonce */
	for (k = 0; k < (int) sizeof(raw); k++)
		raw[k] = random();
	b64(raw, sizeof(raw), l->cnonce);
	snprintf(l->first_bare, sizeof(l->first_bare), "n=%s,r=%s", user, l->cnonce);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* a blocking connect on loopback is immediate; then non-blocking */
	if (connect(l->fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
	{
		close(l->fd);
		free(l);
		nfailed++;
		return;
	}
	fcntl(l->fd, F_SETFL, O_NONBLOCK);
	ev.events = EPOLLIN;
	ev.data.ptr = l;
	epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &ev);
	/* SaslHandshake v1: mechanism */
	body[0] = 0, body[1] = strlen(mech);
	memcpy(body + 2, mech, strlen(mech));
	if (send_frame(l->fd, 17, 1, 1, body, 2 + strlen(mech)) < 0)
		finish(l, epfd, 0);
}

static int
cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	double		rate = 500,
				duration = 10,
				start,
				elapsed,
				cpu;
	long		n,
				started = 0;
	int			epfd,
				c;
	char		host[256] = "127.0.0.1";
	int			port = 9092;
	struct rusage ru;

	while ((c = getopt(argc, argv, "H:u:p:r:d:t:")) != -1)
	{
		switch (c)
		{
			case 'H':
				{
					char	   *colon = strrchr(optarg, ':');

					if (!colon)
						return 2;
					snprintf(host, sizeof(host), "%.*s", (int) (colon - optarg), optarg);
					port = atoi(colon + 1);
					break;
				}
			case 'u':
				user = optarg;
				break;
			case 'p':
				password = optarg;
				break;
			case 'r':
				rate = atof(optarg);
				break;
			case 'd':
				duration = atof(optarg);
				break;
			case 't':
				timeout_s = atof(optarg);
				break;
			default:
				fprintf(stderr, "usage: login_load -H host:port -u user -p password [-r per_s] [-d s]\n");
				return 2;
		}
	}
	if (!user || !password)
		return 2;
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	inet_pton(AF_INET, host, &addr.sin_addr);
	epfd = epoll_create1(0);
	n = (long) (rate * duration);
	start = now();
	while (nok + nfailed < n)
	{
		struct epoll_event evs[64];
		double		t = now();
		int			wait_ms,
					k,
					got;

		while (started < n && start + started / rate <= t)
		{
			start_login(epfd);
			started++;
		}
		if (t - start > duration + timeout_s)
			break;				/* the rest timed out */
		/* rounded up: a 0 ms wait would spin */
		wait_ms = started < n ? (int) ceil((start + started / rate - t) * 1000) : 100;
		got = epoll_wait(epfd, evs, 64, wait_ms < 0 ? 0 : wait_ms);
		for (k = 0; k < got; k++)
		{
			Login	   *l = evs[k].data.ptr;
			ssize_t		r = recv(l->fd, l->in + l->inlen, sizeof(l->in) - l->inlen, 0);

			if (r <= 0)
			{
				if (r < 0 && errno == EAGAIN)
					continue;
				finish(l, epfd, 0);
				continue;
			}
			l->inlen += r;
			for (;;)
			{
				uint32_t	size;

				if (l->inlen < 4)
					break;
				size = ntohl(*(uint32_t *) l->in);
				if (size + 4 > sizeof(l->in))
				{
					finish(l, epfd, 0);
					break;
				}
				if (l->inlen < size + 4)
					break;
				{
					unsigned char resp[MAXMSG];
					size_t		rest = l->inlen - size - 4;

					memcpy(resp, l->in + 4, size);
					memmove(l->in, l->in + 4 + size, rest);
					l->inlen = rest;
					if (on_response(l, epfd, resp, size))
						break;	/* over: l is freed */
				}
			}
		}
	}
	elapsed = now() - start;
	nfailed += n - nok - nfailed;	/* timed out */
	qsort(lat, nlat, sizeof(double), cmp);
	getrusage(RUSAGE_SELF, &ru);
	cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
#define PCT(p) (nlat ? lat[(long) ((p) / 100.0 * nlat) < nlat ? (long) ((p) / 100.0 * nlat) : nlat - 1] : -1)
	printf("{\"rate_asked\": %g, \"rate_ok\": %.1f, \"ok\": %ld, \"cpu_s\": %.2f, \"failed\": %ld, "
		   "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"seconds\": %.2f}\n",
		   rate, nok / elapsed, nok, cpu, nfailed, PCT(50), PCT(99), nlat ? lat[nlat - 1] : -1, elapsed);
	return nfailed ? 1 : 0;
}
