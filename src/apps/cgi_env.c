/* The CGI gateway's view of the request: the target its params name, and
 * the child's environment built from them (RFC 3875, section 4.1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgi_gateway.h"

static const char *param(acgi_request *r, const char *name)
{
	const char *v = acgi_param(r, name);
	return v ? v : "";
}

void cgi_resolve(const struct cgi_gateway *g, acgi_request *r,
                 struct cgi_script *sc)
{
	struct cgi_target t = {
		.script_name = param(r, "SCRIPT_NAME"),
		.path_info = param(r, "PATH_INFO"),
		.request_uri = param(r, "REQUEST_URI"),
		.script_filename = param(r, "SCRIPT_FILENAME"),
		.document_root = param(r, "DOCUMENT_ROOT"),
	};
	cgi_resolve_target(g, &t, sc);
}

/* ---- The child's environment --------------------------------------------- */

/* Params the gateway sets itself, or never passes on: HTTP_PROXY is a
 * client's Proxy: header (httpoxy), LD_* would load code into the child. */
static bool skipped(const char *name, const struct cgi_redirect *rd)
{
	/* After a local redirect: the new request's, and nothing of the
	 * first request's body (RFC 3875, 6.2.2: a GET). */
	static const char *const redirected[] = {
		"REQUEST_METHOD", "QUERY_STRING", "CONTENT_LENGTH",
		"CONTENT_TYPE", "REQUEST_URI", "DOCUMENT_URI", "REDIRECT_URL",
		"REDIRECT_QUERY_STRING", "REDIRECT_REQUEST_METHOD",
	};
	for (size_t i = 0; rd && i < sizeof(redirected) / sizeof(*redirected);
	     i++)
		if (strcmp(name, redirected[i]) == 0)
			return true;
	static const char *const own[] = {
		"SCRIPT_NAME", "PATH_INFO", "PATH_TRANSLATED", "SCRIPT_FILENAME",
		"GATEWAY_INTERFACE", "PATH", "HTTP_PROXY",
	};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(name, own[i]) == 0)
			return true;
	return !*name || strchr(name, '=') || strncmp(name, "LD_", 3) == 0;
}

static bool seen_before(acgi_request *r, size_t i, const char *name)
{
	for (size_t j = 0; j < i; j++) {
		const char *other;
		(void)acgi_param_at(r, j, &other, NULL);
		if (strcmp(other, name) == 0)
			return true;
	}
	return false;
}

/* NAME=v1, v2... for every value of the param named name (RFC 3875,
 * 4.1.18: repeated headers are merged; "; " for cookies). */
static char *joined(acgi_request *r, size_t i, const char *name)
{
	size_t n = acgi_param_count(r), total = strlen(name) + 2;
	const char *sep = strcmp(name, "HTTP_COOKIE") == 0 ? "; " : ", ";
	for (size_t j = i; j < n; j++) {
		const char *nj, *vj;
		(void)acgi_param_at(r, j, &nj, &vj);
		if (strcmp(nj, name) == 0)
			total += strlen(vj) + 2;
	}
	char *s = malloc(total), *o = s;
	if (!s)
		return NULL;
	o += sprintf(o, "%s=", name);
	for (size_t j = i; j < n; j++) {
		const char *nj, *vj;
		(void)acgi_param_at(r, j, &nj, &vj);
		if (strcmp(nj, name) == 0)
			o += sprintf(o, "%s%s", j == i ? "" : sep, vj);
	}
	return s;
}

static int add(char **env, size_t *n, const char *name, const char *value)
{
	if (!value)
		return 0;
	env[*n] = malloc(strlen(name) + strlen(value) + 2);
	if (!env[*n])
		return -1;
	sprintf(env[(*n)++], "%s=%s", name, value);
	return 0;
}

/* RFC 3875, 6.2.2: the server answers as it would a GET of the new URI;
 * the REDIRECT_* names are Apache's, which scripts know. */
static int add_redirect(char **env, size_t *n, const struct cgi_redirect *rd)
{
	if (!rd)
		return 0;
	return add(env, n, "REQUEST_METHOD", "GET") < 0 ||
	       add(env, n, "QUERY_STRING", rd->query) < 0 ||
	       add(env, n, "REQUEST_URI", rd->uri) < 0 ||
	       add(env, n, "REDIRECT_URL", rd->prev_url) < 0 ||
	       add(env, n, "REDIRECT_QUERY_STRING", rd->prev_query) < 0 ||
	       add(env, n, "REDIRECT_REQUEST_METHOD", rd->prev_method) < 0
	       ? -1 : 0;
}

char **cgi_env_new(acgi_request *r, const struct cgi_script *sc,
                   const struct cgi_redirect *rd)
{
	size_t count = acgi_param_count(r), n = 0;
	char **env = calloc(count + 16, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		const char *name;
		(void)acgi_param_at(r, i, &name, NULL);
		if (skipped(name, rd) || seen_before(r, i, name))
			continue;
		if (!(env[n++] = joined(r, i, name)))
			goto fail;
	}
	if (add(env, &n, "GATEWAY_INTERFACE", "CGI/1.1") < 0 ||
	    add(env, &n, "PATH", "/usr/local/bin:/usr/bin:/bin") < 0 ||
	    add(env, &n, "SCRIPT_NAME", sc->script_name) < 0 ||
	    add(env, &n, "SCRIPT_FILENAME", sc->filename) < 0 ||
	    add(env, &n, "PATH_INFO", sc->path_info) < 0 ||
	    add(env, &n, "PATH_TRANSLATED", sc->path_translated) < 0 ||
	    add_redirect(env, &n, rd) < 0)
		goto fail;
	return env;
fail:
	cgi_env_free(env);
	return NULL;
}

void cgi_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}
