/*
 * gemm_i64.c - exact integer matrix products for `@` on integer and bool
 * arrays: C = A B and Z += A^T B over int64 row-major blocks.
 *
 * NumPy computes integer matmul in the result type with wraparound.  Every
 * integer type's arithmetic is the ring Z / 2^bits, and the map from
 * Z / 2^64 onto it (truncation) preserves sums and products, so the
 * caller widens the operands to int64 (sign- or zero-extending, or
 * wrapping uint64), runs these kernels modulo 2^64 and truncates the
 * result to the result type: the bits equal NumPy's for int8 .. uint64.
 * bool @ bool is the same product followed by != 0 (a count of true pairs,
 * which cannot wrap to 0 for fewer than 2^64 terms).
 *
 * The arithmetic is done in uint64_t so C never sees signed overflow.  The
 * loops run i-p-j (one row of B streams past each element of A) so the
 * inner loop is a contiguous multiply-add over k that the compiler
 * vectorises; no blocking: integer products are not cask's hot path, and
 * the caller bounds the blocks like the float path's.
 */
#include <stdint.h>

#include "kernels.h"

void cask_k_gemm_nn_i64(int64_t rows, int64_t n, int64_t k, const int64_t *a, int64_t lda,
                        const int64_t *b, int64_t ldb, int64_t *c, int64_t ldc)
{
	for (int64_t i = 0; i < rows; i++) {
		uint64_t *ci = (uint64_t *)(c + i * ldc);
		for (int64_t j = 0; j < k; j++)
			ci[j] = 0;
		for (int64_t p = 0; p < n; p++) {
			uint64_t aip = (uint64_t)a[i * lda + p];
			const uint64_t *bp = (const uint64_t *)(b + p * ldb);
			for (int64_t j = 0; j < k; j++)
				ci[j] += aip * bp[j];
		}
	}
}

void cask_k_gemm_tn_i64(int64_t rows, int64_t n, int64_t k, const int64_t *a, int64_t lda,
                        const int64_t *b, int64_t ldb, int64_t *z, int64_t ldz)
{
	for (int64_t r = 0; r < rows; r++) {
		const uint64_t *br = (const uint64_t *)(b + r * ldb);
		for (int64_t p = 0; p < n; p++) {
			uint64_t arp = (uint64_t)a[r * lda + p];
			uint64_t *zp = (uint64_t *)(z + p * ldz);
			for (int64_t j = 0; j < k; j++)
				zp[j] += arp * br[j];
		}
	}
}
