/* lm-smallgemm.h — small matrix products against a matrix packed once.
 *
 *   C(M,N) = A(M,K) · B(K,N) + beta C + bias(N)       (bias added to every row of C)
 *
 * Made for products repeated many times with the same B and a new, small A: the
 * recurrence of rnn/lstm/gru multiplies a few dozen rows (M = the batch's streams) by the
 * same recurrent weights on every time step (forward K = H, N = G*H; backward K = G*H,
 * N = H). cblas_sgemm copies B into its own panel layout on every call, and for these
 * shapes that copy costs about as much as the product; here the caller packs B once
 * (lm_smallgemm_pack) and multiplies with it as often as it likes.
 *
 * Shape legend: M rows of A and C, K the shared dimension, N columns of B and C.
 *
 * Packed layout: B's columns in panels of LM_SMALLGEMM_NR = 16; panel p holds
 * B(k, 16p + j) at packed[(p*K + k)*16 + j], j < 16, columns past N zero. The caller
 * owns the packed buffer: lm_smallgemm_packed_floats (K, N) floats, allocated once
 * (outside any time-step loop), ideally 32-byte aligned (not required). The pack is the
 * same for every path below.
 *
 * Paths: an AVX2+FMA kernel (a 6x16 register tile, the 16 columns of one panel for up to
 * six rows of A) when the CPU has both (chosen at run time; the build needs no -march),
 * an AVX-512 one (6x32, two panels at once) when it also has AVX-512F, otherwise a
 * portable C loop. The AVX-512 and AVX2 kernels give the same bits; the portable loop
 * differs from them only in rounding. Packing is a copy and gives the same bits on every
 * path (the AVX2 path transposes 8x8 blocks in registers). lm_simd_avx2 () and
 * lm_simd_avx512 () (core/lm-ops-simd.h) make the choice; LMLAB_NO_SIMD=1 in the
 * environment forces the portable path, LMLAB_NO_AVX512=1 the AVX2 one.
 *
 * Threads: packing and multiplying read only their inputs, so several threads may
 * multiply with one packed buffer at once (each writing its own rows of C).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LM_SMALLGEMM_NR 16 /* columns per packed panel */

/* Floats a packed (K,N) matrix needs: K * N rounded up to whole panels. */
gsize lm_smallgemm_packed_floats (int K, int N);

/* packed = B(K,N) in panels. B is stored (K,N) with row stride ldb, or, with trans_b,
 * as its transpose (N,K) with row stride ldb (PyTorch's weight layout: W is (N,K) and
 * the product is A W^T). Writes every float of the packed size, padding included. */
void lm_smallgemm_pack (float *packed, gboolean trans_b, int K, int N, const float *B,
                        int ldb);

/* C(M,N) = A(M,K) · B(K,N) + beta C + bias(N), B given packed. A is stored (M,K) with
 * row stride lda, C (M,N) with row stride ldc; bias may be NULL. beta == 0 overwrites C
 * without reading it (as BLAS does). M, N, K >= 0 of any size; the packed buffer must
 * have been made with the same K and N. */
void lm_smallgemm (int M, int N, int K, const float *A, int lda, const float *packed,
                   const float *bias, float beta, float *C, int ldc);

/* ---- many rows against a wide B: A packed, B a panel at a time ----------------------
 *
 * The output layer multiplies a few hundred rows (every position of a batch) by a B of
 * tens of thousands of columns (the vocabulary) that changes every step. lm_smallgemm,
 * made for a B packed once and reused, would read the whole packed B once for every
 * chunk of rows; here A is packed once instead, in panels of LM_SMALLGEMM_MR rows, and
 * B one 16-column panel at a time (two on the AVX-512 path) into a small scratch: it stays
 * in L1 while every row panel of A (in L2) passes over it, so B is read once, and the
 * kernel reads A from one contiguous stream rather than six rows.
 *
 * Packed A: row panel q holds A(6q + r, k) at packed[(q*K + k)*6 + r], r < 6, rows past
 * M zero; lm_smallgemm_rows_floats (M, K) floats.
 *
 * Every element of C is the sum over k in increasing order plus the bias, exactly as in
 * lm_smallgemm for blocks of two rows or more, so the two give the same bits, and a row's
 * result does not depend on M or on how the columns are split between threads. */
#define LM_SMALLGEMM_MR 6 /* rows per packed panel of A */

gsize lm_smallgemm_rows_floats (int M, int K);

/* Whether lm_smallgemm_wide is the better way to an output layer's M x N product over K:
 * rows enough to fill its 6-row tiles (M >= 24), columns enough for A's packing to pay
 * (N >= 1024), and a packed A that stays near L2 (M K <= 256 Ki floats). B1's character
 * vocabulary (65 columns, 2,500 rows) is better on sgemm or lm_smallgemm. */
gboolean lm_smallgemm_wide_pays (int M, int N, int K);

/* packed = A(M,K) (row stride lda) in panels of LM_SMALLGEMM_MR rows, padding zeroed */
void lm_smallgemm_pack_rows (float *packed, int M, int K, const float *A, int lda);

/* The floats of lm_smallgemm_wide's scratch: two packed panels of B (the AVX-512 path
 * multiplies 32 columns at a time, the others 16). */
gsize lm_smallgemm_wide_scratch_floats (int K);

/* C(M,N) = A(M,K) · B(K,N) + bias(N), A given packed by lm_smallgemm_pack_rows, B stored
 * (K,N) with row stride ldb or, with trans_b, as its transpose (N,K). C is written
 * without being read (row stride ldc); bias may be NULL. scratch holds the panels of B
 * being multiplied: lm_smallgemm_wide_scratch_floats (K) floats, one per thread.
 * row_max, unless NULL, is raised to each row's largest element of C, as the elements
 * leave the registers: row_max[m] = max (row_max[m], max_n C(m,n)) (the softmax that
 * follows would otherwise read every row once only to find its maximum). A NaN is never
 * taken for the maximum, but may hide the elements compared with it. */
void lm_smallgemm_wide (int M, int N, int K, const float *a_packed, const float *B, int ldb,
                        gboolean trans_b, float *scratch, const float *bias, float *C,
                        int ldc, float *row_max);

/* out[i] = the largest of parts[k * part_stride + i] over k < n_parts, for i < n: the row
 * maxima of lm_smallgemm_wide calls over column parts of the same rows, combined. */
void lm_smallgemm_row_max_merge (float *out, const float *parts, int n_parts,
                                 gsize part_stride, int n);

G_END_DECLS
