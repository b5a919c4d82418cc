/** @file sr_err.h  Project-wide error codes: the part endpoint integrators see.
 *
 * Installed beside ka.h (include/srtprec/) for the shared libka, which
 * exports sr_strerror() and nothing else of common/: this header declares
 * only what that library gives an endpoint.  Internal code includes err.h,
 * which adds the rest.  Not named err.h when installed: the pkg-config
 * file puts include/srtprec/ on the include path, where an err.h would hide
 * the C library's <err.h> (err(3)) from the endpoint's own code.
 *
 * Values reach logs, metrics and API bodies: append only, never renumber.
 */
#ifndef SR_SR_ERR_H
#define SR_SR_ERR_H

enum sr_err {
    SR_OK = 0,
    SR_ENOMEM,    /**< allocation failed */
    SR_EINVAL,    /**< caller broke the contract */
    SR_EAGAIN,    /**< need more input; call again */
    SR_EPARSE,    /**< malformed input from network or disk */
    SR_ELIMIT,    /**< over a configured bound */
    SR_EIO,       /**< system call failed; errno was logged where it happened */
    SR_ECRYPTO,   /**< OpenSSL or libsrtp failure not covered below */
    SR_EAUTH,     /**< SRTP tag, certificate or token refused */
    SR_EREPLAY,   /**< SRTP replay window refused the packet */
    SR_ENOKEY,    /**< no key (yet) for the stream */
    SR_ENOTFOUND, /**< no such object */
    SR_ESTATE,    /**< not valid in the object's current state */
    SR_EUNSUPP,   /**< well-formed but not supported (version, suite, codec) */
    SR_ECLOSED,   /**< peer closed the connection or stream ended */
    SR_ENOSPC,    /**< no space left on the device (or quota): retry when space returns */
};

/** A static, human-readable string for err; never NULL. */
const char *sr_strerror(enum sr_err err);

#endif
