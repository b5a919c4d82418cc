/** @file certmap.c  Client-certificate identities and their roles.
 *
 * The TLS layer (server.c, GnuTLS through libmicrohttpd) proves that the peer
 * holds a certificate issued by the client-ca; this file only says what that
 * identity may do.  Identities are subjectAltName values compared byte for
 * byte: no case folding, no wildcards, so "what the file says" is exactly
 * "who gets in".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_priv.h"
#include "log.h"
#include "util.h"

struct api_cert_entry {
    char id[API_CERT_ID_MAX + 1];
    unsigned roles;
};

struct api_certmap {
    struct api_cert_entry *e;
    size_t n;
};

/* Printable ASCII without space: SAN URIs, emails and DNS names all fit. */
static bool id_valid(struct slice s)
{
    if (s.len == 0 || s.len > API_CERT_ID_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] <= 0x20 || s.p[i] >= 0x7f)
            return false;
    return true;
}

static const char *parse_line(struct slice line, struct api_cert_entry *e)
{
    struct slice id, roles;
    long sp = -1;

    for (size_t i = 0; i < line.len; i++) {
        if (line.p[i] == ' ' || line.p[i] == '\t') {
            sp = (long)i;
            break;
        }
    }
    if (sp < 0)
        return "expected '<identity> <role[,role]>'";
    id = slice_of(line.p, (size_t)sp);
    roles = slice_trim(slice_of(line.p + sp, line.len - (size_t)sp));
    if (!id_valid(id))
        return "identity must be 1-255 printable bytes without spaces";
    for (size_t i = 0; i < roles.len; i++)
        if (roles.p[i] == ' ' || roles.p[i] == '\t')
            return "expected '<identity> <role[,role]>'";
    if (!api_roles_parse(roles, &e->roles))
        return "unknown role (lister, archivist, auditor, admin)";
    memcpy(e->id, id.p, id.len);
    e->id[id.len] = '\0';
    return NULL;
}

enum sr_err api_certmap_parse(struct api_certmap **out, const char *text, size_t len, char *why,
                              size_t whylen)
{
    struct api_certmap *m;
    struct slice cur = slice_of(text, len);
    unsigned lineno = 0;
    enum sr_err err = SR_EPARSE;

    if (!out || (!text && len) || !why || whylen == 0)
        return SR_EINVAL;
    why[0] = '\0';
    m = calloc(1, sizeof(*m));
    if (!m)
        return SR_ENOMEM;
    while (cur.len > 0) {
        struct slice line = slice_split(&cur, '\n');
        struct api_cert_entry e;
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
        for (size_t i = 0; i < m->n; i++) {
            if (strcmp(m->e[i].id, e.id) == 0) {
                snprintf(why, whylen, "line %u: duplicate identity", lineno);
                goto fail;
            }
        }
        if (m->n == API_CERTS_MAX) {
            snprintf(why, whylen, "line %u: more than %d identities", lineno, API_CERTS_MAX);
            err = SR_ELIMIT;
            goto fail;
        }
        if ((m->n & (m->n - 1)) == 0) { /* grow at powers of two */
            size_t cap = m->n ? m->n * 2 : 4;
            struct api_cert_entry *ne = realloc(m->e, cap * sizeof(*ne));
            if (!ne) {
                err = SR_ENOMEM;
                goto fail;
            }
            m->e = ne;
        }
        m->e[m->n++] = e;
    }
    *out = m;
    return SR_OK;
fail:
    api_certmap_destroy(m);
    return err;
}

enum sr_err api_certmap_load(struct api_certmap **out, const char *path, char *why,
                             size_t whylen)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    enum sr_err err;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
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
    err = api_certmap_parse(out, text, len, why, whylen);
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

void api_certmap_destroy(struct api_certmap *m)
{
    if (!m)
        return;
    free(m->e);
    free(m);
}

size_t api_certmap_count(const struct api_certmap *m)
{
    return m ? m->n : 0;
}

enum sr_err api_certmap_find(const struct api_certmap *m, struct slice identity, unsigned *roles)
{
    /* Identities are not secrets (they are in the certificate the peer just
     * sent), so an ordinary comparison is fine here. */
    if (!m || !id_valid(identity))
        return SR_ENOTFOUND;
    for (size_t i = 0; i < m->n; i++) {
        if (strlen(m->e[i].id) == identity.len &&
            memcmp(m->e[i].id, identity.p, identity.len) == 0) {
            *roles = m->e[i].roles;
            return SR_OK;
        }
    }
    return SR_ENOTFOUND;
}
