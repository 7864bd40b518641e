/*
 * random.c - counter-based pseudo-random numbers: Philox4x32-10 (Salmon,
 * Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011), as in Random123.
 *
 * Element i of a generated array (flat index i) is a pure function of the
 * seed and i: the 64-bit seed is the 2x32 key (low word first), and the
 * counter block is (low32(i), high32(i), 0, 0).  So any chunking, any order
 * and any thread count give the same values.  From the four output words
 * x0..x3 of element i:
 *   uniform f64:  (x1:x0 as a 64-bit word) >> 11, times 2^-53, in [0, 1);
 *   uniform f32:  x0 >> 8, times 2^-24, in [0, 1);
 *   normal:       Box-Muller with u1 from x0,x1 and u2 from x2,x3 (53-bit
 *                 uniforms as above): sqrt(-2 log(1 - u1)) cos(2 pi u2);
 *                 1 - u1 lies in (0, 1], so log never sees 0.  The f32
 *                 normal is the f64 one rounded to float.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9) /* golden ratio */
#define PHILOX_W1 UINT32_C(0xBB67AE85) /* sqrt(3) - 1 */

/* The 10 rounds on one counter block: each round two 32x32->64 products,
 * the key is bumped between rounds (Random123's philox4x32_R). */
static inline void philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                          uint32_t k1, uint32_t out[4])
{
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			k0 += PHILOX_W0;
			k1 += PHILOX_W1;
		}
		const uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
		const uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
		const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
		const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
		c0 = hi1 ^ c1 ^ k0;
		c1 = lo1;
		c2 = hi0 ^ c3 ^ k1;
		c3 = lo0;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}

void cask__random_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	philox(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], out);
}

/* Philox on LANES consecutive counters at once: the lanes are independent,
 * so their rounds overlap in the pipeline where one block alone is bound by
 * the latency of its 10 dependent rounds.  Two lanes measured best here
 * (wider groups get vectorised with SSE2 shuffles and ran slower). */
#define LANES 2

static inline void blocks(uint64_t seed, uint64_t i0, uint32_t x[4][LANES])
{
	uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);

	for (int l = 0; l < LANES; l++) {
		const uint64_t i = i0 + (uint64_t)l;
		c0[l] = (uint32_t)i;
		c1[l] = (uint32_t)(i >> 32);
		c2[l] = 0;
		c3[l] = 0;
	}
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			k0 += PHILOX_W0;
			k1 += PHILOX_W1;
		}
		for (int l = 0; l < LANES; l++) {
			const uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l];
			const uint64_t p1 = (uint64_t)PHILOX_M1 * c2[l];
			const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
			const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
			c1[l] = (uint32_t)p1;
			c3[l] = (uint32_t)p0;
			c0[l] = n0;
			c2[l] = n2;
		}
	}
	memcpy(x[0], c0, sizeof(c0));
	memcpy(x[1], c1, sizeof(c1));
	memcpy(x[2], c2, sizeof(c2));
	memcpy(x[3], c3, sizeof(c3));
}

static inline double u53(uint32_t lo, uint32_t hi)
{
	return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1p-53;
}

static inline double normal_of(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3)
{
	const double u1 = u53(x0, x1);
	const double u2 = u53(x2, x3);
	return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586476925287 * u2);
}

/* Each kernel walks the range in groups of LANES counters; the last group
 * computes a few blocks past the end and stores only what is asked. */

void cask_k_random_uniform_f64(int64_t n, uint64_t seed, int64_t first, double *out)
{
	uint32_t x[4][LANES];

	for (int64_t i = 0; i < n; i += LANES) {
		const int m = n - i < LANES ? (int)(n - i) : LANES;
		blocks(seed, (uint64_t)first + (uint64_t)i, x);
		for (int l = 0; l < m; l++)
			out[i + l] = u53(x[0][l], x[1][l]);
	}
}

void cask_k_random_uniform_f32(int64_t n, uint64_t seed, int64_t first, float *out)
{
	uint32_t x[4][LANES];

	for (int64_t i = 0; i < n; i += LANES) {
		const int m = n - i < LANES ? (int)(n - i) : LANES;
		blocks(seed, (uint64_t)first + (uint64_t)i, x);
		for (int l = 0; l < m; l++)
			out[i + l] = (float)(x[0][l] >> 8) * 0x1p-24f;
	}
}

void cask_k_random_normal_f64(int64_t n, uint64_t seed, int64_t first, double *out)
{
	uint32_t x[4][LANES];

	for (int64_t i = 0; i < n; i += LANES) {
		const int m = n - i < LANES ? (int)(n - i) : LANES;
		blocks(seed, (uint64_t)first + (uint64_t)i, x);
		for (int l = 0; l < m; l++)
			out[i + l] = normal_of(x[0][l], x[1][l], x[2][l], x[3][l]);
	}
}

void cask_k_random_normal_f32(int64_t n, uint64_t seed, int64_t first, float *out)
{
	uint32_t x[4][LANES];

	for (int64_t i = 0; i < n; i += LANES) {
		const int m = n - i < LANES ? (int)(n - i) : LANES;
		blocks(seed, (uint64_t)first + (uint64_t)i, x);
		for (int l = 0; l < m; l++)
			out[i + l] = (float)normal_of(x[0][l], x[1][l], x[2][l], x[3][l]);
	}
}
