/* cmd-ngram.c — `lmlab ngram export-arpa MODEL_DIR FILE.arpa` and
 * `lmlab ngram import-arpa FILE.arpa -o MODEL_DIR`: n-gram models in the ARPA format that
 * KenLM and SRILM read and write (log10 probabilities and backoffs). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/lm-error.h"
#include "core/lm-model.h"
#include "harness/lm-cli.h"
#include "ngram/lm-ngram.h"

static int
export_arpa (int argc, char **argv)
{
  const char *command = "lmlab ngram export-arpa";
  gboolean force = FALSE;
  GOptionEntry entries[] = {
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Replace FILE.arpa when it exists", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("MODEL_DIR FILE.arpa - write an "
                                                             "n-gram model as ARPA");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context, "The file is written to a temporary name and renamed when complete.\n"
               "\nExample:\n  lmlab ngram export-arpa runs/ptb-5gram ptb-5gram.arpa\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  if (argc != 3)
    {
      g_printerr ("%s: usage: lmlab ngram export-arpa MODEL_DIR FILE.arpa\n", command);
      return 2;
    }
  if ((status = lm_cli_check_output_file (command, argv[2], force)) != 0)
    return status;
  GError *error = NULL;
  g_autoptr (LmModel) model = lm_cli_load_model_dir (argv[1], &error);
  if (model == NULL)
    return lm_cli_fail (command, error);
  if (model->klass != &lm_ngram_class)
    {
      g_printerr ("%s: %s holds a '%s' model; only n-gram models have an ARPA form\n", command,
                  argv[1], model->klass->name);
      return 2;
    }
  if (!lm_ngram_write_arpa (model, argv[2], force, &error))
    return lm_cli_fail (command, error);
  return 0;
}

/* Whether every word of an imported vocabulary but the specials is one character, as
 * lmlab's char- and byte-level exports have them (\xHH for space and control bytes): such
 * a file can be read, but as words it models space-separated characters, not the text it
 * came from. ARPA has no place to say the level (KenLM wants a blank line, then \data\),
 * so this is a warning, not a refusal. */
static gboolean
looks_char_level (const LmVocab *vocab)
{
  guint32 V = lm_vocab_size (vocab), single = 0;
  for (guint32 v = LM_N_SPECIAL; v < V; v++)
    {
      const char *w = lm_vocab_symbol (vocab, (gint32) v);
      gsize len = strlen (w);
      gboolean escape = len == 4 && w[0] == '\\' && w[1] == 'x' && g_ascii_isxdigit (w[2])
                        && g_ascii_isxdigit (w[3]);
      if (escape || g_utf8_strlen (w, (gssize) len) == 1)
        single++;
      else
        return FALSE;
    }
  return single >= 2;
}

static int
import_arpa (int argc, char **argv)
{
  const char *command = "lmlab ngram import-arpa";
  g_autofree char *output = NULL;
  gboolean force = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Model directory to write (required)",
      "DIR" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Replace a model already in DIR", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("FILE.arpa - read an ARPA model");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context, "Reads a KenLM or SRILM ARPA file of order 1 to 20; it scores exactly by ARPA\n"
               "semantics (log10 probability plus backoff). The vocabulary is the file's\n"
               "unigrams, in the file's order, read as words: a char- or byte-level export\n"
               "(every word one character) reads back as a model of space-separated\n"
               "characters, which it warns about.\n\nExample:\n"
               "  lmlab ngram import-arpa kenlm.arpa -o runs/kenlm\n");
  int status = 0;
  if (!lm_cli_parse (context, &argc, &argv, command, &status))
    return status;
  if (argc != 2 || output == NULL)
    {
      g_printerr ("%s: usage: lmlab ngram import-arpa FILE.arpa -o MODEL_DIR\n", command);
      return 2;
    }
  g_autofree char *model_path = g_build_filename (output, "model.ckpt", NULL);
  if (g_file_test (model_path, G_FILE_TEST_EXISTS) && !force)
    {
      g_printerr ("%s: %s already holds a model; pass --force to replace it\n", command, output);
      return 2;
    }
  GError *error = NULL;
  g_autoptr (LmModel) model = lm_ngram_read_arpa (argv[1], &error);
  if (model == NULL)
    return lm_cli_fail (command, error);
  if (looks_char_level (model->vocab))
    g_printerr ("%s: warning: every word of %s is a single character (or a \\xHH escape): if "
                "it was exported from a char- or byte-level model, this word-level model "
                "scores another text (words between spaces); evaluate the model it came "
                "from instead\n", command, argv[1]);
  if (g_mkdir_with_parents (output, 0755) != 0)
    {
      g_printerr ("%s: cannot create %s: %s\n", command, output, g_strerror (errno));
      return 1;
    }
  if (!lm_model_save (model, model_path, &error))
    return lm_cli_fail (command, error);
  return 0;
}

int
lm_cmd_ngram (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "export-arpa") == 0)
    {
      g_autofree char *name = g_strdup ("lmlab ngram export-arpa");
      argv[1] = name;
      return export_arpa (argc - 1, argv + 1);
    }
  if (argc >= 2 && strcmp (argv[1], "import-arpa") == 0)
    {
      g_autofree char *name = g_strdup ("lmlab ngram import-arpa");
      argv[1] = name;
      return import_arpa (argc - 1, argv + 1);
    }
  gboolean help = argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0);
  fprintf (help ? stdout : stderr,
           "Usage:\n  lmlab ngram export-arpa MODEL_DIR FILE.arpa\n"
           "  lmlab ngram import-arpa FILE.arpa -o MODEL_DIR\n"
           "Run 'lmlab ngram export-arpa --help' for details.\n");
  return help ? 0 : 2;
}
