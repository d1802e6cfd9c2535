/* The master's log: one line per event, with a level and the pool, in one
 * write so that lines never interleave. On stderr by default, with no
 * decoration beyond "anycgi[PID] LEVEL pool NAME: " (journald and
 * container runtimes add their own time); to a file with --log, with a
 * timestamp first, reopened on SIGUSR1 for logrotate. */
#ifndef ACGI_MANAGER_MLOG_H
#define ACGI_MANAGER_MLOG_H

/* Opens FILE for appending and makes it fd 2, so that the master's lines
 * and the workers' captured stderr both go there. NULL: stay on stderr.
 * Returns 0, or -1 with errno. */
int mlog_open(const char *file);

/* Reopens the file after logrotate moved it (SIGUSR1); no-op on stderr. */
void mlog_reopen(void);

/* pool may be NULL (the master itself). */
void mlog(const char *level, const char *pool, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes one already formatted line (no newline) with the prefix; used
 * for workers' stderr lines, which are never cut. */
void mlog_line(const char *prefix, const char *text, size_t len);

#endif
