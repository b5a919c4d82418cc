/* ka_ctl SOCKET: send each stdin line to the keyagent's control socket and
 * print its answer ("OK" or "ERR <reason>") on stdout, one per line, so shell
 * tests can drive the control protocol without socat.  Exit 0 unless the
 * connection fails. */
#include <stdio.h>
#include <string.h>

#include "ka.h"

int main(int argc, char **argv)
{
    struct ka_client *c = NULL;
    char line[8192];
    enum sr_err err;

    if (argc != 2) {
        fprintf(stderr, "usage: ka_ctl SOCKET < lines\n");
        return 2;
    }
    err = ka_client_connect(&c, argv[1]);
    if (err) {
        fprintf(stderr, "ka_ctl: connect %s: %s\n", argv[1], sr_strerror(err));
        return 1;
    }
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        err = ka_client_command(c, line);
        if (err == SR_OK)
            printf("OK\n");
        else if (err == SR_ESTATE)
            printf("ERR %s\n", ka_client_error(c));
        else if (err == SR_EINVAL)
            printf("LOCAL-REFUSED\n"); /* the library would not send it (too long) */
        else {
            fprintf(stderr, "ka_ctl: %s\n", sr_strerror(err));
            ka_client_close(c);
            return 1;
        }
        fflush(stdout);
    }
    ka_client_close(c);
    return 0;
}
