/* lm-checkpoint.c — the checkpoint file format: writer (temporary file, incomplete
 * marker, checksum, atomic rename) and verifying reader (mapped, not copied).
 * The layout and the checksum are documented in lm-checkpoint.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "core/lm-checkpoint.h"
#include "core/lm-error.h"

#define MAGIC           "LMLABCKP"
#define TRAILER_MAGIC   "LMLABEND"
#define FLAG_INCOMPLETE 1u
#define KNOWN_FLAGS     FLAG_INCOMPLETE
#define HEADER_SIZE     32 /* magic, version, flags, count, table offset */
#define HEADER_BLOCK    64 /* the header padded to the first section */
#define FLAGS_OFFSET    12
#define TRAILER_SIZE    16 /* checksum, "LMLABEND" */
#define ALIGNMENT       64
#define MAX_NAME        255
#define ENTRY_MIN       (4 + 1 + 8 + 8) /* a table entry with a one-byte name */
#define WRITE_BUFFER    (1u << 20)

/* ---- little-endian fields ------------------------------------------------------ */

static inline guint64
load_u64 (const guint8 *p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

static inline guint32
load_u32 (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

static inline void
store_u64 (guint8 *p, guint64 v)
{
  v = GUINT64_TO_LE (v);
  memcpy (p, &v, 8);
}

static inline void
store_u32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_LE (v);
  memcpy (p, &v, 4);
}

/* ---- checksum: FNV-1a over 64-bit words, four lanes (see lm-checkpoint.h) -------- */

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

typedef struct
{
  guint64 lane[4];
  guint8 pending[32];
  gsize n_pending;
  guint64 n_bytes;
} Checksum;

/* h' = xorshift32 ((h ^ w) * P): a bijection of h for fixed w, injective in w. */
static inline guint64
checksum_step (guint64 h, guint64 w)
{
  h = (h ^ w) * FNV_PRIME;
  return h ^ (h >> 32);
}

static void
checksum_init (Checksum *c)
{
  for (int j = 0; j < 4; j++)
    c->lane[j] = FNV_BASIS + (guint64)j;
  c->n_pending = 0;
  c->n_bytes = 0;
}

static inline void
checksum_block (guint64 *lane, const guint8 *p)
{
  lane[0] = checksum_step (lane[0], load_u64 (p));
  lane[1] = checksum_step (lane[1], load_u64 (p + 8));
  lane[2] = checksum_step (lane[2], load_u64 (p + 16));
  lane[3] = checksum_step (lane[3], load_u64 (p + 24));
}

static void
checksum_update (Checksum *c, const void *data, gsize len)
{
  const guint8 *p = data;
  c->n_bytes += len;
  if (c->n_pending > 0)
    {
      gsize take = MIN (32 - c->n_pending, len);
      memcpy (c->pending + c->n_pending, p, take);
      c->n_pending += take;
      p += take;
      len -= take;
      if (c->n_pending < 32)
        return;
      checksum_block (c->lane, c->pending);
      c->n_pending = 0;
    }
  /* Local copies keep the lanes in registers across the loop. */
  guint64 lane[4] = { c->lane[0], c->lane[1], c->lane[2], c->lane[3] };
  for (; len >= 32; p += 32, len -= 32)
    checksum_block (lane, p);
  memcpy (c->lane, lane, sizeof lane);
  memcpy (c->pending, p, len);
  c->n_pending = len;
}

static guint64
checksum_finish (Checksum *c)
{
  /* The tail, zero-padded to whole words, continues the lane rotation. */
  memset (c->pending + c->n_pending, 0, 32 - c->n_pending);
  for (gsize i = 0; i * 8 < c->n_pending; i++)
    c->lane[i] = checksum_step (c->lane[i], load_u64 (c->pending + 8 * i));
  guint64 h = checksum_step (FNV_BASIS, c->n_bytes);
  for (int j = 0; j < 4; j++)
    h = checksum_step (h, c->lane[j]);
  /* MurmurHash3 fmix64, a bijection, so nearby inputs give unrelated checksums. */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static void
header_fill (guint8 block[HEADER_BLOCK], guint32 flags, guint64 n_sections, guint64 table_offset)
{
  memset (block, 0, HEADER_BLOCK);
  memcpy (block, MAGIC, 8);
  store_u32 (block + 8, LM_CHECKPOINT_VERSION);
  store_u32 (block + FLAGS_OFFSET, flags);
  store_u64 (block + 16, n_sections);
  store_u64 (block + 24, table_offset);
}

guint64
lm_checkpoint_compute_checksum (const void *file, gsize size)
{
  g_return_val_if_fail (file != NULL && size >= HEADER_BLOCK + TRAILER_SIZE, 0);
  const guint8 *bytes = file;
  guint8 header[HEADER_BLOCK];
  memcpy (header, bytes, HEADER_BLOCK);
  store_u32 (header + FLAGS_OFFSET, load_u32 (header + FLAGS_OFFSET) & ~FLAG_INCOMPLETE);
  Checksum checksum;
  checksum_init (&checksum);
  checksum_update (&checksum, bytes + HEADER_BLOCK, size - TRAILER_SIZE - HEADER_BLOCK);
  checksum_update (&checksum, header, HEADER_BLOCK);
  return checksum_finish (&checksum);
}

/* ---- writer ---------------------------------------------------------------------- */

typedef struct
{
  char *name;
  guint64 offset;
  guint64 length;
} Section;

static void
section_clear (gpointer data)
{
  Section *section = data;
  g_free (section->name);
}

struct _LmCheckpointWriter
{
  char *path;     /* destination */
  char *tmp_path; /* the temporary file beside it */
  int fd;         /* -1 once closed */
  guint8 *buffer; /* WRITE_BUFFER bytes not yet written */
  gsize buffered;
  guint64 offset;      /* file offset of the next byte, buffered ones included */
  Checksum checksum;   /* over every byte from offset HEADER_BLOCK on */
  GArray *sections;    /* Section */
  GHashTable *names;   /* section names already used (keys owned by sections) */
  gboolean in_section; /* between begin and end */
  gboolean failed;     /* an earlier call failed: the file is unusable */
  gboolean committed;
};

static gboolean
write_all (LmCheckpointWriter *writer, const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n = write (writer->fd, data, MIN (len, (gsize)G_MAXSSIZE));
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          writer->failed = TRUE;
          g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot write %s: %s", writer->tmp_path,
                       g_strerror (saved));
          return FALSE;
        }
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

static gboolean
pwrite_all (LmCheckpointWriter *writer, const guint8 *data, gsize len, guint64 offset,
            GError **error)
{
  while (len > 0)
    {
      ssize_t n = pwrite (writer->fd, data, len, (off_t)offset);
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          writer->failed = TRUE;
          g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot write %s: %s", writer->tmp_path,
                       g_strerror (saved));
          return FALSE;
        }
      data += n;
      len -= (gsize)n;
      offset += (guint64)n;
    }
  return TRUE;
}

static gboolean
writer_flush (LmCheckpointWriter *writer, GError **error)
{
  gsize n = writer->buffered;
  writer->buffered = 0;
  return write_all (writer, writer->buffer, n, error);
}

/* Append bytes to the body (hashed, buffered; large pieces go straight to the file). */
static gboolean
writer_append (LmCheckpointWriter *writer, const void *data, gsize len, GError **error)
{
  if (len == 0)
    return TRUE;
  checksum_update (&writer->checksum, data, len);
  writer->offset += len;
  if (writer->buffered + len <= WRITE_BUFFER)
    {
      memcpy (writer->buffer + writer->buffered, data, len);
      writer->buffered += len;
      return TRUE;
    }
  if (!writer_flush (writer, error))
    return FALSE;
  if (len >= WRITE_BUFFER / 2)
    return write_all (writer, data, len, error);
  memcpy (writer->buffer, data, len);
  writer->buffered = len;
  return TRUE;
}

static gboolean
writer_check_usable (LmCheckpointWriter *writer, GError **error)
{
  if (writer->committed)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED, "checkpoint %s was already committed",
                   writer->path);
      return FALSE;
    }
  if (writer->failed)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO,
                   "checkpoint %s: an earlier write failed, start again", writer->path);
      return FALSE;
    }
  return TRUE;
}

LmCheckpointWriter *
lm_checkpoint_writer_new (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL && *path != '\0', NULL);

  /* mkstemp in the destination's own folder: rename() is atomic only within one file
   * system, and g_file_open_tmp would use /tmp. */
  g_autofree char *tmp_path = g_strdup_printf ("%s.tmp-XXXXXX", path);
  int fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot create a temporary file beside %s: %s",
                   path, g_strerror (saved));
      return NULL;
    }

  LmCheckpointWriter *writer = g_new0 (LmCheckpointWriter, 1);
  writer->path = g_strdup (path);
  writer->tmp_path = g_steal_pointer (&tmp_path);
  writer->fd = fd;
  writer->buffer = g_malloc (WRITE_BUFFER);
  writer->sections = g_array_new (FALSE, FALSE, sizeof (Section));
  g_array_set_clear_func (writer->sections, section_clear);
  writer->names = g_hash_table_new (g_str_hash, g_str_equal);
  checksum_init (&writer->checksum);

  /* A placeholder header, INCOMPLETE from the first byte on disk; it is not part of
   * the running checksum (the final header is hashed last, at commit). */
  guint8 header[HEADER_BLOCK];
  header_fill (header, FLAG_INCOMPLETE, 0, 0);
  memcpy (writer->buffer, header, HEADER_BLOCK);
  writer->buffered = HEADER_BLOCK;
  writer->offset = HEADER_BLOCK;
  return writer;
}

gboolean
lm_checkpoint_writer_begin (LmCheckpointWriter *writer, const char *name, GError **error)
{
  g_return_val_if_fail (writer != NULL && name != NULL, FALSE);
  if (!writer_check_usable (writer, error))
    return FALSE;
  if (writer->in_section)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED,
                   "checkpoint %s: section “%s” begun while “%s” is still open", writer->path, name,
                   g_array_index (writer->sections, Section, writer->sections->len - 1).name);
      return FALSE;
    }
  gsize name_len = strlen (name);
  if (name_len == 0 || name_len > MAX_NAME)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED,
                   "checkpoint %s: section name “%s” must be 1 to %d bytes long", writer->path,
                   name, MAX_NAME);
      return FALSE;
    }
  if (g_hash_table_contains (writer->names, name))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED, "checkpoint %s: section “%s” written twice",
                   writer->path, name);
      return FALSE;
    }

  /* Zero padding up to the next 64-byte boundary. */
  static const guint8 zeros[ALIGNMENT];
  gsize pad = (gsize)((ALIGNMENT - writer->offset % ALIGNMENT) % ALIGNMENT);
  if (!writer_append (writer, zeros, pad, error))
    return FALSE;

  Section section = { g_strdup (name), writer->offset, 0 };
  g_array_append_val (writer->sections, section);
  g_hash_table_add (writer->names, section.name);
  writer->in_section = TRUE;
  return TRUE;
}

gboolean
lm_checkpoint_writer_write (LmCheckpointWriter *writer, const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (writer != NULL && (data != NULL || len == 0), FALSE);
  if (!writer_check_usable (writer, error))
    return FALSE;
  if (!writer->in_section)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED,
                   "checkpoint %s: data written outside a section", writer->path);
      return FALSE;
    }
  return writer_append (writer, data, len, error);
}

gboolean
lm_checkpoint_writer_end (LmCheckpointWriter *writer, GError **error)
{
  g_return_val_if_fail (writer != NULL, FALSE);
  if (!writer_check_usable (writer, error))
    return FALSE;
  if (!writer->in_section)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED,
                   "checkpoint %s: section ended that was never begun", writer->path);
      return FALSE;
    }
  Section *section = &g_array_index (writer->sections, Section, writer->sections->len - 1);
  section->length = writer->offset - section->offset;
  writer->in_section = FALSE;
  return TRUE;
}

gboolean
lm_checkpoint_writer_add (LmCheckpointWriter *writer, const char *name, const void *data, gsize len,
                          GError **error)
{
  return lm_checkpoint_writer_begin (writer, name, error)
         && lm_checkpoint_writer_write (writer, data, len, error)
         && lm_checkpoint_writer_end (writer, error);
}

gboolean
lm_checkpoint_writer_commit (LmCheckpointWriter *writer, GError **error)
{
  g_return_val_if_fail (writer != NULL, FALSE);
  if (!writer_check_usable (writer, error))
    return FALSE;
  if (writer->in_section)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_FAILED,
                   "checkpoint %s: committed with section “%s” still open", writer->path,
                   g_array_index (writer->sections, Section, writer->sections->len - 1).name);
      return FALSE;
    }

  /* 1. The table, right after the last section. */
  guint64 table_offset = writer->offset;
  for (guint i = 0; i < writer->sections->len; i++)
    {
      const Section *section = &g_array_index (writer->sections, Section, i);
      guint32 name_len = (guint32)strlen (section->name);
      guint8 field[8];
      store_u32 (field, name_len);
      if (!writer_append (writer, field, 4, error)
          || !writer_append (writer, section->name, name_len, error))
        return FALSE;
      store_u64 (field, section->offset);
      if (!writer_append (writer, field, 8, error))
        return FALSE;
      store_u64 (field, section->length);
      if (!writer_append (writer, field, 8, error))
        return FALSE;
    }

  /* 2. The checksum: the body so far, then the header as it will be when complete. */
  guint8 header[HEADER_BLOCK];
  header_fill (header, 0, writer->sections->len, table_offset);
  checksum_update (&writer->checksum, header, HEADER_BLOCK);
  guint8 trailer[TRAILER_SIZE];
  store_u64 (trailer, checksum_finish (&writer->checksum));
  memcpy (trailer + 8, TRAILER_MAGIC, 8);
  if (!writer_flush (writer, error) || !write_all (writer, trailer, TRAILER_SIZE, error))
    return FALSE;

  /* 3. The final header, still INCOMPLETE; then clear the flag alone, sync, rename. A
   * crash at any point leaves at most the temporary file, never a file at path. */
  header_fill (header, FLAG_INCOMPLETE, writer->sections->len, table_offset);
  if (!pwrite_all (writer, header, HEADER_BLOCK, 0, error))
    return FALSE;
  guint8 flags[4];
  store_u32 (flags, 0);
  if (!pwrite_all (writer, flags, 4, FLAGS_OFFSET, error))
    return FALSE;
  if (fsync (writer->fd) != 0)
    {
      int saved = errno;
      writer->failed = TRUE;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot sync %s: %s", writer->tmp_path,
                   g_strerror (saved));
      return FALSE;
    }
  int fd = writer->fd;
  writer->fd = -1;
  if (close (fd) != 0)
    {
      int saved = errno;
      writer->failed = TRUE;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot close %s: %s", writer->tmp_path,
                   g_strerror (saved));
      return FALSE;
    }
  if (g_rename (writer->tmp_path, writer->path) != 0)
    {
      int saved = errno;
      writer->failed = TRUE;
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot rename %s to %s: %s", writer->tmp_path,
                   writer->path, g_strerror (saved));
      return FALSE;
    }
  writer->committed = TRUE;

  /* Make the rename itself durable; a folder that cannot be synced is not an error. */
  g_autofree char *dir = g_path_get_dirname (writer->path);
  int dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      (void)fsync (dir_fd);
      close (dir_fd);
    }
  return TRUE;
}

void
lm_checkpoint_writer_free (LmCheckpointWriter *writer)
{
  if (writer == NULL)
    return;
  if (writer->fd >= 0)
    close (writer->fd);
  if (!writer->committed)
    g_unlink (writer->tmp_path);
  g_free (writer->path);
  g_free (writer->tmp_path);
  g_free (writer->buffer);
  g_array_unref (writer->sections);
  g_hash_table_unref (writer->names);
  g_free (writer);
}

gboolean
lm_file_publish (const char *tmp, const char *path, gboolean replace, GError **error)
{
  int e = 0;
  if (replace)
    e = g_rename (tmp, path) == 0 ? 0 : errno;
  else if (link (tmp, path) == 0)
    g_unlink (tmp);
  else
    {
      e = errno;
      /* No hard links here (some network and FAT-like file systems): check, then rename,
       * which leaves only the moment between the two for a file to appear in. */
      GStatBuf st;
      if (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == EMLINK || e == ENOSYS)
        e = g_lstat (path, &st) == 0 ? EEXIST : g_rename (tmp, path) == 0 ? 0 : errno;
    }
  if (e == 0)
    return TRUE;
  g_unlink (tmp);
  if (e == EEXIST)
    g_set_error (error, LM_ERROR, LM_ERROR_IO,
                 "%s appeared while this command ran and was left as it is (pass --force to "
                 "replace it)", path);
  else
    g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot put %s in place: %s", path,
                 g_strerror (e));
  return FALSE;
}

/* ---- reader ---------------------------------------------------------------------- */

typedef struct
{
  char *name;
  const guint8 *data;
  gsize length;
} MappedSection;

static void
mapped_section_clear (gpointer data)
{
  MappedSection *section = data;
  g_free (section->name);
}

struct _LmCheckpoint
{
  char *path;
  GMappedFile *file;
  GArray *sections;  /* MappedSection, in file order */
  GHashTable *index; /* name -> position + 1 in sections */
};

#define CORRUPT(...) g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, __VA_ARGS__)

static gboolean
checkpoint_read_table (LmCheckpoint *checkpoint, const guint8 *map, guint64 size,
                       guint64 n_sections, guint64 table_offset, GError **error)
{
  const char *path = checkpoint->path;
  guint64 table_end = size - TRAILER_SIZE;
  if (table_offset < HEADER_BLOCK || table_offset > table_end)
    {
      CORRUPT ("%s: section table offset %" G_GUINT64_FORMAT " lies outside the file "
               "(%" G_GUINT64_FORMAT " bytes)",
               path, table_offset, size);
      return FALSE;
    }
  if (n_sections > (table_end - table_offset) / ENTRY_MIN)
    {
      CORRUPT ("%s: %" G_GUINT64_FORMAT " sections cannot fit in a table of %" G_GUINT64_FORMAT
               " bytes",
               path, n_sections, table_end - table_offset);
      return FALSE;
    }

  guint64 pos = table_offset;
  guint64 data_end = HEADER_BLOCK; /* end of the previous section */
  for (guint64 i = 0; i < n_sections; i++)
    {
      if (table_end - pos < 4)
        {
          CORRUPT ("%s: section table entry %" G_GUINT64_FORMAT " runs past the table", path, i);
          return FALSE;
        }
      guint32 name_len = load_u32 (map + pos);
      pos += 4;
      if (name_len == 0 || name_len > MAX_NAME || table_end - pos < (guint64)name_len + 16)
        {
          CORRUPT ("%s: section table entry %" G_GUINT64_FORMAT " has a bad name length %u", path,
                   i, name_len);
          return FALSE;
        }
      const char *name_bytes = (const char *)map + pos;
      if (memchr (name_bytes, '\0', name_len) != NULL)
        {
          CORRUPT ("%s: section table entry %" G_GUINT64_FORMAT " has a NUL in its name", path, i);
          return FALSE;
        }
      char *name = g_strndup (name_bytes, name_len);
      pos += name_len;
      guint64 offset = load_u64 (map + pos);
      guint64 length = load_u64 (map + pos + 8);
      pos += 16;

      /* offset + length is never formed before both are known to lie in the file. */
      if (offset % ALIGNMENT != 0 || offset < data_end || offset > table_offset
          || length > table_offset - offset)
        {
          CORRUPT ("%s: section “%s” (offset %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                   " bytes) lies outside the data area or overlaps another",
                   path, name, offset, length);
          g_free (name);
          return FALSE;
        }
      if (g_hash_table_contains (checkpoint->index, name))
        {
          CORRUPT ("%s: section “%s” appears twice", path, name);
          g_free (name);
          return FALSE;
        }
      MappedSection section = { name, map + offset, (gsize)length };
      g_array_append_val (checkpoint->sections, section);
      g_hash_table_insert (checkpoint->index, name, GUINT_TO_POINTER (checkpoint->sections->len));
      data_end = offset + length;
    }
  if (pos != table_end)
    {
      CORRUPT ("%s: the section table ends %" G_GUINT64_FORMAT " bytes before the "
               "trailer",
               path, table_end - pos);
      return FALSE;
    }
  return TRUE;
}

LmCheckpoint *
lm_checkpoint_open (const char *path, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "%s is a directory, not a checkpoint file", path);
      return NULL;
    }
  g_return_val_if_fail (path != NULL, NULL);

  GError *local_error = NULL;
  GMappedFile *file = g_mapped_file_new (path, FALSE, &local_error);
  if (file == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_IO, "cannot open checkpoint %s: %s", path,
                   local_error->message);
      g_error_free (local_error);
      return NULL;
    }

  g_autoptr (LmCheckpoint) checkpoint = g_new0 (LmCheckpoint, 1);
  checkpoint->path = g_strdup (path);
  checkpoint->file = file;
  checkpoint->sections = g_array_new (FALSE, FALSE, sizeof (MappedSection));
  g_array_set_clear_func (checkpoint->sections, mapped_section_clear);
  checkpoint->index = g_hash_table_new (g_str_hash, g_str_equal);

  const guint8 *map = (const guint8 *)g_mapped_file_get_contents (file);
  guint64 size = g_mapped_file_get_length (file);

  /* Each check has its own message, from the cheapest to the whole-file checksum. */
  if (size < HEADER_BLOCK + TRAILER_SIZE)
    {
      if (size >= 8 && memcmp (map, MAGIC, 8) != 0)
        CORRUPT ("%s is not an lmlab checkpoint (wrong magic)", path);
      else
        CORRUPT ("%s is truncated: %" G_GUINT64_FORMAT " bytes, less than a header and "
                 "trailer",
                 path, size);
      return NULL;
    }
  if (memcmp (map, MAGIC, 8) != 0)
    {
      CORRUPT ("%s is not an lmlab checkpoint (wrong magic)", path);
      return NULL;
    }
  guint32 version = load_u32 (map + 8);
  if (version != LM_CHECKPOINT_VERSION)
    {
      CORRUPT ("%s has checkpoint format version %u; this lmlab reads version %d only", path,
               version, LM_CHECKPOINT_VERSION);
      return NULL;
    }
  guint32 flags = load_u32 (map + FLAGS_OFFSET);
  if (flags & FLAG_INCOMPLETE)
    {
      CORRUPT ("%s is marked incomplete: the program writing it stopped before the end; "
               "write it again",
               path);
      return NULL;
    }
  if (flags & ~KNOWN_FLAGS)
    {
      CORRUPT ("%s has unknown header flags 0x%x", path, flags);
      return NULL;
    }
  if (memcmp (map + size - 8, TRAILER_MAGIC, 8) != 0)
    {
      CORRUPT ("%s is truncated or damaged: its trailer is missing", path);
      return NULL;
    }

  guint64 expected = load_u64 (map + size - TRAILER_SIZE);
  guint64 actual = lm_checkpoint_compute_checksum (map, size);
  if (actual != expected)
    {
      CORRUPT ("%s is damaged: checksum %016" G_GINT64_MODIFIER "x, expected %016" G_GINT64_MODIFIER
               "x",
               path, actual, expected);
      return NULL;
    }

  if (!checkpoint_read_table (checkpoint, map, size, load_u64 (map + 16), load_u64 (map + 24),
                              error))
    return NULL;
  return g_steal_pointer (&checkpoint);
}

void
lm_checkpoint_free (LmCheckpoint *checkpoint)
{
  if (checkpoint == NULL)
    return;
  if (checkpoint->index)
    g_hash_table_unref (checkpoint->index);
  if (checkpoint->sections)
    g_array_unref (checkpoint->sections);
  if (checkpoint->file)
    g_mapped_file_unref (checkpoint->file);
  g_free (checkpoint->path);
  g_free (checkpoint);
}

static const MappedSection *
checkpoint_find (const LmCheckpoint *checkpoint, const char *name)
{
  guint position = GPOINTER_TO_UINT (g_hash_table_lookup (checkpoint->index, name));
  if (position == 0)
    return NULL;
  return &g_array_index (checkpoint->sections, MappedSection, position - 1);
}

gboolean
lm_checkpoint_has (const LmCheckpoint *checkpoint, const char *name)
{
  g_return_val_if_fail (checkpoint != NULL && name != NULL, FALSE);
  return checkpoint_find (checkpoint, name) != NULL;
}

gboolean
lm_checkpoint_get (const LmCheckpoint *checkpoint, const char *name, const void **data, gsize *len,
                   GError **error)
{
  g_return_val_if_fail (checkpoint != NULL && name != NULL, FALSE);
  const MappedSection *section = checkpoint_find (checkpoint, name);
  if (section == NULL)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT, "%s has no section “%s”", checkpoint->path,
                   name);
      return FALSE;
    }
  if (data)
    *data = section->data;
  if (len)
    *len = section->length;
  return TRUE;
}

gboolean
lm_checkpoint_get_exact (const LmCheckpoint *checkpoint, const char *name, const void **data,
                         gsize len, GError **error)
{
  const void *found;
  gsize found_len;
  if (!lm_checkpoint_get (checkpoint, name, &found, &found_len, error))
    return FALSE;
  if (found_len != len)
    {
      g_set_error (error, LM_ERROR, LM_ERROR_CORRUPT,
                   "%s: section “%s” has %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT,
                   checkpoint->path, name, found_len, len);
      return FALSE;
    }
  if (data)
    *data = found;
  return TRUE;
}

const char *
lm_checkpoint_path (const LmCheckpoint *checkpoint)
{
  g_return_val_if_fail (checkpoint != NULL, NULL);
  return checkpoint->path;
}

guint
lm_checkpoint_n_sections (const LmCheckpoint *checkpoint)
{
  g_return_val_if_fail (checkpoint != NULL, 0);
  return checkpoint->sections->len;
}

const char *
lm_checkpoint_section_name (const LmCheckpoint *checkpoint, guint index)
{
  g_return_val_if_fail (checkpoint != NULL && index < checkpoint->sections->len, NULL);
  return g_array_index (checkpoint->sections, MappedSection, index).name;
}
