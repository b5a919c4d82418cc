/** @file test_objstore_list.c  ListObjectsV2: the page parser's strictness
 * (objstore_list_parse) and objstore_list's paging by continuation token
 * over a fake HTTP edge (the query each page sends, stopping, a bad page).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore_list.h"
#include "objstore_priv.h"
#include "tap.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
             "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" \
             "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>40</MaxKeys>"
#define C(k, n) "<Contents><Key>" k "</Key><LastModified>2026-12-03T07:00:00.000Z</LastModified>" \
                "<ETag>&quot;9a0364b9e99bb480dd25e1f0284c8555&quot;</ETag><Size>" n "</Size>" \
                "<StorageClass>STANDARD</StorageClass></Contents>"

static enum sr_err parse(const char *doc, struct objstore_list_page *pg)
{
    return objstore_list_parse(doc, strlen(doc), pg);
}

static void parser(void)
{
    struct objstore_list_page *pg = calloc(1, sizeof(*pg));
    char *big = malloc(OBJSTORE_XML_MAX * 2);
    size_t n;

    tap_ok(parse(HEAD "<IsTruncated>true</IsTruncated>" C("p/a.srec", "12") C("p/a.srec.sig", "64")
                 "<NextContinuationToken>cC9hLnNyZWMuc2ln</NextContinuationToken></ListBucketResult>",
                 pg) == SR_OK && pg->n == 2 && pg->truncated &&
               strcmp(pg->entries[0].key, "p/a.srec") == 0 && pg->entries[0].size == 12 &&
               strcmp(pg->entries[1].key, "p/a.srec.sig") == 0 && pg->entries[1].size == 64 &&
               strcmp(pg->next_token, "cC9hLnNyZWMuc2ln") == 0,
           "a truncated page: keys, sizes, token");
    tap_ok(parse(HEAD "<IsTruncated>false</IsTruncated></ListBucketResult>", pg) == SR_OK &&
               pg->n == 0 && !pg->truncated && !pg->next_token[0],
           "an empty last page");
    tap_ok(parse(HEAD "<IsTruncated>false</IsTruncated>" C(" p/&amp;x ", "0") "</ListBucketResult>",
                 pg) == SR_OK && strcmp(pg->entries[0].key, " p/&x ") == 0,
           "a key is taken byte for byte (entities decoded, spaces kept)");
    tap_ok(parse("<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>k</s3:Key>"
                 "<s3:Size>5</s3:Size></s3:Contents></s3:ListBucketResult>", pg) == SR_OK &&
               pg->n == 1 && pg->entries[0].size == 5,
           "elements match by local name");

    /* Refusals, each leaving the page zeroed. */
    static const struct {
        const char *doc;
        enum sr_err want;
        const char *what;
    } bad[] = {
        { HEAD "<IsTruncated>false</IsTruncated>", SR_EPARSE, "cut short" },
        { "<Error><Code>AccessDenied</Code></Error>", SR_EPARSE, "another root" },
        { HEAD "</ListBucketResult>", SR_EPARSE, "no IsTruncated" },
        { HEAD "<IsTruncated>yes</IsTruncated></ListBucketResult>", SR_EPARSE, "IsTruncated not a flag" },
        { HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>", SR_EPARSE, "truncated, no token" },
        { HEAD "<IsTruncated>false</IsTruncated><IsTruncated>true</IsTruncated></ListBucketResult>",
          SR_EPARSE, "two IsTruncated" },
        { HEAD "<IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents></ListBucketResult>",
          SR_EPARSE, "Contents without Key" },
        { HEAD "<IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents></ListBucketResult>",
          SR_EPARSE, "Contents without Size" },
        { HEAD "<IsTruncated>false</IsTruncated>" C("k", "-1") "</ListBucketResult>", SR_EPARSE,
          "a negative size" },
        { HEAD "<IsTruncated>false</IsTruncated>" C("k", "5497558138881") "</ListBucketResult>",
          SR_EPARSE, "a size past 5 TiB" },
        { HEAD "<IsTruncated>false</IsTruncated><Contents><Key>a</Key><Key>b</Key><Size>1</Size>"
               "</Contents></ListBucketResult>", SR_EPARSE, "two keys in one Contents" },
        { HEAD "<IsTruncated>false</IsTruncated>" C("a&#9;b", "1") "</ListBucketResult>", SR_EPARSE,
          "a control character in a key" },
        { HEAD "<IsTruncated>false</IsTruncated>" C("", "1") "</ListBucketResult>", SR_EPARSE,
          "an empty key" },
        { "<!DOCTYPE x [<!ENTITY e \"k\">]>" HEAD "<IsTruncated>false</IsTruncated>"
          "</ListBucketResult>", SR_EPARSE, "a DTD" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static const struct objstore_list_page zero;
        enum sr_err e = parse(bad[i].doc, pg);
        tap_ok(e == bad[i].want && memcmp(pg, &zero, sizeof(zero)) == 0, "refused: %s (%s)",
               bad[i].what, sr_strerror(e));
    }

    /* Bounds: a key over 1,024 bytes, one object more than a page holds, a
     * document over OBJSTORE_XML_MAX, nesting past the depth. */
    n = (size_t)sprintf(big, HEAD "<IsTruncated>false</IsTruncated><Contents><Key>");
    memset(big + n, 'k', OBJSTORE_KEY_MAX + 1);
    n += OBJSTORE_KEY_MAX + 1;
    sprintf(big + n, "</Key><Size>1</Size></Contents></ListBucketResult>");
    tap_ok(parse(big, pg) == SR_ELIMIT, "a key over OBJSTORE_KEY_MAX: SR_ELIMIT");
    n = (size_t)sprintf(big, HEAD "<IsTruncated>false</IsTruncated>");
    for (int i = 0; i <= OBJSTORE_LIST_PAGE_MAX; i++)
        n += (size_t)sprintf(big + n, "<Contents><Key>k%d</Key><Size>1</Size></Contents>", i);
    sprintf(big + n, "</ListBucketResult>");
    tap_ok(parse(big, pg) == SR_ELIMIT, "%d objects in a page: SR_ELIMIT",
           OBJSTORE_LIST_PAGE_MAX + 1);
    big[strlen(big) - strlen("<Contents><Key>k40</Key><Size>1</Size></Contents></ListBucketResult>")] = 0;
    strcat(big, "</ListBucketResult>");
    tap_ok(parse(big, pg) == SR_OK && pg->n == OBJSTORE_LIST_PAGE_MAX, "%d objects: accepted",
           OBJSTORE_LIST_PAGE_MAX);
    memset(big, ' ', OBJSTORE_XML_MAX + 1);
    tap_ok(objstore_list_parse(big, OBJSTORE_XML_MAX + 1, pg) == SR_ELIMIT,
           "over OBJSTORE_XML_MAX: SR_ELIMIT");
    n = (size_t)sprintf(big, "<ListBucketResult>");
    for (int i = 0; i < OBJSTORE_XML_DEPTH; i++)
        n += (size_t)sprintf(big + n, "<a>");
    tap_ok(parse(big, pg) == SR_ELIMIT, "nested past OBJSTORE_XML_DEPTH: SR_ELIMIT");
    free(big);
    free(pg);
}

/* ---------------------------------------------------------------- paging */

struct fake {
    const char *pages[4];
    size_t n_pages, next;
    char query[4][512];
};

static enum objstore_err fake_transport(void *arg, const struct objstore_req *rq,
                                        struct objstore_resp *rs)
{
    struct fake *f = arg;

    if (f->next >= f->n_pages || strcmp(rq->method, "GET") != 0 || rq->key)
        return OBJSTORE_ECONNECT;
    snprintf(f->query[f->next], sizeof(f->query[0]), "%s", rq->query ? rq->query : "");
    rs->http = 200;
    snprintf(rs->body, sizeof(rs->body), "%s", f->pages[f->next++]);
    rs->body_len = strlen(rs->body);
    return OBJSTORE_OK;
}

struct seen {
    char keys[8][64];
    size_t n, stop_after;
};

static bool on_key(const char *key, uint64_t size, void *arg)
{
    struct seen *sn = arg;

    (void)size;
    if (sn->n < 8)
        snprintf(sn->keys[sn->n++], sizeof(sn->keys[0]), "%s", key);
    return !sn->stop_after || sn->n < sn->stop_after;
}

static char keyfile[64];

static struct objstore *store_for(struct fake *f)
{
    struct objstore_cfg cfg = { .part_size = OBJSTORE_PART_MIN, .backoff_min_ms = 100,
                                .backoff_max_ms = 1000, .timeout_s = 5 };
    struct objstore *s = NULL;
    char why[256];

    snprintf(cfg.url, sizeof(cfg.url), "https://store.invalid");
    snprintf(cfg.bucket, sizeof(cfg.bucket), "bucket");
    snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
    snprintf(cfg.access_key_file, sizeof(cfg.access_key_file), "%s", keyfile);
    if (objstore_create(&s, &cfg, NULL, why, sizeof(why)) != OBJSTORE_OK) {
        tap_diag("create: %s", why);
        return NULL;
    }
    objstore_set_transport(s, fake_transport, f);
    return s;
}

static void paging(void)
{
    struct fake f = { .n_pages = 2,
                      .pages = { HEAD "<IsTruncated>true</IsTruncated>" C("p/a b.srec", "1")
                                 "<NextContinuationToken>t+/=</NextContinuationToken>"
                                 "</ListBucketResult>",
                                 HEAD "<IsTruncated>false</IsTruncated>" C("p/c.srec", "2")
                                 "</ListBucketResult>" } };
    struct objstore *s = store_for(&f);
    struct objstore_status st;
    struct seen sn = { 0 };

    tap_ok(s && objstore_list(s, "p/", on_key, &sn, &st) == OBJSTORE_OK && f.next == 2 &&
               sn.n == 2 && strcmp(sn.keys[0], "p/a b.srec") == 0 &&
               strcmp(sn.keys[1], "p/c.srec") == 0,
           "two pages, every key once, in order");
    tap_ok(strcmp(f.query[0], "list-type=2&max-keys=40&prefix=p%2F") == 0,
           "first page: sorted query, prefix escaped (%s)", f.query[0]);
    tap_ok(strcmp(f.query[1], "continuation-token=t%2B%2F%3D&list-type=2&max-keys=40&prefix=p%2F") == 0,
           "second page: the token escaped, first in order (%s)", f.query[1]);

    f.next = 0;
    sn = (struct seen){ .stop_after = 1 };
    tap_ok(objstore_list(s, "p/", on_key, &sn, &st) == OBJSTORE_EIO && f.next == 1 && sn.n == 1,
           "the callback stops the listing: OBJSTORE_EIO, no further page");

    f = (struct fake){ .n_pages = 1, .pages = { HEAD "<IsTruncated>true</IsTruncated>"
                                                "</ListBucketResult>" } };
    sn = (struct seen){ 0 };
    tap_ok(objstore_list(s, "", on_key, &sn, &st) == OBJSTORE_EPROTO && sn.n == 0 &&
               strstr(st.message, "page 1"),
           "a truncated page without a token: OBJSTORE_EPROTO with a reason (%s)", st.message);
    objstore_destroy(s);
}

int main(void)
{
    char dir[] = "/tmp/test_objstore_list.XXXXXX";
    FILE *kf;

    if (!mkdtemp(dir))
        return 1;
    snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
    if (!(kf = fopen(keyfile, "w")))
        return 1;
    fputs("AKID\nSECRET\n", kf);
    fclose(kf);
    chmod(keyfile, 0600);
    parser();
    paging();
    unlink(keyfile);
    rmdir(dir);
    return tap_done();
}
