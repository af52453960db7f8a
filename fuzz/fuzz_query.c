/* Query strings: the whole input is r->args of
 *   GET /tracks?...              (bucket=, percent-decoded, '+' as space)
 *   POST /dropbox/connect        ({"return_to": the decoded return_to=}, must stay on this site)
 *   GET /dropbox/callback?...    (code=, state=, error=)
 * Properties: contracted statuses and shapes; GET /tracks answers 200 or
 * 400, and every track it lists is in the asked bucket; the OAuth routes
 * never redirect off this site: the authorize_url /dropbox/connect answers is
 * the configured authorize URL with our redirect URI, and the callback's 302
 * goes to a local path. */
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_util.h"

/* The decoded value of name= in the query, as a client means it; NULL when
 * absent or not decodable. An independent reading to compare with. */
static const char *arg(apr_pool_t *p, const char *query, const char *name, int *present)
{
    size_t nl = strlen(name);
    const char *q = query;
    *present = 0;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > nl && !strncmp(q, name, nl) && q[nl] == '=') {
            char *v = apr_pstrndup(p, q + nl + 1, len - nl - 1), *c;
            *present = 1;
            for (c = v; *c; c++) if (*c == '+') *c = ' ';
            return pds_url_unescape(v) ? NULL : v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int local(const char *loc)
{
    return loc[0] == '/' && loc[1] != '/' && loc[1] != '\\' && !strchr(loc, '\\')
        && !strstr(loc, "://");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_db();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    const char *query = fz_strndup(p, data, size), *bucket;
    pds_reply_t reply;
    pds_db_t db;
    pds_ctx_t *ctx = fz_ctx(p, FZ_USER, &db);
    json_t *t;
    size_t i;
    int present;

    fz_http_script(p, NULL, 0);

    pds_api_handle(ctx, "GET", "/tracks", query, NULL, &reply);
    fz_check_reply(&reply, "GET", "/tracks");
    FZ_CHECK(reply.status == 200 || reply.status == 400, "GET /tracks?%s answered %d", query,
             reply.status);
    bucket = arg(p, query, "bucket", &present);
    if (reply.status == 200) {
        json_array_foreach(json_object_get(reply.body, "tracks"), i, t) {
            if (!bucket) continue;
            FZ_CHECK(!strcmp(json_string_value(json_object_get(t, "bucket")), bucket),
                     "GET /tracks?%s listed a track of bucket %s", query,
                     json_string_value(json_object_get(t, "bucket")));
        }
        /* The first bucket= decides; one that does not decode is refused. */
        FZ_CHECK(!present || bucket, "GET /tracks?%s: an undecodable bucket was not refused",
                 query);
    }

    {
        const char *rt = arg(p, query, "return_to", &present);
        json_t *body = pds_json_pool(p, rt ? json_pack("{s:s}", "return_to", rt) : json_object());
        if (!body) body = pds_json_pool(p, json_object());   /* not UTF-8: no return_to */
        pds_api_handle(ctx, "POST", "/dropbox/connect", NULL, body, &reply);
    }
    fz_check_reply(&reply, "POST", "/dropbox/connect");
    if (reply.status == 200) {
        const char *st, *url = json_string_value(json_object_get(reply.body, "authorize_url"));
        FZ_CHECK(url && !strncmp(url, fz_dbx_conf.authorize_url,
                                 strlen(fz_dbx_conf.authorize_url)),
                 "connect sent to %.200s", url ? url : "(no authorize_url)");
        /* Come back with this state and the input's code= / error=: the
         * callback then knows return_to, and redirects there. */
        st = strstr(url, "&state=");
        FZ_CHECK(st != NULL, "authorize URL without state: %.200s", url);
        st = apr_pstrndup(p, st + 7, strcspn(st + 7, "&"));
        pds_api_handle(ctx, "GET", "/dropbox/callback",
                       apr_pstrcat(p, "state=", st, "&", query, NULL), NULL, &reply);
        fz_check_reply(&reply, "GET", "/dropbox/callback");
        if (reply.status == 302)
            FZ_CHECK(local(reply.location), "callback redirected off the site: %.200s",
                     reply.location);
    }
    else {
        FZ_CHECK(reply.status == 400, "POST /dropbox/connect (%s) answered %d", query, reply.status);
    }

    pds_api_handle(ctx, "GET", "/dropbox/callback", query, NULL, &reply);
    fz_check_reply(&reply, "GET", "/dropbox/callback");
    if (reply.status == 302)
        FZ_CHECK(local(reply.location), "callback redirected off the site: %.200s",
                 reply.location);

    fz_pool_done(p);
    fz_db_reset_if_changed();
    return 0;
}
