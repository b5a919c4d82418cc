/** @file version.h  What every binary prints for --version.
 *
 * The version is meson's project version plus `git describe` of the tree
 * it was built from (taken at build time by vcs_tag, so a rebuilt checkout
 * never reports a stale commit; a build outside git says the project
 * version alone).
 */
#ifndef SR_VERSION_H
#define SR_VERSION_H

#include <stdbool.h>
#include <stdio.h>

/** "0.1.0 (git 0421ae4-dirty)", or "0.1.0" outside a git checkout. */
const char *sr_version(void);

/** Print "PROGRAM VERSION\n" to f. */
void sr_version_print(FILE *f, const char *program);

/** Whether argv[1..argc) holds "--version" (for binaries without conf_load). */
bool sr_version_asked(int argc, char **argv);

#endif
