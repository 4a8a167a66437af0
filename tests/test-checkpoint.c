/* test-checkpoint.c — the checkpoint format: round trips, streaming sections, the
 * writer's refusals, and a reader that refuses every kind of damage with LM_ERROR_CORRUPT. */
#include "config.h"

#include <string.h>

#include "core/lm-checkpoint.h"
#include "core/lm-error.h"
#include "core/lm-rng.h"
#include "tests/lm-test-util.h"

/* ---- helpers ---------------------------------------------------------------------- */

static guint8 *
random_bytes (gsize len, guint64 seed)
{
  LmRng rng;
  lm_rng_seed (&rng, seed);
  guint8 *data = g_malloc (len ? len : 1);
  for (gsize i = 0; i < len; i++)
    data[i] = (guint8)(lm_rng_next (&rng) >> 56);
  return data;
}

static void
assert_section (LmCheckpoint *checkpoint, const char *name, const void *expected,
                gsize expected_len)
{
  const void *data = NULL;
  gsize len = 12345;
  GError *error = NULL;
  g_assert_true (lm_checkpoint_has (checkpoint, name));
  g_assert_true (lm_checkpoint_get (checkpoint, name, &data, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, expected_len);
  g_assert_nonnull (data);
  g_assert_cmpuint ((guintptr)data % 64, ==, 0); /* usable in place as float arrays */
  if (expected_len > 0)
    g_assert_true (memcmp (data, expected, expected_len) == 0);
}

/* A small valid checkpoint at dir/name; returns the path, fills the file's bytes. */
static char *
write_small (const char *dir, const char *name, guint8 **bytes, gsize *size)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_no_error (error);
  const float weights[5] = { 0.5f, -1.25f, 3.0f, 1e-3f, 42.0f };
  g_assert_true (lm_checkpoint_writer_add (writer, "config", "order=3\n", 8, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "weights", weights, sizeof weights, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "empty", NULL, 0, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  if (bytes)
    {
      g_assert_true (g_file_get_contents (path, (char **)bytes, size, &error));
      g_assert_no_error (error);
    }
  return g_steal_pointer (&path);
}

static void
write_raw (const char *path, const guint8 *bytes, gsize len)
{
  FILE *f = fopen (path, "wb");
  g_assert_nonnull (f);
  if (len > 0)
    g_assert_cmpuint (fwrite (bytes, 1, len, f), ==, len);
  g_assert_cmpint (fclose (f), ==, 0);
}

/* Open must fail with LM_ERROR_CORRUPT, naming the file; returns the message. */
static char *
assert_corrupt (const char *path)
{
  GError *error = NULL;
  LmCheckpoint *checkpoint = lm_checkpoint_open (path, &error);
  if (checkpoint != NULL)
    g_error ("%s opened although damaged", path);
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, path));
  char *message = g_strdup (error->message);
  g_error_free (error);
  return message;
}

static guint
count_files (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

static void
store_le64 (guint8 *p, guint64 v)
{
  v = GUINT64_TO_LE (v);
  memcpy (p, &v, 8);
}

static void
store_le32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_LE (v);
  memcpy (p, &v, 4);
}

/* Recompute the trailer checksum so only the structure is wrong. */
static void
reseal (guint8 *bytes, gsize size)
{
  store_le64 (bytes + size - 16, lm_checkpoint_compute_checksum (bytes, size));
}

/* ---- round trips ------------------------------------------------------------------ */

static void
test_round_trip (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "model.ckpt", NULL);
  GError *error = NULL;
  const gsize large_len = 5u << 20; /* 5 MiB: several write buffers */
  g_autofree guint8 *large = random_bytes (large_len, 7);
  g_autofree guint8 *odd = random_bytes (1001, 8);
  float floats[300];
  for (int i = 0; i < 300; i++)
    floats[i] = (float)i * 0.25f - 10.0f;

  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_no_error (error);
  g_assert_true (lm_checkpoint_writer_add (writer, "empty-first", NULL, 0, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "one", "x", 1, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "odd", odd, 1001, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "large", large, large_len, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "floats", floats, sizeof floats, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "empty-last", "", 0, &error));
  g_assert_no_error (error);
  /* Nothing at the destination until commit. */
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (count_files (dir), ==, 1); /* the temporary file became path */

  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lm_checkpoint_path (checkpoint), ==, path);
  g_assert_cmpuint (lm_checkpoint_n_sections (checkpoint), ==, 6);
  g_assert_cmpstr (lm_checkpoint_section_name (checkpoint, 0), ==, "empty-first");
  g_assert_cmpstr (lm_checkpoint_section_name (checkpoint, 3), ==, "large");
  g_assert_cmpstr (lm_checkpoint_section_name (checkpoint, 5), ==, "empty-last");
  assert_section (checkpoint, "empty-first", NULL, 0);
  assert_section (checkpoint, "one", "x", 1);
  assert_section (checkpoint, "odd", odd, 1001);
  assert_section (checkpoint, "large", large, large_len);
  assert_section (checkpoint, "floats", floats, sizeof floats);
  assert_section (checkpoint, "empty-last", NULL, 0);

  const void *data;
  g_assert_true (lm_checkpoint_get_exact (checkpoint, "floats", &data, sizeof floats, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (((const float *)data)[299], ==, floats[299]);

  g_assert_false (lm_checkpoint_has (checkpoint, "missing"));
  g_assert_false (lm_checkpoint_get (checkpoint, "missing", &data, NULL, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "missing"));
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_assert_false (lm_checkpoint_get_exact (checkpoint, "floats", &data, 4, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "floats"));
  g_clear_error (&error);

  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  lm_test_rmtree (dir);
}

static void
test_no_sections (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "empty.ckpt", NULL);
  GError *error = NULL;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (lm_checkpoint_n_sections (checkpoint), ==, 0);
  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  lm_test_rmtree (dir);
}

static void
test_streaming (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "stream.ckpt", NULL);
  GError *error = NULL;
  const gsize len = 3u << 20;
  g_autofree guint8 *big = random_bytes (len, 11);
  g_autofree guint8 *piece = random_bytes (777, 12);

  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_no_error (error);
  g_assert_true (lm_checkpoint_writer_add (writer, "before", "abc", 3, &error));
  /* Pieces of awkward sizes, some larger than the writer's buffer, one empty. */
  g_assert_true (lm_checkpoint_writer_begin (writer, "table", &error));
  gsize done = 0, step = 1;
  while (done < len)
    {
      gsize n = MIN (step, len - done);
      g_assert_true (lm_checkpoint_writer_write (writer, big + done, n, &error));
      g_assert_true (lm_checkpoint_writer_write (writer, NULL, 0, &error));
      done += n;
      step = step * 7 + 3;
      if (step > (2u << 20))
        step = 13;
    }
  g_assert_true (lm_checkpoint_writer_end (writer, &error));
  /* A streamed section with no writes is an empty section. */
  g_assert_true (lm_checkpoint_writer_begin (writer, "nothing", &error));
  g_assert_true (lm_checkpoint_writer_end (writer, &error));
  /* Many small writes. */
  g_assert_true (lm_checkpoint_writer_begin (writer, "small-writes", &error));
  for (gsize i = 0; i < 777; i++)
    g_assert_true (lm_checkpoint_writer_write (writer, piece + i, 1, &error));
  g_assert_true (lm_checkpoint_writer_end (writer, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "after", "z", 1, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);

  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  assert_section (checkpoint, "before", "abc", 3);
  assert_section (checkpoint, "table", big, len);
  assert_section (checkpoint, "nothing", NULL, 0);
  assert_section (checkpoint, "small-writes", piece, 777);
  assert_section (checkpoint, "after", "z", 1);
  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  lm_test_rmtree (dir);
}

/* ---- what the writer refuses ----------------------------------------------------------- */

static void
test_writer_refusals (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "w.ckpt", NULL);
  GError *error = NULL;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_no_error (error);

  g_assert_true (lm_checkpoint_writer_add (writer, "a", "1", 1, &error));
  g_assert_false (lm_checkpoint_writer_add (writer, "a", "2", 1, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "twice"));
  g_clear_error (&error);
  /* A streamed section under a used name, too. */
  g_assert_false (lm_checkpoint_writer_begin (writer, "a", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);

  g_assert_false (lm_checkpoint_writer_add (writer, "", "x", 1, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);
  char long_name[257];
  memset (long_name, 'n', 256);
  long_name[256] = '\0';
  g_assert_false (lm_checkpoint_writer_add (writer, long_name, "x", 1, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);
  long_name[255] = '\0'; /* 255 bytes is allowed */
  g_assert_true (lm_checkpoint_writer_add (writer, long_name, "x", 1, &error));
  g_assert_no_error (error);

  g_assert_false (lm_checkpoint_writer_write (writer, "x", 1, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (lm_checkpoint_writer_end (writer, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);

  g_assert_true (lm_checkpoint_writer_begin (writer, "open", &error));
  g_assert_false (lm_checkpoint_writer_begin (writer, "b", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (lm_checkpoint_writer_add (writer, "c", "x", 1, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (lm_checkpoint_writer_commit (writer, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "open"));
  g_clear_error (&error);
  g_assert_true (lm_checkpoint_writer_end (writer, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  /* A committed writer takes nothing more. */
  g_assert_false (lm_checkpoint_writer_add (writer, "late", "x", 1, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_FAILED);
  g_clear_error (&error);
  g_clear_pointer (&writer, lm_checkpoint_writer_free);

  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  assert_section (checkpoint, "a", "1", 1);
  assert_section (checkpoint, long_name, "x", 1);
  assert_section (checkpoint, "open", NULL, 0);
  g_assert_false (lm_checkpoint_has (checkpoint, "c"));
  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  lm_test_rmtree (dir);
}

static void
test_abandoned_writer (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = write_small (dir, "keep.ckpt", NULL, NULL);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (path, &before, &before_len, NULL));

  GError *error = NULL;
  LmCheckpointWriter *writer = lm_checkpoint_writer_new (path, &error);
  g_assert_no_error (error);
  g_autofree guint8 *big = random_bytes (2u << 20, 3);
  g_assert_true (lm_checkpoint_writer_add (writer, "config", "order=5\n", 8, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "big", big, 2u << 20, &error));
  g_assert_cmpuint (count_files (dir), ==, 2); /* the old file and the temporary one */
  lm_checkpoint_writer_free (writer);

  g_assert_cmpuint (count_files (dir), ==, 1);
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  assert_section (checkpoint, "config", "order=3\n", 8);
  g_assert_false (lm_checkpoint_has (checkpoint, "big"));
  g_clear_pointer (&checkpoint, lm_checkpoint_free);

  /* Without an old file, an abandoned writer leaves nothing. */
  g_autofree char *fresh = g_build_filename (dir, "fresh.ckpt", NULL);
  writer = lm_checkpoint_writer_new (fresh, &error);
  g_assert_no_error (error);
  g_assert_true (lm_checkpoint_writer_add (writer, "x", "1", 1, &error));
  lm_checkpoint_writer_free (writer);
  g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (dir), ==, 1);
  lm_test_rmtree (dir);
}

static void
test_replace (void)
{
  /* A commit replaces an existing file atomically. */
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = write_small (dir, "r.ckpt", NULL, NULL);
  GError *error = NULL;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_true (lm_checkpoint_writer_add (writer, "config", "order=4\n", 8, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (path, &error);
  g_assert_no_error (error);
  assert_section (checkpoint, "config", "order=4\n", 8);
  g_assert_false (lm_checkpoint_has (checkpoint, "weights"));
  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  g_assert_cmpuint (count_files (dir), ==, 1);
  lm_test_rmtree (dir);
}

static void
test_missing_directory (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "no", "such", "dir", "m.ckpt", NULL);
  GError *error = NULL;
  LmCheckpointWriter *writer = lm_checkpoint_writer_new (path, &error);
  g_assert_null (writer);
  g_assert_error (error, LM_ERROR, LM_ERROR_IO);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  LmCheckpoint *checkpoint = lm_checkpoint_open (path, &error);
  g_assert_null (checkpoint);
  g_assert_error (error, LM_ERROR, LM_ERROR_IO);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  lm_test_rmtree (dir);
}

/* ---- what the reader refuses -------------------------------------------------------- */

static void
test_truncated (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree guint8 *bytes = NULL;
  gsize size;
  g_autofree char *path = write_small (dir, "t.ckpt", &bytes, &size);
  g_autofree char *cut = g_build_filename (dir, "cut.ckpt", NULL);
  /* Every shorter length of the small file, from empty on. */
  for (gsize len = 0; len < size; len++)
    {
      write_raw (cut, bytes, len);
      g_free (assert_corrupt (cut));
    }

  /* A larger file cut at section boundaries, mid-section, in the table and trailer. */
  g_autofree char *big_path = g_build_filename (dir, "big.ckpt", NULL);
  GError *error = NULL;
  g_autofree guint8 *data = random_bytes (300000, 5);
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (big_path, &error);
  g_assert_true (lm_checkpoint_writer_add (writer, "a", data, 100000, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "b", data + 100000, 200000, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  g_autofree guint8 *big = NULL;
  gsize big_size;
  g_assert_true (g_file_get_contents (big_path, (char **)&big, &big_size, NULL));
  const gsize lengths[] = { 8,
                            63,
                            64,
                            65,
                            4096,
                            100000,
                            100064,
                            100096,
                            250000,
                            big_size - 60,
                            big_size - 17,
                            big_size - 16,
                            big_size - 9,
                            big_size - 8,
                            big_size - 1 };
  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      write_raw (cut, big, lengths[i]);
      g_free (assert_corrupt (cut));
    }
  /* The untouched file still opens. */
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (big_path, &error);
  g_assert_no_error (error);
  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  lm_test_rmtree (dir);
}

static void
test_bit_flips (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree guint8 *bytes = NULL;
  gsize size;
  g_autofree char *path = write_small (dir, "f.ckpt", &bytes, &size);
  g_autofree char *flipped = g_build_filename (dir, "flipped.ckpt", NULL);
  g_assert_cmpuint (size, <, 400); /* small enough to try every bit */
  for (gsize bit = 0; bit < size * 8; bit++)
    {
      bytes[bit / 8] ^= (guint8)(1u << (bit % 8));
      write_raw (flipped, bytes, size);
      g_free (assert_corrupt (flipped));
      bytes[bit / 8] ^= (guint8)(1u << (bit % 8));
    }
  /* Restored, it opens again: the loop damaged what it meant to and nothing else. */
  write_raw (flipped, bytes, size);
  GError *error = NULL;
  g_autoptr (LmCheckpoint) checkpoint = lm_checkpoint_open (flipped, &error);
  g_assert_no_error (error);
  g_clear_pointer (&checkpoint, lm_checkpoint_free);
  lm_test_rmtree (dir);
}

static void
test_header_checks (void)
{
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree guint8 *bytes = NULL;
  gsize size;
  g_autofree char *path = write_small (dir, "h.ckpt", &bytes, &size);
  g_autofree char *bad = g_build_filename (dir, "bad.ckpt", NULL);
  g_autofree guint8 *copy = g_malloc (size);
  char *message;

  /* INCOMPLETE set, checksum otherwise right (as a crashed writer leaves it). */
  memcpy (copy, bytes, size);
  copy[12] |= 1;
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "incomplete"));
  g_free (message);

  /* Another format version, resealed so only the version is wrong. */
  memcpy (copy, bytes, size);
  store_le32 (copy + 8, LM_CHECKPOINT_VERSION + 1);
  reseal (copy, size);
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "version 2"));
  g_free (message);

  memcpy (copy, bytes, size);
  memcpy (copy, "NOTACKPT", 8);
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "magic"));
  g_free (message);

  memcpy (copy, bytes, size);
  copy[13] |= 0x80; /* a flag this version does not know */
  reseal (copy, size);
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "flags"));
  g_free (message);

  memcpy (copy, bytes, size);
  copy[size - 1] = 'X';
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "trailer"));
  g_free (message);

  memcpy (copy, bytes, size);
  copy[70] ^= 0x10; /* inside the first section */
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "checksum"));
  g_free (message);

  /* The writer's own checksum is what compute_checksum says. */
  guint64 stored;
  memcpy (&stored, bytes + size - 16, 8);
  g_assert_cmpuint (GUINT64_FROM_LE (stored), ==, lm_checkpoint_compute_checksum (bytes, size));

  /* Plain text is not a checkpoint. */
  g_autofree char *text = lm_test_write (dir, "text.ckpt", "hello world\n", -1);
  message = assert_corrupt (text);
  g_assert_nonnull (strstr (message, "magic"));
  g_free (message);
  lm_test_rmtree (dir);
}

/* Offsets of the small file's table (see write_small: sections config, weights, empty). */
static gsize
small_table_offset (const guint8 *bytes)
{
  guint64 v;
  memcpy (&v, bytes + 24, 8);
  return (gsize)GUINT64_FROM_LE (v);
}

static void
test_table_bounds (void)
{
  /* Files whose checksum is right but whose table lies: the reader must check every
   * offset and length itself. */
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree guint8 *bytes = NULL;
  gsize size;
  g_autofree char *path = write_small (dir, "b.ckpt", &bytes, &size);
  g_autofree char *bad = g_build_filename (dir, "bad.ckpt", NULL);
  g_autofree guint8 *copy = g_malloc (size);
  gsize table = small_table_offset (bytes);
  /* First entry: u32 6, "config", u64 offset, u64 length. */
  gsize first_offset = table + 4 + 6, first_length = first_offset + 8;
  char *message;

  struct
  {
    gsize at;
    guint64 value;
    gboolean wide;
    const char *expect;
  } cases[] = {
    { 24, size, TRUE, "table offset" },                  /* table beyond the file */
    { 24, 8, TRUE, "table offset" },                     /* table inside the header */
    { 16, G_MAXUINT64, TRUE, "sections cannot fit" },    /* absurd section count */
    { 16, 2, TRUE, "table ends" },                       /* fewer sections than entries */
    { 16, 4, TRUE, "cannot fit" },                       /* more entries than the table holds */
    { table, 0, FALSE, "name length" },                  /* empty name */
    { table, 300, FALSE, "name length" },                /* name too long */
    { table, 200, FALSE, "name length" },                /* name runs past the table */
    { first_offset, 65, TRUE, "outside" },               /* misaligned */
    { first_offset, 0, TRUE, "outside" },                /* inside the header */
    { first_offset, G_MAXUINT64 - 63, TRUE, "outside" }, /* aligned, near 2^64 */
    { first_length, G_MAXUINT64, TRUE, "outside" },      /* offset + length overflows */
    { first_length, size, TRUE, "outside" },             /* beyond the file */
    { first_length, 200, TRUE, "outside" },              /* runs into the table */
    { first_length, 100, TRUE, "overlaps" },             /* overlaps the next section */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      memcpy (copy, bytes, size);
      if (cases[i].wide)
        store_le64 (copy + cases[i].at, cases[i].value);
      else
        store_le32 (copy + cases[i].at, (guint32)cases[i].value);
      reseal (copy, size);
      write_raw (bad, copy, size);
      message = assert_corrupt (bad);
      if (strstr (message, cases[i].expect) == NULL)
        g_error ("case %" G_GSIZE_FORMAT ": “%s” does not say “%s”", i, message, cases[i].expect);
      g_free (message);
    }

  /* A name with a NUL byte inside. */
  memcpy (copy, bytes, size);
  gsize second = table + 4 + 6 + 16; /* u32 7 "weights" */
  memcpy (copy + second + 4, "config!", 7);
  copy[second + 4 + 6] = '\0'; /* "config\0": a NUL inside a name */
  reseal (copy, size);
  write_raw (bad, copy, size);
  message = assert_corrupt (bad);
  g_assert_nonnull (strstr (message, "NUL"));
  g_free (message);
  lm_test_rmtree (dir);
}

static void
test_duplicate_in_table (void)
{
  /* Sections "ab" and "cd" renamed on disk to "ab" and "ab". */
  g_autofree char *dir = lm_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "d.ckpt", NULL);
  GError *error = NULL;
  g_autoptr (LmCheckpointWriter) writer = lm_checkpoint_writer_new (path, &error);
  g_assert_true (lm_checkpoint_writer_add (writer, "ab", "1", 1, &error));
  g_assert_true (lm_checkpoint_writer_add (writer, "cd", "2", 1, &error));
  g_assert_true (lm_checkpoint_writer_commit (writer, &error));
  g_assert_no_error (error);
  g_autofree guint8 *bytes = NULL;
  gsize size;
  g_assert_true (g_file_get_contents (path, (char **)&bytes, &size, NULL));
  gsize table = small_table_offset (bytes);
  gsize second_name = table + 4 + 2 + 16 + 4;
  g_assert_cmpmem (bytes + second_name, 2, "cd", 2);
  memcpy (bytes + second_name, "ab", 2);
  reseal (bytes, size);
  write_raw (path, bytes, size);
  char *message = assert_corrupt (path);
  g_assert_nonnull (strstr (message, "twice"));
  g_free (message);
  lm_test_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/checkpoint/round-trip", test_round_trip);
  g_test_add_func ("/checkpoint/no-sections", test_no_sections);
  g_test_add_func ("/checkpoint/streaming", test_streaming);
  g_test_add_func ("/checkpoint/writer-refusals", test_writer_refusals);
  g_test_add_func ("/checkpoint/abandoned-writer", test_abandoned_writer);
  g_test_add_func ("/checkpoint/replace", test_replace);
  g_test_add_func ("/checkpoint/missing-directory", test_missing_directory);
  g_test_add_func ("/checkpoint/truncated", test_truncated);
  g_test_add_func ("/checkpoint/bit-flips", test_bit_flips);
  g_test_add_func ("/checkpoint/header-checks", test_header_checks);
  g_test_add_func ("/checkpoint/table-bounds", test_table_bounds);
  g_test_add_func ("/checkpoint/duplicate-in-table", test_duplicate_in_table);
  return g_test_run ();
}
