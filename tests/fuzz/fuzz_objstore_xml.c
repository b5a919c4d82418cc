/** @file fuzz_objstore_xml.c  S3 XML answers (objstore_xml.h) on arbitrary
 *  bytes: never crashes; on success every field is terminated within its
 *  size, and a failure leaves the result zeroed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "objstore_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct objstore_xml x;
    enum sr_err err = objstore_xml_parse((const char *)data, size, &x);

    if (err != SR_OK) {
        static const struct objstore_xml zero;
        if (memcmp(&x, &zero, sizeof(x)) != 0)
            __builtin_trap();
        return 0;
    }
    if (!memchr(x.root, 0, sizeof(x.root)) || !x.root[0] || !memchr(x.code, 0, sizeof(x.code)) ||
        !memchr(x.message, 0, sizeof(x.message)) || !memchr(x.upload_id, 0, sizeof(x.upload_id)) ||
        !memchr(x.etag, 0, sizeof(x.etag)) || !memchr(x.mode, 0, sizeof(x.mode)) ||
        !memchr(x.lock_enabled, 0, sizeof(x.lock_enabled)) ||
        !memchr(x.request_id, 0, sizeof(x.request_id)))
        __builtin_trap();
    return 0;
}
