/** @file err.c  Texts, classes and SIP statuses of enum siprec_err (siprec.h). */
#include "siprec.h"

static const struct {
    const char *text;
    enum sr_err cls;
    unsigned status;
} errs[] = {
    [SIPREC_OK] = { "ok", SR_OK, 200 },
    [SIPREC_E_CT_SYNTAX] = { "Content-Type malformed", SR_EPARSE, 400 },
    [SIPREC_E_CT_UNSUPPORTED] = { "body type not supported (multipart/mixed, application/sdp, "
                                  "application/rs-metadata+xml)", SR_EUNSUPP, 415 },
    [SIPREC_E_BOUNDARY_MISSING] = { "multipart Content-Type without boundary", SR_EPARSE, 400 },
    [SIPREC_E_BOUNDARY_BAD] = { "multipart boundary empty, too long, malformed or repeated",
                                SR_EPARSE, 400 },
    [SIPREC_E_NO_DELIMITER] = { "multipart body holds no delimiter line", SR_EPARSE, 400 },
    [SIPREC_E_NO_CLOSE] = { "multipart body ends before its close delimiter", SR_EPARSE, 400 },
    [SIPREC_E_PART_HEADER] = { "body part header malformed or not ended by an empty line",
                               SR_EPARSE, 400 },
    [SIPREC_E_PART_HEADER_DUP] = { "body part header repeated", SR_EPARSE, 400 },
    [SIPREC_E_DISPOSITION_BAD] = { "body part Content-Disposition malformed", SR_EPARSE, 400 },
    [SIPREC_E_ENCODING] = { "body part Content-Transfer-Encoding not 7bit, 8bit or binary",
                            SR_EUNSUPP, 415 },
    [SIPREC_E_PART_UNSUPPORTED] = { "required body part of an unsupported type", SR_EUNSUPP, 415 },
    [SIPREC_E_SDP_MISSING] = { "multipart body without application/sdp", SR_EPARSE, 400 },
    [SIPREC_E_SDP_TWICE] = { "multipart body with two application/sdp parts", SR_EPARSE, 400 },
    [SIPREC_E_META_TWICE] = { "multipart body with two metadata parts", SR_EPARSE, 400 },
    [SIPREC_E_BODY_LIMIT] = { "body, part count or part header over its limit", SR_ELIMIT, 413 },
    [SIPREC_E_SDP_SYNTAX] = { "SDP line malformed", SR_EPARSE, 400 },
    [SIPREC_E_SDP_LIMIT] = { "SDP over a limit", SR_ELIMIT, 400 },
    [SIPREC_E_SDP_MEDIA] = { "SDP m= line malformed", SR_EPARSE, 400 },
    [SIPREC_E_SDP_CONN] = { "SDP c= malformed or missing", SR_EPARSE, 400 },
    [SIPREC_E_SDP_DTLS] = { "DTLS-SRTP (UDP/TLS/RTP/SAVP) not supported: offer SDES-SRTP or RTP",
                            SR_EUNSUPP, 488 },
    [SIPREC_E_SDP_ATTR] = { "SDP attribute malformed or repeated", SR_EPARSE, 400 },
    [SIPREC_E_SDP_CRYPTO] = { "SDP a=crypto malformed", SR_EPARSE, 400 },
    [SIPREC_E_SDP_NO_CRYPTO] = { "SRTP stream without a usable a=crypto", SR_EUNSUPP, 488 },
    [SIPREC_E_SDP_NO_MEDIA] = { "SDP without m= line", SR_EPARSE, 400 },
    [SIPREC_E_SDP_ANSWER] = { "SDP answer cannot be written", SR_EINVAL, 500 },
    [SIPREC_E_MD_XML] = { "metadata is not well-formed XML", SR_EPARSE, 400 },
    [SIPREC_E_MD_DTD] = { "metadata with DOCTYPE or entity declaration", SR_EPARSE, 400 },
    [SIPREC_E_MD_ROOT] = { "metadata root is not recording in " SIPREC_MD_NS, SR_EPARSE, 400 },
    [SIPREC_E_MD_ELEMENT] = { "metadata element unknown, misplaced or repeated", SR_EPARSE, 400 },
    [SIPREC_E_MD_ATTR] = { "metadata id attribute missing or empty", SR_EPARSE, 400 },
    [SIPREC_E_MD_VALUE] = { "metadata value malformed", SR_EPARSE, 400 },
    [SIPREC_E_MD_REF] = { "metadata refers to an undefined id", SR_EPARSE, 400 },
    [SIPREC_E_MD_LIMIT] = { "metadata over a limit", SR_ELIMIT, 400 },
    [SIPREC_E_NOMEM] = { "out of memory", SR_ENOMEM, 500 },
    [SIPREC_E_INVAL] = { "invalid arguments", SR_EINVAL, 500 },
};

static bool known(enum siprec_err e)
{
    return (unsigned)e < sizeof(errs) / sizeof(errs[0]) && errs[e].text;
}

const char *siprec_strerror(enum siprec_err e)
{
    return known(e) ? errs[e].text : "unknown error";
}

enum sr_err siprec_err_class(enum siprec_err e)
{
    return known(e) ? errs[e].cls : SR_EINVAL;
}

unsigned siprec_err_status(enum siprec_err e)
{
    return known(e) ? errs[e].status : 500;
}
