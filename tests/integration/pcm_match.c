/** @file pcm_match.c  Test helper: does channel C of a 16-bit PCM WAV hold
 *  exactly the samples of a raw s16le file, contiguous, with only silence
 *  (zeros) around them?  Exit 0 if so; otherwise print why and exit 1.
 *
 *   pcm_match export.wav CHANNEL expected.s16le [lead.s16le]
 *
 * With lead: the samples just before the match may be a tail of lead (a
 * sender's preamble whose first packets a peer may not have forwarded);
 * only silence before that. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int16_t s16(const unsigned char *p)
{
    return (int16_t)(uint16_t)(p[0] | p[1] << 8);
}

int main(int argc, char **argv)
{
    size_t wlen = 0, elen = 0, off = 12, nsamp = 0, nexp, ch;
    unsigned char *wav = NULL, *exp = NULL, *lead = NULL, *data = NULL;
    size_t llen = 0, nlead = 0;
    unsigned channels = 0, bits = 0;
    int16_t *chan = NULL;
    int rc = 1;

    if (argc != 4 && argc != 5)
        return fprintf(stderr, "usage: pcm_match WAV CHANNEL EXPECTED.s16le [LEAD.s16le]\n"), 2;
    ch = (size_t)strtoul(argv[2], NULL, 10);
    wav = slurp(argv[1], &wlen);
    exp = slurp(argv[3], &elen);
    if (argc == 5 && !(lead = slurp(argv[4], &llen))) {
        fprintf(stderr, "pcm_match: cannot read %s\n", argv[4]);
        goto out;
    }
    nlead = llen / 2;
    if (!wav || !exp || wlen < 12 || memcmp(wav, "RIFF", 4) || memcmp(wav + 8, "WAVE", 4)) {
        fprintf(stderr, "pcm_match: cannot read a RIFF/WAVE file and the expected file\n");
        goto out;
    }
    while (off + 8 <= wlen) {
        uint32_t clen = le32(wav + off + 4);
        if (!memcmp(wav + off, "fmt ", 4) && clen >= 16 && off + 8 + 16 <= wlen) {
            channels = wav[off + 10] | wav[off + 11] << 8;
            bits = wav[off + 22] | wav[off + 23] << 8;
        } else if (!memcmp(wav + off, "data", 4)) {
            data = wav + off + 8;
            if (clen > wlen - off - 8) {
                fprintf(stderr, "pcm_match: data chunk longer than the file\n");
                goto out;
            }
            nsamp = clen / 2 / (channels ? channels : 1);
            break;
        }
        off += 8 + clen + (clen & 1);
    }
    if (!data || bits != 16 || ch >= channels) {
        fprintf(stderr, "pcm_match: need 16-bit PCM with channel %zu (have %u ch, %u bit)\n", ch,
                channels, bits);
        goto out;
    }
    chan = malloc((nsamp + 1) * sizeof(*chan));
    if (!chan)
        goto out;
    for (size_t i = 0; i < nsamp; i++)
        chan[i] = s16(data + 2 * (i * channels + ch));
    nexp = elen / 2;
    if (nexp == 0 || nexp > nsamp) {
        fprintf(stderr, "pcm_match: expected %zu samples, channel has %zu\n", nexp, nsamp);
        goto out;
    }
    for (size_t at = 0; at + nexp <= nsamp; at++) {
        size_t i = 0;
        while (i < nexp && chan[at + i] == s16(exp + 2 * i))
            i++;
        size_t from = at, k = 0;
        if (i < nexp)
            continue;
        while (k < nlead && from > 0 && chan[from - 1] == s16(lead + 2 * (nlead - 1 - k))) {
            from--;
            k++;
        }
        for (size_t j = 0; j < nsamp; j++)
            if ((j < from || j >= at + nexp) && chan[j] != 0) {
                fprintf(stderr, "pcm_match: non-silent sample %d at %zu outside the match [%zu, %zu)\n",
                        chan[j], j, at, at + nexp);
                goto out;
            }
        printf("pcm_match: all %zu samples match at offset %zu of %zu", nexp, at, nsamp);
        if (lead)
            printf(" (after %zu of the %zu lead samples)", k, nlead);
        printf("\n");
        rc = 0;
        goto out;
    }
    fprintf(stderr, "pcm_match: the %zu expected samples do not appear in channel %zu (%zu samples)\n",
            nexp, ch, nsamp);
out:
    free(chan);
    free(wav);
    free(exp);
    free(lead);
    return rc;
}
