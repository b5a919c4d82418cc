/** @file srtprec-sdp-disclose.c  Disclose an SDP offer/answer's SRTP keys to srtprec-keyagent.
 *
 *   srtprec-sdp-disclose --control=SOCK --call-id=ID --local-aor=URI --remote-aor=URI
 *                        --local-sdp=FILE --remote-sdp=FILE
 *                        [--local-tag=T] [--remote-tag=T] [--start=TIME] [--dry-run]
 *
 * For a PBX or script that has the SDP of a call but no C integration: the
 * local SDP is the one this endpoint sent (its a=crypto keys protect what it
 * sends), the remote SDP the one it received.  The tool cannot tell how
 * long the media has flowed, so every stream's ROC is disclosed as unknown
 * (the recorder searches it); --start (RFC 3339 or epoch seconds: when the
 * dialog started) bounds that search for a call disclosed late.  Exit 0 when every stream was
 * disclosed, 1 when the SDP cannot be disclosed or the keyagent refused
 * (then the call is ENDed again), 2 on usage errors.  Keys are never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ka.h"
#include "util.h"
#include "version.h"

static const char usage[] =
    "usage: srtprec-sdp-disclose --control=SOCK --call-id=ID --local-aor=URI --remote-aor=URI\n"
    "                            --local-sdp=FILE --remote-sdp=FILE\n"
    "                            [--local-tag=T] [--remote-tag=T] [--start=TIME] [--dry-run]\n";

/* Read at most KA_SDP_MAX + 1 bytes, so an oversized file is refused by the
 * parser's own limit rather than truncated into something that parses. */
static enum sr_err read_sdp(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;

    if (fd < 0)
        return SR_EIO;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return SR_EIO;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return SR_OK;
}

static int load(const char *what, const char *path, struct ka_sdp *out)
{
    static char buf[KA_SDP_MAX + 1];
    size_t len = 0;
    const char *why = "";
    enum sr_err err = read_sdp(path, buf, sizeof(buf), &len);

    if (err) {
        fprintf(stderr, "srtprec-sdp-disclose: cannot read %s SDP %s: %s\n", what, path,
                strerror(errno));
        return 1;
    }
    err = ka_sdp_parse(buf, len, out, &why);
    sr_wipe(buf, len); /* the text holds the keys too */
    if (err) {
        fprintf(stderr, "srtprec-sdp-disclose: %s SDP %s: %s: %s\n", what, path, sr_strerror(err),
                why);
        return 1;
    }
    for (size_t m = 0; m < out->n_media; m++)
        for (size_t c = 0; c < out->media[m].n_crypto; c++)
            if (out->media[m].crypto[c].session_params)
                fprintf(stderr, "srtprec-sdp-disclose: note: %s SDP m=%zu a=crypto:%lu: session "
                        "parameters ignored (the control protocol has no field for them)\n",
                        what, m, (unsigned long)out->media[m].crypto[c].tag);
    return 0;
}

int main(int argc, char **argv)
{
    static struct ka_sdp local, remote;
    const char *control = NULL, *local_sdp = NULL, *remote_sdp = NULL, *start = NULL, *why = "";
    uint64_t start_us = 0;
    struct ka_call_info call = { .local_tag = "-", .remote_tag = "-" };
    struct ka_client *c = NULL;
    bool dry_run = false;
    size_t n = 0;
    enum sr_err err;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = strchr(a, '=');
        v = v ? v + 1 : NULL;
#define O(name, var) if (v && strncmp(a, "--" name "=", strlen(name) + 3) == 0) { var = v; continue; }
        O("control", control) O("call-id", call.call_id) O("local-aor", call.local_aor)
        O("remote-aor", call.remote_aor) O("local-tag", call.local_tag)
        O("remote-tag", call.remote_tag) O("local-sdp", local_sdp) O("remote-sdp", remote_sdp)
        O("start", start)
#undef O
        if (strcmp(a, "--dry-run") == 0) {
            dry_run = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            sr_version_print(stdout, "srtprec-sdp-disclose");
            return 0;
        }
        fprintf(stderr, "srtprec-sdp-disclose: unknown argument %s\n%s", a, usage);
        return 2;
    }
    if ((!control && !dry_run) || !call.call_id || !call.local_aor || !call.remote_aor ||
        !local_sdp || !remote_sdp) {
        fprintf(stderr, "srtprec-sdp-disclose: missing%s%s%s%s%s%s\n%s",
                !control && !dry_run ? " --control (or --dry-run)" : "",
                !call.call_id ? " --call-id" : "", !call.local_aor ? " --local-aor" : "",
                !call.remote_aor ? " --remote-aor" : "", !local_sdp ? " --local-sdp" : "",
                !remote_sdp ? " --remote-sdp" : "", usage);
        return 2;
    }
    if (start && !sr_time_parse(slice_cstr(start), SR_TIME_FIRST, &start_us)) {
        fprintf(stderr, "srtprec-sdp-disclose: --start=%s: not an RFC 3339 time or epoch "
                "seconds\n%s", start, usage);
        return 2;
    }
    if (load("local", local_sdp, &local) || load("remote", remote_sdp, &remote))
        goto out;
    if (!dry_run && (err = ka_client_connect(&c, control)) != SR_OK) {
        fprintf(stderr, "srtprec-sdp-disclose: connect %s: %s\n", control, sr_strerror(err));
        goto out;
    }
    err = ka_sdp_disclose_late(c, &call, start_us, &local, &remote, &n, &why);
    if (err) {
        fprintf(stderr, "srtprec-sdp-disclose: %s: %s%s%s\n", sr_strerror(err), why,
                err == SR_ESTATE ? ": " : "", err == SR_ESTATE ? ka_client_error(c) : "");
        /* Withdraw a half-disclosed call; a refused CALL created nothing. */
        if (err == SR_ESTATE && strcmp(why, "STREAM refused") == 0)
            (void)ka_call_end(c, call.call_id);
        goto out;
    }
    printf("%s %zu streams of call %s\n", dry_run ? "would disclose" : "disclosed", n, call.call_id);
    rc = 0;
out:
    ka_client_close(c);
    ka_sdp_wipe(&local);
    ka_sdp_wipe(&remote);
    return rc;
}
