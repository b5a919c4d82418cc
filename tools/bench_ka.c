/** @file bench_ka.c  Keyagent start/stop and subscribers for benchmarks (bench_ka.h). */
#include "bench_ka.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

pid_t bench_ka_start(const char *keyagent, const char *dir, const char *certs,
                     const char *conf_extra, char *sock, size_t socklen, unsigned *port)
{
    char conf[600], path[600], buf[32];
    FILE *f;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/port", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/disclosure.log", dir);
    unlink(path);
    snprintf(conf, sizeof(conf), "%s/ka.conf", dir);
    snprintf(sock, socklen, "%s/ka.sock", dir);
    f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "[keyagent]\nlisten = 127.0.0.1:0\nentity = sip:keyagent@example.net\n"
               "tls-cert = %s/keyagent.crt\ntls-key = %s/keyagent.key\ntls-ca = %s/ca.crt\n"
               "control-socket = %s\ndisclosure-log = %s/disclosure.log\nport-file = %s/port\n"
               "log-level = warn\n%s",
            certs, certs, certs, sock, dir, dir, conf_extra);
    fclose(f);
    pid = fork();
    if (pid == 0) {
        char arg[700];
        snprintf(arg, sizeof(arg), "--config=%s", conf);
        snprintf(path, sizeof(path), "%s/ka.log", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        execl(keyagent, keyagent, arg, (char *)NULL);
        _exit(127);
    }
    snprintf(path, sizeof(path), "%s/port", dir);
    for (int i = 0; pid > 0 && i < 200; i++) {
        struct stat st;
        f = fopen(path, "r");
        if (f && fgets(buf, sizeof(buf), f) && stat(sock, &st) == 0) {
            uint64_t v;
            fclose(f);
            buf[strcspn(buf, "\r\n")] = '\0';
            if (slice_to_u64(slice_cstr(buf), 65535, &v)) {
                *port = (unsigned)v;
                return pid;
            }
        } else if (f) {
            fclose(f);
        }
        usleep(50000);
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

void bench_ka_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int bench_ka_connect(struct sipev_conn **conn, SSL_CTX *ctx, unsigned port, sipev_msg_fn *on_msg,
                     void *arg)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sipev_conn_cfg cc = { .tls = ctx, .on_msg = on_msg, .arg = arg };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cc.fd = fd;
    if (sipev_conn_create(conn, &cc) != SR_OK) {
        close(fd);
        return -1;
    }
    return 0;
}

void bench_ka_subscribe(struct sipev_conn *conn, const char *from, const char *contact,
                        const char *call_id_prefix, unsigned idx)
{
    struct sipev_extra_hdr extra[3] = {
        { "Event", SIPEV_EVENT_PACKAGE }, { "Expires", "600" }, { "Accept", SIPEV_KEYBODY_TYPE } };
    struct sipev_req r = { 0 };
    char branch[40] = "z9hG4bK", call_id[64], tag[16];
    struct buf out;

    sipev_random_token(branch + 7, sizeof(branch) - 7);
    snprintf(call_id, sizeof(call_id), "%s-%u@127.0.0.1", call_id_prefix, idx);
    snprintf(tag, sizeof(tag), "t%u", idx);
    r.method = "SUBSCRIBE";
    r.ruri = "sip:keyagent@example.net";
    r.via_transport = "TLS";
    r.via_host = "127.0.0.1:5999";
    r.branch = branch;
    r.via_alias = true;
    r.from_uri = from;
    r.from_tag = tag;
    r.to_uri = "sip:keyagent@example.net";
    r.call_id = call_id;
    r.cseq = 1;
    r.contact = contact;
    r.extra = extra;
    r.n_extra = 3;
    buf_init(&out, 4096);
    sipev_req_print(&out, &r);
    sipev_conn_send(conn, out.p, out.len);
    buf_fini(&out);
}
