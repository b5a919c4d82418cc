/* ka_hold: an endpoint that keeps live calls, for the keyagent restart test.
 *
 *   ka_hold --ctl=SOCKET --calls=N --key=BASE64 --seconds=S --ready=FILE [--stop=FILE]
 *
 * Discloses N calls "hold-<i>@ep" (one send stream each, keyed by KEY)
 * through the client library, writes FILE, then calls ka_client_poll()
 * every 50 ms for S seconds (or until the stop file exists), as an
 * endpoint's timer would: when the
 * keyagent restarts, the library reconnects and re-discloses the calls.
 * Prints how many times it found the keyagent gone; exit 0 unless a call
 * could not be disclosed at the start. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ka.h"
#include "util.h"

int main(int argc, char **argv)
{
    const char *ctl = NULL, *key = NULL, *ready = NULL, *stop = NULL;
    uint64_t calls = 0, seconds = 0, end;
    uint8_t master[64];
    size_t master_len = 0;
    struct ka_client *c = NULL;
    unsigned gone = 0;
    bool was_up = true;
    FILE *f;

    for (int i = 1; i < argc; i++) {
        const char *v = strchr(argv[i], '=');
        v = v ? v + 1 : "";
        if (strncmp(argv[i], "--ctl=", 6) == 0)
            ctl = v;
        else if (strncmp(argv[i], "--key=", 6) == 0)
            key = v;
        else if (strncmp(argv[i], "--ready=", 8) == 0)
            ready = v;
        else if (strncmp(argv[i], "--stop=", 7) == 0)
            stop = v;
        else if (strncmp(argv[i], "--calls=", 8) == 0)
            slice_to_u64(slice_cstr(v), 100, &calls);
        else if (strncmp(argv[i], "--seconds=", 10) == 0)
            slice_to_u64(slice_cstr(v), 600, &seconds);
    }
    if (!ctl || !key || !ready || calls == 0 || seconds == 0 ||
        !sr_b64_decode(slice_cstr(key), master, sizeof(master), &master_len)) {
        fprintf(stderr, "usage: ka_hold --ctl=SOCKET --calls=N --key=BASE64 --seconds=S --ready=FILE\n");
        return 2;
    }
    if (ka_client_connect(&c, ctl) != SR_OK) {
        fprintf(stderr, "ka_hold: cannot connect to %s\n", ctl);
        return 1;
    }
    for (uint64_t i = 0; i < calls; i++) {
        char cid[64];
        struct ka_key k = { master, master_len, 0, 0, 0 };
        struct ka_call_info ci = { cid, "lt", "rt", "sip:agent@cc.example", "sip:cust@pstn.example" };
        struct ka_stream_info st = { 0 };
        enum sr_err err;

        snprintf(cid, sizeof(cid), "hold-%llu@ep", (unsigned long long)i);
        st.call_id = cid;
        st.stream_id = "tx";
        st.direction = KA_DIR_SEND;
        st.codec = "PCMU";
        st.clock_rate = 8000;
        st.suite = "AES_CM_128_HMAC_SHA1_80";
        st.keys = &k;
        st.n_keys = 1;
        err = ka_call_begin_streams(c, &ci, &st, 1, NULL);
        if (err) {
            fprintf(stderr, "ka_hold: %s: %s %s\n", cid, sr_strerror(err), ka_client_error(c));
            return 1;
        }
    }
    sr_wipe(master, sizeof(master));
    f = fopen(ready, "w");
    if (f)
        fclose(f);
    end = sr_now_us() + seconds * 1000000;
    while (sr_now_us() < end && !(stop && access(stop, F_OK) == 0)) {
        bool up = ka_client_poll(c) == SR_OK;
        if (was_up && !up)
            gone++;
        was_up = up;
        poll(NULL, 0, 50);
    }
    printf("keyagent gone %u times; %zu calls kept; connected %s\n", gone, ka_client_kept_calls(c),
           was_up ? "yes" : "no");
    ka_client_close(c);
    return 0;
}
