/*
 * test_random.c - unit tests of the Philox4x32-10 random kernels
 * (kernels/random.c).
 *
 * References: the published known-answer vectors of Philox4x32-10 (Random123
 * 1.09, examples/kat_vectors, lines "philox4x32 10 ..."); the exact moments
 * of U[0,1) and N(0,1).  Statistical checks use 10^6 samples of a fixed seed
 * and accept a deviation of 5 standard errors: for a correct generator the
 * probability of failing one such check is about 6e-7, and the result is
 * deterministic (fixed seed), so the test cannot flake; a wrong bit mapping
 * (for example 52 or 54 bits, a shifted range, or Box-Muller with a wrong
 * constant) moves the statistics by far more than 5 standard errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "kernels.h"

enum { NS = 1000000 };

/* ------------------------------------------------------------------- KAT */

static void test_random_kat(void **state)
{
	(void)state;
	static const struct {
		uint32_t ctr[4], key[2], want[4];
	} kat[] = {
		{{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
		 {0xffffffff, 0xffffffff},
		 {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
		 {0xa4093822, 0x299f31d0},
		 {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	};
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		uint32_t out[4];
		cask__random_philox(kat[i].ctr, kat[i].key, out);
		assert_memory_equal(out, kat[i].want, sizeof(out));
	}
}

/* The documented mapping from a block to values, on the published
 * counter = 0, key = 0 block (seed 0, flat index 0), and the seed/index to
 * key/counter mapping. */
static void test_random_mapping(void **state)
{
	(void)state;
	const uint32_t x[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
	const double u1 = (double)((((uint64_t)x[1] << 32) | x[0]) >> 11) / 9007199254740992.0;
	const double u2 = (double)((((uint64_t)x[3] << 32) | x[2]) >> 11) / 9007199254740992.0;
	double d;
	float f;

	cask_k_random_uniform_f64(1, 0, 0, &d);
	assert_true(d == u1);
	cask_k_random_uniform_f32(1, 0, 0, &f);
	assert_true(f == (float)(x[0] >> 8) / 16777216.0f);
	cask_k_random_normal_f64(1, 0, 0, &d);
	const double z = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
	assert_true(fabs(d - z) <= 4e-16 * (1.0 + fabs(z)));
	cask_k_random_normal_f32(1, 0, 0, &f);
	assert_true(fabs(f - z) <= 1.2e-7 * (1.0 + fabs(z)));

	/* The seed is the key, low word first: the third KAT has key words
	 * (a4093822, 299f31d0); our element with that seed and flat index
	 * 0x85a308d3243f6a88 has counter (243f6a88, 85a308d3, 0, 0). */
	const uint32_t ctr[4] = {0x243f6a88, 0x85a308d3, 0, 0};
	const uint32_t key[2] = {0xa4093822, 0x299f31d0};
	uint32_t y[4];
	cask__random_philox(ctr, key, y);
	cask_k_random_uniform_f64(1, 0x299f31d0a4093822ULL, (int64_t)0x85a308d3243f6a88ULL, &d);
	assert_true(d == (double)((((uint64_t)y[1] << 32) | y[0]) >> 11) * 0x1p-53);
}

/* ------------------------------------------------------------ statistics */

static void moments_f64(const double *x, int64_t n, double *mean, double *var)
{
	double s = 0, m2 = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i];
	*mean = s / (double)n;
	for (int64_t i = 0; i < n; i++)
		m2 += (x[i] - *mean) * (x[i] - *mean);
	*var = m2 / (double)(n - 1);
}

/* Uniform: every value in [0, 1); mean 1/2 with standard error
 * sqrt(1/12 / N) = 2.9e-4; variance 1/12 with standard error
 * sqrt((mu4 - sigma^4) / N) = sqrt((1/80 - 1/144) / N) = 7.5e-5. */
static void test_random_uniform_moments(void **state)
{
	(void)state;
	double *x = malloc(NS * sizeof(double));
	float *f = malloc(NS * sizeof(float));
	double *xf = malloc(NS * sizeof(double));
	double mean, var;
	assert_non_null(x);
	assert_non_null(f);
	assert_non_null(xf);

	cask_k_random_uniform_f64(NS, 12345, 0, x);
	cask_k_random_uniform_f32(NS, 12345, 0, f);
	for (int64_t i = 0; i < NS; i++) {
		assert_true(x[i] >= 0.0 && x[i] < 1.0);
		assert_true(f[i] >= 0.0f && f[i] < 1.0f);
		xf[i] = f[i];
	}
	const double se_mean = sqrt(1.0 / 12.0 / NS);
	const double se_var = sqrt((1.0 / 80.0 - 1.0 / 144.0) / NS);
	moments_f64(x, NS, &mean, &var);
	assert_true(fabs(mean - 0.5) < 5 * se_mean);
	assert_true(fabs(var - 1.0 / 12.0) < 5 * se_var);
	moments_f64(xf, NS, &mean, &var);
	assert_true(fabs(mean - 0.5) < 5 * se_mean);
	assert_true(fabs(var - 1.0 / 12.0) < 5 * se_var);
	/* The low bits are random too: the fraction of odd 53-bit integers
	 * (x * 2^53) is 1/2 with standard error 0.5 / sqrt(N). */
	int64_t odd = 0;
	for (int64_t i = 0; i < NS; i++)
		odd += (int64_t)ldexp(x[i], 53) & 1;
	assert_true(fabs((double)odd / NS - 0.5) < 5 * 0.5 / sqrt(NS));
	free(x);
	free(f);
	free(xf);
}

/* Normal: mean 0 with standard error 1/sqrt(N) = 1e-3; variance 1 with
 * standard error sqrt(2/N) = 1.4e-3; the fraction inside [-1, 1] is
 * p = erf(1/sqrt 2) = 0.6827 with standard error sqrt(p(1-p)/N) = 4.7e-4
 * (checks the shape, not only two moments). */
static void test_random_normal_moments(void **state)
{
	(void)state;
	double *x = malloc(NS * sizeof(double));
	float *f = malloc(NS * sizeof(float));
	double *xf = malloc(NS * sizeof(double));
	assert_non_null(x);
	assert_non_null(f);
	assert_non_null(xf);

	cask_k_random_normal_f64(NS, 777, 1000, x);
	cask_k_random_normal_f32(NS, 777, 1000, f);
	for (int64_t i = 0; i < NS; i++) {
		assert_true(isfinite(x[i]));
		/* the f32 normal is the f64 one rounded */
		assert_true(f[i] == (float)x[i]);
		xf[i] = f[i];
	}
	const double p = erf(1.0 / sqrt(2.0));
	for (int pass = 0; pass < 2; pass++) {
		const double *v = pass ? xf : x;
		double mean, var;
		int64_t inside = 0;
		moments_f64(v, NS, &mean, &var);
		assert_true(fabs(mean) < 5 / sqrt(NS));
		assert_true(fabs(var - 1.0) < 5 * sqrt(2.0 / NS));
		for (int64_t i = 0; i < NS; i++)
			inside += fabs(v[i]) <= 1.0;
		assert_true(fabs((double)inside / NS - p) < 5 * sqrt(p * (1 - p) / NS));
	}
	free(x);
	free(f);
	free(xf);
}

/* ------------------------------------------------------------- structure */

/* Generating [0, N) at once equals [0, k) then [k, N), for every kernel,
 * several k, and a start past 2^32 (counter word 1 in use). */
static void test_random_chunk_independence(void **state)
{
	(void)state;
	enum { N = 1000 };
	static double whole[N], parts[N];
	static float wf[N], pf[N];
	const int64_t ks[] = {0, 1, 7, 500, 999, 1000};
	const int64_t firsts[] = {0, 4294967290LL, INT64_MAX - N};
	for (int fi = 0; fi < 3; fi++) {
		const int64_t first = firsts[fi];
		for (int kind = 0; kind < 2; kind++) {
			void (*fd)(int64_t, uint64_t, int64_t, double *) =
				kind ? cask_k_random_normal_f64 : cask_k_random_uniform_f64;
			void (*ff)(int64_t, uint64_t, int64_t, float *) =
				kind ? cask_k_random_normal_f32 : cask_k_random_uniform_f32;
			fd(N, 42, first, whole);
			ff(N, 42, first, wf);
			for (int ki = 0; ki < 6; ki++) {
				const int64_t k = ks[ki];
				memset(parts, 0, sizeof(parts));
				memset(pf, 0, sizeof(pf));
				fd(k, 42, first, parts);
				fd(N - k, 42, first + k, parts + k);
				ff(k, 42, first, pf);
				ff(N - k, 42, first + k, pf + k);
				assert_memory_equal(whole, parts, sizeof(whole));
				assert_memory_equal(wf, pf, sizeof(wf));
			}
			/* one element at a time, backwards */
			for (int64_t i = N - 1; i >= 0; i--) {
				fd(1, 42, first + i, parts + i);
				ff(1, 42, first + i, pf + i);
			}
			assert_memory_equal(whole, parts, sizeof(whole));
			assert_memory_equal(wf, pf, sizeof(wf));
		}
	}
}

/* Different seeds (including ones that differ only in the high key word)
 * and neighbouring indices give different streams; n = 0 writes nothing. */
static void test_random_seeds_differ(void **state)
{
	(void)state;
	enum { N = 64 };
	double a[N], b[N], c[N];
	cask_k_random_uniform_f64(N, 1, 0, a);
	cask_k_random_uniform_f64(N, 1ULL | (1ULL << 32), 0, b);
	cask_k_random_uniform_f64(N, 2, 0, c);
	int same_ab = 0, same_ac = 0, same_next = 0;
	for (int i = 0; i < N; i++) {
		same_ab += a[i] == b[i];
		same_ac += a[i] == c[i];
		if (i > 0)
			same_next += a[i] == a[i - 1];
	}
	assert_int_equal(same_ab, 0);
	assert_int_equal(same_ac, 0);
	assert_int_equal(same_next, 0);
	double guard = -1.0;
	cask_k_random_uniform_f64(0, 1, 0, &guard);
	cask_k_random_normal_f64(0, 1, 0, &guard);
	assert_true(guard == -1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_kat),
		cmocka_unit_test(test_random_mapping),
		cmocka_unit_test(test_random_uniform_moments),
		cmocka_unit_test(test_random_normal_moments),
		cmocka_unit_test(test_random_chunk_independence),
		cmocka_unit_test(test_random_seeds_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
