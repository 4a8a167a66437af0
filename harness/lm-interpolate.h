/* lm-interpolate.h — linear interpolation of language models, weights by EM.
 *
 * Given K models' natural log-probabilities ln p_k(i) of the same n tokens, the mixture
 *   p(i) = sum_k lambda_k p_k(i),   lambda_k >= 0,  sum_k lambda_k = 1,
 * has its weights tuned by expectation-maximisation on held-out (validation) tokens:
 *   E: r_k(i) = lambda_k p_k(i) / p(i)        M: lambda_k = (1/n) sum_i r_k(i)
 * Each iteration cannot increase the held-out cross-entropy; it stops when an iteration
 * improves it by less than the tolerance (nats/token) or after max_iterations. Sums are
 * taken in log space with the largest term factored out, so tiny probabilities do not
 * underflow.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* logprobs[k] holds n values for model k. weights (K values) receives the result. Fails
 * (LM_ERROR_INVALID_INPUT) with fewer than 2 models, no tokens, or a non-finite or
 * positive log-probability. */
gboolean lm_interpolate_em (const double *const *logprobs, guint n_models, gsize n,
                            double tolerance, guint max_iterations, double *weights,
                            guint *iterations, GError **error);

/* Mean nats per token of the mixture with the given weights: -(1/n) sum_i ln p(i). */
double lm_interpolate_nats (const double *const *logprobs, guint n_models, gsize n,
                            const double *weights);

G_END_DECLS
