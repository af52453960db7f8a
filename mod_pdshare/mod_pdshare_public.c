/* The public handler (SetHandler pdshare): share pages, their JSON, the
 * play/file/zip routes and the page assets. No authentication: the token
 * in the URL is the credential. */
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "mod_pdshare.h"
#include "pds_util.h"
#include "pds_page.h"

typedef enum { R_PAGE, R_JSON, R_PLAY, R_FILE, R_ZIP, R_ASSET, R_NONE } route_e;

typedef struct {
    route_e kind;
    const char *token;
    const char *a;               /* track id, file id or asset name */
    const char *b;               /* zip category */
} route_t;

static void parse_route(apr_pool_t *p, const char *path, route_t *rt)
{
    const char *seg[5];
    int n = 0;
    char *copy = apr_pstrdup(p, path + 1), *last, *tok;
    memset(rt, 0, sizeof(*rt));
    rt->kind = R_NONE;
    if (strstr(path, "//") || (path[0] && path[strlen(path) - 1] == '/' && path[1])) return;
    for (tok = apr_strtok(copy, "/", &last); tok; tok = apr_strtok(NULL, "/", &last)) {
        if (n == 5) return;
        seg[n++] = tok;
    }
    if (n == 2 && !strcmp(seg[0], "assets")) {
        apr_size_t len = strlen(seg[1]);
        if (len && len <= 64 && seg[1][0] != '.'
            && strspn(seg[1], "abcdefghijklmnopqrstuvwxyz0123456789._-") == len) {
            rt->kind = R_ASSET;
            rt->a = seg[1];
        }
        return;
    }
    if (n == 0) return;
    rt->token = seg[0];
    if (n == 1) {
        apr_size_t len = strlen(seg[0]);
        if (len > 5 && !strcmp(seg[0] + len - 5, ".json")) {
            rt->token = apr_pstrndup(p, seg[0], len - 5);
            rt->kind = R_JSON;
        }
        else rt->kind = R_PAGE;
    }
    else if (n == 3 && !strcmp(seg[1], "play")) { rt->kind = R_PLAY; rt->a = seg[2]; }
    else if (n == 3 && !strcmp(seg[1], "files")) { rt->kind = R_FILE; rt->a = seg[2]; }
    else if (n == 4 && !strcmp(seg[1], "zip")) { rt->kind = R_ZIP; rt->a = seg[2]; rt->b = seg[3]; }
}

/* Headers every public answer carries (SPEC §3). The CSP allows our own
 * assets, one inline style block (the producer's theme) by nonce, images
 * from the web and media from the redirect targets. */
static const char *set_page_headers(request_rec *r)
{
    const char *nonce = pds_random_b64url(r->pool, 16);
    apr_table_t *h = r->err_headers_out;
    if (!nonce) nonce = "unavailable";
    apr_table_setn(h, "Cache-Control", "no-store");
    apr_table_setn(h, "Referrer-Policy", "no-referrer");
    apr_table_setn(h, "X-Content-Type-Options", "nosniff");
    apr_table_setn(h, "X-Robots-Tag", "noindex");
    apr_table_setn(h, "Content-Security-Policy", apr_pstrcat(r->pool,
                   "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-", nonce, "'; "
                   "img-src 'self' https: http: data:; media-src 'self' https: http:; "
                   "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'", NULL));
    return nonce;
}

/* Data every template sees besides the page model. */
static json_t *page_data(request_rec *r, json_t *view, const char *nonce)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    json_t *d = view ? json_copy(view) : json_object();
    json_object_set_new(d, "nonce", json_string(nonce));
    json_object_set_new(d, "assets", json_string(apr_pstrcat(r->pool, c->share_path,
                                                             "/assets", NULL)));
    return pds_json_pool(r->pool, d);
}

static int send_html(request_rec *r, int status, const char *tmpl, json_t *data)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    const char *html, *err;
    apr_size_t len;
    if ((err = pds_tmpl_render(r->pool, c->templates, tmpl, data, &html, &len))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00030: template %s: %s", tmpl, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->status = status;
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_set_content_length(r, len);
    if (!r->header_only) ap_rwrite(html, (int)len, r);
    return OK;
}

/* The friendly page for 403/404/410/503. */
static int send_notice(request_rec *r, const char *nonce, int status, const char *kind,
                       const char *title, const char *message, json_t *producer)
{
    json_t *d = page_data(r, NULL, nonce);
    json_object_set_new(d, "status", json_integer(status));
    json_object_set_new(d, "kind", json_string(kind));
    json_object_set_new(d, "title", json_string(title));
    json_object_set_new(d, "message", json_string(message));
    if (producer) json_object_set(d, "producer", producer);
    if (status == HTTP_SERVICE_UNAVAILABLE)
        apr_table_setn(r->err_headers_out, "Retry-After", "300");
    return send_html(r, status, "notice", d);
}

static int send_unavailable(request_rec *r, const char *nonce)
{
    return send_notice(r, nonce, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                       "Temporarily unavailable",
                       "This share cannot be opened right now. Please try again in a few minutes.",
                       NULL);
}

static int send_asset(request_rec *r, const char *name)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    const char *path = apr_pstrcat(r->pool, c->htdocs, "/assets/", name, NULL);
    const char *ext = strrchr(name, '.');
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t sent;
    if (apr_file_open(&f, path, APR_READ | APR_BINARY | APR_SENDFILE_ENABLED, 0, r->pool)
            != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE | APR_FINFO_MTIME, f)
            != APR_SUCCESS || fi.filetype != APR_REG)
        return HTTP_NOT_FOUND;
    if (ext && !strcmp(ext, ".css")) ap_set_content_type(r, "text/css; charset=utf-8");
    else if (ext && !strcmp(ext, ".js")) ap_set_content_type(r, "text/javascript; charset=utf-8");
    else if (ext && !strcmp(ext, ".svg")) ap_set_content_type(r, "image/svg+xml");
    else if (ext && !strcmp(ext, ".png")) ap_set_content_type(r, "image/png");
    else if (ext && !strcmp(ext, ".woff2")) ap_set_content_type(r, "font/woff2");
    else return HTTP_NOT_FOUND;
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=3600");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_update_mtime(r, fi.mtime);
    ap_set_last_modified(r);
    ap_set_content_length(r, fi.size);
    if (!r->header_only) ap_send_fd(f, r, 0, (apr_size_t)fi.size, &sent);
    return OK;
}

int pdshare_public_handler(request_rec *r)
{
    const char *path, *nonce, **share = NULL;
    route_t rt;
    pds_ctx_t *ctx;
    pds_page_t *page = NULL;
    pds_err_t *e;
    int rc;

    if (!r->handler || strcmp(r->handler, "pdshare")) return DECLINED;
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    if ((rc = ap_discard_request_body(r)) != OK) return rc;

    path = pdshare_route_path(r);
    parse_route(r->pool, path ? path : "", &rt);
    if (rt.kind == R_ASSET) return send_asset(r, rt.a);
    nonce = set_page_headers(r);
    if (rt.kind == R_NONE)
        return send_notice(r, nonce, HTTP_NOT_FOUND, "not_found", "Share not found",
                           "This link does not lead to a share. Check that it was copied whole.",
                           NULL);

    if (!(ctx = pdshare_ctx(r, NULL))) return send_unavailable(r, nonce);
    switch (pds_share_by_token(ctx, rt.token, &share)) {
    case PDS_SHARE_OK:
        break;
    case PDS_SHARE_NOT_FOUND:
        return send_notice(r, nonce, HTTP_NOT_FOUND, "not_found", "Share not found",
                           "This link does not lead to a share. Check that it was copied whole.",
                           NULL);
    case PDS_SHARE_EXPIRED:
        return send_notice(r, nonce, HTTP_GONE, "expired", "This link has expired",
                           "The link has expired. Ask the producer for a new one.", NULL);
    case PDS_SHARE_REVOKED:
        return send_notice(r, nonce, HTTP_GONE, "disabled", "This share has been disabled",
                           "The producer has disabled this share.", NULL);
    case PDS_SHARE_ERROR:
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00031: looking up share %s: %s",
                      pds_token_for_log(r->pool, rt.token), ctx->db->last_error);
        return send_unavailable(r, nonce);
    }
    if ((e = pds_page_build(ctx, share, &page))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00032: building share %s: %s",
                      pds_token_for_log(r->pool, rt.token), ctx->db->last_error);
        return send_unavailable(r, nonce);
    }

    if (rt.kind == R_PAGE) {
        json_t *data = page_data(r, page->view, nonce);
        /* Count first: a view that cannot be recorded is not answered 200. */
        if (!r->header_only && (e = pds_event_record(ctx, share[SH_ID], NULL, NULL, "view", NULL))) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00033: recording a view of share "
                          "%s: %s", pds_token_for_log(r->pool, rt.token), ctx->db->last_error);
            return send_unavailable(r, nonce);
        }
        return send_html(r, HTTP_OK, "share", data);
    }
    if (rt.kind == R_JSON) {
        char *text = json_dumps(page->view, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!text) return HTTP_INTERNAL_SERVER_ERROR;
        ap_set_content_type(r, "application/json; charset=utf-8");
        ap_set_content_length(r, strlen(text));
        if (!r->header_only) ap_rputs(text, r);
        free(text);
        return OK;
    }

    /* play / files / zip: the share must offer what is asked. */
    {
        json_t *producer = json_object_get(page->view, "producer");
        if (rt.kind == R_FILE) {
            pds_page_file_t *f = apr_hash_get(page->files, rt.a, APR_HASH_KEY_STRING);
            if (!f)
                return send_notice(r, nonce, HTTP_NOT_FOUND, "not_found", "File not found",
                                   "This share does not hold that file.", producer);
            if (!f->permitted)
                return send_notice(r, nonce, HTTP_FORBIDDEN, "forbidden", "Download not allowed",
                                   "The producer has not allowed downloads of this kind of file.",
                                   producer);
        }
        else if (rt.kind == R_PLAY) {
            pds_page_track_t *t = apr_hash_get(page->tracks, rt.a, APR_HASH_KEY_STRING);
            if (!t || !t->preview)
                return send_notice(r, nonce, HTTP_NOT_FOUND, "not_found", "Nothing to play",
                                   "This share has no preview for that track.", producer);
        }
        else {
            pds_page_track_t *t = apr_hash_get(page->tracks, rt.a, APR_HASH_KEY_STRING);
            int group = pds_zip_group(rt.b);
            if (!t || group < 0)
                return send_notice(r, nonce, HTTP_NOT_FOUND, "not_found", "Not found",
                                   "This share does not hold that folder.", producer);
            if (!pds_category_permitted(share, group))
                return send_notice(r, nonce, HTTP_FORBIDDEN, "forbidden", "Download not allowed",
                                   "The producer has not allowed downloads of these files.",
                                   producer);
        }
        /* Until the Dropbox connection lands, nothing can be fetched. */
        return send_notice(r, nonce, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                           "Downloads are not available yet",
                           "Downloads and previews are not available on this server yet. "
                           "The share page itself works; please try again later.", producer);
    }
}
