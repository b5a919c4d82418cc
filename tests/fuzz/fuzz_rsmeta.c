/* Fuzz target: RFC 7865 metadata (siprec/rsmeta.c) and the merge
 * (siprec/mdmerge.c).  The input is split at the first "\n--\n" into a first
 * document and an update; each that parses is merged into one model, which
 * must stay within its bounds and keep every reference resolvable. */
#include <stdint.h>
#include <string.h>

#include "siprec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct siprec_md *md)
{
    if (md->n_group > SIPREC_MD_MAX_GROUPS || md->n_session > SIPREC_MD_MAX_SESSIONS ||
        md->n_participant > SIPREC_MD_MAX_PARTICIPANTS || md->n_stream > SIPREC_MD_MAX_STREAMS ||
        md->n_pstream > SIPREC_MD_MAX_PARTICIPANTS || md->n_ext > SIPREC_MD_MAX_EXT_N ||
        md->ext_len > SIPREC_MD_MAX_EXT)
        __builtin_trap();
    for (size_t i = 0; i < md->n_ext; i++) {
        struct slice x = siprec_md_ext_bytes(md, i);
        if (x.len == 0 || x.p[0] != '<' || x.p + x.len > md->ext + md->ext_len)
            __builtin_trap();
    }
    for (size_t i = 0; i < md->n_stream; i++) {
        const struct siprec_md_participant *p = siprec_md_stream_sender(md, md->stream[i].id);
        if (p && !siprec_md_participant(md, p->id))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct siprec_md *model, *doc;
    const char *p = (const char *)data, *why = NULL;
    size_t split = size, rest = size;

    if (!model) {
        model = siprec_md_create();
        doc = siprec_md_create();
    }
    siprec_md_clear(model);
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(p + i, "\n--\n", 4) == 0) {
            split = i;
            rest = i + 4;
            break;
        }
    for (int pass = 0; pass < 2; pass++) {
        const char *d = pass ? p + rest : p;
        size_t n = pass ? size - rest : split;
        enum siprec_err e = siprec_md_parse(d, n, doc, &why);

        if (pass && rest == size)
            break;
        if (e != SIPREC_OK) {
            if (!why || !why[0] || siprec_err_class(e) == SR_OK || doc->n_participant || doc->n_ext)
                __builtin_trap();
            continue;
        }
        check(doc);
        e = siprec_md_merge(model, doc, &why);
        if (e != SIPREC_OK && (!why || !why[0]))
            __builtin_trap();
        check(model);
    }
    return 0;
}
