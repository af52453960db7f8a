#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_api.h"
#include "pds_profile.h"
#include "pds_collaborator.h"
#include "pds_notification.h"
#include "pds_connect.h"
#include "pds_collab.h"
#include "pds_invite.h"
#include "pds_export.h"
#include "pds_db_args.h"

void pds_reply_error(pds_ctx_t *ctx, pds_reply_t *out, const pds_err_t *e)
{
    json_t *err = json_pack("{s:{s:s,s:s}}", "error", "code", e->code, "message", e->message);
    if (!err)   /* a message that is not UTF-8 (it may quote the request) */
        err = json_pack("{s:{s:s,s:s}}", "error", "code", e->code, "message", "the request was refused");
    out->status = e->status;
    out->kind = e->kind;
    out->body = pds_json_pool(ctx->pool, err);
    /* Detail for the log only (never a secret); the kind says what failed. */
    if (!out->log) out->log = e->detail;
}

/* ---------------------------------------------------------------- routing */

/* Split "/a/b/c" into at most max segments; answers the count, or -1 when
 * there are more segments or an empty one. */
static int split_path(apr_pool_t *p, const char *path, const char **seg, int max)
{
    int n = 0;
    const char *s = path;
    if (*s != '/') return -1;
    while (*s == '/' && s[1] == '\0') return 0;
    while (*s) {
        const char *end;
        if (*s != '/') return -1;
        s++;
        end = strchr(s, '/');
        if (!end) end = s + strlen(s);
        if (end == s || n == max) return -1;
        seg[n++] = apr_pstrndup(p, s, end - s);
        s = end;
    }
    return n;
}

/* What the i-th segment of an owner API path is called, for an error. */
static const char *segment_field(const char **seg, int n, int i)
{
    if (i == 1 && !strcmp(seg[0], "tracks")) return "track_id";
    if (i == 1 && !strcmp(seg[0], "shares")) return "share_id";
    if (n > 2 && i == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "collaborators"))
        return "collaborator_id";
    if (n > 2 && i == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload"))
        return "category";
    if (n > 2 && i == 4 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload"))
        return "name";
    return "path";
}

pds_err_t *pds_api_check_text(apr_pool_t *p, const char *path, const char *query)
{
    const char *seg[6];
    int n = 0, i;
    const char *s = path;
    if (!pds_valid_utf8(path, strlen(path))) {
        /* Name the segment: split by hand, split_path wants a well-formed route. */
        while (*s == '/' && n < 6) {
            const char *end = strchr(s + 1, '/');
            if (!end) end = s + strlen(s);
            seg[n++] = apr_pstrndup(p, s + 1, end - s - 1);
            s = end;
        }
        for (i = 0; i < n; i++) {
            if (!pds_valid_utf8(seg[i], strlen(seg[i])))
                return pds_err(p, 400, "invalid_field", "%s: must be valid UTF-8",
                               segment_field(seg, n, i));
        }
        return pds_err(p, 400, "invalid_field", "path: must be valid UTF-8");
    }
    return pds_valid_query(p, query);
}

static const char *query_arg(apr_pool_t *p, const char *query, const char *name)
{
    apr_size_t nl = strlen(name);
    const char *q = query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        apr_size_t len = amp ? (apr_size_t)(amp - q) : strlen(q);
        if (len > nl && !strncmp(q, name, nl) && q[nl] == '=') {
            char *v = apr_pstrndup(p, q + nl + 1, len - nl - 1), *c;
            for (c = v; *c; c++) if (*c == '+') *c = ' ';
            if (pds_url_unescape(v)) return NULL;
            return v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* return_to must be a path on this site: no scheme, no host, no "//". */
static int local_path(const char *s)
{
    return s && s[0] == '/' && s[1] != '/' && s[1] != '\\' && !strchr(s, '\\')
        && !strstr(s, "://") && pds_valid_text(s, 512);
}

/* POST only, with a JSON body: a page of another site can navigate a browser to
 * a GET, or post a form (not JSON), but cannot start a connection. */
static pds_err_t *dropbox_connect(pds_ctx_t *ctx, json_t *body, json_t **res)
{
    static const char *const fields[] = { "return_to", NULL };
    json_t *v = json_object_get(body, "return_to");
    const char *return_to = NULL, *url;
    pds_err_t *e;
    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if (v && !json_is_null(v)) {
        return_to = json_is_string(v) ? json_string_value(v) : NULL;
        if (!return_to || !local_path(return_to))
            return pds_err(ctx->pool, 400, "invalid_field",
                           "return_to: must be a path on this site, like /pd/settings");
    }
    if (!return_to) return_to = apr_pstrcat(ctx->pool, ctx->api_path, "/dropbox", NULL);
    if ((e = pds_dbx_connect_begin(ctx->dbx, ctx->redirect_uri, return_to, &url))) return e;
    *res = json_pack("{s:s}", "authorize_url", url);
    return NULL;
}

static pds_err_t *dropbox_callback(pds_ctx_t *ctx, const char *query, pds_reply_t *out,
                                   json_t **res)
{
    const char *return_to = NULL;
    pds_err_t *e = pds_dbx_connect_finish(ctx->dbx, query_arg(ctx->pool, query, "code"),
                                          query_arg(ctx->pool, query, "state"),
                                          query_arg(ctx->pool, query, "error"), &return_to);
    if (e && !return_to) return e;      /* no valid state: nowhere safe to go back to */
    out->status = 302;
    out->location = apr_pstrcat(ctx->pool, return_to, strchr(return_to, '?') ? "&" : "?",
                                e ? "dropbox=error&reason=" : "dropbox=connected",
                                e ? e->code : "", NULL);
    if (e) {
        *res = json_pack("{s:{s:s,s:s}}", "error", "code", e->code, "message", e->message);
        out->log = e->detail;
    }
    else {
        *res = json_pack("{s:b}", "connected", 1);
        out->warn = ctx->dbx->notice;
    }
    return NULL;
}

#define IS(m) (!strcmp(method, (m)))

static int method_ok(pds_reply_t *out, const char *method, const char *allow)
{
    /* allow is "GET, POST": check membership as a whole word. */
    const char *a = allow;
    apr_size_t n = strlen(method);
    if (!n) {
        out->allow = allow;
        return 0;
    }
    while ((a = strstr(a, method))) {
        if ((a == allow || a[-1] == ' ') && (a[n] == ',' || a[n] == '\0')) return 1;
        a += n;
    }
    out->allow = allow;
    return 0;
}

static void handle_route(pds_ctx_t *ctx, const char *method, const char **seg, int n,
                         const char *query, json_t *body, pds_reply_t *out,
                         pds_err_t **err, json_t **res)
{
    static const char *const no_fields[] = { NULL };    /* a body of {} */
    const char *bucket;
    *err = NULL;
    *res = NULL;
    out->status = 200;

#define ALLOW(list) if (!method_ok(out, method, list)) { \
        *err = pds_err(ctx->pool, 405, "method_not_allowed", "%s is not allowed here; use %s", \
                       method, list); return; }

    if (n == 1 && !strcmp(seg[0], "profile")) {
        ALLOW("GET, PUT");
        *err = IS("GET") ? pds_profile_get(ctx, ctx->user, res) : pds_profile_put(ctx, body, res);
    }
    else if (n == 1 && !strcmp(seg[0], "tracks")) {
        ALLOW("GET, POST");
        if (IS("GET")) {
            bucket = query_arg(ctx->pool, query, "bucket");
            if (!bucket && query && (!strncmp(query, "bucket=", 7) || strstr(query, "&bucket=")))
                *err = pds_err(ctx->pool, 400, "invalid_field",
                               "bucket: not a valid URL-encoded value");
            else *err = pds_track_list(ctx, bucket, res);
        }
        else {
            *err = pds_track_create(ctx, body, res);
            out->status = 201;
        }
    }
    else if (n == 2 && !strcmp(seg[0], "tracks")) {
        ALLOW("GET, PATCH, DELETE");
        if (IS("GET")) {
            const char **row;
            if (!(*err = pds_track_row(ctx, seg[1], &row))) *res = pds_track_json(ctx->pool, row);
        }
        else if (IS("PATCH")) *err = pds_track_patch(ctx, seg[1], body, res);
        else if (!(*err = pds_track_delete(ctx, seg[1]))) out->status = 204;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "files")) {
        ALLOW("GET, POST");
        if (IS("GET")) *err = pds_file_list(ctx, seg[1], res);
        else if (!(*err = pds_file_register(ctx, seg[1], body, res))) out->status = 201;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "collaborators")) {
        ALLOW("GET, POST");
        if (IS("GET"))
            *err = pds_collaborator_list(ctx, seg[1], res);
        else if (!(*err = pds_collaborator_add(ctx, seg[1], body, res))) out->status = 201;
    }
    else if (n == 4 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "collaborators")) {
        ALLOW("PATCH, DELETE");
        if (IS("PATCH")) *err = pds_collaborator_patch(ctx, seg[1], seg[3], body, res);
        else if (!(*err = pds_collaborator_delete(ctx, seg[1], seg[3]))) out->status = 204;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "share-with-collaborators")) {
        ALLOW("POST");
        if (!(*err = pds_collab_share(ctx, seg[1], body, res))) out->status = 202;
    }
    else if (n == 4 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "share-with-collaborators")
             && (!strcmp(seg[3], "retry") || !strcmp(seg[3], "reset"))) {
        ALLOW("POST");
        if ((*err = pds_fields_known(ctx->pool, body, no_fields))) return;
        if (!(*err = pds_collab_retry(ctx, seg[1], !strcmp(seg[3], "reset"), res))) out->status = 202;
    }
    else if (n == 6 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "files")
             && !strcmp(seg[4], "export") && !strcmp(seg[5], "retry")) {
        ALLOW("POST");
        if (!(*err = pds_export_retry(ctx, seg[1], seg[3], body, res))) out->status = 202;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "share-status")) {
        ALLOW("GET");
        *err = pds_collab_status(ctx, seg[1], res);
    }
    else if (n >= 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload")) {
        const char **row;
        if (!(*err = pds_track_row(ctx, seg[1], &row)))
            *err = pds_err(ctx->pool, 503, "not_available",
                           "uploads are not available in this build yet");
    }
    else if (n == 1 && !strcmp(seg[0], "share-with-collaborators")) {
        ALLOW("POST");
        if (!(*err = pds_collab_bulk(ctx, body, res))) out->status = 202;
    }
    else if (n == 1 && !strcmp(seg[0], "shares")) {
        ALLOW("GET, POST");
        if (IS("GET")) *err = pds_share_list(ctx, res);
        else if (!(*err = pds_share_create(ctx, body, res))) out->status = 201;
    }
    else if (n == 2 && !strcmp(seg[0], "shares")) {
        ALLOW("GET, PATCH");
        if (IS("GET")) *err = pds_share_load(ctx, seg[1], 1, res);
        else *err = pds_share_patch(ctx, seg[1], body, res);
    }
    else if (n == 3 && !strcmp(seg[0], "shares") && !strcmp(seg[2], "revoke")) {
        ALLOW("POST");
        if ((*err = pds_fields_known(ctx->pool, body, no_fields))) return;
        *err = pds_share_revoke(ctx, seg[1], res);
    }
    else if (n == 1 && !strcmp(seg[0], "notifications")) {
        ALLOW("GET");
        *err = pds_notification_list(ctx, res);
    }
    else if (n == 1 && !strcmp(seg[0], "invitations")) {
        ALLOW("GET");
        *err = pds_invitation_list(ctx, res);
    }
    else if (n == 3 && !strcmp(seg[0], "invitations")
             && (!strcmp(seg[2], "accept") || !strcmp(seg[2], "decline"))) {
        ALLOW("POST");
        *err = pds_invitation_answer(ctx, seg[1], !strcmp(seg[2], "accept"), body, res);
    }
    else if (n == 1 && !strcmp(seg[0], "dropbox")) {
        ALLOW("GET, DELETE");
        if (IS("GET")) *err = pds_dbx_status(ctx->dbx, res);
        else *err = pds_dbx_disconnect(ctx->dbx, res);
    }
    else if (n == 2 && !strcmp(seg[0], "dropbox") && !strcmp(seg[1], "connect")) {
        ALLOW("POST");
        *err = dropbox_connect(ctx, body, res);
    }
    else if (n == 2 && !strcmp(seg[0], "dropbox") && !strcmp(seg[1], "callback")) {
        ALLOW("GET");
        *err = dropbox_callback(ctx, query, out, res);
    }
    else {
        *err = pds_err(ctx->pool, 404, "not_found", "no such route");
    }
#undef ALLOW
}

void pds_api_handle(pds_ctx_t *ctx, const char *method, const char *path,
                    const char *query, json_t *body, pds_reply_t *out)
{
    const char *seg[6];
    pds_err_t *err;
    json_t *res;
    int n = split_path(ctx->pool, path, seg, 6);

    memset(out, 0, sizeof(*out));
    if (n <= 0) {
        pds_reply_error(ctx, out, pds_err(ctx->pool, 404, "not_found", "no such route"));
        return;
    }
    handle_route(ctx, method, seg, n, query, body, out, &err, &res);
    if (err) {
        json_decref(res);
        pds_reply_error(ctx, out, err);
        return;
    }
    out->body = res ? pds_json_pool(ctx->pool, res) : NULL;
}
