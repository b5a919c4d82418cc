/** @file kbshare.c  One key body printed once, sent with many versions.
 *
 * Subscriptions that see the same dialogs differ only in the version on the
 * <srtp-keys> line, so the notifier prints the <dialog> elements once per
 * flush and wraps them per subscription.  Both halves come from
 * sipev_keybody_print itself (the head is an empty body's print without its
 * closing tag), so a composed body is byte for byte what a whole print with
 * that version gives: tests/keyagent/test_ka_nwin.c checks it.
 */
#include <string.h>

#include "buf.h"
#include "ka_priv.h"
#include "util.h"

static const char KB_TAIL[] = "</srtp-keys>\n";
enum { KB_TAIL_LEN = sizeof(KB_TAIL) - 1 };

/* The document head ("<?xml ...?>\n<srtp-keys ...>\n") onto out. */
static enum sr_err head_print(struct buf *out, const char *entity, bool full, uint64_t version)
{
    struct sipev_keybody e = { .version = version, .full = full };
    size_t start = out->len;
    enum sr_err err;

    if (strlen(entity) >= sizeof(e.entity))
        return SR_EINVAL;
    memcpy(e.entity, entity, strlen(entity) + 1);
    err = sipev_keybody_print(out, &e);
    if (err)
        return err;
    if (out->len - start < KB_TAIL_LEN ||
        memcmp(out->p + out->len - KB_TAIL_LEN, KB_TAIL, KB_TAIL_LEN) != 0) {
        out->len = start;
        return SR_EINVAL;
    }
    out->len -= KB_TAIL_LEN;
    return SR_OK;
}

enum sr_err ka_kb_fragment_print(struct buf *frag, const struct sipev_keybody *kb,
                                 struct buf *scratch)
{
    size_t start = frag->len, len;
    enum sr_err err;

    buf_reset(scratch);
    err = sipev_keybody_print(frag, kb);
    if (err)
        return err;
    err = head_print(scratch, kb->entity, kb->full, kb->version);
    /* Anything but head + dialogs + tail means the printer changed shape:
     * refuse rather than send a body the subscriber would misread. */
    if (!err && (frag->len - start < scratch->len + KB_TAIL_LEN ||
                 memcmp(frag->p + start, scratch->p, scratch->len) != 0))
        err = SR_EINVAL;
    if (err) {
        sr_wipe(frag->p + start, frag->len - start);
        frag->len = start;
        return err;
    }
    len = frag->len - start - scratch->len - KB_TAIL_LEN;
    memmove(frag->p + start, frag->p + start + scratch->len, len);
    sr_wipe(frag->p + start + len, frag->len - start - len);
    frag->len = start + len;
    return SR_OK;
}

enum sr_err ka_kb_compose(struct buf *out, const char *entity, bool full, uint64_t version,
                          const struct buf *frag)
{
    size_t start = out->len;
    enum sr_err err = head_print(out, entity, full, version);

    if (!err)
        err = buf_append(out, frag->p, frag->len);
    if (!err)
        err = buf_append(out, KB_TAIL, KB_TAIL_LEN);
    if (err) {
        sr_wipe(out->p + start, out->len - start);
        out->len = start;
    }
    return err;
}
