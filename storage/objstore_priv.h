/** @file objstore_priv.h  The HTTP edge of objstore.c, replaceable by a
 * unit test's fake: one request in, one answer out, no retries (the retry,
 * back-off, multipart and checking logic above it is what the tests test).
 */
#ifndef SR_OBJSTORE_PRIV_H
#define SR_OBJSTORE_PRIV_H

#include "objstore.h"
#include "objstore_xml.h"

struct objstore_req {
    const char *method;      /**< "GET", "HEAD", "PUT", "POST", "DELETE" */
    const char *key;         /**< object key; NULL: the bucket itself */
    const char *query;       /**< already encoded ("uploads", "partNumber=1&uploadId=X"); NULL */
    const uint8_t *body;     /**< PUT/POST body; NULL with body_len 0 */
    size_t body_len;
    const char *body_sha256; /**< hex, what x-amz-content-sha256 says */
    const char *meta_sha256; /**< x-amz-meta-sha256 to set (PUT, initiate); NULL */
    const char *content_md5; /**< Content-MD5 (base64) to send: S3 requires it on
                                  PUT ?legal-hold and on an upload with a retention; NULL */
    const char *lock_mode;   /**< x-amz-object-lock-mode to send (PUT, initiate); NULL */
    const char *lock_until;  /**< x-amz-object-lock-retain-until-date to send; NULL */
    bool range;              /**< send Range: bytes=range_off-(range_off+range_len-1) */
    uint64_t range_off, range_len; /**< range_len UINT64_MAX: open-ended */
    objstore_data_fn *sink;  /**< a 2xx body goes here (GET); else into resp.body */
    void *sink_arg;
};

struct objstore_resp {
    long http;                /**< 0: no answer (then the transport's error says why) */
    char etag[80];            /**< quotes removed */
    char meta_sha256[65];
    char request_id[64];
    uint64_t content_length;
    bool have_length;
    uint64_t range_total;     /**< from Content-Range ".../TOTAL"; 0 unknown */
    int64_t mtime;
    char lock_mode[16];       /**< x-amz-object-lock-mode of a HEAD */
    char lock_until[40];      /**< x-amz-object-lock-retain-until-date of a HEAD */
    char body[OBJSTORE_XML_MAX + 1]; /**< a non-sink body, cut at the size; terminated */
    size_t body_len;
    uint64_t delivered;       /**< bytes given to the sink */
    bool sink_stopped;        /**< the sink returned false */
    char errtext[256];        /**< the transport's reason when http is 0 */
};

/** Sends one request.  Returns OBJSTORE_OK when an HTTP answer arrived
 *  (whatever its status), else ECONNECT, ETLS or EIO (sink stopped) with
 *  resp.errtext set. */
typedef enum objstore_err objstore_transport_fn(void *arg, const struct objstore_req *rq,
                                                struct objstore_resp *rs);

/** Replace libcurl by fn (tests). */
void objstore_set_transport(struct objstore *s, objstore_transport_fn *fn, void *arg);

#endif
