/** @file fuzz_ogg_read.c  Arbitrary bytes as the decrypted Ogg of an archive.
 *
 * fuzz_archive_read cannot get mutated bytes past the AEAD: every changed
 * chunk fails authentication.  This target enters the reader below the
 * chunk layer (stor_ogg_read_mem), so the page checks, chain links, the
 * RTP-in-Ogg header packets and packet records all see hostile input.
 * Seeds: the plaintext Ogg of archives with one and two chain links.
 */
#include <stddef.h>
#include <stdint.h>

#include "stor_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t packets;

    (void)stor_ogg_read_mem(data, size, &packets);
    return 0;
}
