/* lm-registry.h — the built-in model classes, looked up by name.
 *
 * Adding a model is one folder exporting one `const LmModelClass` and one line in the
 * table in lm-registry.c. Every class is validated against its capabilities
 * (lm_model_class_validate) by lm_registry_check(), which the lmlab command runs at
 * start-up and a test runs too.
 */
#pragma once

#include "core/lm-model.h"

G_BEGIN_DECLS

/* NULL-terminated array of the built-in classes, in display order. */
const LmModelClass *const *lm_registry_classes (void);
/* The class of that name, or NULL with LM_ERROR_USAGE listing the known names. */
const LmModelClass *lm_registry_lookup (const char *name, GError **error);
/* Validate every built-in class; the first failure is reported. */
gboolean lm_registry_check (GError **error);
/* "ngram|rnn|lstm|gru|transformer" (static string). */
const char *lm_registry_names (void);

G_END_DECLS
