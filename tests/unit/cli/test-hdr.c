/* Unit tests for src/cli/hdr.c: the latency histogram's buckets,
 * percentiles within 1%, merging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "hdr.h"

/* Every bucket follows the last one with no gap, and holds its bounds. */
static void test_buckets(void **state)
{
	(void)state;
	for (unsigned i = 0; i + 1 < HDR_N; i++) {
		assert_int_equal(hdr_lowest(i + 1), hdr_highest(i) + 1);
		assert_int_equal(hdr_index(hdr_lowest(i)), i);
		assert_int_equal(hdr_index(hdr_highest(i)), i);
		uint64_t lo = hdr_lowest(i), width = hdr_highest(i) - lo + 1;
		/* At most 1/128 of the bucket's values: under 0.8%. */
		assert_true(lo < HDR_SUB || width * 128 <= lo);
	}
	assert_int_equal(hdr_index(0), 0);
	assert_int_equal(hdr_index(UINT64_MAX), HDR_N - 1);
	assert_int_equal(hdr_index((uint64_t)1 << HDR_MAX_BITS), HDR_N - 1);
	assert_int_equal(hdr_index(((uint64_t)1 << HDR_MAX_BITS) - 1), HDR_N - 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void assert_close(uint64_t got, uint64_t want)
{
	double err = (double)got - (double)want;
	if (err < 0)
		err = -err;
	if (err > (double)want / 100.0 + 1)
		fail_msg("got %llu, want %llu (within 1%%)",
		         (unsigned long long)got, (unsigned long long)want);
}

/* Percentiles of a wide spread of values agree with the sorted values
 * within 1%; min, max and mean are exact. */
static void test_percentiles(void **state)
{
	(void)state;
	enum { N = 100000 };
	static uint64_t v[N];
	static struct hdr h;
	hdr_init(&h);
	srand(7);
	double sum = 0;
	for (int i = 0; i < N; i++) {
		/* log-uniform from 1 to about 2^40 */
		int bits = rand() % 40;
		v[i] = ((uint64_t)1 << bits) + (uint64_t)rand() % ((uint64_t)1 << bits);
		sum += (double)v[i];
		hdr_record(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	assert_int_equal(h.total, N);
	assert_int_equal(h.min, v[0]);
	assert_int_equal(h.max, v[N - 1]);
	assert_true(hdr_mean(&h) == sum / N);
	const double pcts[] = {1, 10, 50, 90, 99, 99.9, 99.99};
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		size_t rank = (size_t)(pcts[i] / 100.0 * N + 0.5);
		assert_close(hdr_percentile(&h, pcts[i]), v[rank - 1]);
	}
	assert_int_equal(hdr_percentile(&h, 100), v[N - 1]);
	assert_int_equal(hdr_percentile(&h, 0), v[0]);
}

static void test_small_and_empty(void **state)
{
	(void)state;
	static struct hdr h;
	hdr_init(&h);
	assert_int_equal(hdr_percentile(&h, 50), 0);
	assert_true(hdr_mean(&h) == 0);
	hdr_record(&h, 42);
	assert_int_equal(hdr_percentile(&h, 0), 42);
	assert_int_equal(hdr_percentile(&h, 50), 42);
	assert_int_equal(hdr_percentile(&h, 100), 42);
	/* A value past the last bucket still counts, max stays exact. */
	hdr_record(&h, UINT64_MAX / 2);
	assert_int_equal(h.max, UINT64_MAX / 2);
	assert_int_equal(hdr_percentile(&h, 100), UINT64_MAX / 2);
	assert_int_equal(hdr_percentile(&h, 50), 42);
}

static void test_merge(void **state)
{
	(void)state;
	static struct hdr a, b, all;
	hdr_init(&a);
	hdr_init(&b);
	hdr_init(&all);
	for (uint64_t i = 1; i <= 1000; i++) {
		hdr_record(i % 2 ? &a : &b, i * 1000);
		hdr_record(&all, i * 1000);
	}
	hdr_merge(&a, &b);
	assert_int_equal(a.total, all.total);
	assert_int_equal(a.min, 1000);
	assert_int_equal(a.max, 1000000);
	for (int p = 0; p <= 100; p += 5)
		assert_int_equal(hdr_percentile(&a, p), hdr_percentile(&all, p));
	assert_close(hdr_percentile(&a, 50), 500000);
	/* Merging an empty one changes nothing. */
	hdr_init(&b);
	hdr_merge(&a, &b);
	assert_int_equal(a.min, 1000);
	assert_int_equal(a.total, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_small_and_empty),
		cmocka_unit_test(test_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
