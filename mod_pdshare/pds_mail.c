#include <string.h>
#include <apr_strings.h>
#include <curl/curl.h>

#include "pds_util.h"
#include "pds_mail.h"

typedef struct {
    const char *data;
    apr_size_t len, pos;
} mail_src_t;

static size_t read_mail(char *buf, size_t size, size_t n, void *baton)
{
    mail_src_t *m = baton;
    size_t want = size * n, left = m->len - m->pos;
    if (want > left) want = left;
    memcpy(buf, m->data + m->pos, want);
    m->pos += want;
    return want;
}

static int header_safe(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

/* Dots at the start of a line are doubled by curl itself; lines end in CRLF. */
static const char *crlf(apr_pool_t *p, const char *text)
{
    apr_size_t n = strlen(text), i, o = 0;
    char *out = apr_palloc(p, n * 2 + 3);
    for (i = 0; i < n; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out[o++] = '\r';
        out[o++] = text[i];
    }
    out[o] = '\0';
    return out;
}

apr_status_t pds_mail_send(apr_pool_t *p, const char *smtp_url, const char *from, const char *to,
                           const char *subject, const char *body, int timeout_secs,
                           const char **why)
{
    struct curl_slist *rcpt = NULL;
    mail_src_t src;
    CURL *c;
    CURLcode rc;
    char date[64];
    apr_time_exp_t tm;
    apr_size_t dlen;

    if (!header_safe(from) || !header_safe(to) || !header_safe(subject)) {
        *why = "a mail header holds a line break";
        return APR_EINVAL;
    }
    apr_time_exp_gmt(&tm, apr_time_now());
    apr_strftime(date, &dlen, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    src.data = apr_pstrcat(p, "Date: ", date, "\r\nFrom: <", from, ">\r\nTo: <", to,
                           ">\r\nSubject: ", subject, "\r\nMIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: 8bit\r\n\r\n", crlf(p, body), "\r\n", NULL);
    src.len = strlen(src.data);
    src.pos = 0;
    if (!(c = curl_easy_init())) {
        *why = "cannot create a curl handle";
        return APR_EGENERAL;
    }
    rcpt = curl_slist_append(rcpt, apr_pstrcat(p, "<", to, ">", NULL));
    curl_easy_setopt(c, CURLOPT_URL, smtp_url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#endif
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, apr_pstrcat(p, "<", from, ">", NULL));
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_mail);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)timeout_secs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_secs);
    rc = curl_easy_perform(c);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        *why = apr_psprintf(p, "SMTP: %s", curl_easy_strerror(rc));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}
