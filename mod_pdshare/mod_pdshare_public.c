/* The public handler (SetHandler pdshare): share pages, their JSON, the
 * play/file/zip routes and the page assets. No authentication: the token
 * in the URL is the credential. */
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_lib.h>

#include "mod_pdshare.h"
#include "mod_pdshare_counter.h"
#include "mod_pdshare_compiled.h"
#include "pds_util.h"
#include "pds_valid.h"
#include "pds_page.h"
#include "pds_crypto.h"
#include "pds_dropbox.h"
#include "pds_visitor.h"
#include "pds_zip.h"
#include <http_core.h>
#include <util_filter.h>

typedef enum { R_PAGE, R_JSON, R_PLAY, R_FILE, R_ZIP, R_ZIP_ALL, R_ASSET, R_SLASH, R_NONE } route_e;

typedef struct {
    route_e kind;
    const char *token;
    const char *a;               /* track id, file id or asset name */
    const char *b;               /* zip category; asset version */
} route_t;

static void parse_route(apr_pool_t *p, const char *path, route_t *rt)
{
    const char *seg[5];
    int n = 0;
    char *copy = apr_pstrdup(p, path + 1), *last, *tok;
    memset(rt, 0, sizeof(*rt));
    rt->kind = R_NONE;
    if (strstr(path, "//")) return;
    if (path[0] && path[1] && path[strlen(path) - 1] == '/') {
        /* "/{token}/" (or "/{token}.json/"): redirected to the page (README). */
        if (strchr(path + 1, '/') != path + strlen(path) - 1) return;
        rt->token = apr_pstrndup(p, path + 1, strlen(path) - 2);
        rt->kind = R_SLASH;
        return;
    }
    for (tok = apr_strtok(copy, "/", &last); tok; tok = apr_strtok(NULL, "/", &last)) {
        if (n == 5) return;
        seg[n++] = tok;
    }
    /* assets/NAME, or assets/VERSION/NAME as the pages link them */
    if ((n == 2 || n == 3) && !strcmp(seg[0], "assets")) {
        const char *name = seg[n - 1];
        apr_size_t len = strlen(name), vlen = n == 3 ? strlen(seg[1]) : 0;
        if (len && len <= 64 && name[0] != '.'
            && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len
            && (n == 2 || (vlen && vlen <= 64 && strspn(seg[1], "0123456789abcdef") == vlen))) {
            rt->kind = R_ASSET;
            rt->a = name;
            rt->b = n == 3 ? seg[1] : NULL;
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
    else if (n == 2 && !strcmp(seg[1], "zip")) rt->kind = R_ZIP_ALL;
}

/* Headers every public answer carries (SPEC §3). The CSP allows our own
 * assets, images from the web and media from the redirect targets; an HTML
 * answer's also allows one inline style block (the producer's theme) by a
 * nonce, made only when HTML is written (page_nonce): a redirect needs none. */
#define CSP_HEAD "default-src 'none'; script-src 'self'; style-src 'self'"
#define CSP_TAIL "; img-src 'self' https: http: data:; media-src 'self' https: http:; " \
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; " \
                 "frame-ancestors 'none'"

static void set_page_headers(request_rec *r)
{
    apr_table_t *h = r->err_headers_out;
    apr_table_setn(h, "Cache-Control", "no-store");
    apr_table_setn(h, "Referrer-Policy", "no-referrer");
    apr_table_setn(h, "X-Content-Type-Options", "nosniff");
    apr_table_setn(h, "X-Robots-Tag", "noindex");
    apr_table_setn(h, "Content-Security-Policy", CSP_HEAD CSP_TAIL);
}

/* The nonce of an HTML answer, and the CSP that names it. */
static const char *page_nonce(request_rec *r)
{
    const char *nonce = pds_random_b64url(r->pool, 16);
    if (!nonce) nonce = "unavailable";
    apr_table_setn(r->err_headers_out, "Content-Security-Policy",
                   apr_pstrcat(r->pool, CSP_HEAD " 'nonce-", nonce, "'" CSP_TAIL, NULL));
    return nonce;
}

/* Data every template sees besides the page model. */
json_t *pdshare_page_data(request_rec *r, json_t *view, const char *nonce)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    json_t *d = view ? json_copy(view) : json_object();
    json_object_set_new(d, "nonce", json_string(nonce));
    /* Versioned asset URLs: a new release of htdocs/assets gets new URLs. */
    json_object_set_new(d, "assets", json_string(apr_pstrcat(r->pool, c->share_path, "/assets",
                                                             c->assets_version ? "/" : "",
                                                             c->assets_version, NULL)));
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
static int send_notice(request_rec *r, int status, const char *kind, const char *title,
                       const char *message, json_t *producer)
{
    json_t *d = pdshare_page_data(r, NULL, page_nonce(r));
    json_object_set_new(d, "status", json_integer(status));
    json_object_set_new(d, "kind", json_string(kind));
    json_object_set_new(d, "title", json_string(title));
    json_object_set_new(d, "message", json_string(message));
    if (producer) json_object_set(d, "producer", producer);
    if (status == HTTP_SERVICE_UNAVAILABLE)
        apr_table_setn(r->err_headers_out, "Retry-After", "300");
    return send_html(r, status, "notice", d);
}

static int send_unavailable(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Retry-After", "30");
    return send_notice(r, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                       "Temporarily unavailable",
                       "This share cannot be opened right now. Please try again in a few minutes.",
                       NULL);
}

/* /s/{token}.json answers its errors in the owner API's error shape. */
static int send_json_error(request_rec *r, int status, const char *code, const char *message)
{
    if (status == HTTP_SERVICE_UNAVAILABLE)
        apr_table_setn(r->err_headers_out, "Retry-After", "30");
    return pdshare_write_json(r, status, pds_json_pool(r->pool, json_pack(
                              "{s:{s:s,s:s}}", "error", "code", code, "message", message)));
}

/* A refusal of the page or its JSON: the friendly page, or the error shape. */
static int send_refusal(request_rec *r, route_e kind, int status, const char *code,
                        const char *title, const char *message)
{
    if (kind == R_JSON) return send_json_error(r, status, code, message);
    return send_notice(r, status, code, title, message, NULL);
}

static int send_unavailable_for(request_rec *r, route_e kind)
{
    if (kind == R_JSON)
        return send_json_error(r, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                               "This share cannot be opened right now. Please try again in a "
                               "few minutes.");
    return send_unavailable(r);
}

static int send_asset(request_rec *r, const char *name, const char *version)
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
    /* The current version's URL never changes what it holds: kept a year. An
     * unversioned URL, or an older version's (a page from before an upgrade,
     * answered now with the new bytes), is kept an hour. */
    apr_table_setn(r->headers_out, "Cache-Control",
                   version && c->assets_version && !strcmp(version, c->assets_version)
                   ? "public, max-age=31536000, immutable" : "public, max-age=3600");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_update_mtime(r, fi.mtime);
    ap_set_last_modified(r);
    ap_set_content_length(r, fi.size);
    if (!r->header_only) ap_send_fd(f, r, 0, (apr_size_t)fi.size, &sent);
    return OK;
}

/* Downloads cannot be had: 503 with Retry-After, and the detail (never a
 * token) in the log. The error's kind says what failed: the database or
 * Dropbox failing (network, 5xx, 429, an unreadable answer) is an incident
 * of that kind, logged once; one producer's connection missing, expired or
 * revoked is that producer's state, seen on their settings page, and
 * logged at info only. */
static int send_dropbox_unavailable(request_rec *r, const pds_err_t *e, int retry_after,
                                    json_t *producer)
{
    const char *why = e->detail ? e->detail : e->message;
    pdshare_incident_t inc = pdshare_incident_of(e->kind);
    if (inc == PDSHARE_INC_DATABASE) {
        pdshare_incident_fail(r, r->server, inc, APLOG_ERR, "PDS00040: download unavailable: %s",
                              why);
        return send_unavailable(r);
    }
    if (inc != PDSHARE_INC_COUNT)
        pdshare_incident_fail(r, r->server, inc, APLOG_WARNING,
                              "PDS00040: download unavailable: %s", why);
    else
        ap_log_rerror(APLOG_MARK, e->kind == PDS_ERR_NOT_CONNECTED ? APLOG_INFO : APLOG_ERR, 0,
                      r, "PDS00040: download unavailable: %s", why);
    send_notice(r, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                "Downloads are unavailable right now",
                "The producer's files cannot be reached at the moment. "
                "Please try again in a few minutes.", producer);
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_itoa(r->pool, retry_after > 0 ? retry_after : 60));
    return OK;
}

typedef struct {
    pds_dbx_env_t *env;
    pds_dbx_session_t *session;      /* NULL: opened on a cache miss */
    const char *owner;
    const char *account_id;          /* of the compiled share */
    pds_err_t *session_failed;       /* no session could be opened */
    const char *path;
    int ttl;
    pds_dbx_res_t res;
} link_fill_t;

/* Ask Dropbox for a temporary link (on a cache miss). */
static apr_status_t fill_link(void *baton, apr_pool_t *p, const char **val, int *ttl)
{
    link_fill_t *f = baton;
    json_t *arg = pds_json_pool(p, json_pack("{s:s}", "path", f->path));
    const char *link;
    if (!f->session) {
        if ((f->session_failed = pds_dbx_session(f->env, f->owner, &f->session)))
            return APR_EGENERAL;
        /* Reconnected to another account since the share was compiled:
         * the next request has the new version. */
        if (strcmp(f->session->account_id, f->account_id)) {
            f->session_failed = pds_err_of(p, PDS_ERR_NOT_CONNECTED, 503, "dropbox_changed",
                                           "the producer's Dropbox connection changed",
                                           "the Dropbox connection changed; try again");
            return APR_EGENERAL;
        }
    }
    if (pds_dbx_session_rpc(f->env, f->session, "files/get_temporary_link", arg, &f->res)
        != APR_SUCCESS)
        return APR_EGENERAL;
    link = json_string_value(json_object_get(f->res.result, "link"));
    if (!link || (strncmp(link, "https://", 8) && strncmp(link, "http://", 7))) {
        f->res.why = "files/get_temporary_link: the answer holds no link";
        f->res.retry_after = 0;
        return APR_EGENERAL;
    }
    *val = link;
    *ttl = f->ttl;
    return APR_SUCCESS;
}

static void log_cache_outage(request_rec *r, const pds_cache_trace_t *t)
{
    if (t->outage || t->outage_why)
        pdshare_incident_fail(r, r->server, PDSHARE_INC_LINKCACHE, APLOG_WARNING,
                              "%s (links come straight from Dropbox meanwhile)",
                              t->outage_why);
    else
        pdshare_incident_ok(r->server, PDSHARE_INC_LINKCACHE);
}

static const char *media_type(const char *format)
{
    static const char *const map[][2] = {
        { "wav", "audio/wav" }, { "mp3", "audio/mpeg" }, { "flac", "audio/flac" },
        { "aif", "audio/aiff" }, { "aiff", "audio/aiff" }, { "m4a", "audio/mp4" },
        { "ogg", "audio/ogg" }, { "oga", "audio/ogg" }, { "opus", "audio/ogg" },
        { "aac", "audio/aac" }, { "zip", "application/zip" }, { NULL, NULL }
    };
    int i;
    for (i = 0; format && map[i][0]; i++) if (!strcasecmp(format, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

/* httpd's MaxRanges for this request: negative for no limit. */
static int max_ranges(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    if (!core || core->max_ranges == AP_MAXRANGES_UNLIMITED) return -1;
    if (core->max_ranges >= 0) return core->max_ranges;
    return 200;                 /* AP_DEFAULT_MAX_RANGES of httpd's byterange filter */
}

/* Whether the answer to this GET of a local file carries its byte 0, and so
 * counts as a download. The Range header is parsed here (RFC 9110) and
 * handed on to httpd's byterange filter in a canonical form (or removed
 * when it is ignored), so what is counted and what is sent cannot differ.
 * The ETag and Last-Modified must already be in headers_out (If-Range). */
static int local_answer_has_first_byte(request_rec *r, apr_off_t size)
{
    const char *range = apr_table_get(r->headers_in, "Range");
    pds_range_t parsed;
    if (!range) range = apr_table_get(r->headers_in, "Request-Range");   /* as httpd does */
    apr_table_unset(r->headers_in, "Request-Range");
    if (!range) return 1;
    if (ap_condition_if_range(r, r->headers_out) == AP_CONDITION_NOMATCH) {
        apr_table_unset(r->headers_in, "Range");            /* a changed file: 200, whole */
        return 1;
    }
    pds_range_parse(r->pool, range, size, max_ranges(r), &parsed);
    if (parsed.kind == PDS_RANGE_WHOLE) apr_table_unset(r->headers_in, "Range");
    else apr_table_setn(r->headers_in, "Range", parsed.header);
    return parsed.first_byte;
}

/* Whether a GET answered by a 302 to Dropbox asks for the file's byte 0:
 * a browser seeking in a track or resuming a download asks this link again
 * with a Range past it, which is the same play or download (SPEC 6). The
 * header goes on to Dropbox unchanged; If-Range is Dropbox's to judge (a
 * resume normally matches). Size unknown: any start past 0 is past it. */
static int redirect_asks_first_byte(request_rec *r, apr_off_t size)
{
    const char *range = apr_table_get(r->headers_in, "Range");
    pds_range_t parsed;
    if (!range) return 1;
    pds_range_parse(r->pool, range, size > 0 ? size : APR_INT64_MAX, -1, &parsed);
    return parsed.first_byte;
}

/* An uploaded file not in Dropbox (yet): served from local storage by httpd
 * itself (sendfile; httpd's byterange filter answers Range requests). It
 * counts when the answer carries the file's first byte: a Range request
 * past it continues a download and is not counted again. */
static int serve_local(request_rec *r, pds_ctx_t *ctx, const char **share,
                       pds_page_file_t *f, const char *kind)
{
    apr_bucket_brigade *bb;
    apr_file_t *fd;
    apr_finfo_t fi;
    char *ascii, *ch;

    if (apr_file_open(&fd, f->local_path, APR_READ | APR_BINARY | APR_SENDFILE_ENABLED, 0,
                      r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME | APR_FINFO_INODE
                             | APR_FINFO_TYPE, fd) != APR_SUCCESS || fi.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00046: the local copy of file %s is"
                      " missing (%s)", f->id, f->local_path);
        return send_unavailable(r);
    }
    ap_set_content_type(r, media_type(f->format));
    /* A file name safe in a header, and the exact one for clients that read filename*. */
    ascii = apr_pstrdup(r->pool, f->name);
    for (ch = ascii; *ch; ch++)
        if ((unsigned char)*ch < 0x20 || (unsigned char)*ch >= 0x7f || *ch == '"' || *ch == '\\'
            || *ch == ';')
            *ch = '_';
    apr_table_setn(r->headers_out, "Content-Disposition", apr_pstrcat(r->pool,
                   !strcmp(kind, "play") ? "inline" : "attachment", "; filename=\"", ascii,
                   "\"; filename*=UTF-8''", pds_form_encode(r->pool, f->name), NULL));
    r->finfo = fi;
    ap_update_mtime(r, fi.mtime);
    ap_set_last_modified(r);
    ap_set_etag(r);
    apr_table_setn(r->headers_out, "Accept-Ranges", "bytes");
    ap_set_content_length(r, fi.size);
    if (r->header_only) return OK;                        /* HEAD never counts */
    if (local_answer_has_first_byte(r, fi.size)
        && pdshare_count(r, ctx, share[SH_ID], f->slot_id, f->id, kind,
                         pds_category_names[f->category]) != APR_SUCCESS) {
        apr_table_clear(r->headers_out);                  /* none of the file's headers */
        return send_unavailable(r);
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, fd, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}

/* play and files: a temporary link for the file, minted behind this
 * redirect (never put into HTML), cached, and the event counted. */
static int redirect_to_file(request_rec *r, pds_ctx_t *ctx,
                            const pdshare_compiled_t *cs, pds_page_file_t *f, const char *kind,
                            json_t *producer)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    const char **share = cs->share;
    link_fill_t fill;
    pds_cache_trace_t trace;
    const char *link, *key;
    apr_status_t rv;
    pds_dbx_session_t *s;
    pds_err_t *e;
    int counted;

    if (!f->dropbox_path && f->local_path)
        return serve_local(r, ctx, share, f, kind);
    memset(&fill, 0, sizeof(fill));
    fill.env = ctx->dbx;
    fill.owner = share[SH_OWNER];
    fill.ttl = c->templink_ttl;
    if (!cs->dbx_configured || !cs->dbx.usable || !cs->dbx.account_id) {
        /* Not configured, not connected or revoked when compiled: the
         * session says which (or, reconnected since, serves). */
        if ((e = pds_dbx_session(ctx->dbx, share[SH_OWNER], &s)))
            return send_dropbox_unavailable(r, e, 0, producer);
        fill.session = s;
        fill.account_id = s->account_id;
        fill.path = apr_pstrcat(r->pool, s->path_prefix, f->dropbox_path, NULL);
    }
    else {
        /* The token is unsealed (pds_dbx_session) only on a cache miss. */
        fill.account_id = cs->dbx.account_id;
        fill.path = apr_pstrcat(r->pool, cs->dbx.path_prefix, f->dropbox_path, NULL);
    }
    key = fill.session || !f->link_key
        ? pdshare_link_key(r->pool, fill.owner, fill.account_id, fill.path)
        : f->link_key;                              /* made when the share was compiled */
    /* No cache only when the in-process one could not be made (logged). */
    rv = c->cache ? pds_cache_fetch(c->cache, r->pool, key, c->total_timeout * 1000, fill_link,
                                    &fill, &link, &trace)
                  : fill_link(&fill, r->pool, &link, &fill.ttl);
    if (c->cache) log_cache_outage(r, &trace);
    if (rv != APR_SUCCESS && fill.session_failed)
        return send_dropbox_unavailable(r, fill.session_failed, 0, producer);
    if (rv == APR_SUCCESS && fill.res.status)
        pdshare_incident_ok(r->server, PDSHARE_INC_DROPBOX);  /* Dropbox answered */
    if (rv != APR_SUCCESS && pds_dbx_path_gone(&fill.res)) {
        /* Dropbox answered: the producer moved or deleted the file. Not an
         * outage, and nothing is cached (a file put back serves again). */
        pdshare_incident_ok(r->server, PDSHARE_INC_DROPBOX);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PDS00110: file %s is no longer in the"
                      " Dropbox of %s: %s", f->id, share[SH_OWNER],
                      fill.res.why ? fill.res.why : "path not found");
        return send_notice(r, HTTP_NOT_FOUND, "gone", "File no longer available",
                           "This file is no longer available: the producer has moved or"
                           " deleted it.", producer);
    }
    if (rv != APR_SUCCESS) {
        /* Dropbox refused the producer's token (refresh answered invalid_grant,
         * or another auth error): that producer's state, not an outage. */
        const pds_err_t *failed = fill.res.status == 401 && !fill.res.transient
            ? pds_err_of(r->pool, PDS_ERR_NOT_CONNECTED, 503, "dropbox_revoked", fill.res.why,
                         "the Dropbox connection was refused")
            : pds_dbx_failed(ctx->dbx, &fill.res);
        return send_dropbox_unavailable(r, failed, fill.res.retry_after, producer);
    }
    /* HEAD never counts, nor a Range past byte 0. */
    counted = !r->header_only && redirect_asks_first_byte(r, f->size);
    if (counted && pdshare_count(r, ctx, share[SH_ID], f->slot_id, f->id, kind,
                                 pds_category_names[f->category]) != APR_SUCCESS)
        return send_unavailable(r);
    apr_table_setn(r->headers_out, "Location", link);
    return HTTP_MOVED_TEMPORARILY;
}

/* ------------------------------------------------------------ ZIPs
 * Composed here from exactly the files the share offers (SPEC §3), each
 * streamed from Dropbox (files/download) or local storage into a pds_zip
 * archive that goes down httpd's output filters as it is made. */

/* Content-Disposition: attachment with an ASCII fallback name and the exact
 * one for clients that read filename* (RFC 6266). */
static const char *attachment(apr_pool_t *p, const char *name)
{
    char *ascii = apr_palloc(p, strlen(name) + 1), *o = ascii;
    const unsigned char *ch;
    for (ch = (const unsigned char *)name; *ch; ch++) {
        if ((*ch & 0xC0) == 0x80) continue;          /* one "_" per non-ASCII character */
        *o++ = *ch < 0x20 || *ch >= 0x7f || *ch == '"' || *ch == '\\' || *ch == ';'
               || *ch == '%' ? '_' : (char)*ch;
    }
    *o = '\0';
    return apr_pstrcat(p, "attachment; filename=\"", ascii, "\"; filename*=UTF-8''",
                       pds_form_encode(p, name), NULL);
}

typedef struct {
    request_rec *r;
    pds_ctx_t *ctx;
    const char **share;
    apr_array_header_t *files;     /* pds_page_file_t *, in the archive's order */
    apr_array_header_t *names;     /* const char *: their entry names */
    const char *filename;          /* of the archive */
    pds_zip_t *zip;
    apr_bucket_brigade *bb;
    apr_off_t pending;
    pds_page_file_t *cur;
    const char *cur_name;
    int entry_open;
    int sent;                      /* counted, and bytes passed to the output filters */
    int not_recorded;              /* the downloads could not be counted: nothing is sent */
} zip_stream_t;

#define ZIP_FLUSH_BYTES (128 * 1024)
#define ZIP_READ_BYTES (64 * 1024)

/* The headers of the answer (GET and HEAD alike). */
static void zip_headers(zip_stream_t *z)
{
    z->r->status = HTTP_OK;
    ap_set_content_type(z->r, "application/zip");
    apr_table_setn(z->r->headers_out, "Content-Disposition", attachment(z->r->pool, z->filename));
}

/* Before the first byte goes out: one download per file the ZIP holds, with
 * its track and category, so per-track and per-type counts stay true. All or
 * none; a failure before this point counts nothing. */
static apr_status_t zip_record(zip_stream_t *z)
{
    pds_event_t *events = apr_pcalloc(z->r->pool, sizeof(*events) * z->files->nelts);
    int i;
    for (i = 0; i < z->files->nelts; i++) {
        pds_page_file_t *f = APR_ARRAY_IDX(z->files, i, pds_page_file_t *);
        events[i].share_id = z->share[SH_ID];
        events[i].track_id = f->slot_id;
        events[i].file_id = f->id;
        events[i].kind = "download";
        events[i].category = pds_category_names[f->category];
    }
    /* One spool record: a torn one counts none of them. */
    if (z->files->nelts
        && pdshare_count_events(z->r, z->ctx, events, z->files->nelts) != APR_SUCCESS) {
        z->not_recorded = 1;
        return APR_EGENERAL;
    }
    zip_headers(z);
    z->sent = 1;
    return APR_SUCCESS;
}

/* Pass what is buffered down the output filters (counting first). */
static apr_status_t zip_pass(zip_stream_t *z, apr_bucket *last)
{
    apr_status_t rv;
    if (!z->sent && (rv = zip_record(z)) != APR_SUCCESS) return rv;
    APR_BRIGADE_INSERT_TAIL(z->bb, last);
    if ((rv = ap_pass_brigade(z->r->output_filters, z->bb)) != APR_SUCCESS) return rv;
    apr_brigade_cleanup(z->bb);
    z->pending = 0;
    return APR_SUCCESS;
}

/* Archive bytes are buffered and go down the output filters with a flush
 * every ZIP_FLUSH_BYTES, so memory stays bounded whatever the size. */
static apr_status_t zip_out(void *baton, const void *data, apr_size_t len)
{
    zip_stream_t *z = baton;
    apr_status_t rv;
    if (z->r->connection->aborted) return APR_ECONNABORTED;
    if ((rv = apr_brigade_write(z->bb, NULL, NULL, data, len)) != APR_SUCCESS) return rv;
    z->pending += len;
    if (z->pending >= ZIP_FLUSH_BYTES)
        return zip_pass(z, apr_bucket_flush_create(z->r->connection->bucket_alloc));
    return APR_SUCCESS;
}

static int zip_entry_begin(zip_stream_t *z, apr_int64_t size)
{
    if (pds_zip_entry_begin(z->zip, z->cur_name, size) != APR_SUCCESS) return 1;
    z->entry_open = 1;
    return 0;
}

/* Dropbox said 200: the size from Dropbox-API-Result (else the one we know)
 * decides whether the entry needs ZIP64 records. */
static int zip_dbx_head(void *baton, int status, apr_table_t *headers)
{
    zip_stream_t *z = baton;
    const char *result = apr_table_get(headers, "Dropbox-API-Result");
    json_t *meta = result ? json_loads(result, 0, NULL) : NULL;
    json_t *size = json_object_get(meta, "size");
    apr_int64_t n = json_is_integer(size) && json_integer_value(size) >= 0
                    ? (apr_int64_t)json_integer_value(size) : z->cur->size ? z->cur->size : -1;
    json_decref(meta);
    return zip_entry_begin(z, n);
}

static int zip_dbx_sink(void *baton, const char *data, apr_size_t len)
{
    zip_stream_t *z = baton;
    return pds_zip_entry_data(z->zip, data, len) != APR_SUCCESS;
}

/* Dropbox's 409 path/not_found: the file is gone (not an outage). */
static int is_not_found(const pds_dbx_res_t *res)
{
    const char *tag = json_string_value(json_object_get(json_object_get(res->error, "path"),
                                                        ".tag"));
    return res->status == 409 && res->tag && !strcmp(res->tag, "path") && tag
        && !strcmp(tag, "not_found");
}

/* One file from local storage. Answers NULL, or why it failed. */
static const char *zip_local_file(zip_stream_t *z, apr_pool_t *p, char *buf)
{
    apr_file_t *fd;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t n;
    if (apr_file_open(&fd, z->cur->local_path, APR_READ | APR_BINARY, 0, p) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, fd) != APR_SUCCESS
        || fi.filetype != APR_REG)
        return apr_psprintf(p, "the local copy of file %s is missing (%s)", z->cur->id,
                            z->cur->local_path);
    if (zip_entry_begin(z, fi.size)) return "output failed";
    do {
        n = ZIP_READ_BYTES;
        rv = apr_file_read(fd, buf, &n);
        if (n && pds_zip_entry_data(z->zip, buf, n) != APR_SUCCESS) return "output failed";
    } while (rv == APR_SUCCESS);
    if (rv != APR_EOF) return apr_psprintf(p, "reading the local copy of file %s failed",
                                           z->cur->id);
    return NULL;
}

enum { ZIP_OK, ZIP_GONE, ZIP_DROPBOX, ZIP_LOCAL, ZIP_OUTPUT };

static int zip_respond(request_rec *r, pds_ctx_t *ctx, const char **share,
                       zip_stream_t *z, json_t *producer)
{
    pds_dbx_session_t *s = NULL;
    pds_dbx_res_t res;
    char *buf = NULL;
    const char *why = NULL;
    int i, failure = ZIP_OK;
    pds_err_t *e;

    z->r = r;
    z->ctx = ctx;
    z->share = share;
    if (r->header_only) {             /* HEAD: no Dropbox, no count */
        zip_headers(z);
        return OK;
    }
    for (i = 0; i < z->files->nelts; i++) {
        pds_page_file_t *f = APR_ARRAY_IDX(z->files, i, pds_page_file_t *);
        if (!f->dropbox_path && !f->local_path)
            return send_notice(r, HTTP_NOT_FOUND, "not_found", "File no longer available",
                               "A file of this download is no longer available.", producer);
        if (f->dropbox_path && !s && (e = pds_dbx_session(ctx->dbx, share[SH_OWNER], &s)))
            return send_dropbox_unavailable(r, e, 0, producer);
    }
    z->zip = pds_zip_create(r->pool, r->request_time, zip_out, z);
    z->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    for (i = 0; i < z->files->nelts && failure == ZIP_OK; i++) {
        apr_pool_t *fp;                 /* one file's allocations, freed after it */
        apr_pool_create(&fp, r->pool);
        z->cur = APR_ARRAY_IDX(z->files, i, pds_page_file_t *);
        z->cur_name = APR_ARRAY_IDX(z->names, i, const char *);
        z->entry_open = 0;
        if (z->cur->dropbox_path) {
            json_t *arg = json_pack("{s:s}", "path", apr_pstrcat(fp, s->path_prefix,
                                                                z->cur->dropbox_path, NULL));
            apr_status_t rv;
            memset(&res, 0, sizeof(res));
            rv = pds_dbx_download(fp, ctx->dbx->dbx, &s->auth, "files/download", arg,
                                  zip_dbx_head, zip_dbx_sink, z, &res);
            json_decref(arg);
            if (z->entry_open || is_not_found(&res))
                pdshare_incident_ok(r->server, PDSHARE_INC_DROPBOX);     /* Dropbox answered */
            if (is_not_found(&res)) failure = ZIP_GONE;
            else if (!z->entry_open) failure = ZIP_DROPBOX;
            else if (rv != APR_SUCCESS) failure = ZIP_OUTPUT;
            if (failure != ZIP_OK)
                why = apr_pstrdup(r->pool, res.why ? res.why : "output failed");
        }
        else {
            if (!buf) buf = apr_palloc(r->pool, ZIP_READ_BYTES);
            if ((why = zip_local_file(z, fp, buf))) {
                failure = z->entry_open ? ZIP_OUTPUT : ZIP_LOCAL;
                why = apr_pstrdup(r->pool, why);
            }
        }
        if (failure == ZIP_OK && pds_zip_entry_end(z->zip) != APR_SUCCESS) {
            failure = ZIP_OUTPUT;
            why = "output failed";
        }
        apr_pool_destroy(fp);
    }
    if (failure == ZIP_OK && (pds_zip_finish(z->zip) != APR_SUCCESS
                              || zip_pass(z, apr_bucket_eos_create(r->connection->bucket_alloc))
                                 != APR_SUCCESS)) {
        failure = ZIP_OUTPUT;
        why = "output failed";
    }
    if (failure == ZIP_OK) return OK;
    if (r->connection->aborted) why = "the visitor went away";
    if (z->not_recorded || !z->sent) {
        /* Nothing has gone out (and nothing is counted): a proper answer. */
        apr_brigade_cleanup(z->bb);
        apr_table_unset(r->headers_out, "Content-Disposition");
        if (z->not_recorded) return send_unavailable(r);
        if (failure == ZIP_GONE) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PDS00101: file %s of a ZIP is gone"
                          " from Dropbox", z->cur->id);
            return send_notice(r, HTTP_NOT_FOUND, "not_found", "File no longer available",
                               "A file of this download is no longer in the producer's Dropbox.",
                               producer);
        }
        if (failure == ZIP_DROPBOX) {
            return send_dropbox_unavailable(r, pds_err_of(r->pool, PDS_ERR_DROPBOX, 503,
                                            "dropbox_unavailable", why, "Dropbox failed"),
                                            res.retry_after, producer);
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00102: ZIP not sent: %s", why);
        return send_unavailable(r);
    }
    /* Bytes are gone: all that is left is to cut the connection. As mod_proxy
     * does for a broken backend, the chunked encoding then ends without its
     * last chunk, so the client sees a broken download. */
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PDS00100: ZIP stream cut: %s", why);
    r->connection->keepalive = AP_CONN_CLOSE;
    apr_brigade_cleanup(z->bb);
    APR_BRIGADE_INSERT_TAIL(z->bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool,
                                                          r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(z->bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, z->bb);
    return OK;
}

/* The files of a ZIP and their entry names: one track's files of one group
 * (track != NULL), or everything the share offers in one folder per track. */
static void zip_select(apr_pool_t *p, pds_page_t *page, pds_page_track_t *track, int group,
                       zip_stream_t *z)
{
    pds_zip_names_t *folders = pds_zip_names_make(p), *names = pds_zip_names_make(p);
    const char *slot = NULL, *folder = NULL;
    int i;
    z->files = apr_array_make(p, page->offered->nelts + 1, sizeof(pds_page_file_t *));
    z->names = apr_array_make(p, page->offered->nelts + 1, sizeof(const char *));
    for (i = 0; i < page->offered->nelts; i++) {
        pds_page_file_t *f = APR_ARRAY_IDX(page->offered, i, pds_page_file_t *);
        const char *name;
        if (track && (strcmp(f->slot_id, track->slot_id)
                      || pds_zip_group_of(f->category) != group))
            continue;
        if (!track && (!slot || strcmp(slot, f->slot_id))) {   /* a new track: its folder */
            pds_page_track_t *t = apr_hash_get(page->tracks, f->slot_id, APR_HASH_KEY_STRING);
            slot = f->slot_id;
            folder = pds_zip_names_take(folders, pds_zip_safe_name(p, t ? t->title : NULL));
            names = pds_zip_names_make(p);
        }
        name = pds_zip_names_take(names, pds_zip_safe_name(p, f->name));
        APR_ARRAY_PUSH(z->files, pds_page_file_t *) = f;
        APR_ARRAY_PUSH(z->names, const char *) = folder ? apr_pstrcat(p, folder, "/", name, NULL)
                                                        : name;
    }
}

/* "/s/{token}/": 301 to the page (or its JSON) without the slash. Only a
 * well-formed token is put into Location; anything else is not found. */
static int redirect_without_slash(request_rec *r, const char *token)
{
    apr_size_t len = strlen(token);
    const char *bare = len > 5 && !strcmp(token + len - 5, ".json")
                       ? apr_pstrndup(r->pool, token, len - 5) : token;
    if (!pds_token_wellformed(bare))
        return send_notice(r, HTTP_NOT_FOUND, "not_found", "Share not found",
                           "This link does not lead to a share. Check that it was copied whole.",
                           NULL);
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, pdshare_location(r), "/", token, NULL));
    return HTTP_MOVED_PERMANENTLY;
}

int pdshare_public_handler(request_rec *r)
{
    const char *path, **share = NULL;
    route_t rt;
    pds_ctx_t *ctx;
    pds_page_t *page = NULL;
    pds_share_head_t head;
    pdshare_compiled_t *cs;
    pds_err_t *e;
    int rc;

    if (!r->handler || strcmp(r->handler, "pdshare")) return DECLINED;
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    if ((rc = ap_discard_request_body(r)) != OK) return rc;

    path = pdshare_route_path(r);
    parse_route(r->pool, path ? path : "", &rt);
    if (rt.kind == R_ASSET) return send_asset(r, rt.a, rt.b);
    set_page_headers(r);
    if (path && !pds_valid_utf8(path, strlen(path)))    /* a token or an id that is not text */
        return send_refusal(r, rt.kind, HTTP_BAD_REQUEST, "invalid_field", "Bad link",
                            "This link is not well-formed. Check that it was copied whole.");
    if (rt.kind == R_SLASH) return redirect_without_slash(r, rt.token);
    if (rt.kind == R_NONE)
        return send_notice(r, HTTP_NOT_FOUND, "not_found", "Share not found",
                           "This link does not lead to a share. Check that it was copied whole.",
                           NULL);

    if (!(ctx = pdshare_ctx(r, NULL))) return send_unavailable_for(r, rt.kind);
    ctx->link_preview = pds_is_link_preview(apr_table_get(r->headers_in, "User-Agent"));
    /* One indexed read decides the answer (revocation and expiry hold on
     * the next request) and whether this child's compiled share is current. */
    switch (pds_share_head(ctx, rt.token, &head)) {
    case PDS_SHARE_OK:
        break;
    case PDS_SHARE_NOT_FOUND:
        return send_refusal(r, rt.kind, HTTP_NOT_FOUND, "not_found", "Share not found",
                            "This link does not lead to a share. Check that it was copied whole.");
    case PDS_SHARE_EXPIRED:
        return send_refusal(r, rt.kind, HTTP_GONE, "expired", "This link has expired",
                            "The link has expired. Ask the producer for a new one.");
    case PDS_SHARE_REVOKED:
        return send_refusal(r, rt.kind, HTTP_GONE,
                            rt.kind == R_JSON ? "revoked" : "disabled",
                            "This share has been disabled", "The producer has disabled this share.");
    case PDS_SHARE_ERROR:
    default:
        pdshare_incident_fail(r, r->server, PDSHARE_INC_DATABASE, APLOG_ERR,
                              "PDS00031: looking up share %s: %s",
                              pds_token_for_log(r->pool, rt.token), ctx->db->last_error);
        return send_unavailable_for(r, rt.kind);
    }
    if (!(cs = pdshare_compiled_get(r, ctx, &head, &e))) {
        pdshare_incident_t inc = pdshare_incident_of(e->kind);
        if (e->kind == PDS_ERR_NOT_FOUND)          /* deleted since its head was read */
            return send_refusal(r, rt.kind, HTTP_NOT_FOUND, "not_found",
                                "Share not found", "This link does not lead to a share."
                                " Check that it was copied whole.");
        if (inc < PDSHARE_INC_COUNT)
            pdshare_incident_fail(r, r->server, inc, APLOG_ERR, "PDS00032: building share %s: %s",
                                  pds_token_for_log(r->pool, rt.token),
                                  e->detail ? e->detail : e->message);
        else
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00032: building share %s: %s",
                          pds_token_for_log(r->pool, rt.token), e->detail ? e->detail : e->message);
        return send_unavailable_for(r, rt.kind);
    }
    share = cs->share;
    page = cs->page;
    if (rt.kind == R_PAGE) {
        apr_bucket_brigade *bb;
        const char *nonce;
        /* Count first: a view that cannot be recorded is not answered 200. A
         * link-preview fetcher's is recorded as a preview (pds_event_record). */
        if (!r->header_only
            && pdshare_count(r, ctx, share[SH_ID], NULL, NULL, "view", NULL) != APR_SUCCESS)
            return send_unavailable(r);
        nonce = page_nonce(r);
        ap_set_content_type(r, "text/html; charset=utf-8");
        ap_set_content_length(r, pdshare_compiled_page_len(cs, nonce));
        if (r->header_only) return OK;
        bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
        pdshare_compiled_page(r, cs, nonce, bb);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
        return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS || r->connection->aborted
               ? OK : AP_FILTER_ERROR;
    }
    if (rt.kind == R_JSON) {
        apr_bucket_brigade *bb;
        /* People's JSON fetches are not views; a link preview's is a preview. */
        if (!r->header_only && ctx->link_preview
            && pdshare_count(r, ctx, share[SH_ID], NULL, NULL, "preview", NULL) != APR_SUCCESS)
            return send_unavailable_for(r, rt.kind);
        ap_set_content_type(r, "application/json; charset=utf-8");
        ap_set_content_length(r, cs->json_len);
        if (r->header_only) return OK;
        bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, pdshare_compiled_bucket(r, cs->json, cs->json_len));
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
        return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS || r->connection->aborted
               ? OK : AP_FILTER_ERROR;
    }

    /* play / files / zip: the share must offer what is asked. */
    {
        json_t *producer = NULL;       /* the notices of these routes need no branding */
        if (rt.kind == R_FILE) {
            pds_page_file_t *f = apr_hash_get(page->files, rt.a, APR_HASH_KEY_STRING);
            if (!f)
                return send_notice(r, HTTP_NOT_FOUND, "not_found", "File not found",
                                   "This share does not hold that file.", producer);
            if (!f->permitted)
                return send_notice(r, HTTP_FORBIDDEN, "forbidden", "Download not allowed",
                                   "The producer has not allowed downloads of this kind of file.",
                                   producer);
            return redirect_to_file(r, ctx, cs, f, "download", producer);
        }
        else if (rt.kind == R_PLAY) {
            pds_page_track_t *t = apr_hash_get(page->tracks, rt.a, APR_HASH_KEY_STRING);
            if (!t || !t->preview)
                return send_notice(r, HTTP_NOT_FOUND, "not_found", "Nothing to play",
                                   "This share has no preview for that track.", producer);
            return redirect_to_file(r, ctx, cs, t->preview, "play", producer);
        }
        else if (rt.kind == R_ZIP) {
            pds_page_track_t *t = apr_hash_get(page->tracks, rt.a, APR_HASH_KEY_STRING);
            int group = pds_zip_group(rt.b);
            static const char *const names[PDS_CAT_COUNT] = { "bounces", "bounces", "stems",
                                                              "projects" };
            zip_stream_t z;
            if (group < 0)
                return send_notice(r, HTTP_NOT_FOUND, "not_found", "Not found",
                                   "This share does not hold that folder.", producer);
            /* The share's permission first: it holds for every track. */
            if (!pds_category_permitted(share, group))
                return send_notice(r, HTTP_FORBIDDEN, "forbidden", "Download not allowed",
                                   "The producer has not allowed downloads of these files.",
                                   producer);
            if (!t || !t->offered[group])
                return send_notice(r, HTTP_NOT_FOUND, "not_found", "Nothing to download",
                                   "This share holds no files of this kind for that track.",
                                   producer);
            memset(&z, 0, sizeof(z));
            zip_select(r->pool, page, t, group, &z);
            z.filename = apr_pstrcat(r->pool, t->title && *t->title ? t->title : "download",
                                     " - ", names[group], ".zip", NULL);
            return zip_respond(r, ctx, share, &z, producer);
        }
        else {                                           /* R_ZIP_ALL: "Download all" */
            zip_stream_t z;
            const char *title = share[SH_TITLE];
            if (!page->offered->nelts && apr_hash_count(page->files))
                return send_notice(r, HTTP_FORBIDDEN, "forbidden", "Download not allowed",
                                   "The producer has not allowed downloads of these files.",
                                   producer);
            if (!page->offered->nelts)
                return send_notice(r, HTTP_NOT_FOUND, "not_found", "Nothing to download",
                                   "This share offers no files to download.", producer);
            memset(&z, 0, sizeof(z));
            zip_select(r->pool, page, NULL, 0, &z);
            if (!title || !*title) {
                pds_page_file_t *f = APR_ARRAY_IDX(page->offered, 0, pds_page_file_t *);
                pds_page_track_t *t = apr_hash_get(page->tracks, f->slot_id, APR_HASH_KEY_STRING);
                title = t && t->title ? t->title : "download";
            }
            z.filename = apr_pstrcat(r->pool, title, ".zip", NULL);
            return zip_respond(r, ctx, share, &z, producer);
        }
    }
}
