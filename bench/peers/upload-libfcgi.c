/* The libfcgi peer for the 10 MiB upload and download benchmark, on Debian's
 * libfcgi (fcgiapp.h), doing the same work as anycgi-echo:
 *   ?size=N   answers N bytes of the alphabet pattern, 64 KiB at a time,
 *             with a Content-Length;
 *   otherwise reads CONTENT_LENGTH bytes of body 64 KiB at a time and
 *             answers a small JSON with its byte count and FNV-1a 64 hash.
 * Run it under spawn-fcgi (fd 0 is the listening socket). */
#include <fcgiapp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char buf[65536];
static char pattern[65536];

/* The value of word `size=` in the query string, or -1. */
static long long query_size(const char *q)
{
	while (q && *q) {
		if (strncmp(q, "size=", 5) == 0)
			return strtoll(q + 5, NULL, 10);
		q = strchr(q, '&');
		if (q)
			q++;
	}
	return -1;
}

static void download(FCGX_Request *r, long long size)
{
	FCGX_FPrintF(r->out, "Content-Type: text/plain\r\n"
	             "Content-Length: %lld\r\n\r\n", size);
	long long sent = 0;
	while (sent < size) {
		size_t off = (size_t)(sent % 26);
		size_t n = sizeof(pattern) - 26;
		if ((long long)n > size - sent)
			n = (size_t)(size - sent);
		if (FCGX_PutStr(pattern + off, (int)n, r->out) < 0)
			return;
		sent += (long long)n;
	}
}

static void upload(FCGX_Request *r)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	long long left = cl && *cl ? strtoll(cl, NULL, 10) : 0;
	uint64_t bytes = 0, fnv = 0xcbf29ce484222325ULL;
	while (left > 0) {
		int want = left > (long long)sizeof(buf) ? (int)sizeof(buf)
		                                         : (int)left;
		int n = FCGX_GetStr(buf, want, r->in);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			fnv ^= (uint8_t)buf[i];
			fnv *= 0x100000001b3ULL;
		}
		bytes += (uint64_t)n;
		left -= n;
	}
	FCGX_FPrintF(r->out, "Content-Type: application/json\r\n\r\n"
	             "{\"body_bytes\": %llu, \"body_fnv1a64\": \"%016llx\"}\n",
	             (unsigned long long)bytes, (unsigned long long)fnv);
}

int main(void)
{
	FCGX_Request req;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)('a' + i % 26);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		long long size =
		    query_size(FCGX_GetParam("QUERY_STRING", req.envp));
		if (size >= 0)
			download(&req, size);
		else
			upload(&req);
		FCGX_Finish_r(&req);
	}
	return 0;
}
