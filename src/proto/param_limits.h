/* Limits on the params of one request, shared by the FastCGI and SCGI
 * decoders. */
#ifndef ACGI_PROTO_PARAM_LIMITS_H
#define ACGI_PROTO_PARAM_LIMITS_H

#include <stdint.h>

struct param_limits {
	uint32_t max_name;         /* longest param name, bytes */
	uint32_t max_value;        /* longest param value, bytes */
	uint64_t max_params_bytes; /* all names and values of one request */
	uint32_t max_params;       /* pairs per request */
};

#endif
