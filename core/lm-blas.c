/* lm-blas.c — BLAS kernel awareness and thread arrangement. */
#include "config.h"

#include <cblas.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/lm-blas.h"

/* OpenBLAS kernels that use no AVX: what DYNAMIC_ARCH picks for a CPU it does not know. */
static gboolean
is_generic_kernel (const char *kernel)
{
  static const char *const generic[] = { "Prescott", "Core2", "Penryn", "Dunnington",
                                         "Nehalem", "Katmai", "Coppermine", "Northwood",
                                         "Banias", "Atom", "Opteron", "Barcelona", NULL };
  for (int i = 0; generic[i]; i++)
    if (g_ascii_strcasecmp (kernel, generic[i]) == 0)
      return TRUE;
  return FALSE;
}

static char *
read_cpu_model (void)
{
  g_autofree char *text = NULL;
  if (g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      for (int i = 0; lines[i]; i++)
        if (g_str_has_prefix (lines[i], "model name"))
          {
            const char *colon = strchr (lines[i], ':');
            if (colon)
              return g_strstrip (g_strdup (colon + 1));
          }
    }
  return g_strdup ("unknown");
}

void
lm_blas_info_get (LmBlasInfo *info)
{
  memset (info, 0, sizeof *info);
#ifdef HAVE_OPENBLAS_GET_CORENAME
  info->kernel = g_strdup (openblas_get_corename ());
  info->config = g_strdup (openblas_get_config ());
#else
  info->kernel = g_strdup ("unknown");
  info->config = g_strdup ("unknown");
#endif
#ifdef HAVE_OPENBLAS_GET_NUM_THREADS
  info->blas_threads = openblas_get_num_threads ();
#else
  info->blas_threads = 1;
#endif
#ifdef _OPENMP
  info->omp_threads = omp_get_max_threads ();
#else
  info->omp_threads = 1;
#endif
  info->cpus = (int) MAX (1, sysconf (_SC_NPROCESSORS_ONLN));
  info->cpu_model = read_cpu_model ();
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init ();
  info->cpu_avx2 = __builtin_cpu_supports ("avx2");
  info->cpu_avx512 = __builtin_cpu_supports ("avx512f");
#endif
  if (is_generic_kernel (info->kernel) && (info->cpu_avx2 || info->cpu_avx512))
    {
      const char *better = info->cpu_avx512 ? "SkylakeX" : "Haswell";
      info->fallback = TRUE;
      info->advice = g_strdup_printf (
          "OpenBLAS runs its generic '%s' kernel on this %s CPU, so matrix products are "
          "several times slower than they could be (about 5x for sgemm). Fix: "
          "export OPENBLAS_CORETYPE=%s before running lmlab.",
          info->kernel, info->cpu_avx512 ? "AVX-512" : "AVX2", better);
    }
}

void
lm_blas_info_clear (LmBlasInfo *info)
{
  g_free (info->kernel);
  g_free (info->config);
  g_free (info->cpu_model);
  g_free (info->advice);
  memset (info, 0, sizeof *info);
}

void
lm_blas_set_threads (int threads)
{
  if (threads <= 0)
    threads = (int) MAX (1, sysconf (_SC_NPROCESSORS_ONLN));
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
  openblas_set_num_threads (threads);
#endif
#ifdef _OPENMP
  omp_set_num_threads (1);
#endif
}

int
lm_blas_threads (void)
{
#ifdef HAVE_OPENBLAS_GET_NUM_THREADS
  return openblas_get_num_threads ();
#else
  return 1;
#endif
}

char *
lm_blas_describe (void)
{
  LmBlasInfo info;
  lm_blas_info_get (&info);
  char *text = g_strdup_printf ("OpenBLAS %s kernel, %d thread%s%s", info.kernel,
                                info.blas_threads, info.blas_threads == 1 ? "" : "s",
                                info.fallback ? " (generic fallback!)" : "");
  lm_blas_info_clear (&info);
  return text;
}
