/*
 * fuzz_h5open.c - libFuzzer target for opening hostile HDF5 files through
 * the public API: the input bytes are written to a temporary file, then
 * cask_h5_info() lists its datasets, cask_array_open() opens each of the
 * first few, and a small computation reads data from what opened (the sum of
 * the whole dataset when it is small, else its first element).  Every call
 * may fail, but must fail with a negative CASK_E code and a message on the
 * context: a crash, a leak, a sanitizer report, or a return code outside the
 * error range is a finding.
 *
 * The context runs one thread under a 64 MiB budget, so a file claiming a
 * huge chunk is refused by the budget rather than allocated.
 *
 * Leaks: HDF5 1.10 itself leaks small blocks on some corrupt-metadata error
 * paths; smoke.sh suppresses LeakSanitizer reports whose allocation is inside
 * libhdf5.  A handle cask forgets to close would keep its memory reachable
 * (no LeakSanitizer report), so after every input the target checks instead
 * that HDF5 has no open object left (H5Fget_obj_count), and traps if it has.
 *
 * Build and run: tests/fuzz/build.sh, tests/FUZZING.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "cask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_DSETS 4
#define SMALL_BYTES (1u << 20)

static cask_ctx_t *ctx;
static char path[64];

static void check_rc(int rc)
{
	/* Errors are negative codes with a message; CASK_EINTERNAL means a
	 * broken invariant inside the library, a bug whatever the input. */
	if (rc > 0 || rc < CASK_EINTERNAL || rc == CASK_EINTERNAL)
		__builtin_trap();
	if (rc < 0 && cask_ctx_message(ctx)[0] == '\0')
		__builtin_trap();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (cask_ctx_create(&ctx) != 0)
		abort();
	cask_ctx_set_threads(ctx, 1);
	cask_ctx_set_memory(ctx, (size_t)64 << 20);
	snprintf(path, sizeof path, "/tmp/cask-fuzz-h5-%ld.h5", (long)getpid());
	return 0;
}

static void read_some(cask_array_t *a, const cask_dset_info_t *info)
{
	unsigned char buf[64];
	cask_array_t *r = NULL;
	int rc, k, nd = cask_array_ndim(a);

	if (info->logical_bytes <= SMALL_BYTES) {
		rc = cask_reduce(ctx, CASK_SUM, a, 0, NULL, 0, 0, &r);
		check_rc(rc);
	} else {
		cask_index_t idx[CASK_MAX_DIMS];

		for (k = 0; k < nd; k++) {
			memset(&idx[k], 0, sizeof idx[k]);
			idx[k].kind = CASK_INDEX_INT;
			idx[k].start = 0;
		}
		rc = cask_index(ctx, a, nd, idx, &r);
		check_rc(rc);
	}
	if (r) {
		rc = cask_compute(ctx, r, buf, sizeof buf);
		check_rc(rc);
		cask_array_destroy(r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cask_dset_info_t *info = NULL;
	int64_t n = 0, i;
	FILE *f;
	int rc;

	f = fopen(path, "wb");
	if (!f)
		return 0;
	if (size && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	fclose(f);
	rc = cask_h5_info(ctx, path, NULL, &info, &n);
	check_rc(rc);
	for (i = 0; rc == 0 && i < n && i < MAX_DSETS; i++) {
		cask_array_t *a = NULL;
		cask_dset_info_t one;
		cask_dset_info_t *pone = NULL;
		int64_t n1 = 0;

		/* The single-dataset form of info as well. */
		check_rc(cask_h5_info(ctx, path, info[i].path, &pone, &n1));
		if (pone) {
			one = pone[0];
			(void)one;
			free(pone);
		}
		rc = cask_array_open(ctx, path, info[i].path, NULL, &a);
		check_rc(rc);
		if (rc == 0) {
			read_some(a, &info[i]);
			cask_array_destroy(a);
		}
		rc = 0;
	}
	free(info);
	if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
		__builtin_trap();
	/* A name that is not listed (a group, or nothing). */
	{
		cask_array_t *a = NULL;

		rc = cask_array_open(ctx, path, "/x", NULL, &a);
		check_rc(rc);
		if (rc == 0) {
			cask_dset_info_t fake;

			memset(&fake, 0, sizeof fake);
			fake.logical_bytes = UINT64_MAX;
			read_some(a, &fake);
			cask_array_destroy(a);
		}
	}
	if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
		__builtin_trap();
	unlink(path);
	return 0;
}
