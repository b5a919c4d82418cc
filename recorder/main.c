/** @file main.c  srtprec-recorder: subscribes to keyagents for SRTP keys,
 *  decrypts forked SRTP and writes one encrypted archive per call.
 *
 * Reads as a table of contents: options(), setup(), run(), cleanup().
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "daemon_priv.h"
#include "harden.h"
#include "log.h"
#include "loop_priv.h"
#include "objstore.h"
#include "prom.h"
#include "rec.h"
#include "stor.h"
#include "upload.h"
#include "util.h"
#include "version.h"

#define F(x) offsetof(struct rd_cfg, x)
static const struct conf_item cfg_items[] = {
    { "keyagents", CONF_STR, F(keyagents), "127.0.0.1:5061", 0, 0,
      "comma-separated 'host:port sip:identity' of keyagents to subscribe to (the identity their "
      "certificate must carry; optional only with lab-allow-plain-tcp)" },
    { "identity", CONF_STR, F(identity), "sip:recorder@localhost", 0, 0,
      "our SIP URI; the From of our SUBSCRIBEs (keyagents authorise the certificate's SAN)" },
    { "tls-cert", CONF_STR, F(tls_cert), "", 0, 0, "PEM certificate chain presented to keyagents" },
    { "tls-key", CONF_STR, F(tls_key), "", 0, 0, "PEM private key of tls-cert" },
    { "tls-ca", CONF_STR, F(tls_ca), "", 0, 0, "PEM CA bundle keyagent certificates must chain to" },
    { "tls-crl", CONF_STR, F(tls_crl), "", 0, 0, "optional PEM CRL" },
    { "media-listen", CONF_STR, F(media_listen), "127.0.0.1:40000", 0, 0,
      "UDP address:port receiving forked SRTP; several, comma-separated (ports, IPv4 and IPv6)" },
    { "archive-dir", CONF_STR, F(archive_dir), "/var/lib/srtprec/archive", 0, 0,
      "directory for encrypted archives" },
    { "archive-recipients", CONF_STR, F(archive_recipients), "", 0, 0,
      "comma-separated PEM certificates the archive data keys are wrapped to (public keys only)" },
    { "index", CONF_STR, F(index), "/var/lib/srtprec/index.sqlite", 0, 0,
      "recording index: an SQLite file, or a PostgreSQL postgresql:// URI or conninfo" },
    { "signing-key", CONF_STR, F(signing_key), "", 0, 0,
      "PEM Ed25519 private key (mode 0600) every sealed archive is signed with (<id>.srec.sig); "
      "give its certificate to auditors; required unless lab-allow-plain-tcp" },
    { "seal-ledger", CONF_STR, F(seal_ledger), "", 0, 0,
      "hash-chained log of every seal (id, SHA-256, signer, time); empty: the index path "
      "followed by .seals" },
    { "log-level", CONF_STR, F(log_level), "notice", 0, 0, "error|warn|notice|info|debug" },
    { "subscribe-expires", CONF_UINT, F(subscribe_expires), "3600", 10, 86400,
      "requested subscription duration in seconds" },
    { "max-streams", CONF_UINT, F(max_streams), "20000", 16, 10000000,
      "streams tracked at once (table capacity)" },
    { "max-held-packets", CONF_UINT, F(max_held_packets), "1000000", 0, 100000000,
      "packets held in total while their key is not yet known" },
    { "max-held-bytes", CONF_UINT, F(max_held_bytes), "134217728", 65536, 17179869184UL,
      "memory for packets held while their key is not yet known (about 205 bytes per G.711 "
      "packet, at least 4 KiB per stream holding any)" },
    { "max-held-per-stream", CONF_UINT, F(max_held_per_stream), "1536", 0, 1000000,
      "packets held per stream while its key is not yet known (1,536: 30 s at 50 packets/s)" },
    { "max-unbound-streams", CONF_UINT, F(max_unbound_streams), "0", 0, 10000000,
      "streams waiting for their key at once; more new SSRCs are refused and counted unless "
      "some keyagent disclosed them; 0: max-streams / 4" },
    { "max-unbound-per-source", CONF_UINT, F(max_unbound_per_source), "1024", 1, 10000000,
      "streams from one source address waiting for their key at once" },
    { "max-unmatched-streams-per-min", CONF_UINT, F(max_unmatched_per_min), "256", 1, 10000000,
      "streams per minute and worker whose key never came and whose source no keyagent "
      "disclosed, kept encrypted in unmatched archives; past it their packets are counted "
      "(reason unmatched_budget), so a flood cannot fill the disk" },
    { "max-calls-per-keyagent", CONF_UINT, F(max_calls_per_keyagent), "0", 0, 10000000,
      "open calls one keyagent may have; 0: max-streams / 2" },
    { "max-opens-per-keyagent", CONF_UINT, F(max_opens_per_keyagent), "1000", 1, 10000000,
      "archives one keyagent's calls may open per second and worker" },
    { "call-linger-ms", CONF_UINT, F(call_linger_ms), "1000", 0, 600000,
      "how long after a call ends late packets are still recorded" },
    { "flush-interval-ms", CONF_UINT, F(flush_interval_ms), "1000", 10, 60000,
      "archives are sealed to disk at least this often (data at risk on a crash)" },
    { "key-wait-ms", CONF_UINT, F(key_wait_ms), "30000", 100, 3600000,
      "how long packets wait (held) for their key, so that a late key still gives one "
      "recording of the call; then they are archived still encrypted" },
    { "recorder-id", CONF_STR, F(recorder_id), "", 0, 0,
      "this recorder's name in the index (up to 63 bytes): two recorders with different names "
      "subscribed to the same keyagents both record every call, and the API links the copies "
      "and serves the complete one (docs/scale.md, dual recording); empty: no copies linked" },
    { "metrics-file", CONF_STR, F(metrics_file), "", 0, 0,
      "Prometheus text file of media counters (written atomically); empty: none" },
    { "metrics-interval-ms", CONF_UINT, F(metrics_interval_ms), "5000", 100, 3600000,
      "how often metrics-file is rewritten (and once at exit)" },
    { "min-free-disk-mb", CONF_UINT, F(min_free_disk_mb), "1024", 0, 100000000,
      "health: below this many MiB free on archive-dir's filesystem the recorder reports "
      "not ready (srtprec_recorder_health_check{check=\"disk_headroom\"} 0)" },
    { "rcvbuf", CONF_UINT, F(rcvbuf), "8388608", 65536, 1073741824, "UDP receive buffer bytes" },
    { "workers", CONF_UINT, F(workers), "0", 0, 64,
      "media receive threads, each with its own SO_REUSEPORT socket; 0: one per online CPU" },
    { "capture", CONF_STR, F(capture), "", 0, 0,
      "interfaces to capture SRTP on (a mirror port: SPAN, RSPAN, ERSPAN, VXLAN), comma-"
      "separated; needs CAP_NET_RAW, every other privilege is dropped (docs/capture.md)" },
    { "capture-filter", CONF_STR, F(capture_filter), "udp", 0, 0,
      "BPF expression (pcap-filter(7)) of the frames captured; narrow it to the media ports "
      "or VLANs of the calls recorded" },
    { "capture-promisc", CONF_BOOL, F(capture_promisc), "no", 0, 0,
      "put the capture interfaces in promiscuous mode" },
    { "capture-buffer", CONF_UINT, F(capture_buffer), "67108864", 1048576, 2147483647,
      "kernel capture ring bytes per interface (64 MiB: about one second at 200,000 packets/s "
      "of G.711 with the TPACKET_V3 ring)" },
    { "capture-timeout-ms", CONF_UINT, F(capture_timeout_ms), "5", 0, 1000,
      "ring blocks are handed over at the latest after this (TPACKET_V3); 0: immediate mode, "
      "which libpcap runs on the TPACKET_V2 ring (fixed 4 KiB frames: fewer packets per byte)" },
    { "capture-file", CONF_STR, F(capture_file), "", 0, 0,
      "replay this pcap or pcapng file instead of listening on capture interfaces, then seal "
      "and exit (starts once a keyagent accepted the subscription and sent its key state)" },
    { "capture-pace", CONF_STR, F(capture_pace), "recorded", 0, 0,
      "capture-file replay: recorded (the file's own timing) or fast (as fast as possible)" },
    { "lab-allow-plain-tcp", CONF_BOOL, F(lab_allow_plain_tcp), "no", 0, 0,
      "LAB ONLY: subscribe over plain TCP, so keys cross the network unprotected" },
    { "allow-nss-libsrtp", CONF_BOOL, F(allow_nss_libsrtp), "no", 0, 0,
      "start even if libsrtp2 uses NSS (per-packet cost grows with live keys)" },
    { "key-log", CONF_STR, F(key_log), "", 0, 0,
      "hash-chained log of every key received (key ids, never keys), from keyagents and SIPREC "
      "clients; empty: none" },
    { "siprec-listen", CONF_STR, F(siprec_listen), "", 0, 0,
      "SIPREC recording server host:port (mutual TLS with tls-cert/tls-key/tls-ca; plain TCP "
      "only with lab-allow-plain-tcp); empty: off" },
    { "siprec-listen-udp", CONF_STR, F(siprec_listen_udp), "", 0, 0,
      "LAB ONLY: SIPREC over UDP at host:port as well (keys in clear, no client identity, no "
      "allow list); refused unless lab-allow-plain-tcp = yes; needs siprec-listen" },
    { "siprec-allow", CONF_STR, F(siprec_allow), "", 0, 0,
      "recording clients (certificate SAN) allowed to record, comma-separated, the keyagent's "
      "allow grammar; others get 403" },
    { "siprec-media-address", CONF_STR, F(siprec_media_address), "127.0.0.1", 0, 0,
      "numeric address SIPREC sessions' media ports are bound to and answered with" },
    { "siprec-media-port-min", CONF_UINT, F(siprec_port_lo), "41000", 1024, 65534,
      "first port of the SIPREC media range (each stream takes an even/odd pair)" },
    { "siprec-media-port-max", CONF_UINT, F(siprec_port_hi), "41999", 1025, 65535,
      "last port of the SIPREC media range" },
    { "siprec-max-sessions", CONF_UINT, F(siprec_max_sessions), "500", 1, 100000,
      "SIPREC sessions at once; more get 503 (a session with metadata holds about 200 KB)" },
    { "siprec-session-expires", CONF_UINT, F(siprec_session_expires), "1800", 90, 86400,
      "RFC 4028 interval used when a client's Session-Expires has no usable value (s)" },
    { "siprec-min-se", CONF_UINT, F(siprec_min_se), "90", 90, 86400,
      "RFC 4028 Min-SE: shorter Session-Expires get 422 (s)" },
    { "siprec-plain-rtp", CONF_BOOL, F(siprec_plain_rtp), "yes", 0, 0,
      "record plain RTP (RTP/AVP) SIPREC legs as received, bound by the session's media port "
      "(unauthenticated media); no: answer them with port 0" },
};
#undef F

/* What a SIGHUP applies, each part all or nothing; counted by part when
 * it cannot be applied (srtprec_recorder_reload_failures_total). */
enum reload_part { RELOAD_CONFIG, RELOAD_LOG_LEVEL, RELOAD_TLS, RELOAD_RECIPIENTS, RELOAD_PARTS };
static const char *const reload_part_names[RELOAD_PARTS] = { "config", "log_level", "tls",
                                                             "recipients" };

struct recorder {
    struct rd_cfg cfg;
    struct rd_loop *loop;
    SSL_CTX *tls;
    struct stor_index *index;
    struct rd_media *media;
    struct rd_sub *subs[16];
    size_t n_subs;
    SSL_CTX *srs_tls;      /* server context for the SIPREC listener */
    struct rd_srs *srs;    /* NULL unless siprec-listen is set */
    struct rd_keylog *keylog;
    struct rd_watch sigwatch;
    bool stop;
    bool srtp_ready;
    bool ever_authorised; /* some keyagent accepted a subscription since start */
    uint64_t mismatches_gone; /* identity mismatches of subscriptions already destroyed */
    int argc;             /* for a SIGHUP reload: the same file and overrides */
    char **argv;
    uint64_t reloads;     /* SIGHUPs handled */
    uint64_t reload_failed[RELOAD_PARTS]; /* parts a reload could not apply (kept old) */
    struct stor_recover_stats recovery; /* what start-up recovery found */
    time_t started;
};

/* Keys a SIGHUP applies; every other key changed in the file is reported
 * and needs a restart (docs/recorder.md, "Reload"). */
static bool reloadable(const char *key)
{
    static const char *const keys[] = { "tls-cert",  "tls-key",   "tls-ca",
                                        "tls-crl",   "log-level", "archive-recipients",
                                        "siprec-allow" };

    for (size_t i = 0; i < SR_ARRAY_LEN(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static bool item_differs(const struct conf_item *it, const struct rd_cfg *a, const struct rd_cfg *b)
{
    const char *pa = (const char *)a + it->offset, *pb = (const char *)b + it->offset;

    switch (it->type) {
    case CONF_STR: return strcmp(pa, pb) != 0;
    case CONF_UINT: return *(const unsigned long *)(const void *)pa != *(const unsigned long *)(const void *)pb;
    case CONF_BOOL: return *(const bool *)(const void *)pa != *(const bool *)(const void *)pb;
    }
    return true;
}

static int options(struct recorder *r, int argc, char **argv)
{
    char why[512];
    int help = 0, lvl;

    /* The [store] section's keys (read from the file only, setup_store):
     * tools/gen-config.sh prints them into etc/srtprec.conf from here. */
    if (argc == 2 && strcmp(argv[1], "--help-store") == 0) {
        conf_usage(stdout, "[store] of srtprec.conf", objstore_conf_items, objstore_conf_n_items);
        return 1;
    }
    if (conf_load(cfg_items, SR_ARRAY_LEN(cfg_items), &r->cfg, "recorder", argc, argv, &help, why,
                  sizeof(why)) != SR_OK) {
        fprintf(stderr, "srtprec-recorder: %s\n", why);
        return -1;
    }
    if (help == CONF_SHOWN_VERSION) {
        sr_version_print(stdout, "srtprec-recorder");
        return 1;
    }
    if (help) {
        conf_usage(stdout, "srtprec-recorder", cfg_items, SR_ARRAY_LEN(cfg_items));
        return 1;
    }
    lvl = log_level_parse(r->cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "srtprec-recorder: log-level '%s' unknown\n", r->cfg.log_level);
        return -1;
    }
    log_setup((enum log_level)lvl, "srtprec-recorder", getenv("JOURNAL_STREAM") != NULL);
    return 0;
}

/* SIGHUP: read the configuration again and apply what can change live.
 * All or nothing per part: a file that does not parse, a certificate that
 * does not load or a bad level keeps the old state. */
static void reload(struct recorder *r)
{
    struct rd_cfg *n = calloc(1, sizeof(*n));
    char why[512];
    int help = 0, lvl;
    size_t restart = 0;

    r->reloads++;
    /* The bucket's Object Lock may have been enabled since: asked again
     * before the next upload. */
    rd_upl_reprobe(r->cfg.uploader);
    if (!n) {
        log_error("reload: out of memory; nothing changed");
        r->reload_failed[RELOAD_CONFIG]++;
        return;
    }
    if (conf_load(cfg_items, SR_ARRAY_LEN(cfg_items), n, "recorder", r->argc, r->argv, &help, why,
                  sizeof(why)) != SR_OK) {
        log_error("reload: %s; nothing changed", why);
        r->reload_failed[RELOAD_CONFIG]++;
        free(n);
        return;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(cfg_items); i++)
        if (!reloadable(cfg_items[i].name) && item_differs(&cfg_items[i], &r->cfg, n)) {
            log_warn("reload: %s changed; it takes effect only after a restart (kept)",
                     cfg_items[i].name);
            restart++;
        }
    lvl = log_level_parse(n->log_level);
    if (lvl < 0) {
        log_error("reload: log-level '%s' unknown; kept %s", n->log_level, r->cfg.log_level);
        r->reload_failed[RELOAD_LOG_LEVEL]++;
    } else if (strcmp(n->log_level, r->cfg.log_level) != 0) {
        log_set_level((enum log_level)lvl);
        log_notice("reload: log-level %s -> %s", r->cfg.log_level, n->log_level);
        snprintf(r->cfg.log_level, sizeof(r->cfg.log_level), "%s", n->log_level);
    }
    if (!r->tls) {
        if (n->tls_cert[0] || n->tls_key[0] || n->tls_ca[0])
            log_warn("reload: TLS was off at start (lab mode); turning it on needs a restart");
    } else if (!n->tls_cert[0] || !n->tls_key[0] || !n->tls_ca[0]) {
        log_error("reload: tls-cert, tls-key and tls-ca may not be emptied; TLS kept as it was");
        r->reload_failed[RELOAD_TLS]++;
    } else {
        /* Files are read again even when their names did not change: a
         * certificate or CRL renewed in place is the common case. */
        struct sipev_tls_cfg tc = { n->tls_cert, n->tls_key, n->tls_ca, n->tls_crl, false };
        SSL_CTX *ctx = NULL;
        char twhy[512];
        enum sr_err err = sipev_tls_ctx_create(&ctx, &tc, twhy, sizeof(twhy));
        if (err) {
            log_error("reload: TLS: %s; the old certificate, key, CA and CRL stay in use",
                      twhy[0] ? twhy : sr_strerror(err));
            r->reload_failed[RELOAD_TLS]++;
        } else {
            for (size_t i = 0; i < r->n_subs; i++)
                rd_sub_set_tls(r->subs[i], ctx);
            if (r->srs) {
                SSL_CTX *sctx = NULL;
                tc.server = true;
                if (sipev_tls_ctx_create(&sctx, &tc, twhy, sizeof(twhy)) == SR_OK) {
                    rd_srs_set_tls(r->srs, sctx);
                    SSL_CTX_free(r->srs_tls);
                    r->srs_tls = sctx;
                }
            }
            SSL_CTX_free(r->tls); /* live connections hold their own reference */
            r->tls = ctx;
            memcpy(r->cfg.tls_cert, n->tls_cert, sizeof(r->cfg.tls_cert));
            memcpy(r->cfg.tls_key, n->tls_key, sizeof(r->cfg.tls_key));
            memcpy(r->cfg.tls_ca, n->tls_ca, sizeof(r->cfg.tls_ca));
            memcpy(r->cfg.tls_crl, n->tls_crl, sizeof(r->cfg.tls_crl));
            log_notice("reload: TLS certificate %s, key %s, CA %s, CRL %s loaded: used by new "
                       "connections to keyagents (the live ones go on)", r->cfg.tls_cert,
                       r->cfg.tls_key, r->cfg.tls_ca, r->cfg.tls_crl[0] ? r->cfg.tls_crl : "none");
        }
    }
    {
        /* Read again even if the list did not change (renewed in place);
         * the archive thread takes the set before its next open. */
        struct stor_recipients *rc = NULL, *old;
        if (rd_recipients_load(n->archive_recipients, &rc) != SR_OK) {
            log_error("reload: archive-recipients %s not loaded; new archives keep the old set",
                      n->archive_recipients);
            r->reload_failed[RELOAD_RECIPIENTS]++;
        } else {
            old = atomic_exchange(&r->cfg.recipients_reload, rc);
            stor_recipients_free(old); /* an earlier reload's, never taken */
            memcpy(r->cfg.archive_recipients, n->archive_recipients,
                   sizeof(r->cfg.archive_recipients));
            log_notice("reload: archive-recipients %s loaded: new archives wrap their keys to "
                       "them (open ones keep theirs)", r->cfg.archive_recipients);
        }
    }
    if (r->srs && strcmp(n->siprec_allow, r->cfg.siprec_allow) != 0 &&
        rd_srs_set_allow(r->srs, n->siprec_allow) == SR_OK) {
        memcpy(r->cfg.siprec_allow, n->siprec_allow, sizeof(r->cfg.siprec_allow));
        log_notice("reload: siprec-allow replaced (live sessions go on; new requests are "
                   "checked against it)");
    }
    log_notice("reload done: calls and subscriptions go on; %zu changed keys need a restart "
               "(media-listen, archive-dir, index, workers and the limits are read only at "
               "start)", restart);
    free(n);
}

static void on_signal(struct rd_watch *w, uint32_t events)
{
    struct recorder *r = (struct recorder *)((char *)w - offsetof(struct recorder, sigwatch));
    struct signalfd_siginfo si;

    (void)events;
    /* Bounded: the signalfd is non-blocking and holds at most one of each. */
    for (int i = 0; i < 8 && read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si); i++) {
        if (si.ssi_signo == SIGHUP) {
            log_notice("signal %u (SIGHUP): reloading", si.ssi_signo);
            reload(r);
            continue;
        }
        log_notice("signal %u: shutting down", si.ssi_signo);
        r->stop = true;
    }
}

/* archive-dir must exist and take a file now: otherwise every call would
 * be lost while the recorder looked healthy. */
static int check_archive_dir(const char *dir)
{
    char probe[CONF_STR_MAX + 64];
    struct stat sb;
    int fd;

    if (stat(dir, &sb) != 0) {
        log_error("archive-dir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        log_error("archive-dir %s: not a directory", dir);
        return -1;
    }
    snprintf(probe, sizeof(probe), "%s/.srtprec-write-check-%ld", dir, (long)getpid());
    fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "x", 1) != 1) {
        log_error("archive-dir %s: cannot write in it: %s", dir, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(probe);
        }
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;

    /* One archive file per call: the soft limit must not cap the call count. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_info("open file limit %llu", (unsigned long long)rl.rlim_cur);
}

/* Readiness (docs/deploy.md, "Health"): calls can be recorded and indexed
 * as they come.  Each check is cheap enough for every metrics write. */
static size_t health_checks(const struct recorder *r, struct prom_check *c, uint64_t *free_bytes)
{
    struct rd_archives_stats ast;
    struct statvfs vfs;
    bool subscribed = r->n_subs > 0;

    rd_archives_stats(r->cfg.archives_live, &ast);
    for (size_t i = 0; i < r->n_subs; i++)
        subscribed = subscribed && rd_sub_active(r->subs[i]);
    *free_bytes = statvfs(r->cfg.archive_dir, &vfs) == 0
                      ? (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize : 0;
    c[0] = (struct prom_check){ "archive_dir_writable", access(r->cfg.archive_dir, W_OK | X_OK) == 0 };
    /* Rows wait only while index writes fail (locked, I/O, gone). */
    c[1] = (struct prom_check){ "index_reachable", r->cfg.archives_live && ast.index_queued_now == 0 };
    c[2] = (struct prom_check){ "keyagents_subscribed", subscribed };
    c[3] = (struct prom_check){ "disk_headroom",
                                *free_bytes >= (uint64_t)r->cfg.min_free_disk_mb * 1024u * 1024u };
    c[4] = (struct prom_check){ "archives_sealed", ast.seals_waiting == 0 };
    if (!r->cfg.uploader)
        return 5;
    /* Uploads keep up: nothing has waited for the store past 15 minutes. */
    struct rd_upl_stats us;
    rd_upl_stats(r->cfg.uploader, &us);
    c[5] = (struct prom_check){ "store_uploads_current", us.oldest_us < 900000000ull };
    return 6;
}

/* What the metrics file carries beside the media's counters: the daemon's
 * up, build and health, subscription state per keyagent, reloads, and the
 * archive registry's index and disk counters. */
static void daemon_metrics(struct prom *p, void *arg)
{
    const struct recorder *r = arg;
    uint64_t n = r->mismatches_gone, free_bytes;
    bool up = !atomic_load(&r->cfg.stopping);
    struct prom_check checks[6];
    size_t n_checks = health_checks(r, checks, &free_bytes);

    prom_daemon(p, "recorder", up, r->started);
    prom_health(p, "recorder", up, checks, n_checks);
    prom_gauge(p, "srtprec_recorder_archive_disk_free_bytes",
               "Bytes free to the recorder on archive-dir's filesystem.", free_bytes);
    prom_family(p, "srtprec_recorder_keyagent_subscribed", "gauge",
                "1 while the subscription to this keyagent is active.");
    for (size_t i = 0; i < r->n_subs; i++)
        prom_sample1(p, "srtprec_recorder_keyagent_subscribed", "keyagent",
                     rd_sub_target(r->subs[i]), rd_sub_active(r->subs[i]));
    prom_family(p, "srtprec_recorder_keyagent_subscription_state", "gauge",
                "The subscription's state (1 for the current one): idle (backing off), "
                "connecting, subscribing, active.");
    for (size_t i = 0; i < r->n_subs; i++) {
        static const char *const states[] = { "idle", "connecting", "subscribing", "active" };
        for (size_t k = 0; k < SR_ARRAY_LEN(states); k++) {
            const char *const kv[] = { "keyagent", rd_sub_target(r->subs[i]), "state", states[k] };
            prom_sample_kv(p, "srtprec_recorder_keyagent_subscription_state", kv, 2,
                           strcmp(rd_sub_state_name(r->subs[i]), states[k]) == 0);
        }
    }
    for (size_t i = 0; i < r->n_subs; i++)
        n += rd_sub_identity_mismatches(r->subs[i]);
    prom_counter(p, "srtprec_recorder_keyagent_identity_mismatch_total",
                 "Connections refused: the keyagent's certificate named another identity than "
                 "keyagents gives.", n);
    prom_counter(p, "srtprec_recorder_reloads_total", "SIGHUP reloads handled.", r->reloads);
    prom_family(p, "srtprec_recorder_reload_failures_total", "counter",
                "Parts of a reload that could not be applied (the old state kept).");
    for (size_t i = 0; i < RELOAD_PARTS; i++)
        prom_sample1(p, "srtprec_recorder_reload_failures_total", "part", reload_part_names[i],
                     r->reload_failed[i]);
    /* The archive registry's index and disk counters (docs/recorder.md,
     * "Index and disk failures"). */
    if (r->cfg.archives_live)
        rd_archives_metrics(r->cfg.archives_live, p);
    rd_upl_metrics(r->cfg.uploader, p);
    if (r->srs)
        rd_srs_metrics(r->srs, p);
    prom_gauge(p, "srtprec_recorder_key_log_records", "Records in key-log.",
               rd_keylog_records(r->keylog));
    /* A crash shows as recovered archives at the next start: alert on it. */
    prom_family(p, "srtprec_recorder_startup_recovery", "gauge",
                "What recovery at this start found in archive-dir: partial archives sealed "
                "(a crash cut them), damaged ones, index rows repaired, sealed archives that "
                "had no row.");
    prom_sample1(p, "srtprec_recorder_startup_recovery", "kind", "recovered", r->recovery.recovered);
    prom_sample1(p, "srtprec_recorder_startup_recovery", "kind", "damaged", r->recovery.damaged);
    prom_sample1(p, "srtprec_recorder_startup_recovery", "kind", "index_fixed",
                 r->recovery.index_fixed);
    prom_sample1(p, "srtprec_recorder_startup_recovery", "kind", "reconciled",
                 r->recovery.reconciled);
}

/* Every key body, from a keyagent or a SIPREC client, goes on the key log
 * before the engine applies it. */
static void keys_from_keyagent(const char *peer, const struct sipev_keybody *kb, void *arg)
{
    struct recorder *r = arg;

    rd_keylog_body(r->keylog, "keyagent", peer, kb);
    rd_media_keybody(peer, kb, r->media);
}

static void keys_from_siprec(const char *peer, const struct sipev_keybody *kb, void *arg)
{
    struct recorder *r = arg;

    rd_keylog_body(r->keylog, "siprec", peer, kb);
    rd_media_keybody(peer, kb, r->media);
}

/* Main's thread, as the registry pointer is (rd_cfg.archives_live). */
static void metadata_from_siprec(const char *peer, const char *call_id, const uint8_t *doc,
                                 size_t len, uint64_t wall_us, const struct stor_party *parties,
                                 size_t n_parties, void *arg)
{
    struct recorder *r = arg;

    rd_archives_metadata(r->cfg.archives_live, peer, call_id, doc, len, wall_us, parties,
                         n_parties);
}

static int setup_srs(struct recorder *r)
{
    struct rd_srs_cfg sc = { 0 };

    if (!r->cfg.siprec_listen[0]) {
        if (!r->cfg.siprec_listen_udp[0])
            return 0;
        log_error("siprec-listen-udp needs siprec-listen (the SRS's TLS or lab TCP listener)");
        return -1;
    }
    if (r->tls) {
        struct sipev_tls_cfg tc = { r->cfg.tls_cert, r->cfg.tls_key, r->cfg.tls_ca,
                                    r->cfg.tls_crl, true };
        char twhy[512];
        if (sipev_tls_ctx_create(&r->srs_tls, &tc, twhy, sizeof(twhy)) != SR_OK) {
            log_error("SIPREC TLS setup: %s", twhy);
            return -1;
        }
    } else {
        log_warn("LAB MODE: SIPREC over plain TCP; SRTP keys cross the network in clear and "
                 "clients are not authenticated");
    }
    sc.cfg = &r->cfg;
    sc.tls = r->srs_tls;
    sc.loop = r->loop;
    sc.media = r->media;
    sc.on_keybody = keys_from_siprec;
    sc.on_metadata = metadata_from_siprec;
    sc.arg = r;
    return rd_srs_create(&r->srs, &sc) == SR_OK ? 0 : -1;
}

/* keyagents = "host:port sip:identity, ...": the identity pins which
 * keyagent we accept at that address (any same-CA certificate would do
 * otherwise); only a lab setup may leave it out. */
static int setup_subs(struct recorder *r)
{
    char list[CONF_STR_MAX];
    struct slice cur;

    snprintf(list, sizeof(list), "%s", r->cfg.keyagents);
    cur = slice_cstr(list);
    while (cur.len) {
        struct slice item = slice_trim(slice_split(&cur, ','));
        struct slice addr, id;
        char target[CONF_STR_MAX], peer_id[CONF_STR_MAX];
        struct rd_sub_cfg sc = { 0 };
        if (!item.len)
            continue;
        if (r->n_subs == SR_ARRAY_LEN(r->subs)) {
            log_error("keyagents: at most %zu", SR_ARRAY_LEN(r->subs));
            return -1;
        }
        addr = slice_trim(slice_split(&item, ' '));
        id = slice_trim(item);
        if (slice_find(id, ' ') >= 0 || slice_find(id, '\t') >= 0) {
            log_error("keyagents: '%.*s %.*s': expected 'host:port sip:identity'", (int)addr.len,
                      addr.p, (int)id.len, id.p);
            return -1;
        }
        if (!id.len && !r->cfg.lab_allow_plain_tcp) {
            log_error("keyagents: %.*s has no identity (write 'host:port sip:identity': the "
                      "SAN its certificate must carry; only lab-allow-plain-tcp may omit it)",
                      (int)addr.len, addr.p);
            return -1;
        }
        slice_copy_cstr(addr, target, sizeof(target));
        slice_copy_cstr(id, peer_id, sizeof(peer_id));
        sc.target = target;
        sc.identity = r->cfg.identity;
        sc.peer_identity = peer_id;
        sc.tls = r->tls;
        sc.expires = (unsigned)r->cfg.subscribe_expires;
        sc.loop = r->loop;
        sc.on_keybody = keys_from_keyagent;
        sc.arg = r;
        if (rd_sub_create(&r->subs[r->n_subs], &sc) != SR_OK)
            return -1;
        r->n_subs++;
    }
    if (!r->n_subs && !r->cfg.siprec_listen[0]) {
        log_error("keyagents: none configured (and no siprec-listen)");
        return -1;
    }
    rd_media_set_extra_metrics(r->media, daemon_metrics, r);
    return 0;
}

/* The object store ([store] in the same file; docs/scale.md, "The
 * archive store"): none configured, archives stay local. */
static int setup_store(struct recorder *r)
{
    struct objstore_cfg sc;
    struct stor_index *ix = NULL;
    const char *conf = NULL;
    char why[512] = "";
    enum sr_err err;

    for (int i = 1; i < r->argc; i++)
        if (strncmp(r->argv[i], "--config=", 9) == 0)
            conf = r->argv[i] + 9;
    if (!conf)
        return 0;
    err = objstore_cfg_load(&sc, conf, why, sizeof(why));
    if (err == SR_ENOTFOUND)
        return 0;
    if (err) {
        log_error("[store]: %s", why[0] ? why : sr_strerror(err));
        return -1;
    }
    /* The uploader's own index connection: the archive thread's is its alone. */
    if ((err = stor_index_open(&ix, r->cfg.index)) != SR_OK) {
        log_error("index for the uploader: %s", sr_strerror(err));
        return -1;
    }
    struct rd_upl_cfg uc = { .archive_dir = r->cfg.archive_dir, .prefix = sc.prefix,
                             .keep_local = sc.keep_local,
                             .retry_min_ms = (unsigned)sc.upload_retry_min_ms,
                             .retry_max_ms = (unsigned)sc.upload_retry_max_ms,
                             .threads = (unsigned)sc.upload_threads,
                             .index_spec = r->cfg.index };
    err = rd_upl_create(&r->cfg.uploader, &uc, &sc, ix, NULL, NULL, true, why, sizeof(why));
    if (err) {
        log_error("[store]: %s", why[0] ? why : sr_strerror(err));
        return -1;
    }
    log_notice("sealed archives go to the object store %s, bucket %s%s", sc.url, sc.bucket,
               sc.keep_local ? " (local copies kept)" : "; local copies removed once stored");
    return 0;
}

static int setup(struct recorder *r)
{
    sigset_t mask;
    enum sr_err err;
    char desc[256];

    /* Blocked first: a SIGHUP during a long recovery must not kill us
     * (its default action); the signalfd made below collects it. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP); /* reload, never the default (terminate) */
    sigprocmask(SIG_BLOCK, &mask, NULL);
    raise_nofile();
    enum rec_srtp_backend backend = REC_SRTP_BACKEND_UNKNOWN;
    err = rec_srtp_lib_init(r->cfg.allow_nss_libsrtp, &backend);
    if (err) {
        log_error("libsrtp2 (%s backend): %s", rec_srtp_backend_name(backend), sr_strerror(err));
        return -1;
    }
    r->srtp_ready = true;
    if (!r->cfg.tls_cert[0] || !r->cfg.tls_key[0] || !r->cfg.tls_ca[0]) {
        if (!r->cfg.lab_allow_plain_tcp) {
            log_error("tls-cert, tls-key and tls-ca are required: keys travel only over mutual "
                      "TLS unless lab-allow-plain-tcp=yes");
            return -1;
        }
        log_warn("LAB MODE: subscribing over plain TCP; SRTP keys cross the network in clear");
    } else {
        struct sipev_tls_cfg tc = { r->cfg.tls_cert, r->cfg.tls_key, r->cfg.tls_ca,
                                    r->cfg.tls_crl, false };
        char twhy[512];
        err = sipev_tls_ctx_create(&r->tls, &tc, twhy, sizeof(twhy));
        if (err) {
            log_error("TLS setup: %s", twhy[0] ? twhy : sr_strerror(err));
            return -1;
        }
    }
    if (check_archive_dir(r->cfg.archive_dir) != 0)
        return -1;
    if (!r->cfg.signing_key[0]) {
        if (!r->cfg.lab_allow_plain_tcp) {
            log_error("signing-key is required: every sealed archive is signed so that "
                      "auditors can tell it from a forgery (only lab-allow-plain-tcp=yes "
                      "records unsigned archives)");
            return -1;
        }
        log_warn("LAB MODE: no signing-key; archives are not signed");
    }
    if (strlen(r->cfg.recorder_id) >= STOR_RECORDER_ID) {
        log_error("recorder-id: at most %d bytes", STOR_RECORDER_ID - 1);
        return -1;
    }
    if (!r->cfg.seal_ledger[0] && !stor_index_is_file(r->cfg.index)) {
        log_error("index is a PostgreSQL database: set seal-ledger");
        return -1;
    }
    if (!r->cfg.seal_ledger[0] &&
        (size_t)snprintf(r->cfg.seal_ledger, sizeof(r->cfg.seal_ledger), "%s.seals",
                         r->cfg.index) >= sizeof(r->cfg.seal_ledger)) {
        log_error("index: path too long for its seal ledger");
        return -1;
    }
    err = stor_index_open(&r->index, r->cfg.index);
    stor_index_describe(r->cfg.index, desc, sizeof(desc)); /* never the password */
    if (!err && (err = stor_index_check_write(r->index)) != SR_OK) {
        log_error("index %s: cannot be written: %s", desc,
                  err == SR_EAGAIN ? "locked by another process" : sr_strerror(err));
        return -1;
    }
    if (err) {
        log_error("index %s: %s", desc, sr_strerror(err));
        return -1;
    }
    /* Seal archives a crash left open, repair their index rows and index
     * every sealed archive that has none (docs/storage.md, "Reconciliation"). */
    {
        struct stor_recover_stats rs = { 0 };
        if ((err = stor_recover(r->cfg.archive_dir, r->index, &rs)))
            log_error("recovery in %s: %s", r->cfg.archive_dir, sr_strerror(err));
        if (rs.recovered || rs.damaged || rs.index_fixed || rs.reconciled)
            log_notice("recovery in %s: %zu partial archives sealed, %zu damaged, %zu index rows "
                       "repaired, %zu sealed archives indexed", r->cfg.archive_dir, rs.recovered,
                       rs.damaged, rs.index_fixed, rs.reconciled);
        r->recovery = rs;
    }
    if (rd_loop_create(&r->loop) != SR_OK)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    r->sigwatch.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    r->sigwatch.on_event = on_signal;
    if (r->sigwatch.fd < 0 || rd_loop_add(r->loop, &r->sigwatch, EPOLLIN) != SR_OK)
        return -1;
    if (r->cfg.capture[0] || r->cfg.capture_file[0]) {
        struct rd_cap_cfg cc = { r->cfg.capture, r->cfg.capture_file, r->cfg.capture_filter,
                                 r->cfg.capture_promisc, r->cfg.capture_buffer,
                                 r->cfg.capture_timeout_ms,
                                 strcmp(r->cfg.capture_pace, "fast") == 0 };
        if (strcmp(r->cfg.capture_pace, "fast") != 0 &&
            strcmp(r->cfg.capture_pace, "recorded") != 0) {
            log_error("capture-pace '%s': expected recorded or fast", r->cfg.capture_pace);
            return -1;
        }
        /* A file is replayed by one engine; with more, a worker that
         * applies the key state only as the replay ends (its mailbox is
         * behind) would open a second, empty archive of a call at the
         * exit right after.  One engine on main's loop, no mailbox. */
        if (r->cfg.capture_file[0] && r->cfg.workers != 1) {
            log_notice("capture-file: workers = 1 (a file is replayed by one engine)");
            r->cfg.workers = 1;
        }
        if (rd_cap_open(&r->cfg.cap, &cc) != SR_OK)
            return -1;
        /* Before rd_media_create starts any thread: capabilities are per
         * thread, and the capture is the only thing that needed any. */
        if (rd_cap_drop_privileges(r->cfg.cap) != SR_OK)
            return -1;
    }
    if (setup_store(r) != 0)
        return -1;
    err = rd_media_create(&r->media, &r->cfg, r->loop, r->index);
    if (err) {
        log_error("media %s: %s", r->cfg.media_listen, sr_strerror(err));
        return -1;
    }
    if (r->cfg.key_log[0] && rd_keylog_open(&r->keylog, r->cfg.key_log) != SR_OK)
        return -1;
    if (setup_subs(r) != 0 || setup_srs(r) != 0)
        return -1;
    log_notice("recording SRTP on %s into %s, keys from %s%s%s", r->cfg.media_listen,
               r->cfg.archive_dir, r->cfg.keyagents[0] ? r->cfg.keyagents : "no keyagent",
               r->cfg.siprec_listen[0] ? " and SIPREC clients on " : "", r->cfg.siprec_listen);
    return 0;
}

static void run(struct recorder *r)
{
    uint64_t stats_at = sr_now_us() + 60000000u;

    while (!r->stop) {
        uint64_t now = sr_now_us(), next = now + 1000000u, t;
        for (size_t i = 0; i < r->n_subs; i++) {
            t = rd_sub_tick(r->subs[i], now);
            next = t < next ? t : next;
            /* Once any keyagent has accepted us, a later outage or refresh
             * must not cost media: keep archiving what cannot be decrypted. */
            r->ever_authorised = r->ever_authorised || rd_sub_active(r->subs[i]);
        }
        if (r->srs) {
            struct rd_srs_stats ss;
            t = rd_srs_tick(r->srs, now);
            next = t < next ? t : next;
            /* An authorised recording client's session authorises us too. */
            rd_srs_stats(r->srs, &ss);
            r->ever_authorised = r->ever_authorised || ss.sessions > 0;
        }
        rd_media_set_authorised(r->media, r->ever_authorised);
        if (rd_cap_done(r->cfg.cap)) {
            log_notice("capture-file %s replayed: sealing and exiting", r->cfg.capture_file);
            r->stop = true;
            break;
        }
        t = rd_media_tick(r->media, now);
        next = t < next ? t : next;
        if (now >= stats_at) {
            rd_media_log_stats(r->media);
            stats_at = now + 60000000u;
        }
        int timeout = next > now ? (int)((next - now + 999) / 1000) : 0;
        rd_keylog_sync(r->keylog); /* what the last iteration received is on disk */
        if (rd_loop_run_once(r->loop, timeout) < 0) {
            log_error("event loop failed");
            break;
        }
    }
}

static void cleanup(struct recorder *r)
{
    /* Every call still open is cut by this stop: its archive says so. */
    atomic_store(&r->cfg.stopping, true);
    for (size_t i = 0; i < r->n_subs; i++) {
        rd_sub_unsubscribe(r->subs[i]);
        /* The final metrics (rd_media_destroy) still report them. */
        r->mismatches_gone += rd_sub_identity_mismatches(r->subs[i]);
        rd_sub_destroy(r->subs[i]);
    }
    r->n_subs = 0;
    rd_srs_destroy(r->srs); /* BYE to every session; their keys end */
    r->srs = NULL;
    if (r->media)
        rd_media_log_stats(r->media);
    rd_media_destroy(r->media); /* seals every open archive */
    rd_upl_destroy(r->cfg.uploader); /* what is still pending waits in the spool */
    r->cfg.uploader = NULL;
    rd_cap_close(r->cfg.cap);
    stor_recipients_free(atomic_exchange(&r->cfg.recipients_reload, NULL));
    if (r->sigwatch.fd > 0)
        close(r->sigwatch.fd);
    rd_loop_destroy(r->loop);
    stor_index_close(r->index);
    if (r->tls)
        SSL_CTX_free(r->tls);
    if (r->srs_tls)
        SSL_CTX_free(r->srs_tls);
    rd_keylog_close(r->keylog);
    if (r->srtp_ready)
        rec_srtp_lib_fini();
}

int main(int argc, char **argv)
{
    static struct recorder r; /* main's own state; nothing else sees it */
    int rc;

    sr_harden_process(NULL); /* no cores, umask 027: before any key or file */
    r.started = time(NULL);
    r.argc = argc;
    r.argv = argv;
    rc = options(&r, argc, argv);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    rc = setup(&r) == 0 ? 0 : 1;
    if (rc == 0)
        run(&r);
    cleanup(&r);
    log_notice("stopped");
    return rc;
}
