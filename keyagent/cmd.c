/** @file cmd.c  Parser for one control-socket line (docs/protocol.md, "Control socket").
 *
 * Strict on purpose: the socket is local, but whatever it accepts ends up in
 * XML bodies sent to recorders, so every token is bounded and printable and
 * every number range-checked here, once.
 */
#include <arpa/inet.h>
#include <string.h>

#include "ka_priv.h"
#include "util.h"

enum { MAX_TOKENS = 24 };

/* slice_to_u64 can accept a single digit above a max below 9; re-check. */
static bool num(struct slice s, uint64_t max, uint64_t *out)
{
    return slice_to_u64(s, max, out) && *out <= max;
}

static bool token_ok(struct slice t)
{
    if (t.len == 0)
        return false;
    for (size_t i = 0; i < t.len; i++)
        if ((unsigned char)t.p[i] < 0x21 || (unsigned char)t.p[i] > 0x7e)
            return false;
    return true;
}

/* Exactly one SP between tokens: anything looser would let two endpoints
 * mean different things by the same line. */
static enum sr_err split(struct slice line, struct slice *tok, size_t *n, const char **why)
{
    *n = 0;
    if (line.len && line.p[line.len - 1] == '\r')
        line.len--;
    if (line.len == 0)
        return (*why = "empty line"), SR_EPARSE;
    while (line.len) {
        long sp = slice_find(line, ' ');
        struct slice t = sp < 0 ? line : slice_of(line.p, (size_t)sp);

        if (!token_ok(t))
            return (*why = "bad token (empty, space run or non-printable byte)"), SR_EPARSE;
        if (*n == MAX_TOKENS)
            return (*why = "too many tokens"), SR_ELIMIT;
        tok[(*n)++] = t;
        if (sp < 0)
            break;
        slice_skip(&line, (size_t)sp + 1);
        if (line.len == 0)
            return (*why = "trailing space"), SR_EPARSE;
    }
    return SR_OK;
}

static bool copy_tok(struct slice t, char *dst, size_t dstlen)
{
    return slice_copy_cstr(t, dst, dstlen);
}

static bool aor_ok(struct slice t)
{
    return slice_starts_nocase(t, SLICE_LIT("sip:")) || slice_starts_nocase(t, SLICE_LIT("sips:")) ||
           slice_starts_nocase(t, SLICE_LIT("tel:"));
}

static bool tag_copy(struct slice t, char *dst, size_t dstlen)
{
    if (slice_eq(t, SLICE_LIT("-"))) {
        dst[0] = '\0';
        return true;
    }
    return copy_tok(t, dst, dstlen);
}

/* "192.0.2.1:5004", "[2001:db8::1]:5004" or "-" (unknown). */
static bool addr_ok(struct slice t, char *dst, size_t dstlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    struct slice port, h;
    uint64_t p;
    unsigned char bin[16];
    long colon = -1;

    if (slice_eq(t, SLICE_LIT("-"))) {
        dst[0] = '\0';
        return true;
    }
    for (size_t i = 0; i < t.len; i++)
        if (t.p[i] == ':')
            colon = (long)i;
    if (colon <= 0)
        return false;
    h = slice_of(t.p, (size_t)colon);
    port = slice_of(t.p + colon + 1, t.len - (size_t)colon - 1);
    if (!num(port, 65535, &p) || p == 0)
        return false;
    if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']') {
        if (!slice_copy_cstr(slice_of(h.p + 1, h.len - 2), host, sizeof(host)) ||
            inet_pton(AF_INET6, host, bin) != 1)
            return false;
    } else if (!slice_copy_cstr(h, host, sizeof(host)) || inet_pton(AF_INET, host, bin) != 1) {
        return false;
    }
    return copy_tok(t, dst, dstlen);
}

static bool hex32(struct slice t, uint32_t *out)
{
    uint32_t v = 0;

    if (t.len == 0 || t.len > 8)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        char c = t.p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* One key-param token (srtpkey.h, the parser every consumer shares). */
static enum sr_err keyparam_parse(struct slice t, enum sipev_suite suite, struct sipev_key *k,
                                  const char **why)
{
    struct srtpkey_key sk;
    enum sr_err err = srtpkey_param_parse(t, (enum srtpkey_suite)suite, &sk, why);

    memset(k, 0, sizeof(*k));
    k->suite = suite;
    if (err == SR_OK) {
        memcpy(k->master, sk.master, sk.master_len);
        k->master_len = sk.master_len;
        k->lifetime = sk.lifetime;
        k->mki = sk.mki;
        k->mki_len = sk.mki_len;
    }
    srtpkey_key_wipe(&sk);
    return err;
}

/* "<suite> <inline:...> [<inline:...> ...]" starting at tok[0]; returns how
 * many tokens were key-params in *used.  A token that is not inline: ends
 * the keys (roc and seq follow), so a key-param of another method is refused
 * here as the SDP helper and the key body refuse it. */
static enum sr_err keys_parse(struct slice *tok, size_t n, struct sipev_stream *st, size_t *used,
                              const char **why)
{
    struct srtpkey_set set;
    enum srtpkey_suite suite;
    enum sr_err err;
    size_t i;

    if (n < 2)
        return (*why = "missing suite or key"), SR_EPARSE;
    err = srtpkey_suite_parse(tok[0], &suite, why);
    if (err)
        return err;
    st->n_keys = 0;
    srtpkey_set_init(&set);
    for (i = 1; i < n && slice_find(tok[i], ':') >= 0; i++) {
        struct sipev_key *k = &st->keys[st->n_keys];
        if (st->n_keys == SIPEV_MAX_KEYS)
            return srtpkey_set_add(&set, 0, 0, why);
        err = keyparam_parse(tok[i], (enum sipev_suite)suite, k, why);
        if (!err)
            err = srtpkey_set_add(&set, k->mki, k->mki_len, why);
        if (err)
            return err;
        st->n_keys++;
    }
    if (st->n_keys == 0)
        return (*why = "missing key"), SR_EPARSE;
    *used = i;
    return SR_OK;
}

static enum sr_err position_parse(struct slice roc, struct slice seq, struct sipev_stream *st,
                                  const char **why)
{
    uint64_t r, s;

    /* "-": the client does not know the ROC (an SBC that first saw the
     * call mid-way); the recorder searches it (docs/engine.md). */
    st->roc_unknown = slice_eq(roc, SLICE_LIT("-"));
    if ((!st->roc_unknown && !num(roc, UINT32_MAX, &r)) || !num(seq, 65535, &s))
        return (*why = "bad roc or seq"), SR_EPARSE;
    st->roc = st->roc_unknown ? 0 : (uint32_t)r;
    st->seq = (uint16_t)s;
    return SR_OK;
}

static enum sr_err parse_call(struct slice *tok, size_t n, struct ka_cmd *cmd, const char **why)
{
    if (n != 6 && n != 7)
        return (*why = "CALL takes 5 arguments (6 with the start time)"), SR_EPARSE;
    /* The dialog's start, when the client knows it and CALL comes later
     * (a late disclosure): it bounds the recorder's ROC search. */
    if (n == 7 && !sr_wall_parse(tok[6], SR_WALL_UTC_ONLY, &cmd->start_wall_us))
        return (*why = "start must be an RFC 3339 UTC time"), SR_EPARSE;
    if (!copy_tok(tok[1], cmd->call_id, sizeof(cmd->call_id)) ||
        !tag_copy(tok[2], cmd->local_tag, sizeof(cmd->local_tag)) ||
        !tag_copy(tok[3], cmd->remote_tag, sizeof(cmd->remote_tag)))
        return (*why = "call-id or tag too long"), SR_ELIMIT;
    if (!aor_ok(tok[4]) || !aor_ok(tok[5]))
        return (*why = "AOR must be a sip:, sips: or tel: URI"), SR_EPARSE;
    if (!copy_tok(tok[4], cmd->local_aor, sizeof(cmd->local_aor)) ||
        !copy_tok(tok[5], cmd->remote_aor, sizeof(cmd->remote_aor)))
        return (*why = "AOR too long"), SR_ELIMIT;
    return SR_OK;
}

/* STREAM call stream dir ssrc pt codec rate src dst suite key... roc seq */
static enum sr_err parse_stream(struct slice *tok, size_t n, struct ka_cmd *cmd, const char **why)
{
    struct sipev_stream *st = &cmd->stream;
    uint64_t v;
    size_t used;
    enum sr_err err;

    if (n < 14)
        return (*why = "STREAM takes at least 13 arguments"), SR_EPARSE;
    if (!copy_tok(tok[1], cmd->call_id, sizeof(cmd->call_id)) ||
        !copy_tok(tok[2], st->id, sizeof(st->id)))
        return (*why = "call-id or stream-id too long"), SR_ELIMIT;
    if (slice_eq(tok[3], SLICE_LIT("send")))
        st->direction = SIPEV_DIR_SEND;
    else if (slice_eq(tok[3], SLICE_LIT("recv")))
        st->direction = SIPEV_DIR_RECV;
    else
        return (*why = "direction must be send or recv"), SR_EPARSE;
    if (slice_eq(tok[4], SLICE_LIT("-"))) {
        st->ssrc_known = false;
    } else if (hex32(tok[4], &st->ssrc)) {
        st->ssrc_known = true;
    } else {
        return (*why = "ssrc must be 1-8 hex digits or -"), SR_EPARSE;
    }
    if (!num(tok[5], 127, &v))
        return (*why = "payload type must be 0..127"), SR_EPARSE;
    st->payload_type = (unsigned)v;
    if (!copy_tok(tok[6], st->codec, sizeof(st->codec)))
        return (*why = "codec name too long"), SR_ELIMIT;
    if (!num(tok[7], 384000, &v) || v == 0)
        return (*why = "clock rate must be 1..384000"), SR_EPARSE;
    st->clock_rate = (unsigned)v;
    if (!addr_ok(tok[8], st->src, sizeof(st->src)) || !addr_ok(tok[9], st->dst, sizeof(st->dst)))
        return (*why = "address must be ip:port, [ipv6]:port or -"), SR_EPARSE;
    err = keys_parse(tok + 10, n - 10, st, &used, why);
    if (err)
        return err;
    if (10 + used + 2 != n)
        return (*why = "STREAM must end with roc and seq"), SR_EPARSE;
    err = position_parse(tok[n - 2], tok[n - 1], st, why);
    if (err)
        return err;
    memcpy(st->media, "audio", sizeof("audio"));
    st->state = SIPEV_STREAM_ACTIVE;
    return SR_OK;
}

/* REKEY call stream suite key... [roc seq] */
static enum sr_err parse_rekey(struct slice *tok, size_t n, struct ka_cmd *cmd, const char **why)
{
    size_t used;
    enum sr_err err;

    if (n < 5)
        return (*why = "REKEY takes at least 4 arguments"), SR_EPARSE;
    if (!copy_tok(tok[1], cmd->call_id, sizeof(cmd->call_id)) ||
        !copy_tok(tok[2], cmd->stream.id, sizeof(cmd->stream.id)))
        return (*why = "call-id or stream-id too long"), SR_ELIMIT;
    err = keys_parse(tok + 3, n - 3, &cmd->stream, &used, why);
    if (err)
        return err;
    if (3 + used == n)
        return SR_OK;
    if (3 + used + 2 != n)
        return (*why = "REKEY may end only with roc and seq"), SR_EPARSE;
    cmd->rekey_has_position = true;
    return position_parse(tok[n - 2], tok[n - 1], &cmd->stream, why);
}

enum sr_err ka_cmd_parse(struct slice line, struct ka_cmd *cmd, const char **why)
{
    struct slice tok[MAX_TOKENS];
    size_t n;
    enum sr_err err;
    const char *dummy;

    if (!why)
        why = &dummy;
    memset(cmd, 0, sizeof(*cmd));
    if (line.len > KA_CMD_LINE_MAX) {
        *why = "line too long";
        return SR_ELIMIT;
    }
    err = split(line, tok, &n, why);
    if (err)
        return err;
    if (slice_eq(tok[0], SLICE_LIT("CALL"))) {
        cmd->type = KA_CMD_CALL;
        err = parse_call(tok, n, cmd, why);
    } else if (slice_eq(tok[0], SLICE_LIT("STREAM"))) {
        cmd->type = KA_CMD_STREAM;
        err = parse_stream(tok, n, cmd, why);
    } else if (slice_eq(tok[0], SLICE_LIT("REKEY"))) {
        cmd->type = KA_CMD_REKEY;
        err = parse_rekey(tok, n, cmd, why);
    } else if (slice_eq(tok[0], SLICE_LIT("PAUSE")) || slice_eq(tok[0], SLICE_LIT("RESUME"))) {
        cmd->type = tok[0].p[0] == 'P' ? KA_CMD_PAUSE : KA_CMD_RESUME;
        if (n != 3) {
            *why = "PAUSE/RESUME take 2 arguments";
            err = SR_EPARSE;
        } else if (!copy_tok(tok[1], cmd->call_id, sizeof(cmd->call_id)) ||
                   !copy_tok(tok[2], cmd->stream.id, sizeof(cmd->stream.id))) {
            *why = "call-id or stream-id too long";
            err = SR_ELIMIT;
        }
    } else if (slice_eq(tok[0], SLICE_LIT("END"))) {
        cmd->type = KA_CMD_END;
        if (n != 2) {
            *why = "END takes 1 argument";
            err = SR_EPARSE;
        } else if (!copy_tok(tok[1], cmd->call_id, sizeof(cmd->call_id))) {
            *why = "call-id too long";
            err = SR_ELIMIT;
        }
    } else if (slice_eq(tok[0], SLICE_LIT("PING"))) {
        cmd->type = KA_CMD_PING;
        if (n != 1) {
            *why = "PING takes no argument";
            err = SR_EPARSE;
        }
    } else if (slice_eq(tok[0], SLICE_LIT("VERSION"))) {
        cmd->type = KA_CMD_VERSION;
        if (n != 1) {
            *why = "VERSION takes no argument";
            err = SR_EPARSE;
        }
    } else {
        *why = "unknown command";
        err = SR_EPARSE;
    }
    if (err)
        ka_cmd_wipe(cmd);
    return err;
}

void ka_cmd_wipe(struct ka_cmd *cmd)
{
    if (cmd)
        sr_wipe(cmd, sizeof(*cmd));
}
