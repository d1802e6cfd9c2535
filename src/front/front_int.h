/* The front end's internals: options, the event loop's objects (client
 * connections, requests, upstream connections), timers and buffers. */
#ifndef ACGI_FRONT_INT_H
#define ACGI_FRONT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cgi_head.h"
#include "client.h"
#include "http_in.h"

/* ---- options (front_opts.c) ----------------------------------------- */

enum { MAX_LISTEN = 16 };

struct front_opts {
	const char *listen[MAX_LISTEN]; /* --listen ADDR */
	int n_listen;
	const char *upstream;           /* --upstream ADDR */
	int upstream_conns;             /* requests upstream at once */
	double queue_timeout;           /* s, waiting for a slot: 503 */
	double request_timeout;         /* s, waiting for the app: 504 */
	double header_timeout;          /* s, for the whole head */
	double body_timeout;            /* s, between two reads of the body */
	double keepalive_timeout;       /* s, idle between requests */
	double send_timeout;            /* s, between two writes to a client */
	int max_conns;
	uint32_t max_header_bytes;
	uint32_t max_headers;
	int64_t max_body;               /* bytes, -1: no limit */
	const char *script_prefix;      /* "" or "/app" (no trailing slash) */
	const char *document_root;      /* NULL or an absolute path */
	const char *script_pattern;     /* glob for scripts under the root */
	const char *server_name;        /* NULL: from Host */
	bool underscores_in_headers;
	const char *access_log;         /* FILE, "-" or NULL */
	int access_log_fd;              /* -1: none given */
	bool access_log_json;
};

int front_opts_parse(struct front_opts *o, int argc, char **argv);

/* ---- buffers (fbuf.c) ------------------------------------------------ */

struct fbuf {
	uint8_t *data; /* NULL until the first append */
	size_t off;    /* first unconsumed byte */
	size_t len;    /* bytes from off */
	size_t cap;
};

int fbuf_reserve(struct fbuf *b, size_t extra);
int fbuf_append(struct fbuf *b, const void *data, size_t len);
int fbuf_printf(struct fbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fbuf_consume(struct fbuf *b, size_t n);
void fbuf_free(struct fbuf *b);
static inline uint8_t *fbuf_head(const struct fbuf *b)
{
	return b->data + b->off;
}
/* Room after the data, for a read straight into the buffer. */
static inline uint8_t *fbuf_tail(const struct fbuf *b)
{
	return b->data + b->off + b->len;
}

/* ---- timers (front.c) ----------------------------------------------- */

/* Each kind has one duration, so a list kept in the order timers were
 * armed is also in deadline order: arming and firing are O(1). */
enum timer_kind {
	T_HEADER, T_BODY, T_KEEPALIVE, T_SEND, T_LINGER, /* client side */
	T_QUEUE, T_REQUEST,                                /* request side */
	N_TIMERS,
};

struct timer {
	struct timer *prev, *next; /* in its kind's list; NULL when off */
	int64_t deadline;          /* ms, monotonic */
	int8_t kind;               /* enum timer_kind, -1 when off */
};

void timer_arm(struct timer *t, enum timer_kind kind);
void timer_stop(struct timer *t);
int64_t now_ms(void);

/* ---- objects in the epoll set ---------------------------------------- */

enum ev_type { EV_LISTEN, EV_SIGNAL, EV_CLIENT, EV_UPSTREAM, EV_HANDOVER };

struct ev_item {
	uint8_t type; /* enum ev_type: what data.ptr points at */
	int fd;
	uint32_t events; /* registered */
};

struct upconn;
struct hreq;

/* A listening socket, with its local address when that is the same for
 * every connection (not a wildcard), so that no request asks for it. */
struct listener {
	struct ev_item ev;
	struct sockaddr_in6 local; /* sockaddr_in or _in6; sin6_family 0: ask */
	bool is_unix;
};

/* An address as small as a connection can keep it: AF_INET, AF_INET6, or
 * AF_UNIX (no name). */
union peer_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* A client connection. Idle, it holds no buffer (see docs/http.md for
 * its size). */
struct hconn {
	struct ev_item ev;
	struct timer ctimer;     /* header, body, keepalive, send or linger */
	struct hconn *prev, *next;
	struct http_in *hin;     /* NULL while idle */
	struct fbuf in;          /* bytes read, not yet parsed */
	struct fbuf out;         /* response bytes not yet sent */
	struct hreq *req;        /* the request being served, or NULL */
	uint32_t served;         /* requests begun on it */
	struct listener *l;      /* where it came from */
	union peer_addr peer;    /* the client's address */
	bool closing;            /* close once out is sent */
	bool lingering;          /* half-closed, draining input */
	bool eof;                /* the client closed its side */
	bool cut;                /* close without lingering: a response was cut */
	bool processing;         /* inside hconn_process */
	int file_fd;             /* a static file being sent after out, or -1 */
	off_t file_off;          /* its next byte */
	off_t file_left;         /* bytes still to send */
	bool dead;               /* to be freed at the end of the loop turn */
};

enum req_state {
	RQ_QUEUED,    /* waiting for an upstream slot */
	RQ_UPSTREAM,  /* sent (or being sent) to the app */
	RQ_DONE,      /* answered; the body may still be arriving */
};

struct hreq {
	struct hconn *c;
	struct upconn *up;        /* while RQ_UPSTREAM */
	struct hreq *qprev, *qnext; /* in the queue while RQ_QUEUED */
	struct timer rtimer;      /* queue or request timeout */
	enum req_state state;
	int64_t start_ms;
	uint64_t body_in;         /* request body bytes read from the client */
	bool body_done;           /* the client's body is complete */
	bool body_discard;        /* the body goes nowhere (answered early) */
	bool continue_sent;       /* 100 Continue written (or not needed) */
	bool head_sent;           /* a response head went to the client */
	bool chunked_out;         /* the response body is chunked */
	bool close_delimited;     /* the response ends with the connection */
	bool no_body;             /* HEAD, 204, 304 */
	bool keep_alive;          /* the connection may go on after this */
	int redirects;            /* local redirects followed */
	char *path;               /* decoded, normalized path */
	char *script;             /* --document-root: the script's SCRIPT_NAME
	                             (without the prefix), or NULL */
	char *path_info;          /* with script: its PATH_INFO */
	bool stdin_ended;         /* the empty STDIN record is out */
	bool logged;              /* the access log has its line */
	bool queued;              /* in the queue */
	char *redirect_uri;       /* the path+query of a local redirect */
	int status;               /* for the access log */
	int64_t resp_left;        /* Content-Length bytes still due, or -1 */
	uint64_t bytes_out;       /* response body bytes sent */
	struct cgi_head_parser ch;
	char *ch_buf;
};

/* An upstream (FastCGI) connection, one request at a time. */
struct upconn {
	struct ev_item ev;
	struct upconn *prev, *next; /* in the idle list */
	struct upconn *aprev, *anext; /* in the list of all */
	struct hreq *req;        /* the request on it, or NULL */
	struct fbuf out;         /* records not yet sent */
	struct fcgi_client fc;
	bool connecting;
	bool reused;             /* it served a request before */
	bool draining;           /* aborted: read to END_REQUEST, then reuse */
	bool got_bytes;          /* a byte of the answer arrived */
	bool sent_body;          /* STDIN data went out */
	bool dead;               /* closed, freed at the end of the loop turn */
};

/* ---- the process (front.c) -------------------------------------------- */

struct front {
	struct front_opts opt;
	int epfd;
	struct ev_item sig;
	struct ev_item ho;        /* ANYCGI_HANDOVER_FD, fd -1: none */
	struct listener *listeners;
	int n_listeners;
	bool listening;           /* listeners are in epoll */
	bool stopping;            /* SIGQUIT: finishing */
	struct hconn *conns;      /* every client connection */
	int n_conns;
	struct hreq *queue_head, *queue_tail; /* waiting for a slot */
	struct upconn *idle_up;   /* kept connections, free */
	int n_up;                 /* upstream connections open */
	int n_up_busy;            /* carrying a request */
	struct sockaddr_storage up_addr;
	socklen_t up_addrlen;
	int alog_fd;              /* -1: no access log */
	int root_fd;              /* --document-root, O_PATH; -1: none */
	struct http_in_limits lim;
	struct timer *timers[N_TIMERS]; /* heads */
	struct timer *timer_tails[N_TIMERS];
	int64_t timeouts_ms[N_TIMERS];
};

extern struct front *F;

void front_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ev_set(struct ev_item *ev, uint32_t events);
int ev_add(struct ev_item *ev, void *ptr, uint32_t events);
void ev_del(struct ev_item *ev);
void front_listen_arm(bool on);

/* ---- client connections (hconn.c) ------------------------------------ */

void hconn_accept(struct listener *l);
void hconn_on_event(struct hconn *c, uint32_t events);
void hconn_on_timer(struct hconn *c, int kind);
void hconn_process(struct hconn *c);
void hconn_update(struct hconn *c);
int hconn_flush(struct hconn *c);
void hconn_close_idle(void);
void hconn_request_done(struct hconn *c);
void hconn_reap(void);
void hconn_close_all(void);
void hconn_adopt(int fd);

/* ---- kept connections across a reload (handover.c) ------------------- */

int front_handover_open(void);
bool front_handover_possible(void);
bool front_handover_send(int fd);
void front_handover_on_event(void);

/* Draining: does a response end its connection? Not when the connection
 * can be handed over to the next front end afterwards. */
static inline bool front_drain_closes(void)
{
	return F->stopping && !front_handover_possible();
}

/* ---- requests (hreq.c) ----------------------------------------------- */

struct hreq *hreq_start(struct hconn *c);
void hreq_dispatch(struct hreq *r);
void hreq_body(struct hreq *r, const uint8_t *data, size_t len);
void hreq_body_end(struct hreq *r);
bool hreq_wants_body(const struct hreq *r);
void hreq_error(struct hreq *r, int status, const char *why);
void hreq_respond(struct hreq *r, int status, const char *fields);
void hreq_answered(struct hreq *r);
void hreq_abort(struct hreq *r);
void hreq_on_timer(struct hreq *r);
void hreq_free(struct hreq *r);
void hreq_on_slot(struct hreq *r, struct upconn *u);
void hreq_on_stdout(struct hreq *r, const uint8_t *data, size_t len);
void hreq_on_end(struct hreq *r);
void hreq_on_upstream_error(struct hreq *r, const char *why);
void hreq_timer_update(struct hreq *r);
void queue_remove(struct hreq *r);

/* ---- upstream connections (upstream.c) ------------------------------- */

int upstream_parse_addr(const char *addr, struct sockaddr_storage *ss,
                        socklen_t *len);
void upstream_acquire(struct hreq *r);
int upstream_send(struct upconn *u, const void *data, size_t len);
int upstream_flush(struct upconn *u);
void upstream_on_event(struct upconn *u, uint32_t events);
void upstream_release(struct upconn *u, bool reusable);
void upstream_abort(struct upconn *u);
void upstream_update(struct upconn *u);
void upstream_retry(struct hreq *r);
void upstream_reap(void);
void upstream_close_all(void);

enum { UP_HIGH = 256 * 1024, OUT_HIGH = 256 * 1024, IN_BUF = 16384 };

/* ---- params (params.c) ----------------------------------------------- */

int params_path(const char *path, size_t len, char **out);
int params_encode(struct fbuf *out, const struct hconn *c,
                  const struct http_head *h, const struct hreq *r);

/* ---- responses (reply.c) --------------------------------------------- */

const char *reply_reason(int status);
int reply_error(struct fbuf *out, int status, bool close);
int reply_error_with(struct fbuf *out, int status, bool close,
                     const char *fields, bool head);
int reply_head(struct hreq *r, struct fbuf *out);
const char *reply_date(void);

/* ---- static files (static.c) ----------------------------------------- */

int static_open_root(void);
bool static_route(struct hreq *r);
void static_script(struct hreq *r);
int static_flush(struct hconn *c);

/* ---- access log (alog.c) --------------------------------------------- */

void alog_request(const struct hreq *r);

#endif
