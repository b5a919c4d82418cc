/** @file token.c  Bearer tokens: the hashed tokens file, constant-time checks.
 *
 * The file stores SHA-256(token), never the token: a leaked file (backups,
 * config management) does not let anyone fetch recordings.  Tokens are
 * generated with 256 bits of entropy, so a plain unsalted hash is enough; a
 * password KDF would only slow every request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "api_priv.h"
#include "log.h"
#include "util.h"

struct api_token_entry {
    struct api_principal who;
    uint8_t hash[SHA256_DIGEST_LENGTH];
};

struct api_tokens {
    struct api_token_entry *e;
    size_t n;
};

static const struct {
    const char *name;
    unsigned bit;
} role_names[] = {
    { "lister", API_ROLE_LISTER },
    { "archivist", API_ROLE_ARCHIVIST },
    { "auditor", API_ROLE_AUDITOR },
    { "admin", API_ROLE_ADMIN },
    { "legal-hold", API_ROLE_LEGAL },
};

bool api_roles_parse(struct slice s, unsigned *roles)
{
    unsigned bits = 0;

    if (s.len == 0 || s.p[s.len - 1] == ',')
        return false;
    while (s.len > 0) {
        struct slice r = slice_split(&s, ',');
        bool known = false;
        for (size_t i = 0; i < SR_ARRAY_LEN(role_names); i++) {
            if (slice_eq(r, slice_cstr(role_names[i].name))) {
                bits |= role_names[i].bit;
                known = true;
            }
        }
        if (!known)
            return false;
    }
    *roles = bits;
    return true;
}

bool api_roles_allow(unsigned roles, unsigned need)
{
    if (roles & API_ROLE_ADMIN)
        return true;
    return (roles & need) == need;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '@';
}

static bool name_valid(struct slice s)
{
    if (s.len == 0 || s.len > API_TOKEN_NAME_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!name_char(s.p[i]))
            return false;
    return true;
}

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool b64token_valid(struct slice s)
{
    size_t i = 0;

    if (s.len == 0 || s.len > API_TOKEN_MAX)
        return false;
    for (; i < s.len && s.p[i] != '='; i++) {
        char c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            return false;
    }
    if (i == 0)
        return false;
    for (; i < s.len; i++)
        if (s.p[i] != '=')
            return false;
    return true;
}

static void token_hash(struct slice token, uint8_t out[SHA256_DIGEST_LENGTH])
{
    SHA256((const unsigned char *)token.p, token.len, out);
}

/* Next whitespace-separated field; fields are separated by SP or HTAB. */
static struct slice next_field(struct slice *cur)
{
    struct slice f;

    while (cur->len > 0 && (cur->p[0] == ' ' || cur->p[0] == '\t'))
        slice_skip(cur, 1);
    f.p = cur->p;
    f.len = 0;
    while (f.len < cur->len && cur->p[f.len] != ' ' && cur->p[f.len] != '\t')
        f.len++;
    slice_skip(cur, f.len);
    return f;
}

static const char *parse_line(struct slice line, struct api_token_entry *e)
{
    struct slice name, roles, hash, rest;
    const struct slice prefix = SLICE_LIT("sha256:");

    name = next_field(&line);
    roles = next_field(&line);
    hash = next_field(&line);
    rest = slice_trim(line);
    if (name.len == 0 || roles.len == 0 || hash.len == 0)
        return "expected '<name> <role[,role]> sha256:<hex>'";
    if (rest.len != 0)
        return "trailing text after the hash";
    if (!name_valid(name))
        return "name must be 1-64 of [A-Za-z0-9._@-]";
    if (!api_roles_parse(roles, &e->who.roles))
        return "unknown role (lister, archivist, auditor, admin)";
    if (!slice_starts_nocase(hash, prefix) ||
        !sr_hex_decode(slice_of(hash.p + prefix.len, hash.len - prefix.len), e->hash,
                       sizeof(e->hash)))
        return "hash must be sha256: and 64 hex digits";
    memcpy(e->who.name, name.p, name.len);
    e->who.name[name.len] = '\0';
    return NULL;
}

enum sr_err api_tokens_parse(struct api_tokens **out, const char *text, size_t len, char *why,
                             size_t whylen)
{
    struct api_tokens *t;
    struct slice cur = slice_of(text, len);
    unsigned lineno = 0;
    enum sr_err err = SR_EPARSE;

    if (!out || (!text && len) || !why || whylen == 0)
        return SR_EINVAL;
    why[0] = '\0';
    t = calloc(1, sizeof(*t));
    if (!t)
        return SR_ENOMEM;
    while (cur.len > 0) {
        struct slice line = slice_split(&cur, '\n');
        struct api_token_entry e;
        const char *bad;

        lineno++;
        if (line.len > API_TOKEN_LINE_MAX) {
            snprintf(why, whylen, "line %u: longer than %d bytes", lineno, API_TOKEN_LINE_MAX);
            goto fail;
        }
        if (memchr(line.p, '\0', line.len)) {
            snprintf(why, whylen, "line %u: NUL byte", lineno);
            goto fail;
        }
        line = slice_trim(line);
        if (line.len == 0 || line.p[0] == '#')
            continue;
        memset(&e, 0, sizeof(e));
        bad = parse_line(line, &e);
        if (bad) {
            snprintf(why, whylen, "line %u: %s", lineno, bad);
            goto fail;
        }
        for (size_t i = 0; i < t->n; i++) {
            if (strcmp(t->e[i].who.name, e.who.name) == 0) {
                snprintf(why, whylen, "line %u: duplicate name '%s'", lineno, e.who.name);
                goto fail;
            }
            if (memcmp(t->e[i].hash, e.hash, sizeof(e.hash)) == 0) {
                snprintf(why, whylen, "line %u: same token hash as '%s'", lineno,
                         t->e[i].who.name);
                goto fail;
            }
        }
        if (t->n == API_TOKENS_MAX) {
            snprintf(why, whylen, "line %u: more than %d tokens", lineno, API_TOKENS_MAX);
            err = SR_ELIMIT;
            goto fail;
        }
        if ((t->n & (t->n - 1)) == 0) { /* grow at powers of two */
            size_t cap = t->n ? t->n * 2 : 4;
            struct api_token_entry *ne = realloc(t->e, cap * sizeof(*ne));
            if (!ne) {
                err = SR_ENOMEM;
                goto fail;
            }
            t->e = ne;
        }
        t->e[t->n++] = e;
    }
    *out = t;
    return SR_OK;
fail:
    api_tokens_destroy(t);
    return err;
}

enum sr_err api_tokens_load(struct api_tokens **out, const char *path, char *why, size_t whylen)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    enum sr_err err;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return SR_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s: not a regular file", path);
        err = SR_EIO;
        goto out;
    }
    if (st.st_size > API_TOKEN_FILE_MAX) {
        snprintf(why, whylen, "%s: larger than %d bytes", path, API_TOKEN_FILE_MAX);
        err = SR_ELIMIT;
        goto out;
    }
    if (st.st_mode & S_IWOTH)
        log_warn("%s is world-writable: anyone on this host can grant themselves access", path);
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        err = SR_ENOMEM;
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    err = api_tokens_parse(out, text, len, why, whylen);
    if (err && why[0]) {
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", why);
        snprintf(why, whylen, "%s: %s", path, tmp);
    }
out:
    free(text);
    close(fd);
    return err;
}

void api_tokens_destroy(struct api_tokens *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

size_t api_tokens_count(const struct api_tokens *t)
{
    return t ? t->n : 0;
}

enum sr_err api_tokens_check(const struct api_tokens *t, struct slice token,
                             struct api_principal *who)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    size_t match = SIZE_MAX;

    if (!t || !b64token_valid(token))
        return SR_EAUTH;
    token_hash(token, h);
    /* Visit every entry whatever matches, so timing says nothing about which
     * (or whether an) entry matched. */
    for (size_t i = 0; i < t->n; i++)
        if (sr_ct_equal(h, t->e[i].hash, sizeof(h)))
            match = i;
    sr_wipe(h, sizeof(h));
    if (match == SIZE_MAX)
        return SR_EAUTH;
    *who = t->e[match].who;
    return SR_OK;
}

bool api_bearer_parse(const char *header, struct slice *token)
{
    const struct slice scheme = SLICE_LIT("Bearer");
    struct slice h, v;

    if (!header)
        return false;
    h = slice_cstr(header);
    if (h.len <= scheme.len || !slice_starts_nocase(h, scheme) || h.p[scheme.len] != ' ')
        return false;
    v = slice_trim(slice_of(h.p + scheme.len, h.len - scheme.len));
    if (!b64token_valid(v))
        return false;
    *token = v;
    return true;
}

bool api_token_line(const char *name, const char *roles, struct slice token, char *out,
                    size_t outlen)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    unsigned bits;
    int n;

    if (!name || !roles || !name_valid(slice_cstr(name)) ||
        !api_roles_parse(slice_cstr(roles), &bits) || !b64token_valid(token))
        return false;
    token_hash(token, h);
    sr_hex_encode(h, sizeof(h), hex);
    n = snprintf(out, outlen, "%s %s sha256:%s", name, roles, hex);
    return n > 0 && (size_t)n < outlen;
}
