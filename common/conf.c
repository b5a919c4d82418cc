/** @file conf.c  INI (inih) plus command-line configuration. */
#include "conf.h"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "slice.h"

struct load_ctx {
    const struct conf_item *items;
    size_t n;
    void *cfg;
    const char *section;
    const char *origin;
    char *why;
    size_t whylen;
    bool failed;
    FILE *f;
    unsigned line;         /* line of the text the reader returned last */
    unsigned section_line; /* line of the last section header */
    bool at_line_start;
};

/* The sections of the one srtprec.conf (conf.h): a name outside them is a
 * misspelling that would otherwise silently drop its keys. */
static const char *const known_sections[] = { CONF_SECTIONS };

/* fgets for inih that counts lines (inih's handler has no line number in
 * Debian's build) and notes where each section header is. */
static char *count_lines(char *str, int num, void *user)
{
    struct load_ctx *c = user;
    char *got = fgets(str, num, c->f);
    size_t len;

    if (!got)
        return NULL;
    if (c->at_line_start) {
        const char *p = str;
        c->line++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[')
            c->section_line = c->line;
    }
    len = strlen(str);
    c->at_line_start = len > 0 && str[len - 1] == '\n';
    return got;
}

static bool section_known(const struct load_ctx *c, const char *section)
{
    if (strcmp(section, c->section) == 0 || section[0] == '\0')
        return true;
    for (size_t i = 0; i < sizeof(known_sections) / sizeof(known_sections[0]); i++)
        if (strcmp(section, known_sections[i]) == 0)
            return true;
    return false;
}

static const struct conf_item *find_item(const struct conf_item *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, name) == 0)
            return &items[i];
    return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *yes[] = { "yes", "true", "on", "1" }, *no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0)
            return (*out = true), true;
        if (strcmp(v, no[i]) == 0)
            return (*out = false), true;
    }
    return false;
}

/* Returns NULL on success, else a static reason. */
static const char *set_value(const struct conf_item *it, void *cfg, const char *value)
{
    char *field = (char *)cfg + it->offset;
    uint64_t u;

    switch (it->type) {
    case CONF_STR:
        if (!slice_copy_cstr(slice_cstr(value), field, CONF_STR_MAX))
            return "value too long";
        return NULL;
    case CONF_UINT:
        if (!slice_to_u64(slice_cstr(value), UINT64_MAX, &u) || u < it->min || u > it->max)
            return "not an unsigned integer within range";
        *(unsigned long *)(void *)field = (unsigned long)u;
        return NULL;
    case CONF_BOOL:
        if (!parse_bool(value, (bool *)(void *)field))
            return "not a boolean (yes/no)";
        return NULL;
    }
    return "unknown type";
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *c = user;
    const struct conf_item *it;
    const char *bad;

    if (!section_known(c, section)) {
        snprintf(c->why, c->whylen, "%s:%u: unknown section [%s] (known: %s)", c->origin,
                 c->section_line, section, CONF_SECTIONS_TEXT);
        c->failed = true;
        return 0;
    }
    if (strcmp(section, c->section) != 0)
        return 1;
    it = find_item(c->items, c->n, name);
    if (!it) {
        snprintf(c->why, c->whylen, "%s: [%s] unknown key '%s'", c->origin, section, name);
        c->failed = true;
        return 0;
    }
    bad = set_value(it, c->cfg, value);
    if (bad) {
        snprintf(c->why, c->whylen, "%s: [%s] %s = '%s': %s", c->origin, section, name, value, bad);
        c->failed = true;
        return 0;
    }
    return 1;
}

enum sr_err conf_load(const struct conf_item *items, size_t n, void *cfg, const char *section,
                      int argc, char **argv, int *help_shown, char *why, size_t whylen)
{
    struct load_ctx c = { .items = items, .n = n, .cfg = cfg, .section = section, .why = why,
                          .whylen = whylen, .at_line_start = true };
    const char *path = NULL;

    *help_shown = 0;
    why[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *bad = set_value(&items[i], cfg, items[i].def ? items[i].def
                                                    : items[i].type == CONF_STR ? "" : "0");
        if (bad) {
            snprintf(why, whylen, "built-in default of %s: %s", items[i].name, bad);
            return SR_EINVAL;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help_shown = CONF_SHOWN_HELP;
            return SR_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            *help_shown = CONF_SHOWN_VERSION;
            return SR_OK;
        }
        if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    if (path) {
        int line;
        c.origin = path;
        c.f = fopen(path, "re");
        if (!c.f) {
            snprintf(why, whylen, "%s: cannot open: %s", path, strerror(errno));
            return SR_EIO;
        }
        line = ini_parse_stream(count_lines, &c, on_ini, &c);
        fclose(c.f);
        if (c.failed)
            return SR_EINVAL;
        if (line > 0) {
            snprintf(why, whylen, "%s:%d: syntax error", path, line);
            return SR_EPARSE;
        }
    }
    for (int i = 1; i < argc; i++) {
        char name[128];
        const char *arg = argv[i], *eq;
        const struct conf_item *it;
        const char *bad;

        if (strncmp(arg, "--config=", 9) == 0)
            continue;
        eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) != 0 || !eq || (size_t)(eq - arg - 2) >= sizeof(name)) {
            snprintf(why, whylen, "argument '%s': expected --key=value", arg);
            return SR_EINVAL;
        }
        memcpy(name, arg + 2, (size_t)(eq - arg - 2));
        name[eq - arg - 2] = '\0';
        it = find_item(items, n, name);
        if (!it) {
            snprintf(why, whylen, "unknown option --%s", name);
            return SR_EINVAL;
        }
        bad = set_value(it, cfg, eq + 1);
        if (bad) {
            snprintf(why, whylen, "--%s: %s", name, bad);
            return SR_EINVAL;
        }
    }
    return SR_OK;
}

void conf_usage(FILE *f, const char *program, const struct conf_item *items, size_t n)
{
    fprintf(f, "usage: %s [--config=FILE] [--key=value ...]\n\n", program);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  --%s=%s\n      %s\n", items[i].name, items[i].def ? items[i].def : "",
                items[i].help);
}
