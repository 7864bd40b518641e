/*
 * filters.h - cask's own implementation of the HDF5 filters it reads and
 * writes directly (byte shuffle, deflate, fletcher32), so chunk bytes can be
 * encoded and decoded on worker threads outside HDF5's global lock.  Pure
 * functions of their buffers: no HDF5, no allocation, no error strings
 * beyond a static reason.
 */
#ifndef CASK_FILTERS_H
#define CASK_FILTERS_H

#include <stddef.h>
#include <stdint.h>

/* Filter ids: the HDF5 H5Z_FILTER_* numbers. */
#define CASK__FILTER_DEFLATE 1
#define CASK__FILTER_SHUFFLE 2
#define CASK__FILTER_FLETCHER32 3

/* One filter of a pipeline: id and its first parameter (deflate level,
 * shuffle element size; unused for fletcher32). */
typedef struct {
	int id;
	unsigned param;
} cask__filter_t;

/* Upper bound of the stored size of a chunk of chunk_bytes encoded by cask
 * (deflate's compressBound, plus room for checksums). */
size_t cask__filter_bound(size_t chunk_bytes);

/* HDF5's fletcher32 (H5_checksum_fletcher32): big-endian 16-bit words, an
 * odd last byte as the high half of a word, sums reduced mod 65535 lazily. */
uint32_t cask__fletcher32(const void *data, size_t n);

/* HDF5 byte shuffle of n bytes of elsize-byte elements: byte j of element i
 * goes to j*(n/elsize) + i; the n % elsize trailing bytes are copied as they
 * are; elsize <= 1 or fewer than two elements is a plain copy.  dst and src
 * must not overlap. */
void cask__shuffle(void *dst, const void *src, size_t n, size_t elsize);
void cask__unshuffle(void *dst, const void *src, size_t n, size_t elsize);

/* Decode a stored chunk: run the inverse of the nf filters f (in pipeline
 * order, as stored in the dataset) from last to first, skipping filter i when
 * bit i of mask is set.  stored (nstored bytes, capacity stored_cap) is
 * modified.  The result, which must be exactly out_bytes long, lands in out;
 * tmp (tmp_cap bytes) is an intermediate buffer (needed only with two
 * transforming filters).
 * Returns 0; CASK_ECORRUPT with *why set (bad deflate stream, checksum
 * mismatch, wrong decoded size); CASK_ENOTSUP when a filter is unknown or a
 * buffer is too small (the caller falls back to HDF5's own pipeline). */
int cask__filter_decode(const cask__filter_t *f, int nf, unsigned mask, void *stored,
                        size_t nstored, void *out, size_t out_bytes, void *tmp, size_t tmp_cap,
                        const char **why);

/* Encode n bytes of in through the pipeline f (in order) into out (capacity
 * out_cap); tmp (tmp_cap) holds an intermediate result.  *nout receives the
 * stored size.  Returns 0, or CASK_ENOTSUP (unknown filter, buffer too small,
 * zlib failure) with *why set. */
int cask__filter_encode(const cask__filter_t *f, int nf, const void *in, size_t n, void *out,
                        size_t out_cap, void *tmp, size_t tmp_cap, size_t *nout, const char **why);

/* Number of filters of f that transform bytes (deflate, shuffle). */
int cask__filter_ntransforms(const cask__filter_t *f, int nf);

/* Reverse the byte order of n elements of elsize bytes in place. */
void cask__byteswap(void *p, size_t n, size_t elsize);

#endif
