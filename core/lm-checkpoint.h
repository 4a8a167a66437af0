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

/* Start writing path (through a temporary file in the same folder). */
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmCheckpointWriter, lm_checkpoint_writer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmCheckpoint, lm_checkpoint_free)

G_END_DECLS
