/* libanycgi's internal structures and the interfaces between its files. */
#ifndef ACGI_LIB_INTERNAL_H
#define ACGI_LIB_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "anycgi.h"
#include "buf.h"
#include "fcgi.h"
#include "scgi.h"
#include "scoreboard.h"

enum {
	CONN_READ_SIZE = 65536,   /* bytes asked of one read() */
	OUT_HIGH = 256 * 1024,    /* a connection's queued output that makes
	                             writers wait */
	OUT_LOW = 64 * 1024,      /* ... until it drains below this */
	REQ_OUT_FLUSH = 16 * 1024,/* a request's staged output that becomes
	                             records */
	MAX_WEB_ADDRS = 32,       /* FCGI_WEB_SERVER_ADDRS entries kept */
};

/* What an epoll event's data.ptr points at: each starts with this tag. */
enum watch_kind { WATCH_LISTENER = 1, WATCH_CONN, WATCH_STOP, WATCH_HANDOVER };

struct listener {
	uint8_t kind;            /* WATCH_LISTENER */
	int fd;                  /* listening socket, non-blocking */
	bool tcp;                /* FCGI_WEB_SERVER_ADDRS applies */
	bool armed;              /* registered with epoll */
};

struct web_addr {
	int family;              /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
};

struct conn;

struct acgi_server {
	pthread_mutex_t lock;     /* guards everything below */
	acgi_mode mode;
	acgi_protocol proto;      /* forced protocol, or AUTO */
	uint64_t limits[ACGI_LIMIT_COUNT_];
	acgi_log_fn log_fn;       /* NULL: one line on stderr */
	void *log_data;
	acgi_log_level log_max;
	int epfd;                 /* -1 until the loop starts */
	uint8_t *scratch;         /* CONN_READ_SIZE bytes every read goes to */
	uint8_t stop_kind;        /* WATCH_STOP: stop_fd's epoll tag */
	int stop_fd;              /* eventfd written by acgi_server_stop */
	uint8_t handover_kind;    /* WATCH_HANDOVER: handover_fd's epoll tag */
	int handover_fd;          /* ANYCGI_HANDOVER_FD, -1: none */
	struct listener *listeners;
	size_t n_listeners;
	struct conn *conns;       /* live connections (list) */
	struct conn *zombies;     /* closed, freed at the next loop step */
	size_t n_conns;
	struct acgi_request *ready_head; /* requests waiting for a handler */
	struct acgi_request *ready_tail;
	pthread_cond_t ready_cond;
	size_t n_live;            /* requests begun and not yet finished */
	size_t n_handling;        /* of those, handed to the program */
	uint64_t n_served;        /* requests handed to the program */
	uint64_t max_requests;    /* ANYCGI_MAX_REQUESTS, 0: no limit */
	bool threaded;            /* handler threads wait on conds, an I/O
	                             thread runs the loop */
	bool started;             /* the loop is set up */
	bool stopping;            /* no new connections or requests */
	bool listeners_parked;    /* out of epoll while a single-threaded
	                             server has a request to handle */
	long long stop_ms;        /* when stopping began (CLOCK_MONOTONIC) */
	volatile sig_atomic_t stop_asked; /* set by acgi_server_stop */
	struct web_addr web_addrs[MAX_WEB_ADDRS]; /* FCGI_WEB_SERVER_ADDRS */
	size_t n_web_addrs;       /* 0: accept every TCP peer */
	acgi_request *cgi_req;    /* CGI mode: the one request, until taken */
	bool cgi_taken;
	char *ping_path;          /* ANYCGI_PING_PATH, or NULL */
	struct acgi_scoreboard *sb; /* the master's page, or NULL: unmanaged */
	struct acgi_request *fl_head; /* with sb: the requests in flight, */
	struct acgi_request *fl_tail; /* oldest first (the page shows it) */
	long long timeout_ms;     /* ANYCGI_REQUEST_TIMEOUT, 0: not given */
};

struct conn {
	uint8_t kind;             /* WATCH_CONN */
	acgi_server *srv;
	int fd;                   /* -1 once closed */
	acgi_protocol proto;      /* AUTO until the first byte */
	struct buf in;            /* read, not yet parsed */
	struct buf out;           /* encoded, not yet sent */
	uint32_t events;          /* current epoll mask */
	int refs;                 /* 1 for being open + 1 per live request */
	bool closed;              /* fd closed, requests aborted */
	bool handed_in;           /* came from another worker (handover) */
	bool read_paused;         /* a request's body buffer is full */
	bool close_when_done;     /* close once out drains with no request */
	bool hand_over;           /* ... or hand it over (a kept connection
	                             of a draining worker) */
	bool lingering;           /* half-closed: discard input until EOF */
	bool unread_input;        /* a request ended before its input did */
	bool in_input;            /* process_input is running (no reentry) */
	pthread_cond_t out_cond;  /* writers wait here for out to drain */
	struct conn *next, *prev;
	/* FastCGI */
	struct fcgi_server fs;
	struct fcgi_slot *slots;  /* n_slots of them */
	acgi_request **reqs;      /* request of each slot, or NULL */
	size_t n_slots;
	struct buf gv;            /* GET_VALUES answer being built */
	/* SCGI */
	struct scgi_parser sp;
	acgi_request *sreq;       /* the connection's one request */
	bool scgi_done;           /* its body was read */
};

enum stream_id { STREAM_BODY = 0, STREAM_DATA = 1 };

struct instream {
	struct buf buf;           /* received, not yet read */
	uint64_t got;             /* bytes received in all */
	int64_t expect;           /* announced length, or -1 */
	bool ended;               /* the stream's end was seen */
	int error;                /* 0, or what reads return once buf is empty */
};

struct acgi_request {
	acgi_server *srv;
	struct conn *conn;        /* NULL under CGI */
	acgi_protocol proto;
	acgi_role role;
	uint16_t id;              /* FastCGI request id */
	uint8_t flags;            /* FastCGI BEGIN_REQUEST flags */
	/* params: "name\0value\0" pairs in store, names at offsets idx[] */
	char *store;
	size_t store_len, store_cap;
	size_t *idx;
	size_t n_params, idx_cap;
	uint32_t name_left;       /* FastCGI: name bytes of the pair still due */
	bool in_value;            /* SCGI: the current pair's value started */
	bool pair_open;           /* a pair is being stored */
	bool params_done;
	int64_t content_length;   /* -1 when not given */
	struct instream in[2];    /* body, and FCGI_DATA */
	/* life cycle */
	bool queued;              /* in the ready queue */
	bool dispatched;          /* handed to the program */
	bool aborted;
	bool worker_owned;        /* acgi_serve frees it after the handler */
	bool finished;            /* END_REQUEST sent */
	int error;                /* a protocol error before dispatch */
	pthread_cond_t cond;      /* readers wait here */
	int cancel_fd;            /* eventfd, or -1 */
	struct acgi_request *next;/* ready queue */
	/* response */
	int status;
	char reason[64];
	struct buf head;          /* header lines, CRLF-terminated */
	bool head_used;           /* the program set status or headers */
	bool head_sent;
	bool has_ctype;
	bool wrote;               /* body or head bytes went out */
	bool err_used;            /* FCGI_STDERR was written */
	struct buf out;           /* staged STDOUT bytes */
	int write_error;          /* first write failure */
	/* scoreboard (only with one) */
	bool in_flight;           /* on the server's fl_ list */
	uint8_t sb_state;         /* ACGI_SB_READING, HANDLING or WRITING */
	long long start_ms;       /* when it began (CLOCK_MONOTONIC) */
	struct acgi_request *fl_next, *fl_prev; /* the server's fl_ list */
};

/* log.c */
void lib_log(acgi_server *s, acgi_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* listen.c */
int listen_addr(const char *addr, int *fd_out, bool *tcp_out);
int listen_detect_fd(int fd, bool *tcp_out);
int web_addrs_parse(acgi_server *s, const char *list);
bool web_addr_allowed(const acgi_server *s, const struct sockaddr *sa);

/* loop.c */
int loop_start(acgi_server *s);
int loop_step(acgi_server *s, int timeout_ms);
long long loop_now_ms(void);
void loop_set_events(struct conn *c, uint32_t events);
void loop_listeners_arm(acgi_server *s, bool on);
void loop_wait(acgi_server *s, pthread_cond_t *cond);

/* conn.c */
void conn_accept(acgi_server *s, struct listener *l);
void conn_on_event(struct conn *c, uint32_t events);
int conn_flush(struct conn *c);
void conn_close(struct conn *c, const char *why);
void conn_unref(struct conn *c);
void conn_resume_input(struct conn *c);
void conn_free_zombies(acgi_server *s);
void conn_request_done(struct conn *c, acgi_request *r);
int conn_close_idle(acgi_server *s, bool fresh_too);
struct conn *conn_adopt(acgi_server *s, int fd);

/* handover.c: kept connections passed to the next generation. */
void handover_open(acgi_server *s);
int handover_arm(acgi_server *s);
void handover_close(acgi_server *s);
bool handover_possible(const acgi_server *s, const struct conn *c);
bool handover_send(acgi_server *s, struct conn *c);
void handover_receive(acgi_server *s);

/* request.c */
acgi_request *req_new(acgi_server *s, struct conn *c, acgi_protocol proto);
void req_free(acgi_request *r);
int req_param_begin(acgi_request *r, size_t name_len, size_t value_len);
int req_param_bytes(acgi_request *r, const uint8_t *data, size_t len);
int req_param_append(acgi_request *r, const uint8_t *data, size_t len);
int req_param_end(acgi_request *r);
int req_params_done(acgi_request *r);
void req_enqueue(acgi_request *r);
void req_unqueue(acgi_request *r);
void req_abort(acgi_request *r);
void req_input(acgi_request *r, enum stream_id which, const uint8_t *data,
               size_t len);
void req_input_end(acgi_request *r, enum stream_id which);
void req_input_error(acgi_request *r, int error);
void req_answer_error(acgi_request *r, int error, const char *reason);
void req_answer_ping(acgi_request *r);
int req_end(acgi_request *r, int app_status);

/* scoreboard.c. Request calls need r->in_flight, the others s->sb (but
 * _open, _close, _pool_workers): callers test it, so an unmanaged worker
 * pays one test. All run under the server lock. */
void scoreboard_open(acgi_server *s);
void scoreboard_close(acgi_server *s);
void scoreboard_set_ready(acgi_server *s, bool ready);
void scoreboard_add(acgi_server *s, uint64_t *counter, uint64_t n);
void scoreboard_req_begin(acgi_request *r);
void scoreboard_req_named(acgi_request *r);
void scoreboard_req_state(acgi_request *r, uint8_t state);
void scoreboard_req_end(acgi_request *r, bool finished);
uint32_t scoreboard_pool_workers(const acgi_server *s);

/* watchdog.c */
int watchdog_start(acgi_server *s);
void watchdog_stop(void);

/* cgi.c */
acgi_request *cgi_request_from_env(acgi_server *s);
ssize_t cgi_read(acgi_request *r, void *buf, size_t len);

/* acgi_read that never waits: the body bytes already received, 0 at the
 * body's end, -EAGAIN when none are buffered yet, or acgi_read's errors.
 * For a handler that polls other fds too (the CGI gateway), with the
 * loop run by acgi_cancelled when acgi_cancel_fd wakes. Under CGI it
 * reads stdin and may wait. */
ssize_t req_read_nowait(acgi_request *r, void *buf, size_t len);
int cgi_write(int fd, const void *buf, size_t len);

#endif
