/** @file test_archive.c  Archive round trip, tamper detection, truncation, wrong keys,
 *  interoperability with `openssl cms` and `oggz-validate`. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

enum { N_STREAMS = 3, MAX_PKTS = 256, PAYLOAD = 160, CHUNK = 512 };

struct xpkt {
    unsigned idx;
    struct stor_pkt p;
    uint8_t data[200];
};

struct fixture {
    char dir[4096];
    char a_crt[4096], a_key[4096]; /* EC recipient */
    char b_crt[4096], b_key[4096]; /* RSA recipient */
    char e_crt[4096], e_key[4096]; /* not a recipient */
    char path[4096];
    char id[STOR_ID_HEX];
    struct stor_call_info call;
    struct stor_stream_info si[N_STREAMS];
    struct xpkt pk[MAX_PKTS];
    size_t n_pk;
    struct stor_counts counts;
};

static void fill_payload(uint8_t *d, size_t n, unsigned stream, unsigned seq)
{
    /* Distinct, non-repeating bytes so any leaked 16-byte run is recognisable. */
    uint32_t x = 0x9e3779b9u * (stream + 1) ^ (seq * 2654435761u);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d[i] = (uint8_t)x;
    }
}

static void add_pkt(struct fixture *fx, unsigned idx, unsigned seq, uint32_t ts,
                    uint64_t arrival, uint32_t flags, size_t len)
{
    struct xpkt *x = &fx->pk[fx->n_pk++];
    x->idx = idx;
    x->p.seq = (uint16_t)seq;
    x->p.ext_seq = seq;
    x->p.ext_ts = ts;
    x->p.arrival_wall_us = arrival;
    x->p.flags = flags;
    fill_payload(x->data, len, idx, seq);
    x->p.payload = x->data;
    x->p.payload_len = len;
}

static bool write_archive(struct fixture *fx)
{
    const char *recips[] = { fx->a_crt, fx->b_crt };
    struct stor_writer_cfg cfg = { fx->dir, recips, 2, CHUNK, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_writer *w;
    unsigned idx[N_STREAMS];
    const uint64_t t0 = 1700000000000000ull;
    size_t next = 0;

    snprintf(fx->call.call_id, sizeof(fx->call.call_id), "8f3c@192.0.2.1");
    snprintf(fx->call.local_aor, sizeof(fx->call.local_aor), "sip:alice@example.net");
    snprintf(fx->call.remote_aor, sizeof(fx->call.remote_aor), "sip:bob@example.org");
    snprintf(fx->call.local_tag, sizeof(fx->call.local_tag), "a1");
    snprintf(fx->call.remote_tag, sizeof(fx->call.remote_tag), "b2");
    snprintf(fx->call.source, sizeof(fx->call.source), "sip:ka1.example.net");
    fx->call.start_wall_us = t0;
    fx->si[0] = (struct stor_stream_info){ 0x11111111, 0, "PCMU", 8000, STOR_DIR_SEND, "a-send", false };
    fx->si[1] = (struct stor_stream_info){ 0x22222222, 0, "PCMU", 8000, STOR_DIR_RECV, "a-recv", false };
    fx->si[2] = (struct stor_stream_info){ 0x33333333, 8, "PCMA", 8000, STOR_DIR_SEND, "a-send2", false };

    /* Streams 0 and 1 from the start; 0 has a gap (seq 20..24 lost) and a
     * marker; 1 has one packet kept encrypted; 2 joins mid-call. */
    for (unsigned i = 0; i < 60; i++) {
        uint64_t at = t0 + i * 20000;
        if (i < 20 || i >= 25)
            add_pkt(fx, 0, 1000 + i, 5000 + i * 160, at, i == 0 ? STOR_PKT_MARKER : 0, PAYLOAD);
        add_pkt(fx, 1, 7 + i, 90000 + i * 160, at + 3000, i == 33 ? STOR_PKT_ENCRYPTED : 0,
                i == 33 ? PAYLOAD + 12 : PAYLOAD);
        if (i >= 40)
            add_pkt(fx, 2, 300 + i, 100 + i * 160, at + 5000, 0, PAYLOAD);
    }
    fx->counts = (struct stor_counts){ 0, 1, 2, 3, 4, 1 };

    if (stor_writer_open(&w, &cfg, &fx->call, fx->id) != SR_OK)
        return false;
    if (stor_writer_add_stream(w, &fx->si[0], &idx[0]) || stor_writer_add_stream(w, &fx->si[1], &idx[1]))
        goto fail;
    for (size_t i = 0; i < fx->n_pk; i++) {
        const struct xpkt *x = &fx->pk[i];
        if (x->idx == 2 && next == 0) {
            if (stor_writer_add_stream(w, &fx->si[2], &idx[2]))
                goto fail;
            next = 1;
        }
        if (stor_writer_packet(w, idx[x->idx], &x->p))
            goto fail;
        if (i % 25 == 24 && stor_writer_flush(w))
            goto fail;
    }
    fx->counts.packets = fx->n_pk;
    return stor_writer_close(w, &fx->counts, fx->path, sizeof(fx->path)) == SR_OK;
fail:
    stor_writer_abandon(w);
    return false;
}

static bool pkt_equal(const struct stor_pkt *a, const struct stor_pkt *b)
{
    return a->seq == b->seq && a->ext_seq == b->ext_seq && a->ext_ts == b->ext_ts &&
           a->arrival_wall_us == b->arrival_wall_us && a->flags == b->flags &&
           a->payload_len == b->payload_len && memcmp(a->payload, b->payload, a->payload_len) == 0;
}

static void read_back(struct fixture *fx, const char *crt, const char *key, const char *who)
{
    struct stor_reader *r;
    const char *why = NULL;
    size_t next[N_STREAMS] = { 0 }, got = 0, bad = 0;
    struct stor_pkt p;
    unsigned idx;
    enum sr_err err;

    err = stor_reader_open(&r, fx->path, crt, key, &why);
    if (!tap_ok(err == SR_OK, "%s: reader opens (%s)", who, why ? why : "ok"))
        return;
    tap_ok(strcmp(stor_reader_id(r), fx->id) == 0, "%s: archive id", who);
    tap_ok(memcmp(stor_reader_call(r), &fx->call, sizeof(fx->call)) == 0, "%s: call info exact", who);
    while ((err = stor_reader_next(r, &idx, &p, &why)) == SR_OK) {
        /* File order interleaves streams; within a stream order is kept. */
        size_t k;
        got++;
        for (k = next[idx < N_STREAMS ? idx : 0]; k < fx->n_pk && fx->pk[k].idx != idx; k++)
            ;
        if (idx >= N_STREAMS || k == fx->n_pk || !pkt_equal(&p, &fx->pk[k].p))
            bad++;
        else
            next[idx] = k + 1;
    }
    tap_ok(err == SR_ECLOSED, "%s: clean end (%s)", who, why ? why : "ok");
    tap_ok(got == fx->n_pk && bad == 0, "%s: %zu packets bit-exact, in stream order (%zu bad)", who,
           got, bad);
    tap_ok(stor_reader_n_streams(r) == N_STREAMS, "%s: three streams", who);
    for (size_t i = 0; i < N_STREAMS && i < stor_reader_n_streams(r); i++) {
        const struct stor_stream_info *s = stor_reader_stream(r, i);
        tap_ok(s->ssrc == fx->si[i].ssrc && s->payload_type == fx->si[i].payload_type &&
                   strcmp(s->codec, fx->si[i].codec) == 0 && s->clock_rate == 8000 &&
                   s->direction == fx->si[i].direction && strcmp(s->label, fx->si[i].label) == 0,
               "%s: stream %zu info", who, i);
    }
    tap_ok(stor_reader_counts(r) && memcmp(stor_reader_counts(r), &fx->counts, sizeof(fx->counts)) == 0,
           "%s: trailer counts", who);
    tap_ok(stor_reader_end_wall_us(r) > 0, "%s: end time", who);
    stor_reader_close(r);
}

static void no_plaintext_on_disk(struct fixture *fx)
{
    size_t len, leaks = 0;
    unsigned char *f = testcert_slurp(fx->path, &len);

    for (size_t i = 0; f && i < fx->n_pk; i++)
        for (size_t o = 0; o + 16 <= fx->pk[i].p.payload_len; o++)
            if (memmem(f, len, fx->pk[i].data + o, 16))
                leaks++;
    tap_ok(f && leaks == 0, "no 16-byte run of any payload appears in the file");
    tap_ok(f && !memmem(f, len, "OggS", 4), "no Ogg capture pattern in the file");
    free(f);
}

struct layout {
    size_t hdr_len;
    size_t off[512], len[512]; /* frame offset and frame+ciphertext length */
    size_t flen[512];          /* frame header: 5, or 21 with a progress block (flag 3, 4) */
    size_t n;
};

static bool chunks(const unsigned char *f, size_t flen, struct layout *L)
{
    size_t o;

    L->hdr_len = (size_t)f[12] << 24 | (size_t)f[13] << 16 | (size_t)f[14] << 8 | f[15];
    L->n = 0;
    for (o = L->hdr_len; o + 5 <= flen && L->n < 512; L->n++) {
        size_t n = (size_t)f[o] << 24 | (size_t)f[o + 1] << 16 | (size_t)f[o + 2] << 8 | f[o + 3];
        L->off[L->n] = o;
        L->flen[L->n] = f[o + 4] >= 3 ? 5 + 16 : 5;
        L->len[L->n] = L->flen[L->n] + n;
        o += L->len[L->n];
    }
    return o == flen;
}

static void expect(struct fixture *fx, const char *name, const unsigned char *data, size_t len,
                   enum sr_err want, const char *substr)
{
    char path[8192], msg[256];
    enum sr_err err;

    snprintf(path, sizeof(path), "%s/%s.srec", fx->dir, name);
    testcert_spit(path, data, len);
    err = stor_verify_msg(path, fx->a_crt, fx->a_key, msg, sizeof(msg));
    tap_ok(err == want && strstr(msg, substr), "%s: %s (\"%s\")", name, sr_strerror(err), msg);
    unlink(path);
}

static void tamper(struct fixture *fx)
{
    size_t len;
    unsigned char *f = testcert_slurp(fx->path, &len), *c;
    struct layout L;
    char want[64];
    size_t last;

    if (!tap_ok(f && chunks(f, len, &L) && L.n > 4, "chunk layout walks the file exactly"))
        return;
    last = L.n - 1;
    tap_diag("%zu chunks, header %zu bytes", L.n, L.hdr_len);
    c = malloc(len + 16);

    memcpy(c, f, len);
    c[1] ^= 1;
    expect(fx, "magic", c, len, SR_EPARSE, "not an srtprec archive");

    memcpy(c, f, len);
    c[40] ^= 0x20; /* inside the call start time (clear, authenticated) */
    expect(fx, "header", c, len, SR_EAUTH, "header failed authentication");

    memcpy(c, f, len);
    c[L.off[2] + 5 + 40] ^= 0x01;
    expect(fx, "chunk-bitflip", c, len, SR_EAUTH, "chunk 2 failed authentication");

    memcpy(c, f, len);
    c[L.off[last] + 5 + 30] ^= 0x80;
    snprintf(want, sizeof(want), "chunk %zu (final) failed authentication", last);
    expect(fx, "trailer-bitflip", c, len, SR_EAUTH, want);

    memcpy(c, f, len);
    c[L.off[last] + 4] = 3; /* final flag cleared: a data chunk with progress */
    memset(c + L.off[last] + 5 + 12, 0, 4); /* its end state too, as a data chunk's */
    expect(fx, "final-flag", c, len, SR_EAUTH, "failed authentication");

    /* Swap chunks 1 and 2 (same size: both full). */
    memcpy(c, f, len);
    if (L.len[1] == L.len[2]) {
        memcpy(c + L.off[1], f + L.off[2], L.len[2]);
        memcpy(c + L.off[2], f + L.off[1], L.len[1]);
        expect(fx, "swap", c, len, SR_EAUTH, "chunk 1 failed authentication");
    } else {
        tap_skip("chunks 1 and 2 differ in size");
    }

    expect(fx, "drop-final", f, L.off[last], SR_EPARSE, "without a final chunk");
    expect(fx, "cut-mid-chunk", f, L.off[3] + 100, SR_EPARSE, "chunk 3 cut short");
    expect(fx, "cut-mid-frame", f, L.off[3] + 2, SR_EPARSE, "chunk 3 cut short");
    expect(fx, "cut-header", f, L.hdr_len - 1, SR_EPARSE, "header cut short");

    memcpy(c, f, len);
    memcpy(c + len, "junk", 4);
    expect(fx, "trailing", c, len + 4, SR_EPARSE, "trailing data");

    /* Drop a whole middle chunk: the next one fails at the missing index. */
    memcpy(c, f, L.off[2]);
    memcpy(c + L.off[2], f + L.off[3], len - L.off[3]);
    expect(fx, "drop-chunk", c, len - L.len[2], SR_EAUTH, "chunk 2 failed authentication");

    /* Each prefix short of the end is reported as truncated, never as OK. */
    {
        size_t wrong = 0;
        char path[8192];
        snprintf(path, sizeof(path), "%s/prefix.srec", fx->dir);
        for (size_t n = 0; n < len; n += 97) {
            testcert_spit(path, f, n);
            if (stor_verify(path, fx->a_crt, fx->a_key, NULL) != SR_EPARSE)
                wrong++;
        }
        unlink(path);
        tap_ok(wrong == 0, "every tested proper prefix is SR_EPARSE (%zu wrong)", wrong);
    }
    free(c);
    free(f);
}

static void wrong_keys(struct fixture *fx)
{
    struct stor_reader *r = NULL;
    const char *why = NULL;
    enum sr_err err;

    err = stor_reader_open(&r, fx->path, fx->e_crt, fx->e_key, &why);
    tap_ok(err == SR_ENOKEY && why && strstr(why, "not a recipient"),
           "stranger's certificate: %s (%s)", sr_strerror(err), why ? why : "");
    stor_reader_close(r);
    r = NULL;
    err = stor_reader_open(&r, fx->path, fx->a_crt, fx->e_key, &why);
    tap_ok(err == SR_EAUTH && why && strstr(why, "does not match"),
           "recipient certificate with another key: %s (%s)", sr_strerror(err), why ? why : "");
    stor_reader_close(r);
    err = stor_verify(fx->path, "/nonexistent.crt", fx->a_key, &why);
    tap_ok(err == SR_EIO && why, "missing certificate file: %s", why ? why : "");
}

static int run(const char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static bool have_tool(const char *name)
{
    const char *const argv[] = { "sh", "-c", "command -v \"$0\"", name, NULL };
    return run(argv) == 0;
}

/* Decrypt chunk 0 with a key from `openssl cms`, following docs/archive-format.md
 * with plain EVP calls: an independent reader of the format. */
static bool chunk0_with_key(const unsigned char *f, const struct layout *L, const uint8_t key[32])
{
    uint8_t hh[32], nonce[12] = { 0 }, aad[16 + 8 + 1 + 32 + 16] = { 0 }, pt[4096];
    size_t fl = L->flen[0], ctlen = L->len[0] - fl - 16;
    /* Flag 3: the frame flag in the AAD's final byte, the progress block after HH. */
    size_t alen = fl > 5 ? sizeof(aad) : sizeof(aad) - 16;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n;
    bool ok;

    EVP_Digest(f, L->hdr_len, hh, NULL, EVP_sha256(), NULL);
    memcpy(aad, f + 16, 16);
    aad[24] = f[L->off[0] + 4] >= 3 ? f[L->off[0] + 4] : 0;
    memcpy(aad + 25, hh, 32);
    if (fl > 5)
        memcpy(aad + 57, f + L->off[0] + 5, 16);
    ok = ctx && ctlen <= sizeof(pt) &&
         EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)alen) == 1 &&
         EVP_DecryptUpdate(ctx, pt, &n, f + L->off[0] + fl, (int)ctlen) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
                             (void *)(uintptr_t)(f + L->off[0] + fl + ctlen)) == 1 &&
         EVP_DecryptFinal_ex(ctx, pt + n, &n) == 1 && memcmp(pt, "OggS", 4) == 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* Format 2's sealed call information at offset o (u32 length, ciphertext ||
 * tag), opened with plain EVP calls as docs/archive-format.md says: its
 * first string is the Call-ID, which the file holds nowhere in clear. */
static bool call_with_key(const unsigned char *f, size_t o, const uint8_t key[32],
                          const char *call_id)
{
    uint8_t nonce[12], pt[4096];
    size_t n = (size_t)f[o] << 24 | (size_t)f[o + 1] << 16 | (size_t)f[o + 2] << 8 | f[o + 3];
    size_t cl = strlen(call_id), hl = (size_t)f[12] << 24 | (size_t)f[13] << 16 |
                                      (size_t)f[14] << 8 | f[15];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok, in_clear = false;
    int m;

    memset(nonce, 0xfe, sizeof(nonce));
    ok = ctx && n > 16 && n - 16 <= sizeof(pt) &&
         EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &m, f, (int)o) == 1 &&
         EVP_DecryptUpdate(ctx, pt, &m, f + o + 4, (int)(n - 16)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(uintptr_t)(f + o + 4 + n - 16)) == 1 &&
         EVP_DecryptFinal_ex(ctx, pt + m, &m) == 1 && ((size_t)pt[0] << 8 | pt[1]) == cl &&
         memcmp(pt + 2, call_id, cl) == 0;
    EVP_CIPHER_CTX_free(ctx);
    for (size_t i = 0; i + cl <= hl; i++)
        in_clear |= memcmp(f + i, call_id, cl) == 0;
    return ok && !in_clear;
}

static void openssl_cms(struct fixture *fx)
{
    size_t len, o, klen = 0;
    unsigned char *f, *k;
    struct layout L;
    char blk[8192], keyout[8192];
    const char *crts[2] = { fx->a_crt, fx->b_crt }, *keys[2] = { fx->a_key, fx->b_key };

    if (!have_tool("openssl")) {
        for (int i = 0; i < 4; i++)
            tap_skip("openssl CLI not installed");
        return;
    }
    f = testcert_slurp(fx->path, &len);
    chunks(f, len, &L);
    /* Walk to the recipient blocks: fixed part (format 2: no strings), count. */
    tap_ok(f[8] == 0 && f[9] == 2, "the writer writes format version 2");
    o = 44 + 2;
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)f[o] << 24 | (size_t)f[o + 1] << 16 | (size_t)f[o + 2] << 8 | f[o + 3];
        snprintf(blk, sizeof(blk), "%s/recip%d.der", fx->dir, i);
        snprintf(keyout, sizeof(keyout), "%s/datakey%d", fx->dir, i);
        testcert_spit(blk, f + o + 4, n);
        o += 4 + n;
        const char *const argv[] = { "openssl", "cms", "-decrypt", "-inform", "DER", "-in", blk,
                                     "-recip", crts[i], "-inkey", keys[i], "-binary", "-out",
                                     keyout, NULL };
        k = run(argv) == 0 ? testcert_slurp(keyout, &klen) : NULL;
        tap_ok(k && klen == 32 && chunk0_with_key(f, &L, k),
               "openssl cms -decrypt recovers the data key from block %d (%s), which opens chunk 0",
               i, i ? "RSA" : "EC");
        if (i == 1)
            tap_ok(k && klen == 32 && call_with_key(f, o, k, fx->call.call_id),
                   "the sealed call information opens with that key (nonce fe*12, AAD the "
                   "header before it) and holds the Call-ID; it is nowhere in clear");
        free(k);
        unlink(blk);
        unlink(keyout);
    }
    free(f);
}

static bool to_file(const void *data, size_t len, void *arg)
{
    return fwrite(data, 1, len, arg) == len;
}

static void ogg_validate(struct fixture *fx)
{
    char out[8192];
    const char *why = NULL;
    enum sr_err err;
    FILE *f;

    snprintf(out, sizeof(out), "%s/plain.ogg", fx->dir);
    f = fopen(out, "wb");
    err = stor_export_ogg(fx->path, fx->b_crt, fx->b_key, to_file, f, &why);
    fclose(f);
    tap_ok(err == SR_OK, "export ogg (%s)", why ? why : "ok");
    if (!have_tool("oggz-validate")) {
        tap_skip("oggz-validate not installed");
    } else {
        const char *const argv[] = { "oggz-validate", out, NULL };
        int rc = run(argv);
        tap_ok(rc == 0, "decrypted Ogg passes oggz-validate (exit %d)", rc);
    }
    unlink(out);
}

static void partial_and_empty(struct fixture *fx)
{
    const char *recips[] = { fx->a_crt };
    struct stor_writer_cfg cfg = { fx->dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_call_info call = { .call_id = "empty" };
    struct stor_writer *w;
    struct stor_reader *r;
    char id[STOR_ID_HEX], path[8192], msg[256];
    const char *why = NULL;
    unsigned idx, got = 0;
    struct stor_pkt p;
    enum sr_err err;

    /* A call with no media still yields a sealed archive that says so. */
    err = stor_writer_open(&w, &cfg, &call, id);
    err = err ? err : stor_writer_close(w, NULL, path, sizeof(path));
    tap_ok(err == SR_OK && stor_verify_msg(path, fx->a_crt, fx->a_key, msg, sizeof(msg)) == SR_OK,
           "empty archive verifies (%s)", msg);
    if (stor_reader_open(&r, path, fx->a_crt, fx->a_key, NULL) == SR_OK) {
        tap_ok(stor_reader_next(r, &idx, &p, NULL) == SR_ECLOSED && stor_reader_n_streams(r) == 0,
               "empty archive: no streams, clean end");
        stor_reader_close(r);
    } else {
        tap_ok(false, "empty archive opens");
    }
    unlink(path);

    /* Abandoned (crash): readable up to the last sealed chunk, then truncation. */
    err = stor_writer_open(&w, &cfg, &call, id);
    if (!tap_ok(err == SR_OK, "writer for the abandoned archive"))
        return;
    stor_writer_add_stream(w, &fx->si[0], &idx);
    for (unsigned i = 0; i < 30; i++)
        stor_writer_packet(w, idx, &fx->pk[i * 2].p);
    stor_writer_flush(w);
    tap_ok(stor_writer_bytes(w) > 30 * PAYLOAD, "writer counts plaintext bytes");
    stor_writer_packet(w, idx, &fx->pk[0].p); /* buffered, never sealed */
    stor_writer_abandon(w);
    snprintf(path, sizeof(path), "%s/%s.srec.partial", fx->dir, id);
    err = stor_reader_open(&r, path, fx->a_crt, fx->a_key, &why);
    if (!tap_ok(err == SR_OK, "partial archive opens"))
        return;
    while ((err = stor_reader_next(r, &idx, &p, &why)) == SR_OK)
        got++;
    tap_ok(got == 30 && err == SR_EPARSE && strstr(why, "without a final chunk"),
           "partial: %u packets, then \"%s\"", got, why ? why : "");
    stor_reader_close(r);
    unlink(path);
}

/* Packets around the Ogg page limits (255-byte lacing, 4 KiB page bodies,
 * the 64 KiB payload maximum: packets that span pages) come back bit-exact
 * and pass every page check; a flush with nothing new writes nothing; an
 * unknown sync policy is refused. */
/* Recipients parsed once (the recorder's way): bad files are named at load,
 * and archives written with the loaded set open for each recipient. */
static void recipients_preloaded(struct fixture *fx)
{
    const char *files[] = { fx->a_crt, fx->b_crt }, *bad[] = { "/nonexistent.crt" },
               *notcert[] = { fx->a_key }, *why = NULL;
    struct stor_writer_cfg cfg = { fx->dir, NULL, 0, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_call_info call = { .call_id = "preloaded" };
    struct stor_recipients *rc = NULL;
    struct stor_writer *w;
    struct stor_reader *r;
    char id[STOR_ID_HEX], path[8192];
    uint8_t pay[160];
    unsigned idx;
    struct stor_pkt q = { 1, 1, 160, 1700000000000000ull, 0, pay, sizeof(pay) }, p;

    enum sr_err err = stor_recipients_load(&rc, bad, 1, &why);

    tap_ok(err == SR_EIO && why && strstr(why, "open"), "a missing recipient file is named at load (%s)",
           why ? why : "-");
    err = stor_recipients_load(&rc, notcert, 1, &why);
    tap_ok(err == SR_EPARSE && why && strstr(why, "PEM"),
           "a file that is not a certificate is refused at load (%s)", why ? why : "-");
    tap_ok(stor_recipients_load(&rc, files, 0, &why) == SR_EINVAL, "no recipients: SR_EINVAL");
    tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_EINVAL,
           "a writer with neither files nor a loaded set is refused");
    if (!tap_ok(stor_recipients_load(&rc, files, 2, &why) == SR_OK, "two recipients loaded once"))
        return;
    cfg.rcpt = rc;
    memset(pay, 0x21, sizeof(pay));
    tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
               stor_writer_add_stream(w, &fx->si[0], &idx) == SR_OK &&
               stor_writer_packet(w, idx, &q) == SR_OK &&
               stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK,
           "an archive written with the loaded set");
    stor_recipients_free(rc);
    for (int k = 0; k < 2; k++) {
        bool same = false;
        if (stor_reader_open(&r, path, k ? fx->b_crt : fx->a_crt, k ? fx->b_key : fx->a_key,
                             NULL) == SR_OK) {
            same = stor_reader_next(r, &idx, &p, NULL) == SR_OK && p.payload_len == sizeof(pay) &&
                   memcmp(p.payload, pay, sizeof(pay)) == 0;
            stor_reader_close(r);
        }
        tap_ok(same, "recipient %s reads it back", k ? "B (RSA)" : "A (EC)");
    }
    unlink(path);
}

/* Streams added one by one after data (an SSRC change, or the recorder's
 * unmatched archive): each restarts every live stream in a new chain link.
 * The writer stops at the serial budget the page checks accept, so the
 * archive it refuses a stream for still verifies and reads back whole. */
static void streams_after_data(struct fixture *fx)
{
    const char *recips[] = { fx->a_crt };
    struct stor_writer_cfg cfg = { fx->dir, recips, 1, 0, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_call_info call = { .call_id = "many-links" };
    struct stor_stream_info si = fx->si[0];
    struct stor_writer *w;
    struct stor_reader *r;
    char id[STOR_ID_HEX], path[8192], msg[256];
    unsigned idx, added = 0, written = 0, got = 0;
    uint8_t pay[160];
    struct stor_pkt p;
    enum sr_err err = SR_OK;

    memset(pay, 0x3c, sizeof(pay));
    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK, "many links: writer"))
        return;
    for (unsigned k = 0; k < 200; k++) {
        struct stor_pkt q = { (uint16_t)k, k, 1000 + k * 160ull,
                              1700000000000000ull + k * 20000ull, 0, pay, sizeof(pay) };
        si.ssrc = 0x5000 + k;
        err = stor_writer_add_stream(w, &si, &idx);
        if (err)
            break;
        added++;
        if (stor_writer_packet(w, idx, &q) == SR_OK)
            written++;
    }
    /* k streams added after data use k(k+1)/2 serials: 90 fit in 4,096. */
    tap_ok(err == SR_ELIMIT && added == 90 && written == 90,
           "the 91st stream added after data is refused (%s after %u)", sr_strerror(err), added);
    tap_ok(stor_writer_close(w, NULL, path, sizeof(path)) == SR_OK, "many links: sealed");
    tap_ok(stor_verify_msg(path, fx->a_crt, fx->a_key, msg, sizeof(msg)) == SR_OK,
           "many links: verify (page checks included): %s", msg);
    if (stor_reader_open(&r, path, fx->a_crt, fx->a_key, NULL) == SR_OK) {
        while (stor_reader_next(r, &idx, &p, NULL) == SR_OK)
            got++;
        stor_reader_close(r);
    }
    tap_ok(got == written, "many links: every packet reads back (%u of %u)", got, written);
    unlink(path);
}

static void pages_and_flushes(struct fixture *fx)
{
    enum { MAXPAY = 65536 }; /* STOR_MAX_PAYLOAD in stor_priv.h */
    static const size_t sizes[] = { 0, 1, 227, 228, 229, 254, 255, 256, 483, 510, 3800, 4069,
                                    4096, 8000, 20000, MAXPAY, 160, 160 };
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    const char *recips[] = { fx->a_crt };
    struct stor_writer_cfg cfg = { fx->dir, recips, 1, 0, 0, STOR_SYNC_FLUSH, NULL };
    struct stor_call_info call = { .call_id = "pages" };
    static uint8_t data[N][MAXPAY];
    struct stor_writer *w;
    struct stor_reader *r;
    char id[STOR_ID_HEX], path[8192], partial[8300], msg[256];
    struct stat st0, st1, st2;
    unsigned idx[2], got = 0, same = 0;
    struct stor_pkt p;
    enum sr_err err;

    cfg.sync = (enum stor_sync)7;
    tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_EINVAL, "unknown sync policy refused");
    cfg.sync = STOR_SYNC_FLUSH;
    if (!tap_ok(stor_writer_open(&w, &cfg, &call, id) == SR_OK &&
                    stor_writer_add_stream(w, &fx->si[0], &idx[0]) == SR_OK &&
                    stor_writer_add_stream(w, &fx->si[1], &idx[1]) == SR_OK,
                "pages: writer"))
        return;
    snprintf(partial, sizeof(partial), "%s/%s.srec.partial", fx->dir, id);
    for (unsigned i = 0; i < N; i++) {
        struct stor_pkt q = { (uint16_t)i, i, 1000 + i * 160ull, 1700000000000000ull + i * 20000ull,
                              0, data[i], sizes[i] };
        fill_payload(data[i], sizes[i], 5, i);
        err = stor_writer_packet(w, idx[i % 2], &q);
        if (err)
            break;
    }
    tap_ok(err == SR_OK, "pages: packets of every size accepted");
    err = stor_writer_flush(w);
    tap_ok(err == SR_OK && stat(partial, &st0) == 0, "pages: flushed");
    err = stor_writer_flush(w);
    if (stat(partial, &st1) != 0)
        st1.st_size = -1;
    tap_ok(err == SR_OK && st1.st_size == st0.st_size,
           "a flush with nothing new writes nothing (%lld -> %lld bytes)",
           (long long)st0.st_size, (long long)st1.st_size);
    err = stor_writer_close(w, NULL, path, sizeof(path));
    tap_ok(err == SR_OK && stat(path, &st2) == 0 && st2.st_size > st1.st_size, "pages: sealed");
    tap_ok(stor_verify_msg(path, fx->a_crt, fx->a_key, msg, sizeof(msg)) == SR_OK,
           "pages: verify (page checks included): %s", msg);
    if (stor_reader_open(&r, path, fx->a_crt, fx->a_key, NULL) == SR_OK) {
        while (stor_reader_next(r, &idx[0], &p, NULL) == SR_OK) {
            if (p.seq < N && p.payload_len == sizes[p.seq] && idx[0] == p.seq % 2 &&
                memcmp(p.payload, data[p.seq], p.payload_len) == 0)
                same++;
            got++;
        }
        stor_reader_close(r);
    }
    tap_ok(got == N && same == N, "pages: %u of %u packets back bit-exact", same, got);
    unlink(path);
}

/* Whether the file's bytes hold s anywhere. */
static bool file_has(const char *path, const char *s)
{
    size_t len, n = strlen(s);
    unsigned char *f = testcert_slurp(path, &len);
    bool found = false;

    for (size_t i = 0; f && i + n <= len && !found; i++)
        found = memcmp(f + i, s, n) == 0;
    free(f);
    return found;
}

/* Archives as earlier writers wrote them stay readable (tests/vectors/
 * archive: format 1, written by the recorder of 2026-11-25, the Call-ID and
 * AORs in its clear header; format 2 by this one), with the fixed test
 * key the fuzz corpus uses. */
static void old_versions(const char *vec)
{
    static const struct {
        const char *file, *call_id, *local, *remote;
        unsigned version;
        uint64_t packets;
    } v[] = {
        { "v1-one-stream.srec", "seed@x", "sip:a@x", "sip:b@y", 1, 8 },
        { "v2-two-streams.srec", "e2e-call-1@example.net", "sip:alice@example.net",
          "sip:bob@example.net", 2, 12 },
    };
    char crt[4096], key[4096], path[4096];

    snprintf(crt, sizeof(crt), "%s/fuzz-recipient.crt", vec);
    snprintf(key, sizeof(key), "%s/fuzz-recipient.key", vec);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct stor_reader *r = NULL;
        const struct stor_call_info *ci;
        struct stor_pkt p;
        unsigned idx;
        uint64_t n = 0;
        size_t len;
        unsigned char *f;

        snprintf(path, sizeof(path), "%s/%s", vec, v[i].file);
        f = testcert_slurp(path, &len);
        tap_ok(f && len > 10 && f[9] == v[i].version, "%s: format version %u", v[i].file,
               v[i].version);
        free(f);
        if (!tap_ok(stor_reader_open(&r, path, crt, key, NULL) == SR_OK, "%s: opens", v[i].file))
            continue;
        ci = stor_reader_call(r);
        tap_ok(!strcmp(ci->call_id, v[i].call_id) && !strcmp(ci->local_aor, v[i].local) &&
                   !strcmp(ci->remote_aor, v[i].remote),
               "%s: Call-ID and parties read back (%s, %s, %s)", v[i].file, ci->call_id,
               ci->local_aor, ci->remote_aor);
        while (stor_reader_next(r, &idx, &p, NULL) == SR_OK)
            n++;
        stor_reader_close(r);
        tap_ok(n == v[i].packets, "%s: %llu packets", v[i].file, (unsigned long long)n);
        tap_ok(stor_verify(path, crt, key, NULL) == SR_OK, "%s: verifies", v[i].file);
        tap_ok(file_has(path, v[i].call_id) == (v[i].version == 1) &&
                   file_has(path, v[i].local) == (v[i].version == 1),
               "%s: Call-ID and AOR %s in clear", v[i].file,
               v[i].version == 1 ? "are" : "are not");
    }
}

int main(int argc, char **argv)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (!tap_ok(fx && testcert_tmpdir(fx->dir), "temp dir"))
        return tap_done();
    tap_ok(testcert_make(fx->dir, "alice", TESTCERT_EC, fx->a_crt, fx->a_key) &&
               testcert_make(fx->dir, "bob", TESTCERT_RSA, fx->b_crt, fx->b_key) &&
               testcert_make(fx->dir, "eve", TESTCERT_EC, fx->e_crt, fx->e_key),
           "throwaway certificates");
    if (tap_ok(write_archive(fx), "write archive %s", fx->id)) {
        tap_ok(strstr(fx->path, ".srec") && !strstr(fx->path, ".partial"), "renamed on close");
        read_back(fx, fx->a_crt, fx->a_key, "EC recipient");
        read_back(fx, fx->b_crt, fx->b_key, "RSA recipient");
        tap_ok(stor_verify(fx->path, fx->a_crt, fx->a_key, NULL) == SR_OK, "verify OK");
        no_plaintext_on_disk(fx);
        tamper(fx);
        wrong_keys(fx);
        openssl_cms(fx);
        ogg_validate(fx);
    }
    partial_and_empty(fx);
    pages_and_flushes(fx);
    streams_after_data(fx);
    recipients_preloaded(fx);
    if (argc > 1)
        old_versions(argv[1]);
    else
        tap_skip("no vectors directory given");
    testcert_rmdir(fx->dir);
    free(fx);
    return tap_done();
}
