/* lm-memory.c — zeroed, aligned memory for the big arrays (see lm-memory.h). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_SYS_MMAN_H
#include <sys/mman.h>
#endif

#include "core/lm-memory.h"

void *
lm_memory_zeroed (gsize bytes)
{
  gsize align = bytes >= LM_MEMORY_HUGE ? LM_MEMORY_HUGE : LM_MEMORY_ALIGN;
  if (bytes > G_MAXSIZE - align || (align == LM_MEMORY_HUGE && !lm_memory_fits ((double) bytes)))
    return NULL;
  bytes = MAX (bytes, 1);
  bytes = (bytes + align - 1) / align * align;
  void *memory = NULL;
  if (posix_memalign (&memory, align, bytes) != 0)
    return NULL;
#if defined(HAVE_SYS_MMAN_H) && defined(MADV_HUGEPAGE)
  /* before the first touch, so the pages faulted in by the memset are already huge;
   * a refusal (THP off, an old kernel) only leaves the pages small */
  if (align == LM_MEMORY_HUGE)
    (void) madvise (memory, bytes, MADV_HUGEPAGE);
#endif
  memset (memory, 0, bytes);
  return memory;
}

/* The value of "Key:  N kB" in a /proc file, in bytes, or -1. */
static double
proc_kb (const char *path, const char *key)
{
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1.0;
  const char *line = strstr (text, key);
  return line ? g_ascii_strtod (line + strlen (key), NULL) * 1024.0 : -1.0;
}

double
lm_memory_parse_size (const char *text)
{
  if (text == NULL)
    return -1.0;
  char *end;
  double value = g_ascii_strtod (text, &end);
  if (end == text || !(value > 0) || !isfinite (value))
    return -1.0;
  static const char units[] = "KMGT";
  const char *unit = *end ? strchr (units, g_ascii_toupper (*end)) : NULL;
  if (unit != NULL && *unit != '\0')
    {
      value *= pow (1024.0, (double) (unit - units + 1));
      end++;
      if (g_ascii_toupper (*end) == 'I') /* "GiB" */
        end++;
      if (g_ascii_toupper (*end) == 'B')
        end++;
    }
  return *end == '\0' ? value : -1.0;
}

/* LMLAB_MEMORY_LIMIT in bytes, or 0 when it is unset; an unreadable value is said once on
 * stderr and ignored. */
static double
memory_limit (void)
{
  const char *text = g_getenv ("LMLAB_MEMORY_LIMIT");
  if (text == NULL || *text == '\0')
    return 0.0;
  double limit = lm_memory_parse_size (text);
  if (limit > 0)
    return limit;
  static gsize warned = 0;
  if (g_once_init_enter (&warned))
    {
      g_printerr ("lmlab: LMLAB_MEMORY_LIMIT=%s is not a size (like 4G, 512M or 1073741824); "
                  "ignored\n", text);
      g_once_init_leave (&warned, 1);
    }
  return 0.0;
}

double
lm_memory_resident (void)
{
  return MAX (proc_kb ("/proc/self/status", "VmRSS:"), 0.0);
}

double
lm_memory_available (void)
{
  double available = proc_kb ("/proc/meminfo", "MemAvailable:");
#ifdef _SC_AVPHYS_PAGES
  if (available < 0)
    {
      long pages = sysconf (_SC_AVPHYS_PAGES), page = sysconf (_SC_PAGESIZE);
      if (pages > 0 && page > 0)
        available = (double) pages * (double) page;
    }
#endif
  double limit = memory_limit ();
  if (limit > 0)
    {
      /* what the process may still grow by; at least a byte, since 0 means "unknown" */
      double room = MAX (limit - lm_memory_resident (), 1.0);
      available = available > 0 ? MIN (available, room) : room;
    }
  return MAX (available, 0.0);
}

gboolean
lm_memory_fits (double bytes)
{
  double available = lm_memory_available ();
  return bytes <= (double) G_MAXSIZE / 4 && (available <= 0 || bytes <= available);
}
