/** @file tlscheck.h  The HTTPS certificate, key and client CA checked before MHD starts. */
#ifndef API_TLSCHECK_H
#define API_TLSCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct api_tls_files {
    const char *cert_file, *key_file, *ca_file; /**< for messages */
    const char *cert_pem, *key_pem, *ca_pem;    /**< contents; ca_pem NULL: no client CA */
    size_t cert_len, key_len, ca_len;
};

/** true when GnuTLS accepts all of them; else why names the part (tls-cert,
 *  tls-key, the pair, client-ca), its file and GnuTLS's reason. */
bool api_tls_check(const struct api_tls_files *f, char *why, size_t whylen);

#endif
