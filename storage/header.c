/** @file header.c  The archive header and the trailer: encode and bounded parse. */
#include <string.h>

#include "stor_priv.h"
#include "util.h"

enum { N_STR = 6 };

/* The header's strings, in wire order, with their field capacities. */
struct str_field {
    size_t off, cap;
};
static const struct str_field str_fields[N_STR] = {
    { offsetof(struct stor_call_info, call_id), STOR_STR },
    { offsetof(struct stor_call_info, local_aor), STOR_STR },
    { offsetof(struct stor_call_info, remote_aor), STOR_STR },
    { offsetof(struct stor_call_info, local_tag), 128 },
    { offsetof(struct stor_call_info, remote_tag), 128 },
    { offsetof(struct stor_call_info, source), STOR_STR },
};

/* The six strings, each u16 length + bytes (v1: in the clear header; v2:
 * the plaintext of the sealed call information). */
static enum sr_err strings_encode(struct buf *out, const struct stor_call_info *call)
{
    enum sr_err err;

    for (size_t i = 0; i < N_STR; i++) {
        const char *s = (const char *)call + str_fields[i].off;
        size_t len = strnlen(s, str_fields[i].cap);
        uint8_t l[2];
        if (len >= str_fields[i].cap)
            return SR_EINVAL;
        stor_put16(l, (uint16_t)len);
        if ((err = buf_append(out, l, 2)) || (err = buf_append(out, s, len)))
            return err;
    }
    return SR_OK;
}

static bool take(const uint8_t **cur, const uint8_t *end, size_t n, const uint8_t **got)
{
    if ((size_t)(end - *cur) < n)
        return false;
    *got = *cur;
    *cur += n;
    return true;
}

/* The six strings from [*cur, end) into call. */
static enum sr_err strings_parse(const uint8_t **cur, const uint8_t *end,
                                 struct stor_call_info *call, const char **why)
{
    const uint8_t *g;

    for (size_t i = 0; i < N_STR; i++) {
        char *dst = (char *)call + str_fields[i].off;
        size_t n;
        if (!take(cur, end, 2, &g))
            return SR_EPARSE;
        n = stor_get16(g);
        if (n >= str_fields[i].cap || !take(cur, end, n, &g) || memchr(g, 0, n)) {
            *why = "header: call info field malformed";
            return SR_EPARSE;
        }
        memcpy(dst, g, n);
        dst[n] = '\0';
    }
    return SR_OK;
}

enum sr_err stor_header_encode(struct buf *out, const uint8_t id[STOR_ID_LEN], uint32_t chunk_size,
                               const struct stor_call_info *call, const struct buf *recip,
                               size_t n_recip, const uint8_t key[STOR_KEY_LEN])
{
    uint8_t tmp[STOR_PREFIX_LEN + STOR_ID_LEN + 4 + 8];
    size_t start = out->len, total, aad_len;
    struct buf ci;
    enum sr_err err;

    if (n_recip == 0 || n_recip > STOR_MAX_RECIPIENTS || !key)
        return SR_EINVAL;
    buf_init(&ci, STOR_MAX_SEALED_CALL);
    memcpy(tmp, STOR_MAGIC, 8);
    stor_put16(tmp + 8, STOR_VERSION);
    stor_put16(tmp + 10, 0);
    stor_put32(tmp + 12, 0); /* patched below */
    memcpy(tmp + 16, id, STOR_ID_LEN);
    stor_put32(tmp + 32, chunk_size);
    stor_put64(tmp + 36, call->start_wall_us);
    if ((err = buf_append(out, tmp, sizeof(tmp))))
        goto out;
    stor_put16(tmp, (uint16_t)n_recip);
    if ((err = buf_append(out, tmp, 2)))
        goto out;
    for (size_t i = 0; i < n_recip; i++) {
        err = SR_ELIMIT;
        if (recip[i].len == 0 || recip[i].len > STOR_MAX_RECIP_DER)
            goto out;
        stor_put32(tmp, (uint32_t)recip[i].len);
        if ((err = buf_append(out, tmp, 4)) || (err = buf_append(out, recip[i].p, recip[i].len)))
            goto out;
    }
    /* The call information, sealed: its AAD is every header byte before
     * its length field, so the length field (H, at offset 12) must hold
     * its final value first. */
    if ((err = strings_encode(&ci, call)))
        goto out;
    aad_len = out->len - start;
    total = aad_len + 4 + ci.len + STOR_TAG_LEN + STOR_TAG_LEN;
    err = SR_ELIMIT;
    if (total > STOR_MAX_HEADER || ci.len + STOR_TAG_LEN > STOR_MAX_SEALED_CALL)
        goto out;
    stor_put32((uint8_t *)out->p + start + 12, (uint32_t)total);
    stor_put32(tmp, (uint32_t)(ci.len + STOR_TAG_LEN));
    if ((err = stor_call_seal(key, (const uint8_t *)out->p + start, aad_len, (uint8_t *)ci.p,
                              ci.len, tmp + 4)) ||
        (err = buf_append(out, tmp, 4)) || (err = buf_append(out, ci.p, ci.len)) ||
        (err = buf_append(out, tmp + 4, STOR_TAG_LEN)))
        goto out;
    err = SR_OK;
out:
    buf_fini(&ci); /* wiped: it held the call information in clear */
    return err;
}

enum sr_err stor_header_prefix(const uint8_t *p, size_t *total, const char **why)
{
    uint32_t len;
    unsigned version;
    size_t min;

    if (memcmp(p, STOR_MAGIC, 8) != 0) {
        *why = "not an srtprec archive (bad magic)";
        return SR_EPARSE;
    }
    version = stor_get16(p + 8);
    if (version != STOR_VERSION_1 && version != STOR_VERSION) {
        *why = "archive format version not supported";
        return SR_EUNSUPP;
    }
    len = stor_get32(p + 12);
    min = STOR_PREFIX_LEN + STOR_ID_LEN + 4 + 8 + 2 + STOR_TAG_LEN +
          (version == STOR_VERSION_1 ? N_STR * 2 : 4 + N_STR * 2 + STOR_TAG_LEN);
    if (len < min || len > STOR_MAX_HEADER) {
        *why = "header length out of range";
        return SR_EPARSE;
    }
    *total = len;
    return SR_OK;
}

enum sr_err stor_header_parse(const uint8_t *p, size_t len, struct stor_header *h,
                              const char **why)
{
    const uint8_t *cur = p, *end = p + len - STOR_TAG_LEN, *g;
    size_t total;
    enum sr_err err;

    memset(h, 0, sizeof(*h));
    if (len < STOR_PREFIX_LEN) {
        *why = "header truncated";
        return SR_EPARSE;
    }
    if ((err = stor_header_prefix(p, &total, why)))
        return err;
    if (total != len) {
        *why = "header length mismatch";
        return SR_EPARSE;
    }
    h->version = stor_get16(p + 8);
    *why = "header malformed";
    if (!take(&cur, end, STOR_PREFIX_LEN, &g) || !take(&cur, end, STOR_ID_LEN, &g))
        return SR_EPARSE;
    memcpy(h->id, g, STOR_ID_LEN);
    if (!take(&cur, end, 12, &g))
        return SR_EPARSE;
    h->chunk_size = stor_get32(g);
    h->call.start_wall_us = stor_get64(g + 4);
    if (h->chunk_size == 0 || h->chunk_size > STOR_MAX_CHUNK) {
        *why = "header: chunk size out of range";
        return SR_EPARSE;
    }
    if (h->version == STOR_VERSION_1 && (err = strings_parse(&cur, end, &h->call, why)))
        return err;
    if (!take(&cur, end, 2, &g))
        return SR_EPARSE;
    h->n_recip = stor_get16(g);
    if (h->n_recip == 0 || h->n_recip > STOR_MAX_RECIPIENTS) {
        *why = "header: recipient count out of range";
        return SR_EPARSE;
    }
    for (size_t i = 0; i < h->n_recip; i++) {
        size_t n;
        if (!take(&cur, end, 4, &g))
            return SR_EPARSE;
        n = stor_get32(g);
        if (n == 0 || n > STOR_MAX_RECIP_DER || !take(&cur, end, n, &g)) {
            *why = "header: recipient block malformed";
            return SR_EPARSE;
        }
        h->recip[i].der = g;
        h->recip[i].len = n;
    }
    if (h->version != STOR_VERSION_1) {
        size_t n;
        h->sealed_call_aad = (size_t)(cur - p);
        if (!take(&cur, end, 4, &g))
            return SR_EPARSE;
        n = stor_get32(g);
        if (n < N_STR * 2 + STOR_TAG_LEN || n > STOR_MAX_SEALED_CALL || !take(&cur, end, n, &g)) {
            *why = "header: sealed call information malformed";
            return SR_EPARSE;
        }
        h->sealed_call = g;
        h->sealed_call_len = n;
    }
    if (cur != end) {
        *why = "header: trailing bytes before the tag";
        return SR_EPARSE;
    }
    h->len = len;
    *why = NULL;
    return SR_OK;
}

enum sr_err stor_header_open_call(struct stor_header *h, const uint8_t *p,
                                  const uint8_t key[STOR_KEY_LEN], const char **why)
{
    uint8_t pt[STOR_MAX_SEALED_CALL];
    const uint8_t *cur = pt, *end;
    size_t n = h->sealed_call_len - STOR_TAG_LEN;
    enum sr_err err;

    if (h->version == STOR_VERSION_1)
        return SR_OK;
    if (stor_call_open(key, p, h->sealed_call_aad, h->sealed_call, h->sealed_call_len, pt)) {
        sr_wipe(pt, sizeof(pt));
        *why = "header: sealed call information failed authentication";
        return SR_EAUTH;
    }
    end = pt + n;
    err = strings_parse(&cur, end, &h->call, why);
    if (!err && cur != end) {
        *why = "header: sealed call information malformed";
        err = SR_EPARSE;
    }
    sr_wipe(pt, sizeof(pt));
    return err;
}

void stor_trailer_encode(const struct stor_trailer *t, uint8_t out[STOR_TRAILER_LEN])
{
    const uint64_t v[] = { t->counts.packets,  t->counts.auth_fail,  t->counts.replay,
                           t->counts.malformed, t->counts.overload, t->counts.encrypted_kept,
                           t->packets_written,  t->end_wall_us,      t->plain_bytes,
                           t->data_chunks };
    uint8_t *p = out;

    memcpy(p, STOR_TRAILER_MAGIC, 8);
    p += 8;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++, p += 8)
        stor_put64(p, v[i]);
    stor_put32(p, t->n_streams);
    memcpy(p + 4, t->sha, STOR_HASH_LEN);
}

enum sr_err stor_trailer_parse(const uint8_t *p, size_t len, struct stor_trailer *t,
                               const char **why)
{
    uint64_t *const v[] = { &t->counts.packets,  &t->counts.auth_fail, &t->counts.replay,
                            &t->counts.malformed, &t->counts.overload, &t->counts.encrypted_kept,
                            &t->packets_written,  &t->end_wall_us,     &t->plain_bytes,
                            &t->data_chunks };

    if (len != STOR_TRAILER_LEN || memcmp(p, STOR_TRAILER_MAGIC, 8) != 0) {
        *why = "trailer malformed";
        return SR_EPARSE;
    }
    p += 8;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++, p += 8)
        *v[i] = stor_get64(p);
    t->n_streams = stor_get32(p);
    memcpy(t->sha, p + 4, STOR_HASH_LEN);
    return SR_OK;
}

void stor_recovery_encode(const struct stor_recovery *rv, const uint8_t id[STOR_ID_LEN],
                          uint8_t out[STOR_RECOVERY_LEN])
{
    memcpy(out, STOR_RECOVERY_MAGIC, 8);
    stor_put64(out + 8, rv->data_chunks);
    stor_put64(out + 16, rv->offset);
    stor_put64(out + 24, rv->recovered_wall_us);
    stor_put64(out + 32, rv->torn_bytes);
    stor_put64(out + 40, rv->last_write_wall_us);
    memcpy(out + 48, rv->file_sha256, 32);
    memcpy(out + 80, id, STOR_ID_LEN);
}

enum sr_err stor_recovery_parse(const uint8_t *p, size_t len, struct stor_recovery *rv,
                                uint8_t id[STOR_ID_LEN])
{
    if (len != STOR_RECOVERY_LEN || memcmp(p, STOR_RECOVERY_MAGIC, 8) != 0)
        return SR_EPARSE;
    rv->data_chunks = stor_get64(p + 8);
    rv->offset = stor_get64(p + 16);
    rv->recovered_wall_us = stor_get64(p + 24);
    rv->torn_bytes = stor_get64(p + 32);
    rv->last_write_wall_us = stor_get64(p + 40);
    memcpy(rv->file_sha256, p + 48, 32);
    memcpy(id, p + 80, STOR_ID_LEN);
    return SR_OK;
}

void stor_progress_encode(const struct stor_progress *pg, uint8_t out[STOR_PROGRESS_LEN])
{
    stor_put64(out, pg->packets);
    stor_put32(out + 8, pg->streams);
    stor_put32(out + 12, pg->end);
}

void stor_progress_parse(const uint8_t in[STOR_PROGRESS_LEN], struct stor_progress *pg)
{
    pg->packets = stor_get64(in);
    pg->streams = stor_get32(in + 8);
    pg->end = stor_get32(in + 12);
}

size_t stor_parties_encode(uint8_t *out, size_t cap, const char *local_aor, const char *remote_aor)
{
    const char *s[2] = { local_aor, remote_aor };
    size_t n = 0;

    for (int i = 0; i < 2; i++) {
        size_t l = strlen(s[i]);
        if (l >= STOR_STR || n + 2 + l > cap)
            return 0;
        out[n++] = (uint8_t)(l >> 8);
        out[n++] = (uint8_t)l;
        memcpy(out + n, s[i], l);
        n += l;
    }
    return n;
}

enum sr_err stor_parties_parse(const uint8_t *p, size_t len, struct stor_call_info *out)
{
    const uint8_t *cur = p, *end = p + len, *got;
    char *dst[2] = { out->local_aor, out->remote_aor };

    for (int i = 0; i < 2; i++) {
        size_t l;
        if (!take(&cur, end, 2, &got))
            return SR_EPARSE;
        l = (size_t)got[0] << 8 | got[1];
        if (l >= STOR_STR || !take(&cur, end, l, &got) || memchr(got, 0, l))
            return SR_EPARSE;
        memcpy(dst[i], got, l);
        dst[i][l] = '\0';
    }
    return cur == end ? SR_OK : SR_EPARSE;
}
