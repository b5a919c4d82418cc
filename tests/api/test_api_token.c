/** @file test_api_token.c  Tokens file parsing, hashing, bearer headers, roles;
 *  the client-certificate identity map. */
#include <stdio.h>
#include <string.h>

#include "api_priv.h"
#include "guard.h"
#include "tap.h"

/* FIPS 180-2 appendix B.1: SHA-256("abc"). */
#define ABC_LINE "x lister sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static enum sr_err parse(const char *text, struct api_tokens **t, char *why, size_t n)
{
    size_t len = strlen(text);
    return api_tokens_parse(t, guard_copy(text, len), len, why, n);
}

static void round_trip(void)
{
    char line_l[256], line_a[256], file[700], why[256];
    struct api_tokens *t = NULL;
    struct api_principal who;

    tap_ok(api_token_line("alice", "lister", SLICE_LIT("s3cret-lister"), line_l, sizeof(line_l)),
           "line for alice");
    tap_ok(api_token_line("bob", "auditor,archivist", SLICE_LIT("s3cret-auditor"), line_a,
                          sizeof(line_a)),
           "line for bob");
    tap_ok(strncmp(line_l, "alice lister sha256:", 20) == 0 && strlen(line_l) == 20 + 64,
           "line format: %s", line_l);
    snprintf(file, sizeof(file), "# comment\n\n  %s  \r\n\t%s\n", line_l, line_a);
    tap_ok(parse(file, &t, why, sizeof(why)) == SR_OK, "parses generated file (%s)", why);
    tap_ok(api_tokens_count(t) == 2, "two tokens");
    memset(&who, 0, sizeof(who));
    tap_ok(api_tokens_check(t, SLICE_LIT("s3cret-lister"), &who) == SR_OK &&
               strcmp(who.name, "alice") == 0 && who.roles == API_ROLE_LISTER,
           "alice's token maps to alice/lister");
    tap_ok(api_tokens_check(t, SLICE_LIT("s3cret-auditor"), &who) == SR_OK &&
               strcmp(who.name, "bob") == 0 &&
               who.roles == (API_ROLE_AUDITOR | API_ROLE_ARCHIVIST),
           "bob's token maps to bob/auditor+archivist");
    tap_ok(api_tokens_check(t, SLICE_LIT("s3cret-listeR"), &who) == SR_EAUTH, "wrong token");
    tap_ok(api_tokens_check(t, SLICE_LIT("s3cret-liste"), &who) == SR_EAUTH, "prefix of a token");
    tap_ok(api_tokens_check(t, SLICE_LIT(""), &who) == SR_EAUTH, "empty token");
    tap_ok(api_tokens_check(t, SLICE_LIT("bad token"), &who) == SR_EAUTH, "space in token");
    tap_ok(api_tokens_check(NULL, SLICE_LIT("s3cret-lister"), &who) == SR_EAUTH, "no table");
    api_tokens_destroy(t);
    api_tokens_destroy(NULL);
}

static void hostile_files(void)
{
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        { "alice lister", "missing hash" },
        { "alice lister sha256:00", "short hash" },
        { "alice lister sha256:" "0000000000000000000000000000000000000000000000000000000000000000"
          "00", "long hash" },
        { "alice lister md5:0000000000000000000000000000000000000000000000000000000000000000",
          "wrong algorithm" },
        { "alice lister sha256:g000000000000000000000000000000000000000000000000000000000000000",
          "non-hex" },
        { "alice root sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "unknown role" },
        { "alice lister, sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "empty role" },
        { "al/ce lister sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "bad name char" },
        { "alice lister sha256:0000000000000000000000000000000000000000000000000000000000000000 x",
          "trailing field" },
        { "a lister sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
          "a lister sha256:1111111111111111111111111111111111111111111111111111111111111111",
          "duplicate name" },
        { "a lister sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
          "b lister sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "duplicate hash" },
    };
    char why[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct api_tokens *t = NULL;
        why[0] = '\0';
        tap_ok(parse(bad[i].text, &t, why, sizeof(why)) != SR_OK && !t && why[0],
               "refused: %s (%s)", bad[i].why, why);
    }
    {
        static const char nul[] = "a lister sha256:00\0rest";
        struct api_tokens *t = NULL;
        tap_ok(api_tokens_parse(&t, guard_copy(nul, sizeof(nul) - 1), sizeof(nul) - 1, why,
                                sizeof(why)) != SR_OK,
               "NUL byte refused");
    }
    {
        static char big[API_TOKEN_LINE_MAX + 10];
        struct api_tokens *t = NULL;
        memset(big, 'a', sizeof(big) - 1);
        tap_ok(parse(big, &t, why, sizeof(why)) != SR_OK, "overlong line refused");
    }
    {
        struct api_tokens *t = NULL;
        tap_ok(parse("", &t, why, sizeof(why)) == SR_OK && api_tokens_count(t) == 0,
               "empty file is valid and empty");
        api_tokens_destroy(t);
        t = NULL;
        tap_ok(parse("# only\n#comments\n", &t, why, sizeof(why)) == SR_OK &&
                   api_tokens_count(t) == 0,
               "comments only");
        api_tokens_destroy(t);
    }
    {
        /* API_TOKENS_MAX + 1 distinct lines: the bound holds */
        static char text[(API_TOKENS_MAX + 1) * 90];
        size_t off = 0;
        struct api_tokens *t = NULL;
        for (unsigned i = 0; i <= API_TOKENS_MAX; i++)
            off += (size_t)snprintf(text + off, sizeof(text) - off,
                                    "n%u lister sha256:%064x\n", i, i);
        tap_ok(parse(text, &t, why, sizeof(why)) == SR_ELIMIT && !t, "more than %d tokens: %s",
               API_TOKENS_MAX, why);
    }
}

static void every_prefix(void)
{
    char line[256];
    size_t bad = 0, n;

    api_token_line("alice", "lister", SLICE_LIT("tok"), line, sizeof(line));
    n = strlen(line);
    for (size_t i = 0; i < n; i++) {
        struct api_tokens *t = NULL;
        char why[128];
        enum sr_err err = api_tokens_parse(&t, guard_copy(line, i), i, why, sizeof(why));
        if (!(err != SR_OK || api_tokens_count(t) == 0))
            bad++;
        api_tokens_destroy(t);
    }
    tap_ok(bad == 0, "no proper prefix of a line yields a token");
}

static void bearer(void)
{
    struct slice tok;

    tap_ok(api_bearer_parse("Bearer abc.DEF-_~+/==", &tok) && slice_eq(tok, SLICE_LIT("abc.DEF-_~+/==")),
           "b64token with padding");
    tap_ok(api_bearer_parse("bearer xyz", &tok) && slice_eq(tok, SLICE_LIT("xyz")),
           "scheme is case-insensitive");
    tap_ok(api_bearer_parse("Bearer  xyz ", &tok) && slice_eq(tok, SLICE_LIT("xyz")),
           "surrounding spaces trimmed");
    tap_ok(!api_bearer_parse(NULL, &tok), "absent");
    tap_ok(!api_bearer_parse("Basic YWxhZGRpbjpvcGVuc2VzYW1l", &tok), "Basic refused");
    tap_ok(!api_bearer_parse("Bearer", &tok), "no token");
    tap_ok(!api_bearer_parse("Bearer ", &tok), "empty token");
    tap_ok(!api_bearer_parse("Bearerxyz", &tok), "no space after scheme");
    tap_ok(!api_bearer_parse("Bearer a b", &tok), "two tokens");
    tap_ok(!api_bearer_parse("Bearer =abc", &tok), "padding first");
    tap_ok(!api_bearer_parse("Bearer ab=c", &tok), "padding inside");
    tap_ok(!api_bearer_parse("Bearer a\"b", &tok), "quote");
}

static void roles(void)
{
    unsigned r = 0;

    tap_ok(api_roles_parse(SLICE_LIT("lister,auditor"), &r) &&
               r == (API_ROLE_LISTER | API_ROLE_AUDITOR),
           "two roles");
    tap_ok(!api_roles_parse(SLICE_LIT(""), &r), "empty list");
    tap_ok(!api_roles_parse(SLICE_LIT("Lister"), &r), "roles are case-sensitive");
    tap_ok(!api_roles_parse(SLICE_LIT("lister,,auditor"), &r), "empty element");
    tap_ok(api_roles_allow(API_ROLE_ADMIN, API_ROLE_AUDITOR), "admin allows export");
    tap_ok(!api_roles_allow(API_ROLE_LISTER, API_ROLE_AUDITOR), "lister cannot export");
    tap_ok(!api_roles_allow(API_ROLE_AUDITOR, API_ROLE_LISTER), "auditor cannot list");
    tap_ok(api_roles_allow(API_ROLE_ARCHIVIST | API_ROLE_LISTER, API_ROLE_ARCHIVIST),
           "archivist downloads");
    {
        char line[256];
        tap_ok(!api_token_line("alice", "lister", SLICE_LIT("has space"), line, sizeof(line)),
               "token line refuses a token outside b64token");
        tap_ok(!api_token_line("", "lister", SLICE_LIT("t"), line, sizeof(line)), "empty name");
        tap_ok(!api_token_line("alice", "lister", SLICE_LIT("t"), line, 20), "small buffer");
    }
}

/* The client-certs file: identities map to roles, byte for byte. */
static void certmap(void)
{
    static const char *bad[] = {
        "sip:a@example.net\n",                     /* no roles */
        "sip:a@example.net boss\n",                /* unknown role */
        "sip:a@example.net lister\nsip:a@example.net admin\n",
        /* above: a duplicate */
        "sip:a@example.net lister auditor\n",      /* a third field */
        "sip:a@example.net lister,\n",             /* trailing comma */
        "caf\xc3\xa9@example.net lister\n",        /* not ASCII */
    };
    struct api_certmap *m = NULL;
    char why[256], big[400];
    unsigned roles = 0;
    const char *good = "# comment\n\nsip:recorder@example.net lister\n"
                       "  auditor@example.net\tauditor,archivist  \n";
    size_t len = strlen(good);

    tap_ok(api_certmap_parse(&m, guard_copy(good, len), len, why, sizeof(why)) == SR_OK &&
               api_certmap_count(m) == 2,
           "certmap: two identities (%s)", why);
    tap_ok(api_certmap_find(m, SLICE_LIT("sip:recorder@example.net"), &roles) == SR_OK &&
               roles == API_ROLE_LISTER,
           "certmap: SAN URI maps to lister");
    tap_ok(api_certmap_find(m, SLICE_LIT("auditor@example.net"), &roles) == SR_OK &&
               roles == (API_ROLE_AUDITOR | API_ROLE_ARCHIVIST),
           "certmap: email maps to auditor,archivist");
    tap_ok(api_certmap_find(m, SLICE_LIT("sip:recorder@example.ne"), &roles) == SR_ENOTFOUND &&
               api_certmap_find(m, SLICE_LIT("SIP:recorder@example.net"), &roles) ==
                   SR_ENOTFOUND &&
               api_certmap_find(m, SLICE_LIT(""), &roles) == SR_ENOTFOUND,
           "certmap: prefix, case variant and empty identity are unknown");
    api_certmap_destroy(m);
    tap_ok(api_certmap_find(NULL, SLICE_LIT("x"), &roles) == SR_ENOTFOUND, "certmap: no map");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = NULL;
        len = strlen(bad[i]);
        tap_ok(api_certmap_parse(&m, guard_copy(bad[i], len), len, why, sizeof(why)) != SR_OK &&
                   !m && strncmp(why, "line ", 5) == 0,
               "certmap: bad file %zu refused (%s)", i, why);
    }
    memset(big, 'a', sizeof(big));
    memcpy(big + sizeof(big) - 9, " lister\n", 9);
    m = NULL;
    tap_ok(api_certmap_parse(&m, guard_copy(big, sizeof(big) - 1), sizeof(big) - 1, why,
                             sizeof(why)) != SR_OK && !m,
           "certmap: identity over %d bytes refused", API_CERT_ID_MAX);
}

int main(void)
{
    {
        char line[256];
        tap_ok(api_token_line("x", "lister", SLICE_LIT("abc"), line, sizeof(line)) &&
                   strcmp(line, ABC_LINE) == 0,
               "known answer: SHA-256(abc)");
    }
    round_trip();
    hostile_files();
    every_prefix();
    bearer();
    roles();
    certmap();
    return tap_done();
}
