/* anycgi bench: wrk for FastCGI and SCGI backends (docs/bench.md). */
#ifndef ACGI_CLI_BENCH_H
#define ACGI_CLI_BENCH_H

/* Runs `anycgi bench ARGS...` (argv[0] is "bench"). Returns the exit
 * status: 0 when the run took place (errors are reported, not fatal),
 * 2 for a usage error, 7 when the backend cannot be reached at the start,
 * 1 for anything else that keeps the run from starting. */
int bench_main(int argc, char **argv);

#endif
