/*
 * hiccup.c: how long this machine keeps a runnable thread waiting.
 *
 *   cc -O2 -o /tmp/hiccup bench/dns/hiccup.c && /tmp/hiccup 10 sleep
 *
 * "sleep": sleeps 100 µs at a time and counts the wake-ups that came more
 * than 0.5 and 1 ms late (an idle virtual CPU that takes long to run again
 * shows here); "spin": reads the clock in a loop and counts the gaps (time
 * the thread was not running at all: the host or other threads took the
 * CPU).  Used for the DNS server's tail in docs/performance.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
	double start = now_ms(), prev = start, worst = 0;
	long n = 0, over_half = 0, over_one = 0;

	for (;;)
	{
		double t, late;

		if (!spin)
		{
			struct timespec s = {0, 100000};

			nanosleep(&s, NULL);
		}
		t = now_ms();
		late = t - prev - (spin ? 0 : 0.1);
		worst = late > worst ? late : worst;
		over_half += late > 0.5;
		over_one += late > 1;
		prev = t;
		n++;
		if (t - start > seconds * 1000)
			break;
	}
	printf("%s: %ld rounds in %.0f s, late by more than 0.5 ms: %ld, more than 1 ms: %ld, at most %.2f ms\n",
		   spin ? "spin" : "sleep 100 us", n, seconds, over_half, over_one, worst);
	return 0;
}
