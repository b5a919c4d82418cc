/** @file test_durable.c  Progress blocks, end states, reconciliation and a seal
 *  that survives a full disk (docs/storage.md, "Durability" and "Disk full"). */
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stor.h"
#include "tap.h"
#include "testcert.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static char dir[4096], crt[4096], key[4096];

static void call_info(struct stor_call_info *c, const char *call_id)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
    snprintf(c->local_aor, sizeof(c->local_aor), "sip:alice@example.net");
    snprintf(c->remote_aor, sizeof(c->remote_aor), "sip:bob@example.org");
    c->start_wall_us = 1700000000000000ull;
}

/* n packets on stream idx, the k-th flagged encrypted when k % 7 == 3;
 * sizes vary so that pages and chunks end at many different places. */
static enum sr_err put(struct stor_writer *w, unsigned idx, unsigned from, unsigned n,
                       uint64_t *accepted, uint64_t *enc)
{
    uint8_t pay[400];

    for (unsigned i = from; i < from + n; i++) {
        size_t len = 40 + (i * 37) % 360;
        struct stor_pkt p = { (uint16_t)i, i, (uint64_t)i * 160,
                              1700000000000000ull + i * 20000u, 0, pay, len };
        enum sr_err err;
        if (i % 7 == 3)
            p.flags |= STOR_PKT_ENCRYPTED;
        memset(pay, (int)(i & 0xff), len);
        if ((err = stor_writer_packet(w, idx, &p)))
            return err;
        (*accepted)++;
        if (enc && (p.flags & STOR_PKT_ENCRYPTED))
            (*enc)++;
    }
    return SR_OK;
}

/* Packets and streams a reader finds; *end: its last return. */
static uint64_t read_back(const char *path, size_t *streams, enum stor_end *how, enum sr_err *end)
{
    struct stor_reader *r;
    struct stor_pkt p;
    unsigned idx;
    uint64_t n = 0;

    *streams = 0;
    *how = STOR_END_NONE;
    if ((*end = stor_reader_open(&r, path, crt, key, NULL)))
        return 0;
    while ((*end = stor_reader_next(r, &idx, &p, NULL)) == SR_OK)
        n++;
    *streams = stor_reader_n_streams(r);
    *how = stor_reader_end(r);
    stor_reader_close(r);
    return n;
}

static struct stor_writer *writer(const char *in, size_t chunk, const char *cid, char id[STOR_ID_HEX],
                                  unsigned idx[2])
{
    const char *recips[] = { crt };
    struct stor_writer_cfg cfg = { in, recips, 1, chunk, 0, STOR_SYNC_CLOSE, NULL };
    struct stor_stream_info a = { 0x1111, 0, "PCMU", 8000, STOR_DIR_SEND, "a", false };
    struct stor_stream_info b = { 0x2222, 0, "PCMU", 8000, STOR_DIR_RECV, "b", false };
    struct stor_call_info call;
    struct stor_writer *w = NULL;

    call_info(&call, cid);
    if (stor_writer_open(&w, &cfg, &call, id) != SR_OK)
        return NULL;
    stor_writer_add_stream(w, &a, &idx[0]);
    stor_writer_add_stream(w, &b, &idx[1]);
    return w;
}

/* kill -9 at many points: recovery's index row says what verify reads. */
static void progress_after_crash(struct stor_index *ix)
{
    size_t bad = 0, pend_bad = 0, runs = 0;

    for (unsigned cut = 1; cut < 400; cut += 23, runs++) {
        char id[STOR_ID_HEX], path[4096];
        unsigned idx[2];
        uint64_t acc = 0, pending, n;
        size_t streams;
        enum stor_end how;
        enum sr_err err;
        struct stor_record rec;
        struct stor_writer *w = writer(dir, 2048, "crash@x", id, idx);
        if (!w) {
            bad++;
            continue;
        }
        for (unsigned i = 0; i < cut; i++) {
            put(w, idx[i & 1], i, 1, &acc, NULL);
            if (i % 37 == 36)
                stor_writer_flush(w);
        }
        /* A third stream after data: a new chain link, counted once. */
        if (cut > 200) {
            struct stor_stream_info c = { 0x3333, 8, "PCMA", 8000, STOR_DIR_SEND, "c", false };
            unsigned ci;
            stor_writer_add_stream(w, &c, &ci);
            put(w, ci, 1000, 30, &acc, NULL);
        }
        pending = stor_writer_pending(w, NULL);
        stor_writer_abandon(w);
        if (stor_recover(dir, ix, NULL) != SR_OK) {
            bad++;
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s.srec", dir, id);
        n = read_back(path, &streams, &how, &err);
        if (err != SR_ECLOSED || stor_index_get(ix, id, &rec) != SR_OK ||
            rec.state != STOR_STATE_RECOVERED || rec.packets != n || rec.n_streams != streams) {
            tap_diag("cut %u: read %llu in %zu streams (%s); row %llu in %u", cut,
                     (unsigned long long)n, streams, sr_strerror(err),
                     (unsigned long long)rec.packets, rec.n_streams);
            bad++;
        }
        if (acc - pending != n)
            pend_bad++;
        unlink(path);
        stor_index_delete(ix, id);
    }
    tap_ok(bad == 0, "after a crash at %zu points, the index row's packets and streams equal "
           "what the reader finds (%zu wrong)", runs, bad);
    tap_ok(pend_bad == 0, "stor_writer_pending said exactly what the crash lost (%zu wrong)",
           pend_bad);
}

/* Sealed archives without index rows get theirs, state from the final frame. */
static void end_state_and_reconcile(struct stor_index *ix)
{
    char id[2][STOR_ID_HEX], path[2][4096], msg[256];
    const enum stor_end ends[2] = { STOR_END_COMPLETE, STOR_END_SHUTDOWN };
    uint64_t acc[2] = { 0, 0 };
    struct stor_recover_stats st;
    struct stor_record rec;
    unsigned idx[2];
    enum sr_err err;

    for (int k = 0; k < 2; k++) {
        struct stor_counts c = { 0 };
        struct stor_writer *w = writer(dir, 0, k ? "cut@x" : "whole@x", id[k], idx);
        put(w, idx[0], 0, 120, &acc[k], NULL);
        put(w, idx[1], 0, 80, &acc[k], NULL);
        c.packets = acc[k];
        tap_ok(stor_writer_seal(w, &c, ends[k], path[k], sizeof(path[k])) == SR_OK,
               "seal as %s", stor_end_name(ends[k]));
        stor_writer_abandon(w);
    }
    for (int k = 0; k < 2; k++) {
        size_t streams;
        enum stor_end how;
        uint64_t n = read_back(path[k], &streams, &how, &err);
        tap_ok(err == SR_ECLOSED && n == acc[k] && streams == 2 && how == ends[k],
               "the reader reads %llu packets and end=%s", (unsigned long long)n,
               stor_end_name(how));
        tap_ok(stor_verify_msg(path[k], crt, key, msg, sizeof(msg)) == SR_OK, "verify: %s", msg);
    }
    err = stor_recover(dir, ix, &st);
    tap_ok(err == SR_OK && st.reconciled == 2,
           "recovery indexes the two sealed archives that had no row (%zu)", st.reconciled);
    err = stor_index_get(ix, id[0], &rec);
    tap_ok(err == SR_OK && rec.state == STOR_STATE_COMPLETE &&
               rec.packets == acc[0] && rec.n_streams == 2 && rec.call.call_id[0] == 0,
           "row of the whole one: complete, %llu packets, %u streams, no Call-ID (sealed in the header)",
           (unsigned long long)rec.packets, rec.n_streams);
    err = stor_index_get(ix, id[1], &rec);
    tap_ok(err == SR_OK && rec.state == STOR_STATE_SHUTDOWN &&
               rec.packets == acc[1] && rec.n_streams == 2,
           "row of the one cut by shutdown: state %s", stor_state_name(rec.state));
    tap_ok(stor_recover(dir, ix, &st) == SR_OK && st.reconciled == 0,
           "a second run finds nothing to add");
    /* A row that said recording while the file was sealed takes the file's counts. */
    rec.state = STOR_STATE_RECORDING;
    rec.packets = 0;
    rec.n_streams = 0;
    stor_index_put(ix, &rec);
    tap_ok(stor_recover(dir, ix, &st) == SR_OK && stor_index_get(ix, id[1], &rec) == SR_OK &&
               rec.state == STOR_STATE_SHUTDOWN && rec.packets == acc[1] && rec.n_streams == 2,
           "a stale 'recording' row takes the archive's state and counts");
    for (int k = 0; k < 2; k++) {
        unlink(path[k]);
        stor_index_delete(ix, id[k]);
    }
}

/* A private mount namespace and a small tmpfs: root only. */
static bool small_fs(const char *mnt, const char *size)
{
    char opt[64];

    snprintf(opt, sizeof(opt), "size=%s", size);
    mkdir(mnt, 0700);
    return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("tmpfs", mnt, "tmpfs", 0, opt) == 0;
}

static void fill(const char *path)
{
    static uint8_t zeros[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    while (fd >= 0 && write(fd, zeros, sizeof(zeros)) > 0)
        ;
    if (fd >= 0)
        close(fd);
}

/* Disk full at the end of a call: the seal keeps the buffered data, fails,
 * and succeeds once space returns; given up, what is lost is known. */
static void seal_on_full_disk(struct stor_index *ix)
{
    char mnt[4096], filler[4096], id[STOR_ID_HEX], path[4096], partial[4096];
    unsigned idx[2];
    uint64_t acc = 0, enc = 0, pending, pend_enc, n;
    size_t streams;
    enum stor_end how;
    enum sr_err err, e1, e2;
    struct stor_writer *w;
    struct stor_record rec;
    struct stor_counts c = { 0 };

    snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
    if (!small_fs(mnt, "96k")) {
        for (int k = 0; k < 9; k++)
            tap_skip("cannot mount a tmpfs in a private namespace (not root?)");
        return;
    }
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    w = writer(mnt, 4096, "full@x", id, idx);
    tap_ok(w != NULL, "writer opens on a 96 KiB tmpfs");
    put(w, idx[0], 0, 40, &acc, &enc);
    tap_ok(stor_writer_flush(w) == SR_OK, "a flush with space");
    fill(filler);
    /* Less than max_buffered (4 chunks): every packet is accepted. */
    put(w, idx[0], 40, 30, &acc, &enc);
    put(w, idx[1], 40, 30, &acc, &enc);
    c.packets = acc;
    e1 = stor_writer_seal(w, &c, STOR_END_COMPLETE, path, sizeof(path));
    pending = stor_writer_pending(w, &pend_enc);
    e2 = stor_writer_seal(w, &c, STOR_END_COMPLETE, path, sizeof(path));
    tap_ok(e1 == SR_ENOSPC && e2 == SR_ENOSPC, "the seal fails with no space, twice (%s, %s)",
           sr_strerror(e1), sr_strerror(e2));
    tap_ok(pending > 0 && pending < acc && pend_enc > 0,
           "it knows what is not on the disk yet (%llu of %llu packets, %llu encrypted)",
           (unsigned long long)pending, (unsigned long long)acc, (unsigned long long)pend_enc);
    snprintf(partial, sizeof(partial), "%s/%s.srec.partial", mnt, id);
    tap_ok(access(partial, F_OK) == 0, "the archive is still a .partial");
    tap_ok(stor_writer_packet(w, idx[0], &(struct stor_pkt){ 0 }) == SR_ESTATE,
           "no packet is taken once sealing began");
    unlink(filler); /* space returns */
    err = stor_writer_seal(w, &c, STOR_END_COMPLETE, path, sizeof(path));
    stor_writer_abandon(w);
    tap_ok(err == SR_OK, "the retried seal succeeds once space returns (%s)", sr_strerror(err));
    n = read_back(path, &streams, &how, &err);
    tap_ok(err == SR_ECLOSED && n == acc && how == STOR_END_COMPLETE,
           "every packet handed in is in the sealed archive (%llu of %llu)",
           (unsigned long long)n, (unsigned long long)acc);
    unlink(path);

    /* Given up while still full: recovery finds exactly the rest. */
    acc = 0;
    w = writer(mnt, 4096, "lost@x", id, idx);
    put(w, idx[0], 0, 40, &acc, NULL);
    stor_writer_flush(w);
    fill(filler);
    put(w, idx[1], 40, 50, &acc, NULL);
    e1 = stor_writer_seal(w, &c, STOR_END_SHUTDOWN, path, sizeof(path));
    pending = stor_writer_pending(w, NULL);
    stor_writer_abandon(w);
    unlink(filler);
    stor_recover(mnt, ix, NULL);
    snprintf(path, sizeof(path), "%s/%s.srec", mnt, id);
    n = read_back(path, &streams, &how, &err);
    e2 = stor_index_get(ix, id, &rec);
    tap_ok(e1 == SR_ENOSPC && err == SR_ECLOSED && n == acc - pending && e2 == SR_OK &&
               rec.packets == n,
           "abandoned: recovery keeps %llu, the writer had said %llu of %llu were lost, the "
           "row says %llu", (unsigned long long)n, (unsigned long long)pending,
           (unsigned long long)acc, (unsigned long long)rec.packets);
    unlink(path);
    umount(mnt);
    rmdir(mnt);
}

int main(void)
{
    struct stor_index *ix;
    char db[4096];

    if (!testcert_tmpdir(dir) || !testcert_make(dir, "aud", TESTCERT_EC, crt, key))
        return 1;
    snprintf(db, sizeof(db), "%s/index.sqlite", dir);
    tap_ok(stor_index_open(&ix, db) == SR_OK, "index opens");
    progress_after_crash(ix);
    end_state_and_reconcile(ix);
    seal_on_full_disk(ix);
    stor_index_close(ix);
    testcert_rmdir(dir);
    return tap_done();
}
