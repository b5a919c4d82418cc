/** @file bench_sip_parse.c  Messages per second through sipev_msg_parse on one core.
 *
 * Usage: bench_sip_parse [iterations]   (default 2,000,000 per message kind)
 * Parses a typical SUBSCRIBE and a typical NOTIFY (with a key body) in a
 * loop from memory and prints the rate for each; CPU time, not wall time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sipev.h"

static const char subscribe[] =
    "SUBSCRIBE sips:keyagent@pbx1.example.net SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK-5d1c8a9f04e2;alias\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sips:recorder@rec1.example.net>;tag=8c1f2a77\r\n"
    "To: <sips:keyagent@pbx1.example.net>\r\n"
    "Call-ID: 4f9e2c1d0b7a@rec1.example.net\r\n"
    "CSeq: 1 SUBSCRIBE\r\n"
    "Contact: <sips:recorder@192.0.2.10:5061;transport=tls>\r\n"
    "Event: srtp\r\n"
    "Accept: application/srtp-keys+xml\r\n"
    "Expires: 3600\r\n"
    "Supported: outbound\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static const char notify[] =
    "NOTIFY sips:recorder@192.0.2.10:5061;transport=tls SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 198.51.100.7:5061;branch=z9hG4bK-77aa01fe3c;alias\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sips:keyagent@pbx1.example.net>;tag=ab12cd34\r\n"
    "To: <sips:recorder@rec1.example.net>;tag=8c1f2a77\r\n"
    "Call-ID: 4f9e2c1d0b7a@rec1.example.net\r\n"
    "CSeq: 7 NOTIFY\r\n"
    "Contact: <sips:keyagent@198.51.100.7:5061;transport=tls>\r\n"
    "Event: srtp\r\n"
    "Subscription-State: active;expires=3541\r\n"
    "Content-Type: application/srtp-keys+xml\r\n"
    "Content-Length: 95\r\n"
    "\r\n"
    "<srtp-keys xmlns=\"urn:srtprec:params:xml:ns:srtp-keys\" version=\"7\" state=\"partial\" "
    "entity=\"x\"/>";

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *name, const char *msg, size_t len, unsigned long iters)
{
    struct sipev_msg m;
    size_t used, total = 0;
    double t0, t1;

    t0 = cpu_s();
    for (unsigned long i = 0; i < iters; i++) {
        if (sipev_msg_parse(msg, len, true, &m, &used, NULL) != SR_OK) {
            fprintf(stderr, "%s does not parse\n", name);
            exit(1);
        }
        total += used + m.n_hdr;
    }
    t1 = cpu_s();
    printf("%-9s %4zu bytes  %10.0f msg/s  %6.1f ns/msg  %7.1f MB/s  (check %zu)\n", name, len,
           (double)iters / (t1 - t0), (t1 - t0) * 1e9 / (double)iters,
           (double)len * (double)iters / (t1 - t0) / 1e6, total % 1000);
}

int main(int argc, char **argv)
{
    unsigned long iters = 2000000;

    if (argc > 1)
        iters = strtoul(argv[1], NULL, 10);
    if (iters == 0)
        iters = 1;
    run("SUBSCRIBE", subscribe, sizeof(subscribe) - 1, iters);
    run("NOTIFY", notify, sizeof(notify) - 1, iters);
    return 0;
}
