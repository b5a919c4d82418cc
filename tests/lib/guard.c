/** @file guard.c  Guard-page copies for parser tests. */
#include "guard.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct {
    char *base;
    size_t size;
} guard;

const char *guard_copy(const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (len + page - 1) / page * page;
    char *start;

    if (guard.base)
        munmap(guard.base, guard.size);
    guard.size = body + page;
    guard.base = mmap(NULL, guard.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard.base == MAP_FAILED)
        abort();
    if (mprotect(guard.base + body, page, PROT_NONE) != 0)
        abort();
    start = guard.base + body - len;
    if (len)
        memcpy(start, data, len);
    return start;
}
