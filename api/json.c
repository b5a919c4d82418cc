/** @file json.c  JSON helpers: strings that cannot fail, error bodies. */
#include <stdlib.h>
#include <string.h>

#include "api_priv.h"

json_t *api_json_str(const char *s)
{
    json_t *j;
    char *copy;
    size_t n;

    if (!s)
        s = "";
    j = json_string(s);
    if (j)
        return j;
    /* Index fields come from SIP peers and may not be UTF-8; jansson refuses
     * those, so degrade byte by byte rather than drop the field. */
    n = strlen(s);
    copy = malloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[n] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

char *api_json_error(const char *code, const char *msg, const char *param)
{
    json_t *o = json_object();
    char *text = NULL;

    if (!o)
        return NULL;
    if (json_object_set_new(o, "error", api_json_str(code)) == 0 &&
        json_object_set_new(o, "message", api_json_str(msg)) == 0 &&
        (!param || json_object_set_new(o, "param", api_json_str(param)) == 0))
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}
