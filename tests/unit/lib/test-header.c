/* anycgi.h compiles on its own, and the version and error calls agree with
 * it. */
#include "anycgi.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

static void test_version(void **state)
{
	(void)state;
	assert_string_equal(acgi_version(), ACGI_VERSION_STRING);
}

static void test_strerror_covers_codes(void **state)
{
	(void)state;
	const int codes[] = {-ECANCELED, -EPROTO, -EFBIG, -EMSGSIZE, -EPIPE,
	                     -ESHUTDOWN, -ENOTSOCK, -EALREADY, -EINVAL};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *t = acgi_strerror(codes[i]);
		assert_non_null(t);
		assert_true(strlen(t) > 3);
	}
	assert_string_equal(acgi_strerror(-ECANCELED), "the request was aborted");
}

static void test_limits(void **state)
{
	(void)state;
	acgi_server *s = acgi_server_new();
	assert_non_null(s);
	assert_int_equal(acgi_server_get_limit(s, ACGI_LIMIT_PARAMS_COUNT), 1000);
	assert_int_equal(acgi_server_set_limit(s, ACGI_LIMIT_PARAMS_COUNT, 5), 0);
	assert_int_equal(acgi_server_get_limit(s, ACGI_LIMIT_PARAMS_COUNT), 5);
	assert_int_equal(acgi_server_set_limit(s, ACGI_LIMIT_COUNT_, 5), -EINVAL);
	assert_int_equal(acgi_server_set_limit(s, ACGI_LIMIT_REQS_PER_CONN, 0),
	                 -EINVAL);
	assert_int_equal(acgi_server_set_limit(s, ACGI_LIMIT_BODY_BYTES, 0), 0);
	acgi_server_free(&s);
	assert_null(s);
	acgi_server_free(&s);
}

static void test_listen_addresses(void **state)
{
	(void)state;
	acgi_server *s = acgi_server_new();
	assert_non_null(s);
	assert_int_equal(acgi_server_listen(s, "nonsense"), -EINVAL);
	assert_int_equal(acgi_server_listen(s, "127.0.0.1:"), -EINVAL);
	assert_int_equal(acgi_server_listen(s, "[::1"), -EINVAL);
	assert_int_equal(acgi_server_listen(s, "127.0.0.1:0"), 0);
	assert_int_equal(acgi_server_mode(s), ACGI_MODE_LISTEN);
	acgi_server_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_strerror_covers_codes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_listen_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
