/** @file siprec_priv.h  Helpers shared by the siprec modules (not API). */
#ifndef SIPREC_PRIV_H
#define SIPREC_PRIV_H

#include "siprec.h"

/** RFC 2045 token character. */
bool mime_tchar(char c);
/** Split "type/subtype *(;param)" into the media type (trimmed, no
 *  parameters) and the parameter text after it (starting at ";" or empty).
 *  false if type or subtype is not a token. */
bool mime_type_split(struct slice value, struct slice *type, struct slice *params);
/** Next parameter of params (advanced past it): name trimmed; value raw
 *  (quotes kept, trimmed), empty when there is no "=".  *done when none is
 *  left.  false for a malformed parameter (no name, unterminated quote,
 *  junk after a quoted value). */
bool mime_param_next(struct slice *params, struct slice *name, struct slice *value, bool *done);
/** The value of a parameter without its quotes, quoted-pairs undone, into
 *  out[cap] with a NUL; false if it does not fit or is malformed. */
bool mime_unquote(struct slice value, char *out, size_t cap, size_t *len);

#endif
