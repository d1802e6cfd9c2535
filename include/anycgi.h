/* anycgi.h: the one public header of libanycgi.
 *
 * One program, unchanged, serves FastCGI (the whole 1.0 specification:
 * Responder, Authorizer and Filter roles, multiplexing, management
 * records), SCGI, and classic CGI. The library finds out which from how it
 * was started:
 *   - fd 0 is a listening socket (FCGI_LISTENSOCK_FILENO, the libfcgi and
 *     spawn-fcgi convention; a process manager may pass more on the fds
 *     that ANYCGI_LISTEN_FDS=3,4 names), or ANYCGI_LISTEN=ADDR names one to create
 *     (unix:/path, HOST:PORT or [IPv6]:PORT): FastCGI and SCGI, told apart
 *     by each connection's first byte, or forced by ANYCGI_PROTOCOL=fastcgi
 *     or scgi (or acgi_server_set_protocol);
 *   - otherwise, GATEWAY_INTERFACE is set: one CGI request, params from the
 *     environment, body on stdin, response on stdout.
 *
 * Two styles:
 *   - the blocking loop, like libfcgi's:
 *         acgi_server *s = acgi_server_new();
 *         acgi_request *r;
 *         while (acgi_accept(s, &r) == 0) {
 *             acgi_printf(r, "hello\n");
 *             acgi_finish(&r);
 *         }
 *     One event loop inside the library keeps serving every connection
 *     the web server holds open while the program handles one request.
 *   - the handler style: acgi_serve(s, handler, data, n_threads) calls
 *     handler(request, data) for each request, on n_threads threads, with
 *     many requests multiplexed on one connection (FCGI_MPXS_CONNS=1).
 *
 * Errors are negative errno values (see acgi_strerror). Versioning: programs
 * built against one major version run with any library of the same major
 * version (same ABI). */
#ifndef ANYCGI_H
#define ANYCGI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ACGI_API __attribute__((visibility("default")))
#define ACGI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ACGI_API
#define ACGI_PRINTF(f, a)
#endif

#define ACGI_VERSION_MAJOR 0
#define ACGI_VERSION_MINOR 1
#define ACGI_VERSION_PATCH 0
#define ACGI_VERSION_STRING "0.1.0"

/* Returns the library's version as "MAJOR.MINOR.PATCH". */
ACGI_API const char *acgi_version(void);

/* Returns a one-line description of a negative error code returned by any
 * acgi_ function (never NULL). */
ACGI_API const char *acgi_strerror(int code);

typedef struct acgi_server acgi_server;
typedef struct acgi_request acgi_request;

/* How the server was started. */
typedef enum acgi_mode {
	ACGI_MODE_NONE = 0,    /* no listener and no CGI environment */
	ACGI_MODE_LISTEN = 1,  /* FastCGI and/or SCGI on listening sockets */
	ACGI_MODE_CGI = 2,     /* one classic CGI request */
} acgi_mode;

/* The protocol of a listener's connections. */
typedef enum acgi_protocol {
	ACGI_PROTO_AUTO = 0,   /* by each connection's first byte */
	ACGI_PROTO_FASTCGI = 1,
	ACGI_PROTO_SCGI = 2,
	ACGI_PROTO_CGI = 3,    /* only as a request's protocol */
} acgi_protocol;

/* The FastCGI roles (FastCGI 1.0, section 6). SCGI and CGI requests are
 * Responders. */
typedef enum acgi_role {
	ACGI_RESPONDER = 1,
	ACGI_AUTHORIZER = 2,
	ACGI_FILTER = 3,
} acgi_role;

/* Limits, each with a default; see acgi_server_set_limit. */
typedef enum acgi_limit {
	ACGI_LIMIT_PARAMS_BYTES = 0,  /* names+values of one request: 1 MiB */
	ACGI_LIMIT_PARAMS_COUNT,      /* pairs of one request: 1000 */
	ACGI_LIMIT_PARAM_LENGTH,      /* one name or value: 64 KiB */
	ACGI_LIMIT_BODY_BYTES,        /* one request body: unlimited (0) */
	ACGI_LIMIT_REQS_PER_CONN,     /* requests at once on a connection: 32;
	                                 1 turns multiplexing off */
	ACGI_LIMIT_CONNS,             /* connections at once: 1024 */
	ACGI_LIMIT_BODY_BUFFER,       /* body bytes buffered per request before
	                                 reading pauses: 256 KiB */
	ACGI_LIMIT_COUNT_
} acgi_limit;

typedef enum acgi_log_level {
	ACGI_LOG_ERROR = 0,
	ACGI_LOG_WARNING = 1,
	ACGI_LOG_INFO = 2,
	ACGI_LOG_DEBUG = 3,
} acgi_log_level;

/* A log sink: one line (no newline) per call. Called from whichever thread
 * found the problem; it must be thread-safe if handler threads are used. */
typedef void (*acgi_log_fn)(acgi_log_level level, const char *line,
                            void *data);

/* ---- The server --------------------------------------------------------- */

/* Creates a server from the process's start-up conditions (see the top of
 * this header): it takes fd 0 when that is a listening socket, creates the
 * ANYCGI_LISTEN listener, reads FCGI_WEB_SERVER_ADDRS, ANYCGI_PROTOCOL
 * and ANYCGI_MAX_REQUESTS (stop gracefully after that many requests), or
 * prepares the one CGI request. Returns NULL only when out of memory;
 * problems with the environment are logged and leave the server in
 * ACGI_MODE_NONE, where acgi_accept fails with -ENOTSOCK. */
ACGI_API acgi_server *acgi_server_new(void);

/* Frees a server and closes what it opened; takes NULL; sets *s to NULL.
 * Requests must be finished first. */
ACGI_API void acgi_server_free(acgi_server **s);

/* Returns how the server was started. */
ACGI_API acgi_mode acgi_server_mode(const acgi_server *s);

/* Adds a listener on ADDR (unix:/path, HOST:PORT, [IPv6]:PORT) and turns a
 * server in ACGI_MODE_NONE or ACGI_MODE_LISTEN to ACGI_MODE_LISTEN. A stale
 * Unix socket (nobody accepting) is replaced; a live one is -EADDRINUSE.
 * Returns 0, -EINVAL for a malformed address, or the socket call's error. */
ACGI_API int acgi_server_listen(acgi_server *s, const char *addr);

/* Forces the protocol of every listener (default: ANYCGI_PROTOCOL, else
 * auto). Returns 0 or -EINVAL. */
ACGI_API int acgi_server_set_protocol(acgi_server *s, acgi_protocol proto);

/* Sets a limit; 0 means "no limit" where the list above allows it. Call it
 * before the first acgi_accept or acgi_serve. Returns 0 or -EINVAL. */
ACGI_API int acgi_server_set_limit(acgi_server *s, acgi_limit which,
                                   uint64_t value);

/* Returns a limit's value. */
ACGI_API uint64_t acgi_server_get_limit(const acgi_server *s,
                                        acgi_limit which);

/* Sets where the library's log lines go (NULL fn: back to the default,
 * one line on stderr) and the most detailed level passed on (default
 * ACGI_LOG_INFO). */
ACGI_API void acgi_server_set_log(acgi_server *s, acgi_log_fn fn, void *data,
                                  acgi_log_level max_level);

/* Asks the server to stop: it accepts no new connection or request,
 * finishes the ones it has, then acgi_accept returns -ESHUTDOWN and
 * acgi_serve returns 0. Async-signal-safe and thread-safe. By default the
 * library calls it on SIGQUIT and SIGUSR1 (the process manager's and
 * libfcgi's graceful stop), unless the program set its own handlers. */
ACGI_API void acgi_server_stop(acgi_server *s);

/* ---- The blocking loop -------------------------------------------------- */

/* Waits for the next request and stores it in *req. Returns 0, or
 * -ESHUTDOWN when there will be no more (the server stopped, or its one CGI
 * request was served), or -ENOTSOCK when the server has nothing to serve.
 * While it waits, it reads every connection, answers management records
 * and queues requests that arrive. Not for use with acgi_serve. */
ACGI_API int acgi_accept(acgi_server *s, acgi_request **req);

/* ---- The handler style -------------------------------------------------- */

/* A request handler. The request is finished (acgi_finish) after it
 * returns, unless the handler finished it itself. */
typedef void (*acgi_handler)(acgi_request *req, void *data);

/* Serves requests until the server stops, calling handler on n_threads
 * threads (0 or 1: on the calling thread, one request at a time; more: the
 * calling thread runs the event loop, the others run the handler). Returns
 * 0 after a stop, -ENOTSOCK when there is nothing to serve, -EAGAIN when
 * threads cannot be created. */
ACGI_API int acgi_serve(acgi_server *s, acgi_handler handler, void *data,
                        unsigned n_threads);

/* ---- Requests: what came in --------------------------------------------- */

/* Returns the request's role. */
ACGI_API acgi_role acgi_request_role(const acgi_request *r);

/* Returns the protocol the request arrived by (FASTCGI, SCGI or CGI). */
ACGI_API acgi_protocol acgi_request_protocol(const acgi_request *r);

/* Returns the first value of the param named name, or NULL. The string
 * lives until acgi_finish. */
ACGI_API const char *acgi_param(const acgi_request *r, const char *name);

/* Returns the number of params, duplicates counted (a name sent twice is
 * kept twice, in arrival order). */
ACGI_API size_t acgi_param_count(const acgi_request *r);

/* Stores the i-th param's name and value (strings that live until
 * acgi_finish). Returns 0, or -ERANGE when i >= acgi_param_count. */
ACGI_API int acgi_param_at(const acgi_request *r, size_t i,
                           const char **name, const char **value);

/* Returns CONTENT_LENGTH, or -1 when the request did not give one (an
 * empty CONTENT_LENGTH, as nginx sends for a GET, means 0). */
ACGI_API int64_t acgi_content_length(const acgi_request *r);

/* Reads up to len body bytes (FCGI_STDIN, the SCGI body, or stdin) into
 * buf, waiting for them. Returns the bytes read, 0 at the end of the body,
 * or: -ECANCELED when the request was aborted, -EPROTO when the body ended
 * shorter or ran longer than CONTENT_LENGTH, -EFBIG past the body limit.
 * A body with no CONTENT_LENGTH is read to the end of its stream. */
ACGI_API ssize_t acgi_read(acgi_request *r, void *buf, size_t len);

/* Reads the Filter role's FCGI_DATA stream, which follows the body (read
 * the body first). Same returns, checked against FCGI_DATA_LENGTH; 0 at
 * once for other roles. */
ACGI_API ssize_t acgi_read_data(acgi_request *r, void *buf, size_t len);

/* ---- Requests: the response --------------------------------------------- */

/* Sets the response status (100..999) and reason (NULL: the standard one).
 * Returns 0, -EINVAL, or -EALREADY once the head was sent. */
ACGI_API int acgi_set_status(acgi_request *r, int code, const char *reason);

/* Adds a response header line. A CR, LF or NUL in the name or value, or a
 * name that is not an HTTP token, is refused with -EINVAL. Returns 0,
 * -EINVAL, -ENOMEM, or -EALREADY once the head was sent. */
ACGI_API int acgi_add_header(acgi_request *r, const char *name,
                             const char *value);

/* Sets Content-Type (default text/html, sent when the body starts if no
 * header set it). Same returns as acgi_add_header.
 *
 * If the program calls none of acgi_set_status, acgi_add_header and
 * acgi_set_content_type before writing, its first bytes are its own CGI
 * head, as with libfcgi. A request that writes nothing at all gets a
 * complete empty response (Status: 200). */
ACGI_API int acgi_set_content_type(acgi_request *r, const char *type);

/* Writes body bytes; the head goes first. Bytes are buffered and leave
 * when the buffer fills, on acgi_flush, or at acgi_finish; the call waits
 * while the connection's output is backed up. Returns len, or -ECANCELED
 * after an abort, -EPIPE when the connection is gone. */
ACGI_API ssize_t acgi_write(acgi_request *r, const void *buf, size_t len);

/* Formats into the body; returns bytes written or a negative code. */
ACGI_API int acgi_printf(acgi_request *r, const char *fmt, ...)
	ACGI_PRINTF(2, 3);
ACGI_API int acgi_vprintf(acgi_request *r, const char *fmt, va_list ap);

/* Sends the head and every buffered byte now. Returns 0 or as acgi_write. */
ACGI_API int acgi_flush(acgi_request *r);

/* Writes to the error stream: FCGI_STDERR under FastCGI, stderr otherwise
 * (the library's log for SCGI). Same returns as acgi_write. */
ACGI_API ssize_t acgi_write_err(acgi_request *r, const void *buf, size_t len);
ACGI_API int acgi_eprintf(acgi_request *r, const char *fmt, ...)
	ACGI_PRINTF(2, 3);

/* ---- Requests: aborts ----------------------------------------------------- */

/* Returns true once the request was aborted: FCGI_ABORT_REQUEST, or the web
 * server closed the connection (how nginx, Apache, lighttpd and Caddy
 * abort). After an abort, reads and writes fail with -ECANCELED. */
ACGI_API bool acgi_cancelled(const acgi_request *r);

/* Returns a file descriptor to poll in the handler for the abort, or a
 * negative code (-ENOTSOCK under CGI). With handler threads it becomes
 * readable exactly when the request is aborted; with one thread it is the
 * library's event loop descriptor, readable on any event: call
 * acgi_cancelled, which runs the loop once, to confirm. It belongs to the
 * library: never close it. */
ACGI_API int acgi_cancel_fd(acgi_request *r);

/* ---- Requests: the end ---------------------------------------------------- */

/* Ends the request with app status 0: sends what is buffered (and a
 * minimal head if none was sent), ends the streams, sends END_REQUEST, and
 * frees the request; takes NULL; sets *r to NULL. Returns 0, or the first
 * write error (the request is freed either way). */
ACGI_API int acgi_finish(acgi_request **r);

/* The same with an app status (FCGI_END_REQUEST's appStatus; the exit
 * status under CGI is not changed). */
ACGI_API int acgi_finish_status(acgi_request **r, int app_status);

#ifdef __cplusplus
}
#endif

#endif
