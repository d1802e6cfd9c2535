/* RFC 9110 section 5.6.2's token characters, for the parsers that check
 * field names and methods: the CGI response head, the client's params,
 * the front end's request head. Header-only, so that a parser needs no
 * link dependency for it. */
#ifndef ACGI_PROTO_HTTP_TOKEN_H
#define ACGI_PROTO_HTTP_TOKEN_H

#include <stdbool.h>
#include <string.h>

static inline bool http_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

#endif
