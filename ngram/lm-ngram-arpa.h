/* lm-ngram-arpa.h — internal: ARPA text files to and from LmNgramTable.
 *
 * Writing: "\data\", "ngram N=count" lines, then one "\N-grams:" section per order with
 * "log10 p <TAB> w1 .. wN [<TAB> log10 bo]" lines and "\end\". log10(0) is written as
 * -99 (SRILM's convention; it is read back as a zero probability). Values carry enough
 * digits that reading the file back gives bit-identical float tables. The sentence
 * boundary is written as </s> (at char level '\n' when it ends sentences); symbols
 * containing whitespace, control bytes or a backslash are written with \xHH escapes
 * (KenLM and SRILM see them as opaque words). The file appears under its name only
 * when complete (temporary file + rename).
 *
 * Reading follows ARPA semantics exactly. Any order up to LM_NGRAM_MAX_ORDER and any
 * size that fits in memory; fields separated by spaces or tabs; lines before \data\
 * are ignored. Missing suffixes or contexts of stored n-grams (SRILM pruning can leave
 * them out) are inserted with backoff 1 and the probability backing off gives, so
 * scores are unchanged. A missing <unk> or </s> gets log10 p = -100 (as KenLM
 * substitutes). Every error names the file and line: truncation, a bad header, counts
 * that disagree with the sections, a non-numeric or positive log probability, a word
 * missing from the unigrams, a duplicate n-gram, an order above the limit.
 */
#pragma once

#include <glib.h>

#include "core/lm-vocab.h"
#include "ngram/lm-ngram-table.h"

G_BEGIN_DECLS

/* Write through a temporary file beside path; replace as in lm_file_publish. */
gboolean      lm_ngram_table_write_arpa (const LmNgramTable *table, const LmVocab *vocab,
                                         const char *path, gboolean replace, GError **error);

/* Parse ARPA text (name is used in messages). The vocabulary is built from the
 * unigrams (word level; returned in *vocab_out, a new reference). */
LmNgramTable *lm_ngram_table_read_arpa_data (const char *name, const char *data, gsize len,
                                             LmVocab **vocab_out, GError **error);
LmNgramTable *lm_ngram_table_read_arpa      (const char *path, LmVocab **vocab_out,
                                             GError **error);

G_END_DECLS
