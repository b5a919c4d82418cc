/** @file test_api_paths.c  Archive paths from archive-dir and the id; log escaping. */
#include <string.h>

#include "api_priv.h"
#include "tap.h"

int main(void)
{
    char p[64], e[32];
    const char *id = "0123456789abcdef0123456789abcdef";

    tap_ok(api_archive_path("/var/a", slice_cstr(id), p, sizeof(p)) &&
               strcmp(p, "/var/a/0123456789abcdef0123456789abcdef.srec") == 0,
           "dir/id.srec: %s", p);
    tap_ok(api_archive_path("/var/a//", slice_cstr(id), p, sizeof(p)) &&
               strcmp(p, "/var/a/0123456789abcdef0123456789abcdef.srec") == 0,
           "trailing slashes ignored");
    tap_ok(api_archive_path("/", slice_cstr(id), p, sizeof(p)) &&
               strcmp(p, "//0123456789abcdef0123456789abcdef.srec") == 0,
           "root dir kept");
    tap_ok(!api_archive_path("/a", slice_cstr("../../etc/passwd"), p, sizeof(p)),
           "an id that is not 32 hex digits is refused");
    tap_ok(!api_archive_path("/a", slice_cstr("0123456789ABCDEF0123456789ABCDEF"), p, sizeof(p)),
           "upper-case hex refused");
    tap_ok(!api_archive_path("/a", slice_cstr(id), p, 20), "too small a buffer refused");

    tap_ok(strcmp(api_log_escape("sip:a@b", 7, e, sizeof(e)), "sip:a@b") == 0, "plain kept");
    tap_ok(strcmp(api_log_escape("a\nb\x1b[0m", 7, e, sizeof(e)), "a\\x0ab\\x1b[0m") == 0,
           "newline and ESC escaped: %s", e);
    tap_ok(strcmp(api_log_escape("\\\x7f\xff", 3, e, sizeof(e)), "\\x5c\\x7f\\xff") == 0,
           "backslash, DEL, high bytes escaped: %s", e);
    tap_ok(strcmp(api_log_escape("a\0b", 3, e, sizeof(e)), "a\\x00b") == 0, "NUL escaped");
    tap_ok(strcmp(api_log_escape("abc\n", 4, e, 6), "abc") == 0, "cut at a whole escape: %s", e);
    tap_ok(strcmp(api_log_escape("abc", 3, e, 1), "") == 0, "outlen 1: empty");
    return tap_done();
}
