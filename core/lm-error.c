/* lm-error.c — the LM_ERROR domain. */
#include "config.h"

#include "core/lm-error.h"

G_DEFINE_QUARK (lm-error-quark, lm_error)

int
lm_error_exit_status (const GError *error)
{
  if (error == NULL)
    return 0;
  if (error->domain == G_FILE_ERROR || error->domain == G_OPTION_ERROR
      || error->domain == G_KEY_FILE_ERROR || error->domain == G_CONVERT_ERROR)
    return 2;
  if (error->domain != LM_ERROR)
    return 1;
  switch ((LmErrorCode) error->code)
    {
    case LM_ERROR_IO:
    case LM_ERROR_INVALID_INPUT:
    case LM_ERROR_INVALID_CONFIG:
    case LM_ERROR_USAGE:
    case LM_ERROR_CORRUPT:
    case LM_ERROR_MISMATCH:
    case LM_ERROR_UNSUPPORTED:
      return 2;
    default:
      return 1;
    }
}
