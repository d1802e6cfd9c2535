/* The embedded HTTP/1.1 front end: `anycgi __front`, run by the process
 * manager for a pool's --http listeners (docs/http.md). */
#ifndef ACGI_FRONT_H
#define ACGI_FRONT_H

/* Runs the front end with argv[2..argc) as its options (argv[1] is
 * "__front"). Returns the process's exit status: 0 after a graceful
 * stop, 1 on a fatal error, 2 for bad options. */
int front_main(int argc, char **argv);

#endif
