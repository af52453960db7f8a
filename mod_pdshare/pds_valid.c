#include <string.h>
#include <math.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "pds_util.h"
#include "pds_valid.h"

static pds_err_t *bad(apr_pool_t *p, const char *name, const char *why)
{
    return pds_err(p, 400, "invalid_field", "%s: %s", name, why);
}

/* Fetch a field, telling absent from null. */
static json_t *field(json_t *obj, const char *name, pds_presence_e *pr)
{
    json_t *v = obj ? json_object_get(obj, name) : NULL;
    *pr = !v ? PDS_ABSENT : json_is_null(v) ? PDS_NULL : PDS_SET;
    return v;
}

pds_err_t *pds_fields_known(apr_pool_t *p, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj)) return NULL;
    json_object_foreach(obj, key, v) {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, key); a++) ;
        if (!*a) {
            /* The key is UTF-8 (jansson checked it); cut it for the message. */
            char shown[65];
            apr_size_t n = strlen(key);
            if (n > 64) {
                n = 64;
                while (n && ((unsigned char)key[n] & 0xc0) == 0x80) n--;
            }
            memcpy(shown, key, n);
            shown[n] = 0;
            if (!pds_valid_text(shown, 64)) apr_cpystrn(shown, "(unprintable)", sizeof(shown));
            return pds_err(p, 400, "unknown_field", "%s: not a field this route knows", shown);
        }
    }
    (void)v;
    return NULL;
}

int pds_valid_utf8(const char *s, apr_size_t len)
{
    const unsigned char *u = (const unsigned char *)s, *end = u + len;
    while (u < end) {
        unsigned char c = *u;
        apr_size_t n, i;
        unsigned char lo = 0x80, hi = 0xbf;     /* the allowed second byte */
        if (c < 0x80) { u++; continue; }
        if (c >= 0xc2 && c <= 0xdf) n = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0) lo = 0xa0;           /* overlong */
            else if (c == 0xed) hi = 0x9f;      /* surrogates */
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0) lo = 0x90;           /* overlong */
            else if (c == 0xf4) hi = 0x8f;      /* above U+10FFFF */
        }
        else return 0;                          /* C0, C1 (overlong), F5-FF, lone 80-BF */
        if ((apr_size_t)(end - u) <= n) return 0;    /* cut off */
        if (u[1] < lo || u[1] > hi) return 0;
        for (i = 2; i <= n; i++) if ((u[i] & 0xc0) != 0x80) return 0;
        u += n + 1;
    }
    return 1;
}

int pds_has_bidi(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (; (u = (const unsigned char *)strchr((const char *)u, 0xe2)); u++) {
        if (u[1] == 0x80 && u[2] >= 0xaa && u[2] <= 0xae) return 1;     /* U+202A-U+202E */
        if (u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9) return 1;     /* U+2066-U+2069 */
    }
    return 0;
}

const char *pds_name_problem(const char *s)
{
    if (!pds_valid_utf8(s, strlen(s))) return "must be valid UTF-8";
    if (pds_has_bidi(s))
        return "must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)";
    return NULL;
}

int pds_valid_text(const char *s, apr_size_t maxchars)
{
    apr_size_t chars = 0;
    const unsigned char *u = (const unsigned char *)s;
    if (!pds_valid_utf8(s, strlen(s))) return 0;
    for (; *u; u++) {
        if (*u < 0x20 || *u == 0x7f) return 0;
        if (*u == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) return 0;     /* C1 controls */
        if ((*u & 0xc0) != 0x80) chars++;      /* count code points */
    }
    return chars <= maxchars;
}

pds_err_t *pds_field_text(apr_pool_t *p, json_t *obj, const char *name, apr_size_t maxchars,
                          const char **out, pds_presence_e *pr)
{
    json_t *v = field(obj, name, pr);
    if (*pr != PDS_SET) { *out = NULL; return NULL; }
    if (!json_is_string(v)) return bad(p, name, "must be a string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(p, name, "must not contain NUL characters");
    if (!pds_valid_text(json_string_value(v), maxchars))
        return bad(p, name, apr_psprintf(p, "must be at most %" APR_SIZE_T_FMT
                                         " characters, without control characters", maxchars));
    *out = apr_pstrdup(p, json_string_value(v));
    return NULL;
}

pds_err_t *pds_field_name(apr_pool_t *p, json_t *obj, const char *name, apr_size_t maxchars,
                          const char **out, pds_presence_e *pr)
{
    pds_err_t *e = pds_field_text(p, obj, name, maxchars, out, pr);
    const char *why;
    if (e || *pr != PDS_SET) return e;
    if ((why = pds_name_problem(*out))) return bad(p, name, why);
    return NULL;
}

/* Percent- and plus-decode n bytes into out (room for n); a malformed escape
 * is kept as it is (the route that reads the value refuses it). */
static apr_size_t query_decode(const char *s, apr_size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
    apr_size_t i, o = 0;
    for (i = 0; i < n; i++) {
        const char *h1, *h2;
        if (s[i] == '%' && i + 2 < n
            && (h1 = memchr(hex, s[i + 1], 32)) && (h2 = memchr(hex, s[i + 2], 32))) {
            out[o++] = (char)((((h1 - hex) & 15) << 4) | ((h2 - hex) & 15));
            i += 2;
        }
        else out[o++] = s[i] == '+' ? ' ' : s[i];
    }
    return o;
}

pds_err_t *pds_valid_query(apr_pool_t *p, const char *query)
{
    const char *q = query;
    while (q && *q) {
        const char *amp = strchr(q, '&'), *eq;
        apr_size_t len = amp ? (apr_size_t)(amp - q) : strlen(q), klen, vlen, n;
        char *buf = apr_palloc(p, len + 1);
        eq = memchr(q, '=', len);
        klen = eq ? (apr_size_t)(eq - q) : len;
        n = query_decode(q, klen, buf);
        if (!pds_valid_utf8(buf, n))
            return bad(p, "query", "a parameter name is not valid URL-encoded UTF-8");
        buf[n] = '\0';
        if (eq) {
            char *val = apr_palloc(p, len - klen);
            vlen = query_decode(eq + 1, len - klen - 1, val);
            if (!pds_valid_utf8(val, vlen))
                return bad(p, n <= 64 && pds_valid_text(buf, 64) ? buf : "query",
                           "not a valid URL-encoded UTF-8 value");
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

int pds_valid_url(const char *s)
{
    const char *host;
    if (!strncasecmp(s, "https://", 8)) host = s + 8;
    else if (!strncasecmp(s, "http://", 7)) host = s + 7;
    else return 0;
    if (!*host || *host == '/' || strlen(s) > 2048) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>'
            || c == '\\' || c == '`') return 0;
    }
    return 1;
}

pds_err_t *pds_field_url(apr_pool_t *p, json_t *obj, const char *name,
                         const char **out, pds_presence_e *pr)
{
    pds_err_t *e = pds_field_text(p, obj, name, 2048, out, pr);
    if (e || *pr != PDS_SET) return e;
    if (!**out) { *pr = PDS_NULL; *out = NULL; return NULL; }   /* "" clears */
    if (!pds_valid_url(*out))
        return bad(p, name, "must be an absolute http:// or https:// URL");
    return NULL;
}

pds_err_t *pds_field_color(apr_pool_t *p, json_t *obj, const char *name,
                           const char **out, pds_presence_e *pr)
{
    pds_err_t *e = pds_field_text(p, obj, name, 7, out, pr);
    apr_size_t n;
    if (e || *pr != PDS_SET) return e;
    n = strlen(*out);
    if ((*out)[0] != '#' || (n != 4 && n != 7) || strspn(*out + 1, "0123456789abcdefABCDEF") != n - 1)
        return bad(p, name, "must be a colour like #1a2b3c or #abc");
    return NULL;
}

pds_err_t *pds_field_alias(apr_pool_t *p, json_t *obj, const char *name,
                           const char **out, pds_presence_e *pr)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    pds_err_t *e = pds_field_text(p, obj, name, 64, out, pr);
    apr_size_t n;
    if (e || *pr != PDS_SET) return e;
    n = strlen(*out);
    if (!n || strspn(*out, ok) != n || (*out)[0] == '.')
        return bad(p, name, "must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with a dot");
    return NULL;
}

pds_err_t *pds_field_email(apr_pool_t *p, json_t *obj, const char *name,
                           const char **out, pds_presence_e *pr)
{
    pds_err_t *e = pds_field_text(p, obj, name, 254, out, pr);
    const char *at, *s;
    if (e || *pr != PDS_SET) return e;
    if (!**out) { *pr = PDS_NULL; *out = NULL; return NULL; }
    at = strchr(*out, '@');
    if (!at || at == *out || !strchr(at, '.') || strchr(at + 1, '@') || at[1] == '.'
        || (*out)[strlen(*out) - 1] == '.')
        return bad(p, name, "must be an email address");
    for (s = *out; *s; s++) {
        if (*s == ' ' || *s == ',' || *s == ';' || *s == '<' || *s == '>' || *s == '"')
            return bad(p, name, "must be an email address");
    }
    return NULL;
}

pds_err_t *pds_field_username(apr_pool_t *p, json_t *obj, const char *name,
                              const char **out, pds_presence_e *pr)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-";
    pds_err_t *e = pds_field_text(p, obj, name, 100, out, pr);
    if (e || *pr != PDS_SET) return e;
    if (!**out) { *pr = PDS_NULL; *out = NULL; return NULL; }
    if (strspn(*out, ok) != strlen(*out))
        return bad(p, name, "must be made of A-Z a-z 0-9 . _ @ -");
    return NULL;
}

pds_err_t *pds_field_int(apr_pool_t *p, json_t *obj, const char *name, apr_int64_t min,
                         apr_int64_t max, apr_int64_t *out, pds_presence_e *pr)
{
    json_t *v = field(obj, name, pr);
    json_int_t i;
    if (*pr != PDS_SET) return NULL;
    if (!json_is_integer(v))
        return bad(p, name, apr_psprintf(p, "must be a whole number from %" APR_INT64_T_FMT
                                         " to %" APR_INT64_T_FMT, min, max));
    i = json_integer_value(v);
    if (i < min || i > max)
        return bad(p, name, apr_psprintf(p, "must be from %" APR_INT64_T_FMT " to %"
                                         APR_INT64_T_FMT, min, max));
    *out = (apr_int64_t)i;
    return NULL;
}

pds_err_t *pds_field_number(apr_pool_t *p, json_t *obj, const char *name, double min,
                            double max, double *out, pds_presence_e *pr)
{
    json_t *v = field(obj, name, pr);
    double d;
    if (*pr != PDS_SET) return NULL;
    if (!json_is_number(v)) return bad(p, name, "must be a number");
    d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return bad(p, name, apr_psprintf(p, "must be from %g to %g", min, max));
    *out = d;
    return NULL;
}

pds_err_t *pds_field_bool(apr_pool_t *p, json_t *obj, const char *name, int *out,
                          pds_presence_e *pr)
{
    json_t *v = field(obj, name, pr);
    if (*pr != PDS_SET) return NULL;
    if (!json_is_boolean(v)) return bad(p, name, "must be true or false");
    *out = json_is_true(v);
    return NULL;
}

pds_err_t *pds_field_enum(apr_pool_t *p, json_t *obj, const char *name,
                          const char *const *values, const char **out, pds_presence_e *pr)
{
    json_t *v = field(obj, name, pr);
    const char *const *x;
    const char *list = NULL;
    if (*pr != PDS_SET) return NULL;
    if (json_is_string(v)) {
        for (x = values; *x; x++) {
            if (!strcmp(*x, json_string_value(v))) { *out = *x; return NULL; }
        }
    }
    for (x = values; *x; x++) list = list ? apr_pstrcat(p, list, ", ", *x, NULL) : *x;
    return bad(p, name, apr_pstrcat(p, "must be one of ", list, NULL));
}

int pds_valid_file_name(const char *name)
{
    if (!name || !*name || !strcmp(name, ".") || !strcmp(name, "..")) return 0;
    if (strchr(name, '/') || strchr(name, '\\')) return 0;
    return pds_valid_text(name, 255) && !pds_has_bidi(name);
}

int pds_valid_dropbox_path(const char *path)
{
    const char *seg;
    if (!path || path[0] != '/' || strlen(path) > 1024 || strchr(path, '\\')) return 0;
    if (!pds_valid_text(path, 1024)) return 0;
    for (seg = path + 1; ; ) {
        const char *end = strchr(seg, '/');
        apr_size_t n = end ? (apr_size_t)(end - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!end) break;
        seg = end + 1;
    }
    return 1;
}

int pds_valid_id(const char *s)
{
    apr_size_t n;
    if (!s) return 0;
    n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}
