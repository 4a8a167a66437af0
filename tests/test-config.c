/* test-config.c — named hyperparameters: parsing, validation, defaults, round trip. */
#include "config.h"

#include "core/lm-config.h"
#include "core/lm-error.h"

#include <string.h>

static const LmOptionSpec specs[] = {
  { "hidden", LM_OPTION_INT, "128", 1, 65536, NULL, "hidden units" },
  { "lr", LM_OPTION_DOUBLE, "0.002", 0, 100, NULL, "learning rate" },
  { "smoothing", LM_OPTION_STRING, "mkn", 0, -1, "mle|addk|wb|abs|kn|mkn", "smoothing" },
  { "tied", LM_OPTION_BOOL, "false", 0, -1, NULL, "tie embeddings" },
  { "name", LM_OPTION_STRING, NULL, 0, -1, NULL, "required name" },
  { NULL },
};
static const LmOptionSpec *const tables[] = { specs, NULL };

static void
test_config_defaults (void)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  lm_config_set (config, "name", "x", "test");
  g_assert_true (lm_config_validate (config, tables, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lm_config_get_int (config, "hidden"), ==, 128);
  g_assert_cmpfloat (lm_config_get_double (config, "lr"), ==, 0.002);
  g_assert_cmpstr (lm_config_get_string (config, "smoothing"), ==, "mkn");
  g_assert_false (lm_config_get_bool (config, "tied"));
  g_assert_cmpstr (lm_config_origin (config, "hidden"), ==, "default");
}

static void
test_config_assignment (void)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (lm_config_set_assignment (config, " hidden = 200 ", "--set", &error));
  g_assert_true (lm_config_set_assignment (config, "tied=yes", "--set", &error));
  g_assert_true (lm_config_set_assignment (config, "name=a=b", "--set", &error));
  g_assert_true (lm_config_set_assignment (config, "lr=1e-3", "--set", &error));
  g_assert_true (lm_config_validate (config, tables, &error));
  g_assert_cmpint (lm_config_get_int (config, "hidden"), ==, 200);
  g_assert_true (lm_config_get_bool (config, "tied"));
  g_assert_cmpstr (lm_config_get_string (config, "name"), ==, "a=b");
  g_assert_cmpfloat (lm_config_get_double (config, "lr"), ==, 1e-3);
  g_assert_false (lm_config_set_assignment (config, "novalue", "--set", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_USAGE);
  g_clear_error (&error);
  g_assert_false (lm_config_set_assignment (config, "=3", "--set", &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_USAGE);
}

static void
expect_invalid (const char *key, const char *value, const char *fragment)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  lm_config_set (config, "name", "x", "test");
  lm_config_set (config, key, value, "exp.ini:7");
  g_assert_false (lm_config_validate (config, tables, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "exp.ini:7"));
  g_assert_nonnull (strstr (error->message, fragment));
}

static void
test_config_invalid (void)
{
  expect_invalid ("hidden", "0", "out of range");
  expect_invalid ("hidden", "12.5", "not an integer");
  expect_invalid ("hidden", "lots", "not an integer");
  expect_invalid ("lr", "nan", "not a number");
  expect_invalid ("lr", "-1", "out of range");
  expect_invalid ("smoothing", "good-turing", "not one of");
  expect_invalid ("tied", "maybe", "true or false");
  expect_invalid ("hiden", "3", "did you mean 'hidden'");
  expect_invalid ("zzzzzzzz", "3", "unknown key");
}

static void
test_config_required (void)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  g_assert_false (lm_config_validate (config, tables, &error));
  g_assert_error (error, LM_ERROR, LM_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "name"));
}

static void
test_config_text_round_trip (void)
{
  g_autoptr (LmConfig) config = lm_config_new ();
  g_autoptr (GError) error = NULL;
  lm_config_set (config, "name", "x", "test");
  lm_config_set (config, "hidden", "64", "test");
  g_assert_true (lm_config_validate (config, tables, &error));
  g_autofree char *text = lm_config_to_text (config);
  g_assert_cmpstr (text, ==, "hidden=64\nlr=0.002\nname=x\nsmoothing=mkn\ntied=false\n");
  g_autoptr (LmConfig) back = lm_config_new ();
  g_assert_true (lm_config_from_text (back, text, "model", &error));
  g_autofree char *again = lm_config_to_text (back);
  g_assert_cmpstr (text, ==, again);
  g_assert_cmpstr (lm_config_origin (back, "lr"), ==, "model:2");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults", test_config_defaults);
  g_test_add_func ("/config/assignment", test_config_assignment);
  g_test_add_func ("/config/invalid", test_config_invalid);
  g_test_add_func ("/config/required", test_config_required);
  g_test_add_func ("/config/text-round-trip", test_config_text_round_trip);
  return g_test_run ();
}
