/** @file err.c  Error strings. */
#include "err.h"

#include <errno.h>

const char *sr_strerror(enum sr_err err)
{
    switch (err) { /* no default: -Wswitch flags a code missing here */
    case SR_OK: return "success";
    case SR_ENOMEM: return "out of memory";
    case SR_EINVAL: return "invalid argument";
    case SR_EAGAIN: return "incomplete input";
    case SR_EPARSE: return "malformed input";
    case SR_ELIMIT: return "limit exceeded";
    case SR_EIO: return "I/O error";
    case SR_ECRYPTO: return "cryptographic failure";
    case SR_EAUTH: return "authentication failed";
    case SR_EREPLAY: return "replayed packet";
    case SR_ENOKEY: return "no key";
    case SR_ENOTFOUND: return "not found";
    case SR_ESTATE: return "invalid state";
    case SR_EUNSUPP: return "not supported";
    case SR_ECLOSED: return "connection closed";
    case SR_ENOSPC: return "no space left on device";
    }
    return "unknown error"; /* only for a value outside the enum */
}

enum sr_err sr_err_from_errno(int e)
{
    switch (e) {
    case ENOMEM: return SR_ENOMEM;
    case EAGAIN: return SR_EAGAIN;
    case EINVAL: return SR_EINVAL;
    case ENOENT: return SR_ENOTFOUND;
    case EPIPE:
    case ECONNRESET: return SR_ECLOSED;
    case ENOSPC:
    case EDQUOT: return SR_ENOSPC;
    default: return SR_EIO;
    }
}
