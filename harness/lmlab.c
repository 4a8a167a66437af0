/* lmlab.c — the lmlab command: subcommand dispatch and shared reporting. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/lm-blas.h"
#include "core/lm-error.h"
#include "core/lm-registry.h"
#include "harness/lm-cli.h"
#include "harness/lm-git.h"

static const LmCommand commands[] = {
  { "corpus", "corpus tools: stats of one or more text files", lm_cmd_corpus },
  { "train", "train one model on a corpus and save it to a directory", lm_cmd_train },
  { "eval", "score a text with a trained model (perplexity, bits/char, accuracy)", lm_cmd_eval },
  { "generate", "generate text from a trained model", lm_cmd_generate },
  { "ngram", "n-gram tools: export-arpa, import-arpa", lm_cmd_ngram },
  { "metrics", "BLEU and ROUGE of a hypothesis file against reference files", lm_cmd_metrics },
  { "compare", "train, evaluate and compare models on one corpus: report and figures",
    lm_cmd_compare },
  { "plot", "render a comparison's figures again from their gnuplot scripts", lm_cmd_plot },
};

int
lm_cli_fail (const char *command, GError *error)
{
  int status = lm_error_exit_status (error);
  if (status == 0)
    status = 1;
  g_printerr ("%s: %s\n", command, error ? error->message : "failed");
  g_clear_error (&error);
  return status;
}

int
lm_cli_check_output_file (const char *command, const char *path, gboolean force)
{
  /* The file is written to a temporary name beside it and renamed over it: a symlink, a
   * FIFO or a device there would be replaced by a regular file, not written through. */
  GStatBuf st;
  if (g_lstat (path, &st) == 0)
    {
      if (!S_ISREG (st.st_mode))
        {
          g_printerr ("%s: %s exists and is not a regular file (a %s); give the path of a "
                      "file to write\n", command, path,
                      S_ISLNK (st.st_mode) ? "symbolic link"
                      : S_ISDIR (st.st_mode) ? "directory" : "device, FIFO or socket");
          return 2;
        }
      if (!force)
        {
          g_printerr ("%s: %s exists; pass --force to replace it\n", command, path);
          return 2;
        }
    }
  g_autofree char *dir = g_path_get_dirname (path);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_printerr ("%s: cannot write %s: %s %s\n", command, path, dir,
                  g_file_test (dir, G_FILE_TEST_EXISTS) ? "is not a directory"
                                                        : "does not exist");
      return 2;
    }
  return 0;
}

gboolean
lm_cli_parse (GOptionContext *context, int *argc, char ***argv, const char *command,
              int *status)
{
  GError *error = NULL;
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      g_printerr ("%s: %s (see %s --help)\n", command, error->message, command);
      g_error_free (error);
      *status = 2;
      return FALSE;
    }
  return TRUE;
}

void
lm_cli_blas_warning (void)
{
  static gboolean warned = FALSE;
  if (warned)
    return;
  warned = TRUE;
  LmBlasInfo info;
  lm_blas_info_get (&info);
  if (info.fallback)
    g_printerr ("lmlab: warning: %s\n", info.advice);
  lm_blas_info_clear (&info);
}

char *
lm_cli_thousands (guint64 value)
{
  char digits[32];
  g_snprintf (digits, sizeof digits, "%" G_GUINT64_FORMAT, value);
  GString *out = g_string_new (NULL);
  gsize n = strlen (digits);
  for (gsize i = 0; i < n; i++)
    {
      if (i > 0 && (n - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
  return g_string_free (out, FALSE);
}

static void
usage (FILE *stream)
{
  fprintf (stream,
           "Usage: lmlab COMMAND [OPTIONS...]\n"
           "\n"
           "Train N-gram, RNN, LSTM, GRU and Transformer language models on one corpus and\n"
           "compare them.\n"
           "\n"
           "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (stream, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (stream,
           "\n"
           "Run 'lmlab COMMAND --help' for a command's options, defaults and an example.\n"
           "\n"
           "Environment:\n"
           "  LMLAB_MEMORY_LIMIT  the most memory lmlab may grow to, like 4G or 512M (default:\n"
           "                      what /proc/meminfo says is available); set it to a\n"
           "                      container's limit, which lmlab cannot see\n"
           "  LMLAB_NO_SIMD=1     the portable C kernels instead of AVX2+FMA\n"
           "\n"
           "Example:\n"
           "  lmlab corpus stats data/kjv.txt --level word\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C"); /* numbers in files and JSON always use '.' */

  GError *error = NULL;
  if (!lm_registry_check (&error))
    {
      g_printerr ("lmlab: internal error: %s\n", error->message);
      g_error_free (error);
      return 1;
    }
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      g_autofree char *blas = lm_blas_describe ();
      printf ("lmlab %s (commit %s)\n%s\n", PACKAGE_VERSION, LMLAB_GIT_COMMIT, blas);
      return 0;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      {
        g_autofree char *name = g_strdup_printf ("lmlab %s", commands[i].name);
        argv[1] = name;
        int status = commands[i].run (argc - 1, argv + 1);
        /* a report that never reached its file (a full disk, a closed pipe) is a failure,
         * not exit 0 */
        if ((fflush (stdout) != 0 || ferror (stdout)) && status == 0)
          {
            g_printerr ("%s: cannot write the output: %s\n", name, g_strerror (errno));
            status = 1;
          }
        return status;
      }
  fprintf (stderr, "lmlab: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return 2;
}
