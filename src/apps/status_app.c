/* The status page, relayed from the master's control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "status_app.h"

enum { ANSWER_MAX = 8 << 20 };

static const struct {
	const char *word, *format, *type;
} formats[STATUS_QUERY_FORMATS] = {
	{"json", "json", "application/json"},
	{"prometheus", "prometheus", "text/plain; version=0.0.4"},
	{"metrics", "prometheus", "text/plain; version=0.0.4"},
	{"text", "text", "text/plain; charset=utf-8"},
	{"html", "html", "text/html; charset=utf-8"},
};

size_t status_query_parse(const char *q, char *pool, size_t cap)
{
	size_t fmt = 4;
	pool[0] = '\0';
	while (q && *q) {
		size_t n = strcspn(q, "&;");
		for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
			if (strlen(formats[i].word) == n &&
			    strncmp(q, formats[i].word, n) == 0)
				fmt = i;
		if (n > 5 && strncmp(q, "pool=", 5) == 0 && n - 5 < cap &&
		    strspn(q + 5, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                  "0123456789-_.") >= n - 5) {
			memcpy(pool, q + 5, n - 5);
			pool[n - 5] = '\0';
		}
		q += n;
		q += *q != '\0';
	}
	return fmt;
}

static int connect_control(void)
{
	const char *path = getenv("ANYCGI_CONTROL");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {5, 0};
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The master's whole answer, NUL-terminated; NULL on failure. */
static char *ask_master(const char *command)
{
	int fd = connect_control();
	if (fd < 0)
		return NULL;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	if (!buf || write(fd, command, strlen(command)) < 0) {
		free(buf);
		close(fd);
		return NULL;
	}
	ssize_t n;
	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 4096 && cap < ANSWER_MAX) {
			char *b = realloc(buf, cap * 2);
			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		if (cap - len <= 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static void answer_error(acgi_request *r, int code, const char *why)
{
	acgi_set_status(r, code, NULL);
	acgi_set_content_type(r, "text/plain; charset=utf-8");
	acgi_add_header(r, "Cache-Control", "no-store");
	acgi_printf(r, "%s\n", why);
}

void status_app_handle(acgi_request *r, void *data)
{
	(void)data;
	char pool[64], command[128];
	size_t f = status_query_parse(acgi_param(r, "QUERY_STRING"), pool,
	                              sizeof(pool));
	snprintf(command, sizeof(command), "status %s%s%s\n", formats[f].format,
	         pool[0] ? " " : "", pool);
	char *answer = ask_master(command);
	if (!answer) {
		answer_error(r, 503, "the master does not answer");
		return;
	}
	if (strncmp(answer, "ok\n", 3) != 0) {
		char *nl = strchr(answer, '\n');
		if (nl)
			*nl = '\0';
		answer_error(r, strstr(answer, "no pool") ? 404 : 500, answer);
		free(answer);
		return;
	}
	acgi_set_content_type(r, formats[f].type);
	acgi_add_header(r, "Cache-Control", "no-store");
	acgi_write(r, answer + 3, strlen(answer + 3));
	free(answer);
}
