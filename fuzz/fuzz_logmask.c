/* The access log's masking (pds_logmask.h) on any request target or URL:
 * the input is what a visitor puts in a request line or a Referer.
 * Properties: no crash or overrun; in the output, the segment after the
 * share path and every code/state/token query value is at most
 * PDS_LOGMASK_KEEP characters and "..." (a longer segment of the input
 * never shows through); the request line form masks the same target. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_logmask.h"

static void check_query(const char *q, const char *in)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (eq) {
            size_t k = eq - q, v = len - k - 1;
            if ((k == 4 && !strncasecmp(q, "code", 4)) || (k == 5 && !strncasecmp(q, "state", 5))
                || (k == 5 && !strncasecmp(q, "token", 5)))
                FZ_CHECK(v >= 3 && v <= PDS_LOGMASK_KEEP + 3 && !memcmp(eq + 1 + v - 3, "...", 3),
                         "a %.*s value shows through: %.200s (from %.200s)", (int)k, q, q, in);
        }
        q = amp ? amp + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    const char *in = fz_strndup(p, data, size), *out, *line, *path, *q;
    size_t i, seg;

    out = pds_logmask_url(p, in, "/s");
    FZ_CHECK(out != NULL, "no output for %.200s", in);
    /* The path: after "scheme://authority" when there is one. */
    path = out;
    q = strstr(out, "://");
    if (q && q < out + strcspn(out, "/?")) path = q + 3 + strcspn(q + 3, "/?");
    i = 0;
    while (path[i] == '/' && path[i + 1] == '/') i++;
    if (!strncmp(path + i, "/s/", 3)) {
        i += 3;
        while (path[i] == '/') i++;
        seg = strcspn(path + i, "/.;?");
        /* A masked token is "AbCdEf..." or "...": the segment stops at the dots. */
        FZ_CHECK(seg <= PDS_LOGMASK_KEEP, "the share token shows through: %.200s (from %.200s)",
                 out, in);
    }
    q = strchr(path, '?');
    if (q) check_query(q + 1, in);

    /* The request line form: the target between the first two spaces. */
    if (!strchr(in, ' ')) {
        line = pds_logmask_request_line(p, apr_pstrcat(p, "GET ", in, " HTTP/1.1", NULL), "/s");
        FZ_CHECK(!strcmp(line, apr_pstrcat(p, "GET ", out, " HTTP/1.1", NULL)),
                 "the request line masks differently: %.200s", line);
    }
    q = strchr(in, '?');
    if (q) check_query(pds_logmask_query(p, q + 1), in);

    fz_pool_done(p);
    return 0;
}
