/*
 * io_direct.h - a write-behind writer for whole output chunks: the caller's
 * bytes are copied into a small ring of aligned staging buffers and a thread
 * of the writer's own writes them to the file with O_DIRECT, bypassing the
 * page cache (see io_direct.c for why).  No HDF5 here: io.c gives it file
 * offsets of chunks HDF5 has already allocated.
 */
#ifndef CASK_IO_DIRECT_H
#define CASK_IO_DIRECT_H

#include <stddef.h>
#include <stdint.h>

/* File offsets and lengths handed to O_DIRECT are multiples of this. */
#define CASK__DW_ALIGN 4096

typedef struct cask__dw cask__dw_t;

/* Open path for direct writes with nslot staging buffers of slot_bytes (a
 * multiple of CASK__DW_ALIGN) and start nthread (1..4) writer threads.  Returns 0, or an
 * errno value when direct writes are not possible here (EINVAL: the file
 * system refuses O_DIRECT) or resources are short; *out is then NULL. */
int cask__dw_start(const char *path, int nthread, int nslot, size_t slot_bytes, cask__dw_t **out);

/* Bytes of staging memory held by w. */
size_t cask__dw_bytes(const cask__dw_t *w);

/* Queue n bytes of buf for file offset off (a multiple of CASK__DW_ALIGN),
 * copying them into staging buffers; returns once they are copied, waiting
 * for a free buffer when all are queued.  Writes of the same range must not
 * overlap in flight.  Returns 0, or the errno of an earlier failed write
 * (the first failure sticks; *bad_off gets its offset). */
int cask__dw_put(cask__dw_t *w, uint64_t off, const void *buf, size_t n, uint64_t *bad_off);

/* Wait until every write queued before this call has reached the file
 * (writes other threads queue meanwhile are not waited for).  Returns 0 or
 * the first failure's errno (and its offset in *bad_off). */
int cask__dw_drain(cask__dw_t *w, uint64_t *bad_off);

/* Whether writes are queued or in flight (a hint; no waiting). */
int cask__dw_busy(cask__dw_t *w);

/* Wait for every queued write, stop the threads and free w (NULL is fine;
 * no put may be running).  Returns as drain. */
int cask__dw_finish(cask__dw_t *w, uint64_t *bad_off);

/* Stop the thread without writing what is still queued and free w. */
void cask__dw_abort(cask__dw_t *w);

#endif
