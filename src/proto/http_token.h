/* Character classes of HTTP and URI syntax, shared by the parsers: RFC
 * 9110 section 5.6.2's token characters (field names, methods), and the
 * hex digits of RFC 3986's percent-encoding. Header-only, so that a
 * parser needs no link dependency for them. */
#ifndef ACGI_PROTO_HTTP_TOKEN_H
#define ACGI_PROTO_HTTP_TOKEN_H

#include <stdbool.h>
#include <string.h>

static inline bool http_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A hex digit's value, or -1. */
static inline int uri_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
