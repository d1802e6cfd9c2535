/* The byte queue: append, consume, growth and reuse of the front. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"

static void test_append_consume(void **state)
{
	(void)state;
	struct buf b = {0};
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_int_equal(buf_append(&b, " world", 6), 0);
	assert_int_equal(b.len, 11);
	assert_memory_equal(buf_head(&b), "hello world", 11);
	buf_consume(&b, 6);
	assert_memory_equal(buf_head(&b), "world", 5);
	buf_consume(&b, 5);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.start, 0);
	buf_free(&b);
	assert_null(b.data);
}

static void test_growth_keeps_bytes(void **state)
{
	(void)state;
	struct buf b = {0};
	uint8_t chunk[1000];
	for (int i = 0; i < 300; i++) {
		memset(chunk, i & 0xff, sizeof(chunk));
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
		if (i % 3 == 0)
			buf_consume(&b, 500);
	}
	assert_int_equal(b.len, 300 * 1000 - 100 * 500);
	/* The last chunk is intact at the end. */
	assert_int_equal(buf_head(&b)[b.len - 1], 299 & 0xff);
	buf_free(&b);
}

static void test_reserve_slides(void **state)
{
	(void)state;
	struct buf b = {0};
	assert_int_equal(buf_append(&b, "0123456789", 10), 0);
	size_t cap = b.cap;
	buf_consume(&b, 8);
	assert_int_equal(buf_reserve(&b, cap - 2), 0);
	assert_int_equal(b.cap, cap);
	assert_memory_equal(buf_head(&b), "89", 2);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_consume),
		cmocka_unit_test(test_growth_keeps_bytes),
		cmocka_unit_test(test_reserve_slides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
