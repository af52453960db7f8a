/* Routes and tokens: share tokens, percent-decoding and the owner API router.
 *
 * Input: "METHOD\nPATH\nQUERY" (a missing third line is no query string).
 * The whole input, as a C string, also goes through the token helpers and
 * the URL decoder; the path's first segment is looked up as a public share
 * token (pds_share_by_token, then pds_page_build for a live share).
 * Properties: the router answers one of the contracted statuses and shapes
 * (fz_check_reply) for any method, path and query; the token helpers and the
 * decoder keep their documented contracts; pds_api_check_text (run by the
 * module before routing) refuses every path that is not UTF-8 with a 400
 * invalid_field that names a field. */
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_util.h"
#include "pds_valid.h"
#include "pds_page.h"
#include "pds_zip.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Entry names of a ZIP (pds_zip): whatever the input, a safe, non-empty name
 * with no separator, no "..", no control byte and no bidi control (E2 80 AA-AE,
 * E2 81 A6-A9). */
static void zip_name(apr_pool_t *p, const char *s)
{
    const char *n = pds_zip_safe_name(p, s), *c;
    pds_zip_names_t *names = pds_zip_names_make(p);
    FZ_CHECK(*n && strlen(n) <= 255, "safe name of %.64s is empty or long", s);
    FZ_CHECK(!strpbrk(n, "/\\:") && !strstr(n, ".."), "unsafe name %.64s", n);
    for (c = n; *c; c++) {
        const unsigned char *u = (const unsigned char *)c;
        FZ_CHECK(u[0] >= 0x20 && u[0] != 0x7f, "control byte in %.64s", n);
        FZ_CHECK(!(u[0] == 0xC2 && u[1] >= 0x80 && u[1] <= 0x9F), "C1 control in %.64s", n);
        FZ_CHECK(!(u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0xAA && u[2] <= 0xAE)
                 && !(u[0] == 0xE2 && u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9),
                 "bidi control in %.64s", n);
    }
    FZ_CHECK(strcmp(pds_zip_names_take(names, n), pds_zip_names_take(names, n)),
             "a duplicate of %.64s was not renamed", n);
}

static void tokens(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);
    const char *sel, *logged;
    char *u;
    int wf = pds_token_wellformed(s);

    FZ_CHECK(wf == (n == PDS_TOKEN_LEN && strspn(s, b64url) == n),
             "pds_token_wellformed(%.64s) = %d", s, wf);
    sel = pds_token_selector(p, s);
    FZ_CHECK(strlen(sel) == (n < PDS_TOKEN_SELECTOR_LEN ? n : PDS_TOKEN_SELECTOR_LEN)
             && !strncmp(sel, s, strlen(sel)), "selector of %.64s is %.64s", s, sel);
    logged = pds_token_for_log(p, s);
    FZ_CHECK(strlen(logged) == (n < 6 ? n : 6) + 3 && !strncmp(logged, s, n < 6 ? n : 6),
             "pds_token_for_log(%.64s) = %.64s", s, logged);

    u = apr_pstrdup(p, s);
    if (pds_url_unescape(u) == 0) {
        const unsigned char *c;
        FZ_CHECK(strlen(u) <= n, "decoded longer than encoded");
        for (c = (const unsigned char *)u; *c; c++)
            FZ_CHECK(*c >= 0x20 && *c != 0x7f, "decoded control character 0x%02x", *c);
        /* Nothing to decode: the same string. */
        if (!strchr(s, '%')) FZ_CHECK(!strcmp(u, s), "decoded without escapes changed");
    }
    pds_zip_group(s);
    zip_name(p, s);
    pds_valid_id(s);
    pds_valid_text(s, 64);
    pds_valid_file_name(s);
    pds_valid_dropbox_path(s);
    pds_valid_url(s);
}

static void public_token(pds_ctx_t *ctx, const char *path)
{
    const char *start = path + strspn(path, "/"), *end = strchr(start, '/'), **share = NULL;
    const char *token = end ? apr_pstrndup(ctx->pool, start, (apr_size_t)(end - start)) : start;
    pds_share_state_e st = pds_share_by_token(ctx, token, &share);
    FZ_CHECK(st >= PDS_SHARE_OK && st <= PDS_SHARE_ERROR, "share state %d", (int)st);
    FZ_CHECK(st != PDS_SHARE_ERROR, "token lookup failed on the database: %s",
             ctx->db->last_error ? ctx->db->last_error : "?");
    if (st == PDS_SHARE_OK) {
        pds_page_t *page = NULL;
        pds_err_t *e;
        FZ_CHECK(!strcmp(token, FZ_TOKEN), "token %.64s opened a share", token);
        e = pds_page_build(ctx, share, &page);
        FZ_CHECK(!e, "pds_page_build: %s", e->message);
        FZ_CHECK(page && json_is_object(page->view), "no page model");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_db();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *lines[3], *whole = fz_strndup(p, data, size);
    const char *method, *path, *query;
    pds_reply_t reply;
    pds_db_t db;
    pds_ctx_t *ctx;
    json_t *body = NULL;
    int n = fz_lines(p, data, size, lines, 3);

    tokens(p, whole);

    method = lines[0];
    path = n > 1 ? lines[1] : "/";
    query = n > 2 ? lines[2] : NULL;
    ctx = fz_ctx(p, FZ_USER, &db);
    fz_http_script(p, NULL, 0);
    {
        /* What the module checks before routing: refused exactly when the
         * path is not UTF-8 (or a query value is not), with a 400 that names
         * a field and itself encodes as JSON. */
        pds_err_t *e = pds_api_check_text(p, path, query);
        int utf8 = pds_valid_utf8(path, strlen(path));
        FZ_CHECK(utf8 || e, "path that is not UTF-8 passed pds_api_check_text");
        if (e) {
            json_t *j = json_pack("{s:s}", "message", e->message);
            FZ_CHECK(e->status == 400 && !strcmp(e->code, "invalid_field") && j
                     && strstr(e->message, ": "), "pds_api_check_text: %d %s", e->status,
                     e->code);
            json_decref(j);
        }
    }
    if (!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH"))
        body = pds_json_pool(p, json_object());   /* the module passes a JSON object */
    pds_api_handle(ctx, method, path, query, body, &reply);
    fz_check_reply(&reply, method, path);
    FZ_CHECK(reply.status != 503 || strcmp(json_string_value(json_object_get(
                 json_object_get(reply.body, "error"), "code")), "unavailable"),
             "%s %s?%s: the database failed: %s", method, path, query ? query : "",
             db.last_error ? db.last_error : "?");

    public_token(ctx, path);

    fz_pool_done(p);
    fz_db_reset_if_changed();
    return 0;
}
