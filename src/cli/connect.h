/* Client connections for the commands that talk to a server (`anycgi
 * request`; `anycgi bench` shares the address syntax): ADDR := unix:/path | HOST:PORT | [IPv6]:PORT, with a
 * deadline. */
#ifndef ACGI_CLI_CONNECT_H
#define ACGI_CLI_CONNECT_H

#include <stddef.h>

/* How a connection attempt failed. */
enum connect_error {
	CONNECT_BAD_ADDR = -1, /* ADDR is not one of the forms above */
	CONNECT_RESOLVE = -2,  /* the host name did not resolve */
	CONNECT_REFUSED = -3,  /* refused, missing path, unreachable... */
	CONNECT_TIMEOUT = -4,  /* no answer within timeout_ms */
};

/* Connects to addr within timeout_ms (0: wait forever). A Unix socket
 * whose backlog is full is retried until then, as a TCP handshake is.
 * Returns a connected, non-blocking, close-on-exec socket (the caller
 * owns it), or one of the errors above with a one-line reason in
 * err[0..errlen). */
int cli_connect(const char *addr, int timeout_ms, char *err, size_t errlen);

/* Splits "HOST:PORT" or "[IPv6]:PORT": the host into host[0..host_cap),
 * *port pointing into addr. Returns 0, or -1 for another form. */
int cli_split_host_port(const char *addr, char *host, size_t host_cap,
                        const char **port);

/* Milliseconds on the monotonic clock. */
long long cli_now_ms(void);

#endif
