/** @file srtprec-kamailio-disclose.c  Kamailio's SDES keys to srtprec-keyagent.
 *
 *   srtprec-kamailio-disclose --serve --listen=SOCK --control=KA_SOCK
 *                             [--max-calls=N] [--offer-ttl-s=S] [--no-addresses]
 *   srtprec-kamailio-disclose --listen=SOCK [--no-addresses]  (message on stdin)
 *
 * Kamailio's exec_msg() runs the second form for each INVITE, its replies,
 * BYE and CANCEL (etc/kamailio/kamailio.cfg): the whole SIP message goes
 * through the pipe on standard input and on to the first form, a daemon
 * listening on a UNIX socket (created 0600), so keys are never on a command
 * line, in the environment, in a log or in a file.  A dialog's disclosure
 * needs both the offer (in the INVITE) and the answer (in its 200), which
 * arrive in two exec_msg() calls: the daemon keeps the offer in memory
 * until the answer (or offer-ttl-s), and keeps its one keyagent client, so
 * the client library re-discloses every live call when the keyagent
 * restarts.  From the caller's point of view (local = the INVITE's From):
 * the 200 of the first INVITE discloses the call (CALL and its streams),
 * the 200 of a re-INVITE re-keys them (REKEY), BYE and CANCEL end it, a
 * final failure before any answer forgets it.  A dialog first seen in a
 * re-INVITE (the daemon started mid-call) is disclosed from that pair with
 * its ROC unknown (the control protocol's "-") and the dialog's start when
 * Kamailio gave one (the carrier's Srtprec-Dialog-Start, below): the
 * recorder searches the ROC within a window from that start (docs/engine.md,
 * "ROC search"; without a start it finds a call up to 4 wraps old, 87
 * minutes at 50 packets a second).  A dialog seen from its first INVITE is
 * disclosed at its answer, before its sequence numbers can have wrapped:
 * ROC 0.
 *
 * A MESSAGE whose body is message/sip stands for the message it carries:
 * Kamailio's exec_msg() cannot run in reply routes, so the shipped
 * configuration queues each message (mqueue, shared memory) and a timer
 * route wraps it in such a carrier before exec_msg(); the queue keeps the
 * order of INVITE, 200, BYE.  The carrier's Srtprec-Dialog-Start (epoch
 * seconds or RFC 3339; 0 or absent: not known) is when the dialog began by
 * Kamailio's dialog module.
 *
 * With rtpengine re-keying each leg (the configuration's WITH_RTPENGINE
 * shape) the carrier's Srtprec-Copy header says which copy it holds:
 * "received" (as Kamailio got it) or "relayed" (after rtpengine rewrote its
 * SDP); "-" or no header is the one copy of the plain shape.  A dialog is
 * then two keyagent calls, "<Call-ID>;leg=caller" (caller <-> rtpengine)
 * and "<Call-ID>;leg=callee" (rtpengine <-> callee), each paired, re-keyed
 * and ended by the rules above from the copies on its leg: the received
 * copy is on the sender's leg, the relayed copy on the other.
 *
 * --no-addresses discloses every stream with its src and dst unknown ("-")
 * instead of the SDP's c=/m= addresses: a phone behind a NAT names its
 * private address in its SDP, while its packets come from the NAT's public
 * one, so a key scoped to the SDP's address never binds.  Unscoped, the
 * recorder binds each key to the packets it authenticates (docs/engine.md,
 * "trial binding").  Given to the daemon it holds for every dialog; given
 * to the client (the shipped configuration's SRTPREC_NO_ADDRESSES define)
 * it holds for the dialogs whose answer comes with it: the client sends
 * the line "NO-ADDRESSES" before the message (no SIP message begins so).
 *
 * Each message gets one answer line: "OK <what>" or "ERR <why>"; the client
 * prints it and exits 0 on OK, 1 on ERR, 2 on usage errors.  Keys are never
 * printed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ka.h"
#include "sipev.h"
#include "slice.h"
#include "util.h"

static const char usage[] =
    "usage: srtprec-kamailio-disclose --serve --listen=SOCK --control=KA_SOCK\n"
    "                                 [--max-calls=N] [--offer-ttl-s=S] [--no-addresses]\n"
    "       srtprec-kamailio-disclose --listen=SOCK [--no-addresses]   < sip-message\n";

/* What a client given --no-addresses sends before the message. */
static const char no_addr_line[] = "NO-ADDRESSES\n";

enum {
    MSG_MAX = 131072,        /* one SIP message from Kamailio (its own BUF_SIZE is 64 KB) */
    IO_TIMEOUT_MS = 2000,    /* per read/write on either side */
    DEFAULT_MAX_CALLS = 4096,
    DEFAULT_OFFER_TTL_S = 300,
};

struct kcall {
    char call_id[256];
    char caller_tag[128], callee_tag[128];
    char caller_aor[256], callee_aor[256];
    bool disclosed;
    bool late;               /* first seen in a re-INVITE: ROC unknown */
    bool unscoped;           /* disclosed with src/dst unknown (--no-addresses) */
    uint64_t start_wall_us;  /* the dialog's start from Kamailio; 0: not known */
    char *offer;             /* pending offer SDP (holds keys; wiped) */
    size_t offer_len;
    bool offer_by_caller;
    uint64_t touched_us;     /* last message; a pending offer expires from it */
};

struct kd {
    struct ka_client *ka;
    struct kcall **calls;
    size_t max_calls;
    uint64_t ttl_us;
    bool no_addresses;           /* --no-addresses on the daemon: every dialog */
    struct ka_sdp local, remote; /* scratch, 2 x ~34 KB: off the stack */
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void offer_drop(struct kcall *k)
{
    if (k->offer) {
        sr_wipe(k->offer, k->offer_len);
        free(k->offer);
    }
    k->offer = NULL;
    k->offer_len = 0;
}

static void call_forget(struct kd *d, size_t i)
{
    offer_drop(d->calls[i]);
    free(d->calls[i]);
    d->calls[i] = NULL;
}

static size_t call_find(const struct kd *d, struct slice id)
{
    for (size_t i = 0; i < d->max_calls; i++)
        if (d->calls[i] && slice_eq(slice_cstr(d->calls[i]->call_id), id))
            return i;
    return SIZE_MAX;
}

static size_t call_new(struct kd *d, struct slice id)
{
    for (size_t i = 0; i < d->max_calls; i++)
        if (!d->calls[i]) {
            struct kcall *k = calloc(1, sizeof(*k));
            if (!k || !slice_copy_cstr(id, k->call_id, sizeof(k->call_id))) {
                free(k);
                return SIZE_MAX;
            }
            d->calls[i] = k;
            return i;
        }
    return SIZE_MAX;
}

/* Tag and URI of a From or To value; "-" for a missing tag. */
static bool party(const struct sipev_msg *m, enum sipev_hdr_id id, char *tag, size_t tlen,
                  char *aor, size_t alen)
{
    const struct sipev_hdr *h = sipev_msg_hdr(m, id);
    struct slice t, u;

    if (!h || !sipev_uri_of(h->value, &u))
        return false;
    /* The AOR without URI parameters (";transport=tls" names a hop). */
    for (size_t i = 0; i < u.len; i++)
        if (u.p[i] == ';' || u.p[i] == '?') {
            u.len = i;
            break;
        }
    if (!sipev_param(h->value, "tag", &t) || t.len == 0)
        t = SLICE_LIT("-");
    return slice_copy_cstr(t, tag, tlen) && (!aor || slice_copy_cstr(u, aor, alen));
}

static bool has_sdp(const struct sipev_msg *m)
{
    const struct sipev_hdr *ct = sipev_msg_hdr(m, SIPEV_HDR_CONTENT_TYPE);
    return m->body.len > 0 && ct &&
           slice_starts_nocase(ct->value, SLICE_LIT("application/sdp"));
}

static void say(char *out, size_t outlen, const char *a, const char *b, const char *c)
{
    snprintf(out, outlen, "%s%s%s", a, b, c);
}

static void on_offer(struct kd *d, const struct sipev_msg *m, struct slice cid,
                     uint64_t start_us, char *out, size_t outlen)
{
    char ftag[128], ttag[128], faor[256], taor[256];
    size_t i = call_find(d, cid);
    struct kcall *k;

    if (!party(m, SIPEV_HDR_FROM, ftag, sizeof(ftag), faor, sizeof(faor)) ||
        !party(m, SIPEV_HDR_TO, ttag, sizeof(ttag), taor, sizeof(taor)))
        { say(out, outlen, "ERR ", "From or To unusable", ""); return; }
    if (!has_sdp(m))
        { say(out, outlen, "OK ", "INVITE without SDP offer ignored", ""); return; }
    if (i == SIZE_MAX && (i = call_new(d, cid)) == SIZE_MAX)
        { say(out, outlen, "ERR ", "too many calls or Call-ID too long", ""); return; }
    k = d->calls[i];
    if (!k->start_wall_us)
        k->start_wall_us = start_us;
    if (!k->caller_aor[0]) {
        /* A To tag on a dialog never seen: it began before this daemon did. */
        k->late = strcmp(ttag, "-") != 0;
        strcpy(k->caller_tag, ftag);
        strcpy(k->caller_aor, faor);
        strcpy(k->callee_aor, taor);
        strcpy(k->callee_tag, ttag);
    }
    offer_drop(k);
    if (!(k->offer = malloc(m->body.len)))
        { say(out, outlen, "ERR ", "out of memory", ""); return; }
    memcpy(k->offer, m->body.p, m->body.len);
    k->offer_len = m->body.len;
    k->offer_by_caller = strcmp(ftag, k->caller_tag) == 0;
    k->touched_us = sr_now_us();
    say(out, outlen, "OK ", "offer kept until the answer", "");
}

static enum sr_err sdp_load(const char *text, size_t len, struct ka_sdp *out, const char **why)
{
    return ka_sdp_parse(text, len, out, why);
}

static void on_answer(struct kd *d, const struct sipev_msg *m, struct slice cid,
                      uint64_t start_us, bool no_addresses, char *out, size_t outlen)
{
    size_t i = call_find(d, cid), n = 0;
    struct kcall *k = i == SIZE_MAX ? NULL : d->calls[i];
    const char *why = "";
    char ttag[128];
    enum sr_err err;
    bool first;

    if (!k || !k->offer)
        { say(out, outlen, "OK ", "no offer pending (retransmission?)", ""); return; }
    if (!k->start_wall_us)
        k->start_wall_us = start_us; /* a re-INVITE's 2xx confirms a dialog too */
    if (!has_sdp(m)) {
        offer_drop(k);
        { say(out, outlen, "ERR ", "2xx without SDP answer", ""); return; }
    }
    if (k->offer_by_caller && party(m, SIPEV_HDR_TO, ttag, sizeof(ttag), NULL, 0))
        strcpy(k->callee_tag, ttag);
    {
        const char *ours = k->offer_by_caller ? k->offer : m->body.p;
        size_t ours_len = k->offer_by_caller ? k->offer_len : m->body.len;
        const char *theirs = k->offer_by_caller ? m->body.p : k->offer;
        size_t theirs_len = k->offer_by_caller ? m->body.len : k->offer_len;

        err = sdp_load(ours, ours_len, &d->local, &why);
        if (!err)
            err = sdp_load(theirs, theirs_len, &d->remote, &why);
    }
    offer_drop(k);
    k->touched_us = sr_now_us();
    first = !k->disclosed;
    if (!err && first) {
        struct ka_call_info info = { .call_id = k->call_id, .local_tag = k->caller_tag,
                                     .remote_tag = k->callee_tag, .local_aor = k->caller_aor,
                                     .remote_aor = k->callee_aor };
        unsigned flags = (k->late ? KA_SDP_LATE : 0u) |
                         (no_addresses || d->no_addresses ? KA_SDP_NO_ADDRESSES : 0u);

        err = ka_sdp_disclose_with(d->ka, &info, flags, k->start_wall_us, &d->local, &d->remote,
                                   &n, &why);
        k->unscoped = flags & KA_SDP_NO_ADDRESSES;
        if (err == SR_ESTATE && strcmp(why, "STREAM refused") == 0)
            (void)ka_call_end(d->ka, k->call_id);
        k->disclosed = err == SR_OK;
    } else if (!err) {
        err = ka_sdp_rekey(d->ka, k->call_id, &d->local, &d->remote, &n, &why);
    }
    ka_sdp_wipe(&d->local);
    ka_sdp_wipe(&d->remote);
    if (err) {
        snprintf(out, outlen, "ERR %s: %s%s%s", sr_strerror(err), why,
                 err == SR_ESTATE ? ": " : "", err == SR_ESTATE ? ka_client_error(d->ka) : "");
        if (!k->disclosed)
            call_forget(d, i);
        return;
    }
    snprintf(out, outlen, "OK %s %zu streams%s%s%s", first ? "disclosed" : "re-keyed", n,
             k->unscoped ? " addresses-unknown" : "",
             k->late ? " roc-unknown (mid-call disclosure)" : "",
             k->late ? (k->start_wall_us ? ", dialog start known" : ", dialog start unknown") : "");
}

static void on_end(struct kd *d, struct slice cid, const char *what, char *out, size_t outlen)
{
    size_t i = call_find(d, cid);
    enum sr_err err = SR_OK;

    if (i == SIZE_MAX)
        { say(out, outlen, "OK ", what, " of an unknown call ignored"); return; }
    if (d->calls[i]->disclosed)
        err = ka_call_end(d->ka, d->calls[i]->call_id);
    call_forget(d, i);
    if (err)
        { say(out, outlen, "ERR END: ", sr_strerror(err), ""); return; }
    say(out, outlen, "OK ", what, ": call ended");
}

/* Which copy of a message a carrier holds (its Srtprec-Copy header): with
 * rtpengine on the media path Kamailio queues each message twice, as
 * received and as relayed (after rtpengine rewrote its SDP and
 * msg_apply_changes()); without, once ("-", or no header). */
enum copy { COPY_ONLY, COPY_RECEIVED, COPY_RELAYED };

static enum copy copy_of(const struct sipev_msg *carrier)
{
    for (size_t i = 0; i < carrier->n_hdr; i++)
        if (slice_eq_nocase(carrier->hdr[i].name, SLICE_LIT("Srtprec-Copy"))) {
            struct slice v = carrier->hdr[i].value;
            if (slice_eq_nocase(v, SLICE_LIT("received")))
                return COPY_RECEIVED;
            if (slice_eq_nocase(v, SLICE_LIT("relayed")))
                return COPY_RELAYED;
        }
    return COPY_ONLY;
}

/* The carrier's Srtprec-Dialog-Start: epoch seconds or RFC 3339 (the CLI's
 * TIME grammar); 0 when absent, "0" or unreadable (a bad start must not
 * lose the message: the search then has its floor). */
static uint64_t carrier_start(const struct sipev_msg *carrier)
{
    uint64_t us;

    for (size_t i = 0; i < carrier->n_hdr; i++)
        if (slice_eq_nocase(carrier->hdr[i].name, SLICE_LIT("Srtprec-Dialog-Start")))
            return sr_time_parse(carrier->hdr[i].value, SR_TIME_FIRST, &us) ? us : 0;
    return 0;
}

/* The keyagent call a copy belongs to.  rtpengine re-keys each leg, so a
 * dialog is two calls: "<Call-ID>;leg=caller" (caller <-> rtpengine) and
 * "<Call-ID>;leg=callee" (rtpengine <-> callee); ';' is not a Call-ID
 * character (RFC 3261 25.1), so no real Call-ID looks like either.  The copy
 * as received is on the leg of the party that sent the message, the copy as
 * relayed on the other one.  A request's sender is its From; a reply's is
 * the other party.  The caller is the From of the first INVITE seen. */
static bool leg_id(const struct kd *d, const struct sipev_msg *m, struct slice cid, enum copy c,
                   char *id, size_t idlen)
{
    char base[256], key[256], ftag[128];
    const char *caller_tag = NULL;
    bool from_caller, sender_is_caller;

    if (c == COPY_ONLY)
        return slice_copy_cstr(cid, id, idlen);
    if (!slice_copy_cstr(cid, base, sizeof(base)) ||
        !party(m, SIPEV_HDR_FROM, ftag, sizeof(ftag), NULL, 0))
        return false;
    for (int leg = 0; leg < 2 && !caller_tag; leg++) {
        size_t i;
        if (snprintf(key, sizeof(key), "%.240s;leg=%s", base, leg ? "callee" : "caller") < 0)
            return false;
        if ((i = call_find(d, slice_cstr(key))) != SIZE_MAX && d->calls[i]->caller_tag[0])
            caller_tag = d->calls[i]->caller_tag;
    }
    /* Unknown dialog: only its first INVITE starts one, and that is the caller's. */
    from_caller = !caller_tag || strcmp(caller_tag, ftag) == 0;
    sender_is_caller = m->status == 0 ? from_caller : !from_caller;
    /* 240 + 11 fits the tool's 256-byte ids; the keyagent takes 255. */
    return strlen(base) <= 240 &&
           snprintf(id, idlen, "%.240s;leg=%s", base,
                    sender_is_caller == (c == COPY_RECEIVED) ? "caller" : "callee") < (int)idlen;
}

static void handle(struct kd *d, const char *buf, size_t len, char *out, size_t outlen)
{
    static struct sipev_msg m;
    const struct sipev_hdr *cid_h, *cseq_h;
    struct slice cseq_method, cid;
    enum copy copy = COPY_ONLY;
    uint64_t start_us = 0;
    const char *why = "";
    char id[256];
    size_t used = 0;
    uint32_t cseq;

    bool no_addresses = len >= sizeof(no_addr_line) - 1 &&
                        memcmp(buf, no_addr_line, sizeof(no_addr_line) - 1) == 0;

    if (no_addresses) {
        buf += sizeof(no_addr_line) - 1;
        len -= sizeof(no_addr_line) - 1;
    }
    if (sipev_msg_parse(buf, len, false, &m, &used, &why) != SR_OK)
        { say(out, outlen, "ERR not a SIP message: ", why, ""); return; }
    if (slice_eq(m.method, SLICE_LIT("MESSAGE"))) {
        /* Kamailio's timer route hands replies over wrapped in a carrier
         * request (etc/kamailio: exec_msg() is not allowed in reply routes):
         * the message/sip body is the message. */
        const struct sipev_hdr *ct = sipev_msg_hdr(&m, SIPEV_HDR_CONTENT_TYPE);
        struct slice inner = m.body;

        if (!ct || !slice_starts_nocase(ct->value, SLICE_LIT("message/sip")))
            { say(out, outlen, "ERR ", "MESSAGE without a message/sip body", ""); return; }
        copy = copy_of(&m);
        start_us = carrier_start(&m);
        if (sipev_msg_parse(inner.p, inner.len, false, &m, &used, &why) != SR_OK)
            { say(out, outlen, "ERR carried message unparsable: ", why, ""); return; }
    }
    cid_h = sipev_msg_hdr(&m, SIPEV_HDR_CALL_ID);
    cseq_h = sipev_msg_hdr(&m, SIPEV_HDR_CSEQ);
    if (!cid_h || !cseq_h || !sipev_cseq_parse(cseq_h->value, &cseq, &cseq_method))
        { say(out, outlen, "ERR ", "no Call-ID or CSeq", ""); return; }
    if (!leg_id(d, &m, cid_h->value, copy, id, sizeof(id)))
        { say(out, outlen, "ERR ", "Call-ID too long or From unusable", ""); return; }
    cid = slice_cstr(id);
    if (m.status == 0) {
        if (slice_eq(m.method, SLICE_LIT("INVITE")))
            { on_offer(d, &m, cid, start_us, out, outlen); return; }
        if (slice_eq(m.method, SLICE_LIT("BYE")))
            { on_end(d, cid, "BYE", out, outlen); return; }
        if (slice_eq(m.method, SLICE_LIT("CANCEL")))
            { on_end(d, cid, "CANCEL", out, outlen); return; }
        { say(out, outlen, "OK ", "not an INVITE, BYE or CANCEL: ignored", ""); return; }
    }
    if (!slice_eq(cseq_method, SLICE_LIT("INVITE")) || m.status < 200)
        { say(out, outlen, "OK ", "not a final reply to INVITE: ignored", ""); return; }
    if (m.status < 300)
        { on_answer(d, &m, cid, start_us, no_addresses, out, outlen); return; }
    {
        size_t i = call_find(d, cid);
        if (i != SIZE_MAX && !d->calls[i]->disclosed)
            call_forget(d, i); /* the INVITE failed: nothing was disclosed */
        else if (i != SIZE_MAX)
            offer_drop(d->calls[i]); /* a refused re-INVITE keeps the call's keys */
    }
    say(out, outlen, "OK ", "failed INVITE: offer dropped", "");
}

static void expire(struct kd *d, uint64_t now)
{
    for (size_t i = 0; i < d->max_calls; i++) {
        struct kcall *k = d->calls[i];
        if (k && k->offer && now - k->touched_us > d->ttl_us) {
            if (k->disclosed)
                offer_drop(k);
            else
                call_forget(d, i);
        }
    }
}

static int timeouts(int fd)
{
    struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000, .tv_usec = (IO_TIMEOUT_MS % 1000) * 1000 };
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) |
           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Read to EOF, at most cap bytes; -1 on error, timeout or overflow. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return (ssize_t)got;
        got += (size_t)n;
        if (got == cap)
            return -1;
    }
}

static bool write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static int sock_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -1;
    strcpy(sa->sun_path, path);
    return 0;
}

static int serve(const char *listen_path, const char *control, size_t max_calls, uint64_t ttl_s,
                 bool no_addresses)
{
    static char buf[MSG_MAX];
    struct kd d = { .max_calls = max_calls, .ttl_us = ttl_s * 1000000u,
                    .no_addresses = no_addresses };
    struct sockaddr_un sa;
    struct stat st;
    enum sr_err err;
    int lfd = -1, rc = 1;

    if (sock_addr(&sa, listen_path)) {
        fprintf(stderr, "srtprec-kamailio-disclose: socket path too long\n");
        return 2;
    }
    if (!(d.calls = calloc(max_calls, sizeof(*d.calls))))
        return 1;
    if ((err = ka_client_connect(&d.ka, control)) != SR_OK) {
        fprintf(stderr, "srtprec-kamailio-disclose: connect %s: %s\n", control, sr_strerror(err));
        goto out;
    }
    /* A socket left by a daemon that died is replaced; anything else is not. */
    if (lstat(listen_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(listen_path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177); /* 0600: whoever writes it discloses keys */
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0) {
        umask(old);
        fprintf(stderr, "srtprec-kamailio-disclose: listen %s: %s\n", listen_path, strerror(errno));
        goto out;
    }
    umask(old);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fprintf(stderr, "srtprec-kamailio-disclose: listening on %s\n", listen_path);
    while (!stop) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        char out[512];
        int n = poll(&p, 1, 1000), cfd;
        ssize_t len;

        expire(&d, sr_now_us());
        (void)ka_client_poll(d.ka);
        if (n <= 0 || (cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            continue;
        timeouts(cfd);
        len = read_all(cfd, buf, sizeof(buf));
        if (len < 0)
            snprintf(out, sizeof(out), "ERR message unreadable or over %d bytes", MSG_MAX);
        else
            handle(&d, buf, (size_t)len, out, sizeof(out));
        if (len > 0)
            sr_wipe(buf, (size_t)len);
        /* The answer names the outcome, never a key. */
        fprintf(stderr, "srtprec-kamailio-disclose: %s\n", out);
        strcat(out, "\n");
        (void)write_all(cfd, out, strlen(out));
        close(cfd);
    }
    rc = 0;
out:
    if (lfd >= 0) {
        close(lfd);
        unlink(listen_path);
    }
    for (size_t i = 0; i < max_calls; i++)
        if (d.calls[i])
            call_forget(&d, i);
    free(d.calls);
    ka_client_close(d.ka);
    return rc;
}

static int client(const char *listen_path, bool no_addresses)
{
    static char buf[MSG_MAX];
    struct sockaddr_un sa;
    char ans[512];
    ssize_t len, n;
    int fd, rc = 1;

    if (sock_addr(&sa, listen_path))
        return 2;
    len = read_all(STDIN_FILENO, buf, sizeof(buf));
    if (len < 0) {
        fprintf(stderr, "srtprec-kamailio-disclose: standard input unreadable or over %d bytes\n",
                MSG_MAX);
        return 1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || timeouts(fd) || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "srtprec-kamailio-disclose: connect %s: %s\n", listen_path, strerror(errno));
        goto out;
    }
    if ((no_addresses && !write_all(fd, no_addr_line, sizeof(no_addr_line) - 1)) ||
        !write_all(fd, buf, (size_t)len) || shutdown(fd, SHUT_WR) != 0) {
        fprintf(stderr, "srtprec-kamailio-disclose: send: %s\n", strerror(errno));
        goto out;
    }
    n = read_all(fd, ans, sizeof(ans) - 1);
    if (n <= 0) {
        fprintf(stderr, "srtprec-kamailio-disclose: no answer from %s\n", listen_path);
        goto out;
    }
    ans[n] = '\0';
    fputs(ans, stdout);
    rc = strncmp(ans, "OK", 2) == 0 ? 0 : 1;
out:
    sr_wipe(buf, len > 0 ? (size_t)len : 0);
    if (fd >= 0)
        close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    const char *listen_path = NULL, *control = NULL, *max_s = NULL, *ttl_s = NULL;
    bool serve_mode = false, no_addresses = false;
    unsigned long max_calls = DEFAULT_MAX_CALLS, ttl = DEFAULT_OFFER_TTL_S;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = strchr(a, '=');
        v = v ? v + 1 : NULL;
#define O(name, var) if (v && strncmp(a, "--" name "=", strlen(name) + 3) == 0) { var = v; continue; }
        O("listen", listen_path) O("control", control) O("max-calls", max_s)
        O("offer-ttl-s", ttl_s)
#undef O
        if (strcmp(a, "--serve") == 0) {
            serve_mode = true;
            continue;
        }
        if (strcmp(a, "--no-addresses") == 0) {
            no_addresses = true;
            continue;
        }
        fprintf(stderr, "srtprec-kamailio-disclose: unknown argument %s\n%s", a, usage);
        return 2;
    }
    if ((max_s && (sscanf(max_s, "%lu", &max_calls) != 1 || max_calls < 1 || max_calls > 65536)) ||
        (ttl_s && (sscanf(ttl_s, "%lu", &ttl) != 1 || ttl < 1 || ttl > 86400))) {
        fprintf(stderr, "srtprec-kamailio-disclose: --max-calls 1..65536, --offer-ttl-s 1..86400\n");
        return 2;
    }
    if (!listen_path || (serve_mode && !control) || (!serve_mode && (control || max_s || ttl_s))) {
        fputs(usage, stderr);
        return 2;
    }
    return serve_mode ? serve(listen_path, control, max_calls, ttl, no_addresses)
                      : client(listen_path, no_addresses);
}
