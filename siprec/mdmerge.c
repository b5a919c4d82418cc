/** @file mdmerge.c  Complete and partial metadata updates (RFC 7865) and
 *  lookups on the model (siprec.h). */
#include <stdlib.h>
#include <string.h>

#include "siprec_priv.h"
#include "util.h"

static void time_take(int64_t *dst, int64_t src)
{
    if (src != SIPREC_MD_TIME_NONE)
        *dst = src;
}

#define FIND(arr, n, field, key, out)                      \
    do {                                                   \
        (out) = NULL;                                      \
        for (size_t i_ = 0; i_ < (n); i_++)                \
            if (strcmp((arr)[i_].field, (key)) == 0) {     \
                (out) = &(arr)[i_];                        \
                break;                                     \
            }                                              \
    } while (0)

/* Append e to arr when it has room; false (limit) otherwise. */
#define ADD(arr, n, max, e) ((n) < (max) ? ((arr)[(n)++] = (e), true) : false)

static bool merge_groups(struct siprec_md *m, const struct siprec_md *u)
{
    for (size_t i = 0; i < u->n_group; i++) {
        struct siprec_md_group *g;

        FIND(m->group, m->n_group, id, u->group[i].id, g);
        if (!g) {
            if (!ADD(m->group, m->n_group, SIPREC_MD_MAX_GROUPS, u->group[i]))
                return false;
            continue;
        }
        time_take(&g->associate, u->group[i].associate);
        time_take(&g->disassociate, u->group[i].disassociate);
    }
    return true;
}

static bool merge_sessions(struct siprec_md *m, const struct siprec_md *u)
{
    for (size_t i = 0; i < u->n_session; i++) {
        const struct siprec_md_session *us = &u->session[i];
        struct siprec_md_session *s;

        FIND(m->session, m->n_session, id, us->id, s);
        if (!s) {
            if (!ADD(m->session, m->n_session, SIPREC_MD_MAX_SESSIONS, *us))
                return false;
            continue;
        }
        if (us->n_sip_session_id) {
            memcpy(s->sip_session_id, us->sip_session_id, sizeof(s->sip_session_id));
            s->n_sip_session_id = us->n_sip_session_id;
        }
        if (us->group_ref[0])
            memcpy(s->group_ref, us->group_ref, sizeof(s->group_ref));
        time_take(&s->start, us->start);
        time_take(&s->stop, us->stop);
    }
    return true;
}

static bool merge_participants(struct siprec_md *m, const struct siprec_md *u)
{
    for (size_t i = 0; i < u->n_participant; i++) {
        const struct siprec_md_participant *up = &u->participant[i];
        struct siprec_md_participant *p;

        FIND(m->participant, m->n_participant, id, up->id, p);
        if (!p) {
            if (!ADD(m->participant, m->n_participant, SIPREC_MD_MAX_PARTICIPANTS, *up))
                return false;
            continue;
        }
        if (up->n_nameid) {
            memcpy(p->nameid, up->nameid, sizeof(p->nameid));
            p->n_nameid = up->n_nameid;
        }
    }
    return true;
}

static bool merge_streams(struct siprec_md *m, const struct siprec_md *u)
{
    for (size_t i = 0; i < u->n_stream; i++) {
        const struct siprec_md_stream *us = &u->stream[i];
        struct siprec_md_stream *s;

        FIND(m->stream, m->n_stream, id, us->id, s);
        if (!s) {
            if (!ADD(m->stream, m->n_stream, SIPREC_MD_MAX_STREAMS, *us))
                return false;
            continue;
        }
        memcpy(s->session_id, us->session_id, sizeof(s->session_id));
        if (us->label[0])
            memcpy(s->label, us->label, sizeof(s->label));
    }
    return true;
}

/* A participantstreamassoc states the participant's streams as a whole. */
static bool merge_pstreams(struct siprec_md *m, const struct siprec_md *u)
{
    for (size_t i = 0; i < u->n_pstream; i++) {
        const struct siprec_md_pstream *up = &u->pstream[i];
        struct siprec_md_pstream *p;
        int64_t a, d;

        FIND(m->pstream, m->n_pstream, participant_id, up->participant_id, p);
        if (!p) {
            if (!ADD(m->pstream, m->n_pstream, SIPREC_MD_MAX_PARTICIPANTS, *up))
                return false;
            continue;
        }
        a = p->associate;
        d = p->disassociate;
        *p = *up;
        if (p->associate == SIPREC_MD_TIME_NONE)
            p->associate = a;
        if (p->disassociate == SIPREC_MD_TIME_NONE)
            p->disassociate = d;
    }
    return true;
}

static bool merge_assocs(struct siprec_md_assoc *arr, size_t *n, const struct siprec_md_assoc *uarr,
                         size_t un)
{
    for (size_t i = 0; i < un; i++) {
        struct siprec_md_assoc *a = NULL;

        for (size_t k = 0; k < *n && !a; k++)
            if (strcmp(arr[k].participant_id, uarr[i].participant_id) == 0 &&
                strcmp(arr[k].session_id, uarr[i].session_id) == 0)
                a = &arr[k];
        if (!a) {
            if (!ADD(arr, *n, SIPREC_MD_MAX_ASSOC, uarr[i]))
                return false;
            continue;
        }
        time_take(&a->associate, uarr[i].associate);
        time_take(&a->disassociate, uarr[i].disassociate);
    }
    return true;
}

static bool same_owner(const struct siprec_md_ext *a, const struct siprec_md_ext *b)
{
    return a->owner == b->owner && strcmp(a->owner_id, b->owner_id) == 0;
}

/* The update's extensions replace those of the same element; others stay. */
static bool merge_ext(struct siprec_md *m, const struct siprec_md *u, struct siprec_md *scratch)
{
    scratch->n_ext = 0;
    scratch->ext_len = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct siprec_md *src = pass ? u : m;

        for (size_t i = 0; i < src->n_ext; i++) {
            const struct siprec_md_ext *x = &src->ext_index[i];
            bool replaced = false;

            for (size_t k = 0; !pass && k < u->n_ext && !replaced; k++)
                replaced = same_owner(x, &u->ext_index[k]);
            if (replaced)
                continue;
            if (scratch->n_ext == SIPREC_MD_MAX_EXT_N || x->len > SIPREC_MD_MAX_EXT - scratch->ext_len)
                return false;
            scratch->ext_index[scratch->n_ext] = *x;
            scratch->ext_index[scratch->n_ext++].off = scratch->ext_len;
            memcpy(scratch->ext + scratch->ext_len, src->ext + x->off, x->len);
            scratch->ext_len += x->len;
        }
    }
    memcpy(m->ext_index, scratch->ext_index, sizeof(m->ext_index));
    m->n_ext = scratch->n_ext;
    memcpy(m->ext, scratch->ext, scratch->ext_len);
    m->ext_len = scratch->ext_len;
    return true;
}

static bool has_session(const struct siprec_md *m, const char *id)
{
    for (size_t i = 0; i < m->n_session; i++)
        if (strcmp(m->session[i].id, id) == 0)
            return true;
    return false;
}

static bool has_stream(const struct siprec_md *m, const char *id)
{
    for (size_t i = 0; i < m->n_stream; i++)
        if (strcmp(m->stream[i].id, id) == 0)
            return true;
    return false;
}

/* What the recording relies on must resolve; group-ref is informative
 * (SBCs name groups they never describe) and is not checked. */
static const char *refs_check(const struct siprec_md *m)
{
    for (size_t i = 0; i < m->n_stream; i++)
        if (!has_session(m, m->stream[i].session_id))
            return "stream names an undefined session";
    for (size_t i = 0; i < m->n_psession; i++)
        if (!siprec_md_participant(m, m->psession[i].participant_id) ||
            !has_session(m, m->psession[i].session_id))
            return "participantsessionassoc names an undefined participant or session";
    for (size_t i = 0; i < m->n_srecording; i++)
        if (!has_session(m, m->srecording[i].session_id))
            return "sessionrecordingassoc names an undefined session";
    for (size_t i = 0; i < m->n_pstream; i++) {
        const struct siprec_md_pstream *p = &m->pstream[i];

        if (!siprec_md_participant(m, p->participant_id))
            return "participantstreamassoc names an undefined participant";
        for (size_t k = 0; k < p->n_send; k++)
            if (!has_stream(m, p->send[k]))
                return "send names an undefined stream";
        for (size_t k = 0; k < p->n_recv; k++)
            if (!has_stream(m, p->recv[k]))
                return "recv names an undefined stream";
    }
    return NULL;
}

enum siprec_err siprec_md_merge(struct siprec_md *model, const struct siprec_md *update,
                                const char **detail)
{
    struct siprec_md *tmp, *scratch;
    enum siprec_err err = SIPREC_OK;
    const char *why = NULL, *dummy;

    if (!detail)
        detail = &dummy;
    *detail = siprec_strerror(SIPREC_E_INVAL);
    if (!model || !update)
        return SIPREC_E_INVAL;
    if (update->mode == SIPREC_MD_COMPLETE) {
        /* Checked in place and copied once: no scratch model. */
        if ((why = refs_check(update)) != NULL) {
            *detail = why;
            return SIPREC_E_MD_REF;
        }
        if (model != update)
            *model = *update;
        model->mode = SIPREC_MD_COMPLETE;
        *detail = siprec_strerror(SIPREC_OK);
        return SIPREC_OK;
    }
    tmp = siprec_md_create();
    scratch = siprec_md_create();
    if (!tmp || !scratch) {
        siprec_md_destroy(tmp);
        siprec_md_destroy(scratch);
        *detail = siprec_strerror(SIPREC_E_NOMEM);
        return SIPREC_E_NOMEM;
    }
    *tmp = *model;
    if (!merge_groups(tmp, update) || !merge_sessions(tmp, update) ||
        !merge_participants(tmp, update) || !merge_streams(tmp, update) ||
        !merge_pstreams(tmp, update) ||
        !merge_assocs(tmp->psession, &tmp->n_psession, update->psession, update->n_psession) ||
        !merge_assocs(tmp->srecording, &tmp->n_srecording, update->srecording,
                      update->n_srecording) ||
        !merge_ext(tmp, update, scratch)) {
        err = SIPREC_E_MD_LIMIT;
        why = "merged metadata over a limit";
    }
    tmp->mode = SIPREC_MD_COMPLETE;
    if (!err && (why = refs_check(tmp)) != NULL)
        err = SIPREC_E_MD_REF;
    if (!err)
        *model = *tmp;
    *detail = err ? why : siprec_strerror(SIPREC_OK);
    siprec_md_destroy(tmp);
    siprec_md_destroy(scratch);
    return err;
}

const struct siprec_md_stream *siprec_md_stream_by_label(const struct siprec_md *md,
                                                         const char *label)
{
    if (!md || !label || !label[0])
        return NULL;
    for (size_t i = 0; i < md->n_stream; i++)
        if (strcmp(md->stream[i].label, label) == 0)
            return &md->stream[i];
    return NULL;
}

const struct siprec_md_participant *siprec_md_participant(const struct siprec_md *md,
                                                          const char *participant_id)
{
    if (!md || !participant_id)
        return NULL;
    for (size_t i = 0; i < md->n_participant; i++)
        if (strcmp(md->participant[i].id, participant_id) == 0)
            return &md->participant[i];
    return NULL;
}

const struct siprec_md_participant *siprec_md_stream_sender(const struct siprec_md *md,
                                                            const char *stream_id)
{
    if (!md || !stream_id)
        return NULL;
    for (size_t i = 0; i < md->n_pstream; i++) {
        const struct siprec_md_pstream *p = &md->pstream[i];

        if (p->disassociate != SIPREC_MD_TIME_NONE)
            continue;
        for (size_t k = 0; k < p->n_send; k++)
            if (strcmp(p->send[k], stream_id) == 0)
                return siprec_md_participant(md, p->participant_id);
    }
    return NULL;
}

struct slice siprec_md_ext_bytes(const struct siprec_md *md, size_t i)
{
    if (!md || i >= md->n_ext)
        return SLICE_NULL;
    return slice_of(md->ext + md->ext_index[i].off, md->ext_index[i].len);
}
