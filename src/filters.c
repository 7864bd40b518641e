/*
 * filters.c - the HDF5 filters cask runs itself on direct chunk I/O: byte
 * shuffle, deflate (zlib) and fletcher32, bit-compatible with HDF5's
 * H5Zshuffle.c, H5Zdeflate.c and H5Zfletcher32.c, so chunks written here read
 * back through libhdf5 and h5py and vice versa.
 */
#include "filters.h"

#include <string.h>

#include <zlib.h>

#include "cask.h"

size_t cask__filter_bound(size_t chunk_bytes)
{
	/* compressBound: n + n/4096 + n/16384 + n/33554432 + 13 in zlib 1.2.x; the
	 * formula is spelled out so it cannot overflow uLong on huge inputs. */
	size_t b = chunk_bytes + (chunk_bytes >> 12) + (chunk_bytes >> 14) + (chunk_bytes >> 25) + 13;
	size_t z = (chunk_bytes <= (size_t)0xffffffffu) ? (size_t)compressBound((uLong)chunk_bytes) : b;
	return (z > b ? z : b) + 16;
}

uint32_t cask__fletcher32(const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t words = n / 2;
	uint32_t s1 = 0, s2 = 0;
	/* 360 words is the most that can be summed before s2 may overflow. */
	while (words > 0) {
		size_t t = words > 360 ? 360 : words;
		words -= t;
		do {
			s1 += ((uint32_t)p[0] << 8) | (uint32_t)p[1];
			p += 2;
			s2 += s1;
		} while (--t);
		s1 = (s1 & 0xffff) + (s1 >> 16);
		s2 = (s2 & 0xffff) + (s2 >> 16);
	}
	if (n % 2) {
		s1 += (uint32_t)p[0] << 8;
		s2 += s1;
		s1 = (s1 & 0xffff) + (s1 >> 16);
		s2 = (s2 & 0xffff) + (s2 >> 16);
	}
	s1 = (s1 & 0xffff) + (s1 >> 16);
	s2 = (s2 & 0xffff) + (s2 >> 16);
	return (s2 << 16) | s1;
}

void cask__shuffle(void *dst, const void *src, size_t n, size_t elsize)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	size_t ne = elsize > 0 ? n / elsize : 0;
	if (elsize <= 1 || ne <= 1) {
		memcpy(d, s, n);
		return;
	}
	for (size_t j = 0; j < elsize; j++) {
		unsigned char *dj = d + j * ne;
		const unsigned char *sj = s + j;
		for (size_t i = 0; i < ne; i++)
			dj[i] = sj[i * elsize];
	}
	memcpy(d + ne * elsize, s + ne * elsize, n - ne * elsize);
}

void cask__unshuffle(void *dst, const void *src, size_t n, size_t elsize)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	size_t ne = elsize > 0 ? n / elsize : 0;
	if (elsize <= 1 || ne <= 1) {
		memcpy(d, s, n);
		return;
	}
	for (size_t j = 0; j < elsize; j++) {
		const unsigned char *sj = s + j * ne;
		unsigned char *dj = d + j;
		for (size_t i = 0; i < ne; i++)
			dj[i * elsize] = sj[i];
	}
	memcpy(d + ne * elsize, s + ne * elsize, n - ne * elsize);
}

void cask__byteswap(void *p, size_t n, size_t elsize)
{
	unsigned char *b = p;
	switch (elsize) {
	case 2:
		for (size_t i = 0; i < n; i++, b += 2) {
			uint16_t v;
			memcpy(&v, b, 2);
			v = __builtin_bswap16(v);
			memcpy(b, &v, 2);
		}
		break;
	case 4:
		for (size_t i = 0; i < n; i++, b += 4) {
			uint32_t v;
			memcpy(&v, b, 4);
			v = __builtin_bswap32(v);
			memcpy(b, &v, 4);
		}
		break;
	case 8:
		for (size_t i = 0; i < n; i++, b += 8) {
			uint64_t v;
			memcpy(&v, b, 8);
			v = __builtin_bswap64(v);
			memcpy(b, &v, 8);
		}
		break;
	default:
		for (size_t i = 0; i < n; i++, b += elsize)
			for (size_t a = 0, z = elsize - 1; a < z; a++, z--) {
				unsigned char t = b[a];
				b[a] = b[z];
				b[z] = t;
			}
		break;
	}
}

int cask__filter_ntransforms(const cask__filter_t *f, int nf)
{
	int k = 0;
	for (int i = 0; i < nf; i++)
		if (f[i].id == CASK__FILTER_DEFLATE || f[i].id == CASK__FILTER_SHUFFLE)
			k++;
	return k;
}

/* Inflate a zlib stream of n bytes into dst (capacity cap). */
static int inflate_to(void *dst, size_t cap, size_t *nout, const void *src, size_t n, const char **why)
{
	if (cap > (size_t)0xffffffffu || n > (size_t)0xffffffffu)
		return CASK_ENOTSUP;
	uLongf dl = (uLongf)cap;
	uLong sl = (uLong)n;
	int z = uncompress2(dst, &dl, src, &sl);
	if (z == Z_OK) {
		*nout = (size_t)dl;
		return 0;
	}
	if (z == Z_MEM_ERROR) {
		*why = "out of memory in zlib";
		return CASK_ENOTSUP;
	}
	*why = z == Z_BUF_ERROR ? "deflate stream truncated or longer than the chunk"
	                        : "corrupt deflate stream";
	return CASK_ECORRUPT;
}

int cask__filter_decode(const cask__filter_t *f, int nf, unsigned mask, void *stored,
                        size_t nstored, void *out, size_t out_bytes, void *tmp, size_t tmp_cap,
                        const char **why)
{
	unsigned char *cur = stored;
	size_t n = nstored;
	int k = 0, done = 0;
	*why = "";
	for (int i = nf - 1; i >= 0; i--) {
		if (i < 32 && (mask >> i) & 1u)
			continue;
		if (f[i].id == CASK__FILTER_DEFLATE || f[i].id == CASK__FILTER_SHUFFLE)
			k++;
		else if (f[i].id != CASK__FILTER_FLETCHER32)
			return CASK_ENOTSUP;
	}
	/* Transforms alternate between out and tmp so that the last one lands in
	 * out: the j-th of k (1-based) writes to out when k - j is even. */
	for (int i = nf - 1; i >= 0; i--) {
		if (i < 32 && (mask >> i) & 1u)
			continue;
		if (f[i].id == CASK__FILTER_FLETCHER32) {
			if (n < 4) {
				*why = "chunk shorter than its fletcher32 checksum";
				return CASK_ECORRUPT;
			}
			n -= 4;
			uint32_t stored_sum = (uint32_t)cur[n] | (uint32_t)cur[n + 1] << 8 |
			                      (uint32_t)cur[n + 2] << 16 | (uint32_t)cur[n + 3] << 24;
			uint32_t sum = cask__fletcher32(cur, n);
			/* HDF5 before 1.6.3 stored the checksum with the bytes of each
			 * 16-bit half swapped on little-endian machines; HDF5 accepts both. */
			uint32_t old = ((sum & 0x00ff00ffu) << 8) | ((sum >> 8) & 0x00ff00ffu);
			if (stored_sum != sum && stored_sum != old) {
				*why = "fletcher32 checksum mismatch";
				return CASK_ECORRUPT;
			}
			continue;
		}
		done++;
		unsigned char *dst = ((k - done) % 2 == 0) ? out : tmp;
		size_t cap = dst == (unsigned char *)out ? out_bytes : tmp_cap;
		if (dst == NULL)
			return CASK_ENOTSUP;
		if (f[i].id == CASK__FILTER_DEFLATE) {
			int rc = inflate_to(dst, cap, &n, cur, n, why);
			if (rc != 0)
				return rc;
		} else {
			if (n > cap)
				return CASK_ENOTSUP;
			cask__unshuffle(dst, cur, n, f[i].param);
		}
		cur = dst;
	}
	if (n != out_bytes) {
		*why = "decoded chunk has the wrong size";
		return CASK_ECORRUPT;
	}
	if (cur != (unsigned char *)out)
		memmove(out, cur, n);
	return 0;
}

int cask__filter_encode(const cask__filter_t *f, int nf, const void *in, size_t n, void *out,
                        size_t out_cap, void *tmp, size_t tmp_cap, size_t *nout, const char **why)
{
	const unsigned char *cur = in;
	int k = cask__filter_ntransforms(f, nf), done = 0;
	*why = "";
	for (int i = 0; i < nf; i++) {
		if (f[i].id == CASK__FILTER_FLETCHER32) {
			if (cur != (const unsigned char *)out) {
				if (n > out_cap) {
					*why = "output buffer too small";
					return CASK_ENOTSUP;
				}
				memmove(out, cur, n);
				cur = out;
			}
			if (n + 4 > out_cap) {
				*why = "output buffer too small";
				return CASK_ENOTSUP;
			}
			uint32_t sum = cask__fletcher32(cur, n);
			unsigned char *p = (unsigned char *)out + n;
			p[0] = (unsigned char)sum;
			p[1] = (unsigned char)(sum >> 8);
			p[2] = (unsigned char)(sum >> 16);
			p[3] = (unsigned char)(sum >> 24);
			n += 4;
			continue;
		}
		if (f[i].id != CASK__FILTER_DEFLATE && f[i].id != CASK__FILTER_SHUFFLE) {
			*why = "unsupported filter";
			return CASK_ENOTSUP;
		}
		done++;
		unsigned char *dst = done == k ? out : (cur == (const unsigned char *)tmp ? out : tmp);
		if (dst == cur)
			dst = dst == (unsigned char *)out ? tmp : out;
		size_t cap = dst == (unsigned char *)out ? out_cap : tmp_cap;
		if (dst == NULL) {
			*why = "no scratch buffer";
			return CASK_ENOTSUP;
		}
		if (f[i].id == CASK__FILTER_DEFLATE) {
			if (cap > (size_t)0xffffffffu || n > (size_t)0xffffffffu) {
				*why = "chunk too large for zlib";
				return CASK_ENOTSUP;
			}
			uLongf dl = (uLongf)cap;
			int level = f[i].param <= 9 ? (int)f[i].param : 9;
			if (compress2(dst, &dl, cur, (uLong)n, level) != Z_OK) {
				*why = "zlib compression failed";
				return CASK_ENOTSUP;
			}
			n = (size_t)dl;
		} else {
			if (n > cap) {
				*why = "output buffer too small";
				return CASK_ENOTSUP;
			}
			cask__shuffle(dst, cur, n, f[i].param);
		}
		cur = dst;
	}
	if (cur != (const unsigned char *)out) {
		if (n > out_cap) {
			*why = "output buffer too small";
			return CASK_ENOTSUP;
		}
		memcpy(out, cur, n);
	}
	*nout = n;
	return 0;
}
