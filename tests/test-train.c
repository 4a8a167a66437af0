/* test-train.c — the training loop with the tiny gradient model of lm-test-model.h: a
 * softmax bigram (logits = W[previous token]) that carries a little state between
 * batches so that resume must restore it. Checks: it learns, budgets stop it, resume is
 * bit-exact, the non-finite guard skips and recovers, bad checkpoints are refused. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/lm-checkpoint.h"
#include "core/lm-error.h"
#include "core/lm-params.h"
#include "core/lm-train.h"
#include "lm-test-model.h"
#include "lm-test-util.h"

/* ---- fixtures --------------------------------------------------------------------- */

static const char corpus_text[] =
    "a b c d a b c d a b c d\nb c d a b c d a\nc d a b c d a b c\na b c d a b\n";

typedef struct {
  LmCorpus *corpus;
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = lm_test_tmpdir ();
  g_autofree char *path = lm_test_write (f->dir, "train.txt", corpus_text, -1);
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_WORD);
  spec.train_path = path;
  spec.valid_path = path;
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_corpus_load (&spec, &f->corpus, &error));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  lm_corpus_free (f->corpus);
  lm_test_rmtree (f->dir);
  g_free (f->dir);
}

static LmModel *
make_model (Fixture *f, const char *const *sets)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  for (int i = 0; sets && sets[i]; i++)
    g_assert_true (lm_config_set_assignment (config, sets[i], "test", &error));
  LmModel *model = lm_model_new (&lm_test_grad_carry_class, config, f->corpus->vocab, &error);
  g_assert_no_error (error);
  return model;
}

static gboolean
run (Fixture *f, LmModel *model, const char *ckpt, gboolean resume, const char *metrics,
     LmTrainResult *result, GError **error)
{
  LmTrainSetup setup = {
    .model = model,
    .train = f->corpus->stream[LM_PART_TRAIN],
    .valid = f->corpus->stream[LM_PART_VALID],
    .checkpoint_path = ckpt,
    .resume = resume,
    .metrics_path = metrics,
  };
  return lm_train_run (&setup, result, error);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_train_learns (Fixture *f, gconstpointer data)
{
  /* The text is a deterministic cycle a b c d: the bigram can drive the loss near 0. */
  const char *sets[] = { "batch=2", "context=4", "lr=0.1", "steps=300", "clip=0", NULL };
  g_autoptr (LmModel) model = make_model (f, sets);
  LmTrainResult r;
  g_autoptr (GError) error = NULL;
  double before;
  g_assert_true (lm_test_grad_carry_class.prepare (model, 2, 4, &error));
  g_assert_true (lm_train_eval_loss (model, f->corpus->stream[LM_PART_VALID]->tokens,
                                     f->corpus->stream[LM_PART_VALID]->n_tokens, 2, 4, &before,
                                     NULL, &error));
  g_assert_true (run (f, model, NULL, FALSE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.steps, ==, 300);
  g_assert_cmpint (r.tokens, >, 0);
  g_assert_true (isfinite (r.valid_loss));
  /* Line ends make some transitions ambiguous; the rest are learned. */
  g_assert_cmpfloat (r.valid_loss, <, 0.6);
  g_assert_cmpfloat (r.valid_loss, <, before);
}

static void
test_train_budgets (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  LmTrainResult r;
  /* No budget: one epoch. Stream of 39 tokens, B 2 -> rows of 19, T 4 -> 5 batches (the last of 3 steps). */
  const char *one_epoch[] = { "batch=2", "context=4", NULL };
  g_autoptr (LmModel) a = make_model (f, one_epoch);
  g_assert_true (run (f, a, NULL, FALSE, NULL, &r, &error));
  g_assert_cmpuint (f->corpus->stream[LM_PART_TRAIN]->n_tokens, ==, 39);
  g_assert_cmpint (r.steps, ==, 5);
  g_assert_cmpint (r.epochs, ==, 1);
  /* epochs counts those a step was taken in: a budget ending on an epoch's last batch
   * has not started the next */
  const char *two_epochs[] = { "batch=2", "context=4", "steps=10", NULL };
  g_autoptr (LmModel) d = make_model (f, two_epochs);
  g_assert_true (run (f, d, NULL, FALSE, NULL, &r, &error));
  g_assert_cmpint (r.epochs, ==, 2);
  const char *into_third[] = { "batch=2", "context=4", "steps=11", NULL };
  g_autoptr (LmModel) e = make_model (f, into_third);
  g_assert_true (run (f, e, NULL, FALSE, NULL, &r, &error));
  g_assert_cmpint (r.epochs, ==, 3);
  const char *tokens[] = { "batch=2", "context=4", "tokens=20", NULL };
  g_autoptr (LmModel) b = make_model (f, tokens);
  g_assert_true (run (f, b, NULL, FALSE, NULL, &r, &error));
  g_assert_cmpint (r.steps, ==, 3);
  g_assert_cmpint (r.tokens, ==, 24);
  const char *epochs[] = { "batch=2", "context=4", "epochs=3", NULL };
  g_autoptr (LmModel) c = make_model (f, epochs);
  g_assert_true (run (f, c, NULL, FALSE, NULL, &r, &error));
  g_assert_cmpint (r.steps, ==, 15);
  g_assert_cmpint (r.epochs, ==, 3);
}

static void
test_train_resume_bit_exact (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ckpt = g_build_filename (f->dir, "train.ckpt", NULL);
  g_autofree char *metrics = g_build_filename (f->dir, "metrics.tsv", NULL);
  LmTrainResult r;
  const char *full[] = { "batch=2", "context=3", "steps=40", "lr=0.05", "log_every=1",
                         "checkpoint_every=7", NULL };
  g_autoptr (LmModel) straight = make_model (f, full);
  g_assert_true (run (f, straight, NULL, FALSE, NULL, &r, &error));
  g_assert_no_error (error);

  /* The same run stopped after 17 steps (a checkpoint at 17), then resumed to 40. */
  const char *part[] = { "batch=2", "context=3", "steps=17", "lr=0.05", "log_every=1",
                         "checkpoint_every=7", NULL };
  g_autoptr (LmModel) first = make_model (f, part);
  g_assert_true (run (f, first, ckpt, FALSE, metrics, &r, &error));
  g_assert_cmpint (r.steps, ==, 17);
  g_autoptr (LmModel) second = make_model (f, full);
  g_assert_true (run (f, second, ckpt, TRUE, metrics, &r, &error));
  g_assert_no_error (error);
  g_assert_true (r.resumed);
  g_assert_cmpint (r.steps, ==, 40);

  LmParams *p = lm_test_grad_carry_class.parameters (straight);
  LmParams *q = lm_test_grad_carry_class.parameters (second);
  g_assert_cmpmem (p->data, p->n_floats * sizeof (float), q->data, q->n_floats * sizeof (float));

  /* The metrics log has each step once. */
  g_autofree char *tsv = NULL;
  g_assert_true (g_file_get_contents (metrics, &tsv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (tsv, "\n", -1);
  int step_rows = 0;
  for (int i = 1; lines[i]; i++)
    if (strstr (lines[i], "\tstep"))
      step_rows++;
  g_assert_cmpint (step_rows, ==, 40);

  /* The training loss (the mean of the last epoch's steps) survives the checkpoint: the
   * run stopped at 17 and resumed to 18 stays inside one epoch (of 7 batches here). */
  const char *eighteen[] = { "batch=2", "context=3", "steps=18", "lr=0.05", NULL };
  g_autoptr (LmModel) straight18 = make_model (f, eighteen);
  LmTrainResult r18;
  g_assert_true (run (f, straight18, NULL, FALSE, NULL, &r18, &error));
  g_autoptr (LmModel) first17 = make_model (f, part);
  g_assert_true (run (f, first17, ckpt, FALSE, NULL, &r, &error));
  g_autoptr (LmModel) resumed18 = make_model (f, eighteen);
  g_assert_true (run (f, resumed18, ckpt, TRUE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_true (isfinite (r18.train_loss));
  g_assert_cmpfloat (r.train_loss, ==, r18.train_loss);
  /* and resuming a finished run, with no step left, reports the same mean, not 0 */
  g_autoptr (LmModel) again = make_model (f, eighteen);
  g_assert_true (run (f, again, ckpt, TRUE, NULL, &r, &error));
  g_assert_cmpint (r.steps, ==, 18);
  g_assert_cmpfloat (r.train_loss, ==, r18.train_loss);

  /* And across an epoch's end: a run stopped on the boundary (its checkpoint written as
   * the epoch ends) and resumed 3 steps into the next reports that epoch's mean only, as
   * the run without a stop does; resumed with no step left it reports the ended epoch's. */
  const char *one_epoch[] = { "batch=2", "context=3", "epochs=1", NULL };
  g_autoptr (LmModel) sizer = make_model (f, one_epoch);
  g_assert_true (run (f, sizer, NULL, FALSE, NULL, &r, &error));
  const gint64 spe = r.steps;
  g_autofree char *at_end = g_strdup_printf ("steps=%" G_GINT64_FORMAT, 2 * spe);
  g_autofree char *past = g_strdup_printf ("steps=%" G_GINT64_FORMAT, 2 * spe + 3);
  const char *to_end[] = { "batch=2", "context=3", "lr=0.05", at_end, NULL };
  const char *to_past[] = { "batch=2", "context=3", "lr=0.05", past, NULL };
  LmTrainResult r_end, r_past;
  g_autoptr (LmModel) straight_end = make_model (f, to_end);
  g_assert_true (run (f, straight_end, NULL, FALSE, NULL, &r_end, &error));
  g_autoptr (LmModel) straight_past = make_model (f, to_past);
  g_assert_true (run (f, straight_past, NULL, FALSE, NULL, &r_past, &error));
  g_autoptr (LmModel) stop_at_end = make_model (f, to_end);
  g_assert_true (run (f, stop_at_end, ckpt, FALSE, NULL, &r, &error));
  g_autoptr (LmModel) resume_end = make_model (f, to_end);
  g_assert_true (run (f, resume_end, ckpt, TRUE, NULL, &r, &error));
  g_assert_cmpfloat (r.train_loss, ==, r_end.train_loss);
  g_autoptr (LmModel) resume_past = make_model (f, to_past);
  g_assert_true (run (f, resume_past, ckpt, TRUE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (r.train_loss, ==, r_past.train_loss);

  /* A version 1 state (written before the epoch's loss was kept: 16 bytes shorter) still
   * resumes, bit-exactly, with the loss mean restarted: the checkpoint at 17 rewritten
   * in that form. */
  g_autoptr (LmModel) first17b = make_model (f, part);
  g_assert_true (run (f, first17b, ckpt, FALSE, NULL, &r, &error));
  g_autofree char *v1 = g_build_filename (f->dir, "v1.ckpt", NULL);
  {
    g_autoptr (LmCheckpoint) ck = lm_checkpoint_open (ckpt, &error);
    g_assert_no_error (error);
    g_autoptr (LmCheckpointWriter) w = lm_checkpoint_writer_new (v1, &error);
    for (guint i = 0; i < lm_checkpoint_n_sections (ck); i++)
      {
        const char *name = lm_checkpoint_section_name (ck, i);
        const void *section;
        gsize len;
        g_assert_true (lm_checkpoint_get (ck, name, &section, &len, &error));
        g_autofree guint8 *copy = g_memdup2 (section, len);
        if (g_str_equal (name, "train/state"))
          {
            guint32 one = 1;
            memcpy (copy + 4, &one, sizeof one); /* after the magic */
            len -= 16;
          }
        g_assert_true (lm_checkpoint_writer_add (w, name, copy, len, &error));
      }
    g_assert_true (lm_checkpoint_writer_commit (w, &error));
    g_assert_no_error (error);
  }
  g_autoptr (LmModel) from_v1 = make_model (f, eighteen);
  g_assert_true (run (f, from_v1, v1, TRUE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_true (r.resumed);
  g_assert_cmpint (r.steps, ==, 18);
  LmParams *p18 = lm_test_grad_carry_class.parameters (straight18);
  LmParams *q18 = lm_test_grad_carry_class.parameters (from_v1);
  g_assert_cmpmem (p18->data, p18->n_floats * sizeof (float), q18->data,
                   q18->n_floats * sizeof (float));
}

static void
test_train_nonfinite_guard (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  LmTrainResult r;
  /* Two NaN steps: skipped, the rate halved twice, training goes on. */
  const char *sets[] = { "batch=2", "context=4", "steps=20", "nan_at=5", "nan_count=2", NULL };
  g_autoptr (LmModel) model = make_model (f, sets);
  g_assert_true (run (f, model, NULL, FALSE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.nonfinite_steps, ==, 2);
  g_assert_cmpint (r.steps, ==, 20);

  /* Without a checkpoint and NaN forever: a clear numeric error, not an endless loop. */
  const char *forever[] = { "batch=2", "context=4", "steps=100", "nan_at=3", "nan_count=1000",
                            NULL };
  g_autoptr (LmModel) bad = make_model (f, forever);
  g_assert_false (run (f, bad, NULL, FALSE, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_NUMERIC);
  g_assert_nonnull (strstr (error->message, "diverged"));
  g_clear_error (&error);

  /* With a checkpoint: three failures in a row roll back to it. */
  g_autofree char *ckpt = g_build_filename (f->dir, "guard.ckpt", NULL);
  const char *rollback[] = { "batch=2", "context=4", "steps=30", "checkpoint_every=5",
                             "nan_at=8", "nan_count=3", NULL };
  g_autoptr (LmModel) rb = make_model (f, rollback);
  g_assert_true (run (f, rb, ckpt, FALSE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.rollbacks, ==, 1);
  g_assert_cmpint (r.nonfinite_steps, ==, 3);
}

static void
test_train_bad_checkpoint (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  LmTrainResult r;
  g_autofree char *ckpt = g_build_filename (f->dir, "bad.ckpt", NULL);
  /* A truncated checkpoint is refused on resume and not overwritten. */
  const char *sets[] = { "batch=2", "context=4", "steps=5", NULL };
  g_autoptr (LmModel) model = make_model (f, sets);
  g_assert_true (run (f, model, ckpt, FALSE, NULL, &r, &error));
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (ckpt, &bytes, &len, NULL));
  g_assert_true (g_file_set_contents (ckpt, bytes, len / 2, NULL));
  g_autoptr (LmModel) again = make_model (f, sets);
  g_assert_false (run (f, again, ckpt, TRUE, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);
  g_clear_error (&error);
  gsize after;
  g_autofree char *still = NULL;
  g_assert_true (g_file_get_contents (ckpt, &still, &after, NULL));
  g_assert_cmpuint (after, ==, len / 2);

  /* A checkpoint of another vocabulary is a mismatch naming both sizes. */
  g_assert_true (g_file_set_contents (ckpt, bytes, len, NULL));
  g_autofree char *other_path = lm_test_write (f->dir, "other.txt", "x y z x y z\nz y x\n", -1);
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_WORD);
  spec.train_path = other_path;
  spec.valid_path = other_path;
  g_autoptr (LmCorpus) other = NULL;
  g_assert_true (lm_corpus_load (&spec, &other, &error));
  g_autoptr (LmConfig) config = lm_config_new ();
  lm_config_set (config, "batch", "2", "test");
  lm_config_set (config, "context", "4", "test");
  g_autoptr (LmModel) foreign = lm_model_new (&lm_test_grad_carry_class, config, other->vocab, &error);
  LmTrainSetup setup = { .model = foreign, .train = other->stream[LM_PART_TRAIN],
                         .checkpoint_path = ckpt, .resume = TRUE };
  g_assert_false (lm_train_run (&setup, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "vocabulary"));
}

static void
test_train_bad_config (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmConfig) config = lm_config_new ();
  lm_config_set (config, "lr", "-0.1", "--set");
  g_autoptr (LmModel) model = lm_model_new (&lm_test_grad_carry_class, config, f->corpus->vocab,
                                            &error);
  g_assert_null (model);
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "lr"));
  g_clear_error (&error);

  const char *cosine[] = { "schedule=cosine", "seconds=1", NULL };
  g_autoptr (LmModel) m = make_model (f, cosine);
  LmTrainResult r;
  g_assert_false (run (f, m, NULL, FALSE, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "decay_steps"));
}

/* Both models (of the carrying test class) hold the same parameter bits. */
static void
assert_same_params (LmModel *a, LmModel *b)
{
  LmParams *p = lm_test_grad_carry_class.parameters (a);
  LmParams *q = lm_test_grad_carry_class.parameters (b);
  g_assert_cmpmem (p->data, p->n_floats * sizeof (float), q->data, q->n_floats * sizeof (float));
}

/* keep_best and early_stop: a validation text where "a" is followed by "b" as often as by
 * "c", while training teaches b only, so the validation loss falls, then rises as
 * P(c | a) goes to 0. The run must end with the parameters of its best validation: the
 * same bits as a run stopped at that step, scoring best_valid_loss; a resume across the
 * best keeps it; early_stop stops the run three validations later (and a budget ending
 * there is not an early stop); a state written without keep_best cannot give it. */
static void
test_train_keep_best (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *train = lm_test_write (f->dir, "kb-train.txt", corpus_text, -1);
  g_autofree char *valid = lm_test_write (f->dir, "kb-valid.txt",
                                          "a b c d a c d a b c d a c d\na c d a b c d a c\n", -1);
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, LM_LEVEL_WORD);
  spec.train_path = train;
  spec.valid_path = valid;
  LmCorpus *corpus;
  g_assert_true (lm_corpus_load (&spec, &corpus, &error));
  LmCorpus *saved = f->corpus;
  f->corpus = corpus;

  g_autofree char *ckpt = g_build_filename (f->dir, "kb.ckpt", NULL);
  const char *kept[] = { "batch=2", "context=4", "lr=0.5", "clip=0", "steps=60",
                         "eval_every=1", "keep_best=true", NULL };
  g_autoptr (LmModel) a = make_model (f, kept);
  LmTrainResult r;
  g_assert_true (run (f, a, ckpt, FALSE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.steps, ==, 60);
  g_assert_cmpint (r.best_step, >, 1); /* an interior best: it fell, then rose */
  g_assert_cmpint (r.best_step, <, 40);
  const gint64 best = r.best_step;
  g_assert_cmpfloat (r.valid_loss, ==, r.best_valid_loss);
  const LmTokenStream *v = corpus->stream[LM_PART_VALID];
  double loss;
  g_assert_true (lm_train_eval_loss (a, v->tokens, v->n_tokens, 2, 4, &loss, NULL, &error));
  g_assert_cmpfloat (loss, ==, r.best_valid_loss);

  /* the same bits as a run that stopped at the best step */
  g_autofree char *at_best = g_strdup_printf ("steps=%" G_GINT64_FORMAT, best);
  const char *stopped[] = { "batch=2", "context=4", "lr=0.5", "clip=0", at_best, NULL };
  g_autoptr (LmModel) b = make_model (f, stopped);
  LmTrainResult rb;
  g_assert_true (run (f, b, NULL, FALSE, NULL, &rb, &error));
  g_assert_cmpint (rb.best_step, ==, -1); /* not asked for */
  assert_same_params (a, b);
  /* while the checkpoint keeps the last step's parameters, so --resume goes on from there */
  g_autoptr (LmModel) c = make_model (f, kept);
  g_assert_true (run (f, c, ckpt, TRUE, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_true (r.resumed);
  assert_same_params (a, c);

  /* stopped after the best and resumed: the best survives the checkpoint */
  g_autofree char *after = g_strdup_printf ("steps=%" G_GINT64_FORMAT, best + 5);
  const char *first_part[] = { "batch=2", "context=4", "lr=0.5", "clip=0", after,
                               "eval_every=1", "keep_best=true", NULL };
  g_autoptr (LmModel) d1 = make_model (f, first_part);
  g_assert_true (run (f, d1, ckpt, FALSE, NULL, &r, &error));
  g_autoptr (LmModel) d2 = make_model (f, kept);
  LmTrainResult rd;
  g_assert_true (run (f, d2, ckpt, TRUE, NULL, &rd, &error));
  g_assert_no_error (error);
  g_assert_cmpint (rd.steps, ==, 60);
  g_assert_cmpint (rd.best_step, ==, best);
  assert_same_params (a, d2);

  /* early_stop=3 stops three validations after the best, and keeps the best */
  const char *early[] = { "batch=2", "context=4", "lr=0.5", "clip=0", "steps=60",
                          "eval_every=1", "early_stop=3", "keep_best=true", NULL };
  g_autoptr (LmModel) s1 = make_model (f, early);
  LmTrainResult rs;
  g_assert_true (run (f, s1, NULL, FALSE, NULL, &rs, &error));
  g_assert_true (rs.stopped_early);
  g_assert_cmpint (rs.steps, ==, best + 3);
  g_assert_cmpint (rs.best_step, ==, best);
  assert_same_params (a, s1);
  /* but a budget that ends on that same validation is not an early stop */
  g_autofree char *three_after = g_strdup_printf ("steps=%" G_GINT64_FORMAT, best + 3);
  const char *budget[] = { "batch=2", "context=4", "lr=0.5", "clip=0", three_after,
                           "eval_every=1", "early_stop=3", NULL };
  g_autoptr (LmModel) s2 = make_model (f, budget);
  g_assert_true (run (f, s2, NULL, FALSE, NULL, &rs, &error));
  g_assert_false (rs.stopped_early);
  g_assert_cmpint (rs.steps, ==, best + 3);

  /* a state written without keep_best has no best parameters to resume with */
  const char *plain[] = { "batch=2", "context=4", "lr=0.5", "clip=0", "steps=10",
                          "eval_every=1", NULL };
  g_autoptr (LmModel) e1 = make_model (f, plain);
  g_assert_true (run (f, e1, ckpt, FALSE, NULL, &r, &error));
  g_autoptr (LmModel) e2 = make_model (f, kept);
  g_assert_false (run (f, e2, ckpt, TRUE, NULL, &r, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "without keep_best"));

  f->corpus = saved;
  lm_corpus_free (corpus);
}

/* lm_train_check refuses what lm_train_run would refuse before training, for both
 * batching kinds, and accepts what it would train. */
static void
test_train_check (Fixture *f, gconstpointer data)
{
  struct {
    const LmModelClass *klass;
    const char *sets[4];
    int code; /* LmErrorCode */
    const char *words;
    gboolean no_valid; /* train without a validation text */
  } cases[] = {
    { &lm_test_grad_carry_class, { "batch=2", "context=4", "eval_batch=1000" },
      LM_ERROR_INVALID_INPUT, "eval_batch=1000" },
    { &lm_test_grad_class, { "batch=2", "context=4", "eval_tokens=3" }, LM_ERROR_INVALID_INPUT,
      "one window of context=4" },
    { &lm_test_grad_class, { "batch=2", "context=1000" }, LM_ERROR_INVALID_INPUT, "too few" },
    { &lm_test_grad_carry_class, { "schedule=cosine", "seconds=1" }, LM_ERROR_INVALID_CONFIG,
      "decay_steps" },
    { &lm_test_grad_carry_class, { "batch=2", "context=4", "steps=3" }, 0, NULL },
    { &lm_test_grad_class, { "batch=2", "context=4", "steps=3" }, 0, NULL },
    /* what acts on validation losses needs a validation text */
    { &lm_test_grad_class, { "batch=2", "context=4", "early_stop=2" }, LM_ERROR_INVALID_CONFIG,
      "early_stop acts on validation losses", TRUE },
    { &lm_test_grad_carry_class, { "batch=2", "context=4", "schedule=plateau" },
      LM_ERROR_INVALID_CONFIG, "schedule=plateau acts on validation losses", TRUE },
    { &lm_test_grad_carry_class, { "batch=2", "context=4", "keep_best=yes" },
      LM_ERROR_INVALID_CONFIG, "keep_best acts on validation losses", TRUE },
    { &lm_test_grad_class, { "batch=2", "context=4", "steps=3" }, 0, NULL, TRUE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (LmConfig) config = lm_config_new ();
      for (int k = 0; cases[i].sets[k]; k++)
        g_assert_true (lm_config_set_assignment (config, cases[i].sets[k], "test", NULL));
      g_autoptr (LmModel) model = lm_model_new (cases[i].klass, config, f->corpus->vocab,
                                                &error);
      g_assert_no_error (error);
      LmTrainSetup setup = { .model = model, .train = f->corpus->stream[LM_PART_TRAIN],
                             .valid = cases[i].no_valid ? NULL
                                                        : f->corpus->stream[LM_PART_VALID] };
      gboolean ok = lm_train_check (&setup, &error);
      if (cases[i].words == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          LmTrainResult r;
          g_assert_true (lm_train_run (&setup, &r, &error));
          g_assert_cmpint (r.steps, ==, 3);
          continue;
        }
      g_assert_false (ok);
      g_assert_error (error, LM_ERROR, cases[i].code);
      if (strstr (error->message, cases[i].words) == NULL)
        g_error ("case %zu: expected '%s' in: %s", i, cases[i].words, error->message);
      /* and lm_train_run says the same */
      g_autoptr (GError) run_error = NULL;
      LmTrainResult r;
      g_assert_false (lm_train_run (&setup, &r, &run_error));
      g_assert_cmpstr (run_error->message, ==, error->message);
    }
}

/* The shared test model (lm-test-model.h): both variants are complete classes, and only
 * the carrying one makes the trainer use contiguous streams. */
static void
test_train_test_models (void)
{
  const LmModelClass *classes[] = { &lm_test_grad_class, &lm_test_grad_carry_class };
  for (gsize i = 0; i < G_N_ELEMENTS (classes); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (lm_model_class_validate (classes[i], &error));
      g_assert_no_error (error);
    }
  g_assert_null (lm_test_grad_class.carried_state);
  g_assert_nonnull (lm_test_grad_carry_class.carried_state);
  g_assert_cmpstr (lm_test_grad_class.name, !=, lm_test_grad_carry_class.name);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/train/learns", test_train_learns);
  ADD ("/train/budgets", test_train_budgets);
  ADD ("/train/resume-bit-exact", test_train_resume_bit_exact);
  ADD ("/train/nonfinite-guard", test_train_nonfinite_guard);
  ADD ("/train/bad-checkpoint", test_train_bad_checkpoint);
  ADD ("/train/bad-config", test_train_bad_config);
  ADD ("/train/check", test_train_check);
  ADD ("/train/keep-best", test_train_keep_best);
  g_test_add_func ("/train/test-models", test_train_test_models);
  return g_test_run ();
}
