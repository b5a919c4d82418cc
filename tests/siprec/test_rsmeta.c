/** @file test_rsmeta.c  RFC 7865 metadata: the RFC 7865 and RFC 8068
 *  examples (the fuzz corpus files, argv[1]), SBC variants, partial updates
 *  merged, every error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siprec.h"
#include "slurp.h"
#include "tap.h"

static const char *corpus;
static struct siprec_md *doc, *model;

static enum siprec_err parse_file(const char *name, struct siprec_md *out)
{
    char path[512];
    size_t len = 0;
    unsigned char *data;
    const char *why = NULL;
    enum siprec_err e;

    snprintf(path, sizeof(path), "%s/%s", corpus, name);
    data = slurp(path, &len);
    if (!data) {
        tap_diag("cannot read %s", path);
        return SIPREC_E_INVAL;
    }
    e = siprec_md_parse((const char *)data, len, out, &why);
    if (e)
        tap_diag("%s: %s (%s)", name, siprec_strerror(e), why);
    free(data);
    return e;
}

#define NS "xmlns='urn:ietf:params:xml:ns:recording:1'"
#define DOC(body) "<?xml version='1.0'?><recording " NS ">" body "</recording>"

static enum siprec_err parse(const char *xml, const char **why)
{
    return siprec_md_parse(xml, strlen(xml), doc, why);
}

static void test_rfc7865_example(void)
{
    enum siprec_err e = parse_file("rfc7865-complete.xml", doc);
    const struct siprec_md_participant *p;
    const struct siprec_md_stream *s;
    struct slice x;

    tap_ok(e == SIPREC_OK, "RFC 7865 example parses");
    tap_ok(doc->mode == SIPREC_MD_COMPLETE && doc->n_group == 1 && doc->n_session == 1 &&
           doc->n_participant == 2 && doc->n_stream == 4 && doc->n_pstream == 2 && doc->n_psession == 2 &&
           doc->n_srecording == 1, "counts");
    tap_ok(doc->group[0].associate == 1292542867000000LL, "group associate-time 2010-12-16T23:41:07Z");
    tap_ok(strcmp(doc->session[0].id, "hVpd7YQgRW2nD22h7q60JQ==") == 0 && doc->session[0].n_sip_session_id == 1 &&
           strcmp(doc->session[0].sip_session_id[0],
                  "ab30317f1a784dc48ff824d0d3715d86; remote=47755a9de7794ba387653f2099600ef2") == 0,
           "sipSessionID, folded whitespace collapsed: %s", doc->session[0].sip_session_id[0]);
    tap_ok(strcmp(doc->session[0].group_ref, "7+OTCyoxTmqmqyA/1weDAg==") == 0, "group-ref trimmed");
    p = siprec_md_participant(doc, "srfBElmCRp2QB23b7Mpk0w==");
    tap_ok(p && p->n_nameid == 1 && strcmp(p->nameid[0].aor, "sip:alice@atlanta.com") == 0 &&
           strcmp(p->nameid[0].name, "Alice") == 0 && strcmp(p->nameid[0].lang, "it") == 0,
           "participant Alice: aor, name, xml:lang");
    s = siprec_md_stream_by_label(doc, "97");
    tap_ok(s && strcmp(s->id, "i1Pz3to5hGk8fuXl+PbwCw==") == 0, "stream by label 97");
    p = s ? siprec_md_stream_sender(doc, s->id) : NULL;
    tap_ok(p && strcmp(p->nameid[0].name, "Alice") == 0, "label 97 is sent by Alice");
    p = siprec_md_stream_sender(doc, siprec_md_stream_by_label(doc, "99")->id);
    tap_ok(p && strcmp(p->nameid[0].name, "Bob") == 0, "label 99 is sent by Bob");
    tap_ok(doc->n_ext == 5, "five extension elements kept (group 2, session, 2 participants): %zu", doc->n_ext);
    x = siprec_md_ext_bytes(doc, 0);
    tap_ok(doc->ext_index[0].owner == SIPREC_MD_OWN_GROUP &&
           slice_eq(x, SLICE_LIT("<call-center xmlns='urn:ietf:params:xml:ns:callcenter'>\n"
                                 "      <supervisor>sip:alice@atlanta.com</supervisor>\n"
                                 "    </call-center>")),
           "extension kept verbatim");
    tap_ok(doc->ext_index[3].owner == SIPREC_MD_OWN_PARTICIPANT &&
           strcmp(doc->ext_index[3].owner_id, "srfBElmCRp2QB23b7Mpk0w==") == 0, "extension owner");
    tap_ok(siprec_md_merge(model, doc, NULL) == SIPREC_OK, "complete document merges: references resolve");
}

static void test_rfc8068_updates(void)
{
    const struct siprec_md_participant *p;
    const char *why = NULL;
    enum siprec_err e;

    siprec_md_clear(model);
    tap_ok(parse_file("rfc8068-basic.xml", doc) == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_OK,
           "RFC 8068 basic call");
    tap_ok(model->session[0].start == 1292542867000000LL && model->session[0].stop == SIPREC_MD_TIME_NONE,
           "start-time, no stop-time");
    tap_ok(parse_file("rfc8068-transfer-partial.xml", doc) == SIPREC_OK && doc->mode == SIPREC_MD_PARTIAL,
           "transfer update (partial) parses");
    e = siprec_md_merge(model, doc, &why);
    tap_ok(e == SIPREC_OK, "partial update merges: %s (%s)", siprec_strerror(e), why);
    tap_ok(model->n_participant == 3 && model->n_stream == 3 && model->n_pstream == 3,
           "participant, stream and association added");
    p = siprec_md_stream_sender(model, siprec_md_stream_by_label(model, "98")->id);
    tap_ok(p && strcmp(p->nameid[0].aor, "sip:carol@example.com") == 0, "new stream 98 sent by Carol");
    tap_ok(strcmp(model->participant[0].nameid[0].name, "Alice") == 0 && model->session[0].n_sip_session_id == 1,
           "what the update did not state is kept");
    tap_ok(model->n_psession == 1 && model->psession[0].disassociate == 1292542987000000LL,
           "participantsessionassoc with disassociate-time");
    tap_ok(parse_file("rfc8068-stop.xml", doc) == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_OK,
           "stop update merges");
    tap_ok(model->session[0].stop == 1292539507000000LL, "stop-time with +01:00 offset: %lld",
           (long long)model->session[0].stop);
    tap_ok(model->psession[0].disassociate == 1292543107123000LL, "fractional seconds");
    tap_ok(model->session[0].start == 1292542867000000LL, "start-time kept through the partial update");
    tap_ok(model->mode == SIPREC_MD_COMPLETE, "merged model is complete");

    /* a participantstreamassoc replaces the old one's lists */
    e = parse(DOC("<datamode>partial</datamode><participantstreamassoc participant_id='srfBElmCRp2QB23b7Mpk0w=='>"
                  "<recv>UAAMm5GRQKSCMVvLyl4rFw==</recv></participantstreamassoc>"), &why);
    tap_ok(e == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_OK, "Alice stops sending");
    tap_ok(!siprec_md_stream_sender(model, "i1Pz3to5hGk8fuXl+PbwCw==") && model->pstream[0].n_recv == 1,
           "stream 97 has no sender now");

    /* A partial update naming what does not exist fails and changes nothing. */
    size_t n = model->n_stream;
    e = parse(DOC("<datamode>partial</datamode><stream stream_id='new' session_id='nosuch'><label>9</label></stream>"),
              &why);
    tap_ok(e == SIPREC_OK, "dangling reference parses (a document alone cannot tell)");
    e = siprec_md_merge(model, doc, &why);
    tap_ok(e == SIPREC_E_MD_REF && model->n_stream == n, "merge refuses it, model unchanged: %s", why);
    e = parse(DOC("<datamode>partial</datamode><participantstreamassoc participant_id='nobody'/>"), &why);
    tap_ok(e == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_E_MD_REF, "unknown participant: %s", why);
    e = parse(DOC("<datamode>partial</datamode><participantstreamassoc participant_id='srfBElmCRp2QB23b7Mpk0w=='>"
                  "<send>nosuch</send></participantstreamassoc>"), &why);
    tap_ok(e == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_E_MD_REF, "unknown send stream: %s", why);
    e = parse(DOC("<datamode>partial</datamode><participantsessionassoc participant_id='x' session_id='y'/>"), &why);
    tap_ok(e == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_E_MD_REF, "psession: %s", why);
    e = parse(DOC("<datamode>partial</datamode><sessionrecordingassoc session_id='y'/>"), &why);
    tap_ok(e == SIPREC_OK && siprec_md_merge(model, doc, &why) == SIPREC_E_MD_REF, "srecording: %s", why);
    tap_ok(siprec_md_merge(NULL, doc, NULL) == SIPREC_E_INVAL, "NULL model");
}

static void test_sbc_variant(void)
{
    const struct siprec_md_participant *p;
    struct slice x;

    tap_ok(parse_file("sbc-participant-send.xml", doc) == SIPREC_OK, "SBC variant: send/recv inside participant");
    p = siprec_md_stream_sender(doc, siprec_md_stream_by_label(doc, "2")->id);
    tap_ok(p && strcmp(p->nameid[0].aor, "tel:+15551230002") == 0 && p->nameid[0].name[0] == '\0',
           "participant send/recv become its stream association; nameID without name");
    x = siprec_md_ext_bytes(doc, 0);
    tap_ok(doc->n_ext == 1 && doc->ext_index[0].owner == SIPREC_MD_OWN_RECORDING &&
           slice_eq(x, SLICE_LIT("<acme:extra xmlns:acme=\"http://acmepacket.com/siprec/extensiondata\">"
                                 "<acme:callerOrig>true</acme:callerOrig></acme:extra>")),
           "recording-level vendor extension verbatim");
    tap_ok(parse(DOC("<datamode>complete</datamode><x:e xmlns:x='urn:x'/>"), NULL) == SIPREC_OK &&
           slice_eq(siprec_md_ext_bytes(doc, 0), SLICE_LIT("<x:e xmlns:x='urn:x'/>")), "empty-element extension");
    tap_ok(parse(DOC("<session session_id='s'><reason>x</reason></session><stream stream_id='a' session_id='s'>"
                     "<content-type>audio</content-type><label>1</label></stream>"), NULL) == SIPREC_OK,
           "reason and content-type (drafts, SBCs) tolerated; no datamode means complete");
    tap_ok(doc->mode == SIPREC_MD_COMPLETE && strcmp(doc->stream[0].label, "1") == 0, "label still read");
    tap_ok(parse(DOC("<session session_id='s'><group-ref>g1</group-ref><group-ref>g2</group-ref>"
                     "<start-time>2010-12-16T23:41:07</start-time></session>"), NULL) == SIPREC_OK &&
           strcmp(doc->session[0].group_ref, "g1") == 0 && doc->session[0].start == 1292542867000000LL,
           "group-ref repeated (schema: group-ref*), the first kept; a time without zone read as UTC");
}

static void test_partial_ext(void)
{
    const char *why;

    siprec_md_clear(model);
    parse(DOC("<session session_id='s'><a:x xmlns:a='urn:a'>1</a:x></session>"
              "<participant participant_id='p'><nameID aor='sip:p@x'/><a:y xmlns:a='urn:a'>2</a:y></participant>"),
          &why);
    tap_ok(siprec_md_merge(model, doc, &why) == SIPREC_OK && model->n_ext == 2, "two extensions");
    parse(DOC("<datamode>partial</datamode><session session_id='s'><a:x xmlns:a='urn:a'>3</a:x></session>"), &why);
    tap_ok(siprec_md_merge(model, doc, &why) == SIPREC_OK && model->n_ext == 2, "session extension replaced");
    tap_ok(slice_eq(siprec_md_ext_bytes(model, 0), SLICE_LIT("<a:y xmlns:a='urn:a'>2</a:y>")) &&
           slice_eq(siprec_md_ext_bytes(model, 1), SLICE_LIT("<a:x xmlns:a='urn:a'>3</a:x>")),
           "the participant's kept, the session's new one after it");
    tap_ok(siprec_md_ext_bytes(model, 2).len == 0, "out of range: empty");
}

static void bad(const char *xml, enum siprec_err want, const char *what)
{
    const char *why = NULL;
    enum siprec_err e = parse(xml, &why);

    tap_ok(e == want && why && why[0] && doc->n_participant == 0 && doc->n_ext == 0, "%s: %s (%s)", what,
           siprec_strerror(e), why ? why : "-");
}

static void test_errors(void)
{
    static char big[SIPREC_MD_MAX_DOC + 64];
    size_t n;

    bad("<recording " NS "><participant participant_id='p'>", SIPREC_E_MD_XML, "truncated");
    bad("", SIPREC_E_MD_XML, "empty");
    bad("<recording " NS "><participant participant_id='p'></nameID></recording>", SIPREC_E_MD_XML, "mismatched tag");
    bad("<!DOCTYPE recording [<!ENTITY a 'b'>]><recording " NS "/>", SIPREC_E_MD_DTD, "DOCTYPE");
    bad("<!DOCTYPE recording SYSTEM 'http://x/y.dtd'><recording " NS "/>", SIPREC_E_MD_DTD, "external DTD");
    bad("<recording/>", SIPREC_E_MD_ROOT, "recording without the namespace");
    bad("<metadata " NS "/>", SIPREC_E_MD_ROOT, "other root");
    bad("<recording xmlns='urn:ietf:params:xml:ns:recording:2'/>", SIPREC_E_MD_ROOT, "other namespace");
    bad(DOC("<participant participant_id='p'/><foo/>"), SIPREC_E_MD_ELEMENT, "unknown element");
    bad(DOC("<label>1</label>"), SIPREC_E_MD_ELEMENT, "label at the top");
    bad(DOC("<participant participant_id='p'><participant participant_id='q'/></participant>"),
        SIPREC_E_MD_ELEMENT, "participant in participant");
    bad(DOC("<datamode>complete</datamode><datamode>partial</datamode>"), SIPREC_E_MD_ELEMENT, "datamode twice");
    bad(DOC("<stream stream_id='a' session_id='s'><label>1</label><label>2</label></stream>"), SIPREC_E_MD_ELEMENT,
        "label twice");
    bad(DOC("<participant participant_id='p'><reason>x</reason></participant>"), SIPREC_E_MD_ELEMENT,
        "reason in a participant");
    bad(DOC("<participant/>"), SIPREC_E_MD_ATTR, "participant without participant_id");
    bad(DOC("<participant participant_id='  '/>"), SIPREC_E_MD_ATTR, "empty participant_id");
    bad(DOC("<stream stream_id='a'/>"), SIPREC_E_MD_ATTR, "stream without session_id");
    bad(DOC("<participant participant_id='p'><nameID/></participant>"), SIPREC_E_MD_ATTR, "nameID without aor or name");
    bad(DOC("<participantsessionassoc participant_id='p'/>"), SIPREC_E_MD_ATTR, "psession without session_id");
    bad(DOC("<group/>"), SIPREC_E_MD_ATTR, "group without group_id");
    bad(DOC("<session/>"), SIPREC_E_MD_ATTR, "session without session_id");
    bad(DOC("<sessionrecordingassoc/>"), SIPREC_E_MD_ATTR, "srecording without session_id");
    bad(DOC("<participantstreamassoc/>"), SIPREC_E_MD_ATTR, "pstream without participant_id");
    bad(DOC("<participant participant_id='p'><nameID aor='a'/></participant><participantstreamassoc participant_id='p'>"
            "<send> </send></participantstreamassoc>"),
        SIPREC_E_MD_ATTR, "empty send");
    bad(DOC("<datamode>full</datamode>"), SIPREC_E_MD_VALUE, "datamode full");
    bad(DOC("<session session_id='s'><start-time>yesterday</start-time></session>"), SIPREC_E_MD_VALUE, "bad time");
    bad(DOC("<session session_id='s'><start-time>2010-02-30T00:00:00Z</start-time></session>"), SIPREC_E_MD_VALUE,
        "February 30");
    bad(DOC("<session session_id='s'><start-time>1969-12-31T23:59:59Z</start-time></session>"), SIPREC_E_MD_VALUE,
        "before 1970");
    bad(DOC("<session session_id='s'><start-time>2010-12-16T23:41:07+1:00</start-time></session>"),
        SIPREC_E_MD_VALUE, "bad offset");
    bad(DOC("<session session_id='s'><start-time>2010-12-16T23:41:07.Z</start-time></session>"),
        SIPREC_E_MD_VALUE, "empty fraction");
    bad(DOC("text<participant participant_id='p'/>"), SIPREC_E_MD_VALUE, "text in recording");
    bad(DOC("<participant participant_id='p'>hello<nameID aor='a'/></participant>"), SIPREC_E_MD_VALUE,
        "text in participant");

    /* bounds */
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS ">");
    for (int i = 0; i <= SIPREC_MD_MAX_PARTICIPANTS; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<participant participant_id='p%d'/>", i);
    snprintf(big + n, sizeof(big) - n, "</recording>");
    bad(big, SIPREC_E_MD_LIMIT, "too many participants");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS ">");
    for (int i = 0; i <= SIPREC_MD_MAX_STREAMS; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<stream stream_id='s%d' session_id='x'/>", i);
    snprintf(big + n, sizeof(big) - n, "</recording>");
    bad(big, SIPREC_E_MD_LIMIT, "too many streams");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS "><participant participant_id='p'>");
    for (int i = 0; i <= SIPREC_MD_MAX_NAMEID; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<nameID aor='sip:%d@x'/>", i);
    snprintf(big + n, sizeof(big) - n, "</participant></recording>");
    bad(big, SIPREC_E_MD_LIMIT, "too many nameID");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS "><participantstreamassoc participant_id='p'>");
    for (int i = 0; i <= SIPREC_MD_MAX_PSTREAM; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<send>s%d</send>", i);
    snprintf(big + n, sizeof(big) - n, "</participantstreamassoc></recording>");
    bad(big, SIPREC_E_MD_LIMIT, "too many send refs");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS "><participant participant_id='");
    memset(big + n, 'a', SIPREC_MD_ID);
    n += SIPREC_MD_ID;
    snprintf(big + n, sizeof(big) - n, "'/></recording>");
    bad(big, SIPREC_E_MD_LIMIT, "id over 127 bytes");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS "><participant participant_id='p'><nameID aor='a'><name>");
    memset(big + n, 'a', 600);
    n += 600;
    snprintf(big + n, sizeof(big) - n, "</name></nameID></participant></recording>");
    bad(big, SIPREC_E_MD_LIMIT, "element text over its bound");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS ">");
    for (int i = 0; i < SIPREC_MD_MAX_DEPTH; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<x:a xmlns:x='urn:x'>");
    bad(big, SIPREC_E_MD_LIMIT, "nested too deep");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS ">");
    for (int i = 0; i <= SIPREC_MD_MAX_EXT_N; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<x:a xmlns:x='urn:x'/>");
    snprintf(big + n, sizeof(big) - n, "</recording>");
    bad(big, SIPREC_E_MD_LIMIT, "too many extensions");
    n = (size_t)snprintf(big, sizeof(big), "<recording " NS "><x:a xmlns:x='urn:x'>");
    for (int i = 0; i < SIPREC_MD_MAX_EXT / 8; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<b>xx</b>");
    snprintf(big + n, sizeof(big) - n, "</x:a></recording>");
    bad(big, SIPREC_E_MD_LIMIT, "extension bytes over 16 KiB");
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bad(big, SIPREC_E_MD_LIMIT, "document over 64 KiB");
    tap_ok(siprec_md_parse("<x/>", 4, NULL, NULL) == SIPREC_E_INVAL, "NULL out");
}

static void test_merge_limit(void)
{
    char xml[256];
    const char *why = NULL;
    enum siprec_err e = SIPREC_OK;

    siprec_md_clear(model);
    for (int i = 0; i <= SIPREC_MD_MAX_PARTICIPANTS && !e; i++) {
        snprintf(xml, sizeof(xml), DOC("<datamode>partial</datamode><participant participant_id='p%d'/>"), i);
        e = parse(xml, &why);
        if (!e)
            e = siprec_md_merge(model, doc, &why);
    }
    tap_ok(e == SIPREC_E_MD_LIMIT && model->n_participant == SIPREC_MD_MAX_PARTICIPANTS,
           "partial updates past the participant bound: %s, model kept", why);
}

int main(int argc, char **argv)
{
    corpus = argc > 1 ? argv[1] : "tests/fuzz/corpus/rsmeta";
    doc = siprec_md_create();
    model = siprec_md_create();
    if (!doc || !model)
        return 1;
    test_rfc7865_example();
    test_rfc8068_updates();
    test_sbc_variant();
    test_partial_ext();
    test_errors();
    test_merge_limit();
    siprec_md_destroy(doc);
    siprec_md_destroy(model);
    return tap_done();
}
