/* Callstore: command semantics, limits, partial/full fills, forgetting ended calls. */
#include <string.h>

#include "ka_priv.h"
#include "tap.h"

#define K30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define K30B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"

static enum sr_err run(struct ka_callstore *cs, const char *line, const char **why)
{
    struct ka_cmd cmd;
    enum sr_err err = ka_cmd_parse(slice_cstr(line), &cmd, why);

    if (!err)
        err = ka_callstore_apply(cs, &cmd, 1700000000000000ull, why);
    ka_cmd_wipe(&cmd);
    return err;
}

static size_t fill_count(struct ka_callstore *cs, bool full, size_t *keys)
{
    struct sipev_keybody kb;
    size_t n;

    sipev_keybody_init(&kb);
    ka_callstore_fill(cs, &kb, full);
    n = kb.n_dialogs;
    *keys = 0;
    for (size_t i = 0; i < kb.n_dialogs; i++)
        for (size_t s = 0; s < kb.dialogs[i].n_streams; s++)
            *keys += kb.dialogs[i].streams[s].n_keys;
    sipev_keybody_fini(&kb);
    return n;
}

int main(void)
{
    struct ka_callstore *cs = NULL;
    const struct sipev_dialog *d;
    const char *why = NULL;
    size_t keys;

    tap_ok(ka_callstore_create(&cs, 2) == SR_OK, "create with 2 calls max");
    tap_ok(ka_callstore_create(&(struct ka_callstore *){ NULL }, 0) == SR_EINVAL, "0 calls refused");
    tap_ok(run(cs, "STREAM nope a send - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " 0 0", &why) == SR_ENOTFOUND, "STREAM before CALL: not found");
    tap_ok(run(cs, "CALL c1 l r sip:a@x sip:b@y", &why) == SR_OK, "CALL c1");
    tap_ok(ka_callstore_changed(cs), "store changed");
    tap_ok(run(cs, "CALL c1 l r sip:a@x sip:b@y", &why) == SR_ESTATE, "duplicate CALL refused");
    tap_ok(run(cs, "CALL c2 l r sip:a@x sip:b@y", &why) == SR_OK, "CALL c2");
    tap_ok(run(cs, "CALL c3 l r sip:a@x sip:b@y", &why) == SR_ELIMIT, "third call over the limit");
    tap_ok(run(cs, "STREAM c1 a send 1234 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " 0 100", &why) == SR_OK, "STREAM c1/a");
    tap_ok(run(cs, "STREAM c1 a recv 1234 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30
                   " 0 100", &why) == SR_ESTATE, "duplicate stream refused");
    tap_ok(run(cs, "STREAM c1 b recv - 0 PCMU 8000 - - AES_CM_128_HMAC_SHA1_80 inline:" K30B
                   " 0 7", &why) == SR_OK, "STREAM c1/b");
    tap_ok(fill_count(cs, true, &keys) == 2 && keys == 2, "full fill: 2 calls, 2 keys");
    ka_callstore_settle(cs);
    tap_ok(!ka_callstore_changed(cs) && ka_callstore_count(cs) == 2, "settled, both kept");
    tap_ok(fill_count(cs, false, &keys) == 0, "partial fill after settle: nothing");

    tap_ok(run(cs, "REKEY c1 a AES_CM_128_HMAC_SHA1_80 inline:" K30B " 0 500", &why) == SR_OK,
           "REKEY c1/a");
    d = ka_callstore_find(cs, "c1");
    tap_ok(d && d->streams[0].keys[0].master[0] == 1 && d->streams[0].seq == 500,
           "REKEY replaced the key and position");
    tap_ok(run(cs, "REKEY c1 zz AES_CM_128_HMAC_SHA1_80 inline:" K30B, &why) == SR_ENOTFOUND,
           "REKEY of unknown stream");
    tap_ok(fill_count(cs, false, &keys) == 1, "partial fill: only the changed call");
    ka_callstore_settle(cs);

    tap_ok(run(cs, "PAUSE c1 b", &why) == SR_OK && d->streams[1].state == SIPEV_STREAM_PAUSED,
           "PAUSE");
    tap_ok(run(cs, "PAUSE c1 b", &why) == SR_OK, "PAUSE again is idempotent");
    tap_ok(run(cs, "RESUME c1 b", &why) == SR_OK && d->streams[1].state == SIPEV_STREAM_ACTIVE,
           "RESUME");
    ka_callstore_settle(cs);

    tap_ok(run(cs, "END c1", &why) == SR_OK, "END c1");
    tap_ok(run(cs, "END c1", &why) == SR_ESTATE, "END twice refused");
    tap_ok(run(cs, "PAUSE c1 a", &why) == SR_ESTATE, "commands on an ended call refused");
    d = ka_callstore_find(cs, "c1");
    tap_ok(d && d->state == SIPEV_DIALOG_ENDED && d->streams[0].state == SIPEV_STREAM_ENDED,
           "ended call and streams are marked ended");
    tap_ok(fill_count(cs, false, &keys) == 1 && keys == 0, "ended call reported without keys");
    ka_callstore_settle(cs);
    tap_ok(ka_callstore_count(cs) == 1 && !ka_callstore_find(cs, "c1"), "ended call forgotten");
    tap_ok(run(cs, "CALL c3 l r sip:a@x sip:b@y", &why) == SR_OK, "its slot is free again");

    ka_callstore_destroy(cs);
    ka_callstore_destroy(NULL);
    return tap_done();
}
