/** @file rec_hmac.h  HMAC-SHA1 for libsrtp2 without an allocation per packet (see hmac.c). */
#ifndef REC_HMAC_H
#define REC_HMAC_H

#include <srtp2/srtp.h>

/** Replaces libsrtp's HMAC-SHA1 auth type (SRTP_HMAC_SHA1) with ours, after
 *  libsrtp's own self-test of it (RFC 2202 cases) passed.  Call after
 *  srtp_init(), before any session is created. */
srtp_err_status_t rec_hmac_install(void);

#endif
