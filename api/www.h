/** @file www.h  The auditor web page, embedded in the binary at build time.
 *
 * api/embed_www.py turns the files of api/www/ into www_data.c when the
 * daemon is built, so nothing is read from disk at run time: no directory to
 * configure, no path traversal to get wrong, and the page always matches the
 * API version it talks to.  Files are served read-only from .rodata.
 */
#ifndef API_WWW_H
#define API_WWW_H

#include <stddef.h>

#include "slice.h"

/** Only same-origin script, style and fetch(); audio only from blob: URLs
 *  (the script fetches with the Authorization header and hands the audio
 *  element an object URL); no inline code, no framing, no forms, no plugins. */
#define API_WWW_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "               \
    "media-src blob:; img-src 'self'; base-uri 'none'; form-action 'none'; "                       \
    "frame-ancestors 'none'"

struct api_www_file {
    const char *name; /**< "index.html", "app.js", ... */
    const char *type; /**< Content-Type */
    const unsigned char *data;
    size_t len;
};

/** The embedded file called name ("" means index.html); NULL if none. */
const struct api_www_file *api_www_find(struct slice name);

#endif
