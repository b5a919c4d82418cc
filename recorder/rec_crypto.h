/** @file rec_crypto.h  libsrtp2 crypto types of our own, installed over libsrtp's OpenSSL
 *  ones: HMAC-SHA1 (hmac.c) and AES-ICM (icm.c) without per-packet context set-up. */
#ifndef REC_CRYPTO_H
#define REC_CRYPTO_H

#include <srtp2/srtp.h>

/** Replaces libsrtp's HMAC-SHA1 auth type (SRTP_HMAC_SHA1) with ours, after
 *  libsrtp's own self-test of it (RFC 2202 cases) passed.  Call after
 *  srtp_init(), before any session is created. */
srtp_err_status_t rec_hmac_install(void);

/** Replaces libsrtp's AES-ICM cipher types (128, 192, 256-bit keys) with
 *  ours, each after libsrtp's own known-answer test of it passed.  Same
 *  timing as rec_hmac_install. */
srtp_err_status_t rec_icm_install(void);

#endif
