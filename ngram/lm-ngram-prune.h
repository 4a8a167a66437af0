/* lm-ngram-prune.h — internal: relative-entropy pruning (Stolcke 1998).
 *
 * Works on the backoff (ARPA) form of any model, as SRILM's -prune does. For a stored
 * n-gram h w with p = p(w|h), p_l = p(w|h') (h' = h without its first word), and the
 * context's leftover masses num(h) = 1 - sum_{stored v} p(v|h), den(h) = 1 - sum p(v|h'):
 * removing it makes bo'(h) = (num + p) / (den + p_l), and the model's relative entropy
 * grows by
 *
 *   dH = -P(h) [ p (ln(bo'(h) p_l) - ln p) + num(h) (ln bo'(h) - ln bo(h)) ]   (nats)
 *
 * with P(h) the probability of the context (product of its stored conditional
 * probabilities; P(<s>) = 1). Every n-gram of order >= 2 whose dH is below the
 * threshold is removed, from the highest order down, except those still needed as the
 * suffix or the context of a longer n-gram that stays. Probabilities of what stays are
 * unchanged; the backoff weight of each context that lost an extension is recomputed
 * as num/den over what stays.
 */
#pragma once

#include <glib.h>

#include "ngram/lm-ngram-table.h"

G_BEGIN_DECLS

/* A new, pruned table (the input is left untouched). */
LmNgramTable *lm_ngram_table_prune (const LmNgramTable *table, double threshold,
                                    GError **error);

G_END_DECLS
