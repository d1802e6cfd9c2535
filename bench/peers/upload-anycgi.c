/* The echo of bench/peers.sh on libanycgi, doing exactly what the libfcgi,
 * PHP and Go echoes do (unlike `anycgi echo`, which also writes back every
 * parameter): reads the body 64 KiB at a time and answers a small JSON
 * with its byte count and FNV-1a 64 hash. The blocking style of
 * examples/hello; run it under `anycgi run` or spawn-fcgi. */
#include <anycgi.h>
#include <inttypes.h>
#include <stdint.h>

static unsigned char buf[65536];

int main(void)
{
	acgi_server *server = acgi_server_new();
	acgi_request *req;

	if (!server)
		return 1;
	while (acgi_accept(server, &req) == 0) {
		uint64_t bytes = 0, fnv = 0xcbf29ce484222325ULL;
		ssize_t n;
		while ((n = acgi_read(req, buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++) {
				fnv ^= buf[i];
				fnv *= 0x100000001b3ULL;
			}
			bytes += (uint64_t)n;
		}
		if (n < 0) {
			acgi_set_status(req, 400, "Bad Request");
			acgi_printf(req, "%s\n", acgi_strerror((int)n));
		} else {
			acgi_set_content_type(req, "application/json");
			acgi_printf(req, "{\"body_bytes\": %" PRIu64
			            ", \"body_fnv1a64\": \"%016" PRIx64 "\"}\n",
			            bytes, fnv);
		}
		acgi_finish(&req);
	}
	acgi_server_free(&server);
	return 0;
}
