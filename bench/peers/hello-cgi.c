/* The C CGI hello of bench/cgi.sh: the smallest CGI program there is. */
#include <unistd.h>

int main(void)
{
	static const char out[] = "Content-Type: text/plain\r\n\r\nhello\n";
	return write(1, out, sizeof(out) - 1) == sizeof(out) - 1 ? 0 : 1;
}
