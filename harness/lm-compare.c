/* lm-compare.c — running an experiment's runs in child processes, reusing and resuming. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "core/lm-blas.h"
#include "core/lm-error.h"
#include "core/lm-eval.h"
#include "core/lm-sample.h"
#include "harness/lm-compare.h"
#include "harness/lm-interpolate.h"
#include "harness/lm-json.h"
#include "harness/lm-textmetrics.h"

/* Exit statuses of a run's child process. */
enum {
  CHILD_OK = 0,
  CHILD_FAILED = 1,   /* error.txt says why */
  CHILD_CANCELLED = 3 /* Ctrl-C: the trainer checkpointed, run again to resume */
};

/* ---- the corpus stamp ----------------------------------------------------------------- */

static void
stamp_clear (LmCorpusStamp *s)
{
  g_free (s->vocab_fingerprint);
  g_free (s->digest);
  for (int p = 0; p < LM_N_PARTS; p++)
    g_free (s->paths[p]);
  memset (s, 0, sizeof *s);
}

static void
stamp_make (LmCorpusStamp *s, const LmCorpus *corpus)
{
  memset (s, 0, sizeof *s);
  s->level = corpus->level;
  s->vocab_size = lm_vocab_size (corpus->vocab);
  s->vocab_fingerprint = g_strdup_printf ("%016" G_GINT64_MODIFIER "x",
                                          lm_vocab_fingerprint (corpus->vocab));
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) s->vocab_fingerprint, -1);
  for (int p = 0; p < LM_N_PARTS; p++)
    {
      const LmTokenStream *st = corpus->stream[p];
      guint64 header[2] = { p, st ? st->n_tokens : 0 };
      g_checksum_update (sum, (const guchar *) header, sizeof header);
      if (st == NULL)
        continue;
      g_checksum_update (sum, (const guchar *) st->tokens, st->n_tokens * sizeof (gint32));
      s->tokens[p] = st->n_tokens;
      s->oov[p] = st->n_oov;
      s->chars[p] = st->n_chars;
      s->paths[p] = g_strdup (corpus->text[p] ? corpus->text[p]->name : "");
    }
  s->digest = g_strdup (g_checksum_get_string (sum));
}

static char *
stamp_to_json (const LmCorpusStamp *s)
{
  LmJson j;
  lm_json_init (&j, TRUE);
  lm_json_begin_object (&j, NULL);
  lm_json_string (&j, "level", lm_level_name (s->level));
  lm_json_int (&j, "vocab_size", s->vocab_size);
  lm_json_string (&j, "vocab_fingerprint", s->vocab_fingerprint);
  lm_json_string (&j, "digest", s->digest);
  for (int p = 0; p < LM_N_PARTS; p++)
    {
      char key[64];
      const char *part = lm_part_name (p);
      g_snprintf (key, sizeof key, "%s_source", part);
      if (s->paths[p])
        lm_json_string (&j, key, s->paths[p]);
      else
        lm_json_null (&j, key);
      g_snprintf (key, sizeof key, "%s_tokens", part);
      lm_json_int (&j, key, s->tokens[p]);
      g_snprintf (key, sizeof key, "%s_oov", part);
      lm_json_int (&j, key, s->oov[p]);
      g_snprintf (key, sizeof key, "%s_characters", part);
      lm_json_int (&j, key, s->chars[p]);
    }
  lm_json_end_object (&j);
  return lm_json_finish (&j);
}

static gboolean
write_file (const char *path, const char *text, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, text, -1, &local))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

/* Refuse a run directory made for another split or vocabulary; stamp a new one. */
static gboolean
check_or_write_stamp (const char *run_dir, const LmCorpusStamp *stamp, GError **error)
{
  g_autofree char *path = g_build_filename (run_dir, "corpus.json", NULL);
  g_autofree char *old = NULL;
  if (g_file_get_contents (path, &old, NULL, NULL))
    {
      g_autoptr (GHashTable) t = lm_flat_json_parse (old, path, error);
      if (t == NULL)
        return FALSE;
      const char *fp = g_hash_table_lookup (t, "vocab_fingerprint");
      const char *digest = g_hash_table_lookup (t, "digest");
      if (g_strcmp0 (fp, stamp->vocab_fingerprint) != 0)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                       "%s holds results for another vocabulary (fingerprint %s, now %s): "
                       "results of different vocabularies are never mixed; write to a new "
                       "directory with -o, or delete this one",
                       run_dir, fp ? fp : "?", stamp->vocab_fingerprint);
          return FALSE;
        }
      if (g_strcmp0 (digest, stamp->digest) != 0)
        {
          g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                       "%s holds results for another corpus or split (same vocabulary, "
                       "different token streams): write to a new directory with -o, or "
                       "delete this one",
                       run_dir);
          return FALSE;
        }
      return TRUE;
    }
  g_autofree char *json = stamp_to_json (stamp);
  return write_file (path, json, error);
}

/* ---- per-run files ---------------------------------------------------------------------- */

static char *
run_path (const char *run_dir, const LmExperimentRun *run, const char *file)
{
  return g_build_filename (run_dir, "runs", run->name, file, NULL);
}

static char *
run_config_text (const LmExperimentRun *run)
{
  g_autofree char *config = lm_config_to_text (run->config);
  return g_strdup_printf ("model=%s\n%s", run->klass->name, config);
}

/* The first line where two configuration texts differ, for the message. */
static char *
first_difference (const char *a, const char *b)
{
  g_auto (GStrv) la = g_strsplit (a, "\n", -1);
  g_auto (GStrv) lb = g_strsplit (b, "\n", -1);
  for (int i = 0; la[i] || lb[i]; i++)
    if (la[i] == NULL || lb[i] == NULL || !g_str_equal (la[i], lb[i]))
      return g_strdup_printf ("'%s' then, '%s' now", la[i] ? la[i] : "", lb[i] ? lb[i] : "");
  return g_strdup ("?");
}

static gboolean
check_run_config (const char *run_dir, const LmExperimentRun *run, GError **error)
{
  g_autofree char *path = run_path (run_dir, run, "config.txt");
  g_autofree char *now = run_config_text (run);
  g_autofree char *then = NULL;
  if (!g_file_get_contents (path, &then, NULL, NULL))
    return write_file (path, now, error);
  if (!g_str_equal (then, now))
    {
      g_autofree char *diff = first_difference (then, now);
      g_autofree char *dir = g_path_get_dirname (path);
      g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                   "%s: run '%s' was started with another configuration (%s); delete %s to "
                   "run it again with the new one, or write to a new directory with -o",
                   run->origin, run->name, diff, dir);
      return FALSE;
    }
  return TRUE;
}

/* ---- sentences for generation ------------------------------------------------------------ */

GArray *
lm_compare_select_sentences (const LmVocab *vocab, const LmTokenStream *stream,
                             guint prompt_tokens, guint max_sentences)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (LmSentenceSpan));
  if (stream == NULL || max_sentences == 0)
    return out;
  gint32 boundary = lm_vocab_level (vocab) == LM_LEVEL_WORD ? LM_TOKEN_EOS
                                                             : lm_vocab_lookup (vocab, "\n", 1);
  if (boundary < 0)
    return out;
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (LmSentenceSpan));
  gsize start = 0;
  for (gsize i = 0; i < stream->n_tokens; i++)
    if (stream->tokens[i] == boundary)
      {
        LmSentenceSpan span = { start, i - start };
        if (span.length > prompt_tokens)
          {
            span.length = MIN (span.length, prompt_tokens + LM_COMPARE_MAX_CONTINUATION);
            g_array_append_val (all, span);
          }
        start = i + 1;
      }
  guint n = all->len;
  guint take = MIN (n, max_sentences);
  for (guint j = 0; j < take; j++)
    {
      /* Evenly spaced over the test part, so the prompts are not all from its start. */
      guint index = (guint) ((guint64) j * n / take);
      g_array_append_val (out, g_array_index (all, LmSentenceSpan, index));
    }
  return out;
}

/* ---- the child: one run ----------------------------------------------------------------- */

typedef struct {
  const LmExperiment *experiment;
  const LmExperimentRun *run;
  const LmCorpus *corpus;
  const LmCorpusStamp *stamp;
  const char *run_dir;
  const LmCompareHooks *hooks;
  guint index, n_runs;
  const LmComparison *comparison;
  const gint *cancel;
} RunJob;

static void
phase (const RunJob *job, const char *name)
{
  if (job->hooks && job->hooks->event)
    {
      LmCompareEvent ev = { LM_COMPARE_EVENT_PHASE, job->comparison, job->index, job->n_runs,
                            job->run, NULL, name, FALSE };
      job->hooks->event (&ev, job->hooks->user_data);
    }
}

static gboolean
score_part (const RunJob *job, LmModel *model, LmPart part, LmEvalResult *result,
            double *seconds, GError **error)
{
  const LmTokenStream *st = job->corpus->stream[part];
  gsize n = st->n_tokens;
  g_autofree double *logprob = g_new (double, MAX (n, 1));
  g_autofree gint32 *predicted = g_new (gint32, MAX (n, 1));
  g_autofree guint8 *rank = g_new (guint8, MAX (n, 1));
  LmScoreOutput out = { logprob, predicted, rank };
  phase (job, lm_part_name (part));
  gint64 t0 = g_get_monotonic_time ();
  if (!lm_model_score (model, st->tokens, n, &out,
                       job->hooks ? job->hooks->units_progress : NULL,
                       job->hooks ? job->hooks->user_data : NULL, error))
    return FALSE;
  *seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_autoptr (LmEvalAccumulator) acc = lm_eval_accumulator_new (lm_model_vocab_size (model));
  if (!lm_eval_accumulator_add (acc, st->tokens, &out, n, error)
      || !lm_eval_accumulator_finish (acc, st->n_oov, st->n_chars, result, error))
    {
      g_prefix_error (error, "%s: ", lm_part_name (part));
      return FALSE;
    }
  g_autofree char *name = g_strdup_printf ("%s.lnp", lm_part_name (part));
  g_autofree char *path = run_path (job->run_dir, job->run, name);
  return lm_logprobs_save (path, logprob, n, error);
}

static void
tsv_field (GString *out, const char *text)
{
  for (const char *p = text; *p; p++)
    g_string_append_c (out, *p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p);
}

/* Continue held-out test sentences; score the continuations with BLEU-4 and ROUGE. */
static gboolean
generate (const RunJob *job, LmModel *model, LmRunResult *r, GError **error)
{
  const LmExperiment *e = job->experiment;
  guint prompt_tokens = (guint) lm_experiment_int (e, "prompt_tokens");
  guint max_sentences = (guint) lm_experiment_int (e, "gen_sentences");
  const LmTokenStream *test = job->corpus->stream[LM_PART_TEST];
  if (!lm_model_has (model, LM_CAP_STREAM) || test == NULL || max_sentences == 0)
    return TRUE;
  g_autoptr (GArray) spans = lm_compare_select_sentences (model->vocab, test, prompt_tokens,
                                                          max_sentences);
  if (spans->len == 0)
    return TRUE;
  phase (job, "generate");
  g_autoptr (LmSampler) sampler = lm_sampler_new (lm_experiment_double (e, "temperature"), 0, 1.0,
                                                  (guint64) lm_experiment_int (e, "seed"), error);
  if (sampler == NULL)
    return FALSE;
  gint32 boundary = lm_vocab_level (model->vocab) == LM_LEVEL_WORD
                        ? LM_TOKEN_EOS
                        : lm_vocab_lookup (model->vocab, "\n", 1);
  gsize total = 0;
  for (guint s = 0; s < spans->len; s++)
    total += g_array_index (spans, LmSentenceSpan, s).length - prompt_tokens;
  g_autofree gint32 *hyp_tokens = g_new (gint32, MAX (total, 1));
  g_autofree gsize *hyp_len = g_new (gsize, spans->len);
  g_autoptr (GString) tsv = g_string_new ("index\tprompt\treference\tcontinuation\n");
  gint64 t0 = g_get_monotonic_time ();
  gsize offset = 0;
  for (guint s = 0; s < spans->len; s++)
    {
      LmSentenceSpan span = g_array_index (spans, LmSentenceSpan, s);
      const gint32 *prompt = test->tokens + span.start;
      gsize ref_len = span.length - prompt_tokens;
      gint32 *hyp = hyp_tokens + offset;
      if (!lm_generate (model, sampler, prompt, prompt_tokens, ref_len, hyp, error))
        return FALSE;
      /* A continuation ends where the model ends the sentence. */
      gsize len = 0;
      while (len < ref_len && hyp[len] != boundary)
        len++;
      hyp_len[s] = len;
      offset += ref_len;
      r->gen_tokens += ref_len;
      if (job->hooks && job->hooks->units_progress)
        job->hooks->units_progress (s + 1, spans->len, job->hooks->user_data);

      g_autoptr (GString) p = g_string_new (NULL), ref = g_string_new (NULL),
                          h = g_string_new (NULL);
      lm_vocab_decode (model->vocab, prompt, prompt_tokens, p);
      lm_vocab_decode (model->vocab, prompt + prompt_tokens, ref_len, ref);
      lm_vocab_decode (model->vocab, hyp, len, h);
      g_string_append_printf (tsv, "%u\t", s);
      tsv_field (tsv, p->str);
      g_string_append_c (tsv, '\t');
      tsv_field (tsv, ref->str);
      g_string_append_c (tsv, '\t');
      tsv_field (tsv, h->str);
      g_string_append_c (tsv, '\n');
    }
  r->gen_seconds = (g_get_monotonic_time () - t0) / 1e6;
  r->gen_sentences = spans->len;
  g_autofree char *path = run_path (job->run_dir, job->run, "samples.tsv");
  if (!write_file (path, tsv->str, error))
    return FALSE;
  g_autofree LmTokenSeq *hyps = g_new (LmTokenSeq, spans->len);
  g_autofree LmTokenSeq *refs = g_new (LmTokenSeq, spans->len);
  offset = 0;
  for (guint s = 0; s < spans->len; s++)
    {
      LmSentenceSpan span = g_array_index (spans, LmSentenceSpan, s);
      refs[s].tokens = test->tokens + span.start + prompt_tokens;
      refs[s].n_tokens = span.length - prompt_tokens;
      hyps[s].tokens = hyp_tokens + offset;
      hyps[s].n_tokens = hyp_len[s];
      offset += refs[s].n_tokens;
    }
  LmBleuOptions options;
  lm_bleu_options_init (&options);
  LmBleuScore bleu;
  LmRougeScore rouge;
  if (!lm_corpus_bleu (hyps, spans->len, refs, 1, &options, &bleu, error)
      || !lm_corpus_rouge (hyps, spans->len, refs, 1, &rouge, error))
    return FALSE;
  r->bleu = bleu.bleu;
  r->bleu_brevity_penalty = bleu.brevity_penalty;
  r->rouge1_f1 = rouge.rouge1.f1;
  r->rouge2_f1 = rouge.rouge2.f1;
  r->rougeL_f1 = rouge.rougeL.f1;
  return TRUE;
}

static gboolean
cancelled (const RunJob *job)
{
  return job->cancel && g_atomic_int_get (job->cancel);
}

/* Train, save, score, generate, and write result.json last into r. *was_cancelled is set
 * when the trainer stopped on the cancel flag (its checkpoint is saved). */
static gboolean
run_body (const RunJob *job, LmModel *model, LmRunResult *r, gboolean *was_cancelled,
          GError **error)
{
  const LmExperimentRun *run = job->run;
  const LmCorpus *corpus = job->corpus;
  const LmTokenStream *train = corpus->stream[LM_PART_TRAIN];
  g_autofree char *ckpt = run_path (job->run_dir, run, "train.ckpt");
  if (lm_model_has (model, LM_CAP_FIT))
    {
      phase (job, "fit");
      gint64 t0 = g_get_monotonic_time ();
      if (!lm_model_fit (model, train->tokens, train->n_tokens,
                         job->hooks ? job->hooks->units_progress : NULL,
                         job->hooks ? job->hooks->user_data : NULL, error))
        return FALSE;
      r->train_seconds = (g_get_monotonic_time () - t0) / 1e6;
      r->steps = 0;
      r->epochs = 1;
      r->train_tokens = train->n_tokens;
      r->train_tokens_per_s = r->train_seconds > 0 ? train->n_tokens / r->train_seconds : NAN;
    }
  else
    {
      phase (job, "train");
      g_autofree char *metrics = run_path (job->run_dir, run, "metrics.tsv");
      LmTrainSetup setup = {
        .model = model,
        .train = train,
        .valid = corpus->stream[LM_PART_VALID],
        .checkpoint_path = ckpt,
        .resume = TRUE,
        .metrics_path = metrics,
        .progress = job->hooks ? job->hooks->train_progress : NULL,
        .user_data = job->hooks ? job->hooks->user_data : NULL,
        .cancel = job->cancel,
      };
      LmTrainResult tr = { 0 };
      if (!lm_train_run (&setup, &tr, error))
        return FALSE;
      if (tr.cancelled)
        return !(*was_cancelled = TRUE);
      r->steps = tr.steps;
      r->epochs = tr.epochs;
      r->train_tokens = tr.tokens;
      r->train_seconds = tr.seconds;
      r->train_tokens_per_s = tr.tokens_per_s;
      r->train_loss = tr.train_loss;
      r->resumed = tr.resumed;
      r->stopped_early = tr.stopped_early;
      r->nonfinite_steps = tr.nonfinite_steps;
    }
  if (cancelled (job))
    return !(*was_cancelled = TRUE);

  LmModelInfo info;
  lm_model_describe (model, &info);
  r->summary = g_strdup (info.summary ? info.summary : "");
  r->params = info.n_params;
  r->model_bytes = info.bytes;
  r->forward_flops = info.forward_flops;
  lm_model_info_clear (&info);
  if (lm_model_has (model, LM_CAP_SAVE))
    {
      g_autofree char *path = run_path (job->run_dir, run, "model.ckpt");
      GStatBuf st;
      if (!lm_model_save (model, path, error))
        return FALSE;
      if (g_stat (path, &st) == 0)
        r->model_file_bytes = st.st_size;
    }

  double seconds = 0;
  if (corpus->stream[LM_PART_VALID])
    {
      if (!score_part (job, model, LM_PART_VALID, &r->valid, &seconds, error))
        return FALSE;
      r->has_valid = TRUE;
    }
  if (cancelled (job))
    return !(*was_cancelled = TRUE);
  if (corpus->stream[LM_PART_TEST])
    {
      if (!score_part (job, model, LM_PART_TEST, &r->test, &seconds, error))
        return FALSE;
      r->has_test = TRUE;
      r->eval_seconds = seconds;
      r->eval_tokens_per_s = seconds > 0 ? r->test.tokens / seconds : NAN;
      if (cancelled (job))
        return !(*was_cancelled = TRUE);
      if (!generate (job, model, r, error))
        return FALSE;
    }

  LmBlasInfo blas;
  lm_blas_info_get (&blas);
  r->blas_kernel = g_strdup (blas.kernel);
  r->threads = blas.blas_threads;
  lm_blas_info_clear (&blas);
  struct rusage usage;
  if (getrusage (RUSAGE_SELF, &usage) == 0)
    r->peak_rss_mib = usage.ru_maxrss / 1024.0; /* Linux: KiB */

  g_autofree char *result_path = run_path (job->run_dir, run, "result.json");
  if (!lm_run_result_save (r, result_path, error))
    return FALSE;
  /* Finished: the optimizer state is no longer needed (model.ckpt holds the model). */
  g_unlink (ckpt);
  return TRUE;
}

static gboolean
run_job (const RunJob *job, gboolean *was_cancelled, GError **error)
{
  *was_cancelled = FALSE;
  g_autoptr (LmConfig) config = lm_config_copy (job->run->config);
  g_autoptr (LmModel) model = lm_model_new (job->run->klass, config, job->corpus->vocab, error);
  if (model == NULL)
    return FALSE;
  lm_blas_set_threads ((int) lm_config_get_int (model->config, "threads"));
  LmRunResult r;
  lm_run_result_init (&r);
  r.name = g_strdup (job->run->name);
  r.model = g_strdup (job->run->klass->name);
  r.vocab_fingerprint = g_strdup (job->stamp->vocab_fingerprint);
  r.corpus_digest = g_strdup (job->stamp->digest);
  gboolean ok = run_body (job, model, &r, was_cancelled, error);
  lm_run_result_clear (&r);
  return ok;
}

/* ---- the parent ------------------------------------------------------------------------ */

static gint child_cancel = 0;

static void
on_child_signal (int signum)
{
  if (g_atomic_int_get (&child_cancel))
    {
      signal (signum, SIG_DFL); /* a second Ctrl-C stops at once */
      raise (signum);
    }
  g_atomic_int_set (&child_cancel, 1);
}

/* Runs in the child; never returns. */
G_GNUC_NORETURN static void
child_main (RunJob *job)
{
  struct sigaction sa = { 0 };
  sa.sa_handler = on_child_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  job->cancel = &child_cancel;
  GError *error = NULL;
  gboolean was_cancelled = FALSE;
  gboolean ok = run_job (job, &was_cancelled, &error);
  int status = CHILD_OK;
  if (!ok && was_cancelled)
    status = CHILD_CANCELLED;
  else if (!ok)
    {
      g_autofree char *path = run_path (job->run_dir, job->run, "error.txt");
      g_autofree char *text = g_strdup_printf ("%s\n", error ? error->message : "failed");
      g_file_set_contents (path, text, -1, NULL);
      status = CHILD_FAILED;
    }
  g_clear_error (&error);
  fflush (stdout);
  fflush (stderr);
  _exit (status);
}

static void
emit (const LmCompareHooks *hooks, const LmCompareEvent *ev)
{
  if (hooks && hooks->event)
    hooks->event (ev, hooks->user_data);
}

static void
compare_run_free (LmCompareRun *cr)
{
  g_free (cr->error);
  lm_run_result_clear (&cr->result);
  g_free (cr);
}

const LmRunResult *
lm_compare_run_result (const LmCompareRun *cr)
{
  return cr->status == LM_RUN_FINISHED || cr->status == LM_RUN_REUSED ? &cr->result : NULL;
}

static void
interpolation_free (LmInterpolation *in)
{
  if (in == NULL)
    return;
  g_strfreev (in->names);
  g_free (in->weights);
  g_free (in->error);
  g_free (in);
}

void
lm_comparison_free (LmComparison *c)
{
  if (c == NULL)
    return;
  g_free (c->run_dir);
  stamp_clear (&c->corpus);
  if (c->runs)
    g_ptr_array_unref (c->runs);
  interpolation_free (c->interpolation);
  g_free (c);
}

/* A reused result must be of this corpus and vocabulary, or it is refused. */
static gboolean
load_reused (const char *path, const LmCorpusStamp *stamp, const LmExperimentRun *run,
             LmRunResult *r, GError **error)
{
  if (!lm_run_result_load (r, path, error))
    return FALSE;
  if (g_strcmp0 (r->vocab_fingerprint, stamp->vocab_fingerprint) != 0
      || g_strcmp0 (r->corpus_digest, stamp->digest) != 0)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_MISMATCH,
                   "%s was made with another vocabulary or corpus (fingerprint %s, now %s); "
                   "run '%s' cannot be compared with these results",
                   path, r->vocab_fingerprint ? r->vocab_fingerprint : "?",
                   stamp->vocab_fingerprint, run->name);
      lm_run_result_clear (r);
      return FALSE;
    }
  return TRUE;
}

/* Run one child and wait for it; fill cr. FALSE only for a cancelled run. */
static gboolean
run_child (RunJob *job, LmCompareRun *cr)
{
  fflush (stdout);
  fflush (stderr);
  gint64 t0 = g_get_monotonic_time ();
  pid_t pid = fork ();
  if (pid < 0)
    {
      cr->status = LM_RUN_FAILED;
      cr->error = g_strdup_printf ("cannot start a process: %s", g_strerror (errno));
      return TRUE;
    }
  if (pid == 0)
    child_main (job);
  int status = 0;
  struct rusage usage;
  while (wait4 (pid, &status, 0, &usage) < 0)
    if (errno != EINTR)
      {
        cr->status = LM_RUN_FAILED;
        cr->error = g_strdup_printf ("lost the run's process: %s", g_strerror (errno));
        return TRUE;
      }
  cr->wall_seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (WIFEXITED (status) && WEXITSTATUS (status) == CHILD_CANCELLED)
    return FALSE;
  if (WIFSIGNALED (status))
    {
      int sig = WTERMSIG (status);
      if (sig == SIGINT || sig == SIGTERM)
        return FALSE;
      cr->status = LM_RUN_FAILED;
      cr->error = g_strdup_printf ("the run's process crashed (signal %d, %s)%s", sig,
                                   g_strsignal (sig),
                                   sig == SIGKILL ? "; out of memory?" : "");
      return TRUE;
    }
  if (WEXITSTATUS (status) != CHILD_OK)
    {
      g_autofree char *path = run_path (job->run_dir, job->run, "error.txt");
      g_autofree char *text = NULL;
      cr->status = LM_RUN_FAILED;
      if (g_file_get_contents (path, &text, NULL, NULL))
        cr->error = g_strdup (g_strstrip (text));
      else
        cr->error = g_strdup_printf ("the run's process exited with status %d",
                                     WEXITSTATUS (status));
      return TRUE;
    }
  g_autofree char *result_path = run_path (job->run_dir, job->run, "result.json");
  g_autoptr (GError) error = NULL;
  if (!lm_run_result_load (&cr->result, result_path, &error))
    {
      cr->status = LM_RUN_FAILED;
      cr->error = g_strdup (error->message);
      return TRUE;
    }
  cr->status = LM_RUN_FINISHED;
  /* The child's peak RSS as the kernel saw it over the whole process, which can pass
   * what the child measured when it wrote result.json: kept there too, so that the
   * summary and a later rerun that reuses the run read the same number. */
  if (usage.ru_maxrss / 1024.0 > cr->result.peak_rss_mib)
    {
      cr->result.peak_rss_mib = usage.ru_maxrss / 1024.0;
      if (!lm_run_result_save (&cr->result, result_path, &error))
        {
          cr->status = LM_RUN_FAILED;
          cr->error = g_strdup (error->message);
        }
    }
  return TRUE;
}

static gboolean
run_in_process (RunJob *job, LmCompareRun *cr)
{
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (GError) error = NULL;
  gboolean was_cancelled = FALSE;
  gboolean ok = run_job (job, &was_cancelled, &error);
  cr->wall_seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (!ok && was_cancelled)
    return FALSE;
  if (!ok)
    {
      cr->status = LM_RUN_FAILED;
      cr->error = g_strdup (error ? error->message : "failed");
      return TRUE;
    }
  g_autofree char *result_path = run_path (job->run_dir, job->run, "result.json");
  if (!lm_run_result_load (&cr->result, result_path, &error))
    {
      cr->status = LM_RUN_FAILED;
      cr->error = g_strdup (error->message);
      return TRUE;
    }
  cr->status = LM_RUN_FINISHED;
  return TRUE;
}

/* ---- interpolation ---------------------------------------------------------------------- */

static LmInterpolation *
interpolate (const LmComparison *c, char **names)
{
  LmInterpolation *in = g_new0 (LmInterpolation, 1);
  in->names = g_strdupv (names);
  in->n = g_strv_length (names);
  in->weights = g_new0 (double, in->n);
  in->valid_nats_per_token = in->test_nats_per_token = in->test_perplexity = NAN;
  in->test_bits_per_token = in->test_bits_per_char = NAN;
  GPtrArray *valid = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *test = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < in->n && in->error == NULL; k++)
    {
      const LmCompareRun *cr = NULL;
      for (guint r = 0; r < c->runs->len; r++)
        if (g_str_equal (((LmCompareRun *) c->runs->pdata[r])->run->name, names[k]))
          cr = c->runs->pdata[r];
      if (cr == NULL || lm_compare_run_result (cr) == NULL)
        {
          in->error = g_strdup_printf ("run '%s' has no result", names[k]);
          break;
        }
      if (!cr->result.has_valid || !cr->result.has_test)
        {
          in->error = g_strdup ("interpolation needs a validation and a test part");
          break;
        }
      for (int part = LM_PART_VALID; part <= LM_PART_TEST; part++)
        {
          g_autofree char *file = g_strdup_printf ("%s.lnp", lm_part_name (part));
          g_autofree char *path = run_path (c->run_dir, cr->run, file);
          g_autoptr (GError) error = NULL;
          gsize n = 0;
          double *lp = lm_logprobs_load (path, &n, &error);
          if (lp == NULL || n != c->corpus.tokens[part])
            {
              in->error = lp ? g_strdup_printf ("%s has %zu values for %" G_GUINT64_FORMAT
                                                " tokens", path, n, c->corpus.tokens[part])
                             : g_strdup (error->message);
              g_free (lp);
              break;
            }
          g_ptr_array_add (part == LM_PART_VALID ? valid : test, lp);
        }
    }
  if (in->error == NULL)
    {
      g_autoptr (GError) error = NULL;
      gsize nv = c->corpus.tokens[LM_PART_VALID], nt = c->corpus.tokens[LM_PART_TEST];
      if (!lm_interpolate_em ((const double *const *) valid->pdata, in->n, nv, 1e-7, 1000,
                              in->weights, &in->iterations, &error))
        in->error = g_strdup (error->message);
      else
        {
          in->valid_nats_per_token = lm_interpolate_nats ((const double *const *) valid->pdata,
                                                          in->n, nv, in->weights);
          in->test_nats_per_token = lm_interpolate_nats ((const double *const *) test->pdata,
                                                         in->n, nt, in->weights);
          in->test_tokens = nt;
          in->test_perplexity = exp (in->test_nats_per_token);
          in->test_bits_per_token = in->test_nats_per_token / G_LN2;
          in->test_bits_per_char = c->corpus.chars[LM_PART_TEST]
                                       ? in->test_nats_per_token * nt / G_LN2
                                             / c->corpus.chars[LM_PART_TEST]
                                       : NAN;
        }
    }
  g_ptr_array_unref (valid);
  g_ptr_array_unref (test);
  return in;
}

static gboolean
write_interpolation (const LmComparison *c, GError **error)
{
  const LmInterpolation *in = c->interpolation;
  LmJson j;
  lm_json_init (&j, TRUE);
  lm_json_begin_object (&j, NULL);
  lm_json_begin_array (&j, "runs");
  for (guint k = 0; k < in->n; k++)
    {
      lm_json_begin_object (&j, NULL);
      lm_json_string (&j, "name", in->names[k]);
      lm_json_double (&j, "weight", in->weights[k]);
      lm_json_end_object (&j);
    }
  lm_json_end_array (&j);
  lm_json_int (&j, "em_iterations", in->iterations);
  lm_json_double (&j, "valid_nats_per_token", in->valid_nats_per_token);
  lm_json_int (&j, "test_tokens", in->test_tokens);
  lm_json_double (&j, "test_nats_per_token", in->test_nats_per_token);
  lm_json_double (&j, "test_perplexity", in->test_perplexity);
  lm_json_double (&j, "test_bits_per_token", in->test_bits_per_token);
  lm_json_double (&j, "test_bits_per_char", in->test_bits_per_char);
  if (in->error)
    lm_json_string (&j, "error", in->error);
  lm_json_end_object (&j);
  g_autofree char *text = lm_json_finish (&j);
  g_autofree char *path = g_build_filename (c->run_dir, "interpolation.json", NULL);
  return write_file (path, text, error);
}

/* ---- the whole comparison ------------------------------------------------------------- */

static gboolean
make_dir (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot create %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_corpus (const LmExperiment *e, LmCorpus **corpus, GError **error)
{
  LmCorpusSpec spec;
  lm_corpus_spec_init (&spec, e->level);
  spec.train_path = e->train_path;
  spec.valid_path = e->valid_path;
  spec.test_path = e->test_path;
  lm_corpus_spec_configure (&spec, e->corpus);
  if (!lm_corpus_load (&spec, corpus, error))
    {
      g_prefix_error (error, "%s: ", e->path);
      return FALSE;
    }
  if ((*corpus)->stream[LM_PART_VALID] == NULL && (*corpus)->stream[LM_PART_TEST] == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG,
                   "%s: nothing to evaluate on: give valid/test files or a valid_fraction or "
                   "test_fraction above 0",
                   e->path);
      return FALSE;
    }
  return TRUE;
}

/* Create every run's model on the loaded vocabulary and configure its trainer, then throw
 * them away: what a class checks only when it has a vocabulary (heads must divide d,
 * tied needs emb = hidden) and what the trainer checks against the data (a validation
 * text long enough for eval_batch and context) is reported now, naming the run, and not
 * after the runs before it have trained. A failure that is not the user's to fix (memory)
 * is left for the run itself to report. */
static gboolean
check_runs (const LmExperiment *e, const LmCorpus *corpus, GError **error)
{
  for (guint i = 0; i < e->runs->len; i++)
    {
      const LmExperimentRun *run = e->runs->pdata[i];
      g_autoptr (GError) local = NULL;
      g_autoptr (LmConfig) config = lm_config_copy (run->config);
      g_autoptr (LmModel) model = lm_model_new (run->klass, config, corpus->vocab, &local);
      if (model != NULL && lm_model_has (model, LM_CAP_GRADIENT))
        {
          LmTrainSetup setup = {
            .model = model,
            .train = corpus->stream[LM_PART_TRAIN],
            .valid = corpus->stream[LM_PART_VALID],
          };
          lm_train_check (&setup, &local);
        }
      if (local != NULL && lm_error_exit_status (local) == 2)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: run '%s': ",
                                      run->origin, run->name);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
lm_compare_run (const LmExperiment *e, const char *run_dir, const LmCompareHooks *hooks,
                LmComparison **comparison, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (LmComparison) c = g_new0 (LmComparison, 1);
  c->experiment = e;
  c->run_dir = g_strdup (run_dir);
  c->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) compare_run_free);

  g_autoptr (LmCorpus) corpus = NULL;
  if (!load_corpus (e, &corpus, error) || !check_runs (e, corpus, error))
    return FALSE;
  stamp_make (&c->corpus, corpus);
  LmCompareEvent ev = { LM_COMPARE_EVENT_CORPUS, c, 0, e->runs->len, NULL, NULL, NULL, FALSE };
  emit (hooks, &ev);

  g_autofree char *runs_dir = g_build_filename (run_dir, "runs", NULL);
  if (!make_dir (runs_dir, error) || !check_or_write_stamp (run_dir, &c->corpus, error))
    return FALSE;
  g_autofree char *ini = lm_experiment_to_ini (e);
  g_autofree char *ini_path = g_build_filename (run_dir, "experiment.ini", NULL);
  if (!write_file (ini_path, ini, error))
    return FALSE;

  /* Check every run's directory before training anything, so a mismatch is reported at
   * once rather than after an hour of work. */
  for (guint i = 0; i < e->runs->len; i++)
    {
      const LmExperimentRun *run = e->runs->pdata[i];
      LmCompareRun *cr = g_new0 (LmCompareRun, 1);
      cr->run = run;
      lm_run_result_init (&cr->result);
      g_ptr_array_add (c->runs, cr);
      g_autofree char *dir = g_build_filename (runs_dir, run->name, NULL);
      if (!make_dir (dir, error) || !check_run_config (run_dir, run, error))
        return FALSE;
      g_autofree char *result_path = run_path (run_dir, run, "result.json");
      if (g_file_test (result_path, G_FILE_TEST_EXISTS))
        {
          if (!load_reused (result_path, &c->corpus, run, &cr->result, error))
            return FALSE;
          cr->status = LM_RUN_REUSED;
        }
    }

  for (guint i = 0; i < c->runs->len; i++)
    {
      LmCompareRun *cr = c->runs->pdata[i];
      if (hooks && hooks->cancel && g_atomic_int_get (hooks->cancel))
        {
          c->cancelled = TRUE;
          break;
        }
      if (cr->status == LM_RUN_PENDING)
        {
          g_autofree char *ckpt = run_path (run_dir, cr->run, "train.ckpt");
          g_autofree char *old_error = run_path (run_dir, cr->run, "error.txt");
          g_unlink (old_error);
          LmCompareEvent start = { LM_COMPARE_EVENT_RUN_START, c, i, c->runs->len, cr->run, NULL,
                                   NULL, g_file_test (ckpt, G_FILE_TEST_EXISTS) };
          emit (hooks, &start);
          RunJob job = { e, cr->run, corpus, &c->corpus, run_dir, hooks, i, c->runs->len, c,
                         hooks ? hooks->cancel : NULL };
          gboolean went_on = hooks && hooks->in_process ? run_in_process (&job, cr)
                                                        : run_child (&job, cr);
          if (!went_on)
            {
              c->cancelled = TRUE;
              break;
            }
        }
      LmCompareEvent end = { LM_COMPARE_EVENT_RUN_END, c, i, c->runs->len, cr->run, cr, NULL,
                             FALSE };
      emit (hooks, &end);
    }

  if (!c->cancelled && e->interpolate && e->interpolate[0])
    {
      c->interpolation = interpolate (c, e->interpolate);
      if (!write_interpolation (c, error))
        return FALSE;
    }
  c->seconds = (g_get_monotonic_time () - t0) / 1e6;
  *comparison = g_steal_pointer (&c);
  return TRUE;
}
