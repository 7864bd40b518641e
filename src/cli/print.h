/*
 * print.h - text output of an in-memory n-d array, as `cask eval` prints a
 * result without -o.
 *
 * Format (the contract of issue 3, which scripts parse):
 *  - a 0-d array: its one value on a line;
 *  - 1-d: one value per line;
 *  - 2-d: one row per line, values separated by one space;
 *  - higher ranks: the 2-d slices a[i, j, ..., :, :] in C order, each printed
 *    as a 2-d array, separated by one blank line;
 *  - integers in decimal; float64 with "%.17g" and float32 with "%.9g" (both
 *    round-trip exactly); NaN as "nan", infinities as "inf" and "-inf" (never
 *    "-nan"); bools as True / False.
 * Zero-length axes follow the same rules: a (2, 0) array prints two empty
 * lines (as numpy.savetxt), a (0,) or (0, 3) array prints nothing.
 *
 * Pure C: it uses only the dtype enum of cask.h, no library calls.
 */
#ifndef CLI_PRINT_H
#define CLI_PRINT_H

#include <stdint.h>
#include <stdio.h>

#include "cask.h"

/* Format one element at p (of dtype t) into buf (at least 32 bytes).
 * Returns the length, or -1 for an unknown dtype. */
int cli_format_value(cask_dtype_t t, const void *p, char *buf, size_t size);

/* Print the C-order array data (dtype t, ndim dims of shape) to f.  Returns
 * 0, or -1 on a write error or invalid arguments (unknown dtype, negative
 * extent, ndim out of range). */
int cli_print_array(FILE *f, cask_dtype_t t, int ndim, const int64_t *shape, const void *data);

#endif
