/** @file capture.c  libpcap sources (capture.h): live interfaces through
 *  the Linux packet ring, or a pcap/pcapng file, decapsulated and fed to
 *  an engine as datagrams with both addresses.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <linux/securebits.h>

#include "capture.h"
#include "daemon_priv.h"
#include "decap.h"
#include "engine.h"
#include "log.h"
#include "prom.h"
#include "rec.h"
#include "util.h"

enum {
    MAX_SOURCES = 16,
    SNAPLEN = 4096,        /* a datagram the engine takes (2,048) plus any encapsulation */
    DISPATCH_BATCH = 256,  /* frames per pcap_dispatch */
    DISPATCHES_PER_EVENT = 16, /* then let the loop serve key bodies and timers */
    FILE_BATCH = 512,      /* file frames per tick when replaying fast */
    STATS_EVERY_US = 200000,
};

struct rd_cap;

struct cap_src {
    struct rd_watch w;         /* live: the selectable fd in its engine's loop */
    struct rd_cap *cap;
    pcap_t *p;
    char name[CONF_STR_MAX];
    int dlt;
    bool live, attached, in_loop;
    unsigned slot;             /* the engine it is attached to */
    struct rd_loop *loop;
    struct rec_eng *eng;
    uint64_t mono_now;         /* this batch's monotonic time */
    struct decap *decap;       /* this source's layers and fragments (its thread only) */
    uint64_t timeouts_seen;    /* decap's fragment timeouts already added to refused[] */
    unsigned last_drop, last_ifdrop; /* pcap_stats: running counts */
    uint64_t next_stats_us;
    /* file replay */
    bool eof;
    uint64_t first_ts_us, start_mono_us; /* recorded pace: the file's clock against ours */
    bool started;
    uint8_t pending[SNAPLEN];  /* recorded pace: the next frame, not due yet */
    struct pcap_pkthdr pending_hdr;
    bool have_pending;
};

struct rd_cap {
    struct cap_src src[MAX_SOURCES];
    size_t n;
    bool fast;
    bool any_live;
    atomic_bool done;
    /* refused: frames by decap verdict (DECAP_UDP unused, DECAP_NEED_MORE: fragments held) */
    _Atomic uint64_t frames, udp, kernel_drops, if_drops, refused[DECAP_VERDICTS];
};

/* ------------------------------------------------------- delivery */

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct cap_src *s = (struct cap_src *)(void *)user;
    struct rd_cap *c = s->cap;
    uint8_t buf[SNAPLEN];
    struct decap_udp u;
    struct rec_eng_pkt p;
    uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
    enum decap_verdict v;

    atomic_fetch_add_explicit(&c->frames, 1, memory_order_relaxed);
    /* Reassembly times out on the capture's clock: a file's own, so that
     * replaying it fast reassembles what was captured, no more, no less. */
    v = decap_frame(s->decap, s->dlt, bytes, h->caplen, s->live ? s->mono_now : ts, &u);
    if (v == DECAP_UDP && u.len > sizeof(buf)) /* not with max_size = SNAPLEN; never overflow */
        v = DECAP_FRAG_TOO_BIG;
    if (v != DECAP_UDP) {
        atomic_fetch_add_explicit(&c->refused[v], 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&c->udp, 1, memory_order_relaxed);
    /* The engine decrypts in place; libpcap's buffer is its own. */
    memcpy(buf, u.payload, u.len);
    memset(&p, 0, sizeof(p));
    p.data = buf;
    p.len = u.len;
    p.src = u.src;
    p.dst = u.dst;
    p.arrival_wall_us = ts;
    p.now_us = s->mono_now;
    rec_eng_packet(s->eng, &p);
}

static void on_readable(struct rd_watch *w, uint32_t events)
{
    struct cap_src *s = (struct cap_src *)((char *)w - offsetof(struct cap_src, w));

    (void)events;
    s->mono_now = sr_now_us();
    for (int i = 0; i < DISPATCHES_PER_EVENT; i++) {
        int n = pcap_dispatch(s->p, DISPATCH_BATCH, on_frame, (u_char *)s);
        if (n < 0) {
            log_error("capture %s: %s", s->name, pcap_geterr(s->p));
            break;
        }
        if (n < DISPATCH_BATCH)
            break;
    }
}

static void stats_poll(struct cap_src *s)
{
    struct pcap_stat ps;

    if (pcap_stats(s->p, &ps) != 0)
        return;
    /* Running counts since open (unsigned: they wrap). */
    unsigned d = ps.ps_drop - s->last_drop, ifd = ps.ps_ifdrop - s->last_ifdrop;
    s->last_drop = ps.ps_drop;
    s->last_ifdrop = ps.ps_ifdrop;
    if (d) {
        atomic_fetch_add_explicit(&s->cap->kernel_drops, d, memory_order_relaxed);
        rec_eng_count_source_drops(s->eng, d);
    }
    if (ifd)
        atomic_fetch_add_explicit(&s->cap->if_drops, ifd, memory_order_relaxed);
}

/* Fragment reassemblies decap expired since the last look, to the metrics. */
static void count_timeouts(struct cap_src *s)
{
    struct decap_stats st;

    decap_stats(s->decap, &st);
    atomic_fetch_add_explicit(&s->cap->refused[DECAP_FRAG_TIMEOUT],
                              st.verdicts[DECAP_FRAG_TIMEOUT] - s->timeouts_seen,
                              memory_order_relaxed);
    s->timeouts_seen = st.verdicts[DECAP_FRAG_TIMEOUT];
}

/* A file at its recorded pace: hand over every frame whose time (relative
 * to the file's first) has come; keep the next one.  Fast: a batch. */
static uint64_t file_pump(struct cap_src *s, uint64_t now)
{
    struct pcap_pkthdr *h;
    const u_char *bytes;

    s->mono_now = now;
    for (int i = 0; i < FILE_BATCH; i++) {
        uint64_t ts, due;
        if (!s->have_pending) {
            int rc = pcap_next_ex(s->p, &h, &bytes);
            if (rc == PCAP_ERROR_BREAK || rc == PCAP_ERROR) {
                if (rc == PCAP_ERROR)
                    log_error("capture file %s: %s; replay ends here", s->name,
                              pcap_geterr(s->p));
                s->eof = true;
                log_notice("capture file %s: %llu frames replayed", s->name,
                           (unsigned long long)atomic_load(&s->cap->frames));
                atomic_store(&s->cap->done, true);
                return now + 1000000u;
            }
            if (rc != 1)
                continue;
            s->pending_hdr = *h;
            if (s->pending_hdr.caplen > SNAPLEN)
                s->pending_hdr.caplen = SNAPLEN;
            memcpy(s->pending, bytes, s->pending_hdr.caplen);
            s->have_pending = true;
        }
        ts = (uint64_t)s->pending_hdr.ts.tv_sec * 1000000u + (uint64_t)s->pending_hdr.ts.tv_usec;
        if (!s->started) {
            s->started = true;
            s->first_ts_us = ts;
            s->start_mono_us = now;
        }
        due = s->start_mono_us + (ts > s->first_ts_us ? ts - s->first_ts_us : 0);
        if (!s->cap->fast && due > now)
            return due;
        s->have_pending = false;
        on_frame((u_char *)s, &s->pending_hdr, s->pending);
    }
    count_timeouts(s);
    return now; /* more frames due now: come back at once */
}

/* ------------------------------------------------------ life cycle */

static enum sr_err set_filter(struct cap_src *s, const char *filter)
{
    struct bpf_program prog;

    if (!filter || !filter[0])
        return SR_OK;
    if (pcap_compile(s->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        log_error("capture-filter '%s' on %s: %s", filter, s->name, pcap_geterr(s->p));
        return SR_EIO;
    }
    if (pcap_setfilter(s->p, &prog) != 0) {
        log_error("capture-filter '%s' on %s: %s", filter, s->name, pcap_geterr(s->p));
        pcap_freecode(&prog);
        return SR_EIO;
    }
    pcap_freecode(&prog);
    return SR_OK;
}

static enum sr_err open_live(struct cap_src *s, const struct rd_cap_cfg *cfg)
{
    char eb[PCAP_ERRBUF_SIZE] = "";
    int rc;

    s->p = pcap_create(s->name, eb);
    if (!s->p) {
        log_error("capture %s: %s", s->name, eb);
        return SR_EIO;
    }
    pcap_set_snaplen(s->p, SNAPLEN);
    pcap_set_promisc(s->p, cfg->promisc);
    pcap_set_buffer_size(s->p, (int)(cfg->buffer > INT32_MAX ? INT32_MAX : cfg->buffer));
    if (cfg->timeout_ms)
        pcap_set_timeout(s->p, (int)cfg->timeout_ms);
    else
        pcap_set_immediate_mode(s->p, 1);
    rc = pcap_activate(s->p);
    if (rc < 0) {
        log_error("capture %s: %s%s", s->name, pcap_statustostr(rc),
                  rc == PCAP_ERROR_PERM_DENIED ? " (capturing needs CAP_NET_RAW)" : "");
        if (rc == PCAP_ERROR || rc == PCAP_ERROR_NO_SUCH_DEVICE || rc == PCAP_ERROR_PERM_DENIED)
            log_error("capture %s: %s", s->name, pcap_geterr(s->p));
        return SR_EIO;
    }
    if (rc > 0)
        log_warn("capture %s: %s: %s", s->name, pcap_statustostr(rc), pcap_geterr(s->p));
    if (pcap_setnonblock(s->p, 1, eb) != 0) {
        log_error("capture %s: non-blocking: %s", s->name, eb);
        return SR_EIO;
    }
    s->live = true;
    return SR_OK;
}

static enum sr_err open_file(struct cap_src *s)
{
    char eb[PCAP_ERRBUF_SIZE] = "";

    s->p = pcap_open_offline_with_tstamp_precision(s->name, PCAP_TSTAMP_PRECISION_MICRO, eb);
    if (!s->p) {
        log_error("capture-file %s: %s", s->name, eb);
        return SR_EIO;
    }
    return SR_OK;
}

enum sr_err rd_cap_open(struct rd_cap **out, const struct rd_cap_cfg *cfg)
{
    bool have_if = cfg->ifaces && cfg->ifaces[0], have_file = cfg->file && cfg->file[0];
    struct rd_cap *c;
    enum sr_err err = SR_OK;

    if (have_if == have_file) {
        log_error("capture: name interfaces (capture) or a file (capture-file), not %s",
                  have_if ? "both" : "neither");
        return SR_EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return SR_ENOMEM;
    c->fast = cfg->fast;
    if (have_file) {
        snprintf(c->src[0].name, sizeof(c->src[0].name), "%s", cfg->file);
        c->n = 1;
        err = open_file(&c->src[0]);
    } else {
        char list[CONF_STR_MAX];
        struct slice cur;
        snprintf(list, sizeof(list), "%s", cfg->ifaces);
        cur = slice_cstr(list);
        while (!err && cur.len) {
            struct slice one = slice_trim(slice_split(&cur, ','));
            if (!one.len)
                continue;
            if (c->n == MAX_SOURCES) {
                log_error("capture: at most %d interfaces", MAX_SOURCES);
                err = SR_ELIMIT;
                break;
            }
            slice_copy_cstr(one, c->src[c->n].name, sizeof(c->src[c->n].name));
            err = open_live(&c->src[c->n++], cfg);
        }
        c->any_live = true;
    }
    for (size_t i = 0; !err && i < c->n; i++) {
        /* Reassembled datagrams no longer than a captured frame: they fit
         * on_frame's buffer, and the engine takes at most 2,048 bytes. */
        struct decap_cfg dc = { .max_size = SNAPLEN };
        c->src[i].cap = c;
        c->src[i].dlt = pcap_datalink(c->src[i].p);
        err = decap_create(&c->src[i].decap, &dc);
        if (!err)
            err = set_filter(&c->src[i], cfg->filter);
        log_notice("capture %s%s: linktype %s, filter '%s'%s", c->src[i].live ? "" : "file ",
                   c->src[i].name, pcap_datalink_val_to_name(c->src[i].dlt), cfg->filter,
                   c->src[i].live ? (cfg->timeout_ms ? ", TPACKET_V3 ring" : ", immediate mode")
                                  : (c->fast ? ", as fast as possible" : ", at its recorded pace"));
    }
    if (err) {
        rd_cap_close(c);
        return err;
    }
    *out = c;
    return SR_OK;
}

void rd_cap_close(struct rd_cap *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->src[i].p)
            pcap_close(c->src[i].p);
        decap_destroy(c->src[i].decap);
    }
    free(c);
}

enum sr_err rd_cap_drop_privileges(const struct rd_cap *c)
{
    cap_value_t raw = CAP_NET_RAW;
    bool keep = c && c->any_live;
    cap_t caps = cap_init();
    int bound_failed = 0;

    if (!caps)
        return SR_ENOMEM;
    /* Bounding set and securebits first: both need CAP_SETPCAP, which the
     * cap_set_proc below removes.  Without it (not started as root) they
     * are left as they are: the permitted set is already all we hold. */
    for (cap_value_t v = 0; v < (cap_value_t)cap_max_bits(); v++)
        if ((v != raw || !keep) && cap_drop_bound(v) != 0)
            bound_failed++;
    if (cap_set_secbits(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                        SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) != 0)
        log_info("capture: securebits not locked (%s): not started as root", strerror(errno));
    if (bound_failed)
        log_info("capture: bounding set kept (%s): no CAP_SETPCAP", strerror(errno));
    cap_reset_ambient();
    if (keep && (cap_set_flag(caps, CAP_PERMITTED, 1, &raw, CAP_SET) != 0 ||
                 cap_set_flag(caps, CAP_EFFECTIVE, 1, &raw, CAP_SET) != 0)) {
        cap_free(caps);
        return SR_EIO;
    }
    if (cap_set_proc(caps) != 0) {
        log_error("capture: dropping privileges failed: %s", strerror(errno));
        cap_free(caps);
        return SR_EIO;
    }
    cap_free(caps);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        log_error("capture: no_new_privs: %s", strerror(errno));
        return SR_EIO;
    }
    log_notice("capture: every privilege dropped%s", keep ? " but CAP_NET_RAW" : "");
    return SR_OK;
}

enum sr_err rd_cap_attach(struct rd_cap *c, unsigned slot, unsigned n_engines,
                          struct rd_loop *loop, struct rec_eng *e)
{
    for (size_t i = 0; i < c->n; i++) {
        struct cap_src *s = &c->src[i];
        enum sr_err err;
        if (i % n_engines != slot)
            continue;
        s->loop = loop;
        s->eng = e;
        s->slot = slot;
        s->attached = true;
        if (!s->live)
            continue;
        s->w.fd = pcap_get_selectable_fd(s->p);
        s->w.on_event = on_readable;
        if (s->w.fd < 0) {
            log_error("capture %s: no selectable descriptor", s->name);
            return SR_EIO;
        }
        if ((err = rd_loop_add(loop, &s->w, EPOLLIN)) != SR_OK)
            return err;
        s->in_loop = true;
    }
    return SR_OK;
}

void rd_cap_detach(struct rd_cap *c, unsigned slot)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        struct cap_src *s = &c->src[i];
        if (!s->attached || s->slot != slot)
            continue;
        if (s->in_loop) {
            stats_poll(s); /* the last drops, while the engine is there to count them */
            rd_loop_del(s->loop, &s->w);
            s->in_loop = false;
        }
        s->attached = false;
        s->eng = NULL;
    }
}

uint64_t rd_cap_tick(struct rd_cap *c, unsigned slot, uint64_t now, bool start)
{
    uint64_t next = now + 1000000u;

    for (size_t i = 0; c && i < c->n; i++) {
        struct cap_src *s = &c->src[i];
        uint64_t t;
        if (!s->attached || s->slot != slot)
            continue;
        if (s->live) {
            if (now >= s->next_stats_us) {
                stats_poll(s);
                decap_tick(s->decap, now);
                count_timeouts(s);
                s->next_stats_us = now + STATS_EVERY_US;
            }
            t = s->next_stats_us;
        } else if (s->eof || !start) {
            continue;
        } else {
            t = file_pump(s, now);
        }
        next = t < next ? t : next;
    }
    return next;
}

bool rd_cap_done(const struct rd_cap *c)
{
    return c && atomic_load(&c->done);
}

void rd_cap_metrics(const struct rd_cap *c, struct prom *p)
{
    const struct rd_cap *m = c;

    if (!c)
        return;
#define C(name, help, v) prom_counter(p, "srtprec_recorder_capture_" name, help, atomic_load(&m->v))
    C("frames_total", "Frames captured (interfaces or file).", frames);
    C("datagrams_total", "UDP datagrams decapsulated from them and handed to the engine.", udp);
    C("fragments_held_total", "IP fragments held until their datagram completes "
      "(docs/capture.md, Decapsulation).", refused[DECAP_NEED_MORE]);
    C("kernel_drops_total", "Frames the kernel dropped: the capture ring was full (pcap_stats "
      "ps_drop; also in packets_dropped_total{reason=\"kernel\"}).", kernel_drops);
    C("interface_drops_total", "Frames the interface dropped (pcap_stats ps_ifdrop).", if_drops);
#undef C
    prom_family(p, "srtprec_recorder_capture_frames_refused_total", "counter",
                "Captured frames that are not a UDP datagram the recorder can take, by reason "
                "(decap_verdict_name; frag_timeout counts datagrams).");
    for (int i = 0; i < DECAP_VERDICTS; i++)
        if (i != DECAP_UDP && i != DECAP_NEED_MORE)
            prom_sample1(p, "srtprec_recorder_capture_frames_refused_total", "reason",
                         decap_verdict_name((enum decap_verdict)i), atomic_load(&m->refused[i]));
}
