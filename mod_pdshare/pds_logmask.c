#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "pds_logmask.h"

/* n bytes of value, masked: a prefix only when the rest stays the larger part. */
static void put_masked(apr_pool_t *p, const char *v, apr_size_t n, char **out, apr_size_t *len)
{
    apr_size_t keep = n > 2 * PDS_LOGMASK_KEEP ? PDS_LOGMASK_KEEP : 0;
    memcpy(*out + *len, v, keep);
    memcpy(*out + *len + keep, "...", 3);
    *len += keep + 3;
}

static int masked_param(const char *k, apr_size_t n)
{
    return (n == 4 && !strncasecmp(k, "code", 4)) || (n == 5 && !strncasecmp(k, "state", 5))
        || (n == 5 && !strncasecmp(k, "token", 5));
}

/* query of n bytes appended to out, the values of masked parameters cut. */
static void put_query(apr_pool_t *p, const char *q, apr_size_t n, char **out, apr_size_t *len)
{
    const char *end = q + n;
    while (q < end) {
        const char *amp = memchr(q, '&', end - q), *eq;
        apr_size_t part = amp ? (apr_size_t)(amp - q) : (apr_size_t)(end - q);
        eq = memchr(q, '=', part);
        if (eq && masked_param(q, eq - q)) {
            memcpy(*out + *len, q, eq - q + 1);
            *len += eq - q + 1;
            put_masked(p, eq + 1, part - (eq - q + 1), out, len);
        }
        else {
            memcpy(*out + *len, q, part);
            *len += part;
        }
        q += part;
        if (amp) {
            (*out)[(*len)++] = '&';
            q++;
        }
    }
}

/* Where the share token starts in path (n bytes), and its length; 0 if none. */
static apr_size_t token_at(const char *path, apr_size_t n, const char *share_path,
                           apr_size_t *at)
{
    apr_size_t sp = strlen(share_path), i = 0, start;
    while (sp && share_path[sp - 1] == '/') sp--;
    while (i + 1 < n && path[i] == '/' && path[i + 1] == '/') i++;      /* "//s/..." */
    if (n - i < sp + 1 || memcmp(path + i, share_path, sp) || path[i + sp] != '/') return 0;
    i += sp;
    while (i < n && path[i] == '/') i++;
    start = i;
    while (i < n && path[i] != '/' && path[i] != '.' && path[i] != ';') i++;
    *at = start;
    return i - start;
}

/* path (n bytes) as httpd maps it to a handler: percent-decoded ("%2F" too,
 * never "%00"), runs of "/" merged, "." and ".." segments resolved. A request
 * for "/%73/TOKEN" or "/x/../s/TOKEN" reaches the share page as "/s/TOKEN"
 * does, so its token is found here. Never longer than path. */
static const char *canonical_path(apr_pool_t *p, const char *path, apr_size_t n,
                                  apr_size_t *len)
{
    char *d = apr_palloc(p, n + 1), *c = apr_palloc(p, n + 2);
    apr_size_t i, m = 0, k = 0;
    for (i = 0; i < n; i++) {
        if (path[i] == '%' && i + 2 < n
            && apr_isxdigit(path[i + 1]) && apr_isxdigit(path[i + 2])) {
            char hex[3] = { path[i + 1], path[i + 2], '\0' };
            char v = (char)strtol(hex, NULL, 16);
            if (v) {
                d[m++] = v;
                i += 2;
                continue;
            }
        }
        d[m++] = path[i];
    }
    for (i = 0; i < m;) {
        apr_size_t j = i;
        if (d[i] == '/') {
            if (!k || c[k - 1] != '/') c[k++] = '/';
            i++;
            continue;
        }
        while (j < m && d[j] != '/') j++;
        if (j - i == 2 && d[i] == '.' && d[i + 1] == '.') {
            if (k && c[k - 1] == '/') k--;
            while (k && c[k - 1] != '/') k--;
            if (!k) c[k++] = '/';
        }
        else if (!(j - i == 1 && d[i] == '.')) {
            memcpy(c + k, d + i, j - i);
            k += j - i;
        }
        i = j;
    }
    c[k] = '\0';
    *len = k;
    return c;
}

const char *pds_logmask_url(apr_pool_t *p, const char *s, const char *share_path)
{
    apr_size_t n, path_at = 0, path_len, tok_at = 0, tok_len = 0, len = 0;
    const char *scheme, *q, *path;
    char *out;
    if (!s) return NULL;
    n = strlen(s);
    /* Absolute form: the path starts after "scheme://authority". */
    scheme = strstr(s, "://");
    if (scheme && scheme < s + strcspn(s, "/?")) {
        const char *slash = scheme + 3 + strcspn(scheme + 3, "/?");
        path_at = slash - s;
    }
    q = memchr(s + path_at, '?', n - path_at);
    path = s + path_at;
    path_len = (q ? (apr_size_t)(q - s) : n) - path_at;
    if (share_path) tok_len = token_at(path, path_len, share_path, &tok_at);
    if (tok_len <= PDS_LOGMASK_KEEP) tok_len = 0;     /* "assets", not a token */
    if (!tok_len && share_path && path_len) {         /* an encoded or roundabout path */
        apr_size_t canon_len;
        const char *canon = canonical_path(p, path, path_len, &canon_len);
        tok_len = token_at(canon, canon_len, share_path, &tok_at);
        if (tok_len <= PDS_LOGMASK_KEEP) tok_len = 0;
        else {                                        /* logged as httpd read it */
            path = canon;
            path_len = canon_len;
        }
    }
    if (!tok_len && !q) return s;
    out = apr_palloc(p, n + 4 * (n / 2 + 1) + 1);      /* every value masked: <= +3 each */
    memcpy(out, s, path_at);
    len = path_at;
    if (tok_len) {
        memcpy(out + len, path, tok_at);
        len += tok_at;
        put_masked(p, path + tok_at, tok_len, &out, &len);
        memcpy(out + len, path + tok_at + tok_len, path_len - tok_at - tok_len);
        len += path_len - tok_at - tok_len;
    }
    else {
        memcpy(out + len, path, path_len);
        len += path_len;
    }
    if (q) {
        out[len++] = '?';
        put_query(p, q + 1, n - (q + 1 - s), &out, &len);
    }
    out[len] = '\0';
    return out;
}

const char *pds_logmask_request_line(apr_pool_t *p, const char *line, const char *share_path)
{
    const char *target, *end;
    if (!line) return NULL;
    target = strchr(line, ' ');
    if (!target) return line;
    target++;
    end = strchr(target, ' ');
    return apr_pstrcat(p, apr_pstrndup(p, line, target - line),
                       pds_logmask_url(p, end ? apr_pstrndup(p, target, end - target) : target,
                                       share_path),
                       end ? end : "", NULL);
}

const char *pds_logmask_query(apr_pool_t *p, const char *query)
{
    apr_size_t n, len = 0;
    char *out;
    if (!query) return NULL;
    n = strlen(query);
    out = apr_palloc(p, n + 4 * (n / 2 + 1) + 1);
    put_query(p, query, n, &out, &len);
    out[len] = '\0';
    return out;
}
