/* The latency histogram of anycgi bench: HdrHistogram's log-linear
 * buckets in a fixed array. */
#include "hdr.h"

#include <string.h>

void hdr_init(struct hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Below HDR_SUB each value has its bucket. Above, a value with its top
 * bit at position b (b >= HDR_SUB_BITS) keeps its top HDR_SUB_BITS bits:
 * the range [2^b, 2^(b+1)) is cut in HDR_SUB/2 steps of 2^(b-7). */
unsigned hdr_index(uint64_t v)
{
	if (v < HDR_SUB)
		return (unsigned)v;
	unsigned b = 63u - (unsigned)__builtin_clzll(v);
	if (b >= HDR_MAX_BITS)
		return HDR_N - 1;
	unsigned shift = b - (HDR_SUB_BITS - 1);
	unsigned sub = (unsigned)(v >> shift) - HDR_SUB / 2; /* 0..127 */
	return HDR_SUB + (b - HDR_SUB_BITS) * (HDR_SUB / 2) + sub;
}

uint64_t hdr_lowest(unsigned i)
{
	if (i < HDR_SUB)
		return i;
	unsigned k = i - HDR_SUB;
	unsigned b = HDR_SUB_BITS + k / (HDR_SUB / 2);
	uint64_t sub = k % (HDR_SUB / 2) + HDR_SUB / 2;
	return sub << (b - (HDR_SUB_BITS - 1));
}

uint64_t hdr_highest(unsigned i)
{
	if (i + 1 >= HDR_N)
		return UINT64_MAX;
	return hdr_lowest(i + 1) - 1;
}

void hdr_record(struct hdr *h, uint64_t v)
{
	h->counts[hdr_index(v)]++;
	h->total++;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->sum += (double)v;
}

void hdr_merge(struct hdr *into, const struct hdr *from)
{
	for (unsigned i = 0; i < HDR_N; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
	into->sum += from->sum;
}

uint64_t hdr_percentile(const struct hdr *h, double pct)
{
	if (h->total == 0)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	/* The rank of the value asked for, 1-based, at least the first. */
	uint64_t rank = (uint64_t)(pct / 100.0 * (double)h->total + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->total)
		rank = h->total;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HDR_N; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = hdr_highest(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double hdr_mean(const struct hdr *h)
{
	return h->total ? h->sum / (double)h->total : 0;
}
