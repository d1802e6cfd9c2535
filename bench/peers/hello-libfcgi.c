/* The libfcgi peer for the hello benchmark: Debian's libfcgi (libfcgi-dev),
 * the classic fcgi_stdio FCGI_Accept loop, answering the same
 * "Hello, world!\n" as text/plain as anycgi's examples/hello.
 * Run it under spawn-fcgi (fd 0 is the listening socket). */
#include <fcgi_stdio.h>

int main(void)
{
	while (FCGI_Accept() >= 0)
		printf("Content-Type: text/plain\r\n\r\nHello, world!\n");
	return 0;
}
