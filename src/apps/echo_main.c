/* anycgi-echo: the echo app as a program of its own. It serves FastCGI or
 * SCGI on fd 0 or ANYCGI_LISTEN, or one CGI request; ANYCGI_THREADS=N
 * serves with N handler threads. */
#include <stdio.h>
#include <stdlib.h>

#include "echo.h"

int main(void)
{
	acgi_server *s = acgi_server_new();
	if (!s)
		return 1;
	if (acgi_server_mode(s) == ACGI_MODE_NONE) {
		fprintf(stderr, "anycgi-echo: nothing to serve: start it with a "
		        "listening socket on fd 0 (spawn-fcgi), with "
		        "ANYCGI_LISTEN=unix:/path or HOST:PORT, or as a CGI "
		        "program\n");
		acgi_server_free(&s);
		return 2;
	}
	const char *t = getenv("ANYCGI_THREADS");
	unsigned threads = t ? (unsigned)strtoul(t, NULL, 10) : 1;
	int rc = acgi_serve(s, echo_handle, NULL, threads);
	if (rc < 0)
		fprintf(stderr, "anycgi-echo: %s\n", acgi_strerror(rc));
	acgi_server_free(&s);
	return rc < 0;
}
