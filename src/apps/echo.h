/* The echo diagnostic app (DESIGN.md): shows what the web server sent. */
#ifndef ACGI_APPS_ECHO_H
#define ACGI_APPS_ECHO_H

#include "anycgi.h"

/* Answers one request as DESIGN.md's echo app does. data is unused. */
void echo_handle(acgi_request *r, void *data);

#endif
