/* The master's two clocks: CLOCK_MONOTONIC milliseconds for deadlines
 * (the library's loop_now_ms, shared with the workers' scoreboards) and
 * the wall clock for what status shows. */
#ifndef ACGI_MANAGER_CLOCK_H
#define ACGI_MANAGER_CLOCK_H

#include <time.h>

#include "internal.h"

static inline long long mono_ms(void)
{
	return loop_now_ms();
}

static inline double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
