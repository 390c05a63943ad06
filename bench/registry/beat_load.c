/*
 * beat_load: instances passing their TTL checks over Consul's HTTP API at a
 * steady rate, as service instances do (PUT /v1/agent/check/pass/service:<id>).
 *
 *   beat_load -H 127.0.0.1:8500 -n 10000 -P bench- -r 2000 -c 4 -d 10 [-u user:password]
 *
 * -n instances named <prefix>0 .. <prefix>(n-1), each beaten in turn; -r
 * beats a second in all over -c keep-alive connections (one thread each,
 * each paced to r/c a second from its start, catching up when late, so a
 * slow server shows as latency, not as a lower offered rate); -d seconds;
 * -u Basic credentials.  Prints one JSON line: beats sent, answered 200,
 * other answers, the rate achieved, and the latency of a beat (p50, p99,
 * max, in microseconds).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host = "127.0.0.1";
static int port = 8500;
static int instances = 10000;
static const char *prefix = "bench-";
static double rate = 2000;
static int conns = 4;
static double seconds = 10;
static char auth_header[512] = "";

typedef struct Worker
{
	int index;
	long sent;
	long ok;
	long other;
	long nlat;
	uint32_t *lat; /* microseconds */
} Worker;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
connect_to(void)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, host, &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0)
	{
		perror("beat_load: connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Read one response (head and Content-Length body); its status, or -1 */
static int
read_response(int fd, char *buf, size_t cap)
{
	size_t have = 0;

	for (;;)
	{
		ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
		char *end;

		if (n <= 0)
			return -1;
		have += n;
		buf[have] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
		{
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
			size_t need = (end + 4 - buf) + body;

			while (have < need)
			{
				n = recv(fd, buf + have, cap - 1 - have, 0);
				if (n <= 0)
					return -1;
				have += n;
			}
			return atoi(buf + 9);
		}
		if (have >= cap - 1)
			return -1;
	}
}

static void *
run(void *arg)
{
	Worker *w = arg;
	double per = rate / conns;
	double start = now_s();
	int fd = connect_to();
	char req[1024];
	char buf[8192];
	long i = 0;
	long cap = (long) (per * seconds) + 16;

	w->lat = malloc(sizeof(uint32_t) * cap);
	for (;;)
	{
		double due = start + i / per;
		double t = now_s();
		int id = (int) ((i * conns + w->index) % instances);
		int len;
		int status;

		if (due - start >= seconds)
			break;
		if (t < due)
		{
			struct timespec ts;
			double d = due - t;

			ts.tv_sec = (time_t) d;
			ts.tv_nsec = (long) ((d - ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
		len = snprintf(req, sizeof(req),
					   "PUT /v1/agent/check/pass/service:%s%d HTTP/1.1\r\nHost: %s\r\n%s"
					   "Content-Length: 0\r\n\r\n",
					   prefix, id, host, auth_header);
		t = now_s();
		if (send(fd, req, len, MSG_NOSIGNAL) != len)
		{
			perror("beat_load: send");
			exit(1);
		}
		status = read_response(fd, buf, sizeof(buf));
		if (status < 0)
		{
			/* the server closed: count it and connect again */
			w->other++;
			close(fd);
			fd = connect_to();
		}
		else if (status == 200)
			w->ok++;
		else
			w->other++;
		if (w->nlat < cap)
			w->lat[w->nlat++] = (uint32_t) ((now_s() - t) * 1e6);
		w->sent++;
		i++;
	}
	close(fd);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a;
	uint32_t y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

static void
base64(const char *in, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in);
	size_t i;

	for (i = 0; i + 2 < n; i += 3)
	{
		*out++ = t[(unsigned char) in[i] >> 2];
		*out++ = t[((in[i] & 3) << 4) | ((unsigned char) in[i + 1] >> 4)];
		*out++ = t[((in[i + 1] & 15) << 2) | ((unsigned char) in[i + 2] >> 6)];
		*out++ = t[in[i + 2] & 63];
	}
	if (i < n)
	{
		*out++ = t[(unsigned char) in[i] >> 2];
		if (i + 1 < n)
		{
			*out++ = t[((in[i] & 3) << 4) | ((unsigned char) in[i + 1] >> 4)];
			*out++ = t[(in[i + 1] & 15) << 2];
		}
		else
		{
			*out++ = t[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

int
main(int argc, char **argv)
{
	int opt;
	Worker *ws;
	pthread_t *th;
	long sent = 0, ok = 0, other = 0, nlat = 0;
	uint32_t *all;
	double t0;
	double took;

	while ((opt = getopt(argc, argv, "H:n:P:r:c:d:u:")) != -1)
	{
		switch (opt)
		{
			case 'H':
			{
				char *colon = strrchr(optarg, ':');

				if (colon == NULL)
					return 2;
				*colon = '\0';
				host = optarg;
				port = atoi(colon + 1);
				break;
			}
			case 'n':
				instances = atoi(optarg);
				break;
			case 'P':
				prefix = optarg;
				break;
			case 'r':
				rate = atof(optarg);
				break;
			case 'c':
				conns = atoi(optarg);
				break;
			case 'd':
				seconds = atof(optarg);
				break;
			case 'u':
			{
				char b64[400];

				if (strlen(optarg) > 290)
					return 2;
				base64(optarg, b64);
				snprintf(auth_header, sizeof(auth_header), "Authorization: Basic %s\r\n",
						 b64);
				break;
			}
			default:
				fprintf(stderr,
						"usage: beat_load -H host:port -n instances -P prefix -r rate -c conns -d seconds [-u user:password]\n");
				return 2;
		}
	}
	ws = calloc(conns, sizeof(Worker));
	th = calloc(conns, sizeof(pthread_t));
	t0 = now_s();
	for (int i = 0; i < conns; i++)
	{
		ws[i].index = i;
		pthread_create(&th[i], NULL, run, &ws[i]);
	}
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	took = now_s() - t0;
	for (int i = 0; i < conns; i++)
	{
		sent += ws[i].sent;
		ok += ws[i].ok;
		other += ws[i].other;
		nlat += ws[i].nlat;
	}
	all = malloc(sizeof(uint32_t) * (nlat + 1));
	nlat = 0;
	for (int i = 0; i < conns; i++)
	{
		memcpy(all + nlat, ws[i].lat, sizeof(uint32_t) * ws[i].nlat);
		nlat += ws[i].nlat;
	}
	qsort(all, nlat, sizeof(uint32_t), cmp_u32);
	printf("{\"sent\": %ld, \"ok\": %ld, \"other\": %ld, \"rate\": %.0f, "
		   "\"p50_us\": %u, \"p99_us\": %u, \"max_us\": %u}\n",
		   sent, ok, other, sent / took, nlat ? all[nlat / 2] : 0,
		   nlat ? all[(long) (nlat * 0.99)] : 0, nlat ? all[nlat - 1] : 0);
	return 0;
}
