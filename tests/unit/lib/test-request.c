/* The request API end to end over a real Unix socket: a client thread
 * speaks FastCGI with the client codec, the test's main thread is the
 * application (blocking style). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "anycgi.h"
#include "client.h"

struct reply {
	char out[65536];          /* STDOUT bytes */
	size_t out_len;
	char err[4096];           /* STDERR bytes */
	size_t err_len;
	bool ended;               /* END_REQUEST seen */
	uint32_t app_status;
	uint8_t protocol_status;
	bool closed_after;        /* the app closed the connection after END */
};

struct client {
	char path[108];
	uint8_t req[8192];        /* bytes to send */
	size_t req_len;
	uint8_t req2[8192];       /* sent after the first reply, same socket */
	size_t req2_len;
	uint8_t late[64];         /* sent 200 ms after req, before any reply */
	size_t late_len;
	struct reply rep[2];
	pthread_t tid;
};

struct fixture {
	char dir[64];
	char path[108];
	acgi_server *s;
	char log[4096];           /* log lines, joined */
};

static void on_log(acgi_log_level level, const char *line, void *data)
{
	struct fixture *f = data;
	(void)level;
	size_t n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/acgi-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	unsetenv("GATEWAY_INTERFACE");
	unsetenv("ANYCGI_LISTEN");
	f->s = acgi_server_new();
	assert_non_null(f->s);
	char addr[128];
	snprintf(addr, sizeof(addr), "unix:%s", f->path);
	assert_int_equal(acgi_server_listen(f->s, addr), 0);
	acgi_server_set_log(f->s, on_log, f, ACGI_LOG_DEBUG);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	acgi_server_free(&f->s);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- The client side ---------------------------------------------------- */

static void put(struct client *c, bool second, const void *p, size_t n)
{
	uint8_t *buf = second ? c->req2 : c->req;
	size_t *len = second ? &c->req2_len : &c->req_len;
	assert_true(*len + n <= sizeof(c->req));
	memcpy(buf + *len, p, n);
	*len += n;
}

static void put_begin(struct client *c, bool second, uint16_t id,
                      uint16_t role, uint8_t flags)
{
	uint8_t rec[16];
	fcgi_encode_begin(rec, id, role, flags);
	put(c, second, rec, sizeof(rec));
}

static void put_params(struct client *c, bool second, uint16_t id,
                       const char *const *kv, size_t n_pairs)
{
	struct cgi_pair pairs[32];
	for (size_t i = 0; i < n_pairs; i++)
		pairs[i] = (struct cgi_pair){kv[2 * i], strlen(kv[2 * i]),
		                             kv[2 * i + 1], strlen(kv[2 * i + 1])};
	uint8_t out[4096];
	int64_t n = fcgi_encode_params(out, sizeof(out), id, pairs, n_pairs);
	assert_true(n > 0 && (size_t)n <= sizeof(out));
	put(c, second, out, (size_t)n);
}

static void put_stream(struct client *c, bool second, uint8_t type,
                       uint16_t id, const char *data)
{
	uint8_t out[4096];
	size_t len = data ? strlen(data) : 0;
	int64_t n = fcgi_encode_stream(out, sizeof(out), type, id,
	                               (const uint8_t *)data, len);
	assert_true(n > 0 && (size_t)n <= sizeof(out));
	put(c, second, out, (size_t)n);
}

static void read_reply(int fd, uint16_t id, struct reply *rep)
{
	struct fcgi_client fc;
	fcgi_client_init(&fc, id);
	uint8_t buf[4096];
	while (!rep->ended) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got <= 0)
			return;
		size_t off = 0;
		for (;;) {
			struct fcgi_client_event ev;
			int n = fcgi_client_feed(&fc, buf + off, (size_t)got - off, &ev);
			if (n < 0)
				return;
			off += (size_t)n;
			if (ev.kind == FCGI_CEV_STDOUT &&
			    rep->out_len + ev.len < sizeof(rep->out)) {
				memcpy(rep->out + rep->out_len, ev.data, ev.len);
				rep->out_len += ev.len;
			} else if (ev.kind == FCGI_CEV_STDERR &&
			           rep->err_len + ev.len < sizeof(rep->err)) {
				memcpy(rep->err + rep->err_len, ev.data, ev.len);
				rep->err_len += ev.len;
			} else if (ev.kind == FCGI_CEV_END) {
				rep->ended = true;
				rep->app_status = ev.app_status;
				rep->protocol_status = ev.protocol_status;
				break;
			} else if (ev.kind == FCGI_CEV_NONE) {
				break;
			}
		}
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, c->path);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return NULL;
	(void)!write(fd, c->req, c->req_len);
	if (c->late_len) {
		usleep(200 * 1000);
		(void)!write(fd, c->late, c->late_len);
	}
	read_reply(fd, 1, &c->rep[0]);
	if (c->req2_len) {
		(void)!write(fd, c->req2, c->req2_len);
		read_reply(fd, 1, &c->rep[1]);
	}
	char b;
	c->rep[c->req2_len ? 1 : 0].closed_after = recv(fd, &b, 1, 0) == 0;
	close(fd);
	return NULL;
}

static struct client *client_new(struct fixture *f)
{
	struct client *c = calloc(1, sizeof(*c));
	strcpy(c->path, f->path);
	return c;
}

static void client_start(struct client *c)
{
	assert_int_equal(pthread_create(&c->tid, NULL, client_main, c), 0);
}

static void client_join(struct client *c)
{
	pthread_join(c->tid, NULL);
}

static const char *const basic[] = {
	"REQUEST_METHOD", "GET", "QUERY_STRING", "", "HTTP_X_MULTI", "one",
	"HTTP_X_MULTI", "two", "CONTENT_LENGTH", "",
};

/* ---- Tests --------------------------------------------------------------- */

static void test_params_and_head(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	put_begin(c, false, 1, FCGI_RESPONDER, 0xfe);
	put_params(c, false, 1, basic, 5);
	put_stream(c, false, FCGI_STDIN, 1, NULL);
	client_start(c);

	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	assert_int_equal(acgi_request_role(r), ACGI_RESPONDER);
	assert_int_equal(acgi_request_protocol(r), ACGI_PROTO_FASTCGI);
	assert_int_equal(acgi_param_count(r), 5);
	assert_string_equal(acgi_param(r, "HTTP_X_MULTI"), "one");
	const char *name, *value;
	assert_int_equal(acgi_param_at(r, 3, &name, &value), 0);
	assert_string_equal(name, "HTTP_X_MULTI");
	assert_string_equal(value, "two");
	assert_int_equal(acgi_param_at(r, 5, &name, &value), -ERANGE);
	assert_null(acgi_param(r, "MISSING"));
	/* nginx's empty CONTENT_LENGTH for a GET: no body. */
	assert_int_equal(acgi_content_length(r), 0);
	char buf[16];
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), 0);

	assert_int_equal(acgi_add_header(r, "X-Bad", "a\r\nSet-Cookie: x"), -EINVAL);
	assert_int_equal(acgi_add_header(r, "X-Bad\n", "a"), -EINVAL);
	assert_int_equal(acgi_add_header(r, "Bad Name", "a"), -EINVAL);
	assert_int_equal(acgi_set_status(r, 42, NULL), -EINVAL);
	assert_int_equal(acgi_set_status(r, 201, NULL), 0);
	assert_int_equal(acgi_add_header(r, "X-Good", "yes"), 0);
	assert_int_equal(acgi_set_content_type(r, "text/plain"), 0);
	assert_int_equal(acgi_printf(r, "n=%d", 7), 3);
	assert_int_equal(acgi_set_status(r, 500, NULL), -EALREADY);
	assert_int_equal(acgi_eprintf(r, "warn"), 4);
	assert_int_equal(acgi_finish(&r), 0);
	assert_null(r);

	client_join(c);
	assert_true(c->rep[0].ended);
	assert_int_equal(c->rep[0].protocol_status, FCGI_REQUEST_COMPLETE);
	c->rep[0].out[c->rep[0].out_len] = '\0';
	assert_string_equal(c->rep[0].out, "Status: 201 Created\r\n"
	                    "X-Good: yes\r\nContent-Type: text/plain\r\n\r\nn=7");
	assert_int_equal(c->rep[0].err_len, 4);
	free(c);
}

static void body_case(struct fixture *f, const char *cl, const char *body,
                      ssize_t want_first, ssize_t want_second)
{
	struct client *c = client_new(f);
	const char *kv[] = {"REQUEST_METHOD", "POST", "CONTENT_LENGTH", cl};
	put_begin(c, false, 1, FCGI_RESPONDER, 0);
	put_params(c, false, 1, kv, 2);
	put_stream(c, false, FCGI_STDIN, 1, body);
	put_stream(c, false, FCGI_STDIN, 1, NULL);
	client_start(c);

	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	char buf[64];
	ssize_t n = acgi_read(r, buf, sizeof(buf));
	assert_int_equal(n, want_first);
	if (want_first > 0)
		assert_int_equal(acgi_read(r, buf, sizeof(buf)), want_second);
	assert_int_equal(acgi_finish(&r), 0);
	client_join(c);
	assert_true(c->rep[0].ended);
	/* Without FCGI_KEEP_CONN the app closes after END_REQUEST. */
	assert_true(c->rep[0].closed_after);
	free(c);
}

static void test_body_exact(void **state)
{
	body_case(*state, "5", "hello", 5, 0);
}

static void test_body_shorter_than_content_length(void **state)
{
	body_case(*state, "10", "hello", 5, -EPROTO);
}

static void test_body_longer_than_content_length(void **state)
{
	struct fixture *f = *state;
	body_case(f, "3", "hello", -EPROTO, 0);
	assert_non_null(strstr(f->log, "longer"));
}

static void test_body_without_content_length(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	const char *kv[] = {"REQUEST_METHOD", "POST"};
	put_begin(c, false, 1, FCGI_RESPONDER, 0);
	put_params(c, false, 1, kv, 1);
	put_stream(c, false, FCGI_STDIN, 1, "chunked");
	put_stream(c, false, FCGI_STDIN, 1, NULL);
	client_start(c);
	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	assert_int_equal(acgi_content_length(r), -1);
	char buf[64];
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), 7);
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), 0);
	assert_int_equal(acgi_finish(&r), 0);
	client_join(c);
	free(c);
}

static void test_body_limit(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(acgi_server_set_limit(f->s, ACGI_LIMIT_BODY_BYTES, 4), 0);
	body_case(f, "5", "hello", -EFBIG, 0);
	assert_non_null(strstr(f->log, "limit"));
}

static void test_params_limit_answers_431(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(acgi_server_set_limit(f->s, ACGI_LIMIT_PARAMS_COUNT, 3), 0);
	struct client *c = client_new(f);
	put_begin(c, false, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	put_params(c, false, 1, basic, 5);
	put_stream(c, false, FCGI_STDIN, 1, NULL);
	/* The same (kept) connection then carries a request within the limits. */
	put_begin(c, true, 1, FCGI_RESPONDER, 0);
	put_params(c, true, 1, basic, 2);
	put_stream(c, true, FCGI_STDIN, 1, NULL);
	client_start(c);

	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	assert_int_equal(acgi_param_count(r), 2);
	assert_int_equal(acgi_finish(&r), 0);
	client_join(c);
	assert_true(c->rep[0].ended);
	assert_non_null(strstr(c->rep[0].out, "Status: 431"));
	assert_true(c->rep[1].ended);
	assert_non_null(strstr(c->rep[1].out, "Status: 200"));
	assert_true(f->log[0] != '\0');
	free(c);
}

static void test_abort_record(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	put_begin(c, false, 1, FCGI_RESPONDER, 0);
	put_params(c, false, 1, basic, 2);
	put_stream(c, false, FCGI_STDIN, 1, "par");
	fcgi_encode_header(c->late, FCGI_ABORT_REQUEST, 1, 0, 0);
	c->late_len = FCGI_HEADER_LEN;
	client_start(c);

	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	assert_false(acgi_cancelled(r));
	char buf[64];
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), 3);
	/* The body never ends: the read waits until the abort comes. */
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), -ECANCELED);
	assert_true(acgi_cancelled(r));
	assert_int_equal(acgi_write(r, "x", 1), -ECANCELED);
	assert_true(acgi_cancel_fd(r) >= 0);
	(void)acgi_finish(&r);
	client_join(c);
	assert_true(c->rep[0].ended);
	assert_int_equal(c->rep[0].protocol_status, FCGI_REQUEST_COMPLETE);
	free(c);
}

static void test_filter_data(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	const char *kv[] = {"CONTENT_LENGTH", "2", "FCGI_DATA_LENGTH", "4"};
	put_begin(c, false, 1, FCGI_FILTER, 0);
	put_params(c, false, 1, kv, 2);
	put_stream(c, false, FCGI_STDIN, 1, "in");
	put_stream(c, false, FCGI_STDIN, 1, NULL);
	put_stream(c, false, FCGI_DATA, 1, "file");
	put_stream(c, false, FCGI_DATA, 1, NULL);
	client_start(c);
	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	assert_int_equal(acgi_request_role(r), ACGI_FILTER);
	char buf[16];
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), 2);
	assert_int_equal(acgi_read(r, buf, sizeof(buf)), 0);
	assert_int_equal(acgi_read_data(r, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "file", 4);
	assert_int_equal(acgi_read_data(r, buf, sizeof(buf)), 0);
	assert_int_equal(acgi_finish_status(&r, 3), 0);
	client_join(c);
	assert_int_equal(c->rep[0].app_status, 3);
	free(c);
}

/* A single-threaded server does not multiplex: a second request on a busy
 * connection is refused with FCGI_CANT_MPX_CONN, the first one served. */
static void test_cant_mpx_conn(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	put_begin(c, false, 2, FCGI_RESPONDER, 0);
	put_begin(c, false, 1, FCGI_RESPONDER, 0);
	put_params(c, false, 2, basic, 1);
	put_stream(c, false, FCGI_STDIN, 2, NULL);
	client_start(c);
	acgi_request *r;
	assert_int_equal(acgi_accept(f->s, &r), 0);
	assert_string_equal(acgi_param(r, "REQUEST_METHOD"), "GET");
	assert_int_equal(acgi_finish(&r), 0);
	client_join(c);
	/* The refusal of id 1 went out first. */
	assert_true(c->rep[0].ended);
	assert_int_equal(c->rep[0].protocol_status, FCGI_CANT_MPX_CONN);
	free(c);
}

/* With handler threads, a connection carries ACGI_LIMIT_REQS_PER_CONN
 * requests at once; one more is refused with FCGI_OVERLOADED while the
 * others are served, and the stop ends acgi_serve. */
static void slow_handler(acgi_request *r, void *data)
{
	(void)data;
	usleep(200 * 1000);
	acgi_printf(r, "id done");
}

struct stopper {
	struct client *c;
	acgi_server *s;
};

static void *overload_client(void *arg)
{
	struct stopper *st = arg;
	(void)client_main(st->c);
	acgi_server_stop(st->s);
	return NULL;
}

static void test_overloaded_with_threads(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(acgi_server_set_limit(f->s, ACGI_LIMIT_REQS_PER_CONN, 2),
	                 0);
	struct client *c = client_new(f);
	/* ids 2 and 3 take the two slots; id 1, the one the client reads,
	 * comes third. */
	for (uint16_t id = 2; id <= 3; id++) {
		put_begin(c, false, id, FCGI_RESPONDER, FCGI_KEEP_CONN);
		put_params(c, false, id, basic, 2);
		put_stream(c, false, FCGI_STDIN, id, NULL);
	}
	put_begin(c, false, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	struct stopper st = {c, f->s};
	pthread_t tid;
	assert_int_equal(pthread_create(&tid, NULL, overload_client, &st), 0);
	assert_int_equal(acgi_serve(f->s, slow_handler, NULL, 3), 0);
	pthread_join(tid, NULL);
	assert_true(c->rep[0].ended);
	assert_int_equal(c->rep[0].protocol_status, FCGI_OVERLOADED);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_params_and_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_shorter_than_content_length,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_longer_than_content_length,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_without_content_length,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_limit_answers_431, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_abort_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cant_mpx_conn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overloaded_with_threads, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
