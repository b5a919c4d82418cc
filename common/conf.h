/** @file conf.h  Typed configuration from one INI file plus --key=value flags.
 *
 * Each binary owns a table of conf_item describing its section of
 * srtprec.conf.  conf_load fills a caller-owned struct from the defaults, the
 * file (only the binary's own section; other sections are ignored) and then
 * the command line.  Unknown keys and bad values are errors with a message
 * naming the file, line and key; so is a key under a section that is not
 * one of CONF_SECTIONS (a misspelt [recoder] would drop its keys silently).
 */
#ifndef SR_CONF_H
#define SR_CONF_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum { CONF_STR_MAX = 512 };

/** Every section of srtprec.conf: the daemons' and the test tools'. */
#define CONF_SECTIONS \
    "keyagent", "recorder", "api", "store", "endpoint-sim", "loadgen", "siprec-src", "bench-siprec"
#define CONF_SECTIONS_TEXT "keyagent, recorder, api, store, endpoint-sim, loadgen, siprec-src, bench-siprec"

/** What conf_load found instead of a configuration (*help_shown). */
enum { CONF_SHOWN_NONE = 0, CONF_SHOWN_HELP = 1, CONF_SHOWN_VERSION = 2 };

enum conf_type {
    CONF_STR,  /**< char[CONF_STR_MAX] */
    CONF_UINT, /**< unsigned long, within [min, max] */
    CONF_BOOL, /**< bool: yes/no, true/false, on/off, 1/0 */
};

struct conf_item {
    const char *name; /**< key, also --name=value */
    enum conf_type type;
    size_t offset;    /**< offsetof(struct cfg, field) */
    const char *def;  /**< default as text; NULL = empty string / 0 */
    unsigned long min, max;
    const char *help;
};

/** Fill cfg.  argv may hold --config=PATH, --help, --version and
 *  --key=value items; everything else is an error.  On SR_OK with
 *  *help_shown CONF_SHOWN_HELP or CONF_SHOWN_VERSION, the caller prints
 *  that on stdout and exits 0.  why receives a one-line reason on failure. */
enum sr_err conf_load(const struct conf_item *items, size_t n, void *cfg, const char *section,
                      int argc, char **argv, int *help_shown, char *why, size_t whylen);

/** Print "--name=DEFAULT  help" lines. */
void conf_usage(FILE *f, const char *program, const struct conf_item *items, size_t n);

#endif
