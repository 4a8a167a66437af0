/* lm-ngram.h — count-based n-gram language models (orders 1..20).
 *
 * One class, `lm_ngram_class` (capabilities FIT | SCORE | STREAM | SAVE), registered as
 * "ngram". Options (all settable with --set):
 *
 *   order        1..20 (default 3)
 *   smoothing    mle | addk | wb | abs | kn | mkn (default mkn); "arpa" marks a model
 *                imported from an ARPA file (it cannot be re-fitted)
 *   interpolate  true: interpolated form; false: backoff form (default true)
 *   k            add-k pseudo-count (default 1: Laplace)
 *   discount     abs: the discount D; negative estimates n1/(n1 + 2 n2) per order
 *   cutoffs      "c1,c2,...": drop n-grams of order i seen <= c_i times in training (KenLM's
 *                --prune semantics; c1 must be 0, the list must not decrease, the last
 *                value repeats for higher orders). Default "0".
 *   prune        relative-entropy pruning threshold (Stolcke 1998); 0 is off
 *   discount_fallback  "D1,D2,D3+" used where count-of-counts cannot give the (modified)
 *                Kneser-Ney discounts of an order (KenLM's --discount_fallback values by
 *                default), or "error" to refuse
 *   boundary     auto | eos | newline | none: the symbol that ends a sentence, after
 *                which the context restarts at <s>. auto is </s> at word level and '\n'
 *                at char/byte level (each line is a sentence, as KenLM sees a file).
 *
 * Conventions: <s> is context only (probability 0 as a prediction); the boundary symbol
 * is predicted. <unk> is an ordinary vocabulary id: it has whatever training count the
 * stream gives it (PTB's literal <unk> is a frequent word) and its share of the uniform
 * distribution every order finally backs off to; that uniform covers every id except
 * <s> (and except </s> when another symbol ends sentences). See docs/ngram.md for the
 * equations and how the numbers match KenLM.
 *
 * Not thread-safe: the first full-distribution request (state_logprobs, or score with
 * `predicted`/`rank`) builds an index inside the model.
 */
#pragma once

#include <glib.h>

#include "core/lm-model.h"

G_BEGIN_DECLS

extern const LmModelClass lm_ngram_class;

/* Write a fitted (or imported) model as an ARPA file (log10), atomically. replace = FALSE
 * never replaces a file at path, even one that appeared after the caller checked. */
gboolean  lm_ngram_write_arpa (LmModel *model, const char *path, gboolean replace,
                               GError **error);
/* Read any ARPA file as a new word-level model whose vocabulary is the file's unigrams
 * (plus <s>, </s>, <unk>). Errors name the file and line. Free with lm_model_free. */
LmModel  *lm_ngram_read_arpa  (const char *path, GError **error);
/* The same from memory (name appears in messages). */
LmModel  *lm_ngram_read_arpa_data (const char *name, const char *data, gsize len,
                                   GError **error);

/* What the last fit wants a user to know (discounts that fell back, with the
 * count-of-counts that explain why), or NULL. Owned by the model. */
const char *lm_ngram_notes  (LmModel *model);
/* The count-of-counts and discount table of the last fit, or NULL. Owned by the model. */
const char *lm_ngram_report (LmModel *model);
/* Stored n-grams of order n (1-based), 0 before fit. */
guint64   lm_ngram_count    (LmModel *model, int n);

G_END_DECLS
