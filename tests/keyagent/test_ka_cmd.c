/* Control line parser: valid lines, hostile lines, every prefix, guard pages. */
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "ka_priv.h"
#include "tap.h"
#include "util.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define K30B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"
#define K46 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="
#define K28 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="

static struct ka_cmd cmd;

static enum sr_err parse(const char *line, const char **why)
{
    size_t n = strlen(line);
    return ka_cmd_parse(slice_of(guard_copy(line, n), n), &cmd, why);
}

static void valid_lines(void)
{
    const char *why = NULL;

    tap_ok(parse("CALL c1@host ltag rtag sip:agent1@cc.example sip:cust1@pstn.example", &why) ==
               SR_OK, "CALL parses");
    tap_ok(cmd.type == KA_CMD_CALL && strcmp(cmd.call_id, "c1@host") == 0 &&
               strcmp(cmd.local_tag, "ltag") == 0 && strcmp(cmd.remote_aor, "sip:cust1@pstn.example") == 0,
           "CALL fields");
    tap_ok(parse("CALL c1 - - tel:+4412345 sips:x@y\r", &why) == SR_OK && cmd.local_tag[0] == 0,
           "CALL with unknown tags, tel: AOR, trailing CR");

    tap_ok(parse("STREAM c1 a-1 send deadbeef 0 PCMU 8000 127.0.0.1:4000 127.0.0.1:5000 "
                 "AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 65000", &why) == SR_OK,
           "STREAM parses (%s)", why ? why : "");
    tap_ok(cmd.type == KA_CMD_STREAM && cmd.stream.ssrc_known && cmd.stream.ssrc == 0xdeadbeef &&
               cmd.stream.direction == SIPEV_DIR_SEND && cmd.stream.payload_type == 0 &&
               cmd.stream.clock_rate == 8000 && cmd.stream.n_keys == 1 &&
               cmd.stream.keys[0].master_len == 30 && cmd.stream.keys[0].master[29] == 29 &&
               cmd.stream.seq == 65000 && cmd.stream.roc == 0 &&
               strcmp(cmd.stream.src, "127.0.0.1:4000") == 0 &&
               strcmp(cmd.stream.media, "audio") == 0,
           "STREAM fields");
    tap_ok(parse("STREAM c1 b recv - 111 opus 48000 - [::1]:5004 AES_256_CM_HMAC_SHA1_32 "
                 "inline:" K46 "|2^31|1:1 inline:" K46 "|2:1 4294967295 0", &why) == SR_OK,
           "STREAM with AES-256, two MKI keys, lifetime, IPv6 (%s)", why ? why : "");
    tap_ok(!cmd.stream.ssrc_known && cmd.stream.n_keys == 2 &&
               cmd.stream.keys[0].lifetime == (1ull << 31) && cmd.stream.keys[0].mki == 1 &&
               cmd.stream.keys[1].mki == 2 && cmd.stream.keys[1].mki_len == 1 &&
               cmd.stream.roc == 4294967295u,
           "MKI and lifetime fields");
    tap_ok(parse("STREAM c1 g send 1 8 PCMA 8000 - - AEAD_AES_128_GCM inline:" K28 "|1000 0 0",
                 &why) == SR_OK && cmd.stream.keys[0].lifetime == 1000,
           "GCM suite, decimal lifetime");
    tap_ok(parse("STREAM c1 g send 1 8 PCMA 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^0 0 0",
                 &why) == SR_OK && cmd.stream.keys[0].lifetime == 1,
           "lifetime 2^0 is one packet, as decimal 1 (srtpkey.h)");
    tap_ok(parse("REKEY c1 a-1 AES_CM_128_HMAC_SHA1_80 inline:" K30B, &why) == SR_OK &&
               cmd.type == KA_CMD_REKEY && !cmd.rekey_has_position && cmd.stream.keys[0].master[0] == 1,
           "REKEY without position");
    tap_ok(parse("REKEY c1 a-1 AES_CM_128_HMAC_SHA1_80 inline:" K30B " 1 200", &why) == SR_OK &&
               cmd.rekey_has_position && cmd.stream.roc == 1 && cmd.stream.seq == 200,
           "REKEY with roc and seq");
    tap_ok(parse("STREAM c1 u send 1 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " - 0",
                 &why) == SR_OK && cmd.stream.roc_unknown && cmd.stream.roc == 0,
           "STREAM with roc - (unknown)");
    tap_ok(parse("STREAM c1 k send 1 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
                 &why) == SR_OK && !cmd.stream.roc_unknown,
           "STREAM with roc 0: known, as before");
    tap_ok(parse("REKEY c1 a-1 AES_CM_128_HMAC_SHA1_80 inline:" K30B " - 7", &why) == SR_OK &&
               cmd.rekey_has_position && cmd.stream.roc_unknown && cmd.stream.seq == 7,
           "REKEY with roc -");
    tap_ok(parse("CALL c1 a b sip:a@b sip:c@d 2026-12-02T18:00:00.5Z", &why) == SR_OK &&
               cmd.start_wall_us == 1796234400500000ull,
           "CALL with the dialog's start (%s)", why ? why : "");
    tap_ok(parse("CALL c1 a b sip:a@b sip:c@d", &why) == SR_OK && cmd.start_wall_us == 0,
           "CALL without a start: none given");
    tap_ok(parse("PAUSE c1 a-1", &why) == SR_OK && cmd.type == KA_CMD_PAUSE, "PAUSE");
    tap_ok(parse("RESUME c1 a-1", &why) == SR_OK && cmd.type == KA_CMD_RESUME, "RESUME");
    tap_ok(parse("END c1", &why) == SR_OK && cmd.type == KA_CMD_END, "END");
    tap_ok(parse("PING", &why) == SR_OK && cmd.type == KA_CMD_PING, "PING");
    tap_ok(parse("VERSION", &why) == SR_OK && cmd.type == KA_CMD_VERSION, "VERSION");
    tap_ok(parse("VERSION 2", &why) == SR_EPARSE && strcmp(why, "VERSION takes no argument") == 0,
           "VERSION with an argument: refused");
}

static void hostile_lines(void)
{
    static const char *bad[] = {
        "",
        "\r",
        " CALL c1 a b sip:a@b sip:c@d",
        "CALL c1 a b sip:a@b sip:c@d ",
        "CALL  c1 a b sip:a@b sip:c@d",
        "CALL c1\ta b sip:a@b sip:c@d",
        "CALL c1 a b sip:a@b",
        "CALL c1 a b sip:a@b sip:c@d extra",
        "CALL c1 a b sip:a@b sip:c@d 2026-12-02T18:00:00+01:00",
        "CALL c1 a b sip:a@b sip:c@d 2026-12-02T18:00:00Z x",
        "STREAM c1 u send 1 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd -- 0",
        "CALL c1 a b http://a sip:c@d",
        "CALL c\x01 a b sip:a@b sip:c@d",
        "CALL c\x80 a b sip:a@b sip:c@d",
        "call c1 a b sip:a@b sip:c@d",
        "STREAM c1 a sideways - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send 123456789 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send xyz 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 128 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 0 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 1.2.3.4 - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 1.2.3.4:0 - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 1.2.3.4:65536 - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 host.example:5 - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 [zz]:5 - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_192_HMAC_SHA1_80 inline:" K30 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K46 " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "x 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline: 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "| 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "||1:1 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^49 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|0 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:5 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|256:1 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:0 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:1|5 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 "|5|6 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " inline:" K30
        " 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 65536",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 4294967296 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 0 0",
        "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 key:" K30 " 0 0",
        "STREAM c1 a send - -1 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30 " 0 0",
        "REKEY c1 a AES_CM_128_HMAC_SHA1_80",
        "REKEY c1 a AES_CM_128_HMAC_SHA1_80 inline:" K30 " 1",
        "PAUSE c1",
        "RESUME c1 a b",
        "END",
        "END c1 c2",
        "PING x",
        "HELLO",
    };
    size_t wrong = 0;

    for (size_t i = 0; i < SR_ARRAY_LEN(bad); i++) {
        const char *why = NULL;
        enum sr_err err = parse(bad[i], &why);
        if (err == SR_OK || !why || !why[0]) {
            tap_diag("accepted or no reason: '%s'", bad[i]);
            wrong++;
        }
    }
    tap_ok(wrong == 0, "%zu hostile lines refused with a reason", SR_ARRAY_LEN(bad));
}

static void limits(void)
{
    char line[KA_LINE_MAX + 64];
    const char *why;
    size_t n;

    memset(line, 'x', sizeof(line));
    memcpy(line, "END ", 4);
    line[KA_CMD_LINE_MAX + 1] = '\0';
    tap_ok(parse(line, &why) == SR_ELIMIT, "line over KA_CMD_LINE_MAX: SR_ELIMIT");
    n = (size_t)snprintf(line, sizeof(line), "END ");
    memset(line + n, 'c', SIPEV_STR);
    line[n + SIPEV_STR] = '\0';
    tap_ok(parse(line, &why) == SR_ELIMIT, "over-long call-id: SR_ELIMIT");
    n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%sPAUSE", i ? " " : "");
    tap_ok(parse(line, &why) == SR_ELIMIT, "too many tokens: SR_ELIMIT");
    n = (size_t)snprintf(line, sizeof(line),
                         "STREAM c1 a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80");
    for (int i = 0; i < 5; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " inline:%s|%d:1", K30, i + 1);
    snprintf(line + n, sizeof(line) - n, " 0 0");
    tap_ok(parse(line, &why) == SR_ELIMIT, "five keys: SR_ELIMIT");
}

static void every_prefix(void)
{
    static const char full[] = "STREAM c1 a-1 send deadbeef 0 PCMU 8000 127.0.0.1:4000 "
                               "[::1]:5000 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^20|7:2 3 9";
    size_t ok = 0;
    const char *why;

    for (size_t i = 0; i <= sizeof(full) - 1; i++) {
        struct slice s = slice_of(guard_copy(full, i), i);
        if (ka_cmd_parse(s, &cmd, &why) == SR_OK)
            ok++;
    }
    /* A cut anywhere leaves a token short or missing, so only the whole line parses. */
    tap_ok(ok == 1, "of every prefix, only the full line parses (%zu did)", ok);
}

int main(void)
{
    valid_lines();
    hostile_lines();
    limits();
    every_prefix();
    ka_cmd_wipe(&cmd);
    return tap_done();
}
