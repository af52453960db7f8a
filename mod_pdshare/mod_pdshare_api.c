/* The owner API handler (SetHandler pdshare-api): authentication is httpd's
 * (r->user); this reads and checks the request, calls the library and
 * writes the JSON reply. */
#include <string.h>
#include <apr_strings.h>

#include "mod_pdshare.h"
#include "pds_util.h"

#define PDS_MAX_JSON_BODY (256 * 1024)

static int write_error(request_rec *r, int status, const char *code, const char *message)
{
    return pdshare_write_error(r, status, code, message);
}

static int is_json_type(const char *ct)
{
    apr_size_t n = strlen("application/json");
    if (!ct || strncasecmp(ct, "application/json", n)) return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Read the whole body, up to max bytes; -1 when it is larger. */
static int read_body(request_rec *r, apr_size_t max, char **out, apr_size_t *len)
{
    apr_size_t cap = 8192, n = 0;
    char *buf;
    int rc;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) return rc;
    buf = apr_palloc(r->pool, cap);
    if (ap_should_client_block(r)) {
        long got;
        char chunk[HUGE_STRING_LEN];
        while ((got = ap_get_client_block(r, chunk, sizeof(chunk))) > 0) {
            if (n + (apr_size_t)got > max) {
                /* Drain the rest so the connection stays usable. */
                while (ap_get_client_block(r, chunk, sizeof(chunk)) > 0)
                    ;
                return -1;
            }
            if (n + (apr_size_t)got + 1 > cap) {
                char *grown;
                while (n + (apr_size_t)got + 1 > cap) cap *= 2;
                grown = apr_palloc(r->pool, cap);
                memcpy(grown, buf, n);
                buf = grown;
            }
            memcpy(buf + n, chunk, (apr_size_t)got);
            n += (apr_size_t)got;
        }
        if (got < 0) return HTTP_BAD_REQUEST;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return OK;
}

int pdshare_api_handler(request_rec *r)
{
    const char *path, *user = r->user;
    pds_ctx_t *ctx;
    pds_reply_t reply;
    pdshare_incident_t inc;
    json_t *body = NULL;
    int write = 0;

    if (!r->handler || strcmp(r->handler, "pdshare-api")) return DECLINED;
    r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST) | (AP_METHOD_BIT << M_PUT)
               | (AP_METHOD_BIT << M_PATCH) | (AP_METHOD_BIT << M_DELETE);
    path = pdshare_route_path(r);
    if (!path) return write_error(r, HTTP_NOT_FOUND, "not_found", "no such route");
    if (!user || !*user)
        return write_error(r, HTTP_UNAUTHORIZED, "unauthorized",
                           "sign in first: the owner API needs an authenticated producer");
    {
        /* Paths and query values are not checked by jansson: before anything
         * is read, written or stored. */
        pds_err_t *e = pds_api_check_text(r->pool, path, r->args);
        if (e) {
            ap_discard_request_body(r);
            return write_error(r, e->status, e->code, e->message);
        }
    }

    switch (r->method_number) {
    case M_GET:
        break;
    case M_POST: case M_PUT: case M_PATCH:
        write = 1;
        break;
    case M_DELETE:
        break;
    default:
        apr_table_setn(r->err_headers_out, "Allow", "GET, POST, PUT, PATCH, DELETE");
        return write_error(r, HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                           apr_psprintf(r->pool, "%s is not allowed here", r->method));
    }

    if (r->method_number == M_PUT) {
        /* Uploads: a raw body, not JSON. */
        const char *seg[5];
        char *copy = apr_pstrdup(r->pool, path + 1), *last, *tok;
        int n = 0;
        for (tok = apr_strtok(copy, "/", &last); tok && n < 5; tok = apr_strtok(NULL, "/", &last))
            seg[n++] = tok;
        if (n == 5 && !tok && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload")
            && !strstr(path, "//")) {
            if (!(ctx = pdshare_ctx(r, user)))
                return write_error(r, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                                   "the database is not available; try again shortly");
            return pdshare_upload(r, ctx, seg[1], seg[3], seg[4]);
        }
    }
    if (write) {
        char *text;
        apr_size_t len;
        json_error_t jerr;
        int rc;
        if (!is_json_type(apr_table_get(r->headers_in, "Content-Type")))
            return write_error(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                               "send the body as JSON with Content-Type: application/json");
        rc = read_body(r, PDS_MAX_JSON_BODY, &text, &len);
        if (rc == -1)
            return write_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "payload_too_large",
                               apr_psprintf(r->pool, "a JSON body may be at most %d bytes",
                                            PDS_MAX_JSON_BODY));
        if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE)
            return write_error(r, rc, "payload_too_large", "the body is larger than allowed");
        if (rc != OK)
            return write_error(r, HTTP_BAD_REQUEST, "invalid_json", "the body could not be read");
        body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!body)
            return write_error(r, HTTP_BAD_REQUEST, "invalid_json",
                               len ? apr_psprintf(r->pool, "the body is not valid JSON (line %d,"
                                                  " column %d): %s", jerr.line, jerr.column,
                                                  jerr.text)
                                   : "the body is empty; send a JSON object, {} at least");
        pds_json_pool(r->pool, body);
        if (!json_is_object(body))
            return write_error(r, HTTP_BAD_REQUEST, "invalid_json",
                               "the body must be a JSON object");
    }
    else {
        int rc = ap_discard_request_body(r);
        if (rc != OK) return rc;
    }

    if (!(ctx = pdshare_ctx(r, user)))
        return write_error(r, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                           "the database is not available; try again shortly");
    pds_api_handle(ctx, r->method, path, r->args, body, &reply);
    if (reply.allow) apr_table_setn(r->err_headers_out, "Allow", reply.allow);
    if (reply.location) apr_table_setn(r->headers_out, "Location", reply.location);
    /* A 5xx of the database, Dropbox or the link cache is an incident of
     * that kind (the error's kind alone says which), logged once per
     * incident; our own 5xx is an error, the producer's state (Dropbox not
     * connected, expired, revoked) and the rest are info. A write that went
     * through ends a database incident (a read may work while writes still
     * fail: SQLite locked). */
    inc = reply.status >= 500 ? pdshare_incident_of(reply.kind) : PDSHARE_INC_COUNT;
    if (inc != PDSHARE_INC_COUNT)
        pdshare_incident_fail(r, r->server, inc, APLOG_ERR, "PDS00020: %s %s answered %d: %s",
                              r->method, path, reply.status, reply.log ? reply.log : "no detail");
    else if (reply.status >= 500 && reply.kind != PDS_ERR_NOT_CONNECTED)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00020: %s %s answered %d: %s",
                      r->method, path, reply.status, reply.log ? reply.log : "no detail");
    else {
        if (r->method_number != M_GET && reply.status < 500)
            pdshare_incident_ok(r->server, PDSHARE_INC_DATABASE);
        if (reply.log || reply.status >= 500)
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PDS00020: %s %s answered %d: %s",
                          r->method, path, reply.status, reply.log ? reply.log : "no detail");
        if (reply.warn)
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PDS00130: %s %s: %s",
                          r->method, path, reply.warn);
    }
    if (reply.status == HTTP_SERVICE_UNAVAILABLE)
        apr_table_setn(r->err_headers_out, "Retry-After", "30");
    return pdshare_write_json(r, reply.status, reply.body);
}
