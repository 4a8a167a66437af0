/* lm-interpolate.c — EM for the weights of a linear mixture of language models. */
#include "config.h"

#include <math.h>

#include "core/lm-error.h"
#include "harness/lm-interpolate.h"

/* ln sum_k lambda_k exp(lp_k(i)), with the largest term factored out; also fills the
 * posteriors r_k(i) = lambda_k p_k(i) / p(i) when post is not NULL. */
static double
mixture_logprob (const double *const *logprobs, guint K, gsize i, const double *weights,
                 double *post)
{
  double m = -INFINITY;
  for (guint k = 0; k < K; k++)
    if (weights[k] > 0 && logprobs[k][i] > m)
      m = logprobs[k][i];
  double s = 0;
  for (guint k = 0; k < K; k++)
    {
      double t = weights[k] > 0 ? weights[k] * exp (logprobs[k][i] - m) : 0;
      if (post)
        post[k] = t;
      s += t;
    }
  if (post)
    for (guint k = 0; k < K; k++)
      post[k] /= s;
  return m + log (s);
}

double
lm_interpolate_nats (const double *const *logprobs, guint K, gsize n, const double *weights)
{
  double total = 0, c = 0; /* Kahan-compensated: n can be millions of tokens */
  for (gsize i = 0; i < n; i++)
    {
      double y = -mixture_logprob (logprobs, K, i, weights, NULL) - c;
      double t = total + y;
      c = (t - total) - y;
      total = t;
    }
  return total / n;
}

gboolean
lm_interpolate_em (const double *const *logprobs, guint K, gsize n, double tolerance,
                   guint max_iterations, double *weights, guint *iterations, GError **error)
{
  if (K < 2 || n == 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                   "interpolation needs two or more models and at least one token");
      return FALSE;
    }
  for (guint k = 0; k < K; k++)
    for (gsize i = 0; i < n; i++)
      if (!isfinite (logprobs[k][i]) || logprobs[k][i] > 0)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_INVALID_INPUT,
                       "interpolation: model %u gives token %zu the log-probability %g", k, i,
                       logprobs[k][i]);
          return FALSE;
        }
  for (guint k = 0; k < K; k++)
    weights[k] = 1.0 / K;
  g_autofree double *post = g_new (double, K);
  g_autofree double *sum = g_new (double, K);
  double previous = lm_interpolate_nats (logprobs, K, n, weights);
  guint it = 0;
  while (it < max_iterations)
    {
      for (guint k = 0; k < K; k++)
        sum[k] = 0;
      for (gsize i = 0; i < n; i++)
        {
          mixture_logprob (logprobs, K, i, weights, post);
          for (guint k = 0; k < K; k++)
            sum[k] += post[k];
        }
      for (guint k = 0; k < K; k++)
        weights[k] = sum[k] / n;
      it++;
      double now = lm_interpolate_nats (logprobs, K, n, weights);
      gboolean done = previous - now < tolerance;
      previous = now;
      if (done)
        break;
    }
  if (iterations)
    *iterations = it;
  return TRUE;
}
