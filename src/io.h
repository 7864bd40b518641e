/*
 * io.h - the one module that calls HDF5.  Every HDF5 call in cask goes
 * through these functions, which take the process-wide I/O lock (HDF5's
 * serial build serialises calls anyway; the lock makes that explicit and
 * lets the scheduler account I/O time).  Errors name file, dataset and the
 * HDF5 error stack on ctx.  HDF5's automatic error printing is disabled.
 *
 * Thread safety: every function may be called from any worker thread.
 */
#ifndef CASK_IO_H
#define CASK_IO_H

#include <stdint.h>

#include "cask.h"

/* An open input dataset. */
typedef struct cask__h5in cask__h5in_t;

/* Metadata of an input dataset, filled by cask__io_open. */
typedef struct {
	cask_dtype_t dtype;
	int ndim;
	int64_t shape[CASK_MAX_DIMS];
	int64_t chunks[CASK_MAX_DIMS]; /* 0 when contiguous/compact */
	int chunked;
	int filtered;                  /* any filter in the pipeline */
	size_t chunk_bytes;            /* bytes of one uncompressed chunk (0 if not chunked) */
} cask__h5meta_t;

/* Whether an input's stored chunks are read in parts under a budget of
 * budget bytes: unfiltered chunks over a quarter of it (cask_array_open
 * cuts its block grid; eval never stages such a chunk whole). */
static inline int cask__io_chunks_in_parts(const cask__h5meta_t *m, size_t budget)
{
	return m->chunked && !m->filtered && m->chunk_bytes > budget / 4;
}

/* Open path:dset read-only.  Refuses (CASK_EPERM) files with external links
 * reached on the way to dset or datasets with external storage unless
 * allow_external.  Unsupported types -> CASK_ETYPE naming file, dataset and
 * type; missing file/dataset -> CASK_ENOTFOUND; not HDF5 -> CASK_EIO. */
int cask__io_open(cask_ctx_t *ctx, const char *path, const char *dset, int allow_external,
                  cask__h5in_t **out, cask__h5meta_t *meta);
void cask__io_close(cask__h5in_t *in);
/* Read the hyperslab start[k] + j*stride[k], j < count[k] (stride >= 1) of
 * every axis into buf (C order, native layout of meta.dtype).  0-d: ndim 0.
 * Adds the bytes to ctx's bytes_read. */
int cask__io_read(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *start,
                  const int64_t *count, const int64_t *stride, void *buf);
const char *cask__io_in_path(const cask__h5in_t *in);
const char *cask__io_in_dset(const cask__h5in_t *in);

/* Output transaction on one file: datasets are created and written in a
 * temporary file in the target's directory (a copy of the target if it
 * exists), then commit renames it over the target atomically.  abort
 * deletes the temporary; the target is never touched before commit. */
typedef struct cask__h5txn cask__h5txn_t;
typedef struct cask__h5out cask__h5out_t;

typedef struct {
	cask_dtype_t dtype;
	int ndim;
	const int64_t *shape;
	const int64_t *chunks; /* required (chunked layout) unless a dim is... any entry 0 -> contiguous */
	int gzip;              /* -1 none, 0..9 */
	int shuffle;
	int fletcher32;
	int overwrite;
} cask__h5create_t;

int cask__io_txn_begin(cask_ctx_t *ctx, const char *path, cask__h5txn_t **out);
/* Create dataset dset (intermediate groups too) in the transaction.  An
 * existing dataset of that name: CASK_EEXIST unless overwrite (then it is
 * unlinked in the temporary copy).  bool is written as h5py's enum
 * (FALSE=0, TRUE=1 over int8). */
int cask__io_create(cask_ctx_t *ctx, cask__h5txn_t *txn, const char *dset,
                    const cask__h5create_t *spec, cask__h5out_t **out);
/* Write the block start[k] .. start[k]+count[k] from buf (C order, native):
 * exactly one stored chunk of an unfiltered output goes to H5Dwrite_chunk
 * (cask__io_write_chunk), anything else through a hyperslab H5Dwrite.
 * Adds the bytes to ctx's bytes_written. */
int cask__io_write(cask_ctx_t *ctx, cask__h5out_t *o, const int64_t *start,
                   const int64_t *count, const void *buf);
/* Close datasets, flush, fsync and rename over the target. Frees txn.
 * The cask__h5out_t handles belong to their transaction: they are closed
 * and freed by commit and abort, and invalid afterwards. */
int cask__io_txn_commit(cask_ctx_t *ctx, cask__h5txn_t *txn);
/* Remove the temporary file. Frees txn. NULL is a no-op. */
void cask__io_txn_abort(cask__h5txn_t *txn);

/* Scratch files: an unlinked temporary file for data a run writes once and
 * reads back (TSQR's tree factors when they outgrow the budget), in the
 * directory of output o (the disk that takes the run's output), or in
 * $TMPDIR or /tmp when o is NULL; it disappears when closed or when the
 * process dies.  open: 0 with *fd, or CASK_EIO naming the directory.
 * write / read: all n bytes at offset off, or CASK_EIO with errno's text
 * (a short read is an error).  Thread-safe on distinct ranges. */
int cask__io_scratch_open(cask_ctx_t *ctx, const cask__h5out_t *o, int *fd);
/* The directory for temporary files near path (its directory), or $TMPDIR
 * or /tmp when path is NULL, into dir (len bytes). */
void cask__io_tmp_dir(const char *path, char *dir, size_t len);
/* Whether a store of dset into path can start: path is a regular file or
 * absent, its directory writable, and (without overwrite) dset absent from
 * it.  For calls whose outputs are created only after long work; the
 * store itself checks again.  0 or an error code with a message. */
int cask__io_preflight(cask_ctx_t *ctx, const char *path, const char *dset, int overwrite);
/* Whether paths a and b name the same file, spelt differently or not
 * ("o.h5", "./o.h5", a symlink to it): the same device and inode when both
 * exist, else the same canonical directory and name. */
int cask__io_same_file(const char *a, const char *b);
int cask__io_scratch_write(cask_ctx_t *ctx, int fd, uint64_t off, const void *buf, size_t n);
int cask__io_scratch_read(cask_ctx_t *ctx, int fd, uint64_t off, void *buf, size_t n);

/* Seconds spent inside HDF5 calls by all threads since process start. */
double cask__io_seconds(void);
/* Bytes held by the chunk caches of open inputs and the staging buffers of
 * direct writes to open outputs (the scheduler counts them in the budget). */
size_t cask__io_cache_bytes(void);
/* Give in, when its chunks are filtered, read directly and it has no cache
 * yet (cask_ctx_set_io), a decoded-chunk cache of nchunks chunks, counted
 * in cask__io_cache_bytes like one set at open: for callers whose regions
 * cut chunks, which would otherwise decode a chunk once per region.
 * Returns the bytes added (0: nothing done).  The caller that got bytes
 * hands the cache back with cask__io_cache_drop once its graphs have run.
 * Neither while a graph reads in. */
size_t cask__io_cache_ensure(cask__h5in_t *in, int nchunks);
void cask__io_cache_drop(cask__h5in_t *in);
/* When the chunk at chunk_start is in in's decoded-chunk cache, copy its
 * part off + [0, cnt) (offsets within the chunk) to dst (element strides
 * dstrides) and return 1; else 0 (read it with cask__io_read_chunk). */
int cask__io_cache_copy(cask__h5in_t *in, const int64_t *chunk_start, const int64_t *off,
                        const int64_t *cnt, void *dst, const int64_t *dstrides);

/* ---------------------------------------------------------------- direct chunk I/O
 * (issue 6).  Whole stored chunks move through H5Dread_chunk/H5Dwrite_chunk
 * under the lock; the filters (shuffle, deflate, fletcher32; filters.c) run
 * on the calling thread outside it.  Chunk buffers always hold the FULL
 * chunk extents, edge chunks included (HDF5 stores edge chunks whole). */

/* 1 if chunks of in can be read raw and decoded by cask (chunked, only
 * deflate/shuffle/fletcher32, a plain integer/float/bool layout in either
 * byte order).  cask__io_read_chunk works either way (it falls back to
 * H5Dread of the chunk's hyperslab). */
int cask__io_chunk_direct_ok(const cask__h5in_t *in);
/* Scratch bytes cask__io_read_chunk needs for in (0 if not chunked). */
size_t cask__io_chunk_scratch_bytes(const cask__h5in_t *in);
/* Read the chunk whose origin is chunk_start (multiples of meta.chunks) into
 * buf (meta.chunk_bytes bytes, C order over the full chunk extents, native
 * layout).  A chunk never written reads as the fill value; filter-mask bits
 * are honoured; stored byte order is converted.  Outside the dataset, an
 * edge chunk holds what the file holds (the fill value on the fallback
 * path).  Errors: CASK_ECORRUPT (bad deflate stream, checksum mismatch)
 * naming file, dataset and chunk; CASK_EIO; CASK_EINVAL (not a chunk origin,
 * scratch too small). */
int cask__io_read_chunk(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *chunk_start, void *buf,
                        void *scratch, size_t scratch_bytes);

/* A read-only mapping of one stored chunk (cask__io_map_chunk). */
typedef struct {
	void *base;
	size_t len;
} cask__map_t;
/* Zero-copy read: map the stored bytes of the chunk at chunk_start when they
 * are exactly its native values (unfiltered or filters skipped, native byte
 * order, not bool, element-aligned in a file with a chunk index) and the
 * file is long enough; *ptr points at them until cask__io_unmap_chunk(m).
 * Returns 1 mapped, 0 not mappable (read the chunk instead), < 0 error.
 * Pages come from the page cache: no copy into a task buffer.  Off unless
 * env CASK_MMAP=1 (see mmap_enabled in io.c for why): then it returns 0. */
int cask__io_map_chunk(cask_ctx_t *ctx, cask__h5in_t *in, const int64_t *chunk_start,
                       const void **ptr, cask__map_t *m);
void cask__io_unmap_chunk(cask__map_t *m);
/* Bytes of one uncompressed chunk of o (0 if contiguous), whether o has
 * filters, and the scratch cask__io_write_chunk needs. */
size_t cask__io_out_chunk_bytes(const cask__h5out_t *o);
int cask__io_out_filtered(const cask__h5out_t *o);
size_t cask__io_out_chunk_scratch_bytes(const cask__h5out_t *o);
/* Encode (shuffle, deflate, fletcher32 as created) the full chunk at
 * buf_full_chunk on the calling thread and store it with H5Dwrite_chunk as
 * the chunk at chunk_start.  Edge chunks are passed at full extents (the
 * part outside the dataset is stored but never read).  Adds the bytes of
 * the chunk's part inside the dataset to ctx's bytes_written (reads count
 * the same way in bytes_read). */
int cask__io_write_chunk(cask_ctx_t *ctx, cask__h5out_t *o, const int64_t *chunk_start,
                         const void *buf_full_chunk, void *scratch, size_t scratch_bytes);

#endif
