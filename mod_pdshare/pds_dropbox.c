#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_dropbox.h"

#define MAX_ATTEMPTS 4
#define MAX_JSON_ANSWER (1024 * 1024)

const char *pds_form_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *pds_dbx_arg_header(apr_pool_t *p, json_t *arg)
{
    char *s = arg ? json_dumps(arg, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL, *out, *o;
    const char *c;
    apr_size_t n = 0;
    if (!s) return NULL;
    /* jansson's ASCII mode leaves DEL (0x7F) raw; Dropbox refuses it in a header.
     * In compact JSON it can only stand inside a string, where \u007f means it. */
    for (c = s; *c; c++) n += *c == 0x7f ? 6 : 1;
    out = o = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        if (*c == 0x7f) {
            memcpy(o, "\\u007f", 6);
            o += 6;
        }
        else *o++ = *c;
    }
    *o = '\0';
    free(s);
    return out;
}

/* Write contention is transient wherever a route nests it: create_folder_v2's
 * path, copy_v2's to/from_write, files/upload's path.reason, finish's path. */
static int nested_contention(json_t *v, int depth)
{
    const char *k;
    json_t *sub;
    if (!json_is_object(v) || depth > 4) return 0;
    sub = json_object_get(v, ".tag");
    if (json_is_string(sub) && !strcmp(json_string_value(sub), "too_many_write_operations"))
        return 1;
    json_object_foreach(v, k, sub)
        if (nested_contention(sub, depth + 1)) return 1;
    return 0;
}

/* Errors of a route that mean "later", not "never": no retry now, the job waits. */
static int route_later(const char *route, const char *tag)
{
    return !strcmp(route, "sharing/add_folder_member") && tag
        && (!strcmp(tag, "rate_limit") || !strcmp(tag, "too_many_pending_invites"));
}

static int parse_retry_after(apr_table_t *h, json_t *body)
{
    const char *ra = h ? apr_table_get(h, "Retry-After") : NULL;
    apr_int64_t v;
    if (ra && !pds_parse_int64(ra, 0, 86400, &v)) return (int)v;
    if (body) {
        json_t *e = json_object_get(body, "error");
        json_t *r = json_object_get(e, "retry_after");
        if (json_is_integer(r)) return (int)json_integer_value(r);
    }
    return 0;
}

/* Classify an answer into res. Answers 1 when the call may be tried again. */
static int classify(apr_pool_t *p, const char *route, apr_status_t rv, pds_http_resp_t *r,
                    int want_json, pds_dbx_res_t *res)
{
    json_t *body = NULL;
    const char *ct = r->headers ? apr_table_get(r->headers, "Content-Type") : NULL;

    res->status = r->status;
    res->retry_after = 0;
    res->transient = 0;
    res->tag = NULL;
    res->error = NULL;
    res->result = NULL;
    if (r->status == 0) {
        res->transient = 1;
        res->why = apr_psprintf(p, "%s: no answer from Dropbox (%s)", route,
                                r->timed_out ? "timed out" : r->error ? r->error : "failed");
        return !r->timed_out;
    }
    if (r->body && r->len && ct && !strncasecmp(ct, "application/json", 16))
        body = pds_json_pool(p, json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL));
    if (r->status == 200) {
        if (!want_json) return 0;
        if (!body) {
            res->status = 502;
            res->transient = 1;
            res->why = apr_psprintf(p, "%s: Dropbox answered 200 with a body that is not JSON",
                                    route);
            return 0;
        }
        res->result = body;
        res->why = NULL;
        return 0;
    }
    if (body) {
        json_t *err = json_object_get(body, "error");
        if (json_is_object(err)) {
            json_t *tag = json_object_get(err, ".tag");
            json_t *reason = json_object_get(err, "reason");
            res->error = err;
            if (json_is_string(tag)) res->tag = apr_pstrdup(p, json_string_value(tag));
            else if (json_is_object(reason) && json_is_string(json_object_get(reason, ".tag")))
                res->tag = apr_pstrdup(p, json_string_value(json_object_get(reason, ".tag")));
        }
        else if (json_is_string(err)) {
            res->tag = apr_pstrdup(p, json_string_value(err));       /* OAuth shape */
        }
    }
    res->retry_after = parse_retry_after(r->headers, body);
    res->why = apr_psprintf(p, "%s: Dropbox answered %d%s%s", route, r->status,
                            res->tag ? " " : "", res->tag ? res->tag : "");
    if (r->status == 429 || r->status >= 500
        || (r->status == 409 && nested_contention(res->error, 0))) {
        res->transient = 1;
        return 1;
    }
    if (r->status == 409 && route_later(route, res->tag)) {
        res->transient = 1;
        if (!res->retry_after) res->retry_after = 3600;
    }
    return 0;
}

static void add_auth(apr_pool_t *p, pds_http_req_t *req, const pds_dbx_auth_t *a)
{
    APR_ARRAY_PUSH(req->headers, const char *) =
        apr_pstrcat(p, "Authorization: Bearer ", a->access_token, NULL);
    if (a->path_root)
        APR_ARRAY_PUSH(req->headers, const char *) =
            apr_pstrcat(p, "Dropbox-API-Path-Root: ", a->path_root, NULL);
}

/* The request's headers with the auth headers of a (renewed) put in. */
static void reauth(apr_pool_t *p, pds_http_req_t *req, const pds_dbx_auth_t *a)
{
    apr_array_header_t *old = req->headers;
    int i;
    req->headers = apr_array_make(p, old->nelts + 1, sizeof(const char *));
    add_auth(p, req, a);
    for (i = 0; i < old->nelts; i++) {
        const char *h = APR_ARRAY_IDX(old, i, const char *);
        if (strncasecmp(h, "Authorization:", 14) && strncasecmp(h, "Dropbox-API-Path-Root:", 22))
            APR_ARRAY_PUSH(req->headers, const char *) = h;
    }
}

/* Which renewal an answer asks for (once per kind and call), 0 for none. */
static int renewal(const pds_dbx_auth_t *a, const pds_dbx_res_t *res, int done)
{
    if (!a || !a->renew || !res->tag) return 0;
    if (res->status == 401 && !(done & PDS_DBX_RENEW_TOKEN)
        && (!strcmp(res->tag, "expired_access_token") || !strcmp(res->tag, "invalid_access_token")))
        return PDS_DBX_RENEW_TOKEN;
    if (res->status == 422 && !(done & PDS_DBX_RENEW_ROOT) && !strcmp(res->tag, "invalid_root"))
        return PDS_DBX_RENEW_ROOT;
    return 0;
}

/* Perform with retries inside the deadline; an expired token or a changed
 * root is renewed through a->renew and the call repeated. */
static apr_status_t call(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                         const char *route, pds_http_req_t *req, int want_json,
                         pds_dbx_res_t *res)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(c->total_timeout);
    int attempt, renewed = 0, kind;
    for (attempt = 1; ; attempt++) {
        pds_http_resp_t r;
        apr_interval_time_t left = deadline - apr_time_now(), wait;
        apr_status_t rv;
        int again;
        if (left <= apr_time_from_msec(50)) {
            res->status = 0;
            res->transient = 1;
            res->why = apr_psprintf(p, "%s: no answer within %d s", route, c->total_timeout);
            return APR_TIMEUP;
        }
        req->total_timeout_ms = (int)apr_time_as_msec(left);
        if (req->connect_timeout_ms > req->total_timeout_ms)
            req->connect_timeout_ms = req->total_timeout_ms;
        rv = pds_http_perform(p, req, &r);
        again = classify(p, route, rv, &r, want_json, res);
        if ((kind = renewal(a, res, renewed))) {
            renewed |= kind;
            if (a->renew(a, kind, json_object_get(res->error, "invalid_root"), res))
                return APR_EGENERAL;
            reauth(p, req, a);
            attempt--;                    /* a renewal is no failed attempt */
            continue;
        }
        if (res->status == 200 && rv != APR_SUCCESS)
            res->why = apr_psprintf(p, "%s: the answer broke off: %s", route,
                                    r.error ? r.error : "unknown error");
        if (!again || attempt >= MAX_ATTEMPTS || (req->sink && r.status == 200))
            return res->status == 200 && rv == APR_SUCCESS ? APR_SUCCESS : APR_EGENERAL;
        /* Retry-After when given, else exponential backoff with jitter. */
        if (res->retry_after > 0) {
            wait = apr_time_from_sec(res->retry_after);
        }
        else {
            unsigned char j = 0;
            pds_random(&j, 1);
            wait = apr_time_from_msec((100 << attempt) + j);
        }
        if (apr_time_now() + wait >= deadline - apr_time_from_msec(50)) {
            res->why = apr_psprintf(p, "%s (retry after %d s is past the %d s timeout)",
                                    res->why, res->retry_after, c->total_timeout);
            return APR_EGENERAL;
        }
        apr_sleep(wait);
    }
}

static void base_request(apr_pool_t *p, const pds_dbx_conf_t *c, pds_http_req_t *req)
{
    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->headers = apr_array_make(p, 4, sizeof(const char *));
    req->connect_timeout_ms = c->connect_timeout * 1000;
    req->max_response = MAX_JSON_ANSWER;
}

/* A call that could not even be made (its argument was not built or does
 * not encode: text that is not UTF-8) fails for good, before anything goes
 * out; res is filled, so a caller never reads what was not. */
static apr_status_t no_argument(apr_pool_t *p, const char *route, pds_dbx_res_t *res)
{
    memset(res, 0, sizeof(*res));
    res->why = apr_psprintf(p, "%s: the argument could not be encoded as JSON (text that is"
                            " not UTF-8?)", route);
    return APR_EINVAL;
}

apr_status_t pds_dbx_rpc(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                         const char *route, json_t *arg, pds_dbx_res_t *res)
{
    pds_http_req_t req;
    char *body = NULL;
    memset(res, 0, sizeof(*res));
    /* NULL is the argument of Void routes only: anywhere else it is an
     * argument json_pack could not build, which must not go out as null. */
    if (!arg && strcmp(route, "users/get_current_account") && strcmp(route, "auth/token/revoke")
        && strcmp(route, "users/get_space_usage"))
        return no_argument(p, route, res);
    base_request(p, c, &req);
    req.url = apr_pstrcat(p, c->api_url, "/2/", route, NULL);
    add_auth(p, &req, a);
    /* A Void argument goes as JSON null: a POST without a body would carry
     * curl's form content type, which Dropbox refuses with a 400. */
    body = arg ? json_dumps(arg, JSON_COMPACT) : strdup("null");
    if (!body) return no_argument(p, route, res);
    req.body = apr_pstrdup(p, body);
    req.body_len = strlen(body);
    free(body);
    APR_ARRAY_PUSH(req.headers, const char *) = "Content-Type: application/json";
    return call(p, c, a, route, &req, 1, res);
}

apr_status_t pds_dbx_token(apr_pool_t *p, const pds_dbx_conf_t *c, apr_table_t *form,
                           pds_dbx_res_t *res)
{
    const apr_array_header_t *arr = apr_table_elts(form);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    pds_http_req_t req;
    char *body = "";
    int i;
    memset(res, 0, sizeof(*res));
    base_request(p, c, &req);
    req.url = apr_pstrcat(p, c->api_url, "/oauth2/token", NULL);
    for (i = 0; i < arr->nelts; i++)
        body = apr_pstrcat(p, body, i ? "&" : "", pds_form_encode(p, e[i].key), "=",
                           pds_form_encode(p, e[i].val), NULL);
    req.body = body;
    req.body_len = strlen(body);
    APR_ARRAY_PUSH(req.headers, const char *) = "Content-Type: application/x-www-form-urlencoded";
    return call(p, c, NULL, "oauth2/token", &req, 1, res);
}

apr_status_t pds_dbx_download(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                              const char *route, json_t *arg, pds_http_head_fn on_head,
                              pds_http_sink_fn sink, void *baton, pds_dbx_res_t *res)
{
    pds_http_req_t req;
    const char *hdr = pds_dbx_arg_header(p, arg);
    memset(res, 0, sizeof(*res));
    if (!hdr) return no_argument(p, route, res);
    base_request(p, c, &req);
    req.url = apr_pstrcat(p, c->content_url, "/2/", route, NULL);
    add_auth(p, &req, a);
    APR_ARRAY_PUSH(req.headers, const char *) = apr_pstrcat(p, "Dropbox-API-Arg: ", hdr, NULL);
    /* No body, so no content type (curl would send its form type). */
    APR_ARRAY_PUSH(req.headers, const char *) = "Content-Type:";
    req.sink = sink;
    req.on_head = on_head;
    req.baton = baton;
    return call(p, c, a, route, &req, 0, res);
}

apr_status_t pds_dbx_upload(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                            const char *route, json_t *arg, apr_file_t *file, apr_off_t offset,
                            apr_size_t len, pds_dbx_res_t *res)
{
    pds_http_req_t req;
    const char *hdr = pds_dbx_arg_header(p, arg);
    memset(res, 0, sizeof(*res));
    if (!hdr) return no_argument(p, route, res);
    base_request(p, c, &req);
    req.url = apr_pstrcat(p, c->content_url, "/2/", route, NULL);
    add_auth(p, &req, a);
    APR_ARRAY_PUSH(req.headers, const char *) = apr_pstrcat(p, "Dropbox-API-Arg: ", hdr, NULL);
    /* Upload calls need this type even with an empty body. */
    APR_ARRAY_PUSH(req.headers, const char *) = "Content-Type: application/octet-stream";
    if (len) {
        req.body_file = file;
        req.body_offset = offset;
    }
    else req.body = "";
    req.body_len = len;
    return call(p, c, a, route, &req, 1, res);
}

int pds_dbx_path_gone(const pds_dbx_res_t *res)
{
    json_t *path;
    const char *tag;
    if (res->status != 409 || !res->tag || strcmp(res->tag, "path") || !res->error) return 0;
    path = json_object_get(res->error, "path");
    tag = json_string_value(json_object_get(path, ".tag"));
    return tag && (!strcmp(tag, "not_found") || !strcmp(tag, "not_file"));
}
