/** @file bench_write_floor.c  What writing alone costs: the kernel's buffered write path for
 *  archive-sized appends, measured the way the archive writer writes.
 *
 * The writer's cost per packet (bench_storage --only=write) includes the
 * kernel copying each flushed chunk into the page cache.  This bench
 * isolates that part: N files in DIR get appending pwrite(2)s of SIZE
 * bytes, round-robin, until about 400,000 records of 187 bytes (a G.711
 * packet in the RTP-in-Ogg mapping) are written; the process's system time
 * per byte is the floor under any writer of the format on this disk.  A
 * two-party call flushed once a second appends ~19 KB per flush; 65536
 * is a whole default chunk.
 *
 *   bench_write_floor DIR [files [size]]   (1, 19000)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { RECORD = 187, RECORDS = 400000, MAX_FILES = 100000, MAX_SIZE = 1 << 24 };

static double sys_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL;
    long files = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
    long size = argc > 3 ? strtol(argv[3], NULL, 10) : 19000;
    size_t total = (size_t)RECORDS * RECORD, done = 0;
    int *fd = NULL, rc = 1;
    off_t *off = NULL;
    char *buf = NULL, path[4096];
    double s0, s1;

    if (!dir || files < 1 || files > MAX_FILES || size < 1 || size > MAX_SIZE) {
        fprintf(stderr, "usage: bench_write_floor DIR [files 1..%d [size 1..%d]]\n", MAX_FILES,
                MAX_SIZE);
        return 2;
    }
    fd = calloc((size_t)files, sizeof(*fd));
    off = calloc((size_t)files, sizeof(*off));
    buf = malloc((size_t)size);
    if (!fd || !off || !buf)
        goto out;
    memset(buf, 0x5a, (size_t)size);
    for (long i = 0; i < files; i++)
        fd[i] = -1;
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof(path), "%s/write-floor-%ld", dir, i);
        fd[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd[i] < 0) {
            fprintf(stderr, "%s: %s\n", path, strerror(errno));
            goto out;
        }
    }
    s0 = sys_s();
    while (done < total)
        for (long i = 0; i < files && done < total; i++) {
            if (pwrite(fd[i], buf, (size_t)size, off[i]) != size) {
                fprintf(stderr, "pwrite: %s\n", strerror(errno));
                goto out;
            }
            off[i] += size;
            done += (size_t)size;
        }
    s1 = sys_s();
    printf("files=%ld write=%ld B: kernel %.3f ns/B = %.3f us per %d-byte record\n", files,
           size, (s1 - s0) * 1e9 / (double)done, (s1 - s0) * 1e6 / (double)done * RECORD,
           RECORD);
    rc = 0;
out:
    for (long i = 0; fd && i < files; i++)
        if (fd[i] >= 0) {
            close(fd[i]);
            snprintf(path, sizeof(path), "%s/write-floor-%ld", dir, i);
            unlink(path);
        }
    free(fd);
    free(off);
    free(buf);
    return rc;
}
