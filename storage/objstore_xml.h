/** @file objstore_xml.h  The few S3 XML answers the client reads: Error,
 * InitiateMultipartUploadResult, CompleteMultipartUploadResult (which may
 * carry an Error inside a 200) and ObjectLockConfiguration.
 *
 * One pass with expat over a bounded document (the client keeps at most
 * OBJSTORE_XML_MAX bytes of a body); DTDs and entities are refused
 * (xmlmem.h).  Elements are matched by their local name whatever their
 * namespace; each captured text keeps its first occurrence, cut to its
 * field's size (an over-long value is an error, not a silent cut).
 */
#ifndef SR_OBJSTORE_XML_H
#define SR_OBJSTORE_XML_H

#include <stddef.h>

#include <expat.h>

#include "err.h"
#include "xmlmem.h"

enum { OBJSTORE_XML_MAX = 65536, OBJSTORE_XML_DEPTH = 16 };

struct objstore_xml {
    char root[64];       /**< local name of the root element */
    char code[64];       /**< Error/Code */
    char message[256];   /**< Error/Message (cut to fit: only shown to people) */
    char request_id[64]; /**< Error/RequestId */
    char upload_id[256]; /**< InitiateMultipartUploadResult/UploadId */
    char etag[80];       /**< CompleteMultipartUploadResult/ETag, quotes removed */
    char lock_enabled[16]; /**< ObjectLockConfiguration/ObjectLockEnabled */
    char mode[16];       /**< .../DefaultRetention/Mode */
    unsigned days;       /**< .../DefaultRetention/Days, or Years * 365 */
};

/** Parse doc[0..len).  SR_EPARSE: not well-formed XML, a DTD, or a number
 *  that is not one; SR_ELIMIT: over OBJSTORE_XML_MAX, deeper than
 *  OBJSTORE_XML_DEPTH, or a captured value too long for its field. */
enum sr_err objstore_xml_parse(const char *doc, size_t len, struct objstore_xml *out);

/* The expat pass every S3 answer parser shares (this one and
 * objstore_list.c): a bounded document, wiped memory, DTDs refused. */

/** The first member of such a parser's state (which XML_SetUserData gets). */
struct objstore_xml_pass {
    struct sr_xml_refusal dtd; /* first: xmlmem.h's DTD handlers find it here */
    XML_Parser xp;
    enum sr_err err;           /* the first failure; SR_OK */
};

/** Record err (the first one counts) and stop the parser. */
void objstore_xml_fail(struct objstore_xml_pass *p, enum sr_err err);
/** "s3:Key" -> "Key": elements match whatever their namespace prefix. */
const char *objstore_xml_local(const char *name);
/** Parse doc[0..len) with the handlers, ud's state starting with p.
 *  Returns p->err, else SR_ELIMIT over OBJSTORE_XML_MAX, SR_ENOMEM, or
 *  SR_EPARSE for XML that is not well-formed or declares a DTD. */
enum sr_err objstore_xml_run(struct objstore_xml_pass *p, const char *doc, size_t len,
                             XML_StartElementHandler start, XML_EndElementHandler end,
                             XML_CharacterDataHandler text);

#endif
