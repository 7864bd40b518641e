/*
 * cast_src.inc.c - the 11 cast loops from one source dtype (S, SSFX,
 * SKIND_*), one per destination dtype, and their dispatch row
 * cast_row_SSFX.  Included once per source dtype by cast.c.
 */

#define D uint8_t
#define DSFX b
#define DKIND_BOOL
#include "cast.inc.c"

#define D int8_t
#define DSFX i8
#define DKIND_INT
#define DBITS 8
#define DSIGNED 1
#include "cast.inc.c"

#define D int16_t
#define DSFX i16
#define DKIND_INT
#define DBITS 16
#define DSIGNED 1
#include "cast.inc.c"

#define D int32_t
#define DSFX i32
#define DKIND_INT
#define DBITS 32
#define DSIGNED 1
#include "cast.inc.c"

#define D int64_t
#define DSFX i64
#define DKIND_INT
#define DBITS 64
#define DSIGNED 1
#include "cast.inc.c"

#define D uint8_t
#define DSFX u8
#define DKIND_INT
#define DBITS 8
#define DSIGNED 0
#include "cast.inc.c"

#define D uint16_t
#define DSFX u16
#define DKIND_INT
#define DBITS 16
#define DSIGNED 0
#include "cast.inc.c"

#define D uint32_t
#define DSFX u32
#define DKIND_INT
#define DBITS 32
#define DSIGNED 0
#include "cast.inc.c"

#define D uint64_t
#define DSFX u64
#define DKIND_INT
#define DBITS 64
#define DSIGNED 0
#include "cast.inc.c"

#define D float
#define DSFX f32
#define DKIND_FLOAT
#include "cast.inc.c"

#define D double
#define DSFX f64
#define DKIND_FLOAT
#include "cast.inc.c"

static const cast_fn EW_PASTE(cast_row, SSFX)[CASK_NDTYPES] = {
	[CASK_BOOL] = EW_PASTE3(cast, SSFX, b),
	[CASK_INT8] = EW_PASTE3(cast, SSFX, i8),
	[CASK_INT16] = EW_PASTE3(cast, SSFX, i16),
	[CASK_INT32] = EW_PASTE3(cast, SSFX, i32),
	[CASK_INT64] = EW_PASTE3(cast, SSFX, i64),
	[CASK_UINT8] = EW_PASTE3(cast, SSFX, u8),
	[CASK_UINT16] = EW_PASTE3(cast, SSFX, u16),
	[CASK_UINT32] = EW_PASTE3(cast, SSFX, u32),
	[CASK_UINT64] = EW_PASTE3(cast, SSFX, u64),
	[CASK_FLOAT32] = EW_PASTE3(cast, SSFX, f32),
	[CASK_FLOAT64] = EW_PASTE3(cast, SSFX, f64),
};

#undef S
#undef SSFX
#undef SKIND_BOOL
#undef SKIND_INT
#undef SKIND_FLOAT
