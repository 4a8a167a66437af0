/* lm-corpus.h — reading, validating and splitting text; token streams; batches.
 *
 * Stage 1, read: a corpus file must exist, be a regular file, be non-empty, hold no NUL
 * byte and be valid UTF-8 (an error names file, line and byte offset). CRLF and lone CR
 * become LF, a missing final newline is added, a UTF-8 byte-order mark is dropped.
 * Stage 2, split: separate files, or fractions of one text by line or by character.
 * Stage 3, encode with the vocabulary built on the training part only.
 * Stage 4, batch: B contiguous streams for truncated BPTT, or random windows.
 */
#pragma once

#include <glib.h>

#include "core/lm-config.h"
#include "core/lm-rng.h"
#include "core/lm-vocab.h"

G_BEGIN_DECLS

/* ---- text ---------------------------------------------------------------- */

typedef struct {
  char *name;     /* file name, or "NAME[train]" for a split part */
  char *data;     /* normalised UTF-8, every line ends in '\n', NUL-terminated */
  gsize len;      /* bytes */
  gsize n_lines;
  gsize n_chars;  /* Unicode code points, newlines included */
} LmText;

gboolean lm_text_read  (const char *path, LmText **text, GError **error);
/* Validate and normalise text from memory (name is used in messages). */
gboolean lm_text_from_data (const char *name, const char *data, gsize len, LmText **text,
                            GError **error);
void     lm_text_free  (LmText *text);

typedef enum {
  LM_SPLIT_BY_LINE, /* whole lines: the first lines train */
  LM_SPLIT_BY_CHAR, /* code points: the first floor((1-v-t) * n_chars) train */
} LmSplitUnit;

/* Cut text into train / valid / test parts, in that order, valid and test taking the
 * given fractions from the end. A fraction of 0 gives a NULL part. Fails when a
 * non-zero part would be empty. */
gboolean lm_text_split (const LmText *text, LmSplitUnit unit, double valid_fraction,
                        double test_fraction, LmText **train, LmText **valid,
                        LmText **test, GError **error);

/* The default corpus: the King James Bible, made at build time from Debian's bible-kjv
 * package (scripts/make-kjv-corpus.sh). Looked up as $LMLAB_DATA_DIR/kjv.txt, then the
 * build tree's data/kjv.txt, then the installed copy. NULL with an error saying how to
 * make it when none exists. */
char    *lm_default_corpus_path (GError **error);

/* ---- token streams --------------------------------------------------------- */

typedef struct {
  gint32 *tokens;   /* ids; at word level every line ends in </s> */
  gsize n_tokens;
  gsize n_oov;      /* tokens whose symbol is not in the vocabulary */
  gsize n_chars;    /* characters of the text covered (for bits per character) */
  gsize n_lines;
} LmTokenStream;

LmTokenStream *lm_token_stream_encode (const LmVocab *vocab, const LmText *text);
void           lm_token_stream_free   (LmTokenStream *stream);
/* The stream holds no <s> (a literal "<s>" word in the text, which would encode as the
 * start-of-sentence mark, a context no model predicts): else LM_ERROR_INVALID_INPUT naming
 * the text and the line. Called wherever text becomes a stream for a model. */
gboolean       lm_token_stream_check  (const LmTokenStream *stream, const LmText *text,
                                       GError **error);

/* ---- a corpus: splits, vocabulary and streams, the same for every model ------- */

typedef enum { LM_PART_TRAIN, LM_PART_VALID, LM_PART_TEST, LM_N_PARTS } LmPart;
const char *lm_part_name (LmPart part);

typedef struct {
  const char *train_path;     /* required */
  const char *valid_path;     /* NULL: take valid_fraction of the training file */
  const char *test_path;      /* NULL: take test_fraction of the training file */
  double valid_fraction;      /* used only when valid_path is NULL (default 0.1) */
  double test_fraction;       /* used only when test_path is NULL (default 0) */
  LmSplitUnit split_unit;     /* for fractions */
  LmLevel level;
  LmVocabLimits limits;
} LmCorpusSpec;

/* Defaults: valid 0.1, test 0, split by char at char/byte level and by line at word
 * level, min_count 1, no size limit. */
void lm_corpus_spec_init (LmCorpusSpec *spec, LmLevel level);

typedef struct {
  LmLevel level;
  LmVocab *vocab;                        /* built from the training part */
  LmText *text[LM_N_PARTS];              /* NULL where a part is absent */
  LmTokenStream *stream[LM_N_PARTS];     /* likewise */
} LmCorpus;

/* Corpus keys accepted with the hyperparameters (--set, experiment files): valid_fraction,
 * test_fraction, split (line|char|auto), min_count, max_vocab. */
extern const LmOptionSpec lm_corpus_options[];
/* Fill the split and vocabulary fields of spec from a config validated against
 * lm_corpus_options. */
void     lm_corpus_spec_configure (LmCorpusSpec *spec, const LmConfig *config);

gboolean lm_corpus_load (const LmCorpusSpec *spec, LmCorpus **corpus, GError **error);
void     lm_corpus_free (LmCorpus *corpus);

/* ---- batches ----------------------------------------------------------------- */

/* Truncated BPTT: the stream is cut into B contiguous rows of L = (n - 1) / B tokens;
 * batch k holds inputs rows[b][k*T .. k*T+T-1] and the targets one token later, so row
 * b of batch k+1 continues row b of batch k and a recurrent state can be carried. */
typedef struct {
  const gint32 *tokens;
  gsize n_tokens;
  int B, T;
  gsize row_len;    /* L */
  gsize n_batches;  /* ceil(L / T); the last one may be shorter: see lm_stream_batch */
} LmStreamBatches;

gboolean lm_stream_batches_init (LmStreamBatches *batches, const gint32 *tokens,
                                 gsize n_tokens, int B, int T, GError **error);
/* Fill inputs and targets for batch index as row-major (B,T') arrays (room for B*T
 * each) and return T' <= T: every batch but the last has T' = T. */
int      lm_stream_batch        (const LmStreamBatches *batches, gsize index,
                                 gint32 *inputs, gint32 *targets);

/* Random windows for context-window models: B windows of T+1 tokens drawn uniformly
 * from the stream (n_tokens > T required). */
void     lm_random_windows      (const gint32 *tokens, gsize n_tokens, int B, int T,
                                 LmRng *rng, gint32 *inputs, gint32 *targets);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmText, lm_text_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmTokenStream, lm_token_stream_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmCorpus, lm_corpus_free)

G_END_DECLS
