/** @file crl.c  Revocation of API client certificates (client-crl).
 *
 * libmicrohttpd gives GnuTLS the client CA but has no CRL option, so the
 * daemon checks revocation itself after GnuTLS verified the chain.  Each CRL
 * is verified against client-ca when loaded; one signed by nobody there is a
 * load error.  An expired CRL follows the keyagent's policy (docs/api.md,
 * "Client certificates"): still applied, its age alone refuses nobody, a
 * warning at each load.  A certificate whose issuer has no CRL in the file is
 * refused, like OpenSSL's X509_V_FLAG_CRL_CHECK on the SIP side.
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server_priv.h"

struct api_crl {
    gnutls_x509_crl_t *crls;
    unsigned n_crls;
};

static void crls_free(gnutls_x509_crl_t *crls, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crl_deinit(crls[i]);
    gnutls_free(crls);
}

static void cas_free(gnutls_x509_crt_t *cas, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(cas[i]);
    gnutls_free(cas);
}

/* Verify each CRL's signature against the CAs; SUPERSEDED (past nextUpdate)
 * is the one status tolerated. */
static enum sr_err crls_verify(gnutls_x509_crl_t *crls, unsigned n, gnutls_x509_crt_t *cas,
                               unsigned n_cas, const char *crl_path, char *why, size_t whylen)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned st = 0;
        int rc = gnutls_x509_crl_verify(crls[i], cas, n_cas, 0, &st);

        /* GnuTLS marks a superseded CRL INVALID too: that pair alone is age */
        unsigned age = GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED;
        bool aged = (st & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED) && (st & ~age) == 0;

        if (rc < 0 || (st != 0 && !aged)) {
            snprintf(why, whylen, "%s: CRL %u does not verify against client-ca (%s, status 0x%x)",
                     crl_path, i + 1, rc < 0 ? gnutls_strerror(rc) : "signature or issuer", st);
            return SR_ECRYPTO;
        }
        if (aged)
            log_warn("client-crl %s: CRL %u is past its nextUpdate: still applied, but renew it "
                     "and SIGHUP", crl_path, i + 1);
    }
    return SR_OK;
}

enum sr_err api_crl_load(struct api_crl **out, const char *ca_path, const char *crl_path,
                         char *why, size_t whylen)
{
    gnutls_datum_t ca_pem = { NULL, 0 }, crl_pem = { NULL, 0 };
    gnutls_x509_crt_t *cas = NULL;
    gnutls_x509_crl_t *crls = NULL;
    unsigned n_cas = 0, n_crls = 0;
    enum sr_err err = SR_ECRYPTO;
    int rc;

    *out = NULL;
    if ((rc = gnutls_load_file(ca_path, &ca_pem)) < 0 ||
        (rc = gnutls_load_file(crl_path, &crl_pem)) < 0) {
        snprintf(why, whylen, "cannot read client-ca %s or client-crl %s: %s", ca_path, crl_path,
                 gnutls_strerror(rc));
        err = SR_EIO;
        goto out;
    }
    rc = gnutls_x509_crt_list_import2(&cas, &n_cas, &ca_pem, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n_cas == 0) {
        snprintf(why, whylen, "client-ca %s: no certificate (%s)", ca_path, gnutls_strerror(rc));
        goto out;
    }
    rc = gnutls_x509_crl_list_import2(&crls, &n_crls, &crl_pem, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n_crls == 0) {
        snprintf(why, whylen, "client-crl %s: no CRL (%s)", crl_path, gnutls_strerror(rc));
        goto out;
    }
    err = crls_verify(crls, n_crls, cas, n_cas, crl_path, why, whylen);
    if (err)
        goto out;
    *out = calloc(1, sizeof(**out));
    if (!*out) {
        err = SR_ENOMEM;
        goto out;
    }
    (*out)->crls = crls;
    (*out)->n_crls = n_crls;
    crls = NULL;
    n_crls = 0;
out:
    crls_free(crls, n_crls);
    cas_free(cas, n_cas);
    gnutls_free(ca_pem.data);
    gnutls_free(crl_pem.data);
    return err;
}

size_t api_crl_count(const struct api_crl *c)
{
    return c ? c->n_crls : 0;
}

/* A CRL in the set whose issuer is crt's issuer. */
static bool have_issuer_crl(const struct api_crl *c, gnutls_x509_crt_t crt)
{
    gnutls_datum_t ci = { NULL, 0 };
    bool found = false;

    if (gnutls_x509_crt_get_raw_issuer_dn(crt, &ci) < 0)
        return false;
    for (unsigned i = 0; i < c->n_crls && !found; i++) {
        gnutls_datum_t li = { NULL, 0 };
        if (gnutls_x509_crl_get_raw_issuer_dn(c->crls[i], &li) < 0)
            continue;
        found = li.size == ci.size && memcmp(li.data, ci.data, ci.size) == 0;
        gnutls_free(li.data);
    }
    gnutls_free(ci.data);
    return found;
}

bool api_crl_allows(const struct api_crl *c, const gnutls_datum_t *chain, unsigned n,
                    char *why, size_t whylen)
{
    if (!c)
        return true;
    for (unsigned i = 0; i < n; i++) {
        gnutls_x509_crt_t crt;
        bool ok = false;
        int rc;

        if (gnutls_x509_crt_init(&crt) < 0) {
            snprintf(why, whylen, "out of memory");
            return false;
        }
        if (gnutls_x509_crt_import(crt, &chain[i], GNUTLS_X509_FMT_DER) < 0) {
            snprintf(why, whylen, "certificate %u unreadable", i);
        } else if (gnutls_x509_crt_check_issuer(crt, crt)) {
            ok = true; /* a self-signed root in the chain: client-ca vouched for it */
        } else if (!have_issuer_crl(c, crt)) {
            snprintf(why, whylen, "no CRL from the issuer of certificate %u", i);
        } else if ((rc = gnutls_x509_crt_check_revocation(crt, c->crls, c->n_crls)) != 0) {
            snprintf(why, whylen, rc > 0 ? "certificate %u revoked" : "certificate %u: CRL check "
                     "failed", i);
        } else {
            ok = true;
        }
        gnutls_x509_crt_deinit(crt);
        if (!ok)
            return false;
    }
    return true;
}

void api_crl_destroy(struct api_crl *c)
{
    if (!c)
        return;
    crls_free(c->crls, c->n_crls);
    free(c);
}
