/* The status listener's app (`--status ADDR`): a FastCGI responder that a
 * web server exposes, as PHP-FPM's pm.status_listen. It runs as a worker
 * of its own pool, unprivileged, and asks the master's control socket
 * (ANYCGI_CONTROL) for each page: the master renders, this only relays. */
#ifndef ACGI_APPS_STATUS_APP_H
#define ACGI_APPS_STATUS_APP_H

#include "anycgi.h"

/* ?json, ?prometheus (or ?metrics), ?text, ?html (the default); &pool=NAME
 * keeps one pool. */
void status_app_handle(acgi_request *r, void *data);

#endif
