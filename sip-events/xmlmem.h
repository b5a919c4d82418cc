/** @file xmlmem.h  Expat set up for untrusted documents: a memory suite
 * that wipes every block it frees, and the refusal of every DTD.
 *
 * Expat copies the document into buffers of its own (and character data
 * into more); its default free() would leave key text (the key body,
 * keybody.c) or personal data (SIPREC metadata, siprec/rsmeta.c) in the
 * heap.  Every parser of such documents creates its XML_Parser with
 * XML_ParserCreate_MM(..., &sr_xml_wiped_mem, ...).  Thread-safe: the suite
 * holds no state.
 */
#ifndef SR_XMLMEM_H
#define SR_XMLMEM_H

#include <expat.h>

extern const XML_Memory_Handling_Suite sr_xml_wiped_mem;

/* How a parser hears that its document declared a DTD or an entity: why is
 * a static string ("DOCTYPE not allowed", "entity declarations not
 * allowed").  The parser records its own error and stops expat. */
typedef void sr_xml_refuse_fn(void *ud, const char *why);

/* The first member of every parser state given to XML_SetUserData when
 * sr_xml_refuse_dtd is used: the shared handlers find the callback there. */
struct sr_xml_refusal {
    sr_xml_refuse_fn *refuse;
};

/* Neither parser has any use for a DTD, and a DTD is how XML attacks come
 * (entity expansion, external entities): a DOCTYPE declaration of any kind
 * (internal subset or SYSTEM/PUBLIC id) and any entity declaration call the
 * refusal, and parameter entities are never parsed.  Call after
 * XML_SetUserData, whose user data starts with a struct sr_xml_refusal. */
void sr_xml_refuse_dtd(XML_Parser xp);

#endif
