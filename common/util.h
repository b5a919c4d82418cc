/** @file util.h  Time, encodings and secret handling shared by every component. */
#ifndef SR_UTIL_H
#define SR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "slice.h"

#define SR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/** Microseconds from CLOCK_MONOTONIC: all internal time and timers. */
uint64_t sr_now_us(void);
/** Microseconds since the Unix epoch (CLOCK_REALTIME): only for records. */
uint64_t sr_wall_us(void);
/** Format a wall time as RFC 3339 UTC ("2026-11-25T10:00:00.123Z"); out >= 32. */
void sr_wall_fmt(uint64_t wall_us, char *out, size_t outlen);

/** sr_wall_parse flags. */
enum {
    SR_WALL_UTC_ONLY = 1,      /**< only "Z" (or "z"): no offset */
    SR_WALL_ZONE_OPTIONAL = 2, /**< no zone at all is read as UTC (xs:dateTime) */
};
/** RFC 3339 5.6 date-time ("T"/"t", "Z"/"z", +hh:mm / -hh:mm up to 23:59)
 *  into microseconds since the Unix epoch: the one time parser of every
 *  text format srtprec reads (API queries, key bodies, SIPREC metadata).
 *  Fractions of 1 to 9 digits (past microseconds dropped); seconds 0..59;
 *  the instant must not be before 1970.  false on anything else. */
bool sr_wall_parse(struct slice s, unsigned flags, uint64_t *wall_us);

/** Which end of a bare date's day sr_time_parse gives. */
enum sr_time_bound { SR_TIME_FIRST, SR_TIME_LAST };
/** A wall time as Unix epoch microseconds from one of (the grammar every
 *  API time parameter and CLI TIME option takes):
 *  - an RFC 3339 date-time (sr_wall_parse with no flags);
 *  - an RFC 3339 full-date, "2026-12-02": the whole UTC day, so its first
 *    microsecond for SR_TIME_FIRST (a range's start) and its last for
 *    SR_TIME_LAST (a range's inclusive end);
 *  - epoch seconds, digits only ("1764669600"), up to 9999-12-31; never
 *    microseconds, which would be past year 9999 and are refused rather
 *    than misread.
 *  false for anything else, trailing bytes included. */
bool sr_time_parse(struct slice s, enum sr_time_bound bound, uint64_t *wall_us);

/** Standard base64 with padding.  Writes a NUL; returns the length or 0 if out is too small. */
size_t sr_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
/** Strict base64 decode (padding required, no whitespace).  false on any defect or overflow. */
bool sr_b64_decode(struct slice in, uint8_t *out, size_t outcap, size_t *outlen);

/** Lower-case hex with a NUL; out must hold 2 * len + 1. */
void sr_hex_encode(const uint8_t *in, size_t len, char *out);
/** Exactly 2 * outlen hex digits; false otherwise. */
bool sr_hex_decode(struct slice in, uint8_t *out, size_t outlen);

/** Fill with cryptographically secure random bytes (OpenSSL RAND_bytes). */
enum sr_err sr_random(void *out, size_t len);

/** Wipe secrets so the compiler cannot elide it (OPENSSL_cleanse). */
void sr_wipe(void *p, size_t len);
/** Constant-time comparison (CRYPTO_memcmp); true when equal. */
bool sr_ct_equal(const void *a, const void *b, size_t len);

/** A loggable identifier for key material: first 8 bytes of SHA-256, in hex
 *  (17 bytes with NUL).  Safe to log; reveals nothing usable about the key. */
void sr_key_id(const uint8_t *key, size_t len, char out[17]);

/** Write all of buf to fd, retrying on EINTR and short writes. */
enum sr_err sr_write_all(int fd, const void *buf, size_t len);

#endif
