/** @file xmlmem.h  An expat memory suite that wipes every block it frees.
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

#endif
