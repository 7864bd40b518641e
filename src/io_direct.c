/*
 * io_direct.c - write-behind of whole output chunks with O_DIRECT.
 *
 * Why.  On the VMs cask runs on, a write through the page cache costs the
 * writing thread 1.1-1.9 CPU-seconds per GiB whenever the pages are fresh
 * (the host faults each one in: perf of a TSQR Q and R run put 38% of its
 * CPU in copy_folio_from_iter_atomic), and a durable commit then waits for
 * the whole file's writeback.  dd of 2 GiB with O_DIRECT and 8-16 MiB
 * requests: 0.7-1.0 s wall for 0.2 CPU-s, against 2.2-2.9 CPU-s buffered.
 *
 * How.  A ring of nslot aligned staging buffers, allocated once and reused
 * (so faulted in once).  put() copies a range into free buffers and queues
 * them; the writer thread writes queued buffers in queue order with pwrite
 * on an O_DIRECT descriptor and frees them, so the caller's thread goes on
 * computing while the disk works.  A tail shorter than CASK__DW_ALIGN goes
 * through a second, buffered descriptor: O_DIRECT lengths must be multiples
 * of the block size, and the page holding a chunk's tail may be shared with
 * HDF5's metadata, which HDF5 writes through the page cache.  If the first
 * O_DIRECT write fails with EINVAL (an alignment this file system does not
 * take), every write goes buffered from then on, still from the thread.
 *
 * Invariants.
 *  1. A slot goes FREE -> FILLING (one putter, copying without the mutex)
 *     -> READY -> WRITING (the thread, writing without the mutex) -> FREE;
 *     every change is made under mu and broadcast on cv.
 *  2. The first failed write sticks in err / err_off; queued writes after it
 *     are dropped, and put() and drain() report it.
 *  3. direct / any_direct are the writer threads' alone (atomic: there may
 *     be several).
 */
#include "io_direct.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FREE, FILLING, READY, WRITING };

typedef struct {
	unsigned char *buf;
	uint64_t off, seq;
	size_t len;
	int state;
} slot_t;

#define MAX_THREADS 4

struct cask__dw {
	pthread_t thread[MAX_THREADS];
	int nthread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int dfd, bfd;         /* O_DIRECT and buffered descriptors of the file */
	int nslot;
	size_t slot_bytes;
	slot_t *slot;
	uint64_t seq;         /* queue order */
	int stop;             /* 1: finish the queue and end; 2: drop it and end */
	int err;
	uint64_t err_off;
	_Atomic int direct, any_direct; /* O_DIRECT still tried; one succeeded */
};

/* Write all n bytes at off through fd: 0 or an errno value. */
static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno;
		if (k == 0)
			return EIO;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* The thread.  Write slot s: whole blocks with O_DIRECT, the rest buffered. */
static int slot_write(cask__dw_t *w, const slot_t *s)
{
	size_t head = w->direct ? s->len / CASK__DW_ALIGN * CASK__DW_ALIGN : 0, done = 0;
	while (done < head) {
		ssize_t k = pwrite(w->dfd, s->buf + done, head - done, (off_t)(s->off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EINVAL && !w->any_direct) {
			w->direct = 0; /* the file system refuses this alignment */
			break;
		}
		if (k < 0)
			return errno;
		if (k == 0)
			return EIO;
		w->any_direct = 1;
		done += (size_t)k;
		if (done % CASK__DW_ALIGN != 0)
			break; /* a short write off the block grid: finish buffered */
	}
	return pwrite_all(w->bfd, s->buf + done, s->len - done, s->off + done);
}

static void *writer_main(void *arg)
{
	cask__dw_t *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		slot_t *s = NULL;
		for (int i = 0; i < w->nslot; i++)
			if (w->slot[i].state == READY && (s == NULL || w->slot[i].seq < s->seq))
				s = &w->slot[i];
		if (s == NULL) {
			if (w->stop)
				break;
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		if (w->err != 0 || w->stop == 2) {
			s->state = FREE;
			pthread_cond_broadcast(&w->cv);
			continue;
		}
		s->state = WRITING;
		pthread_mutex_unlock(&w->mu);
		int e = slot_write(w, s);
		pthread_mutex_lock(&w->mu);
		if (e != 0 && w->err == 0) {
			w->err = e;
			w->err_off = s->off;
		}
		s->state = FREE;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void dw_stop(cask__dw_t *w, int how);

static void dw_free(cask__dw_t *w)
{
	if (w->slot != NULL)
		for (int i = 0; i < w->nslot; i++)
			free(w->slot[i].buf);
	free(w->slot);
	if (w->dfd >= 0)
		close(w->dfd);
	if (w->bfd >= 0)
		close(w->bfd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int cask__dw_start(const char *path, int nthread, int nslot, size_t slot_bytes, cask__dw_t **out)
{
	*out = NULL;
	if (nthread < 1 || nthread > MAX_THREADS || nslot < 1 || slot_bytes == 0 ||
	    slot_bytes % CASK__DW_ALIGN != 0)
		return EINVAL;
	cask__dw_t *w = calloc(1, sizeof *w);
	if (w == NULL)
		return ENOMEM;
	w->dfd = w->bfd = -1;
	w->nslot = nslot;
	w->slot_bytes = slot_bytes;
	w->direct = 1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	int e = 0;
	w->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (w->dfd < 0)
		e = errno;
	if (e == 0 && (w->bfd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		e = errno;
	if (e == 0 && (w->slot = calloc((size_t)nslot, sizeof *w->slot)) == NULL)
		e = ENOMEM;
	for (int i = 0; e == 0 && i < nslot; i++) {
		void *p = NULL;
		e = posix_memalign(&p, CASK__DW_ALIGN, slot_bytes);
		w->slot[i].buf = p;
	}
	if (e == 0) {
		/* The threads take no signals: they stay with the caller's threads. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (; w->nthread < nthread; w->nthread++)
			if ((e = pthread_create(&w->thread[w->nthread], NULL, writer_main, w)) != 0)
				break;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (e != 0) {
		if (w->nthread > 0)
			dw_stop(w, 2);
		else
			dw_free(w);
		return e;
	}
	*out = w;
	return 0;
}

size_t cask__dw_bytes(const cask__dw_t *w)
{
	return w == NULL ? 0 : (size_t)w->nslot * w->slot_bytes;
}

/* Under mu.  A free slot, or NULL. */
static slot_t *free_slot(cask__dw_t *w)
{
	for (int i = 0; i < w->nslot; i++)
		if (w->slot[i].state == FREE)
			return &w->slot[i];
	return NULL;
}

int cask__dw_put(cask__dw_t *w, uint64_t off, const void *buf, size_t n, uint64_t *bad_off)
{
	const unsigned char *p = buf;
	while (n > 0) {
		size_t k = n < w->slot_bytes ? n : w->slot_bytes;
		slot_t *s = NULL;
		pthread_mutex_lock(&w->mu);
		while (w->err == 0 && (s = free_slot(w)) == NULL)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->err != 0) {
			int e = w->err;
			*bad_off = w->err_off;
			pthread_mutex_unlock(&w->mu);
			return e;
		}
		s->state = FILLING;
		pthread_mutex_unlock(&w->mu);
		memcpy(s->buf, p, k);
		pthread_mutex_lock(&w->mu);
		s->off = off;
		s->len = k;
		s->seq = w->seq++;
		s->state = READY;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		p += k;
		off += k;
		n -= k;
	}
	return 0;
}

/* Under mu.  Whether a write queued before number seq is not yet written. */
static int pending_before(const cask__dw_t *w, uint64_t seq)
{
	for (int i = 0; i < w->nslot; i++)
		if ((w->slot[i].state == READY || w->slot[i].state == WRITING) && w->slot[i].seq < seq)
			return 1;
	return 0;
}

/* Under mu.  Whether any slot is not free. */
static int busy_locked(const cask__dw_t *w)
{
	for (int i = 0; i < w->nslot; i++)
		if (w->slot[i].state != FREE)
			return 1;
	return 0;
}

int cask__dw_busy(cask__dw_t *w)
{
	pthread_mutex_lock(&w->mu);
	int b = busy_locked(w);
	pthread_mutex_unlock(&w->mu);
	return b;
}

/* Wait until every write queued before this call (all = 0) or every slot
 * (all = 1) is written: 0 or the first failure's errno. */
static int wait_written(cask__dw_t *w, int all, uint64_t *bad_off)
{
	pthread_mutex_lock(&w->mu);
	uint64_t upto = w->seq;
	while (all ? busy_locked(w) : pending_before(w, upto))
		pthread_cond_wait(&w->cv, &w->mu);
	int e = w->err;
	if (e != 0)
		*bad_off = w->err_off;
	pthread_mutex_unlock(&w->mu);
	return e;
}

int cask__dw_drain(cask__dw_t *w, uint64_t *bad_off)
{
	return wait_written(w, 0, bad_off);
}

/* Tell the thread to end (how: see stop), wait for it and free w. */
static void dw_stop(cask__dw_t *w, int how)
{
	pthread_mutex_lock(&w->mu);
	w->stop = how;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthread; i++)
		pthread_join(w->thread[i], NULL);
	dw_free(w);
}

int cask__dw_finish(cask__dw_t *w, uint64_t *bad_off)
{
	if (w == NULL)
		return 0;
	int e = wait_written(w, 1, bad_off);
	dw_stop(w, 1);
	return e;
}

void cask__dw_abort(cask__dw_t *w)
{
	if (w != NULL)
		dw_stop(w, 2);
}
