/** @file tlscheck.c  Pre-flight of the HTTPS credentials, so a refusal names its part.
 *
 * MHD loads the PEM itself and, when GnuTLS refuses it, only fails to start
 * ("cannot listen").  The same GnuTLS calls run here first: the certificate
 * chain, the key, whether they are a pair, the client CA, each with
 * GnuTLS's reason (gnutls_strerror).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tlscheck.h"

static bool fail(char *why, size_t whylen, const char *part, const char *file, int rc)
{
    snprintf(why, whylen, "%s %s: %s", part, file, gnutls_strerror(rc));
    return false;
}

static int certs_parse(const char *pem, size_t len, gnutls_x509_crt_t **list, unsigned *n)
{
    gnutls_datum_t d = { (unsigned char *)(uintptr_t)pem, (unsigned)len };

    return gnutls_x509_crt_list_import2(list, n, &d, GNUTLS_X509_FMT_PEM,
                                        GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
}

static void certs_free(gnutls_x509_crt_t *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
}

bool api_tls_check(const struct api_tls_files *f, char *why, size_t whylen)
{
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t *list = NULL;
    gnutls_datum_t kd = { (unsigned char *)(uintptr_t)f->key_pem, (unsigned)f->key_len };
    gnutls_datum_t cd = { (unsigned char *)(uintptr_t)f->cert_pem, (unsigned)f->cert_len };
    unsigned n = 0;
    bool ok = false;
    int rc;

    if ((rc = certs_parse(f->cert_pem, f->cert_len, &list, &n)) < 0) {
        fail(why, whylen, "tls-cert", f->cert_file, rc);
        goto out;
    }
    certs_free(list, n);
    list = NULL;
    if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
        (rc = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        fail(why, whylen, "tls-key", f->key_file, rc);
        goto out;
    }
    /* The pair: GNUTLS_E_CERTIFICATE_KEY_MISMATCH when they do not belong. */
    if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
        (rc = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL,
                                                    0)) < 0) {
        fail(why, whylen, "tls-key does not match tls-cert", f->key_file, rc);
        goto out;
    }
    if (f->ca_pem) {
        if ((rc = certs_parse(f->ca_pem, f->ca_len, &list, &n)) < 0) {
            fail(why, whylen, "client-ca", f->ca_file, rc);
            goto out;
        }
        certs_free(list, n);
        list = NULL;
    }
    ok = true;
out:
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (cred)
        gnutls_certificate_free_credentials(cred);
    return ok;
}
