/*-------------------------------------------------------------------------
 *
 * test_throttle_math.c
 *	  Checks of src/broker/throttle_math.h against values worked out by
 *	  hand from Kafka's Rate, SampledStat, QuotaUtils and TokenBucket, and
 *	  simulations of clients under a quota (obeying the throttle, or
 *	  pipelining without regard for it while the broker mutes them).
 *	  Prints one line per check, then "throttle: N passed, M failed".
 *
 * test/throttle/test_throttle_math.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker/throttle_math.h"

static int	passed = 0;
static int	failed = 0;

static void
check(int ok, const char *what, double got, double want)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s %s (got %.3f, want %.3f)\n", ok ? "ok" : "FAILED", what, got, want);
}

static void
check_near(const char *what, double got, double want, double tolerance)
{
	check(fabs(got - want) <= tolerance, what, got, want);
}

static NagareRate *
rate_new(int n)
{
	NagareRate *r = malloc(nagare_rate_size(n));

	nagare_rate_init(r, n);
	return r;
}

/*
 * A client sending size bytes per request as fast as the broker lets it,
 * for seconds, against bound bytes/s: after each request the connection is
 * muted for the throttle (KIP-219), so the next request is handled then
 * (plus gap_ms of the client's own).  Returns the bytes per second
 * achieved over the window_s-second span (from the 20th second on) that is
 * farthest from the bound.  kafka_only: without nagare's hold on the
 * current window.
 */
static double
simulate(double bound, double size, int64_t gap_ms, int seconds, int window_s, bool kafka_only)
{
	NagareRate *r = rate_new(11);
	int64_t		now = 0;
	int64_t		end = (int64_t) seconds * 1000;
	double		persec[600] = {0};
	double		worst = -1;

	while (now < end)
	{
		int64_t		w;
		double		rate;
		int32_t		ms;

		nagare_rate_record(r, size, now, 1000);
		persec[now / 1000] += size;
		if (kafka_only)
		{
			rate = nagare_rate_measure(r, now, 1000, &w);
			ms = nagare_throttle_ms(rate, bound, w, 0);
		}
		else
			ms = nagare_rate_throttle(r, bound, now, 1000, 0);
		now += ms + gap_ms;
	}
	free(r);
	/* every window_s span from the 20th second on: the one farthest off */
	for (int s = 20; s + window_s <= seconds; s++)
	{
		double		sent = 0;

		for (int i = s; i < s + window_s; i++)
			sent += persec[i];
		sent /= window_s;
		if (worst < 0 || fabs(sent - bound) > fabs(worst - bound))
			worst = sent;
	}
	return worst;
}

int
main(void)
{
	NagareRate *r = rate_new(11);
	NagareTokenBucket b = {0};
	int64_t		w;
	double		rate;

	/* one record: the window is padded to samples - 1 = 10 windows */
	nagare_rate_record(r, 1000, 0, 1000);
	rate = nagare_rate_measure(r, 0, 1000, &w);
	check(w == 10000, "window of a first record is 10 s", (double) w, 10000);
	check_near("rate of 1000 bytes over it", rate, 100, 1e-9);
	check(nagare_throttle_ms(rate, 50, w, 0) == 10000,
		  "throttle (100-50)/50*10000", nagare_throttle_ms(rate, 50, w, 0), 10000);
	check(nagare_throttle_ms(rate, 100, w, 0) == 0, "no throttle at the bound",
		  nagare_throttle_ms(rate, 100, w, 0), 0);
	check(nagare_throttle_ms(rate, 50, w, 1000) == 1000, "bounded throttle (request quota)",
		  nagare_throttle_ms(rate, 50, w, 1000), 1000);
	check(nagare_throttle_ms(rate, 0, w, 0) == 0, "no bound, no throttle",
		  nagare_throttle_ms(rate, 0, w, 0), 0);

	/* windows advance; after 12.5 s the window is 12.5 s - start of oldest */
	nagare_rate_record(r, 1000, 1500, 1000);	/* second sample starts at 1500 */
	nagare_rate_record(r, 1000, 2000, 1000);	/* same window (1500 + 1000 > 2000) */
	check(r->used == 2, "two samples in use", r->used, 2);
	rate = nagare_rate_measure(r, 2000, 1000, &w);
	check(w == 10000, "window still padded at 2 s", (double) w, 10000);
	check_near("rate 3000 bytes / 10 s", rate, 300, 1e-9);
	rate = nagare_rate_measure(r, 10999, 1000, &w);
	check(w == 10999, "window beyond 10 full windows is elapsed time", (double) w, 10999);
	/* 11 s after the first sample began it is purged */
	rate = nagare_rate_measure(r, 11000, 1000, &w);
	check_near("first sample purged at 11 s (window 10.5 s)", rate, 2000.0 / 10.5, 1e-9);
	rate = nagare_rate_measure(r, 12500, 1000, &w);
	check_near("all purged at 12.5 s", rate, 0, 1e-9);

	/* the list wraps after 11 samples */
	nagare_rate_init(r, 11);
	for (int i = 0; i < 30; i++)
		nagare_rate_record(r, 1, (int64_t) i * 1000, 1000);
	rate = nagare_rate_measure(r, 29000, 1000, &w);
	check(r->used == 11, "at most 11 samples", r->used, 11);
	check_near("steady 1/s measures 11 samples over 10 s", rate, 1.1, 1e-9);

	/* clients under a quota: achieved rate within 10% over every 10 s */
	check_near("producer, 100 kB/s, 16 kB requests back to back",
			   simulate(100000, 16384, 0, 120, 10, false), 100000, 10000);
	check_near("producer, 100 kB/s, 16 kB requests, 5 ms apart",
			   simulate(100000, 16384, 5, 120, 10, false), 100000, 10000);
	check_near("producer, 1 MB/s, 64 kB requests",
			   simulate(1000000, 65536, 1, 120, 10, false), 1000000, 100000);
	check_near("producer, 1 MB/s, 1 MB requests",
			   simulate(1000000, 1048576, 1, 120, 10, false), 1000000, 100000);
	check_near("client 10x over its quota, 500 B requests 1 ms apart",
			   simulate(50000, 500, 1, 120, 10, false), 50000, 5000);
	/* Kafka's arithmetic alone lets a greedy client burst (see throttle_math.h) */
	check(simulate(100000, 16384, 0, 120, 10, true) < 50000,
		  "Kafka's rate alone: some 10 s span far below the bound",
		  simulate(100000, 16384, 0, 120, 10, true), 13107);

	/* the hold on the current window */
	nagare_rate_init(r, 11);
	nagare_rate_record(r, 150, 0, 1000);
	check(nagare_rate_throttle(r, 100, 0, 1000, 0) == 1500,
		  "150 at once against 100/s: held 1000 + 500 ms",
		  nagare_rate_throttle(r, 100, 0, 1000, 0), 1500);
	check(nagare_rate_throttle(r, 100, 400, 1000, 0) == 1100, "400 ms later: 1100 ms",
		  nagare_rate_throttle(r, 100, 400, 1000, 0), 1100);
	check(nagare_rate_throttle(r, 100, 0, 1000, 800) == 800, "capped at 800 ms",
		  nagare_rate_throttle(r, 100, 0, 1000, 800), 800);
	check(nagare_rate_throttle(r, 200, 0, 1000, 0) == 0, "within the bound: none",
		  nagare_rate_throttle(r, 200, 0, 1000, 0), 0);

	/* token bucket: 10/s, burst 10 * 11 * 1 s = 110 */
	nagare_bucket_refill(&b, 10, 11, 1000, 0);
	check_near("bucket starts full", b.tokens, 110, 1e-9);
	nagare_bucket_take(&b, 120, 10, 11, 1000, 0);
	check_near("overdrawn by 10", b.tokens, -10, 1e-9);
	check(nagare_bucket_throttle_ms(&b, 10) == 1000, "throttle -(-10)/10*1000",
		  nagare_bucket_throttle_ms(&b, 10), 1000);
	nagare_bucket_refill(&b, 10, 11, 1000, 500);
	check_near("refilled 5 in 500 ms", b.tokens, -5, 1e-9);
	nagare_bucket_refill(&b, 10, 11, 1000, 100000);
	check_near("refill stops at the burst", b.tokens, 110, 1e-9);
	check(nagare_bucket_throttle_ms(&b, 10) == 0, "no throttle with credits",
		  nagare_bucket_throttle_ms(&b, 10), 0);

	free(r);
	printf("throttle: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
