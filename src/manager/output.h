/* Workers' stderr, captured into the master's log a line at a time with
 * the worker's pid (PHP-FPM's catch_workers_output). */
#ifndef ACGI_MANAGER_OUTPUT_H
#define ACGI_MANAGER_OUTPUT_H

#include <stddef.h>
#include <sys/types.h>

enum { OUTPUT_LINE_MAX = 16384 }; /* longer lines are passed on in pieces */

struct worker_output {
	int fd;                      /* read end of the pipe, -1: none */
	pid_t pid;                   /* the worker writing to it */
	size_t len;                  /* bytes of an unfinished line in buf */
	char buf[OUTPUT_LINE_MAX];
};

/* Opens the pipe. Returns the write end for the worker's fd 2 (the
 * caller closes it once the worker is spawned), or a negative errno. */
int output_open(struct worker_output *o);

/* Reads what the worker wrote and logs each complete line as
 * "anycgi[MASTER] worker pool POOL pid PID: LINE". Returns 1 at end of
 * file (the pipe is closed then), else 0. */
int output_read(struct worker_output *o, const char *pool);

/* Reads what is left, logs an unfinished last line, closes the pipe. */
void output_close(struct worker_output *o, const char *pool);

#endif
