/* A latency histogram in the manner of HdrHistogram: log-linear buckets
 * (each power of two cut in HDR_SUB/2 equal steps), fixed memory (38 KiB),
 * a bucket no wider than 1/128 of its values: 0.8% relative error. Values are unsigned integers in
 * whatever unit the caller picks (anycgi bench: nanoseconds). */
#ifndef ACGI_CLI_HDR_H
#define ACGI_CLI_HDR_H

#include <stdint.h>

enum {
	HDR_SUB_BITS = 8,                 /* 256 linear steps below 256 */
	HDR_SUB = 1 << HDR_SUB_BITS,
	HDR_MAX_BITS = 44,                /* values up to 2^44 - 1 (4.8 h in ns) */
	/* 256 for [0, 256), then 128 for each power of two above. */
	HDR_N = HDR_SUB + (HDR_MAX_BITS - HDR_SUB_BITS) * (HDR_SUB / 2),
};

struct hdr {
	uint64_t counts[HDR_N];
	uint64_t total;  /* values recorded */
	uint64_t min;    /* exact; UINT64_MAX when empty */
	uint64_t max;    /* exact; 0 when empty */
	double sum;      /* for the mean */
};

void hdr_init(struct hdr *h);

/* Records one value; a value too large for the buckets lands in the last
 * one (min, max and the mean stay exact). */
void hdr_record(struct hdr *h, uint64_t v);

/* Adds from's counts to into's. */
void hdr_merge(struct hdr *into, const struct hdr *from);

/* The value below or at which pct percent (0..100) of the values lie: the
 * highest value of that bucket, never above the exact max nor below the
 * exact min. 0 for an empty histogram. */
uint64_t hdr_percentile(const struct hdr *h, double pct);

/* The mean, or 0 when empty. */
double hdr_mean(const struct hdr *h);

/* Bucket index of v, and the lowest and highest value of a bucket
 * (exposed for the tests). */
unsigned hdr_index(uint64_t v);
uint64_t hdr_lowest(unsigned i);
uint64_t hdr_highest(unsigned i);

#endif
