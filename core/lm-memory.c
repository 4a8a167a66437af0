/* lm-memory.c — zeroed, aligned memory for the big arrays (see lm-memory.h). */
#include "config.h"

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

double
lm_memory_available (void)
{
  g_autofree gchar *text = NULL;
  if (g_file_get_contents ("/proc/meminfo", &text, NULL, NULL))
    {
      const char *line = strstr (text, "MemAvailable:");
      if (line)
        return g_ascii_strtod (line + strlen ("MemAvailable:"), NULL) * 1024.0; /* kB */
    }
#ifdef _SC_AVPHYS_PAGES
  long pages = sysconf (_SC_AVPHYS_PAGES), page = sysconf (_SC_PAGESIZE);
  if (pages > 0 && page > 0)
    return (double) pages * (double) page;
#endif
  return 0.0;
}

gboolean
lm_memory_fits (double bytes)
{
  double available = lm_memory_available ();
  return bytes <= (double) G_MAXSIZE / 4 && (available <= 0 || bytes <= available);
}
