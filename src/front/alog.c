/* The access log: one line per request, Common Log Format or JSON. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "front_int.h"

/* Copies s[0..n) for a quoted log field: quotes, backslashes and bytes
 * outside printable ASCII become \xHH (CLF) or \u00HH (JSON). */
static size_t escape(char *dst, size_t cap, const char *s, size_t n,
                     bool json)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(dst + o, cap - o,
			                      json ? "\\u%04x" : "\\x%02x", ch);
		else
			dst[o++] = (char)ch;
	}
	dst[o] = '\0';
	return o;
}

static void peer(const struct hconn *c, char *a, size_t cap)
{
	if (c->peer.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &c->peer.in.sin_addr, a, (socklen_t)cap);
	else if (c->peer.sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &c->peer.in6.sin6_addr, a, (socklen_t)cap);
	else
		strcpy(a, "unix:");
}

void alog_request(const struct hreq *r)
{
	if (F->alog_fd < 0 || !r->c->hin)
		return;
	const struct http_head *h = &r->c->hin->head;
	char addr[64], method[64], uri[2048], ref[512], ua[512], when[64];
	bool json = F->opt.access_log_json;
	peer(r->c, addr, sizeof(addr));
	escape(method, sizeof(method), h->method ? h->method : "-",
	       h->method ? strlen(h->method) : 1, json);
	escape(uri, sizeof(uri), h->target ? h->target : "-",
	       h->target ? h->target_len : 1, json);
	const char *rv = http_head_get(h, "Referer"), *uv = http_head_get(h, "User-Agent");
	escape(ref, sizeof(ref), rv ? rv : "-", rv ? strlen(rv) : 1, json);
	escape(ua, sizeof(ua), uv ? uv : "-", uv ? strlen(uv) : 1, json);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char line[4096];
	int n;
	if (json) {
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(line, sizeof(line),
		             "{\"time\":\"%s\",\"remote_addr\":\"%s\","
		             "\"method\":\"%s\",\"uri\":\"%s\",\"protocol\":"
		             "\"HTTP/1.%d\",\"status\":%d,\"bytes\":%llu,"
		             "\"duration_ms\":%lld,\"referer\":\"%s\","
		             "\"user_agent\":\"%s\"}\n",
		             when, addr, method, uri, h->minor, r->status,
		             (unsigned long long)r->bytes_out,
		             (long long)(now_ms() - r->start_ms), ref, ua);
	} else {
		strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
		n = snprintf(line, sizeof(line),
		             "%s - - [%s] \"%s %s HTTP/1.%d\" %d %llu\n", addr,
		             when, method, uri, h->minor, r->status,
		             (unsigned long long)r->bytes_out);
	}
	if (n > 0)
		(void)!write(F->alog_fd, line,
		             (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
