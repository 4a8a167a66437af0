/* lm-checkpoint.h — the one file format for models, optimizer state and training
 * progress.
 *
 * Layout (all integers little-endian):
 *   header   "LMLABCKP" magic, u32 format version, u32 flags (bit 0 INCOMPLETE),
 *            u64 section count, u64 offset of the section table
 *   sections raw bytes, each starting on a 64-byte boundary (so float arrays can be
 *            used in place from a mapping)
 *   table    per section: u32 name length, name bytes, u64 offset, u64 length
 *   trailer  u64 checksum of everything before it (header with the INCOMPLETE flag
 *            clear), then "LMLABEND"
 *
 * The header takes the first 32 bytes of a 64-byte block (the rest zero), so the first
 * section starts at offset 64. Sections follow in the order written, without overlap;
 * the table follows the last one and ends where the trailer starts. Names are 1 to 255
 * bytes, no NUL, unique.
 *
 * Checksum (fast, not cryptographic): the bytes from offset 64 up to the trailer, then
 * the 64-byte header block, are read as little-endian u64 words (the last one padded
 * with zeros); word i goes to lane i mod 4, and each lane, starting at the 64-bit
 * FNV-1a offset basis plus its index, takes a word w as
 *     h = (h ^ w) * 0x100000001b3;  h ^= h >> 32;
 * (FNV-1a over words, with an xorshift so high bits feed later multiplies). Then
 * h = basis; h = step (h, byte count); h = step (h, lane j) for j = 0..3, and a final
 * MurmurHash3 fmix64. Each step is a bijection of h and injective in w, so any change
 * confined to one word, every single-bit flip included, always changes the checksum.
 * Hashing the header last lets the writer hash sections as it streams them and add the
 * header once its final values are known; four lanes keep the multiplies in flight
 * (several GB/s, so a checkpoint of hundreds of MB is checked in well under a second).
 *
 * A writer writes to a temporary file beside the destination with INCOMPLETE set,
 * clears the flag last, syncs, and renames into place: a crash leaves either the old
 * file or no file, never a half-written one under the real name (as KenLM's binary
 * format marks files incomplete until done). A reader refuses wrong magic, another
 * version, an INCOMPLETE flag, a truncated file and a checksum mismatch, each with its
 * own message (LM_ERROR_CORRUPT).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LM_CHECKPOINT_VERSION 1

typedef struct _LmCheckpointWriter LmCheckpointWriter;
typedef struct _LmCheckpoint LmCheckpoint;

/* Start writing path (through a temporary file PATH.tmp-XXXXXX in the same folder; a
 * missing folder is LM_ERROR_IO). */
LmCheckpointWriter *lm_checkpoint_writer_new (const char *path, GError **error);
/* Append a named section (names unique within a file, at most 255 bytes). */
gboolean lm_checkpoint_writer_add    (LmCheckpointWriter *writer, const char *name,
                                      const void *data, gsize len, GError **error);
/* A section written in pieces: begin, any number of writes, end. */
gboolean lm_checkpoint_writer_begin  (LmCheckpointWriter *writer, const char *name,
                                      GError **error);
gboolean lm_checkpoint_writer_write  (LmCheckpointWriter *writer, const void *data,
                                      gsize len, GError **error);
gboolean lm_checkpoint_writer_end    (LmCheckpointWriter *writer, GError **error);
/* Finish: table, checksum, clear INCOMPLETE, sync, rename over path. */
gboolean lm_checkpoint_writer_commit (LmCheckpointWriter *writer, GError **error);
/* Free; a writer never committed removes its temporary file, leaving path untouched. */
void     lm_checkpoint_writer_free   (LmCheckpointWriter *writer);

/* Open and verify a checkpoint (the file is mapped, not copied). */
LmCheckpoint *lm_checkpoint_open (const char *path, GError **error);
void          lm_checkpoint_free (LmCheckpoint *checkpoint);
gboolean      lm_checkpoint_has  (const LmCheckpoint *checkpoint, const char *name);
/* Data of a section, owned by the checkpoint; a missing section is LM_ERROR_CORRUPT
 * naming the file and section. */
gboolean      lm_checkpoint_get  (const LmCheckpoint *checkpoint, const char *name,
                                  const void **data, gsize *len, GError **error);
/* Like lm_checkpoint_get but the length must be exactly len. */
gboolean      lm_checkpoint_get_exact (const LmCheckpoint *checkpoint, const char *name,
                                       const void **data, gsize len, GError **error);
const char   *lm_checkpoint_path (const LmCheckpoint *checkpoint);
/* Sections in file order (for listing a checkpoint); names owned by the checkpoint. */
guint         lm_checkpoint_n_sections   (const LmCheckpoint *checkpoint);
const char   *lm_checkpoint_section_name (const LmCheckpoint *checkpoint, guint index);
/* The checksum a trailer should hold for a whole file image of size bytes (at least
 * header and trailer, 80 bytes; the INCOMPLETE flag is taken as clear). For tools and
 * tests that craft files. */
guint64       lm_checkpoint_compute_checksum (const void *file, gsize size);

/* Put a finished, synced temporary file tmp in place at path (same folder). replace = TRUE
 * renames over whatever is there. replace = FALSE never replaces a file: tmp is linked to
 * path, which fails if path exists, then unlinked; so a file that appeared at path after
 * the caller checked it (during a long training, say) is left as it is, and the error
 * (LM_ERROR_IO) says so. Where the file system has no hard links it checks, then renames.
 * tmp is removed on failure. */
gboolean      lm_file_publish (const char *tmp, const char *path, gboolean replace,
                               GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmCheckpointWriter, lm_checkpoint_writer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmCheckpoint, lm_checkpoint_free)

G_END_DECLS
