/* Range parsing and link-preview detection for the public handler (see
 * pds_visitor.h). No httpd here: unit tests call these directly. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_lib.h>

#include "pds_visitor.h"

typedef struct {
    apr_off_t start, end;        /* inclusive, inside the file */
} byte_span_t;

static int span_cmp(const void *a, const void *b)
{
    const byte_span_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* 1*DIGIT at *s, saturating (a huge position is still a position). */
static int read_digits(const char **s, apr_off_t *out)
{
    const char *c = *s;
    apr_off_t n = 0;
    if (!apr_isdigit(*c)) return 0;
    for (; apr_isdigit(*c); c++) {
        int d = *c - '0';
        n = n > (APR_INT64_MAX - d) / 10 ? APR_INT64_MAX : n * 10 + d;
    }
    *s = c;
    *out = n;
    return 1;
}

/* One range-spec (OWS already trimmed): 0 when it is not valid syntax;
 * else 1 with *has set when it selects bytes of the file (unsatisfiable
 * ones are left out). */
static int parse_spec(const char *s, const char *end, apr_off_t size, byte_span_t *span,
                      int *has)
{
    apr_off_t first, last;
    *has = 0;
    if (*s == '-') {                                      /* suffix-range */
        s++;
        if (!read_digits(&s, &last) || s != end) return 0;
        if (last == 0) return 1;                          /* zero-length: unsatisfiable */
        span->start = last >= size ? 0 : size - last;
        span->end = size - 1;
        *has = 1;
        return 1;
    }
    if (!read_digits(&s, &first) || *s != '-') return 0;  /* int-range */
    s++;
    if (s == end) last = APR_INT64_MAX;
    else if (!read_digits(&s, &last) || s != end || last < first) return 0;
    if (first >= size) return 1;
    span->start = first;
    span->end = last >= size ? size - 1 : last;
    *has = 1;
    return 1;
}

void pds_range_parse(apr_pool_t *p, const char *value, apr_off_t size, int max_parts,
                     pds_range_t *out)
{
    apr_array_header_t *spans;
    const char *s, *eq;
    byte_span_t *v;
    int i, n;

    memset(out, 0, sizeof(*out));
    out->kind = PDS_RANGE_WHOLE;
    out->first_byte = 1;
    /* httpd's byterange filter leaves empty bodies alone. */
    if (!value || size <= 0 || !(eq = strchr(value, '='))
        || eq - value != 5 || strncasecmp(value, "bytes", 5))
        return;
    spans = apr_array_make(p, 4, sizeof(byte_span_t));
    n = 0;
    for (s = eq + 1;;) {
        const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
        const char *a = s, *b = end;
        byte_span_t span;
        int has;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (a < b) {                                      /* empty list elements are allowed */
            if (!parse_spec(a, b, size, &span, &has)) return;
            n++;
            if (has) *(byte_span_t *)apr_array_push(spans) = span;
        }
        if (!comma) break;
        s = comma + 1;
    }
    if (!n) return;                                       /* "bytes=" or "bytes=,": invalid */
    if (!spans->nelts) {
        out->kind = PDS_RANGE_UNSATISFIABLE;
        out->first_byte = 0;
        out->header = apr_psprintf(p, "bytes=%" APR_OFF_T_FMT "-", size);
        return;
    }
    v = (byte_span_t *)spans->elts;
    qsort(v, spans->nelts, sizeof(*v), span_cmp);
    for (n = 0, i = 1; i < spans->nelts; i++) {          /* merge overlapping or adjacent */
        if (v[i].start <= v[n].end + 1) {
            if (v[i].end > v[n].end) v[n].end = v[i].end;
        }
        else v[++n] = v[i];
    }
    n++;
    if (max_parts >= 0 && n > max_parts) return;
    out->kind = PDS_RANGE_PARTS;
    out->parts = n;
    out->first_byte = v[0].start == 0;
    {
        apr_array_header_t *text = apr_array_make(p, n, sizeof(const char *));
        for (i = 0; i < n; i++)
            APR_ARRAY_PUSH(text, const char *) = apr_psprintf(p, "%" APR_OFF_T_FMT "-%"
                                                              APR_OFF_T_FMT, v[i].start,
                                                              v[i].end);
        out->header = apr_pstrcat(p, "bytes=", apr_array_pstrcat(p, text, ','), NULL);
    }
}

/* The one list of link-preview fetchers and crawlers, matched as
 * case-insensitive substrings of the User-Agent. iMessage sends
 * "... facebookexternalhit/1.1 Facebot Twitterbot/1.0". */
static const char *const link_preview_agents[] = {
    "slackbot", "slack-imgproxy", "facebookexternalhit", "facebot", "twitterbot",
    "whatsapp", "discordbot", "telegrambot", "linkedinbot", "applebot", "googlebot",
    "google-inspectiontool", "googleother", "skypeuripreview", "pinterestbot",
    "pinterest/0.", "redditbot", "embedly", "bingbot", "bingpreview", "msnbot",
    "yandexbot", "duckduckbot", "baiduspider", "iframely", "vkshare", "mastodon",
    "bluesky cardyb", "snap url preview", "kakaotalk-scrap", "zoominfobot",
    "microsoftpreview", NULL
};

static int contains_nocase(const char *hay, const char *needle)
{
    apr_size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

/* Run on every visitor request: the agent is lowered once and each name
 * found with strstr, not compared case-insensitively at every position
 * (that was a sixth of a redirect's instructions). The names are lower
 * case ASCII; lowering only ASCII letters keeps every other byte as is. */
#define UA_LOWERED_MAX 1024

int pds_is_link_preview(const char *user_agent)
{
    char low[UA_LOWERED_MAX];
    apr_size_t len, i;
    int k;
    if (!user_agent) return 0;
    len = strlen(user_agent);
    if (len >= sizeof(low)) {
        /* A longer agent is rare: the slow way, whole. */
        for (k = 0; link_preview_agents[k]; k++)
            if (contains_nocase(user_agent, link_preview_agents[k])) return 1;
        return 0;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)user_agent[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    low[len] = '\0';
    for (k = 0; link_preview_agents[k]; k++)
        if (strstr(low, link_preview_agents[k])) return 1;
    return 0;
}
