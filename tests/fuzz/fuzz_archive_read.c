/** @file fuzz_archive_read.c  Arbitrary bytes as an archive file: open, read every
 *  packet, verify, export WAV and Ogg.  Must never crash, leak or hang.
 *
 * The recipient key pair below is a fixed test key (generated once for this
 * corpus; it protects nothing).  The seed corpus holds archives sealed to it,
 * so mutations reach the frame, chunk and trailer checks, not only the
 * header and CMS parsers.  Files go through memfds and /proc/self/fd paths,
 * so the public API is what gets fuzzed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stor.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBsDCCAVegAwIBAgIUAvzPGxMs0V70FrjBDjT+LgvA000wCgYIKoZIzj0EAwIw\n"
    "LTErMCkGA1UEAwwic3J0cHJlYyBmdXp6IHJlY2lwaWVudCAodGVzdCBvbmx5KTAg\n"
    "Fw0yNjExMjUxMDU3MDlaGA8yMTI2MTEwMTEwNTcwOVowLTErMCkGA1UEAwwic3J0\n"
    "cHJlYyBmdXp6IHJlY2lwaWVudCAodGVzdCBvbmx5KTBZMBMGByqGSM49AgEGCCqG\n"
    "SM49AwEHA0IABG1bwamV5L86cpxKo4Le4U9QtnTNXYptcVsEGCoafcAoBQrW7xhI\n"
    "+xWvCeY+e8mQ//Z9r2efYdO+O/HOdpAuLUSjUzBRMB0GA1UdDgQWBBS3Q8JVL599\n"
    "QVFqBKqDOSxMMjBNuzAfBgNVHSMEGDAWgBS3Q8JVL599QVFqBKqDOSxMMjBNuzAP\n"
    "BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIDCscDrVBFsLm1k3ak6V\n"
    "IqcdSZbq5w2hSrUQV0o5RfPDAiBjo9m8wPYtW64qc1T1ZoMCa5EAsE04/mNvKEPb\n"
    "99iCbQ==\n"
    "-----END CERTIFICATE-----\n";

static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDpyWVnvtI+Id2mhv\n"
    "8xnbf+mb5x9SH3AbEjLCuvyap8ahRANCAARtW8GpleS/OnKcSqOC3uFPULZ0zV2K\n"
    "bXFbBBgqGn3AKAUK1u8YSPsVrwnmPnvJkP/2fa9nn2HTvjvxznaQLi1E\n"
    "-----END PRIVATE KEY-----\n";

static int memfd_with(const char *name, const void *p, size_t n, char path[64])
{
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    if (sr_write_all(fd, p, n) != SR_OK) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

static bool discard(const void *data, size_t len, void *arg)
{
    size_t *total = arg;
    (void)data;
    *total += len;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char cp[64], kp[64], ap[64];
    int cfd = memfd_with("cert", cert_pem, sizeof(cert_pem) - 1, cp);
    int kfd = memfd_with("key", key_pem, sizeof(key_pem) - 1, kp);
    int afd = memfd_with("archive", data, size, ap);
    struct stor_reader *r;
    const char *why = NULL;
    struct stor_pkt p;
    unsigned idx;
    size_t total = 0;

    if (cfd >= 0 && kfd >= 0 && afd >= 0 &&
        stor_reader_open(&r, ap, cp, kp, &why) == SR_OK) {
        while (stor_reader_next(r, &idx, &p, &why) == SR_OK) {
            const struct stor_stream_info *si = stor_reader_stream(r, idx);
            if (!si || (p.payload_len && !p.payload))
                __builtin_trap();
            total += p.payload_len;
        }
        (void)stor_reader_call(r);
        (void)stor_reader_counts(r);
        stor_reader_close(r);
        (void)stor_export_wav(ap, cp, kp, discard, &total, &why);
        (void)stor_export_ogg(ap, cp, kp, discard, &total, &why);
    }
    if (cfd >= 0)
        close(cfd);
    if (kfd >= 0)
        close(kfd);
    if (afd >= 0)
        close(afd);
    return 0;
}
