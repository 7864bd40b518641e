/*
 * test_print.c - unit tests of the `cask eval` result printer (src/cli/print.c).
 *
 * Float strings are Python's '%.17g' / '%.9g' of the same bit patterns
 * (tests/ref/print_ref.py, which also checks they round-trip); integer
 * extremes are exact; layouts follow the contract in print.h.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "print.h"

/* Print an array into a string (caller frees); rc receives the return code. */
static char *print_to_string(cask_dtype_t t, int ndim, const int64_t *shape, const void *data,
                             int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	*rc = cli_print_array(f, t, ndim, shape, data);
	fclose(f);
	return out;
}

static void expect_print(cask_dtype_t t, int ndim, const int64_t *shape, const void *data,
                         const char *want)
{
	int rc;
	char *got = print_to_string(t, ndim, shape, data, &rc);

	assert_int_equal(rc, 0);
	assert_string_equal(got, want);
	free(got);
}

static const struct { uint64_t bits; const char *s; } f8_cases[] = {
	/* BEGIN print_ref.py float64 */
	{ 0x3fb999999999999aULL, "0.10000000000000001" },
	{ 0x3fd5555555555555ULL, "0.33333333333333331" },
	{ 0x8000000000000000ULL, "-0" },
	{ 0x0000000000000000ULL, "0" },
	{ 0x01a56e1fc2f8f359ULL, "1e-300" },
	{ 0x0000000000000001ULL, "4.9406564584124654e-324" },
	{ 0x7fefffffffffffffULL, "1.7976931348623157e+308" },
	{ 0x4341c37937e08000ULL, "10000000000000000" },
	{ 0x4004000000000000ULL, "2.5" },
	{ 0x4059000000000000ULL, "100" },
	{ 0xc05edd2f1a9fbe77ULL, "-123.456" },
	{ 0x4340000000000001ULL, "9007199254740994" },
	{ 0x3ee4f8b588e368f1ULL, "1.0000000000000001e-05" },
	{ 0x419d6f3454000000ULL, "123456789" },
	/* END */
};

static const struct { uint32_t bits; const char *s; } f4_cases[] = {
	/* BEGIN print_ref.py float32 */
	{ 0x3dcccccdU, "0.100000001" },
	{ 0x3eaaaaabU, "0.333333343" },
	{ 0x80000000U, "-0" },
	{ 0x4b800000U, "16777216" },
	{ 0x7f7fffffU, "3.40282347e+38" },
	{ 0x00000001U, "1.40129846e-45" },
	{ 0x40200000U, "2.5" },
	{ 0xc0e00000U, "-7" },
	{ 0x3727c5acU, "9.99999975e-06" },
	{ 0x3e99999aU, "0.300000012" },
	/* END */
};

static void test_print_float64_values(void **state)
{
	size_t i;
	char buf[64];

	(void)state;
	for (i = 0; i < sizeof f8_cases / sizeof f8_cases[0]; i++) {
		double v;

		memcpy(&v, &f8_cases[i].bits, sizeof v);
		cli_format_value(CASK_FLOAT64, &v, buf, sizeof buf);
		assert_string_equal(buf, f8_cases[i].s);
		/* Round trip: the string reads back as the same double. */
		assert_true(strtod(buf, NULL) == v || (v == 0 && strtod(buf, NULL) == 0));
	}
}

static void test_print_float32_values(void **state)
{
	size_t i;
	char buf[64];

	(void)state;
	for (i = 0; i < sizeof f4_cases / sizeof f4_cases[0]; i++) {
		float v;

		memcpy(&v, &f4_cases[i].bits, sizeof v);
		cli_format_value(CASK_FLOAT32, &v, buf, sizeof buf);
		assert_string_equal(buf, f4_cases[i].s);
		assert_true(strtof(buf, NULL) == v);
	}
}

static void test_print_nonfinite(void **state)
{
	double d[4] = { NAN, -NAN, INFINITY, -INFINITY };
	float f[4] = { NAN, -NAN, INFINITY, -INFINITY };
	int64_t shape[1] = { 4 };

	(void)state;
	/* A NaN with the sign bit set prints as "nan", as NumPy does. */
	assert_true(signbit(d[1]) && signbit(f[1]));
	expect_print(CASK_FLOAT64, 1, shape, d, "nan\nnan\ninf\n-inf\n");
	expect_print(CASK_FLOAT32, 1, shape, f, "nan\nnan\ninf\n-inf\n");
}

static void test_print_integer_extremes(void **state)
{
	int8_t i1[2] = { INT8_MIN, INT8_MAX };
	int16_t i2[2] = { INT16_MIN, INT16_MAX };
	int32_t i4[2] = { INT32_MIN, INT32_MAX };
	int64_t i8[2] = { INT64_MIN, INT64_MAX };
	uint8_t u1[2] = { 0, UINT8_MAX };
	uint16_t u2[2] = { 0, UINT16_MAX };
	uint32_t u4[2] = { 0, UINT32_MAX };
	uint64_t u8[2] = { 0, UINT64_MAX };
	int64_t shape[2] = { 1, 2 };

	(void)state;
	expect_print(CASK_INT8, 2, shape, i1, "-128 127\n");
	expect_print(CASK_INT16, 2, shape, i2, "-32768 32767\n");
	expect_print(CASK_INT32, 2, shape, i4, "-2147483648 2147483647\n");
	expect_print(CASK_INT64, 2, shape, i8, "-9223372036854775808 9223372036854775807\n");
	expect_print(CASK_UINT8, 2, shape, u1, "0 255\n");
	expect_print(CASK_UINT16, 2, shape, u2, "0 65535\n");
	expect_print(CASK_UINT32, 2, shape, u4, "0 4294967295\n");
	expect_print(CASK_UINT64, 2, shape, u8, "0 18446744073709551615\n");
}

static void test_print_bool(void **state)
{
	/* Any nonzero byte is True (the library stores 0 or 1). */
	uint8_t b[3] = { 1, 0, 2 };
	int64_t shape[1] = { 3 };

	(void)state;
	expect_print(CASK_BOOL, 1, shape, b, "True\nFalse\nTrue\n");
	expect_print(CASK_BOOL, 0, NULL, b + 1, "False\n");
}

static void test_print_ranks(void **state)
{
	int32_t v[24];
	double x = 0.5;
	int64_t s1[1] = { 3 }, s2[2] = { 2, 3 }, s3[3] = { 2, 2, 3 }, s4[4] = { 2, 2, 1, 3 };
	int64_t s5[5] = { 1, 2, 1, 1, 2 };
	int i;

	(void)state;
	for (i = 0; i < 24; i++)
		v[i] = i - 5;
	expect_print(CASK_FLOAT64, 0, NULL, &x, "0.5\n");
	expect_print(CASK_INT32, 1, s1, v, "-5\n-4\n-3\n");
	expect_print(CASK_INT32, 2, s2, v, "-5 -4 -3\n-2 -1 0\n");
	expect_print(CASK_INT32, 3, s3, v, "-5 -4 -3\n-2 -1 0\n\n1 2 3\n4 5 6\n");
	/* 4-d: the 2-d slices (2 x 3... here 1 x 3) in C order, one blank line apart. */
	expect_print(CASK_INT32, 4, s4, v, "-5 -4 -3\n\n-2 -1 0\n\n1 2 3\n\n4 5 6\n");
	expect_print(CASK_INT32, 5, s5, v, "-5 -4\n\n-3 -2\n");
	/* A 1 x 1 2-d array and a length-1 1-d array. */
	s2[0] = 1;
	s2[1] = 1;
	expect_print(CASK_INT32, 2, s2, v, "-5\n");
}

static void test_print_zero_length(void **state)
{
	int64_t v = 7;
	int64_t s1[1] = { 0 }, s2a[2] = { 2, 0 }, s2b[2] = { 0, 3 }, s3a[3] = { 2, 0, 3 };
	int64_t s3b[3] = { 0, 2, 2 }, s3c[3] = { 3, 2, 0 };
	/* Huge leading extents with a zero extent: must not overflow or loop.
	 * A zero leading extent prints nothing; zero rows under an overflowing
	 * slice count are refused. */
	int64_t s4[4] = { INT64_MAX, INT64_MAX, 0, 5 }, s4b[4] = { INT64_MAX, 0, INT64_MAX, 5 };

	(void)state;
	expect_print(CASK_INT64, 1, s1, &v, "");
	expect_print(CASK_INT64, 2, s2a, &v, "\n\n");
	expect_print(CASK_INT64, 2, s2b, &v, "");
	expect_print(CASK_INT64, 3, s3a, &v, "\n");
	expect_print(CASK_INT64, 3, s3b, &v, "");
	expect_print(CASK_INT64, 3, s3c, &v, "\n\n\n\n\n\n\n\n");
	{
		int rc;
		char *got = print_to_string(CASK_INT64, 4, s4, &v, &rc);

		assert_int_equal(rc, -1);
		free(got);
	}
	expect_print(CASK_INT64, 4, s4b, &v, "");
	/* NULL data is fine when there is nothing to read. */
	expect_print(CASK_FLOAT32, 1, s1, NULL, "");
}

static void test_print_invalid(void **state)
{
	int64_t v = 0;
	int64_t neg[1] = { -1 };
	int64_t one[1] = { 1 };
	int64_t big[CASK_MAX_DIMS + 1];
	char buf[64];
	int rc, i;
	char *got;
	FILE *f;

	(void)state;
	for (i = 0; i <= CASK_MAX_DIMS; i++)
		big[i] = 1;
	got = print_to_string(CASK_NDTYPES, 1, one, &v, &rc);
	assert_int_equal(rc, -1);
	free(got);
	got = print_to_string(CASK_INT64, 1, neg, &v, &rc);
	assert_int_equal(rc, -1);
	free(got);
	got = print_to_string(CASK_INT64, CASK_MAX_DIMS + 1, big, &v, &rc);
	assert_int_equal(rc, -1);
	free(got);
	got = print_to_string(CASK_INT64, -1, big, &v, &rc);
	assert_int_equal(rc, -1);
	free(got);
	assert_int_equal(cli_format_value(CASK_NDTYPES, &v, buf, sizeof buf), -1);
	/* A write error is reported. */
	f = fopen("/dev/full", "w");
	if (f) {
		setvbuf(f, NULL, _IONBF, 0);
		assert_int_equal(cli_print_array(f, CASK_INT64, 1, one, &v), -1);
		fclose(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_print_float64_values),
		cmocka_unit_test(test_print_float32_values),
		cmocka_unit_test(test_print_nonfinite),
		cmocka_unit_test(test_print_integer_extremes),
		cmocka_unit_test(test_print_bool),
		cmocka_unit_test(test_print_ranks),
		cmocka_unit_test(test_print_zero_length),
		cmocka_unit_test(test_print_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
