/* anycgi bench: drives a FastCGI or SCGI backend directly, the way wrk
 * drives an HTTP server: one epoll loop per thread (at most one thread per
 * core), each with its own connections and latency histogram, merged at
 * the end. The request is encoded once and written many times. */
#include "bench.h"
#include "connect.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "anycgi.h"
#include "cgi_head.h"
#include "cgi_params.h"
#include "client.h"
#include "hdr.h"

enum {
	MAX_HEADERS = 64,
	MAX_PARAMS = 64,
	MAX_MPX = 1024,
	HEAD_CAP = 8192,       /* longest response head accepted, bytes */
	READ_BUF = 65536,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 7,      /* curl's "failed to connect" */
};

/* ---- Options --------------------------------------------------------- */

struct options {
	bool scgi;
	const char *addr;
	const char *uri;
	unsigned conns;            /* -c */
	double seconds;            /* -t; 0 with -n */
	uint64_t requests;         /* -n; 0 with -t */
	bool keep;                 /* --keep-conn */
	unsigned mpx;              /* --mpx: requests at once per connection */
	unsigned threads;          /* --threads; 0: one per core, at most */
	double timeout;            /* --timeout, seconds per request */
	const char *method;        /* -X */
	const char *data;          /* -d: DATA, @FILE or @- */
	bool json;
	const char *headers[MAX_HEADERS];
	size_t n_headers;
	const char *params[MAX_PARAMS]; /* -p NAME=VALUE */
	size_t n_params;
};

static void usage(FILE *f)
{
	fputs("usage: anycgi bench (--fastcgi|--scgi) ADDR [-c CONNS] "
	      "[-t SECONDS | -n REQUESTS] [--keep-conn] [--mpx N]\n"
	      "                    [-d DATA|-d @FILE] [-X METHOD] "
	      "[-H 'Name: value']... [-p NAME=VALUE]...\n"
	      "                    [--timeout S] [--threads N] [--json] URI\n"
	      "  (ADDR: unix:/path, HOST:PORT, [IPv6]:PORT; defaults: -c 10 "
	      "-t 10 --timeout 5, one thread per core at most)\n",
	      f);
}

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("anycgi bench: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	return -1;
}

/* A whole number in [min, max], or -1. */
static long long parse_count(const char *s, long long min, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	return v;
}

static double parse_seconds(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e6)
		return -1;
	return v;
}

/* The option that takes a value, and that value. */
static int take_value(int argc, char **argv, int *i, const char **value)
{
	if (*i + 1 >= argc)
		return bad_usage("%s needs a value", argv[*i]);
	*value = argv[++*i];
	return 0;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	*o = (struct options){.conns = 10, .mpx = 1, .timeout = 5};
	bool have_t = false, transport = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		long long n;
		if (a[0] != '-' || !a[1]) {
			if (o->uri)
				return bad_usage("one URI only (%s)", a);
			o->uri = a;
			continue;
		}
		if (strcmp(a, "--keep-conn") == 0) {
			o->keep = true;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (take_value(argc, argv, &i, &v) < 0)
			return -1;
		if (strcmp(a, "--fastcgi") == 0 || strcmp(a, "--scgi") == 0) {
			if (transport)
				return bad_usage("one of --fastcgi and --scgi (%s)", a);
			transport = true;
			o->scgi = a[2] == 's';
			o->addr = v;
		} else if (strcmp(a, "-c") == 0) {
			if ((n = parse_count(v, 1, 100000)) < 0)
				return bad_usage("-c %s: want 1 to 100000", v);
			o->conns = (unsigned)n;
		} else if (strcmp(a, "-t") == 0) {
			if ((o->seconds = parse_seconds(v)) < 0)
				return bad_usage("-t %s: want seconds, more than 0", v);
			have_t = true;
		} else if (strcmp(a, "-n") == 0) {
			if ((n = parse_count(v, 1, LLONG_MAX / 2)) < 0)
				return bad_usage("-n %s: want a count, 1 or more", v);
			o->requests = (uint64_t)n;
		} else if (strcmp(a, "--mpx") == 0) {
			if ((n = parse_count(v, 1, MAX_MPX)) < 0)
				return bad_usage("--mpx %s: want 1 to 1024", v);
			o->mpx = (unsigned)n;
		} else if (strcmp(a, "--threads") == 0) {
			if ((n = parse_count(v, 1, 1024)) < 0)
				return bad_usage("--threads %s: want 1 to 1024", v);
			o->threads = (unsigned)n;
		} else if (strcmp(a, "--timeout") == 0) {
			if ((o->timeout = parse_seconds(v)) < 0)
				return bad_usage("--timeout %s: want seconds", v);
		} else if (strcmp(a, "-X") == 0) {
			o->method = v;
		} else if (strcmp(a, "-d") == 0) {
			o->data = v;
		} else if (strcmp(a, "-H") == 0) {
			if (o->n_headers == MAX_HEADERS)
				return bad_usage("too many -H (%s)", v);
			o->headers[o->n_headers++] = v;
		} else if (strcmp(a, "-p") == 0) {
			if (o->n_params == MAX_PARAMS)
				return bad_usage("too many -p (%s)", v);
			if (!v[0] || v[0] == '=')
				return bad_usage("-p %s: want NAME=VALUE (or NAME: "
				                 "leave it out)", v);
			o->params[o->n_params++] = v;
		} else {
			return bad_usage("unknown option %s", a);
		}
	}
	if (!transport)
		return bad_usage("--fastcgi ADDR or --scgi ADDR is needed%s", "");
	if (!o->uri)
		return bad_usage("no URI (for example /)%s", "");
	if (have_t && o->requests)
		return bad_usage("-t or -n, not both%s", "");
	if (!have_t && !o->requests)
		o->seconds = 10;
	if (o->scgi && (o->keep || o->mpx > 1))
		return bad_usage("SCGI has one request per connection: no "
		                 "--keep-conn or --mpx%s", "");
	/* Without FCGI_KEEP_CONN the app closes after its first answer
	 * (section 5.1): multiplexed requests need a kept connection. */
	if (o->mpx > 1)
		o->keep = true;
	return 0;
}

/* ---- The backend's address ------------------------------------------- */

struct target {
	struct sockaddr_storage sa;
	socklen_t len;
	bool tcp;
};

static int resolve(const char *addr, struct target *t, char *err,
                   size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&t->sa;
		size_t len = strlen(addr + 5);
		if (len == 0 || len >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "%s: not a Unix socket path", addr);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, addr + 5, len + 1);
		t->len = (socklen_t)sizeof(*sun);
		return 0;
	}
	char host[256];
	const char *port;
	if (cli_split_host_port(addr, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "%s: want unix:/path, HOST:PORT or "
		         "[IPv6]:PORT", addr);
		return -1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(rc));
		return -1;
	}
	memcpy(&t->sa, res->ai_addr, res->ai_addrlen);
	t->len = res->ai_addrlen;
	t->tcp = true;
	freeaddrinfo(res);
	return 0;
}

/* ---- The request, encoded once ---------------------------------------- */

struct blob {
	uint8_t *p;
	size_t len;
};

/* Reads -d's body: DATA as it is, @FILE, or @- for stdin. */
static int read_body(const char *data, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!data)
		return 0;
	if (data[0] != '@') {
		*len = strlen(data);
		*out = (uint8_t *)strdup(data);
		return *out ? 0 : -ENOMEM;
	}
	FILE *f = strcmp(data, "@-") == 0 ? stdin : fopen(data + 1, "rb");
	if (!f)
		return -errno;
	size_t cap = 65536;
	uint8_t *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (*len == cap) {
			uint8_t *bigger = realloc(buf, cap *= 2);
			if (!bigger) {
				rc = -ENOMEM;
				break;
			}
			buf = bigger;
		}
		size_t n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0) {
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		free(buf);
		*len = 0;
		return rc;
	}
	*out = buf;
	return 0;
}

/* The pairs a web server would send (src/proto/cgi_params.c, shared with
 * `anycgi request`), with -p on top, into p over storage it allocates
 * (*pairs, *buf: the caller frees them). */
static int build_params(const struct options *o, int64_t body_len,
                        struct cgi_params *p, struct cgi_pair **pairs,
                        char **buf, char *err, size_t errlen)
{
	struct cgi_request req = {
		.method = o->method ? o->method : body_len >= 0 ? "POST" : "GET",
		.uri = o->uri,
		.headers = o->headers,
		.n_headers = o->n_headers,
		.content_length = body_len,
		.role = FCGI_RESPONDER,
		.server_software = "anycgi-bench",
		.overrides = o->params,
		.n_overrides = o->n_params,
	};
	size_t n_pairs = cgi_params_max_pairs(&req);
	size_t n_buf = cgi_params_max_buf(&req);
	*pairs = calloc(n_pairs ? n_pairs : 1, sizeof(**pairs));
	*buf = malloc(n_buf ? n_buf : 1);
	if (!*pairs || !*buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cgi_params_init(p, *pairs, n_pairs, *buf, n_buf);
	if (cgi_params_build(p, &req) < 0) {
		snprintf(err, errlen, "%s", p->error ? p->error
		                                     : "cannot build the params");
		return -EXIT_USAGE;
	}
	return 0;
}

/* One FastCGI request for id: BEGIN_REQUEST, PARAMS, STDIN (FastCGI 1.0,
 * section 6.2). */
static int encode_fcgi(struct blob *b, uint16_t id, bool keep,
                       const struct cgi_pair *pairs, size_t n,
                       const uint8_t *body, size_t body_len)
{
	int64_t params = fcgi_encode_params(NULL, 0, id, pairs, n);
	int64_t in = body_len ? fcgi_encode_stream(NULL, 0, FCGI_STDIN, id,
	                                           body, body_len) : 0;
	if (params < 0 || in < 0)
		return -EMSGSIZE;
	size_t total = 16 + (size_t)params + (size_t)in + FCGI_HEADER_LEN;
	b->p = malloc(total);
	if (!b->p)
		return -ENOMEM;
	uint8_t *p = b->p;
	fcgi_encode_begin(p, id, FCGI_RESPONDER, keep ? FCGI_KEEP_CONN : 0);
	p += 16;
	p += fcgi_encode_params(p, (size_t)params, id, pairs, n);
	if (body_len)
		p += fcgi_encode_stream(p, (size_t)in, FCGI_STDIN, id, body,
		                        body_len);
	p += fcgi_encode_stream(p, FCGI_HEADER_LEN, FCGI_STDIN, id, NULL, 0);
	b->len = (size_t)(p - b->p);
	return 0;
}

/* An SCGI request: the netstring head, then the body. */
static int encode_scgi(struct blob *b, const struct cgi_pair *pairs,
                       size_t n, const uint8_t *body, size_t body_len)
{
	int64_t head = scgi_encode_head(NULL, 0, body_len, pairs, n);
	if (head < 0)
		return (int)head;
	b->p = malloc((size_t)head + body_len + 1);
	if (!b->p)
		return -ENOMEM;
	(void)scgi_encode_head(b->p, (size_t)head, body_len, pairs, n);
	if (body_len)
		memcpy(b->p + head, body, body_len);
	b->len = (size_t)head + body_len;
	return 0;
}

/* ---- Shared run state -------------------------------------------------- */

enum err_kind {
	ERR_CONNECT, ERR_READ, ERR_WRITE, ERR_PROTOCOL, ERR_TIMEOUT,
	ERR_REFUSED, N_ERR,
};
static const char *const err_names[N_ERR] = {
	"connect", "read", "write", "protocol", "timeout", "refused",
};

struct run {
	const struct options *o;
	struct target target;
	struct blob *blobs;         /* one per request id (1..mpx) */
	uint64_t timeout_ns;
	atomic_bool stop;           /* no new requests (deadline, Ctrl-C) */
	bool limited;               /* -n: budget counts down */
	atomic_llong budget;        /* requests still to start, with -n */
	uint64_t start_ns;
};

static struct run g_run;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* May another request start? With -n each yes takes one from the
 * budget, so that exactly n requests are made. */
static bool claim(struct run *r)
{
	if (atomic_load_explicit(&r->stop, memory_order_relaxed))
		return false;
	if (!r->limited)
		return true;
	return atomic_fetch_sub_explicit(&r->budget, 1,
	                                 memory_order_relaxed) > 0;
}

/* ---- Workers ------------------------------------------------------------ */

struct counts {
	uint64_t responses;         /* complete answers, any status */
	uint64_t status[6];         /* by hundreds: [2] 2xx .. [5] 5xx; [0] other */
	uint64_t errors[N_ERR];
	uint64_t bytes_in, bytes_out;
};

/* One request in flight. */
struct slot {
	bool busy;
	bool bad;                   /* its answer was malformed */
	bool out_ended;             /* the empty STDOUT record (mpx checks) */
	uint64_t t0;                /* when it started, ns */
	struct cgi_head_parser head;
	char head_buf[HEAD_CAP];
};

enum conn_state { C_CLOSED, C_CONNECTING, C_OPEN };

struct worker;

struct conn {
	struct worker *w;
	int fd;                     /* -1 when closed */
	enum conn_state state;
	struct fcgi_client fc;
	struct slot *slots;         /* mpx of them; id = index + 1 */
	unsigned n_busy;
	uint16_t *wq;               /* ids waiting to be written (a ring) */
	unsigned wq_head, wq_len;
	size_t woff;                /* bytes of wq's first blob written */
	uint64_t retry_at;          /* after a failed connect: wait, ns */
	bool got_bytes;             /* SCGI: some of the answer came */
};

struct worker {
	struct run *run;
	pthread_t tid;
	int epfd;
	struct conn *conns;
	unsigned n_conns;
	unsigned n_busy;            /* requests in flight, all connections */
	struct hdr lat;             /* nanoseconds */
	struct counts c;
	uint64_t last_done_ns;      /* when the last request finished */
	atomic_ullong pub_done;     /* for the progress line */
	atomic_ullong pub_errors;
	atomic_bool finished;
	uint8_t rbuf[READ_BUF];
};

static void publish(struct worker *w)
{
	uint64_t errs = 0;
	for (int i = 0; i < N_ERR; i++)
		errs += w->c.errors[i];
	atomic_store_explicit(&w->pub_done, w->c.responses, memory_order_relaxed);
	atomic_store_explicit(&w->pub_errors, errs, memory_order_relaxed);
}

static void slot_start(struct conn *c, unsigned i, uint64_t t0)
{
	struct slot *s = &c->slots[i];
	s->busy = true;
	s->bad = false;
	s->out_ended = false;
	s->t0 = t0;
	cgi_head_init(&s->head, s->head_buf, sizeof(s->head_buf),
	              c->w->run->o->scgi);
	c->n_busy++;
	c->w->n_busy++;
}

static void slot_done(struct conn *c, struct slot *s)
{
	s->busy = false;
	c->n_busy--;
	c->w->n_busy--;
	c->w->last_done_ns = now_ns();
}

static void slot_fail(struct conn *c, struct slot *s, enum err_kind kind)
{
	c->w->c.errors[kind]++;
	slot_done(c, s);
}

/* The answer is complete: its status, or a protocol error. */
static void slot_answered(struct conn *c, struct slot *s)
{
	struct worker *w = c->w;
	if (s->bad || (!s->head.done && cgi_head_finish(&s->head) < 0)) {
		slot_fail(c, s, ERR_PROTOCOL);
		return;
	}
	int hundreds = s->head.status / 100;
	w->c.status[hundreds >= 2 && hundreds <= 5 ? hundreds : 0]++;
	w->c.responses++;
	slot_done(c, s);
	hdr_record(&w->lat, w->last_done_ns - s->t0);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_CLOSED;
	c->wq_len = 0;
	c->woff = 0;
}

/* Ends every request in flight on c with kind, and the connection. */
static void conn_fail(struct conn *c, enum err_kind kind)
{
	unsigned n = c->w->run->o->mpx;
	for (unsigned i = 0; i < n; i++)
		if (c->slots[i].busy)
			slot_fail(c, &c->slots[i], kind);
	conn_close(c);
}

static void queue_write(struct conn *c, unsigned slot)
{
	unsigned n = c->w->run->o->mpx;
	c->wq[(c->wq_head + c->wq_len) % n] = (uint16_t)slot;
	c->wq_len++;
}

/* Writes what is queued until done or the socket is full. Returns 0, or
 * a negative errno when the connection broke. */
static int conn_flush(struct conn *c)
{
	struct run *r = c->w->run;
	while (c->wq_len) {
		const struct blob *b = &r->blobs[c->wq[c->wq_head]];
		ssize_t n = send(c->fd, b->p + c->woff, b->len - c->woff,
		                 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->w->c.bytes_out += (uint64_t)n;
		c->woff += (size_t)n;
		if (c->woff == b->len) {
			c->woff = 0;
			c->wq_head = (c->wq_head + 1) % r->o->mpx;
			c->wq_len--;
		}
	}
	return 0;
}

/* Opens a connection (non-blocking) for slot 0's request. */
static void conn_open(struct conn *c, uint64_t now)
{
	struct run *r = c->w->run;
	int fd = socket(r->target.sa.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->w->c.errors[ERR_CONNECT]++;
		c->retry_at = now + 10000000;
		return;
	}
	c->fd = fd;
	if (r->target.tcp && r->o->keep) {
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = c,
	};
	if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		conn_close(c);
		c->w->c.errors[ERR_CONNECT]++;
		c->retry_at = now + 10000000;
		return;
	}
	if (!r->o->scgi)
		fcgi_client_init(&c->fc, 1);
	if (r->o->mpx > 1)
		fcgi_client_init_mux(&c->fc);
	c->got_bytes = false;
	if (connect(fd, (struct sockaddr *)&r->target.sa, r->target.len) == 0)
		c->state = C_OPEN;
	else if (errno == EINPROGRESS)
		c->state = C_CONNECTING;
	else
		c->state = C_CLOSED; /* the caller sees the error below */
}

/* Gives c work: a new connection for a new request, or, on a kept one,
 * requests in every free slot. Stops when no request may start. */
static void conn_fill(struct conn *c, uint64_t now)
{
	struct run *r = c->w->run;
	if (c->fd < 0) {
		if (c->retry_at > now || !claim(r))
			return;
		conn_open(c, now);
		if (c->fd < 0) {
			/* not even a socket: counted, retried later */
			return;
		}
		slot_start(c, 0, now);
		if (c->state == C_CLOSED) {
			conn_fail(c, ERR_CONNECT);
			c->retry_at = now + 10000000;
			return;
		}
		queue_write(c, 0);
		if (c->state == C_CONNECTING)
			return;
	} else if (c->state == C_OPEN && r->o->keep) {
		for (unsigned i = 0; i < r->o->mpx; i++) {
			if (c->slots[i].busy)
				continue;
			if (!claim(r))
				break;
			slot_start(c, i, now);
			if (!r->o->scgi && r->o->mpx == 1)
				fcgi_client_init(&c->fc, 1);
			queue_write(c, i);
		}
	}
	if (c->state == C_OPEN && c->wq_len && conn_flush(c) < 0)
		conn_fail(c, ERR_WRITE);
}

/* A FastCGI record event for c. Returns false when c was closed. */
static bool on_fcgi_event(struct conn *c, const struct fcgi_client_event *ev)
{
	struct run *r = c->w->run;
	unsigned id = r->o->mpx > 1 ? ev->request_id : 1;
	struct slot *s = NULL;
	switch (ev->kind) {
	case FCGI_CEV_STDOUT:
	case FCGI_CEV_STDOUT_END:
	case FCGI_CEV_STDERR:
	case FCGI_CEV_STDERR_END:
	case FCGI_CEV_END:
		if (id < 1 || id > r->o->mpx || !c->slots[id - 1].busy) {
			/* An answer to nothing we asked: the stream is off. */
			conn_fail(c, ERR_PROTOCOL);
			return false;
		}
		s = &c->slots[id - 1];
		break;
	default:
		return true;
	}
	switch (ev->kind) {
	case FCGI_CEV_STDOUT:
		if (s->out_ended)
			s->bad = true;
		else if (!s->head.done && !s->bad &&
		         cgi_head_feed(&s->head, ev->data, ev->len) < 0)
			s->bad = true;
		return true;
	case FCGI_CEV_STDOUT_END:
		if (s->out_ended)
			s->bad = true;
		s->out_ended = true;
		return true;
	case FCGI_CEV_END:
		if (ev->protocol_status != FCGI_REQUEST_COMPLETE)
			slot_fail(c, s, ERR_REFUSED);
		else
			slot_answered(c, s);
		if (!r->o->keep) {
			/* Section 5.1: without KEEP_CONN the app closes; a
			 * new request gets a new connection (nginx's way). */
			conn_close(c);
			return false;
		}
		return true;
	default:
		return true;
	}
}

/* Feeds response bytes to c's FastCGI parser. Returns false when c was
 * closed. */
static bool feed_fcgi(struct conn *c, const uint8_t *in, size_t len)
{
	size_t off = 0;
	for (;;) {
		struct fcgi_client_event ev;
		int n = fcgi_client_feed(&c->fc, in + off, len - off, &ev);
		if (n < 0) {
			conn_fail(c, ERR_PROTOCOL);
			return false;
		}
		off += (size_t)n;
		if (ev.kind == FCGI_CEV_NONE) {
			if (c->fc.ended && off < len) {
				/* Bytes after the END of a one-id answer: the
				 * next request's, once one is asked. */
				if (c->n_busy == 0)
					fcgi_client_init(&c->fc, 1);
				if (c->n_busy == 0 && c->fd >= 0)
					continue;
				conn_fail(c, ERR_PROTOCOL);
				return false;
			}
			return true;
		}
		if (!on_fcgi_event(c, &ev))
			return false;
	}
}

/* SCGI: the answer is a CGI response up to the end of the stream. */
static void feed_scgi(struct conn *c, const uint8_t *in, size_t len)
{
	struct slot *s = &c->slots[0];
	c->got_bytes = true;
	if (!s->busy || s->bad || s->head.done)
		return;
	if (cgi_head_feed(&s->head, in, len) < 0)
		s->bad = true;
}

/* The backend closed c. */
static void on_eof(struct conn *c)
{
	struct run *r = c->w->run;
	if (r->o->scgi && c->slots[0].busy) {
		if (c->got_bytes)
			slot_answered(c, &c->slots[0]);
		else
			slot_fail(c, &c->slots[0], ERR_READ);
	}
	/* FastCGI: whatever was in flight got no END_REQUEST. */
	conn_fail(c, ERR_READ);
}

static void conn_read(struct conn *c, uint32_t events)
{
	struct worker *w = c->w;
	for (;;) {
		ssize_t n = recv(c->fd, w->rbuf, sizeof(w->rbuf), 0);
		if (n == 0) {
			on_eof(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(c, ERR_READ);
			return;
		}
		w->c.bytes_in += (uint64_t)n;
		if (w->run->o->scgi)
			feed_scgi(c, w->rbuf, (size_t)n);
		else if (!feed_fcgi(c, w->rbuf, (size_t)n))
			return;
		/* A short read emptied the socket: the next byte to come
		 * brings a new edge, no need for an EAGAIN to learn it. Not
		 * so for an end of stream that came before this wake-up: it
		 * brings no new edge, so read on until it shows. */
		if ((size_t)n < sizeof(w->rbuf) &&
		    !(events & (EPOLLRDHUP | EPOLLHUP)))
			return;
	}
}

static void on_event(struct conn *c, uint32_t events, uint64_t now)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			conn_fail(c, ERR_CONNECT);
			c->retry_at = now + 10000000;
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		c->state = C_OPEN;
	}
	if (c->wq_len && conn_flush(c) < 0) {
		/* The backend may have answered and closed before taking all
		 * of the body: read what it said first. */
		conn_read(c, events | EPOLLRDHUP);
		if (c->fd >= 0)
			conn_fail(c, ERR_WRITE);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(c, events);
}

/* Requests past their deadline end their connection. */
static void check_timeouts(struct worker *w, uint64_t now)
{
	unsigned mpx = w->run->o->mpx;
	for (unsigned i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];
		if (c->n_busy == 0)
			continue;
		for (unsigned k = 0; k < mpx; k++) {
			if (c->slots[k].busy &&
			    now - c->slots[k].t0 > w->run->timeout_ns) {
				conn_fail(c, ERR_TIMEOUT);
				break;
			}
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	struct epoll_event evs[256];
	uint64_t now = now_ns(), last_check = now;
	for (unsigned i = 0; i < w->n_conns; i++)
		conn_fill(&w->conns[i], now);
	for (;;) {
		/* 10 ms: the resolution of retries after a failed connect. */
		int n = epoll_wait(w->epfd, evs, 256, 10);
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			on_event(c, evs[i].events, now);
		}
		/* Refill after every event was handled: a connection whose
		 * request ended gets the next one. */
		for (int i = 0; i < n; i++)
			conn_fill(evs[i].data.ptr, now);
		if (now - last_check >= 10000000) {
			last_check = now;
			check_timeouts(w, now);
			for (unsigned i = 0; i < w->n_conns; i++)
				conn_fill(&w->conns[i], now);
			publish(w);
		}
		if (w->n_busy == 0 &&
		    (atomic_load(&r->stop) ||
		     (r->limited && atomic_load(&r->budget) <= 0)))
			break;
	}
	for (unsigned i = 0; i < w->n_conns; i++)
		conn_close(&w->conns[i]);
	publish(w);
	atomic_store(&w->finished, true);
	return NULL;
}

static int worker_init(struct worker *w, struct run *r, unsigned n_conns)
{
	w->run = r;
	w->n_conns = n_conns;
	hdr_init(&w->lat);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->conns = calloc(n_conns, sizeof(*w->conns));
	if (w->epfd < 0 || !w->conns)
		return -1;
	for (unsigned i = 0; i < n_conns; i++) {
		struct conn *c = &w->conns[i];
		c->w = w;
		c->fd = -1;
		c->slots = calloc(r->o->mpx, sizeof(*c->slots));
		c->wq = calloc(r->o->mpx, sizeof(*c->wq));
		if (!c->slots || !c->wq)
			return -1;
	}
	return 0;
}

static void worker_free(struct worker *w)
{
	for (unsigned i = 0; w->conns && i < w->n_conns; i++) {
		free(w->conns[i].slots);
		free(w->conns[i].wq);
	}
	free(w->conns);
	if (w->epfd >= 0)
		close(w->epfd);
}

/* ---- Before the run: can we connect, may we multiplex? --------------- */

/* A blocking connection with a deadline, for the checks. */
static int connect_once(const struct target *t, int timeout_ms)
{
	int fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
	                     .tv_usec = (timeout_ms % 1000) * 1000};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&t->sa, t->len) < 0) {
		int e = errno == EINPROGRESS ? ETIMEDOUT : errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Asks for FCGI_MPXS_CONNS (section 4.1). Writes its value (or "" when
 * the app left it out) into out. Returns 0, or -1 with err set. */
static int ask_mpxs(int fd, char *out, size_t cap, char *err, size_t errlen)
{
	static const char *const names[] = {"FCGI_MPXS_CONNS"};
	uint8_t req[64];
	int64_t n = fcgi_encode_get_values(req, sizeof(req), names, 1);
	if (n < 0 || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(err, errlen, "cannot send GET_VALUES: %s", strerror(errno));
		return -1;
	}
	struct fcgi_client fc;
	fcgi_client_init(&fc, 1);
	char name[32] = "";
	size_t name_len = 0, value_len = 0;
	out[0] = '\0';
	uint8_t buf[4096];
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got <= 0) {
			snprintf(err, errlen, "no answer to FCGI_GET_VALUES (%s)",
			         got == 0 ? "the app closed the connection"
			                  : errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		size_t off = 0;
		for (;;) {
			struct fcgi_client_event ev;
			int k = fcgi_client_feed(&fc, buf + off, (size_t)got - off, &ev);
			if (k < 0) {
				snprintf(err, errlen, "bad GET_VALUES_RESULT: %s", fc.reason);
				return -1;
			}
			off += (size_t)k;
			if (ev.kind == FCGI_CEV_NONE)
				break;
			if (ev.kind == FCGI_CEV_VALUE_NAME) {
				size_t m = ev.len < sizeof(name) - 1 - name_len
				           ? ev.len : sizeof(name) - 1 - name_len;
				memcpy(name + name_len, ev.data, m);
				name_len += m;
				name[name_len] = '\0';
			} else if (ev.kind == FCGI_CEV_VALUE_VALUE) {
				if (strcmp(name, names[0]) == 0) {
					size_t m = ev.len < cap - 1 - value_len
					           ? ev.len : cap - 1 - value_len;
					memcpy(out + value_len, ev.data, m);
					value_len += m;
					out[value_len] = '\0';
				}
			} else if (ev.kind == FCGI_CEV_VALUE_END) {
				name_len = 0;
				name[0] = '\0';
			} else if (ev.kind == FCGI_CEV_VALUES_END) {
				return 0;
			} else if (ev.kind == FCGI_CEV_UNKNOWN_TYPE) {
				snprintf(err, errlen, "the app does not know "
				         "FCGI_GET_VALUES");
				return -1;
			}
		}
	}
}

static int preflight(const struct run *r, char *err, size_t errlen)
{
	const struct options *o = r->o;
	int fd = connect_once(&r->target, 5000);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", o->addr,
		         strerror(-fd));
		return EXIT_CONNECT;
	}
	int rc = 0;
	if (o->mpx > 1) {
		char value[16];
		if (ask_mpxs(fd, value, sizeof(value), err, errlen) < 0) {
			rc = 1;
		} else if (strcmp(value, "1") != 0) {
			snprintf(err, errlen, "%s does not multiplex (FCGI_MPXS_CONNS=%s):"
			         " drop --mpx, or use more connections (-c)", o->addr,
			         *value ? value : "not given");
			rc = 1;
		}
	}
	close(fd);
	return rc;
}

/* ---- Report ----------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

struct result {
	struct counts c;
	struct hdr *lat;
	double seconds;
	unsigned threads;
	uint64_t errors;            /* requests with no answer (4xx and 5xx
	                               answers are counted apart) */
};

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void print_json(const struct options *o, const struct result *res)
{
	const struct counts *c = &res->c;
	const struct hdr *h = res->lat;
	FILE *f = stdout;
	fputs("{\"transport\": ", f);
	json_string(f, o->scgi ? "scgi" : "fastcgi");
	fputs(", \"address\": ", f);
	json_string(f, o->addr);
	fputs(", \"uri\": ", f);
	json_string(f, o->uri);
	fprintf(f, ", \"connections\": %u, \"threads\": %u, \"keep_conn\": %s, "
	        "\"mpx\": %u, \"duration_s\": %.3f",
	        o->conns, res->threads, o->keep ? "true" : "false", o->mpx,
	        res->seconds);
	fprintf(f, ", \"requests\": %" PRIu64 ", \"responses\": %" PRIu64
	        ", \"requests_per_s\": %.1f",
	        c->responses + res->errors, c->responses,
	        res->seconds > 0 ? (double)c->responses / res->seconds : 0.0);
	fprintf(f, ", \"bytes_read\": %" PRIu64 ", \"bytes_written\": %" PRIu64
	        ", \"bytes_read_per_s\": %.0f",
	        c->bytes_in, c->bytes_out,
	        res->seconds > 0 ? (double)c->bytes_in / res->seconds : 0.0);
	fprintf(f, ", \"status\": {\"2xx\": %" PRIu64 ", \"3xx\": %" PRIu64
	        ", \"4xx\": %" PRIu64 ", \"5xx\": %" PRIu64 ", \"other\": %" PRIu64
	        "}", c->status[2], c->status[3], c->status[4], c->status[5],
	        c->status[0]);
	fprintf(f, ", \"errors\": {\"total\": %" PRIu64,
	        res->errors + c->status[4] + c->status[5]);
	for (int i = 0; i < N_ERR; i++)
		fprintf(f, ", \"%s\": %" PRIu64, err_names[i], c->errors[i]);
	fprintf(f, ", \"status_4xx\": %" PRIu64 ", \"status_5xx\": %" PRIu64 "}",
	        c->status[4], c->status[5]);
	fprintf(f, ", \"latency_ms\": {\"min\": %.3f, \"mean\": %.3f, "
	        "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99.9\": %.3f, "
	        "\"max\": %.3f}}\n",
	        h->total ? ms(h->min) : 0.0, hdr_mean(h) / 1e6,
	        ms(hdr_percentile(h, 50)), ms(hdr_percentile(h, 90)),
	        ms(hdr_percentile(h, 99)), ms(hdr_percentile(h, 99.9)),
	        ms(h->max));
}

/* 1234567 -> "1.18 MiB" */
static const char *human_bytes(double v, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static void print_text(const struct options *o, const struct result *res)
{
	const struct counts *c = &res->c;
	const struct hdr *h = res->lat;
	char b1[32], b2[32], b3[32];
	printf("anycgi bench: %s %s %s %s, %u connection%s, %u thread%s, %s\n",
	       o->scgi ? "scgi" : "fastcgi", o->addr,
	       o->method ? o->method : o->data ? "POST" : "GET", o->uri,
	       o->conns, o->conns == 1 ? "" : "s", res->threads,
	       res->threads == 1 ? "" : "s",
	       o->mpx > 1 ? "kept connections, multiplexed" :
	       o->keep ? "kept connections (FCGI_KEEP_CONN)" :
	                 "a new connection per request");
	if (o->mpx > 1)
		printf("  %u requests at once on each connection\n", o->mpx);
	double s = res->seconds > 0 ? res->seconds : 1e-9;
	printf("  %-10s %.2f s\n", "duration", res->seconds);
	printf("  %-10s %" PRIu64 " answered, %.1f per second\n", "requests",
	       c->responses, (double)c->responses / s);
	printf("  %-10s read %s (%s/s), written %s\n", "bytes",
	       human_bytes((double)c->bytes_in, b1, sizeof(b1)),
	       human_bytes((double)c->bytes_in / s, b2, sizeof(b2)),
	       human_bytes((double)c->bytes_out, b3, sizeof(b3)));
	if (h->total == 0)
		printf("  %-10s - (no answer)\n", "latency");
	else
		printf("  %-10s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
		       "max %.3f  mean %.3f ms\n", "latency",
		       ms(hdr_percentile(h, 50)), ms(hdr_percentile(h, 90)),
		       ms(hdr_percentile(h, 99)), ms(hdr_percentile(h, 99.9)),
		       ms(h->max), hdr_mean(h) / 1e6);
	printf("  %-10s 2xx %" PRIu64 "  3xx %" PRIu64 "  4xx %" PRIu64
	       "  5xx %" PRIu64 "%s", "status", c->status[2], c->status[3],
	       c->status[4], c->status[5], c->status[0] ? "  other " : "\n");
	if (c->status[0])
		printf("%" PRIu64 "\n", c->status[0]);
	uint64_t total = res->errors + c->status[4] + c->status[5];
	printf("  %-10s %" PRIu64, "errors", total);
	if (total) {
		const char *sep = " (";
		if (c->status[4] || c->status[5]) {
			printf("%sstatus 4xx %" PRIu64 ", 5xx %" PRIu64, sep,
			       c->status[4], c->status[5]);
			sep = ", ";
		}
		for (int i = 0; i < N_ERR; i++) {
			if (!c->errors[i])
				continue;
			printf("%s%s %" PRIu64, sep, err_names[i], c->errors[i]);
			sep = ", ";
		}
		putchar(')');
	}
	putchar('\n');
}

/* ---- The run ----------------------------------------------------------- */

static void on_sigint(int sig)
{
	(void)sig;
	atomic_store(&g_run.stop, true);
}

static unsigned cores(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void progress(struct worker *ws, unsigned n, uint64_t t, uint64_t *last,
                     uint64_t *last_t)
{
	uint64_t done = 0, errs = 0;
	for (unsigned i = 0; i < n; i++) {
		done += atomic_load_explicit(&ws[i].pub_done, memory_order_relaxed);
		errs += atomic_load_explicit(&ws[i].pub_errors, memory_order_relaxed);
	}
	double dt = (double)(t - *last_t) / 1e9;
	fprintf(stdout, "\r\033[K  %5.1f s  %" PRIu64 " answered  %.0f req/s  "
	        "%" PRIu64 " errors",
	        (double)(t - g_run.start_ns) / 1e9, done,
	        dt > 0 ? (double)(done - *last) / dt : 0.0, errs);
	fflush(stdout);
	*last = done;
	*last_t = t;
}

/* Starts the workers, watches the clock, and waits for them. */
static int run_workers(struct run *r, struct worker *ws, unsigned n_threads)
{
	const struct options *o = r->o;
	unsigned started = 0;
	r->start_ns = now_ns();
	for (; started < n_threads; started++)
		if (pthread_create(&ws[started].tid, NULL, worker_main,
		                   &ws[started]) != 0)
			break;
	if (started < n_threads)
		atomic_store(&r->stop, true);
	bool tty = !o->json && isatty(STDOUT_FILENO);
	uint64_t deadline = o->seconds > 0
	                    ? r->start_ns + (uint64_t)(o->seconds * 1e9) : 0;
	uint64_t next_line = r->start_ns + 1000000000, last = 0,
	         last_t = r->start_ns;
	for (;;) {
		bool all = true;
		for (unsigned i = 0; i < started; i++)
			all &= atomic_load(&ws[i].finished);
		if (all)
			break;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		uint64_t t = now_ns();
		if (deadline && t >= deadline)
			atomic_store(&r->stop, true);
		if (tty && t >= next_line) {
			progress(ws, started, t, &last, &last_t);
			next_line += 1000000000;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	if (tty && last_t != r->start_ns)
		fputs("\r\033[K", stdout);
	return started == n_threads ? 0 : -1;
}

static void merge(struct result *res, struct worker *ws, unsigned n,
                  uint64_t start)
{
	uint64_t end = start;
	for (unsigned i = 0; i < n; i++) {
		struct counts *c = &ws[i].c;
		res->c.responses += c->responses;
		for (int k = 0; k < 6; k++)
			res->c.status[k] += c->status[k];
		for (int k = 0; k < N_ERR; k++) {
			res->c.errors[k] += c->errors[k];
			res->errors += c->errors[k];
		}
		res->c.bytes_in += c->bytes_in;
		res->c.bytes_out += c->bytes_out;
		hdr_merge(res->lat, &ws[i].lat);
		if (ws[i].last_done_ns > end)
			end = ws[i].last_done_ns;
	}
	res->seconds = (double)(end - start) / 1e9;
}

static int encode_request(struct run *r, char *err, size_t errlen)
{
	const struct options *o = r->o;
	uint8_t *body = NULL;
	size_t body_len = 0;
	int rc = read_body(o->data, &body, &body_len);
	if (rc < 0) {
		snprintf(err, errlen, "-d %s: %s", o->data, strerror(-rc));
		return -1;
	}
	struct cgi_params p;
	struct cgi_pair *pairs = NULL;
	char *buf = NULL;
	rc = build_params(o, o->data ? (int64_t)body_len : -1, &p, &pairs, &buf,
	                  err, errlen);
	if (rc == 0) {
		r->blobs = calloc(o->mpx, sizeof(*r->blobs));
		if (!r->blobs)
			rc = -1;
	}
	for (unsigned i = 0; rc == 0 && i < o->mpx; i++) {
		rc = o->scgi ? encode_scgi(&r->blobs[i], p.pairs, p.n_pairs, body,
		                           body_len)
		             : encode_fcgi(&r->blobs[i], (uint16_t)(i + 1), o->keep,
		                           p.pairs, p.n_pairs, body, body_len);
		if (rc < 0)
			snprintf(err, errlen, "cannot encode the request: %s",
			         strerror(-rc));
	}
	free(pairs);
	free(buf);
	free(body);
	return rc;
}

/* Each connection takes an fd: raise the soft limit to the hard one, and
 * refuse a -c that would not fit, rather than count EMFILE as connect
 * errors. */
static int fd_room(unsigned conns, char *err, size_t errlen)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)conns + 64 > rl.rlim_cur) {
		snprintf(err, errlen, "-c %u: more connections than the open-file "
		         "limit allows (%llu; ulimit -n)", conns,
		         (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

int bench_main(int argc, char **argv)
{
	struct options o;
	if (parse_options(&o, argc, argv) < 0)
		return EXIT_USAGE;
	struct run *r = &g_run;
	r->o = &o;
	r->timeout_ns = (uint64_t)(o.timeout * 1e9);
	r->limited = o.requests > 0;
	atomic_store(&r->budget, (long long)o.requests);
	char err[512] = "";
	int rc = 1;
	struct worker *ws = NULL;
	unsigned n_threads = o.threads ? o.threads : cores();
	if (n_threads > o.conns)
		n_threads = o.conns;
	struct result res = {.threads = n_threads};
	res.lat = malloc(sizeof(*res.lat));
	if (!res.lat)
		goto out;
	hdr_init(res.lat);
	if (fd_room(o.conns, err, sizeof(err)) < 0)
		goto out;
	if (resolve(o.addr, &r->target, err, sizeof(err)) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	rc = encode_request(r, err, sizeof(err));
	if (rc < 0) {
		rc = rc == -EXIT_USAGE ? EXIT_USAGE : 1;
		goto out;
	}
	rc = preflight(r, err, sizeof(err));
	if (rc != 0)
		goto out;
	rc = 1;
	ws = calloc(n_threads, sizeof(*ws));
	if (!ws)
		goto out;
	for (unsigned i = 0; i < n_threads; i++) {
		ws[i].epfd = -1;
		unsigned share = o.conns / n_threads + (i < o.conns % n_threads);
		if (worker_init(&ws[i], r, share) < 0) {
			snprintf(err, sizeof(err), "out of memory or fds");
			goto out;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	/* Ctrl-C: finish what is in flight and report; a second one ends
	 * the program the usual way (SA_RESETHAND). */
	struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND};
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	if (run_workers(r, ws, n_threads) < 0) {
		snprintf(err, sizeof(err), "cannot start threads");
		goto out;
	}
	merge(&res, ws, n_threads, r->start_ns);
	if (o.json)
		print_json(&o, &res);
	else
		print_text(&o, &res);
	rc = 0;
out:
	if (*err)
		fprintf(stderr, "anycgi bench: %s\n", err);
	for (unsigned i = 0; ws && i < n_threads; i++)
		worker_free(&ws[i]);
	free(ws);
	for (unsigned i = 0; r->blobs && i < o.mpx; i++)
		free(r->blobs[i].p);
	free(r->blobs);
	free(res.lat);
	return rc;
}
