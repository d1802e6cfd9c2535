/* `anycgi request`: one request to any FastCGI or SCGI server, curl-style. */
#ifndef ACGI_CLI_REQUEST_H
#define ACGI_CLI_REQUEST_H

#include <stdio.h>

/* Runs `anycgi request ARGS...` (argv[0] is "request"). Returns the exit
 * status, curl's where curl has one: 0 on a 2xx or 3xx, 22 on a 4xx or
 * 5xx, 2 usage, 6 unknown host, 7 cannot connect, 8 malformed response,
 * 18 response cut short, 23 cannot write the output, 26 cannot read the
 * body, 28 timeout, 52 closed without an answer, 55 send failure. */
int request_main(int argc, char **argv);

/* Prints the usage lines of `anycgi request` to f. */
void request_usage(FILE *f);

#endif
