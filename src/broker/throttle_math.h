/*-------------------------------------------------------------------------
 *
 * throttle_math.h
 *	  The arithmetic of Kafka's client quotas, exactly as Kafka's metrics
 *	  library does it: a sampled rate (Rate over a SampledStat of
 *	  quota.window.num windows of quota.window.size), the throttle time of
 *	  a rate over its bound, and the token bucket of KIP-599.
 *
 * The one departure from Kafka is the hold on the current window
 * (nagare_rate_throttle), explained there.
 *
 * Sources (apache/kafka): clients/.../metrics/stats/SampledStat.java
 * (record, advance, purgeObsoleteSamples, oldest), Rate.java (measure,
 * windowSize), server-common/.../quota/QuotaUtils.java (throttleTime,
 * boundedThrottleTime), clients/.../metrics/stats/TokenBucket.java, and
 * ControllerMutationQuotaManager.scala (throttleTime of a token bucket).
 *
 * No postgres.h: plain C99, so that test/throttle checks it standalone.
 * Times are milliseconds; a rate is per second.  Not thread-safe: the
 * broker's loop is the only user.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_THROTTLE_MATH_H
#define NAGARE_BROKER_THROTTLE_MATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* One window of a sampled rate (Kafka's SampledStat.Sample) */
typedef struct NagareRateSample
{
	int64_t		start_ms;		/* lastWindowMs: when the window began */
	double		value;			/* what was recorded in it */
} NagareRateSample;

/*
 * A sampled rate: samples[0..used) of at most nsamples, the current one at
 * current.  Kafka grows the list as windows pass and reuses the oldest once
 * it holds nsamples; so does this.
 */
typedef struct NagareRate
{
	int			nsamples;		/* quota.window.num */
	int			used;
	int			current;
	NagareRateSample samples[];
} NagareRate;

/* bytes for a NagareRate of n samples */
static inline size_t
nagare_rate_size(int n)
{
	return sizeof(NagareRate) + (size_t) n * sizeof(NagareRateSample);
}

static inline void
nagare_rate_init(NagareRate *r, int n)
{
	r->nsamples = n;
	r->used = 0;
	r->current = 0;
}

/* samples older than nsamples windows start again, empty, at now */
static inline void
nagare_rate_purge(NagareRate *r, int64_t now, int64_t window_ms)
{
	int64_t		expire = (int64_t) r->nsamples * window_ms;

	for (int i = 0; i < r->used; i++)
		if (now - r->samples[i].start_ms >= expire)
		{
			r->samples[i].start_ms = now;
			r->samples[i].value = 0;
		}
}

/* Record value at now (SampledStat.record) */
static inline void
nagare_rate_record(NagareRate *r, double value, int64_t now, int64_t window_ms)
{
	NagareRateSample *s;

	if (r->used == 0)
	{
		r->samples[0].start_ms = now;
		r->samples[0].value = 0;
		r->used = 1;
		r->current = 0;
	}
	s = &r->samples[r->current];
	if (now - s->start_ms >= window_ms)
	{
		/* the window is complete: advance */
		r->current = (r->current + 1) % r->nsamples;
		if (r->current >= r->used)
			r->used = r->current + 1;
		s = &r->samples[r->current];
		s->start_ms = now;
		s->value = 0;
	}
	s->value += value;
}

/*
 * The time the rate is measured over, ms (Rate.windowSize): since the
 * oldest sample began, but at least nsamples - 1 whole windows, and at
 * least 1 ms.  Purges first, as Kafka does.
 */
static inline int64_t
nagare_rate_window(NagareRate *r, int64_t now, int64_t window_ms)
{
	int64_t		oldest = now;
	int64_t		elapsed;
	int64_t		full;
	int64_t		min_full = r->nsamples - 1;

	nagare_rate_purge(r, now, window_ms);
	for (int i = 0; i < r->used; i++)
		if (r->samples[i].start_ms < oldest)
			oldest = r->samples[i].start_ms;
	elapsed = now - oldest;
	full = elapsed / window_ms;
	if (full < min_full)
		elapsed += (min_full - full) * window_ms;
	return elapsed > 1 ? elapsed : 1;
}

/* The rate now, per second (Rate.measure with SampledTotal) */
static inline double
nagare_rate_measure(NagareRate *r, int64_t now, int64_t window_ms, int64_t *window_out)
{
	int64_t		w = nagare_rate_window(r, now, window_ms);
	double		total = 0;

	for (int i = 0; i < r->used; i++)
		total += r->samples[i].value;
	if (window_out)
		*window_out = w;
	return total / ((double) w / 1000.0);
}

/*
 * The throttle, ms, of a rate over bound (QuotaUtils.throttleTime):
 * (rate - bound) / bound * window, rounded; 0 while rate <= bound.
 * max_ms > 0 caps it (boundedThrottleTime, for request_percentage).
 */
static inline int32_t
nagare_throttle_ms(double rate, double bound, int64_t window, int64_t max_ms)
{
	double		ms;

	if (bound <= 0 || !(rate > bound))
		return 0;
	ms = round((rate - bound) / bound * (double) window);
	if (max_ms > 0 && ms > (double) max_ms)
		ms = (double) max_ms;
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	return (int32_t) ms;
}

/*
 * The throttle, ms, of rate r against bound now (r recorded first, as
 * Kafka does): the larger of
 *
 * - Kafka's: the rate over the quota window above the bound, as
 *   nagare_throttle_ms();
 * - nagare's hold on the current window: a window (quota.window.size)
 *   holds at most one window's worth of the bound; a client over that is
 *   held until the window ends and the excess is paid back at the bound.
 *
 * Kafka alone pads a young window to samples - 1 windows, so a client that
 * was idle may send ten windows' worth at once; a greedy client then
 * alternates such bursts with mutes of about ten seconds, every eleven
 * seconds, and no ten-second span sees the bound (test/throttle simulates
 * it).  The hold keeps each window at the bound, and so every span of
 * windows.  max_ms > 0 caps the result (request_percentage).
 */
static inline int32_t
nagare_rate_throttle(NagareRate *r, double bound, int64_t now, int64_t window_ms,
					 int64_t max_ms)
{
	int64_t		w;
	double		rate;
	int32_t		ms;
	const NagareRateSample *s;
	double		allowed;

	if (bound <= 0)
		return 0;
	rate = nagare_rate_measure(r, now, window_ms, &w);
	ms = nagare_throttle_ms(rate, bound, w, 0);
	s = &r->samples[r->current];
	allowed = bound * ((double) window_ms / 1000.0);
	if (r->used > 0 && s->value > allowed && now - s->start_ms < window_ms)
	{
		double		hold = (double) (s->start_ms + window_ms - now) +
			(s->value - allowed) / bound * 1000.0;

		if (hold > INT32_MAX)
			hold = INT32_MAX;
		if ((int32_t) round(hold) > ms)
			ms = (int32_t) round(hold);
	}
	if (max_ms > 0 && ms > max_ms)
		ms = (int32_t) max_ms;
	return ms;
}

/* A token bucket (KIP-599, TokenBucket.java): starts full */
typedef struct NagareTokenBucket
{
	double		tokens;
	int64_t		last_ms;
	bool		started;
} NagareTokenBucket;

/* credits refill at rate per second up to burst = rate * nsamples * window */
static inline void
nagare_bucket_refill(NagareTokenBucket *b, double rate, int nsamples, int64_t window_ms,
					 int64_t now)
{
	double		burst = rate * nsamples * ((double) window_ms / 1000.0);

	if (!b->started)
	{
		b->tokens = burst;
		b->started = true;
	}
	else if (now > b->last_ms)
		b->tokens += rate * ((double) (now - b->last_ms) / 1000.0);
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ms = now;
}

/* take permits (may go below zero) */
static inline void
nagare_bucket_take(NagareTokenBucket *b, double permits, double rate, int nsamples,
				   int64_t window_ms, int64_t now)
{
	nagare_bucket_refill(b, rate, nsamples, window_ms, now);
	b->tokens -= permits;
}

/* the throttle of an overdrawn bucket, ms: -tokens / rate * 1000 */
static inline int32_t
nagare_bucket_throttle_ms(const NagareTokenBucket *b, double rate)
{
	double		ms;

	if (rate <= 0 || b->tokens >= 0)
		return 0;
	ms = round(-b->tokens / rate * 1000.0);
	return ms > INT32_MAX ? INT32_MAX : (int32_t) ms;
}

#endif							/* NAGARE_BROKER_THROTTLE_MATH_H */
