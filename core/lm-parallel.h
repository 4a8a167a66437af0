/* lm-parallel.h — split a loop over [0,n) across a fixed set of threads.
 *
 * The training loop's passes over every parameter (the gradient norm, the clip, the
 * optimizer step) are memory-bound loops over millions of floats; on one thread they
 * left the second core idle for up to a tenth of a step. LmParallel runs a function on
 * contiguous parts of a range: the caller takes part 0, n_parts - 1 helper threads
 * (made once and kept, sleeping between jobs, never spinning) the rest. Parts are
 * whole 64-byte lines of floats, so no two threads write the same cache line.
 *
 *   g_autoptr (LmParallel) par = lm_parallel_new (2);
 *   lm_parallel_run (par, scale_part, &ctx, n_floats);   // returns when all parts are done
 *
 * A NULL LmParallel, or one part, runs the function once over everything. Not
 * reentrant: one job at a time per LmParallel.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmParallel LmParallel;

/* func over [begin,end), the part-th of the parts; parts are in order of begin */
typedef void (*LmPartFunc) (gpointer ctx, int part, gsize begin, gsize end);

/* n_parts >= 1; helpers are started now. Falls back to one part if no thread starts. */
LmParallel *lm_parallel_new (int n_parts);
void lm_parallel_free (LmParallel *par);
/* How many parts lm_parallel_run splits a long range into (1 for NULL). */
int lm_parallel_parts (const LmParallel *par);
/* The part boundaries: [begin,end) of part k when [0,n) is split into `parts` parts, each
 * start a multiple of 16 floats (64 bytes). Some parts may be empty when n is small. */
void lm_parallel_part_range (gsize n, int parts, int k, gsize *begin, gsize *end);
/* Run func over [0,n) in parts; returns when every part has finished. */
void lm_parallel_run (LmParallel *par, LmPartFunc func, gpointer ctx, gsize n);

/* Columns taken as they come free. The two vCPUs of a small virtual machine are not
 * equally fast from one minute to the next, so a wide product split into one fixed part
 * per thread keeps the faster thread waiting. Cut into more parts than threads instead,
 * and let each thread take the next untaken one from an atomic counter, the slower thread
 * takes fewer. lm_parallel_column_parts says how many parts n columns (the output
 * layers' vocabulary) are cut into for `threads` threads: one without helpers, else up
 * to LM_PARALLEL_PARTS_PER_THREAD a thread, each at least LM_PARALLEL_PART_MIN columns so
 * the products stay large. Part k's columns are lm_parallel_part_range (n, parts, k). */
#define LM_PARALLEL_PARTS_PER_THREAD 4
#define LM_PARALLEL_PART_MIN 512
int lm_parallel_column_parts (gsize n, int threads);

/* [begin,end) of column part k of `parts` taken by `threads` threads, each start a whole
 * 64-byte line. The parts shrink as k grows, in steps of `threads` equal parts: part k
 * weighs (parts - k + threads - 1) / threads (integer division), so 8 parts for 2
 * threads weigh 4 4 3 3 2 2 1 1. Equal threads finish the first parts together; what a
 * slower thread can keep the other waiting for at the end is one of the small last
 * parts (5% of the columns here) rather than one of eight equal ones (12.5%). With as
 * many parts as threads the parts are equal. */
void lm_parallel_column_range (gsize n, int parts, int threads, int k, gsize *begin,
                               gsize *end);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmParallel, lm_parallel_free)

G_END_DECLS
