/** @file tap.h  A tiny TAP producer for unit tests (meson protocol: 'tap').
 *
 *   tap_ok(cond, "fmt", ...)  one test point
 *   tap_diag("fmt", ...)      a "# ..." comment line
 *   return tap_done();        prints the plan; non-zero exit if anything failed
 */
#ifndef SR_TAP_H
#define SR_TAP_H

#include <stdbool.h>

bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_skip(const char *why);
int tap_done(void);

#endif
