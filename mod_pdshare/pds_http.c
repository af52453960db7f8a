#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <curl/curl.h>

#include "pds_http.h"

static const pds_http_impl_t *impl_in_use;

apr_status_t pds_http_global_init(void)
{
    static int done;
    /* The implementation is chosen here, before any thread runs, so that
     * requests only ever read impl_in_use. */
    if (!impl_in_use) impl_in_use = pds_http_curl();
    if (done) return APR_SUCCESS;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return APR_EGENERAL;
    done = 1;
    return APR_SUCCESS;
}

void pds_http_use(const pds_http_impl_t *impl)
{
    impl_in_use = impl;
}

apr_status_t pds_http_perform(apr_pool_t *p, const pds_http_req_t *req, pds_http_resp_t *resp)
{
    const pds_http_impl_t *impl = impl_in_use ? impl_in_use : pds_http_curl();
    /* Filled whatever the implementation does on its early returns. */
    memset(resp, 0, sizeof(*resp));
    return impl->perform(p, req, resp);
}

typedef struct {
    apr_pool_t *pool;
    CURL *curl;
    const pds_http_req_t *req;
    pds_http_resp_t *resp;
    char *buf;
    apr_size_t cap;
    int streaming;                      /* 2xx answer going to the sink */
    int head_done;
} xfer_t;

typedef struct {
    apr_file_t *f;
    apr_size_t left;
    int failed;
} file_body_t;

static size_t read_file_body(char *buf, size_t size, size_t n, void *baton)
{
    file_body_t *fb = baton;
    apr_size_t want = size * n;
    if (want > fb->left) want = fb->left;
    if (!want) return 0;
    if (apr_file_read_full(fb->f, buf, want, &want) != APR_SUCCESS) {
        fb->failed = 1;
        return CURL_READFUNC_ABORT;
    }
    fb->left -= want;
    return want;
}

static apr_status_t curl_cleanup(void *data)
{
    curl_easy_cleanup((CURL *)data);
    return APR_SUCCESS;
}

static apr_status_t slist_cleanup(void *data)
{
    curl_slist_free_all((struct curl_slist *)data);
    return APR_SUCCESS;
}

static size_t on_header(char *data, size_t size, size_t n, void *baton)
{
    xfer_t *x = baton;
    size_t len = size * n;
    const char *colon;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        apr_table_clear(x->resp->headers);      /* a new answer (e.g. after 100) */
        return len;
    }
    colon = memchr(data, ':', len);
    if (colon) {
        const char *v = colon + 1, *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
        apr_table_addn(x->resp->headers, apr_pstrndup(x->pool, data, colon - data),
                       apr_pstrndup(x->pool, v, end - v));
    }
    return len;
}

/* First body byte: decide between streaming and buffering. */
static int start_body(xfer_t *x)
{
    long code = 0;
    if (x->head_done) return 0;
    x->head_done = 1;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    x->resp->status = (int)code;
    if (x->req->sink && code >= 200 && code < 300) {
        x->streaming = 1;
        if (x->req->on_head && x->req->on_head(x->req->baton, (int)code, x->resp->headers)) {
            x->resp->aborted = 1;
            return -1;
        }
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *baton)
{
    xfer_t *x = baton;
    size_t len = size * n;
    if (start_body(x)) return 0;
    if (x->streaming) {
        if (x->req->sink(x->req->baton, data, len)) {
            x->resp->aborted = 1;
            return 0;
        }
        return len;
    }
    if (x->resp->len + len > x->req->max_response) {
        x->resp->too_large = 1;
        return 0;
    }
    if (x->resp->len + len + 1 > x->cap) {
        apr_size_t cap = x->cap ? x->cap : 4096;
        char *grown;
        while (x->resp->len + len + 1 > cap) cap *= 2;
        grown = apr_palloc(x->pool, cap);
        if (x->resp->len) memcpy(grown, x->buf, x->resp->len);
        x->buf = grown;
        x->cap = cap;
    }
    memcpy(x->buf + x->resp->len, data, len);
    x->resp->len += len;
    return len;
}

static apr_status_t curl_perform(apr_pool_t *p, const pds_http_req_t *req, pds_http_resp_t *resp)
{
    struct curl_slist *hdrs = NULL;
    file_body_t fb = { NULL, 0, 0 };
    xfer_t x;
    CURLcode rc;
    int i;

    memset(resp, 0, sizeof(*resp));
    memset(&x, 0, sizeof(x));
    resp->headers = apr_table_make(p, 8);
    x.pool = p;
    x.req = req;
    x.resp = resp;
    if (!(x.curl = curl_easy_init())) {
        resp->error = "cannot create a curl handle";
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(p, x.curl, curl_cleanup, apr_pool_cleanup_null);
    for (i = 0; req->headers && i < req->headers->nelts; i++)
        hdrs = curl_slist_append(hdrs, APR_ARRAY_IDX(req->headers, i, const char *));
    /* curl adds "Expect: 100-continue" to large POSTs; Dropbox does not need it. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    apr_pool_cleanup_register(p, hdrs, slist_cleanup, apr_pool_cleanup_null);

    curl_easy_setopt(x.curl, CURLOPT_URL, req->url);
    curl_easy_setopt(x.curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(x.curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(x.curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(x.curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(x.curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(x.curl, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    if (req->sink || req->body_file) {
        /* A stream may be long; a stalled one is cut after the timeout. */
        curl_easy_setopt(x.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(x.curl, CURLOPT_LOW_SPEED_TIME,
                         (long)(req->total_timeout_ms + 999) / 1000);
    }
    else {
        curl_easy_setopt(x.curl, CURLOPT_TIMEOUT_MS, (long)req->total_timeout_ms);
    }
    curl_easy_setopt(x.curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x.curl, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(x.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x.curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(x.curl, CURLOPT_USERAGENT, "mod_pdshare/" PDS_VERSION);
    if (!strcmp(req->method, "POST") && req->body_file) {
        apr_off_t at = req->body_offset;
        if (apr_file_seek(req->body_file, APR_SET, &at) != APR_SUCCESS) {
            resp->error = "cannot seek in the file to send";
            return APR_EGENERAL;
        }
        fb.f = req->body_file;
        fb.left = req->body_len;
        curl_easy_setopt(x.curl, CURLOPT_POST, 1L);
        curl_easy_setopt(x.curl, CURLOPT_READFUNCTION, read_file_body);
        curl_easy_setopt(x.curl, CURLOPT_READDATA, &fb);
        curl_easy_setopt(x.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    else if (!strcmp(req->method, "POST")) {
        curl_easy_setopt(x.curl, CURLOPT_POST, 1L);
        curl_easy_setopt(x.curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(x.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    else if (strcmp(req->method, "GET")) {
        curl_easy_setopt(x.curl, CURLOPT_CUSTOMREQUEST, req->method);
    }

    rc = curl_easy_perform(x.curl);
    if (!x.head_done) {
        long code = 0;
        curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &code);
        resp->status = (int)code;
    }
    resp->body = x.buf ? x.buf : apr_pstrdup(p, "");
    if (x.buf) resp->body[resp->len] = '\0';
    if (rc != CURLE_OK) {
        resp->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        resp->error = resp->too_large ? "the answer is larger than allowed"
                    : resp->aborted ? "aborted by the receiver"
                    : apr_pstrdup(p, curl_easy_strerror(rc));
        /* A stream cut midway, or an answer over the cap, keeps its status
         * for the logs; anything else had no usable answer. */
        if (!x.streaming && !resp->too_large) resp->status = 0;
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static const pds_http_impl_t curl_impl = { "curl", curl_perform };

const pds_http_impl_t *pds_http_curl(void)
{
    return &curl_impl;
}
