/* threaded: the handler style on 4 threads. Each request may wait
 * (?wait_ms=N) without holding up the others, even when the web server
 * multiplexes them on one connection, and gives up early when the client
 * goes away. All state is per request: no globals. */
#include <anycgi.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static void handle(acgi_request *req, void *data)
{
	const char *greeting = data;
	const char *query = acgi_param(req, "QUERY_STRING");
	const char *wait = query ? strstr(query, "wait_ms=") : NULL;

	if (wait) {
		/* The cancel fd wakes the poll if the request is aborted. */
		struct pollfd p = {.fd = acgi_cancel_fd(req), .events = POLLIN};
		(void)poll(&p, 1, atoi(wait + 8));
		if (acgi_cancelled(req))
			return; /* nobody is listening any more */
	}
	acgi_set_content_type(req, "text/plain");
	acgi_printf(req, "%s from %s\n", greeting,
	            acgi_param(req, "REQUEST_URI") ? acgi_param(req, "REQUEST_URI")
	                                           : "?");
}

int main(void)
{
	acgi_server *server = acgi_server_new();
	if (!server)
		return 1;
	int rc = acgi_serve(server, handle, "Hello", 4);
	acgi_server_free(&server);
	return rc < 0;
}
