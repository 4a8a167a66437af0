/* lm-memory.h — zeroed, aligned memory for the big arrays.
 *
 * The arrays a training step streams through — parameters, gradients, the optimizer's
 * moments, activations, logits — are megabytes to tens of megabytes each, and an n-gram
 * probing table is looked up at random. On the usual 4 KiB pages a 20 MiB array spans
 * 5,120 pages: more than the TLB holds, and the hardware prefetchers stop at every page
 * boundary. Linux can back memory with 2 MiB pages instead (transparent huge pages), but
 * Debian's default ("madvise") does so only for memory that asks.
 *
 *   float *x = lm_memory_zeroed (n * sizeof (float));
 *   if (x == NULL) ...   // out of memory: the caller says what it was for
 *   ...
 *   free (x);
 *
 * Every buffer is zeroed and starts on a 64-byte line. One of LM_MEMORY_HUGE bytes or
 * more is rounded up to whole 2 MiB pages, placed on a 2 MiB boundary and offered to
 * the kernel for huge pages (madvise MADV_HUGEPAGE) before it is touched; where the
 * kernel has none, or THP is off, it is ordinary memory and nothing else changes.
 * What that buys is small: a few percent of a B2 training step, about the size of this
 * machine's noise (docs/benchmarks.md, session 9).
 *
 * Linux hands out more virtual memory than it has and kills the process that touches
 * too much of it, so a model too large for the machine would not get NULL here but the
 * OOM killer halfway through zeroing. A big buffer is therefore refused (NULL) when it
 * is more than the memory available now (MemAvailable in /proc/meminfo, which counts
 * every buffer this process has already zeroed); callers turn that into an error that
 * says what needed the memory. Swap is not counted, nor a container's own memory limit:
 * LMLAB_MEMORY_LIMIT in the environment (bytes, or a size like 4G or 512M) caps what the
 * process may grow to, and then the memory available is at most that limit less what the
 * process holds (VmRSS).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LM_MEMORY_ALIGN 64          /* bytes: every buffer starts on a cache line */
#define LM_MEMORY_HUGE  (2u << 20)  /* bytes: from this size on, 2 MiB pages are asked for */

/* bytes of zeroes (at least one cache line), or NULL when there is no memory; free() it */
void *lm_memory_zeroed (gsize bytes);

/* Whether `bytes` (a double, so a sum of sizes cannot overflow) can be allocated now: no
 * more than lm_memory_available (), nor than a quarter of the address space. For a
 * check before several allocations, with a message that names them. */
gboolean lm_memory_fits (double bytes);
/* the memory available to a new allocation, in bytes: MemAvailable, else the free
 * physical pages, and no more than LMLAB_MEMORY_LIMIT less the process's resident size
 * when that is set; 0 when nothing is known (then lm_memory_fits only checks the
 * address space) */
double lm_memory_available (void);

/* the process's resident size (VmRSS), in bytes; 0 when it cannot be read */
double lm_memory_resident (void);

/* "4G", "512M", "64k", "2GiB", "1073741824" (K, M, G, T are powers of 1024; a fraction is
 * allowed) in bytes, or -1 for anything else (zero and negatives included). */
double lm_memory_parse_size (const char *text);

G_END_DECLS
