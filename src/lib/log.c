/* The library's log: one line per problem, through the program's callback
 * or, by default, on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

static const char *const level_names[] = {"error", "warning", "info",
                                          "debug"};

void lib_log(acgi_server *s, acgi_log_level level, const char *fmt, ...)
{
	if (level > s->log_max)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->log_fn) {
		s->log_fn(level, line, s->log_data);
		return;
	}
	/* One write per line, so that lines from several processes sharing
	 * stderr do not interleave. */
	char out[1200];
	int n = snprintf(out, sizeof(out), "anycgi[%d] %s: %s\n", (int)getpid(),
	                 level_names[level], line);
	if (n > (int)sizeof(out) - 1)
		n = (int)sizeof(out) - 1;
	if (n > 0)
		(void)!write(STDERR_FILENO, out, (size_t)n);
}
