/* The status listener's app (`--status ADDR`): a FastCGI responder that a
 * web server exposes, as PHP-FPM's pm.status_listen. It runs as a worker
 * of its own pool, unprivileged, and asks the master's control socket
 * (ANYCGI_CONTROL) for each page: the master renders, this only relays. */
#ifndef ACGI_APPS_STATUS_APP_H
#define ACGI_APPS_STATUS_APP_H

#include "anycgi.h"

#include <stddef.h>

enum { STATUS_QUERY_FORMATS = 5 };

/* ?json, ?prometheus (or ?metrics), ?text, ?html (the default); &pool=NAME
 * keeps one pool. */
void status_app_handle(acgi_request *r, void *data);

/* The query string's words: returns the index of the format (the last
 * format word wins; HTML by default), below STATUS_QUERY_FORMATS, and
 * copies pool=NAME into pool (cap bytes, NUL-terminated; "" when absent
 * or when NAME holds anything but letters, digits, '-', '_' and '.'). q
 * may be NULL. */
size_t status_query_parse(const char *q, char *pool, size_t cap);

#endif
