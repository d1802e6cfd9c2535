/* hello: the smallest useful libanycgi program, in the blocking style.
 * Run it under spawn-fcgi, with ANYCGI_LISTEN=127.0.0.1:9000, or as a CGI
 * program: the same binary serves all three. */
#include <anycgi.h>

int main(void)
{
	acgi_server *server = acgi_server_new();
	acgi_request *req;

	if (!server)
		return 1;
	while (acgi_accept(server, &req) == 0) {
		acgi_set_content_type(req, "text/plain");
		acgi_printf(req, "Hello, world!\n");
		acgi_finish(&req);
	}
	acgi_server_free(&server);
	return 0;
}
