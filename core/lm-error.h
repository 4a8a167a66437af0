/* lm-error.h — the one error domain of lmlab.
 *
 * Every function that can fail for a reason outside the program (files, formats,
 * configurations, corpora, memory) returns gboolean and takes GError **error last.
 * Callers add context on the way up with g_prefix_error(). Library code never prints
 * and never exits; the lmlab command maps codes to exit statuses (lm_error_exit_status).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LM_ERROR (lm_error_quark ())

typedef enum {
  LM_ERROR_FAILED,        /* anything else: a runtime failure */
  LM_ERROR_IO,            /* a file could not be read or written */
  LM_ERROR_INVALID_INPUT, /* bad content: encoding, format, empty corpus, ... */
  LM_ERROR_INVALID_CONFIG,/* unknown key, bad value, out of range */
  LM_ERROR_USAGE,         /* bad command-line usage */
  LM_ERROR_CORRUPT,       /* a checkpoint or model file failed its checks */
  LM_ERROR_MISMATCH,      /* vocabularies, levels or model types that do not go together */
  LM_ERROR_UNSUPPORTED,   /* a capability the model does not have */
  LM_ERROR_NUMERIC,       /* a non-finite loss or gradient that could not be recovered */
  LM_ERROR_NO_MEMORY,     /* an allocation that would exceed what is available */
  LM_ERROR_CANCELLED,     /* stopped by the user (Ctrl-C); work so far is saved */
} LmErrorCode;

GQuark lm_error_quark (void);

/* 2 for errors in the user's input or usage, 1 for runtime failures (DESIGN.md). */
int lm_error_exit_status (const GError *error);

G_END_DECLS
