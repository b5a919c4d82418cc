/** @file test_decap_pcap.c  Decapsulation of pcap files that scapy wrote
 *  (tests/recorder/gen_pcaps.py), read with libpcap's pcap_open_offline:
 *  every frame's verdict, and for each datagram its payload, addresses,
 *  ports, path, VLAN tags and tunnel id, against the generator's JSON
 *  sidecar.  Two implementations agreeing, from the file up.  And every
 *  frame cut at every offset, flush against a guard page, on a second
 *  struct decap: never a datagram, never a held fragment, never a read
 *  past the cut.
 *
 *  test_rec_decap_pcap DIR   (DIR holds <case>.pcap and <case>.json)
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decap.h"
#include "guard.h"
#include "tap.h"

static const char *const cases[] = {
    "plain", "plain6", "vlan", "qinq", "sll", "sll2", "gre", "gre_teb", "erspan2", "erspan3",
    "vxlan", "ip6ext", "ip4frag", "ip6frag", "dup", "noise",
};

static bool addr_is(const struct rec_flow *f, const char *text)
{
    uint8_t want[16] = { 0 };
    if (strchr(text, ':')) {
        if (inet_pton(AF_INET6, text, want) != 1)
            return false;
    } else {
        want[10] = want[11] = 0xff;
        if (inet_pton(AF_INET, text, want + 12) != 1)
            return false;
    }
    return !memcmp(f->addr, want, 16);
}

static uint32_t path_of(json_t *names)
{
    uint32_t bits = 0;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        unsigned b = 0;
        while (b < DECAP_PATH_BITS && strcmp(decap_path_name(1u << b), json_string_value(n)))
            b++;
        bits |= b < DECAP_PATH_BITS ? 1u << b : 1u << 31;
    }
    return bits;
}

/** NULL when u matches the expectation, else what differs. */
static const char *mismatch(const struct decap_udp *u, json_t *e)
{
    const char *hex = json_string_value(json_object_get(e, "payload"));
    json_t *vlan = json_object_get(e, "vlan");

    if (!hex || strlen(hex) != 2 * u->len)
        return "payload length";
    for (size_t i = 0; i < u->len; i++) {
        unsigned b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1 || b != u->payload[i])
            return "payload bytes";
    }
    if (!addr_is(&u->src, json_string_value(json_object_get(e, "src"))) ||
        !addr_is(&u->dst, json_string_value(json_object_get(e, "dst"))))
        return "addresses";
    if (u->src.port != json_integer_value(json_object_get(e, "sport")) ||
        u->dst.port != json_integer_value(json_object_get(e, "dport")))
        return "ports";
    if (u->path != path_of(json_object_get(e, "path")))
        return "path";
    if (u->nvlan != json_array_size(vlan))
        return "VLAN count";
    for (size_t i = 0; i < u->nvlan; i++)
        if (u->vlan[i] != json_integer_value(json_array_get(vlan, i)))
            return "VLAN id";
    if (u->tunnel_id != json_integer_value(json_object_get(e, "tunnel_id")))
        return "tunnel id";
    return NULL;
}

/** Cuts of a frame that come out as a datagram or a held fragment. */
static size_t cuts_taken(struct decap *d, int dlt, const u_char *data, size_t len)
{
    size_t taken = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct decap_udp u;
        const uint8_t *g = (const uint8_t *)guard_copy(data, cut);
        enum decap_verdict v = decap_frame(d, dlt, g, cut, 0, &u);
        taken += v == DECAP_UDP || v == DECAP_NEED_MORE;
    }
    return taken;
}

static void one(const char *dir, const char *name)
{
    char path[4096], err[PCAP_ERRBUF_SIZE];
    json_error_t jerr;
    json_t *root, *frames;
    pcap_t *pc;
    struct decap *d, *dcut = NULL;
    struct decap_cfg cfg = { 0 };
    size_t cuts = 0, cuts_bad = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    size_t n = 0, udp = 0, bad = 0, want_udp = 0;
    const char *first = NULL;
    char firstbuf[128] = "";

    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    root = json_load_file(path, 0, &jerr);
    snprintf(path, sizeof(path), "%s/%s.pcap", dir, name);
    pc = pcap_open_offline(path, err);
    if (!root || !pc || decap_create(&d, &cfg) != SR_OK || decap_create(&dcut, &cfg) != SR_OK) {
        tap_ok(0, "%s: open (%s)", name, root ? err : jerr.text);
        json_decref(root);
        if (pc)
            pcap_close(pc);
        return;
    }
    frames = json_object_get(root, "frames");
    tap_ok(pcap_datalink(pc) == json_integer_value(json_object_get(root, "linktype")),
           "%s: libpcap reads linktype %d", name, pcap_datalink(pc));
    while (pcap_next_ex(pc, &h, &data) == 1) {
        json_t *e = json_array_get(frames, n);
        const char *want = json_string_value(json_object_get(e, "verdict"));
        struct decap_udp u;
        uint64_t now = (uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec;
        enum decap_verdict v = decap_frame(d, pcap_datalink(pc), data, h->caplen, now, &u);
        const char *why = !want ? "no expectation"
                          : strcmp(want, decap_verdict_name(v)) ? "verdict"
                          : v == DECAP_UDP ? mismatch(&u, e) : NULL;
        cuts += h->caplen;
        cuts_bad += cuts_taken(dcut, pcap_datalink(pc), data, h->caplen);
        if (want && !strcmp(want, "udp"))
            want_udp++;
        if (v == DECAP_UDP && !why)
            udp++;
        if (why && !bad++) {
            first = why;
            snprintf(firstbuf, sizeof(firstbuf), "frame %zu: %s (want %s, got %s)", n, first,
                     want ? want : "-", decap_verdict_name(v));
        }
        n++;
    }
    tap_ok(n == json_array_size(frames) && !bad && udp == want_udp && udp > 0,
           "%s: %zu frames, %zu datagrams as scapy wrote them%s%s", name, n, udp, bad ? "; first: " : "",
           firstbuf);
    tap_ok(cuts_bad == 0, "%s: %zu truncations against a guard page, %zu taken", name, cuts, cuts_bad);
    pcap_close(pc);
    decap_destroy(d);
    decap_destroy(dcut);
    json_decref(root);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        one(argv[1], cases[i]);
    return tap_done();
}
