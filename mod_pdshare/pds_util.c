#include <string.h>
#include <stdio.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include <apr_strings.h>
#include <openssl/crypto.h>

#include "pds_util.h"

const char *const pds_category_names[PDS_CAT_COUNT] = { "master", "bounce", "stem", "project" };

int pds_category_from_name(const char *name)
{
    int i;
    if (!name) return -1;
    for (i = 0; i < PDS_CAT_COUNT; i++) {
        if (!strcmp(name, pds_category_names[i])) return i;
    }
    return -1;
}

static pds_err_t *verr(apr_pool_t *p, pds_err_kind_e kind, int status, const char *code,
                       const char *detail, const char *fmt, va_list ap)
{
    pds_err_t *e = apr_palloc(p, sizeof(*e));
    e->status = status;
    e->code = code;
    e->message = apr_pvsprintf(p, fmt, ap);
    e->kind = kind;
    e->detail = detail;
    return e;
}

pds_err_t *pds_err(apr_pool_t *p, int status, const char *code, const char *fmt, ...)
{
    pds_err_t *e;
    pds_err_kind_e kind = status == 404 ? PDS_ERR_NOT_FOUND : status == 409 ? PDS_ERR_CONFLICT
                        : status < 500 ? PDS_ERR_INPUT : PDS_ERR_INTERNAL;
    va_list ap;
    va_start(ap, fmt);
    e = verr(p, kind, status, code, NULL, fmt, ap);
    va_end(ap);
    return e;
}

pds_err_t *pds_err_of(apr_pool_t *p, pds_err_kind_e kind, int status, const char *code,
                      const char *detail, const char *fmt, ...)
{
    pds_err_t *e;
    va_list ap;
    va_start(ap, fmt);
    e = verr(p, kind, status, code, detail, fmt, ap);
    va_end(ap);
    return e;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *pds_json_pool(apr_pool_t *p, json_t *j)
{
    if (j) apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

json_t *pds_json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *pds_json_time_or_null(apr_pool_t *p, const char *epoch)
{
    apr_int64_t t;
    if (!epoch || pds_parse_int64(epoch, 0, APR_INT64_MAX, &t)) return json_null();
    return json_string(pds_iso8601(p, t));
}

json_t *pds_json_wrap(const char *key, json_t *arr)
{
    json_t *o = json_object();
    json_object_set_new(o, key, arr);
    return o;
}

const char *pds_iso8601(apr_pool_t *p, apr_int64_t epoch)
{
    struct tm tm;
    time_t t = (time_t)epoch;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return apr_pstrdup(p, buf);
}

apr_int64_t pds_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

apr_status_t pds_random(unsigned char *buf, apr_size_t len)
{
    apr_size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        got += (apr_size_t)n;
    }
    return APR_SUCCESS;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void pds_b64url_encode(char *out, const unsigned char *in, apr_size_t len)
{
    apr_size_t i;
    char *o = out;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        *o++ = b64url[(v >> 18) & 63];
        *o++ = b64url[(v >> 12) & 63];
        *o++ = b64url[(v >> 6) & 63];
        *o++ = b64url[v & 63];
    }
    if (len - i == 1) {
        unsigned v = in[i] << 16;
        *o++ = b64url[(v >> 18) & 63];
        *o++ = b64url[(v >> 12) & 63];
    }
    else if (len - i == 2) {
        unsigned v = (in[i] << 16) | (in[i + 1] << 8);
        *o++ = b64url[(v >> 18) & 63];
        *o++ = b64url[(v >> 12) & 63];
        *o++ = b64url[(v >> 6) & 63];
    }
    *o = '\0';
}

const char *pds_random_b64url(apr_pool_t *p, apr_size_t len)
{
    unsigned char buf[64];
    char *out;
    if (len > sizeof(buf)) return NULL;
    if (pds_random(buf, len) != APR_SUCCESS) return NULL;
    out = apr_palloc(p, (len * 4) / 3 + 4);
    pds_b64url_encode(out, buf, len);
    OPENSSL_cleanse(buf, sizeof(buf));
    return out;
}

const char *pds_new_id(apr_pool_t *p, const char *prefix)
{
    unsigned char buf[8];
    char hex[17];
    int i;
    if (pds_random(buf, sizeof(buf)) != APR_SUCCESS) return NULL;
    for (i = 0; i < 8; i++) {
        static const char h[] = "0123456789abcdef";
        hex[2 * i] = h[buf[i] >> 4];
        hex[2 * i + 1] = h[buf[i] & 15];
    }
    hex[16] = '\0';
    return apr_pstrcat(p, prefix, hex, NULL);
}

int pds_ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    /* Compare over the expected length; a length mismatch still costs the
     * same time as a full comparison. */
    int diff = CRYPTO_memcmp(a, la == lb ? b : a, la);
    return la == lb && diff == 0;
}

void pds_html_escape_to(apr_pool_t *p, apr_array_header_t *out, const char *s, apr_size_t len)
{
    apr_size_t i;
    for (i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '`': rep = "&#96;"; break;
        case '=': rep = "&#61;"; break;
        }
        if (rep) {
            for (; *rep; rep++) *(char *)apr_array_push(out) = *rep;
        }
        else {
            *(char *)apr_array_push(out) = s[i];
        }
    }
}

const char *pds_html_escape(apr_pool_t *p, const char *s)
{
    apr_array_header_t *a;
    apr_size_t len;
    if (!s) return "";
    len = strlen(s);
    if (strcspn(s, "&<>\"'`=") == len) return s;
    a = apr_array_make(p, (int)(len + 32), 1);
    pds_html_escape_to(p, a, s, len);
    *(char *)apr_array_push(a) = '\0';
    return a->elts;
}

int pds_parse_int64(const char *s, apr_int64_t min, apr_int64_t max, apr_int64_t *out)
{
    char *end;
    apr_int64_t v;
    if (!s || !*s) return -1;
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) return -1;
    errno = 0;
    v = (apr_int64_t)strtoll(s, &end, 10);
    if (errno || *end) return -1;
    if (v < min || v > max) return -1;
    *out = v;
    return 0;
}

const char *pds_token_new(apr_pool_t *p)
{
    return pds_random_b64url(p, PDS_TOKEN_BYTES);
}

int pds_token_wellformed(const char *t)
{
    size_t n;
    if (!t) return 0;
    n = strspn(t, b64url);
    return n == PDS_TOKEN_LEN && t[n] == '\0';
}

const char *pds_token_selector(apr_pool_t *p, const char *token)
{
    return apr_pstrndup(p, token, PDS_TOKEN_SELECTOR_LEN);
}

const char *pds_token_for_log(apr_pool_t *p, const char *token)
{
    if (!token) return "-";
    return apr_psprintf(p, "%.6s...", token);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pds_url_unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            if (lo < 0) return -1;
            c = (unsigned char)(hi * 16 + lo);
            s += 2;
        }
        if (c < 0x20 || c == 0x7f) return -1;
        *o++ = (char)c;
    }
    *o = '\0';
    return 0;
}

const char *pds_lower(apr_pool_t *p, const char *s)
{
    char *l = apr_pstrdup(p, s), *c;
    for (c = l; *c; c++) if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    return l;
}
