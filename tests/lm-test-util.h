/* lm-test-util.h — helpers shared by the test programs (header only). */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

/* Path of a file under ../shared/data, or NULL after marking the test skipped when the
 * shared corpora are absent (tests must skip cleanly then). Free with g_free. */
static inline char *
lm_test_shared_data (const char *relative)
{
  const char *root = g_getenv ("LMLAB_SHARED_DATA");
  char *path = root ? g_build_filename (root, relative, NULL) : NULL;
  if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *msg = g_strdup_printf ("shared corpus %s not found (set LMLAB_SHARED_DATA)",
                                              relative);
      g_test_skip (msg);
      g_free (path);
      return NULL;
    }
  return path;
}

/* A fresh temporary directory for one test; remove with lm_test_rmtree. */
static inline char *
lm_test_tmpdir (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("lmlab-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
lm_test_rmtree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir && (name = g_dir_read_name (dir)))
        {
          char *child = g_build_filename (path, name, NULL);
          lm_test_rmtree (child);
          g_free (child);
        }
      if (dir)
        g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* Write text to dir/name and return the path (g_free it). */
static inline char *
lm_test_write (const char *dir, const char *name, const char *data, gssize len)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
  return path;
}
