/* ka-endpoint.c: how an endpoint discloses its SRTP keys to srtprec-keyagent.
 *
 * An endpoint (softphone, PBX, SBC) that has negotiated SDES-SRTP for a call
 * tells the keyagent on the same host about the call and the keys of its two
 * streams; the keyagent discloses them to the recorders its allow list
 * names, over mutual TLS.  This program is the smallest complete endpoint:
 * one call, one stream each way, held open for a while, then ended.
 *
 * Build against an installed libka (package libka-dev):
 *
 *     cc -std=c11 -o ka-endpoint ka-endpoint.c $(pkg-config --cflags --libs srtprec-ka)
 *
 * Run (the keys on standard input, never on the command line, where every
 * user of the host could read them in /proc):
 *
 *     printf '%s\n%s\n' "$TX_KEY" "$RX_KEY" |
 *         ka-endpoint /run/srtprec/keyagent.sock call-1@pbx.example \
 *             sip:agent1@cc.example sip:customer@pstn.example \
 *             192.0.2.10:40000 198.51.100.7:50000 5
 *
 * TX_KEY and RX_KEY are the RFC 4568 inline key-params of the two directions
 * (base64 of the 30-byte master key and salt of AES_CM_128_HMAC_SHA1_80):
 * the one this endpoint sends with (its own a=crypto) and the one the peer
 * sends with (the answer's).  The program exits 0 once the call is ended.
 *
 * What it shows, in the order an endpoint does it:
 *   1. ka_client_connect(): one UNIX-socket connection, kept for the life of
 *      the endpoint; the library learns the keyagent's protocol revision.
 *   2. ka_call_begin_streams(): the call and its streams in one write, so
 *      recorders get them in one NOTIFY.  The SSRC is left unknown (the
 *      recorder binds the key by authenticating the first packet).
 *   3. ka_client_poll() on the endpoint's timer: a keyagent that restarted
 *      (it keeps calls only in memory) gets every live call again.
 *   4. ka_call_end(): subscribers see the call end; keys are wiped.
 *
 * See docs/keyagent.md ("Restarts") and docs/protocol.md ("Control socket"). */
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ka.h>

/* Standard base64 (RFC 4648) without padding errors tolerated: the inline
 * key of AES_CM_128 suites is 40 characters for 30 bytes. */
static size_t b64_decode(const char *in, uint8_t *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;

    for (; *in && *in != '='; in++) {
        const char *p = strchr(alphabet, *in);
        if (!p)
            return 0;
        acc = acc << 6 | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            if (n == cap)
                return 0;
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

/* memset before a buffer dies may be optimised away; this may not. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

/* One key per line on standard input. */
static int read_key(uint8_t master[30])
{
    char line[128];
    size_t len;

    if (!fgets(line, sizeof(line), stdin))
        return -1;
    len = strcspn(line, "\r\n");
    line[len] = '\0';
    len = b64_decode(line, master, 30);
    wipe(line, sizeof(line)); /* a key is not left in a stack buffer */
    return len == 30 ? 0 : -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    uint8_t tx_master[30], rx_master[30];
    struct ka_key tx_key = { tx_master, sizeof(tx_master), 0, 0, 0 };
    struct ka_key rx_key = { rx_master, sizeof(rx_master), 0, 0, 0 };
    struct ka_call_info call;
    struct ka_stream_info streams[2];
    struct ka_client *c = NULL;
    size_t n_ok = 0;
    long seconds;
    enum sr_err err;
    int status = 1;

    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines as they happen, also into a pipe */
    if (argc != 8) {
        fprintf(stderr, "usage: ka-endpoint SOCKET CALL-ID LOCAL-AOR REMOTE-AOR LOCAL-ADDR "
                        "REMOTE-ADDR SECONDS < keys (TX then RX, base64, one per line)\n");
        return 2;
    }
    if (read_key(tx_master) != 0 || read_key(rx_master) != 0) {
        fprintf(stderr, "ka-endpoint: standard input must hold two base64 30-byte keys\n");
        return 2;
    }

    /* 1. Connect.  The library asks the keyagent's revision (VERSION) and
     *    writes only lines that revision takes. */
    err = ka_client_connect(&c, argv[1]);
    if (err) {
        fprintf(stderr, "ka-endpoint: %s: %s\n", argv[1], sr_strerror(err));
        goto out;
    }
    printf("connected: control protocol revision %u\n", ka_client_protocol(c));

    /* 2. The dialog and its two streams.  Tags are "-" here because this
     *    example has no SIP dialog; a real endpoint gives its From/To tags,
     *    which recorders use to match the call's signalling. */
    call = (struct ka_call_info){ argv[2], "-", "-", argv[3], argv[4] };
    streams[0] = (struct ka_stream_info){
          .call_id = argv[2], .stream_id = "audio-tx", .direction = KA_DIR_SEND,
          .payload_type = 0, .codec = "PCMU", .clock_rate = 8000,
          .src = argv[5], .dst = argv[6],               /* what this endpoint sends */
          .suite = "AES_CM_128_HMAC_SHA1_80", .keys = &tx_key, .n_keys = 1,
          .roc = 0, .seq = 0 };                          /* disclosed before the first packet */
    streams[1] = (struct ka_stream_info){
          .call_id = argv[2], .stream_id = "audio-rx", .direction = KA_DIR_RECV,
          .payload_type = 0, .codec = "PCMU", .clock_rate = 8000,
          .src = argv[6], .dst = argv[5],               /* what the peer sends */
          .suite = "AES_CM_128_HMAC_SHA1_80", .keys = &rx_key, .n_keys = 1,
          /* The peer's packets were not seen yet: an endpoint that joins a
           * stream late says KA_ROC_UNKNOWN and the recorder searches. */
          .roc = 0, .seq = 0 };

    err = ka_call_begin_streams(c, &call, streams, 2, &n_ok);
    /* The library keeps its own copy of the keys (for re-disclosure after a
     * keyagent restart) and wipes it when the call ends: ours can go now. */
    wipe(tx_master, sizeof(tx_master));
    wipe(rx_master, sizeof(rx_master));
    if (err) {
        /* SR_ESTATE: the keyagent refused a line, and says why. */
        fprintf(stderr, "ka-endpoint: disclosure: %s: %s (%zu lines accepted)\n",
                sr_strerror(err), ka_client_error(c), n_ok);
        goto out;
    }
    printf("disclosed %s: %zu lines\n", argv[2], n_ok);

    /* 3. The call runs.  An endpoint's timer polls the client: if the
     *    keyagent restarted, this reconnects and discloses the call again. */
    seconds = strtol(argv[7], NULL, 10);
    for (long t = 0; t < seconds * 10; t++) {
        if (ka_client_poll(c) != SR_OK)
            fprintf(stderr, "ka-endpoint: keyagent unreachable, will retry\n");
        sleep_ms(100);
    }

    /* 4. BYE: the call ends.  Subscribers get one NOTIFY with the call ended. */
    err = ka_call_end(c, argv[2]);
    if (err) {
        fprintf(stderr, "ka-endpoint: end: %s: %s\n", sr_strerror(err), ka_client_error(c));
        goto out;
    }
    printf("ended %s\n", argv[2]);
    status = 0;
out:
    wipe(tx_master, sizeof(tx_master));
    wipe(rx_master, sizeof(rx_master));
    ka_client_close(c); /* NULL-safe; wipes whatever the library kept */
    return status;
}
