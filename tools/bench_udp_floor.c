/** @file bench_udp_floor.c  What receiving alone costs: the kernel's UDP
 *  receive path on loopback, measured the way the recorder receives.
 *
 * The recorder's whole cost per packet (tools/bench_capacity.sh) includes
 * the kernel delivering each datagram to it.  This bench isolates that part:
 * a sender thread pinned to one CPU sends 172-byte datagrams (a G.711 SRTP
 * packet with its 10-byte tag) with sendmmsg from 4 sockets, paced at the
 * given rate; a receiver thread pinned to the other CPU reads them with
 * recvmmsg batches of 32 on one socket with SO_RXQ_OVFL and an 8 MiB buffer,
 * as recorder/media.c does, touches the first byte and drops them.  The
 * receiver's own CPU time (RUSAGE_THREAD) over the packets it got is the
 * floor under any receiver on this machine, before parsing, decryption
 * and storage.
 *
 * The sender's burst size matters: each burst wakes the receiver, and a
 * paced sender of many streams sends small bursts.
 *
 *   bench_udp_floor [packets_per_second [seconds [burst]]]   (200000, 5, 32)
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { LEN = 172, BATCH = 32, SENDERS = 4, CAP = 2048 };

struct shared {
    struct sockaddr_in to;
    unsigned long rate, seconds, burst;
    atomic_bool done;
    uint64_t sent, got, drops;
    double rx_cpu_s;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    CPU_ZERO(&set);
    CPU_SET(n > 1 ? cpu : 0, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *receiver(void *arg)
{
    struct shared *sh = arg;
    static uint8_t bufs[BATCH][CAP];
    static union {
        char buf[CMSG_SPACE(sizeof(uint32_t))];
        uint64_t align;
    } ctl[BATCH];
    struct sockaddr_storage names[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1, rcvbuf = 8 << 20;
    struct timeval tv = { 0, 100000 };
    struct rusage r0, r1;
    uint32_t ovfl = 0;
    volatile uint8_t sink = 0;

    pin(0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bind(fd, (struct sockaddr *)&sh->to, sizeof(sh->to)) != 0) {
        perror("bind");
        exit(1);
    }
    getrusage(RUSAGE_THREAD, &r0);
    while (!atomic_load(&sh->done)) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){ bufs[i], CAP };
            memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctl[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
        }
        /* Blocking with a timeout, where the recorder uses epoll: one wake-up
         * per burst either way. */
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &msgs[i].msg_hdr;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL)
                    memcpy(&ovfl, CMSG_DATA(cm), sizeof(ovfl));
            sink ^= bufs[i][0];
        }
        sh->got += (uint64_t)n;
    }
    getrusage(RUSAGE_THREAD, &r1);
    sh->drops = ovfl;
    sh->rx_cpu_s = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                   (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                   (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                   (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    (void)sink;
    close(fd);
    return NULL;
}

static void sender(struct shared *sh)
{
    static uint8_t pkt[LEN];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    int fds[SENDERS];
    uint64_t t0, total = (uint64_t)sh->rate * sh->seconds, step;

    pin(1);
    memset(pkt, 0x5a, sizeof(pkt));
    pkt[0] = 0x80;
    for (int k = 0; k < SENDERS; k++) {
        fds[k] = socket(AF_INET, SOCK_DGRAM, 0);
        if (fds[k] < 0 || connect(fds[k], (struct sockaddr *)&sh->to, sizeof(sh->to)) != 0) {
            perror("sender socket");
            exit(1);
        }
    }
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){ pkt, sizeof(pkt) };
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    step = 1000000000ull * sh->burst / sh->rate; /* ns per burst */
    t0 = now_ns();
    for (uint64_t b = 0; sh->sent < total; b++) {
        uint64_t due = t0 + b * step, now;
        while ((now = now_ns()) < due)
            if (due - now > 50000) {
                struct timespec ts = { 0, (long)(due - now - 20000) };
                nanosleep(&ts, NULL);
            }
        int n = sendmmsg(fds[b % SENDERS], msgs, (unsigned)sh->burst, 0);
        if (n > 0)
            sh->sent += (uint64_t)n;
    }
    for (int k = 0; k < SENDERS; k++)
        close(fds[k]);
}

int main(int argc, char **argv)
{
    struct shared sh = { 0 };
    pthread_t rx;
    socklen_t sl = sizeof(sh.to);
    int probe;

    sh.rate = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    sh.seconds = argc > 2 ? strtoul(argv[2], NULL, 10) : 5;
    sh.burst = argc > 3 ? strtoul(argv[3], NULL, 10) : BATCH;
    if (sh.rate < 1000 || sh.rate > 5000000 || sh.seconds < 1 || sh.seconds > 120 ||
        sh.burst < 1 || sh.burst > BATCH) {
        fprintf(stderr, "usage: %s [packets_per_second 1000..5000000 [seconds 1..120 "
                        "[burst 1..32]]]\n", argv[0]);
        return 2;
    }
    /* A free loopback port: bind to 0, read it back, let it go. */
    sh.to.sin_family = AF_INET;
    sh.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    probe = socket(AF_INET, SOCK_DGRAM, 0);
    if (probe < 0 || bind(probe, (struct sockaddr *)&sh.to, sizeof(sh.to)) != 0 ||
        getsockname(probe, (struct sockaddr *)&sh.to, &sl) != 0) {
        perror("probe");
        return 1;
    }
    close(probe);
    atomic_init(&sh.done, false);
    pthread_create(&rx, NULL, receiver, &sh);
    usleep(100000);
    sender(&sh);
    usleep(300000); /* the queue drains */
    atomic_store(&sh.done, true);
    pthread_join(rx, NULL);
    printf("rate=%lu pps in bursts of %lu for %lu s: sent %llu, received %llu, kernel drops %llu (%.3f %%); "
           "receiver CPU %.3f s = %.3f us/packet (%.0f packets/s per core)\n",
           sh.rate, sh.burst, sh.seconds, (unsigned long long)sh.sent, (unsigned long long)sh.got,
           (unsigned long long)sh.drops, sh.sent ? 100.0 * (double)(sh.sent - sh.got) / (double)sh.sent : 0,
           sh.rx_cpu_s, sh.got ? sh.rx_cpu_s * 1e6 / (double)sh.got : 0,
           sh.rx_cpu_s > 0 ? (double)sh.got / sh.rx_cpu_s : 0);
    return 0;
}
