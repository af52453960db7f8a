/* Unit tests of libpdshare, the httpd-free library: tokens and escaping,
 * field validation, templates, the store (a real sqlite3 database in a
 * temporary directory), the owner API and the public page model.
 * Run by `make check` (cmocka). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_dbd.h>

#include "pds.h"
#include "pds_logmask.h"
#include "pds_util.h"
#include "pds_valid.h"
#include "pds_dropbox.h"
#include "pds_tmpl.h"
#include "pds_db.h"
#include "pds_spool.h"
#include "pds_sql.h"
#include "pds_api.h"
#include "pds_page.h"
#include "pds_invite.h"
#include "pds_dropbox.h"
#include "pds_export.h"

#define URLSAFE "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define HEX "0123456789abcdef"
/* 2023-11-14T22:13:20Z */
#define NOW APR_INT64_C(1700000000)
#define DAY APR_INT64_C(86400)

/* ------------------------------------------------------------ fixtures */

typedef struct {
    apr_pool_t *pool;
    char *dir;                        /* temporary directory, removed at teardown */
    const char *dbfile;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    pds_db_t db;
    pds_settings_t settings;
    pds_ctx_t ctx;
} fx_t;

static apr_pool_t *global_pool;

static int setup_pool(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    if (!fx || apr_pool_create(&fx->pool, NULL) != APR_SUCCESS) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

/* Remove the regular files of dir (one level), then dir. */
static void remove_dir(apr_pool_t *p, const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    if (apr_dir_open(&d, dir, p) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
            if (fi.filetype == APR_REG)
                apr_file_remove(apr_pstrcat(p, dir, "/", fi.name, NULL), p);
        }
        apr_dir_close(d);
    }
    apr_dir_remove(dir, p);
}

static int teardown_pool(void **state)
{
    fx_t *fx = *state;
    if (fx->handle) apr_dbd_close(fx->driver, fx->handle);
    if (fx->dir) remove_dir(fx->pool, fx->dir);
    apr_pool_destroy(fx->pool);
    free(fx);
    return 0;
}

static char *make_tmpdir(apr_pool_t *p)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = apr_pstrcat(p, tmp && *tmp ? tmp : "/tmp", "/pds-unit-XXXXXX", NULL);
    return mkdtemp(dir);
}

/* cmocka runs no teardown after a failed setup: a setup that fails after
 * setup_pool releases the fixture itself, so valgrind reports the failure alone. */
static int setup_failed(void **state)
{
    teardown_pool(state);
    *state = NULL;
    return -1;
}

/* An empty sqlite3 database in a temporary directory: no schema yet. A test
 * that cannot get one fails (cmocka counts a failed setup as a failure). */
static int setup_db_raw(void **state)
{
    fx_t *fx;
    const char *err = NULL;
    if (setup_pool(state)) return -1;
    fx = *state;
    if (!(fx->dir = make_tmpdir(fx->pool))) {
        print_error("cannot make a temporary directory\n");
        return setup_failed(state);
    }
    fx->dbfile = apr_pstrcat(fx->pool, fx->dir, "/pds.db", NULL);
    if (apr_dbd_get_driver(fx->pool, "sqlite3", &fx->driver) != APR_SUCCESS) {
        print_error("no apr_dbd sqlite3 driver (libaprutil1-dbd-sqlite3)\n");
        return setup_failed(state);
    }
    if (apr_dbd_open_ex(fx->driver, fx->pool, fx->dbfile, &fx->handle, &err) != APR_SUCCESS) {
        print_error("cannot open %s: %s\n", fx->dbfile, err ? err : "?");
        fx->handle = NULL;
        return setup_failed(state);
    }
    return 0;
}

/* Statements prepared and an API context for "alice", as pdsharectl does. */
static int ctx_init(fx_t *fx)
{
    const char *err = NULL;
    memset(&fx->db, 0, sizeof(fx->db));
    fx->db.pool = fx->pool;
    fx->db.driver = fx->driver;
    fx->db.handle = fx->handle;
    fx->db.prepared = apr_hash_make(fx->pool);
    if (pds_db_prepare_all(fx->pool, fx->driver, fx->handle, fx->db.prepared, &err)
            != APR_SUCCESS) {
        print_error("pds_db_prepare_all: %s\n", err ? err : "?");
        return -1;
    }
    fx->settings.share_path = "/s";
    fx->settings.max_tracks = 50;
    memset(&fx->ctx, 0, sizeof(fx->ctx));
    fx->ctx.pool = fx->pool;
    fx->ctx.db = &fx->db;
    fx->ctx.user = "alice";
    fx->ctx.settings = &fx->settings;
    fx->ctx.base_url = "https://share.example";
    fx->ctx.now = NOW;
    return 0;
}

static int setup_db(void **state)
{
    fx_t *fx;
    const char *err = NULL;
    if (setup_db_raw(state)) return -1;
    fx = *state;
    if (pds_db_setup(fx->pool, fx->driver, fx->handle, 0, &err) != APR_SUCCESS) {
        print_error("pds_db_setup: %s\n", err ? err : "?");
        return setup_failed(state);
    }
    return ctx_init(fx) ? setup_failed(state) : 0;
}

/* ------------------------------------------------------------- helpers */

/* Fail at the caller's line when a check answers a description. */
#define assert_ok(expr) do { const char *why_ = (expr); if (why_) fail_msg("%s", why_); } while (0)

static const char *dump(const json_t *j)
{
    static char buf[2048];
    size_t n;
    if (!j) return "(no body)";
    n = json_dumpb(j, buf, sizeof(buf) - 1, JSON_COMPACT | JSON_SORT_KEYS);
    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
    return buf;
}

/* j at a dotted path; digits index arrays: "tracks.0.title". */
static json_t *jpath(json_t *j, const char *path)
{
    char buf[256], *last, *seg;
    if (strlen(path) >= sizeof(buf)) return NULL;
    strcpy(buf, path);
    for (seg = apr_strtok(buf, ".", &last); j && seg; seg = apr_strtok(NULL, ".", &last)) {
        if (json_is_array(j) && strspn(seg, "0123456789") == strlen(seg))
            j = json_array_get(j, (size_t)atoi(seg));
        else
            j = json_object_get(j, seg);
    }
    return j;
}

#define JSTR(j, path) json_string_value(jpath((j), (path)))
#define JINT(j, path) json_integer_value(jpath((j), (path)))
#define JLEN(j, path) json_array_size(jpath((j), (path)))

static const char *check_str(apr_pool_t *p, json_t *j, const char *path, const char *want)
{
    json_t *v = jpath(j, path);
    if (!json_is_string(v))
        return apr_psprintf(p, "%s: not a string in %s", path, dump(j));
    if (strcmp(json_string_value(v), want))
        return apr_psprintf(p, "%s: \"%s\", want \"%s\"", path, json_string_value(v), want);
    return NULL;
}
#define assert_jstr(j, path, want) assert_ok(check_str(fx->pool, (j), (path), (want)))

static const char *check_null(apr_pool_t *p, json_t *j, const char *path)
{
    json_t *v = jpath(j, path);
    return json_is_null(v) ? NULL : apr_psprintf(p, "%s: want null in %s", path, dump(j));
}
#define assert_jnull(j, path) assert_ok(check_null(fx->pool, (j), (path)))

static const char *check_bool(apr_pool_t *p, json_t *j, const char *path, int want)
{
    json_t *v = jpath(j, path);
    if (!json_is_boolean(v) || json_is_true(v) != !!want)
        return apr_psprintf(p, "%s: want %s in %s", path, want ? "true" : "false", dump(j));
    return NULL;
}
#define assert_jbool(j, path, want) assert_ok(check_bool(fx->pool, (j), (path), (want)))

static const char *check_int(apr_pool_t *p, json_t *j, const char *path, json_int_t want)
{
    json_t *v = jpath(j, path);
    if (!json_is_integer(v) || json_integer_value(v) != want)
        return apr_psprintf(p, "%s: want %" APR_INT64_T_FMT " in %s", path, (apr_int64_t)want,
                            dump(j));
    return NULL;
}
#define assert_jint(j, path, want) assert_ok(check_int(fx->pool, (j), (path), (want)))

/* A JSON value owned by the test's pool. */
static json_t *J(fx_t *fx, const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j) fail_msg("bad JSON in the test: %s: %s", text, je.text);
    return pds_json_pool(fx->pool, j);
}

static pds_reply_t call(fx_t *fx, const char *method, const char *path, const char *query,
                        const char *body)
{
    pds_reply_t r;
    pds_api_handle(&fx->ctx, method, path, query, body ? J(fx, body) : NULL, &r);
    return r;
}

static const char *check_status(apr_pool_t *p, pds_reply_t r, int want)
{
    if (r.status == want) return NULL;
    return apr_psprintf(p, "status %d, want %d: %s", r.status, want, dump(r.body));
}
#define assert_status(r, want) assert_ok(check_status(fx->pool, (r), (want)))

/* An error reply in the contracted shape, whose message names `needle`. */
static const char *check_error(apr_pool_t *p, pds_reply_t r, int status, const char *code,
                               const char *needle)
{
    const char *c = json_string_value(jpath(r.body, "error.code"));
    const char *m = json_string_value(jpath(r.body, "error.message"));
    if (r.status != status || !c || strcmp(c, code) || !m || (needle && !strstr(m, needle)))
        return apr_psprintf(p, "want %d %s naming \"%s\", got %d %s", status, code,
                            needle ? needle : "", r.status, dump(r.body));
    return NULL;
}
#define assert_api_error(r, status, code, needle) \
    assert_ok(check_error(fx->pool, (r), (status), (code), (needle)))

static const char *rep(apr_pool_t *p, const char *s, int n)
{
    const char *out = "";
    while (n-- > 0) out = apr_pstrcat(p, out, s, NULL);
    return out;
}

/* POST /tracks; answers the new id. */
#define make_track(fx, body) make_track_at((fx), (body), __LINE__)
static const char *make_track_at(fx_t *fx, const char *body, int line)
{
    pds_reply_t r = call(fx, "POST", "/tracks", NULL, body);
    if (r.status != 201 || !JSTR(r.body, "id"))
        fail_msg("line %d: POST /tracks %s: %d %s", line, body, r.status, dump(r.body));
    return apr_pstrdup(fx->pool, JSTR(r.body, "id"));
}

/* POST /tracks/{id}/files; answers the new file id. */
#define add_file(fx, tid, cat, name, fmt) add_file_at((fx), (tid), (cat), (name), (fmt), __LINE__)
static const char *add_file_at(fx_t *fx, const char *tid, const char *cat, const char *name,
                               const char *format, int line)
{
    json_t *b = json_pack("{s:s,s:s,s:s}", "category", cat, "name", name,
                          "dropbox_path", apr_pstrcat(fx->pool, "/PD/", tid, "/", name, NULL));
    pds_reply_t r;
    if (format) json_object_set_new(b, "format", json_string(format));
    pds_api_handle(&fx->ctx, "POST", apr_pstrcat(fx->pool, "/tracks/", tid, "/files", NULL),
                   NULL, pds_json_pool(fx->pool, b), &r);
    if (r.status != 201 || !JSTR(r.body, "id"))
        fail_msg("line %d: adding %s to %s: %d %s", line, name, tid, r.status, dump(r.body));
    return apr_pstrdup(fx->pool, JSTR(r.body, "id"));
}

/* POST /shares; answers the share object. */
#define make_share(fx, body) make_share_at((fx), (body), __LINE__)
static json_t *make_share_at(fx_t *fx, const char *body, int line)
{
    pds_reply_t r = call(fx, "POST", "/shares", NULL, body);
    if (r.status != 201 || !JSTR(r.body, "id") || !JSTR(r.body, "token"))
        fail_msg("line %d: POST /shares %s: %d %s", line, body, r.status, dump(r.body));
    return r.body;
}

/* The public page of a live share, by its token. */
#define open_page(fx, token) open_page_at((fx), (token), __LINE__)
static pds_page_t *open_page_at(fx_t *fx, const char *token, int line)
{
    const char **share = NULL;
    pds_page_t *page = NULL;
    pds_err_t *e;
    pds_share_state_e st = pds_share_by_token(&fx->ctx, token, &share);
    if (st != PDS_SHARE_OK) fail_msg("line %d: pds_share_by_token: state %d", line, (int)st);
    if ((e = pds_page_build(&fx->ctx, share, &page)))
        fail_msg("line %d: pds_page_build: %s", line, e->message);
    return page;
}

static json_t *find_by(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(json_object_get(v, key));
        if (s && !strcmp(s, value)) return v;
    }
    return NULL;
}

static const char *sql_value(fx_t *fx, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *first = NULL;
    int rv = apr_dbd_select(fx->driver, fx->pool, fx->handle, &res, sql, 0);
    if (rv) fail_msg("%s: %s", sql, apr_dbd_error(fx->driver, fx->handle, rv));
    while (apr_dbd_get_row(fx->driver, fx->pool, res, &row, -1) == 0) {
        const char *v = apr_dbd_get_entry(fx->driver, row, 0);
        if (!first) first = v ? apr_pstrdup(fx->pool, v) : "(null)";
    }
    return first;
}

static int table_exists(fx_t *fx, const char *name)
{
    return sql_value(fx, apr_psprintf(fx->pool, "SELECT name FROM sqlite_master WHERE"
                                      " type = 'table' AND name = '%s'", name)) != NULL;
}

/* ============================================================== tokens */

static void test_token_new(void **state)
{
    fx_t *fx = *state;
    const char *a = pds_token_new(fx->pool), *b = pds_token_new(fx->pool);
    int i;

    assert_true(PDS_TOKEN_BYTES * 8 >= 128);
    assert_int_equal(PDS_TOKEN_LEN, 32);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, URLSAFE), 32);
    assert_true(pds_token_wellformed(a));
    assert_true(pds_token_wellformed(b));
    assert_string_not_equal(a, b);
    for (i = 0; i < 200; i++) {
        const char *t = pds_token_new(fx->pool);
        assert_true(pds_token_wellformed(t));
        assert_string_not_equal(t, a);
    }
}

static void test_token_wellformed(void **state)
{
    fx_t *fx = *state;
    const char *good = "AbCdEfGhIj0123456789-_klmnopqrst";
    const char *bad_chars = "+/=. \n%\x01\xc3";
    const char *c;

    assert_int_equal(strlen(good), 32);
    assert_true(pds_token_wellformed(good));
    assert_false(pds_token_wellformed(NULL));
    assert_false(pds_token_wellformed(""));
    assert_false(pds_token_wellformed(apr_pstrndup(fx->pool, good, 31)));
    assert_false(pds_token_wellformed(apr_pstrcat(fx->pool, good, "A", NULL)));
    assert_false(pds_token_wellformed(apr_pstrcat(fx->pool, good, "\n", NULL)));
    assert_false(pds_token_wellformed(apr_pstrcat(fx->pool, good, good, NULL)));
    for (c = bad_chars; *c; c++) {
        char *t = apr_pstrdup(fx->pool, good);
        t[7] = *c;
        assert_false(pds_token_wellformed(t));
        t = apr_pstrdup(fx->pool, good);
        t[31] = *c;
        assert_false(pds_token_wellformed(t));
    }
}

static void test_token_selector_and_log(void **state)
{
    fx_t *fx = *state;
    const char *t = pds_token_new(fx->pool);
    const char *sel = pds_token_selector(fx->pool, t);
    const char *log = pds_token_for_log(fx->pool, t);
    size_t same = 0;

    assert_int_equal(PDS_TOKEN_SELECTOR_LEN, 10);
    assert_int_equal(strlen(sel), 10);
    assert_memory_equal(sel, t, 10);

    assert_non_null(log);
    assert_null(strstr(log, t));
    /* Not even the whole selector: a log line never identifies the share. */
    while (log[same] && log[same] == t[same]) same++;
    assert_true(same < PDS_TOKEN_SELECTOR_LEN);
    assert_null(strstr(log, t + PDS_TOKEN_SELECTOR_LEN));
    assert_non_null(pds_token_for_log(fx->pool, NULL));
}

static void test_ct_streq(void **state)
{
    fx_t *fx = *state;
    const char *t = pds_token_new(fx->pool);
    char *u = apr_pstrdup(fx->pool, t);

    assert_true(pds_ct_streq("abc", "abc"));
    assert_false(pds_ct_streq("abc", "abd"));
    assert_false(pds_ct_streq("abc", "Abc"));
    assert_false(pds_ct_streq("abc", "abcd"));
    assert_false(pds_ct_streq("abcd", "abc"));
    assert_false(pds_ct_streq("abc", ""));
    assert_false(pds_ct_streq("", "abc"));
    assert_true(pds_ct_streq("", ""));
    assert_true(pds_ct_streq(t, u));
    u[31] = u[31] == 'A' ? 'B' : 'A';
    assert_false(pds_ct_streq(t, u));
}

/* Every error carries its kind: from the status, or given (the database);
 * an API reply carries it to the glue with the detail for the log. */
static void test_error_kinds(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    pds_reply_t out;
    pds_err_t *e;

    assert_int_equal(pds_err(p, 400, "invalid_field", "x")->kind, PDS_ERR_INPUT);
    assert_int_equal(pds_err(p, 413, "payload_too_large", "x")->kind, PDS_ERR_INPUT);
    assert_int_equal(pds_err(p, 404, "not_found", "x")->kind, PDS_ERR_NOT_FOUND);
    assert_int_equal(pds_err(p, 409, "conflict", "x")->kind, PDS_ERR_CONFLICT);
    assert_int_equal(pds_err(p, 503, "unavailable", "x")->kind, PDS_ERR_INTERNAL);
    assert_null(pds_err(p, 400, "invalid_field", "x")->detail);
    e = pds_err_of(p, PDS_ERR_DROPBOX, 503, "dropbox_unavailable", "files/x: 500", "%s", "m");
    assert_int_equal(e->kind, PDS_ERR_DROPBOX);
    assert_string_equal(e->detail, "files/x: 500");
    assert_string_equal(e->message, "m");

    fx->db.last_error = "pds_track_get: disk I/O error";
    e = pds_db_failed(&fx->ctx);
    assert_int_equal(e->kind, PDS_ERR_DATABASE);
    assert_int_equal(e->status, 503);
    assert_string_equal(e->detail, "pds_track_get: disk I/O error");
    memset(&out, 0, sizeof(out));
    pds_reply_error(&fx->ctx, &out, e);
    assert_int_equal(out.status, 503);
    assert_int_equal(out.kind, PDS_ERR_DATABASE);
    assert_string_equal(out.log, "pds_track_get: disk I/O error");
}

static void test_new_id(void **state)
{
    fx_t *fx = *state;
    const char *a = pds_new_id(fx->pool, "t"), *b = pds_new_id(fx->pool, "t");
    const char *s = pds_new_id(fx->pool, "sh");

    assert_non_null(a);
    assert_int_equal(strlen(a), 17);
    assert_int_equal(a[0], 't');
    assert_int_equal(strspn(a + 1, HEX), 16);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(s), 18);
    assert_memory_equal(s, "sh", 2);
    assert_int_equal(strspn(s + 2, HEX), 16);
    /* Ids are accepted where the API takes them. */
    assert_true(pds_valid_id(a));
    assert_true(pds_valid_id(s));
}

static void test_b64url_and_time(void **state)
{
    fx_t *fx = *state;
    char out[16];
    static const unsigned char ones[] = { 0xfb, 0xef, 0xbe };
    static const unsigned char ff[] = { 0xff, 0xff, 0xff };
    static const unsigned char fbff[] = { 0xfb, 0xff };
    const char *r;

    pds_b64url_encode(out, (const unsigned char *)"", 0);
    assert_string_equal(out, "");
    pds_b64url_encode(out, (const unsigned char *)"f", 1);
    assert_string_equal(out, "Zg");
    pds_b64url_encode(out, (const unsigned char *)"fo", 2);
    assert_string_equal(out, "Zm8");
    pds_b64url_encode(out, (const unsigned char *)"foo", 3);
    assert_string_equal(out, "Zm9v");
    pds_b64url_encode(out, (const unsigned char *)"foob", 4);
    assert_string_equal(out, "Zm9vYg");
    pds_b64url_encode(out, ones, 3);
    assert_string_equal(out, "----");
    pds_b64url_encode(out, ff, 3);
    assert_string_equal(out, "____");
    pds_b64url_encode(out, fbff, 2);
    assert_string_equal(out, "-_8");

    r = pds_random_b64url(fx->pool, 16);
    assert_non_null(r);
    assert_int_equal(strlen(r), 22);
    assert_int_equal(strspn(r, URLSAFE), 22);

    assert_string_equal(pds_iso8601(fx->pool, 0), "1970-01-01T00:00:00Z");
    assert_string_equal(pds_iso8601(fx->pool, NOW), "2023-11-14T22:13:20Z");
}

/* ============================================================ escaping */

static void test_html_escape(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;

    assert_string_equal(pds_html_escape(p, "&"), "&amp;");
    assert_string_equal(pds_html_escape(p, "<"), "&lt;");
    assert_string_equal(pds_html_escape(p, ">"), "&gt;");
    assert_string_equal(pds_html_escape(p, "\""), "&quot;");
    assert_string_equal(pds_html_escape(p, "'"), "&#39;");
    assert_string_equal(pds_html_escape(p, "`"), "&#96;");
    assert_string_equal(pds_html_escape(p, "="), "&#61;");
    assert_string_equal(pds_html_escape(p, "&<>\"'`="),
                        "&amp;&lt;&gt;&quot;&#39;&#96;&#61;");
    assert_string_equal(pds_html_escape(p, "<script>alert('x')</script>"),
                        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    assert_string_equal(pds_html_escape(p, "\" onerror=\"x"),
                        "&quot; onerror&#61;&quot;x");
    /* Already-escaped text is escaped again, not trusted. */
    assert_string_equal(pds_html_escape(p, "&amp;"), "&amp;amp;");
    assert_string_equal(pds_html_escape(p, "Night Drive (F# minor) \xc3\xa9 / 122"),
                        "Night Drive (F# minor) \xc3\xa9 / 122");
    assert_string_equal(pds_html_escape(p, ""), "");
    assert_non_null(pds_html_escape(p, NULL));
    assert_string_equal(pds_html_escape(p, NULL), "");
}

static void test_parse_int64(void **state)
{
    apr_int64_t v = 42;
    static const char *const junk[] = {
        "12a", "", " 1", "1 ", "+1", "0x10", "1.5", "1e3", "-", "--1", "a",
        "99999999999999999999", "-99999999999999999999", "9223372036854775808", NULL
    };
    const char *const *j;
    (void)state;

    assert_int_equal(pds_parse_int64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(pds_parse_int64("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(pds_parse_int64("-5", -10, 10, &v), 0);
    assert_true(v == -5);
    assert_int_equal(pds_parse_int64("9223372036854775807", 0, APR_INT64_MAX, &v), 0);
    assert_true(v == APR_INT64_MAX);
    assert_int_equal(pds_parse_int64("007", 0, 10, &v), 0);
    assert_int_equal(v, 7);

    v = 42;
    assert_int_not_equal(pds_parse_int64("11", 0, 10, &v), 0);
    assert_int_not_equal(pds_parse_int64("-1", 0, 10, &v), 0);
    assert_int_not_equal(pds_parse_int64("3", 5, 10, &v), 0);
    assert_int_not_equal(pds_parse_int64(NULL, 0, 10, &v), 0);
    for (j = junk; *j; j++) {
        if (!pds_parse_int64(*j, APR_INT64_MIN, APR_INT64_MAX, &v))
            fail_msg("\"%s\" accepted", *j);
    }
    assert_int_equal(v, 42);              /* untouched on failure */
}

static void test_url_unescape(void **state)
{
    fx_t *fx = *state;
    static const char *const bad[] = {
        "%", "%4", "a%2", "%zz", "%g1", "%1g", "%%41", "%00", "a%00b", "%0a", "%0D", "%1F",
        "%1f", "%7f", "%7F", "a\tb", "a\nb", "\x7f", "\x01", NULL
    };
    const char *const *b;
    struct { const char *in, *out; } good[] = {
        { "plain", "plain" }, { "a%20b", "a b" }, { "%41%42c", "ABc" }, { "%2F%2f", "//" },
        { "%c3%A9", "\xc3\xa9" }, { "a+b", "a+b" }, { "", "" }, { "100%25", "100%" },
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *s = apr_pstrdup(fx->pool, good[i].in);
        if (pds_url_unescape(s)) fail_msg("\"%s\" refused", good[i].in);
        assert_string_equal(s, good[i].out);
    }
    for (b = bad; *b; b++) {
        char *s = apr_pstrdup(fx->pool, *b);
        if (!pds_url_unescape(s)) fail_msg("\"%s\" accepted (gave \"%s\")", *b, s);
    }
}

/* ========================================================== validation */

static void test_field_text(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    const char *out;
    pds_presence_e pr;
    pds_err_t *e;
    json_t *o;

    assert_null(pds_field_text(p, J(fx, "{}"), "title", 10, &out, &pr));
    assert_int_equal(pr, PDS_ABSENT);
    assert_null(out);
    assert_null(pds_field_text(p, NULL, "title", 10, &out, &pr));
    assert_int_equal(pr, PDS_ABSENT);
    assert_null(pds_field_text(p, J(fx, "{\"title\": null}"), "title", 10, &out, &pr));
    assert_int_equal(pr, PDS_NULL);
    assert_null(out);
    assert_null(pds_field_text(p, J(fx, "{\"title\": \"Hello\"}"), "title", 10, &out, &pr));
    assert_int_equal(pr, PDS_SET);
    assert_string_equal(out, "Hello");
    assert_null(pds_field_text(p, J(fx, "{\"title\": \"\"}"), "title", 10, &out, &pr));
    assert_int_equal(pr, PDS_SET);
    assert_string_equal(out, "");

    e = pds_field_text(p, J(fx, "{\"title\": 5}"), "title", 10, &out, &pr);
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_string_equal(e->code, "invalid_field");
    assert_non_null(strstr(e->message, "title"));
    assert_non_null(pds_field_text(p, J(fx, "{\"title\": [\"a\"]}"), "title", 10, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"title\": true}"), "title", 10, &out, &pr));

    /* Control characters: tab, newline, carriage return, escape, DEL. */
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"a\\tb\"}"), "t", 10, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"a\\nb\"}"), "t", 10, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"a\\rb\"}"), "t", 10, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"\\u001b[31m\"}"), "t", 10, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"a\\u007f\"}"), "t", 10, &out, &pr));

    /* NUL inside a JSON string ("a\u0000b") must not be cut to "a". */
    o = pds_json_pool(p, json_object());
    json_object_set_new(o, "t", json_stringn("a\0b", 3));
    e = pds_field_text(p, o, "t", 10, &out, &pr);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "t:"));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"a\\u0000b\"}"), "t", 10, &out, &pr));

    /* Length in code points, not bytes. */
    assert_null(pds_field_text(p, J(fx, "{\"t\": \"abc\"}"), "t", 3, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"abcd\"}"), "t", 3, &out, &pr));
    assert_null(pds_field_text(p, J(fx, "{\"t\": \"h\\u00e9\\u00e9\"}"), "t", 3, &out, &pr));
    assert_string_equal(out, "h\xc3\xa9\xc3\xa9");
    assert_null(pds_field_text(p, J(fx, "{\"t\": \"\\u65e5\\u672c\\u8a9e\"}"), "t", 3, &out, &pr));
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"\\u65e5\\u672c\\u8a9ex\"}"), "t", 3,
                                   &out, &pr));
    /* Four-byte characters (U+1F600) count once each. */
    assert_null(pds_field_text(p, J(fx, "{\"t\": \"\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\"}"),
                               "t", 3, &out, &pr));
    assert_int_equal(strlen(out), 12);
    assert_non_null(pds_field_text(p, J(fx, "{\"t\": \"\\ud83d\\ude00\\ud83d\\ude00"
                                           "\\ud83d\\ude00\\ud83d\\ude00\"}"), "t", 3, &out, &pr));

    assert_true(pds_valid_text("", 0));
    assert_true(pds_valid_text("F# minor", 8));
    assert_false(pds_valid_text("F# minor", 7));
    assert_true(pds_valid_text("\xc3\xa9t\xc3\xa9", 3));
    assert_false(pds_valid_text("a\x1f", 10));
}

/* The contract is "no control characters"; U+0080..U+009F are control
 * characters too (C1, e.g. U+0085 NEL is a line break, U+009B is CSI). */
static void test_valid_text_refuses_c1_controls(void **state)
{
    fx_t *fx = *state;
    const char *out;
    pds_presence_e pr;

    assert_false(pds_valid_text("a\xc2\x85" "b", 10));          /* U+0085 NEL */
    assert_false(pds_valid_text("\xc2\x9b" "31m", 10));         /* U+009B CSI */
    assert_non_null(pds_field_text(fx->pool, J(fx, "{\"t\": \"a\\u0085b\"}"), "t", 10,
                                   &out, &pr));
    /* Neighbours stay valid: U+00A0 (no-break space) and U+00E9. */
    assert_true(pds_valid_text("a\xc2\xa0" "b\xc3\xa9", 10));
}

/* Issue 14: DEL goes escaped in Dropbox-API-Arg (jansson's ASCII mode leaves
 * it raw), non-ASCII as \\u escapes; a NULL argument has no header. */
static void test_dbx_arg_header_escapes_del(void **state)
{
    fx_t *fx = *state;
    json_t *arg = json_pack("{s:s}", "path", "/a\x7f" "b\xc3\xa9");
    assert_string_equal(pds_dbx_arg_header(fx->pool, arg), "{\"path\":\"/a\\u007fb\\u00E9\"}");
    json_decref(arg);
    assert_null(pds_dbx_arg_header(fx->pool, NULL));
}

/* Issue 14: a track folder name is cut at 80 bytes on a character boundary,
 * so it stays a string JSON can carry. */
static void test_track_folder_name_cut_on_utf8(void **state)
{
    fx_t *fx = *state;
    char title[128];
    const char *name;
    memset(title, 'a', 79);
    strcpy(title + 79, "\xc3\xa9tail");                  /* byte 80 inside the é */
    name = pds_track_folder_name(fx->pool, NULL, title, "t1");
    assert_int_equal(strncmp(name, title, 79), 0);
    assert_string_equal(name + 79, " [t1]");
    assert_true(pds_valid_text(name, 200));
    memset(title, 'a', 78);
    strcpy(title + 78, "\xc3\xa9tail");                  /* ends exactly at 80: kept */
    name = pds_track_folder_name(fx->pool, NULL, title, "t1");
    assert_string_equal(name + 78, "\xc3\xa9 [t1]");
    memset(title, 'a', 77);
    strcpy(title + 77, "\xf0\x9f\x8e\xb5x");          /* a 4-byte note split at 80 */
    name = pds_track_folder_name(fx->pool, NULL, title, "t1");
    assert_string_equal(name + 77, " [t1]");
}

/* Another producer's words in a mail body (issue 11): one line, and nothing
 * that reorders or breaks what the reader sees. */
static void test_invite_plain(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    assert_string_equal(pds_invite_plain(p, "Night <b>Drive</b> https://x.example"),
                        "Night <b>Drive</b> https://x.example");
    assert_string_equal(pds_invite_plain(p, "a\r\nBcc: x@y\tz"), "a??Bcc: x@y?z");
    assert_string_equal(pds_invite_plain(p, "\xe2\x80\xae" "3pm.exe"), "?3pm.exe");      /* U+202E */
    assert_string_equal(pds_invite_plain(p, "a\xe2\x81\xa6" "b\xe2\x81\xa9"), "a?b?"); /* isolates */
    assert_string_equal(pds_invite_plain(p, "\xe2\x80\x8f" "\xd8\x9c" "x"), "??x");     /* RLM, ALM */
    assert_string_equal(pds_invite_plain(p, "a\xe2\x80\xa8" "b\xc2\x85" "c"), "a?b?c"); /* LS, NEL */
    /* Neighbours stay: U+00E9, U+2014 (em dash), U+201C (quote). */
    assert_string_equal(pds_invite_plain(p, "\xc3\xa9\xe2\x80\x94\xe2\x80\x9c"),
                        "\xc3\xa9\xe2\x80\x94\xe2\x80\x9c");
    assert_string_equal(pds_invite_plain(p, NULL), "");
    assert_string_equal(pds_invite_plain(p, "\xe2\x80"), "\xe2\x80");              /* cut: no overread */
}

static void test_field_url(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    static const char *const good[] = {
        "https://example.com/a.png", "http://x", "HTTPS://EXAMPLE.COM/A",
        "https://example.com/?q=1&b=2#frag", "https://example.com:8443/p/%20x",
        "https://user@example.com/", NULL
    };
    static const char *const bad[] = {
        "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
        "data:image/png;base64,AAAA", "vbscript:x", "/relative/path", "relative.png",
        "//example.com/x", "ftp://example.com/", "http://", "https://", "http:///path",
        "https:/example.com", "https://exa mple.com", "https://example.com/\"onerror=\"x",
        "https://example.com/'x", "https://example.com/<x>", "https://example.com/\\x",
        "https://example.com/`x", "https://example.com/\x01", "https://example.com/\x7f",
        "https://example.com/a\nb", "", NULL
    };
    const char *const *u, *out;
    pds_presence_e pr;
    pds_err_t *e;

    for (u = good; *u; u++) if (!pds_valid_url(*u)) fail_msg("\"%s\" refused", *u);
    for (u = bad; *u; u++) if (pds_valid_url(*u)) fail_msg("\"%s\" accepted", *u);
    assert_true(pds_valid_url(apr_pstrcat(p, "https://x/", rep(p, "a", 2038), NULL)));
    assert_false(pds_valid_url(apr_pstrcat(p, "https://x/", rep(p, "a", 2039), NULL)));

    assert_null(pds_field_url(p, J(fx, "{\"u\": \"https://img.example/a.png\"}"), "u", &out, &pr));
    assert_int_equal(pr, PDS_SET);
    assert_string_equal(out, "https://img.example/a.png");
    /* "" clears, like null. */
    assert_null(pds_field_url(p, J(fx, "{\"u\": \"\"}"), "u", &out, &pr));
    assert_int_equal(pr, PDS_NULL);
    assert_null(out);
    assert_null(pds_field_url(p, J(fx, "{\"u\": null}"), "u", &out, &pr));
    assert_int_equal(pr, PDS_NULL);
    e = pds_field_url(p, J(fx, "{\"artwork_url\": \"javascript:alert(1)\"}"), "artwork_url",
                      &out, &pr);
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_string_equal(e->code, "invalid_field");
    assert_non_null(strstr(e->message, "artwork_url"));
    assert_non_null(pds_field_url(p, J(fx, "{\"u\": \"data:text/html,<b>\"}"), "u", &out, &pr));
    assert_non_null(pds_field_url(p, J(fx, "{\"u\": 7}"), "u", &out, &pr));
}

static void test_field_color_alias(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    static const char *const colours_ok[] = { "#abc", "#ABC", "#1a2B3c", "#000000", NULL };
    static const char *const colours_bad[] = {
        "abc", "#ab", "#abcd", "#12345", "#1234567", "#ggg", "#12345g", "", "red", " #abc",
        "#abc ", "##abc", NULL
    };
    static const char *const alias_ok[] = { "night-drive", "a", "my_track.v2", "A-Z_0.9", NULL };
    static const char *const alias_bad[] = {
        "", ".hidden", ".", "..", "../etc", "a/b", "a b", "a\\b", "caf\xc3\xa9", "a?b", "a%2f",
        NULL
    };
    const char *const *c, *out;
    pds_presence_e pr;
    pds_err_t *e;

    for (c = colours_ok; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "accent", *c));
        if ((e = pds_field_color(p, o, "accent", &out, &pr))) fail_msg("\"%s\": %s", *c, e->message);
        assert_string_equal(out, *c);
    }
    for (c = colours_bad; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "accent", *c));
        if (!(e = pds_field_color(p, o, "accent", &out, &pr))) fail_msg("\"%s\" accepted", *c);
        assert_non_null(strstr(e->message, "accent"));
    }
    assert_null(pds_field_color(p, J(fx, "{\"accent\": null}"), "accent", &out, &pr));
    assert_int_equal(pr, PDS_NULL);

    for (c = alias_ok; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "alias", *c));
        if ((e = pds_field_alias(p, o, "alias", &out, &pr))) fail_msg("\"%s\": %s", *c, e->message);
    }
    for (c = alias_bad; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "alias", *c));
        if (!(e = pds_field_alias(p, o, "alias", &out, &pr))) fail_msg("\"%s\" accepted", *c);
        assert_non_null(strstr(e->message, "alias"));
    }
    assert_null(pds_field_alias(p, pds_json_pool(p, json_pack("{s:s}", "alias", rep(p, "a", 64))),
                                "alias", &out, &pr));
    assert_non_null(pds_field_alias(p, pds_json_pool(p, json_pack("{s:s}", "alias",
                                    rep(p, "a", 65))), "alias", &out, &pr));
}

static void test_field_email_username(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    static const char *const email_ok[] = {
        "a@b.co", "first.last+tag@sub.example.org", "x_y@example.com", NULL
    };
    static const char *const email_bad[] = {
        "a", "@b.co", "a@b", "a@.b", "a@b.co.", "a b@c.de", "a@b@c.de", "a,b@c.de", "a;b@c.de",
        "<a@b.co>", "\"a\"@b.co", "a@b.co\t", NULL
    };
    static const char *const user_ok[] = { "alice", "a.b_c-d@x", "Bob42", NULL };
    static const char *const user_bad[] = { "a b", "a/b", "a:b", "caf\xc3\xa9", "a\"b", "<b>", NULL };
    const char *const *c, *out;
    pds_presence_e pr;
    pds_err_t *e;

    for (c = email_ok; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "email", *c));
        if ((e = pds_field_email(p, o, "email", &out, &pr))) fail_msg("\"%s\": %s", *c, e->message);
        assert_string_equal(out, *c);
    }
    for (c = email_bad; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "email", *c));
        if (!(e = pds_field_email(p, o, "email", &out, &pr))) fail_msg("\"%s\" accepted", *c);
        assert_non_null(strstr(e->message, "email"));
    }
    assert_null(pds_field_email(p, J(fx, "{\"email\": \"\"}"), "email", &out, &pr));
    assert_int_equal(pr, PDS_NULL);
    assert_null(out);

    for (c = user_ok; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "username", *c));
        if ((e = pds_field_username(p, o, "username", &out, &pr)))
            fail_msg("\"%s\": %s", *c, e->message);
    }
    for (c = user_bad; *c; c++) {
        json_t *o = pds_json_pool(p, json_pack("{s:s}", "username", *c));
        if (!(e = pds_field_username(p, o, "username", &out, &pr))) fail_msg("\"%s\" accepted", *c);
        assert_non_null(strstr(e->message, "username"));
    }
    assert_null(pds_field_username(p, J(fx, "{\"username\": \"\"}"), "username", &out, &pr));
    assert_int_equal(pr, PDS_NULL);
    assert_non_null(pds_field_username(p, pds_json_pool(p, json_pack("{s:s}", "username",
                                       rep(p, "u", 101))), "username", &out, &pr));
}

static void test_field_numbers(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    apr_int64_t i = 0;
    double d = 0;
    int b = 0;
    pds_presence_e pr;
    pds_err_t *e;

    assert_null(pds_field_int(p, J(fx, "{\"v\": 5}"), "v", 1, 10, &i, &pr));
    assert_int_equal(pr, PDS_SET);
    assert_int_equal(i, 5);
    assert_null(pds_field_int(p, J(fx, "{\"v\": 1}"), "v", 1, 10, &i, &pr));
    assert_null(pds_field_int(p, J(fx, "{\"v\": 10}"), "v", 1, 10, &i, &pr));
    assert_int_equal(i, 10);
    assert_null(pds_field_int(p, J(fx, "{\"v\": -3}"), "v", -5, 5, &i, &pr));
    assert_true(i == -3);
    i = 77;
    e = pds_field_int(p, J(fx, "{\"version\": 0}"), "version", 1, 10, &i, &pr);
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_non_null(strstr(e->message, "version"));
    assert_int_equal(i, 77);
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": 11}"), "v", 1, 10, &i, &pr));
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": 1.5}"), "v", 1, 10, &i, &pr));
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": 2.0}"), "v", 1, 10, &i, &pr));
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": \"5\"}"), "v", 1, 10, &i, &pr));
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": true}"), "v", 1, 10, &i, &pr));
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": 9223372036854775807}"), "v", 1, 10, &i, &pr));
    assert_non_null(pds_field_int(p, J(fx, "{\"v\": -9223372036854775807}"), "v", 1, 10, &i, &pr));
    assert_null(pds_field_int(p, J(fx, "{\"v\": null}"), "v", 1, 10, &i, &pr));
    assert_int_equal(pr, PDS_NULL);
    assert_null(pds_field_int(p, J(fx, "{}"), "v", 1, 10, &i, &pr));
    assert_int_equal(pr, PDS_ABSENT);

    /* Numbers: integers and reals; a range, inclusive (NaN and infinities
     * cannot be written in JSON). */
    assert_null(pds_field_number(p, J(fx, "{\"bpm\": 120}"), "bpm", 1, 999, &d, &pr));
    assert_true(d == 120.0);
    assert_null(pds_field_number(p, J(fx, "{\"bpm\": 122.5}"), "bpm", 1, 999, &d, &pr));
    assert_true(d == 122.5);
    assert_null(pds_field_number(p, J(fx, "{\"bpm\": 1}"), "bpm", 1, 999, &d, &pr));
    assert_null(pds_field_number(p, J(fx, "{\"bpm\": 999}"), "bpm", 1, 999, &d, &pr));
    e = pds_field_number(p, J(fx, "{\"bpm\": 0.5}"), "bpm", 1, 999, &d, &pr);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "bpm"));
    assert_non_null(pds_field_number(p, J(fx, "{\"bpm\": 999.01}"), "bpm", 1, 999, &d, &pr));
    assert_non_null(pds_field_number(p, J(fx, "{\"bpm\": -120}"), "bpm", 1, 999, &d, &pr));
    assert_non_null(pds_field_number(p, J(fx, "{\"bpm\": 1e308}"), "bpm", 1, 999, &d, &pr));
    assert_non_null(pds_field_number(p, J(fx, "{\"bpm\": \"120\"}"), "bpm", 1, 999, &d, &pr));
    assert_null(pds_field_number(p, J(fx, "{\"bpm\": null}"), "bpm", 1, 999, &d, &pr));
    assert_int_equal(pr, PDS_NULL);

    assert_null(pds_field_bool(p, J(fx, "{\"x\": true}"), "x", &b, &pr));
    assert_int_equal(b, 1);
    assert_null(pds_field_bool(p, J(fx, "{\"x\": false}"), "x", &b, &pr));
    assert_int_equal(b, 0);
    e = pds_field_bool(p, J(fx, "{\"stems\": 1}"), "stems", &b, &pr);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "stems"));
    assert_non_null(pds_field_bool(p, J(fx, "{\"x\": \"true\"}"), "x", &b, &pr));
}

static void test_field_enum(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    static const char *const statuses[] = { "private", "wip", "released", NULL };
    const char *out = NULL;
    pds_presence_e pr;
    pds_err_t *e;

    assert_null(pds_field_enum(p, J(fx, "{\"s\": \"wip\"}"), "s", statuses, &out, &pr));
    assert_int_equal(pr, PDS_SET);
    assert_string_equal(out, "wip");
    assert_null(pds_field_enum(p, J(fx, "{\"s\": \"released\"}"), "s", statuses, &out, &pr));
    assert_string_equal(out, "released");
    e = pds_field_enum(p, J(fx, "{\"sharing_status\": \"public\"}"), "sharing_status", statuses,
                       &out, &pr);
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_string_equal(e->code, "invalid_field");
    assert_non_null(strstr(e->message, "sharing_status"));
    assert_non_null(strstr(e->message, "private, wip, released"));
    assert_non_null(pds_field_enum(p, J(fx, "{\"s\": \"WIP\"}"), "s", statuses, &out, &pr));
    assert_non_null(pds_field_enum(p, J(fx, "{\"s\": \"\"}"), "s", statuses, &out, &pr));
    assert_non_null(pds_field_enum(p, J(fx, "{\"s\": 1}"), "s", statuses, &out, &pr));
    assert_non_null(pds_field_enum(p, J(fx, "{\"s\": [\"wip\"]}"), "s", statuses, &out, &pr));
    assert_null(pds_field_enum(p, J(fx, "{\"s\": null}"), "s", statuses, &out, &pr));
    assert_int_equal(pr, PDS_NULL);
    assert_null(pds_field_enum(p, J(fx, "{}"), "s", statuses, &out, &pr));
    assert_int_equal(pr, PDS_ABSENT);
}

static void test_valid_dropbox_path(void **state)
{
    fx_t *fx = *state;
    static const char *const good[] = {
        "/a/b.wav", "/a", "/PRODUCER-DASHBOARD/bounces/Mix v2 (final).wav", "/a/.hidden",
        "/.../x", "/caf\xc3\xa9/b", NULL
    };
    static const char *const bad[] = {
        "", "/", "a", "a/b", "/a/../b", "/..", "/a/..", "/../a", "/a//b", "//a", "/a/./b", "/.",
        "/a/.", "/a\\b", "\\a", "/a/", "/a/b/", "/a/\tb", "/a\nb", "/a\x7f", NULL
    };
    const char *const *s;

    for (s = good; *s; s++) if (!pds_valid_dropbox_path(*s)) fail_msg("\"%s\" refused", *s);
    for (s = bad; *s; s++) if (pds_valid_dropbox_path(*s)) fail_msg("\"%s\" accepted", *s);
    assert_false(pds_valid_dropbox_path(NULL));
    assert_true(pds_valid_dropbox_path(apr_pstrcat(fx->pool, "/", rep(fx->pool, "a", 1023), NULL)));
    assert_false(pds_valid_dropbox_path(apr_pstrcat(fx->pool, "/", rep(fx->pool, "a", 1024), NULL)));
}

static void test_valid_file_name_and_id(void **state)
{
    fx_t *fx = *state;
    static const char *const good[] = {
        "mix.wav", "My Song (final).wav", "caf\xc3\xa9.wav", ".hidden", "...", "a..b", NULL
    };
    static const char *const bad[] = { "", ".", "..", "a/b", "/a", "a\\b", "a\tb", "a\nb",
                                       "a\x7f", NULL };
    const char *const *s;

    for (s = good; *s; s++) if (!pds_valid_file_name(*s)) fail_msg("\"%s\" refused", *s);
    for (s = bad; *s; s++) if (pds_valid_file_name(*s)) fail_msg("\"%s\" accepted", *s);
    assert_false(pds_valid_file_name(NULL));
    assert_true(pds_valid_file_name(rep(fx->pool, "n", 255)));
    assert_false(pds_valid_file_name(rep(fx->pool, "n", 256)));

    assert_true(pds_valid_id("t0123456789abcdef"));
    assert_true(pds_valid_id("a_1"));
    assert_true(pds_valid_id(rep(fx->pool, "a", 64)));
    assert_false(pds_valid_id(rep(fx->pool, "a", 65)));
    assert_false(pds_valid_id(NULL));
    assert_false(pds_valid_id(""));
    assert_false(pds_valid_id("T0123"));
    assert_false(pds_valid_id("../x"));
    assert_false(pds_valid_id("a-b"));
    assert_false(pds_valid_id("a b"));
    assert_false(pds_valid_id("a%2f"));
}

/* Issue 11: text that does not come through jansson (paths, query values)
 * is checked for well-formed UTF-8 here; every malformation is refused. */
static void test_valid_utf8(void **state)
{
    static const char *const good[] = {
        "", "plain", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
        "\xc2\x80", "\xdf\xbf",                         /* two-byte bounds */
        "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",         /* U+10000, U+10FFFF */
        NULL
    };
    static const char *const bad[] = {
        "\xff", "\xfe\xff", "\x80", "\xbf", "a\x80z",   /* stray bytes */
        "\xc0\xaf", "\xc1\xbf",                         /* overlong "/" and U+007F */
        "\xe0\x80\xaf", "\xe0\x9f\xbf",                 /* overlong three-byte */
        "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf",         /* overlong four-byte */
        "\xed\xa0\x80", "\xed\xbf\xbf",                 /* surrogates U+D800, U+DFFF */
        "\xed\xa0\xbd\xed\xb8\x80",                     /* CESU-8 pair */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",         /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80",
        "\xc3", "\xe6\x97", "\xf0\x9f\x98",             /* cut off at the end */
        "\xc3z", "\xe6z\xa5", "\xf0\x9f\x98z",          /* cut off in the middle */
        NULL
    };
    const char *const *s;
    (void)state;
    for (s = good; *s; s++)
        if (!pds_valid_utf8(*s, strlen(*s))) fail_msg("good #%d refused", (int)(s - good));
    for (s = bad; *s; s++)
        if (pds_valid_utf8(*s, strlen(*s))) fail_msg("bad #%d accepted", (int)(s - bad));
    /* The length is honoured: a sequence cut by len is refused. */
    assert_false(pds_valid_utf8("\xc3\xa9", 1));
    assert_true(pds_valid_utf8("\xc3\xa9\xff", 2));
    /* pds_valid_text (used for paths and names) refuses the same. */
    assert_false(pds_valid_text("\xff\xfe", 10));
    assert_false(pds_valid_text("a\xed\xa0\x80", 10));
    assert_false(pds_valid_text("\xc0\xaf", 10));
    assert_false(pds_valid_file_name("mix\xff.wav"));
}

static void test_bidi_refused_in_names(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    static const char *const bidi[] = {
        "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae",
        "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9", NULL
    };
    const char *const *b, *out;
    pds_presence_e pr;
    pds_err_t *e;
    for (b = bidi; *b; b++) {
        const char *name = apr_pstrcat(p, "evil", *b, "vaw.exe", NULL);
        if (!pds_has_bidi(name)) fail_msg("bidi #%d not seen", (int)(b - bidi));
        if (pds_valid_file_name(name)) fail_msg("bidi #%d in a file name accepted", (int)(b - bidi));
        if (!pds_name_problem(name)) fail_msg("bidi #%d not a problem", (int)(b - bidi));
    }
    /* Neighbours are fine: U+202F (narrow no-break space), U+2065, U+206A,
     * U+2014 (em dash), and a lone lead byte. */
    assert_false(pds_has_bidi("a\xe2\x80\xaf" "b"));
    assert_false(pds_has_bidi("a\xe2\x81\xa5" "b\xe2\x81\xaa"));
    assert_false(pds_has_bidi("\xe2\x80\x94 em dash"));
    assert_false(pds_has_bidi("\xe2"));
    assert_null(pds_name_problem("Caf\xc3\xa9 \xe2\x80\x94 mix"));
    assert_non_null(pds_name_problem("\xff"));

    /* pds_field_name: a JSON title with U+202E is refused, naming the field. */
    e = pds_field_name(p, J(fx, "{\"title\": \"a\\u202eb\"}"), "title", 200, &out, &pr);
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_string_equal(e->code, "invalid_field");
    assert_true(!strncmp(e->message, "title: ", 7));
    assert_non_null(pds_field_name(p, J(fx, "{\"n\": \"\\u2066x\\u2069\"}"), "n", 200, &out, &pr));
    assert_null(pds_field_name(p, J(fx, "{\"n\": \"Caf\\u00e9\"}"), "n", 200, &out, &pr));
    assert_string_equal(out, "Caf\xc3\xa9");
    assert_null(pds_field_name(p, J(fx, "{}"), "n", 200, &out, &pr));
    assert_int_equal(pr, PDS_ABSENT);
}

static void test_valid_query(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    pds_err_t *e;
    assert_null(pds_valid_query(p, NULL));
    assert_null(pds_valid_query(p, ""));
    assert_null(pds_valid_query(p, "bucket=Caf%C3%A9+mix&final=1"));
    assert_null(pds_valid_query(p, "flag&x="));
    e = pds_valid_query(p, "a=1&bucket=%FF");
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_string_equal(e->code, "invalid_field");
    assert_true(!strncmp(e->message, "bucket: ", 8));
    assert_non_null(pds_valid_query(p, "bucket=%ED%A0%80"));      /* surrogate */
    assert_non_null(pds_valid_query(p, "bucket=%C0%AF"));         /* overlong */
    assert_non_null(pds_valid_query(p, "bucket=%E6%97"));         /* cut off */
    /* Only UTF-8 is checked here: a malformed escape or a control character
     * is for the route that reads the value (e.g. the OAuth state). */
    assert_null(pds_valid_query(p, "bucket=%zz&b=%F"));
    assert_null(pds_valid_query(p, "state=%00"));
    assert_non_null(pds_valid_query(p, "bucket=%C3"));            /* cut at the end */
    assert_non_null(pds_valid_query(p, "bucket=%C3%"));
    assert_null(pds_valid_query(p, "bucket=%C3%A9"));
    e = pds_valid_query(p, "%FF=1");
    assert_non_null(e);
    assert_true(!strncmp(e->message, "query: ", 7));
}

/* Issue 11: an upload whose argument could not be built (json_pack of a name
 * that is not UTF-8 answers NULL) is not sent, and the result says why: the
 * export's ex_failed read an uninitialised result here before. */
static void test_dbx_unsent_call_fills_result(void **state)
{
    fx_t *fx = *state;
    pds_dbx_conf_t conf;
    pds_dbx_auth_t auth = { "token", NULL };
    pds_dbx_res_t res;
    json_t *arg = json_pack("{s:s}", "path", "/bounces/\xff\xfe.wav");
    assert_null(arg);                       /* what the export gets for such a name */
    memset(&conf, 0, sizeof(conf));
    memset(&res, 0xa5, sizeof(res));
    assert_int_not_equal(pds_dbx_upload(fx->pool, &conf, &auth, "files/upload_session/finish",
                                        arg, NULL, 0, 0, &res), APR_SUCCESS);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.transient, 0);     /* trying again cannot help */
    assert_null(res.result);
    assert_null(res.tag);
    assert_null(res.error);
    assert_non_null(res.why);
    assert_non_null(strstr(res.why, "files/upload_session/finish"));
    memset(&res, 0xa5, sizeof(res));
    assert_int_not_equal(pds_dbx_download(fx->pool, &conf, &auth, "files/download_zip", arg,
                                          NULL, NULL, NULL, &res), APR_SUCCESS);
    assert_int_equal(res.transient, 0);
    assert_non_null(res.why);
}

/* =========================================================== templates */

/* Add (or fail), render (or fail). */
static void tmpl_add_ok(pds_tmpl_set_t *set, const char *name, const char *text)
{
    const char *err = pds_tmpl_add(set, name, text, strlen(text));
    if (err) fail_msg("template %s: %s", name, err);
}

#define render_ok(fx, set, name, data) render_ok_at((fx), (set), (name), (data), __LINE__)
static const char *render_ok_at(fx_t *fx, pds_tmpl_set_t *set, const char *name,
                                const char *data, int line)
{
    const char *out = NULL, *err;
    apr_size_t len = 0;
    err = pds_tmpl_render(fx->pool, set, name, J(fx, data), &out, &len);
    if (err) fail_msg("line %d: rendering %s: %s", line, name, err);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    return out;
}

#define assert_render(fx, text, data, want) do { \
        pds_tmpl_set_t *s_ = pds_tmpl_set_make((fx)->pool); \
        tmpl_add_ok(s_, "t", (text)); \
        assert_string_equal(render_ok((fx), s_, "t", (data)), (want)); \
    } while (0)

static void test_tmpl_variables_escaped(void **state)
{
    fx_t *fx = *state;

    assert_render(fx, "<p>{{name}}</p>", "{\"name\": \"<script>alert('x')</script>\"}",
                  "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>");
    assert_render(fx, "<a title=\"{{t}}\">", "{\"t\": \"\\\" onmouseover=\\\"x\"}",
                  "<a title=\"&quot; onmouseover&#61;&quot;x\">");
    assert_render(fx, "{{ name }}|{{name}}", "{\"name\": \"a&b\"}", "a&amp;b|a&amp;b");
    assert_render(fx, "{{n}} {{r}} {{t}}", "{\"n\": 42, \"r\": 1.5, \"t\": true}", "42 1.5 true");
    assert_render(fx, "[{{f}}{{z}}{{missing}}]", "{\"f\": false, \"z\": null}", "[]");
    /* Braces inside values are data, not tags. */
    assert_render(fx, "{{v}}", "{\"v\": \"{{other}}\", \"other\": \"no\"}", "{{other}}");
    assert_render(fx, "no tags at all", "{}", "no tags at all");
    assert_render(fx, "", "{}", "");
    assert_render(fx, "caf\xc3\xa9 {{v}}", "{\"v\": \"\\u00e9\"}", "caf\xc3\xa9 \xc3\xa9");
}

static void test_tmpl_dotted_names(void **state)
{
    fx_t *fx = *state;

    assert_render(fx, "{{a.b.c}}", "{\"a\": {\"b\": {\"c\": \"deep<\"}}}", "deep&lt;");
    assert_render(fx, "[{{a.x}}][{{a.b.c.d}}][{{x.y}}]", "{\"a\": {\"b\": {\"c\": \"s\"}}}", "[][][]");
    assert_render(fx, "{{share.title}} by {{producer.display_name}}",
                  "{\"share\": {\"title\": \"EP\"}, \"producer\": {\"display_name\": \"DJ\"}}",
                  "EP by DJ");
    /* Inside a section, names not found there are looked up outside. */
    assert_render(fx, "{{#tracks}}{{title}}@{{share.title}};{{/tracks}}",
                  "{\"share\": {\"title\": \"EP\"}, \"tracks\": [{\"title\": \"A\"}, {\"title\": \"B\"}]}",
                  "A@EP;B@EP;");
}

static void test_tmpl_sections(void **state)
{
    fx_t *fx = *state;

    assert_render(fx, "<ul>{{#items}}<li>{{name}}</li>{{/items}}</ul>",
                  "{\"items\": [{\"name\": \"a\"}, {\"name\": \"<b>\"}]}",
                  "<ul><li>a</li><li>&lt;b&gt;</li></ul>");
    assert_render(fx, "{{#items}}[{{.}}]{{/items}}", "{\"items\": [\"x\", \"<y>\", 3]}",
                  "[x][&lt;y&gt;][3]");
    assert_render(fx, "{{#user}}{{name}} ({{role}}){{/user}}",
                  "{\"user\": {\"name\": \"Ann\", \"role\": \"mix\"}}", "Ann (mix)");
    assert_render(fx, "{{#ok}}yes{{/ok}}|{{#no}}yes{{/no}}", "{\"ok\": true, \"no\": false}", "yes|");
    assert_render(fx, "{{#items}}x{{/items}}", "{\"items\": []}", "");
    assert_render(fx, "{{#n}}x{{/n}}{{#m}}y{{/m}}", "{\"n\": null}", "");
    assert_render(fx, "{{#s}}<{{.}}>{{/s}}{{#e}}!{{/e}}", "{\"s\": \"str\", \"e\": \"\"}", "<str>");
    assert_render(fx, "{{#tracks}}{{title}}:{{#files}}{{name}},{{/files}};{{/tracks}}",
                  "{\"tracks\": [{\"title\": \"A\", \"files\": [{\"name\": \"a1\"}, {\"name\": \"a2\"}]},"
                  " {\"title\": \"B\", \"files\": []}]}",
                  "A:a1,a2,;B:;");
    assert_render(fx, "{{#a.b}}[{{c}}]{{/a.b}}", "{\"a\": {\"b\": {\"c\": 1}}}", "[1]");
}

static void test_tmpl_inverted(void **state)
{
    fx_t *fx = *state;
    const char *t = "{{^x}}none{{/x}}";

    assert_render(fx, t, "{}", "none");
    assert_render(fx, t, "{\"x\": null}", "none");
    assert_render(fx, t, "{\"x\": false}", "none");
    assert_render(fx, t, "{\"x\": []}", "none");
    assert_render(fx, t, "{\"x\": \"\"}", "none");
    assert_render(fx, t, "{\"x\": true}", "");
    assert_render(fx, t, "{\"x\": [1]}", "");
    assert_render(fx, t, "{\"x\": \"s\"}", "");
    assert_render(fx, t, "{\"x\": {\"a\": 1}}", "");
    assert_render(fx, "{{#files}}f{{/files}}{{^files}}No downloads{{/files}}", "{\"files\": []}",
                  "No downloads");
}

static void test_tmpl_partials_and_comments(void **state)
{
    fx_t *fx = *state;
    pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
    const char *out = NULL, *err;

    /* A partial may be added after the template that includes it. */
    tmpl_add_ok(set, "page", "<h1>{{title}}</h1><ol>{{#tracks}}{{>track}}{{/tracks}}</ol>");
    tmpl_add_ok(set, "track", "<li>{{title}} {{>badge}}</li>");
    tmpl_add_ok(set, "badge", "[{{kind}}]");
    assert_true(pds_tmpl_has(set, "page"));
    assert_true(pds_tmpl_has(set, "track"));
    assert_false(pds_tmpl_has(set, "nope"));
    assert_string_equal(render_ok(fx, set, "page",
        "{\"title\": \"EP & co\", \"kind\": \"new\", \"tracks\": [{\"title\": \"A\"},"
        " {\"title\": \"<B>\", \"kind\": \"old\"}]}"),
        "<h1>EP &amp; co</h1><ol><li>A [new]</li><li>&lt;B&gt; [old]</li></ol>");

    /* Rendering needs every partial; recursion is stopped, not followed. */
    tmpl_add_ok(set, "broken", "a{{>missing}}b");
    err = pds_tmpl_render(fx->pool, set, "broken", J(fx, "{}"), &out, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "missing"));
    tmpl_add_ok(set, "loop", "x{{>loop}}");
    assert_non_null(pds_tmpl_render(fx->pool, set, "loop", J(fx, "{}"), &out, NULL));

    /* Comments vanish, whatever they hold. */
    assert_render(fx, "a{{! a comment with <b> & {stuff} }}b", "{}", "ab");
    assert_render(fx, "a{{!}}b{{!\nline one\nline two }}c", "{}", "abc");
    assert_render(fx, "{{! <b>{{x</b> }}ok", "{}", "ok");
}

static void test_tmpl_parse_errors(void **state)
{
    fx_t *fx = *state;
    pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
    static const char *const bad[] = {
        "{{#a}}x",                        /* unclosed section */
        "{{^a}}x",
        "{{#a}}{{#b}}x{{/b}}",
        "x{{/a}}",                        /* stray close */
        "{{#a}}{{/b}}",                   /* mismatched close */
        "{{#a}}{{#b}}{{/a}}{{/b}}",       /* crossed */
        "{{{x}}}",                        /* raw output is refused by design */
        "{{&x}}",
        "{{=<% %>=}}",                    /* delimiter change */
        "{{a b}}", "{{a<b}}", "{{\"x\"}}", "{{a/b}}", "{{a:b}}", "{{#a b}}{{/a b}}",
        "{{}}", "{{ }}", "{{#}}", "{{/}}", "{{>}}",
        "{{x}", "{{", "text {{ x",
        NULL
    };
    const char *const *t, *err;
    char deep[32 * 12 + 1] = "";
    int i;

    for (t = bad; *t; t++) {
        const char *name = apr_psprintf(fx->pool, "bad%d", (int)(t - bad));
        if (!pds_tmpl_add(set, name, *t, strlen(*t))) fail_msg("\"%s\" accepted", *t);
        if (pds_tmpl_has(set, name)) fail_msg("\"%s\" kept after an error", *t);
    }
    err = pds_tmpl_add(set, "u", "{{#items}}x", 11);
    assert_non_null(strstr(err, "items"));
    /* Errors say where. */
    err = pds_tmpl_add(set, "where", "line one\nline two {{&x}}\n", 26);
    assert_non_null(err);
    assert_non_null(strstr(err, "where"));
    assert_non_null(strstr(err, "line 2"));

    /* Nesting is bounded. */
    for (i = 0; i < 32; i++) strcat(deep, "{{#a}}");
    for (i = 0; i < 32; i++) strcat(deep, "{{/a}}");
    assert_non_null(pds_tmpl_add(set, "deep", deep, strlen(deep)));
    assert_render(fx, "{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}", "{\"a\": true}", "x");
}

static void test_tmpl_unknown_template(void **state)
{
    fx_t *fx = *state;
    pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
    const char *out = NULL, *err;

    err = pds_tmpl_render(fx->pool, set, "share", J(fx, "{}"), &out, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "share"));
    tmpl_add_ok(set, "share", "ok");
    assert_string_equal(render_ok(fx, set, "share", "{}"), "ok");
    assert_non_null(pds_tmpl_render(fx->pool, set, "Share", J(fx, "{}"), &out, NULL));
}

static void test_tmpl_large_output(void **state)
{
    fx_t *fx = *state;
    pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
    json_t *data = pds_json_pool(fx->pool, json_object()), *items = json_array();
    const char *chunk = rep(fx->pool, "<a&b>", 200);            /* 1000 bytes, 15 per "<a&b>" escaped */
    const char *out = NULL, *err;
    apr_size_t len = 0;
    int i;

    for (i = 0; i < 50; i++) json_array_append_new(items, json_pack("{s:s}", "s", chunk));
    json_object_set_new(data, "items", items);
    tmpl_add_ok(set, "big", "{{#items}}{{s}}|{{/items}}end");
    err = pds_tmpl_render(fx->pool, set, "big", data, &out, &len);
    assert_null(err);
    assert_int_equal(len, 50 * (200 * 15 + 1) + 3);
    assert_int_equal(strlen(out), len);
    assert_null(strchr(out, '<'));
    assert_string_equal(out + len - 4, "|end");
}

static void test_tmpl_load_dir(void **state)
{
    fx_t *fx = *state;
    pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
    char *dir = make_tmpdir(fx->pool), *empty;
    apr_file_t *f;
    struct { const char *name, *text; } files[] = {
        { "page.html", "<main>{{>part}}</main>" }, { "part.html", "{{who}}" },
        { "notes.txt", "{{{not a template}}}" },
    };
    size_t i;
    apr_size_t n;

    assert_non_null(dir);
    fx->dir = dir;                     /* removed at teardown */
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *path = apr_pstrcat(fx->pool, dir, "/", files[i].name, NULL);
        assert_int_equal(apr_file_open(&f, path, APR_WRITE | APR_CREATE | APR_TRUNCATE,
                                       APR_OS_DEFAULT, fx->pool), APR_SUCCESS);
        n = strlen(files[i].text);
        assert_int_equal(apr_file_write_full(f, files[i].text, n, &n), APR_SUCCESS);
        apr_file_close(f);
    }
    assert_null(pds_tmpl_load_dir(set, dir));
    assert_true(pds_tmpl_has(set, "page"));
    assert_true(pds_tmpl_has(set, "part"));
    assert_false(pds_tmpl_has(set, "notes"));
    assert_string_equal(render_ok(fx, set, "page", "{\"who\": \"<me>\"}"), "<main>&lt;me&gt;</main>");

    assert_non_null(pds_tmpl_load_dir(pds_tmpl_set_make(fx->pool),
                                      apr_pstrcat(fx->pool, dir, "/no-such-dir", NULL)));
    empty = apr_pstrcat(fx->pool, dir, "/empty", NULL);
    assert_int_equal(apr_dir_make(empty, APR_OS_DEFAULT, fx->pool), APR_SUCCESS);
    assert_non_null(pds_tmpl_load_dir(pds_tmpl_set_make(fx->pool), empty));
    apr_dir_remove(empty, fx->pool);

    /* A broken template stops the load, naming the template. */
    assert_int_equal(apr_file_open(&f, apr_pstrcat(fx->pool, dir, "/bad.html", NULL),
                                   APR_WRITE | APR_CREATE, APR_OS_DEFAULT, fx->pool), APR_SUCCESS);
    apr_file_puts("ok\n{{#open}}", f);
    apr_file_close(f);
    {
        const char *err = pds_tmpl_load_dir(pds_tmpl_set_make(fx->pool), dir);
        assert_non_null(err);
        assert_non_null(strstr(err, "bad"));
    }
}

/* "{{..}}" passes the tag-name check, and splits into no name at all: the
 * template must be refused, or render as nothing; it must not crash. */
static void test_tmpl_dots_only_name(void **state)
{
    fx_t *fx = *state;
    static const char *const texts[] = { "a{{..}}b", "a{{#..}}x{{/..}}b", "a{{^...}}{{/...}}b",
                                         NULL };
    const char *const *t;

    for (t = texts; *t; t++) {
        pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
        if (!pds_tmpl_add(set, "t", *t, strlen(*t))) {
            const char *out = NULL, *err;
            err = pds_tmpl_render(fx->pool, set, "t", J(fx, "{\"a\": 1}"), &out, NULL);
            if (!err && strcmp(out, "ab")) fail_msg("\"%s\" rendered as \"%s\"", *t, out);
        }
    }
}

/* pds_tmpl_add takes (text, len): nothing past len is template text. */
static void test_tmpl_add_respects_len(void **state)
{
    fx_t *fx = *state;
    pds_tmpl_set_t *set = pds_tmpl_set_make(fx->pool);
    const char *text = "ab{{x}}";

    tmpl_add_ok(set, "cut", "ab{{x}}");
    assert_null(pds_tmpl_add(set, "prefix", text, 2));
    assert_string_equal(render_ok(fx, set, "prefix", "{\"x\": \"X\"}"), "ab");
    /* "ab{{x}" within len: the closing "}}" is not all there. */
    assert_non_null(pds_tmpl_add(set, "half", text, 6));
    assert_non_null(pds_tmpl_add(set, "half2", text, 5));
}

/* ============================================================ database */

static void test_db_setup_latest(void **state)
{
    fx_t *fx = *state;
    const char *err = NULL;

    assert_int_equal(PDS_SCHEMA_VERSION, pds_migration_count);
    assert_int_equal(pds_db_schema_version(fx->pool, fx->driver, fx->handle), 0);
    assert_int_equal(pds_db_setup(fx->pool, fx->driver, fx->handle, 0, &err), APR_SUCCESS);
    assert_int_equal(pds_db_schema_version(fx->pool, fx->driver, fx->handle), PDS_SCHEMA_VERSION);
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_schema_version"), "1");
    assert_true(table_exists(fx, "pds_tracks"));
    assert_true(table_exists(fx, "pds_shares"));
    assert_true(table_exists(fx, "pds_events"));
    assert_true(table_exists(fx, "pds_notifications"));
    /* sqlite3 session: WAL. */
    assert_string_equal(sql_value(fx, "PRAGMA journal_mode"), "wal");
    /* Idempotent. */
    assert_int_equal(pds_db_setup(fx->pool, fx->driver, fx->handle, 0, &err), APR_SUCCESS);
    assert_int_equal(pds_db_schema_version(fx->pool, fx->driver, fx->handle), PDS_SCHEMA_VERSION);
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_schema_version"), "1");
    /* Every statement prepares against the latest schema. */
    assert_int_equal(ctx_init(fx), 0);
    assert_true(apr_hash_count(fx->db.prepared) > 0);
}

static void test_db_migrate_in_place(void **state)
{
    fx_t *fx = *state;
    const char *err = NULL;
    pds_reply_t r;
    int rv, n = 0;

    assert_int_equal(pds_db_setup(fx->pool, fx->driver, fx->handle, 1, &err), APR_SUCCESS);
    assert_int_equal(pds_db_schema_version(fx->pool, fx->driver, fx->handle), 1);
    assert_true(table_exists(fx, "pds_tracks"));
    assert_false(table_exists(fx, "pds_notifications"));
    rv = apr_dbd_query(fx->driver, fx->handle, &n,
                       "INSERT INTO pds_tracks (id, owner, title, group_id, version,"
                       " sharing_status, created_at, updated_at) VALUES ('t00000000000000a1',"
                       " 'alice', 'Old song', 'old', 3, 'wip', 1600000000, 1600000000)");
    assert_int_equal(rv, 0);
    assert_int_equal(n, 1);

    assert_int_equal(pds_db_setup(fx->pool, fx->driver, fx->handle, 0, &err), APR_SUCCESS);
    assert_int_equal(pds_db_schema_version(fx->pool, fx->driver, fx->handle), PDS_SCHEMA_VERSION);
    assert_true(table_exists(fx, "pds_notifications"));
    /* Asking for an older version never downgrades. */
    assert_int_equal(pds_db_setup(fx->pool, fx->driver, fx->handle, 1, &err), APR_SUCCESS);
    assert_int_equal(pds_db_schema_version(fx->pool, fx->driver, fx->handle), PDS_SCHEMA_VERSION);

    assert_int_equal(ctx_init(fx), 0);
    r = call(fx, "GET", "/tracks/t00000000000000a1", NULL, NULL);
    assert_status(r, 200);
    assert_jstr(r.body, "title", "Old song");
    assert_jstr(r.body, "group_id", "old");
    assert_jint(r.body, "version", 3);
    assert_jstr(r.body, "sharing_status", "wip");
    assert_jstr(r.body, "created_at", "2020-09-13T12:26:40Z");
    r = call(fx, "GET", "/tracks", NULL, NULL);
    assert_int_equal(JLEN(r.body, "tracks"), 1);
    r = call(fx, "GET", "/notifications", NULL, NULL);
    assert_status(r, 200);
    assert_int_equal(JLEN(r.body, "notifications"), 0);
}

static void test_db_statements_and_transactions(void **state)
{
    fx_t *fx = *state;
    const char *ev[6] = { "s1", "t1", NULL, "view", NULL, "1700000000" };
    const char *sid = "s1";
    pds_rows_t *rs = NULL;
    int before = fx->db.statements, n = -1;

    fx->db.last_error = NULL;
    assert_int_not_equal(pds_db_select(&fx->db, "no_such_statement", &rs, 0, NULL), APR_SUCCESS);
    assert_non_null(fx->db.last_error);
    assert_non_null(strstr(fx->db.last_error, "no_such_statement"));

    assert_int_equal(pds_db_exec(&fx->db, "pds_event_insert", &n, 6, ev), APR_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(pds_db_select(&fx->db, "pds_stats_share", &rs, 1, &sid), APR_SUCCESS);
    assert_int_equal(rs->ncols, 5);
    assert_int_equal(rs->rows->nelts, 1);
    assert_string_equal(PDS_ROW(rs, 0)[0], "s1");
    assert_string_equal(PDS_ROW(rs, 0)[2], "view");
    assert_null(PDS_ROW(rs, 0)[3]);               /* SQL NULL is NULL */
    assert_string_equal(PDS_ROW(rs, 0)[4], "1");
    assert_true(fx->db.statements >= before + 2);

    /* Rolled back: gone; committed: kept. */
    assert_int_equal(pds_db_begin(&fx->db), APR_SUCCESS);
    assert_int_equal(pds_db_exec(&fx->db, "pds_event_insert", NULL, 6, ev), APR_SUCCESS);
    assert_int_equal(pds_db_end(&fx->db, 1), APR_SUCCESS);
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_events"), "1");
    assert_int_equal(pds_db_begin(&fx->db), APR_SUCCESS);
    assert_int_equal(pds_db_exec(&fx->db, "pds_event_insert", NULL, 6, ev), APR_SUCCESS);
    assert_int_equal(pds_db_end(&fx->db, 0), APR_SUCCESS);
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_events"), "2");
    /* Ending with no transaction open is harmless. */
    assert_int_equal(pds_db_end(&fx->db, 0), APR_SUCCESS);
    assert_string_equal(pds_db_i64(fx->pool, -APR_INT64_C(9000000000)), "-9000000000");
}

/* ============================================================ API: tracks */

static void test_api_track_create(void **state)
{
    fx_t *fx = *state;
    pds_reply_t r, g;
    const char *id;

    r = call(fx, "POST", "/tracks", NULL,
             "{\"title\": \"Night Drive\", \"bpm\": 122.5, \"key\": \"F# minor\","
             " \"artwork_url\": \"https://img.example/a.png\", \"bucket\": \"Beats\","
             " \"alias\": \"night-drive\", \"group_id\": \"nd\", \"version\": 2,"
             " \"sharing_status\": \"wip\"}");
    assert_status(r, 201);
    assert_null(r.allow);
    id = JSTR(r.body, "id");
    assert_non_null(id);
    assert_true(pds_valid_id(id));
    assert_int_equal(id[0], 't');
    assert_jstr(r.body, "title", "Night Drive");
    assert_true(json_is_number(jpath(r.body, "bpm")));
    assert_true(json_number_value(jpath(r.body, "bpm")) == 122.5);
    assert_jstr(r.body, "key", "F# minor");
    assert_jstr(r.body, "artwork_url", "https://img.example/a.png");
    assert_jstr(r.body, "bucket", "Beats");
    assert_jstr(r.body, "alias", "night-drive");
    assert_jstr(r.body, "group_id", "nd");
    assert_jint(r.body, "version", 2);
    assert_jstr(r.body, "sharing_status", "wip");
    assert_jstr(r.body, "created_at", "2023-11-14T22:13:20Z");
    assert_jstr(r.body, "updated_at", "2023-11-14T22:13:20Z");

    g = call(fx, "GET", apr_pstrcat(fx->pool, "/tracks/", id, NULL), NULL, NULL);
    assert_status(g, 200);
    assert_true(json_equal(g.body, r.body));

    /* Defaults. */
    fx->ctx.now = NOW + 10;
    r = call(fx, "POST", "/tracks", NULL, "{\"title\": \"Sketch\"}");
    assert_status(r, 201);
    assert_jint(r.body, "version", 1);
    assert_jstr(r.body, "sharing_status", "private");
    assert_jnull(r.body, "bpm");
    assert_jnull(r.body, "key");
    assert_jnull(r.body, "artwork_url");
    assert_jnull(r.body, "bucket");
    assert_jnull(r.body, "alias");
    assert_jnull(r.body, "group_id");
    assert_string_not_equal(JSTR(r.body, "id"), id);

    g = call(fx, "GET", "/tracks", NULL, NULL);
    assert_status(g, 200);
    assert_int_equal(json_object_size(g.body), 1);
    assert_int_equal(JLEN(g.body, "tracks"), 2);
    assert_jstr(g.body, "tracks.0.title", "Night Drive");
    assert_jstr(g.body, "tracks.1.title", "Sketch");
}

static void test_api_track_validation(void **state)
{
    fx_t *fx = *state;
    struct { const char *body, *field; } cases[] = {
        { "{}", "title" },
        { "{\"title\": \"\"}", "title" },
        { "{\"title\": null}", "title" },
        { "{\"title\": 5}", "title" },
        { "{\"title\": \"a\\u0001b\"}", "title" },
        { "{\"title\": \"a\\nb\"}", "title" },
        { "{\"title\": \"x\", \"bpm\": 0}", "bpm" },
        { "{\"title\": \"x\", \"bpm\": 1000}", "bpm" },
        { "{\"title\": \"x\", \"bpm\": \"fast\"}", "bpm" },
        { "{\"title\": \"x\", \"key\": 1}", "key" },
        { "{\"title\": \"x\", \"artwork_url\": \"javascript:alert(1)\"}", "artwork_url" },
        { "{\"title\": \"x\", \"artwork_url\": \"data:image/png;base64,AA\"}", "artwork_url" },
        { "{\"title\": \"x\", \"artwork_url\": \"/img/a.png\"}", "artwork_url" },
        { "{\"title\": \"x\", \"alias\": \"../etc\"}", "alias" },
        { "{\"title\": \"x\", \"alias\": \"\"}", "alias" },
        { "{\"title\": \"x\", \"version\": 0}", "version" },
        { "{\"title\": \"x\", \"version\": 1.5}", "version" },
        { "{\"title\": \"x\", \"version\": null}", "version" },
        { "{\"title\": \"x\", \"sharing_status\": \"public\"}", "sharing_status" },
        { "{\"title\": \"x\", \"sharing_status\": null}", "sharing_status" },
        { "{\"title\": \"x\", \"bucket\": [\"a\"]}", "bucket" },
    };
    size_t i;
    pds_reply_t r;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = call(fx, "POST", "/tracks", NULL, cases[i].body);
        if (check_error(fx->pool, r, 400, "invalid_field", cases[i].field))
            fail_msg("%s: %s", cases[i].body, check_error(fx->pool, r, 400, "invalid_field",
                                                          cases[i].field));
    }
    r = call(fx, "POST", "/tracks", NULL,
             apr_psprintf(fx->pool, "{\"title\": \"%s\"}", rep(fx->pool, "t", 201)));
    assert_api_error(r, 400, "invalid_field", "title");
    r = call(fx, "POST", "/tracks", NULL,
             apr_psprintf(fx->pool, "{\"title\": \"x\", \"key\": \"%s\"}", rep(fx->pool, "k", 33)));
    assert_api_error(r, 400, "invalid_field", "key");
    r = call(fx, "POST", "/tracks", NULL,
             apr_psprintf(fx->pool, "{\"title\": \"x\", \"group_id\": \"%s\"}",
                          rep(fx->pool, "g", 101)));
    assert_api_error(r, 400, "invalid_field", "group_id");
    r = call(fx, "POST", "/tracks", NULL, NULL);
    assert_api_error(r, 400, "invalid_field", "title");
    /* At the limits: accepted. */
    r = call(fx, "POST", "/tracks", NULL,
             apr_psprintf(fx->pool, "{\"title\": \"%s\", \"bpm\": 999, \"version\": 1000000}",
                          rep(fx->pool, "\\u00e9", 200)));
    assert_status(r, 201);

    /* Nothing else was stored. */
    r = call(fx, "GET", "/tracks", NULL, NULL);
    assert_int_equal(JLEN(r.body, "tracks"), 1);
}

static void test_api_track_other_user(void **state)
{
    fx_t *fx = *state;
    const char *id = make_track(fx, "{\"title\": \"Alice's\", \"bucket\": \"EP\"}");
    const char *path = apr_pstrcat(fx->pool, "/tracks/", id, NULL);
    pds_reply_t r;

    fx->ctx.user = "bob";
    assert_api_error(call(fx, "GET", path, NULL, NULL), 404, "not_found", NULL);
    assert_api_error(call(fx, "PATCH", path, NULL, "{\"title\": \"Bob's now\"}"), 404,
                     "not_found", NULL);
    assert_api_error(call(fx, "DELETE", path, NULL, NULL), 404, "not_found", NULL);
    assert_api_error(call(fx, "GET", apr_pstrcat(fx->pool, path, "/files", NULL), NULL, NULL),
                     404, "not_found", NULL);
    assert_api_error(call(fx, "POST", apr_pstrcat(fx->pool, path, "/files", NULL), NULL,
                          "{\"category\": \"master\", \"dropbox_path\": \"/a.wav\","
                          " \"name\": \"a.wav\"}"), 404, "not_found", NULL);
    assert_api_error(call(fx, "POST", "/shares", NULL,
                          apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", id)),
                     404, "not_found", NULL);
    assert_api_error(call(fx, "POST", "/shares", NULL, "{\"bucket\": \"EP\"}"),
                     404, "not_found", NULL);
    r = call(fx, "GET", "/tracks", NULL, NULL);
    assert_status(r, 200);
    assert_int_equal(JLEN(r.body, "tracks"), 0);

    fx->ctx.user = "alice";
    r = call(fx, "GET", path, NULL, NULL);
    assert_status(r, 200);
    assert_jstr(r.body, "title", "Alice's");
    /* Ids that are not ids: 404 as well, not an error of another kind. */
    assert_api_error(call(fx, "GET", "/tracks/NOT-AN-ID", NULL, NULL), 404, "not_found", NULL);
    assert_api_error(call(fx, "GET", "/tracks/t'or'1'='1", NULL, NULL), 404, "not_found", NULL);
}

static void test_api_track_patch(void **state)
{
    fx_t *fx = *state;
    const char *id = make_track(fx, "{\"title\": \"A\", \"bpm\": 100, \"key\": \"C\","
                                    " \"bucket\": \"B1\", \"alias\": \"a1\", \"group_id\": \"g\","
                                    " \"artwork_url\": \"https://img.example/a.png\","
                                    " \"sharing_status\": \"wip\", \"version\": 2}");
    const char *path = apr_pstrcat(fx->pool, "/tracks/", id, NULL);
    pds_reply_t r;

    fx->ctx.now = NOW + 60;
    r = call(fx, "PATCH", path, NULL, "{\"title\": \"A2\", \"bpm\": null, \"key\": \"\"}");
    assert_status(r, 200);
    assert_jstr(r.body, "id", id);
    assert_jstr(r.body, "title", "A2");
    assert_jnull(r.body, "bpm");                         /* null clears */
    assert_jnull(r.body, "key");                         /* "" clears */
    assert_jstr(r.body, "bucket", "B1");                 /* absent keeps */
    assert_jstr(r.body, "alias", "a1");
    assert_jstr(r.body, "group_id", "g");
    assert_jstr(r.body, "artwork_url", "https://img.example/a.png");
    assert_jstr(r.body, "sharing_status", "wip");
    assert_jint(r.body, "version", 2);
    assert_jstr(r.body, "created_at", "2023-11-14T22:13:20Z");
    assert_jstr(r.body, "updated_at", "2023-11-14T22:14:20Z");

    /* An empty PATCH changes nothing but updated_at. */
    {
        json_t *before = json_deep_copy(r.body);
        fx->ctx.now = NOW + 120;
        r = call(fx, "PATCH", path, NULL, "{}");
        assert_status(r, 200);
        assert_jstr(r.body, "updated_at", "2023-11-14T22:15:20Z");
        json_object_del(before, "updated_at");
        json_object_del(r.body, "updated_at");
        if (!json_equal(before, r.body))
            fail_msg("empty PATCH changed %s", dump(r.body));
        json_decref(before);
    }

    r = call(fx, "PATCH", path, NULL, "{\"alias\": null, \"artwork_url\": \"\", \"bucket\": null,"
                                      " \"group_id\": null, \"version\": 3, \"bpm\": 90.5,"
                                      " \"sharing_status\": \"released\"}");
    assert_status(r, 200);
    assert_jnull(r.body, "alias");
    assert_jnull(r.body, "artwork_url");
    assert_jnull(r.body, "bucket");
    assert_jnull(r.body, "group_id");
    assert_jint(r.body, "version", 3);
    assert_true(json_number_value(jpath(r.body, "bpm")) == 90.5);
    assert_jstr(r.body, "sharing_status", "released");
    assert_jstr(r.body, "title", "A2");
    /* Every field left out keeps its value, bpm included. */
    r = call(fx, "PATCH", path, NULL, "{\"title\": \"A3\"}");
    assert_status(r, 200);
    assert_true(json_number_value(jpath(r.body, "bpm")) == 90.5);
    assert_jint(r.body, "version", 3);
    assert_jstr(r.body, "sharing_status", "released");

    /* A required field cannot be cleared; a bad field changes nothing. */
    assert_api_error(call(fx, "PATCH", path, NULL, "{\"title\": null}"), 400, "invalid_field",
                     "title");
    assert_api_error(call(fx, "PATCH", path, NULL, "{\"title\": \"\"}"), 400, "invalid_field",
                     "title");
    assert_api_error(call(fx, "PATCH", path, NULL, "{\"title\": \"Z\", \"bpm\": -1}"), 400,
                     "invalid_field", "bpm");
    r = call(fx, "GET", path, NULL, NULL);
    assert_jstr(r.body, "title", "A3");
    assert_true(json_number_value(jpath(r.body, "bpm")) == 90.5);
}

static void test_api_track_delete(void **state)
{
    fx_t *fx = *state;
    const char *id = make_track(fx, "{\"title\": \"Gone\"}");
    const char *keep = make_track(fx, "{\"title\": \"Kept\"}");
    const char *path = apr_pstrcat(fx->pool, "/tracks/", id, NULL);
    pds_reply_t r;

    add_file(fx, id, "master", "gone.wav", "wav");
    add_file(fx, keep, "master", "kept.wav", "wav");
    r = call(fx, "DELETE", path, NULL, NULL);
    assert_status(r, 204);
    assert_null(r.body);
    assert_api_error(call(fx, "GET", path, NULL, NULL), 404, "not_found", NULL);
    assert_api_error(call(fx, "DELETE", path, NULL, NULL), 404, "not_found", NULL);
    assert_api_error(call(fx, "PATCH", path, NULL, "{\"title\": \"back\"}"), 404, "not_found", NULL);
    assert_string_equal(sql_value(fx, apr_psprintf(fx->pool, "SELECT COUNT(*) FROM pds_files"
                                                   " WHERE track_id = '%s'", id)), "0");

    r = call(fx, "GET", "/tracks", NULL, NULL);
    assert_int_equal(JLEN(r.body, "tracks"), 1);
    assert_jstr(r.body, "tracks.0.title", "Kept");
    r = call(fx, "GET", apr_pstrcat(fx->pool, "/tracks/", keep, "/files", NULL), NULL, NULL);
    assert_int_equal(JLEN(r.body, "files"), 1);
}

static void test_api_track_list_bucket(void **state)
{
    fx_t *fx = *state;
    pds_reply_t r;

    make_track(fx, "{\"title\": \"One\", \"bucket\": \"Beats A\"}");
    make_track(fx, "{\"title\": \"Two\", \"bucket\": \"Other\"}");
    make_track(fx, "{\"title\": \"Three\"}");
    r = call(fx, "GET", "/tracks", "bucket=Beats%20A", NULL);
    assert_status(r, 200);
    assert_int_equal(JLEN(r.body, "tracks"), 1);
    assert_jstr(r.body, "tracks.0.title", "One");
    r = call(fx, "GET", "/tracks", "x=1&bucket=Beats+A", NULL);
    assert_int_equal(JLEN(r.body, "tracks"), 1);
    r = call(fx, "GET", "/tracks", "bucket=None", NULL);
    assert_status(r, 200);
    assert_int_equal(JLEN(r.body, "tracks"), 0);
    r = call(fx, "GET", "/tracks", NULL, NULL);
    assert_int_equal(JLEN(r.body, "tracks"), 3);
}

static void test_api_files(void **state)
{
    fx_t *fx = *state;
    const char *id = make_track(fx, "{\"title\": \"T\"}");
    const char *path = apr_pstrcat(fx->pool, "/tracks/", id, "/files", NULL);
    struct { const char *body, *field; } bad[] = {
        { "{\"dropbox_path\": \"/a.wav\", \"name\": \"a.wav\"}", "category" },
        { "{\"category\": \"video\", \"dropbox_path\": \"/a.wav\", \"name\": \"a.wav\"}", "category" },
        { "{\"category\": \"stem\", \"name\": \"a.wav\"}", "dropbox_path" },
        { "{\"category\": \"stem\", \"dropbox_path\": \"/a/../b.wav\", \"name\": \"b.wav\"}",
          "dropbox_path" },
        { "{\"category\": \"stem\", \"dropbox_path\": \"a.wav\", \"name\": \"a.wav\"}", "dropbox_path" },
        { "{\"category\": \"stem\", \"dropbox_path\": \"/a.wav\", \"name\": \"x/a.wav\"}", "name" },
        { "{\"category\": \"stem\", \"dropbox_path\": \"/a.wav\", \"name\": \"..\"}", "name" },
        { "{\"category\": \"stem\", \"dropbox_path\": \"/a.wav\", \"name\": \"a.wav\","
          " \"format\": \"w-v\"}", "format" },
        { "{\"category\": \"stem\", \"dropbox_path\": \"/a.wav\", \"name\": \"a.wav\","
          " \"size\": -1}", "size" },
    };
    size_t i;
    pds_reply_t r;

    r = call(fx, "POST", path, NULL, "{\"category\": \"master\", \"dropbox_path\":"
             " \"/PD/masters/a.wav\", \"name\": \"a.wav\", \"format\": \"wav\", \"size\": 1234}");
    assert_status(r, 201);
    assert_true(pds_valid_id(JSTR(r.body, "id")));
    assert_jstr(r.body, "track_id", id);
    assert_jstr(r.body, "category", "master");
    assert_jstr(r.body, "dropbox_path", "/PD/masters/a.wav");
    assert_jstr(r.body, "name", "a.wav");
    assert_jstr(r.body, "format", "wav");
    assert_jint(r.body, "size", 1234);
    assert_jbool(r.body, "imported", 1);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = call(fx, "POST", path, NULL, bad[i].body);
        if (check_error(fx->pool, r, 400, "invalid_field", bad[i].field))
            fail_msg("%s: %s", bad[i].body,
                     check_error(fx->pool, r, 400, "invalid_field", bad[i].field));
    }
    r = call(fx, "GET", path, NULL, NULL);
    assert_status(r, 200);
    assert_int_equal(JLEN(r.body, "files"), 1);
}

/* ============================================================ API: shares */

static void test_api_share_by_track_ids(void **state)
{
    fx_t *fx = *state;
    const char *t1 = make_track(fx, "{\"title\": \"One\", \"sharing_status\": \"released\"}");
    const char *t2 = make_track(fx, "{\"title\": \"Two\", \"sharing_status\": \"released\"}");
    const char **row = NULL;
    const char *id, *token;
    json_t *s;
    pds_reply_t r;

    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\", \"%s\"],"
                                    " \"title\": \"For the label\"}", t2, t1));
    id = JSTR(s, "id");
    token = JSTR(s, "token");
    assert_true(pds_valid_id(id));
    assert_int_equal(id[0], 's');
    assert_true(pds_token_wellformed(token));
    assert_jstr(s, "url", apr_pstrcat(fx->pool, "https://share.example/s/", token, NULL));
    assert_jstr(s, "title", "For the label");
    assert_jnull(s, "bucket");
    assert_jnull(s, "expires_at");
    assert_jstr(s, "status", "active");
    assert_jbool(s, "permissions.bounces", 1);
    assert_jbool(s, "permissions.stems", 1);
    assert_jbool(s, "permissions.projects", 0);
    assert_int_equal(JLEN(s, "tracks"), 2);
    assert_jstr(s, "tracks.0.id", t2);                   /* in the order given */
    assert_jstr(s, "tracks.1.id", t1);
    assert_jstr(s, "tracks.1.title", "One");

    r = call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", id, NULL), NULL, NULL);
    assert_status(r, 200);
    assert_jstr(r.body, "id", id);
    assert_jstr(r.body, "token", token);
    assert_jint(r.body, "views", 0);
    assert_jint(r.body, "plays", 0);
    assert_jint(r.body, "downloads", 0);
    assert_jint(r.body, "downloads_by_type.master", 0);
    assert_jint(r.body, "downloads_by_type.bounce", 0);
    assert_jint(r.body, "downloads_by_type.stem", 0);
    assert_jint(r.body, "downloads_by_type.project", 0);
    assert_jint(r.body, "tracks.0.downloads", 0);

    r = call(fx, "GET", "/shares", NULL, NULL);
    assert_status(r, 200);
    assert_int_equal(json_object_size(r.body), 1);
    assert_int_equal(JLEN(r.body, "shares"), 1);
    assert_jstr(r.body, "shares.0.id", id);
    assert_int_equal(JLEN(r.body, "shares.0.tracks"), 2);

    assert_int_equal(pds_share_by_token(&fx->ctx, token, &row), PDS_SHARE_OK);
    assert_string_equal(row[SH_ID], id);

    /* Expiry in whole days from now. */
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"], \"expires_in_days\": 7}", t1));
    assert_jstr(s, "expires_at", pds_iso8601(fx->pool, NOW + 7 * DAY));
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"], \"expires_in_days\": null}", t1));
    assert_jnull(s, "expires_at");
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\", \"%s\"]}", t1, t1));
    assert_int_equal(JLEN(s, "tracks"), 1);              /* duplicates collapse */
    assert_string_not_equal(JSTR(s, "token"), token);

    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(fx->pool,
                     "{\"track_ids\": [\"%s\"], \"expires_in_days\": 0}", t1)), 400,
                     "invalid_field", "expires_in_days");
    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(fx->pool,
                     "{\"track_ids\": [\"%s\"], \"expires_in_days\": 3651}", t1)), 400,
                     "invalid_field", "expires_in_days");
    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(fx->pool,
                     "{\"track_ids\": [\"%s\"], \"expires_in_days\": \"7\"}", t1)), 400,
                     "invalid_field", "expires_in_days");
    assert_api_error(call(fx, "POST", "/shares", NULL, "{}"), 400, "invalid_field", "track_ids");
    assert_api_error(call(fx, "POST", "/shares", NULL, "{\"track_ids\": []}"), 400,
                     "invalid_field", "track_ids");
    assert_api_error(call(fx, "POST", "/shares", NULL, "{\"track_ids\": \"x\"}"), 400,
                     "invalid_field", "track_ids");
    assert_api_error(call(fx, "POST", "/shares", NULL, "{\"track_ids\": [1]}"), 400,
                     "invalid_field", "track_ids");
    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(fx->pool,
                     "{\"track_ids\": [\"%s\"], \"bucket\": \"B\"}", t1)), 400,
                     "invalid_field", NULL);
    assert_api_error(call(fx, "POST", "/shares", NULL,
                          "{\"track_ids\": [\"tdeadbeefdeadbeef\"]}"), 404, "not_found", NULL);
    r = call(fx, "GET", "/shares", NULL, NULL);
    assert_int_equal(JLEN(r.body, "shares"), 4);
}

static void test_api_share_by_bucket(void **state)
{
    fx_t *fx = *state;
    const char *a = make_track(fx, "{\"title\": \"A\", \"bucket\": \"EP\", \"sharing_status\": \"wip\"}");
    const char *b = make_track(fx, "{\"title\": \"B\", \"bucket\": \"EP\", \"sharing_status\": \"wip\"}");
    json_t *s;

    make_track(fx, "{\"title\": \"C\", \"bucket\": \"Other\"}");
    fx->ctx.user = "bob";
    make_track(fx, "{\"title\": \"Bob's\", \"bucket\": \"EP\"}");
    fx->ctx.user = "alice";

    s = make_share(fx, "{\"bucket\": \"EP\"}");
    assert_jstr(s, "bucket", "EP");
    assert_int_equal(JLEN(s, "tracks"), 2);
    assert_non_null(find_by(jpath(s, "tracks"), "id", a));
    assert_non_null(find_by(jpath(s, "tracks"), "id", b));
    assert_jbool(s, "permissions.bounces", 1);
    assert_jbool(s, "permissions.stems", 0);
    assert_api_error(call(fx, "POST", "/shares", NULL, "{\"bucket\": \"Nope\"}"), 404,
                     "not_found", NULL);
}

static void test_api_share_too_many_tracks(void **state)
{
    fx_t *fx = *state;
    const char *t[4];
    json_t *s;
    int i;

    fx->settings.max_tracks = 3;
    for (i = 0; i < 4; i++)
        t[i] = make_track(fx, apr_psprintf(fx->pool, "{\"title\": \"T%d\", \"bucket\": \"Big\"}", i));
    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(fx->pool,
                     "{\"track_ids\": [\"%s\", \"%s\", \"%s\", \"%s\"]}", t[0], t[1], t[2], t[3])),
                     400, "too_many_tracks", "3");
    assert_api_error(call(fx, "POST", "/shares", NULL, "{\"bucket\": \"Big\"}"), 400,
                     "too_many_tracks", NULL);
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\", \"%s\", \"%s\"]}",
                                    t[0], t[1], t[2]));
    assert_int_equal(JLEN(s, "tracks"), 3);
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\", \"%s\", \"%s\", \"%s\","
                                    " \"%s\"]}", t[0], t[0], t[0], t[0], t[1]));
    assert_int_equal(JLEN(s, "tracks"), 2);
}

#define assert_perms(s, b, st, pr) do { \
        assert_jbool((s), "permissions.bounces", (b)); \
        assert_jbool((s), "permissions.stems", (st)); \
        assert_jbool((s), "permissions.projects", (pr)); \
    } while (0)

static void test_api_share_default_permissions(void **state)
{
    fx_t *fx = *state;
    const char *p = make_track(fx, "{\"title\": \"P\", \"sharing_status\": \"private\"}");
    const char *w = make_track(fx, "{\"title\": \"W\", \"sharing_status\": \"wip\"}");
    const char *r = make_track(fx, "{\"title\": \"R\", \"sharing_status\": \"released\"}");
    apr_pool_t *pool = fx->pool;

    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"]}", p)), 0, 0, 0);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"]}", w)), 1, 0, 0);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"]}", r)), 1, 1, 0);
    /* Several tracks: the most restrictive. */
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\", \"%s\"]}", r, w)), 1, 0, 0);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\", \"%s\", \"%s\"]}",
                                             r, w, p)), 0, 0, 0);
    /* Projects only when asked; asked-for values win, the rest default. */
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"], \"permissions\":"
                                             " {\"projects\": true}}", r)), 1, 1, 1);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"], \"permissions\":"
                                             " {\"stems\": true}}", w)), 1, 1, 0);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"], \"permissions\":"
                                             " {\"bounces\": false, \"stems\": false,"
                                             " \"projects\": false}}", r)), 0, 0, 0);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"], \"permissions\": {}}",
                                             w)), 1, 0, 0);
    assert_perms(make_share(fx, apr_psprintf(pool, "{\"track_ids\": [\"%s\"], \"permissions\": null}",
                                             r)), 1, 1, 0);
    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(pool,
                     "{\"track_ids\": [\"%s\"], \"permissions\": \"all\"}", r)), 400,
                     "invalid_field", "permissions");
    assert_api_error(call(fx, "POST", "/shares", NULL, apr_psprintf(pool,
                     "{\"track_ids\": [\"%s\"], \"permissions\": {\"stems\": \"yes\"}}", r)), 400,
                     "invalid_field", "permissions.stems");
}

static void test_api_share_revoke(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\", \"sharing_status\": \"wip\"}");
    json_t *s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    const char *id = JSTR(s, "id"), *token = JSTR(s, "token");
    const char *revoke = apr_pstrcat(fx->pool, "/shares/", id, "/revoke", NULL);
    const char **row = NULL;
    pds_reply_t r;

    assert_int_equal(pds_share_by_token(&fx->ctx, token, &row), PDS_SHARE_OK);
    fx->ctx.now = NOW + 100;
    fx->ctx.user = "bob";
    assert_api_error(call(fx, "POST", revoke, NULL, NULL), 404, "not_found", NULL);
    assert_api_error(call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", id, NULL), NULL, NULL),
                     404, "not_found", NULL);
    fx->ctx.user = "alice";
    assert_int_equal(pds_share_by_token(&fx->ctx, token, &row), PDS_SHARE_OK);

    r = call(fx, "POST", revoke, NULL, NULL);
    assert_status(r, 200);
    assert_jstr(r.body, "status", "revoked");
    assert_jstr(r.body, "revoked_at", pds_iso8601(fx->pool, NOW + 100));
    assert_int_equal(pds_share_by_token(&fx->ctx, token, &row), PDS_SHARE_REVOKED);
    r = call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", id, NULL), NULL, NULL);
    assert_jstr(r.body, "status", "revoked");
    r = call(fx, "GET", "/shares", NULL, NULL);
    assert_jstr(r.body, "shares.0.status", "revoked");

    fx->ctx.now = NOW + 200;
    r = call(fx, "POST", revoke, NULL, NULL);
    assert_status(r, 200);
    assert_jstr(r.body, "status", "revoked");
    assert_jstr(r.body, "revoked_at", pds_iso8601(fx->pool, NOW + 100));
    assert_api_error(call(fx, "POST", "/shares/sdeadbeefdeadbeef/revoke", NULL, NULL), 404,
                     "not_found", NULL);
}

static void test_api_share_expiry(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\"}");
    json_t *s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"],"
                                            " \"expires_in_days\": 1}", t));
    json_t *forever = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    const char *path = apr_pstrcat(fx->pool, "/shares/", JSTR(s, "id"), NULL);
    const char **row = NULL;
    pds_reply_t r;

    fx->ctx.now = NOW + DAY - 1;
    r = call(fx, "GET", path, NULL, NULL);
    assert_jstr(r.body, "status", "active");
    assert_int_equal(pds_share_by_token(&fx->ctx, JSTR(s, "token"), &row), PDS_SHARE_OK);

    fx->ctx.now = NOW + DAY;
    r = call(fx, "GET", path, NULL, NULL);
    assert_status(r, 200);
    assert_jstr(r.body, "status", "expired");
    assert_jstr(r.body, "expires_at", pds_iso8601(fx->pool, NOW + DAY));
    assert_int_equal(pds_share_by_token(&fx->ctx, JSTR(s, "token"), &row), PDS_SHARE_EXPIRED);

    fx->ctx.now = NOW + 3650 * DAY;
    assert_int_equal(pds_share_by_token(&fx->ctx, JSTR(forever, "token"), &row), PDS_SHARE_OK);
    r = call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", JSTR(forever, "id"), NULL), NULL, NULL);
    assert_jstr(r.body, "status", "active");
}

static void test_share_by_token_lookup(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\"}");
    json_t *s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    const char *token = JSTR(s, "token");
    char *forged = apr_pstrdup(fx->pool, token);
    const char **row = NULL;

    assert_int_equal(pds_share_by_token(&fx->ctx, NULL, &row), PDS_SHARE_NOT_FOUND);
    assert_int_equal(pds_share_by_token(&fx->ctx, "", &row), PDS_SHARE_NOT_FOUND);
    assert_int_equal(pds_share_by_token(&fx->ctx, "short", &row), PDS_SHARE_NOT_FOUND);
    assert_int_equal(pds_share_by_token(&fx->ctx, apr_pstrndup(fx->pool, token, 31), &row),
                     PDS_SHARE_NOT_FOUND);
    assert_int_equal(pds_share_by_token(&fx->ctx, pds_token_new(fx->pool), &row),
                     PDS_SHARE_NOT_FOUND);
    /* The right selector is not enough. */
    forged[20] = forged[20] == 'A' ? 'B' : 'A';
    assert_int_equal(pds_share_by_token(&fx->ctx, forged, &row), PDS_SHARE_NOT_FOUND);
    assert_int_equal(pds_share_by_token(&fx->ctx, token, &row), PDS_SHARE_OK);
    assert_string_equal(row[SH_TOKEN], token);
    assert_string_equal(row[SH_OWNER], "alice");
}

static void test_api_method_not_allowed(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\"}");
    json_t *s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    struct { const char *method, *path, *allow; } cases[] = {
        { "DELETE", "/shares", "GET, POST" },
        { "PUT", "/tracks", "GET, POST" },
        { "GE", "/tracks", "GET, POST" },
        { "get", "/tracks", "GET, POST" },
        { "POST", apr_pstrcat(fx->pool, "/tracks/", t, NULL), "GET, PATCH, DELETE" },
        { "PUT", apr_pstrcat(fx->pool, "/tracks/", t, "/files", NULL), "GET, POST" },
        { "POST", apr_pstrcat(fx->pool, "/shares/", JSTR(s, "id"), NULL), "GET, PATCH" },
        { "GET", apr_pstrcat(fx->pool, "/shares/", JSTR(s, "id"), "/revoke", NULL), "POST" },
        { "POST", "/notifications", "GET" },
        { "DELETE", "/profile", "GET, PUT" },
    };
    size_t i;
    pds_reply_t r;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = call(fx, cases[i].method, cases[i].path, NULL, "{}");
        if (check_error(fx->pool, r, 405, "method_not_allowed", NULL))
            fail_msg("%s %s: %s", cases[i].method, cases[i].path,
                     check_error(fx->pool, r, 405, "method_not_allowed", NULL));
        if (!r.allow || strcmp(r.allow, cases[i].allow))
            fail_msg("%s %s: allow \"%s\", want \"%s\"", cases[i].method, cases[i].path,
                     r.allow ? r.allow : "(null)", cases[i].allow);
    }
    /* The track is untouched by the refused POST. */
    r = call(fx, "GET", apr_pstrcat(fx->pool, "/tracks/", t, NULL), NULL, NULL);
    assert_status(r, 200);
    assert_null(r.allow);
}

static void test_api_unknown_route(void **state)
{
    fx_t *fx = *state;
    static const char *const paths[] = {
        "/nope", "/", "", "tracks", "/tracks/", "//tracks", "/tracks//x", "/Tracks",
        "/shares/x/y/z", "/tracks/a/b/c/d/e/f/g", "/tracks/a/nope", "/shares/a/unrevoke", NULL
    };
    const char *const *p;
    pds_reply_t r;

    for (p = paths; *p; p++) {
        r = call(fx, "GET", *p, NULL, NULL);
        if (check_error(fx->pool, r, 404, "not_found", NULL))
            fail_msg("GET \"%s\": %s", *p, check_error(fx->pool, r, 404, "not_found", NULL));
        assert_null(r.allow);
    }
}

/* ========================================================= public page */

static void test_page_group_resolution(void **state)
{
    fx_t *fx = *state;
    const char *v1 = make_track(fx, "{\"title\": \"Song (mix 1)\", \"group_id\": \"song\","
                                    " \"version\": 1, \"sharing_status\": \"released\"}");
    const char *v2, *token;
    json_t *s, *view, *c;
    pds_page_t *page;
    pds_page_track_t *pt;
    pds_reply_t r;

    add_file(fx, v1, "bounce", "mix1.wav", "wav");
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"], \"title\": \"Listen\"}", v1));
    token = JSTR(s, "token");

    page = open_page(fx, token);
    view = page->view;
    assert_jint(view, "track_count", 1);
    assert_jbool(view, "featured", 1);
    assert_jstr(view, "tracks.0.title", "Song (mix 1)");
    assert_jstr(view, "share.title", "Listen");
    assert_jstr(view, "share.url", apr_pstrcat(fx->pool, "https://share.example/s/", token, NULL));
    assert_jstr(view, "producer.display_name", "alice");

    /* A new version in the group reaches the old link. */
    fx->ctx.now = NOW + 60;
    v2 = make_track(fx, "{\"title\": \"Song (mix 2)\", \"group_id\": \"song\", \"version\": 2,"
                        " \"sharing_status\": \"released\"}");
    add_file(fx, v2, "bounce", "mix2.wav", "wav");
    r = call(fx, "POST", apr_pstrcat(fx->pool, "/tracks/", v2, "/collaborators", NULL), NULL,
             "{\"name\": \"Ann\", \"email\": \"ann@example.com\", \"role\": \"vocals\"}");
    assert_status(r, 201);
    /* Another producer's "version 3" of a group with the same name does not. */
    fx->ctx.user = "bob";
    make_track(fx, "{\"title\": \"Bob's song\", \"group_id\": \"song\", \"version\": 3}");
    fx->ctx.user = "alice";
    make_track(fx, "{\"title\": \"Other song\", \"group_id\": \"other\", \"version\": 9}");

    page = open_page(fx, token);
    view = page->view;
    assert_jint(view, "track_count", 1);
    assert_jstr(view, "tracks.0.title", "Song (mix 2)");
    assert_jstr(view, "tracks.0.id", v2);
    assert_int_equal(JLEN(view, "tracks.0.files"), 1);
    assert_jstr(view, "tracks.0.files.0.name", "mix2.wav");
    c = jpath(view, "tracks.0.collaborators.0");
    assert_jstr(c, "name", "Ann");
    assert_jstr(c, "role", "vocals");
    assert_null(json_object_get(c, "email"));            /* the page never shows emails */
    pt = apr_hash_get(page->tracks, v1, APR_HASH_KEY_STRING);
    assert_non_null(pt);
    assert_string_equal(pt->slot_id, v1);
    assert_string_equal(pt->track_id, v2);

    /* The owner's view lists the track as shared. */
    r = call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", JSTR(s, "id"), NULL), NULL, NULL);
    assert_jstr(r.body, "tracks.0.id", v1);
}

static int view_has_file(json_t *track, const char *name)
{
    return find_by(json_object_get(track, "files"), "name", name) != NULL;
}

static void test_page_forbidden_category_absent(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\", \"sharing_status\": \"wip\"}");
    const char *m = add_file(fx, t, "master", "m.wav", "wav");
    const char *b = add_file(fx, t, "bounce", "b.wav", "wav");
    const char *st = add_file(fx, t, "stem", "s.wav", "wav");
    const char *pj = add_file(fx, t, "project", "p.zip", "zip");
    json_t *s, *tr;
    pds_page_t *page;
    pds_page_file_t *f;
    const char *token;

    /* wip: bounces (with masters) only. */
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    token = JSTR(s, "token");
    page = open_page(fx, token);
    tr = jpath(page->view, "tracks.0");
    assert_perms(page->view, 1, 0, 0);
    assert_int_equal(JLEN(tr, "files"), 2);
    assert_true(view_has_file(tr, "m.wav"));
    assert_true(view_has_file(tr, "b.wav"));
    assert_false(view_has_file(tr, "s.wav"));
    assert_false(view_has_file(tr, "p.zip"));
    assert_jstr(find_by(json_object_get(tr, "files"), "id", b), "url",
                apr_pstrcat(fx->pool, "/s/", token, "/files/", b, NULL));
    assert_jbool(tr, "has_downloads", 1);
    assert_int_equal(JLEN(tr, "zips"), 1);
    assert_jstr(tr, "zips.0.category", "bounces");
    f = apr_hash_get(page->files, st, APR_HASH_KEY_STRING);
    if (f) assert_false(f->permitted);
    f = apr_hash_get(page->files, pj, APR_HASH_KEY_STRING);
    if (f) assert_false(f->permitted);
    f = apr_hash_get(page->files, m, APR_HASH_KEY_STRING);
    assert_non_null(f);
    assert_true(f->permitted);
    assert_true(pds_category_permitted(page->share, PDS_CAT_MASTER));
    assert_false(pds_category_permitted(page->share, PDS_CAT_STEM));
    assert_false(pds_category_permitted(page->share, PDS_CAT_PROJECT));

    /* Everything, when asked. */
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"], \"permissions\":"
                                    " {\"stems\": true, \"projects\": true}}", t));
    tr = jpath(open_page(fx, JSTR(s, "token"))->view, "tracks.0");
    assert_int_equal(JLEN(tr, "files"), 4);
    assert_true(view_has_file(tr, "p.zip"));

    /* Only the files picked, when file_ids is given. */
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"], \"file_ids\": [\"%s\"],"
                                    " \"permissions\": {\"stems\": true}}", t, b));
    tr = jpath(open_page(fx, JSTR(s, "token"))->view, "tracks.0");
    assert_int_equal(JLEN(tr, "files"), 1);
    assert_true(view_has_file(tr, "b.wav"));

    /* private: no downloads at all, but the preview still plays. */
    fx->ctx.now = NOW + 1;
    assert_status(call(fx, "PATCH", apr_pstrcat(fx->pool, "/tracks/", t, NULL), NULL,
                       "{\"sharing_status\": \"private\"}"), 200);
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    page = open_page(fx, JSTR(s, "token"));
    tr = jpath(page->view, "tracks.0");
    assert_perms(page->view, 0, 0, 0);
    assert_int_equal(JLEN(tr, "files"), 0);
    assert_int_equal(JLEN(tr, "zips"), 0);
    assert_jbool(tr, "has_downloads", 0);
    assert_true(json_is_string(jpath(tr, "preview_url")));
}

#define assert_preview(page, tid, want_fid) do { \
        pds_page_track_t *pt_ = apr_hash_get((page)->tracks, (tid), APR_HASH_KEY_STRING); \
        assert_non_null(pt_); \
        if (want_fid) { \
            if (!pt_->preview) fail_msg("no preview for %s", (tid)); \
            assert_string_equal(pt_->preview->id, (want_fid)); \
        } else if (pt_->preview) fail_msg("unexpected preview %s", pt_->preview->name); \
    } while (0)

static void test_page_best_preview(void **state)
{
    fx_t *fx = *state;
    const char *t1 = make_track(fx, "{\"title\": \"T1\", \"sharing_status\": \"released\"}");
    const char *t2 = make_track(fx, "{\"title\": \"T2\", \"sharing_status\": \"released\"}");
    const char *t3 = make_track(fx, "{\"title\": \"T3\", \"sharing_status\": \"released\"}");
    const char *t4 = make_track(fx, "{\"title\": \"T4\", \"sharing_status\": \"released\"}");
    const char *t5 = make_track(fx, "{\"title\": \"T5\", \"sharing_status\": \"released\"}");
    const char *t6 = make_track(fx, "{\"title\": \"T6\", \"sharing_status\": \"released\"}");
    const char *m1, *b1, *b2, *s3, *b5, *m6, *token;
    json_t *s, *view;
    pds_page_t *page;

    /* Added worst first, so order does not decide. */
    add_file(fx, t1, "stem", "t1-stem.wav", "wav");
    b1 = add_file(fx, t1, "bounce", "t1-bounce.wav", "wav");
    m1 = add_file(fx, t1, "master", "t1-master.wav", "wav");
    add_file(fx, t1, "bounce", "t1-bounce2.mp3", "mp3");
    add_file(fx, t2, "stem", "t2-stem.wav", "wav");
    b2 = add_file(fx, t2, "bounce", "t2-bounce.mp3", "mp3");
    s3 = add_file(fx, t3, "stem", "t3-stem.flac", "flac");
    add_file(fx, t4, "project", "t4-session.wav", "wav");
    add_file(fx, t4, "master", "t4-notes.pdf", "pdf");
    add_file(fx, t5, "master", "t5-cover.png", "png");
    b5 = add_file(fx, t5, "bounce", "t5-bounce.aiff", "aiff");
    m6 = add_file(fx, t6, "master", "t6-master.FLAC", NULL);   /* audio by extension */
    (void)b1;

    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\", \"%s\", \"%s\", \"%s\","
                                    " \"%s\", \"%s\"]}", t1, t2, t3, t4, t5, t6));
    token = JSTR(s, "token");
    page = open_page(fx, token);
    view = page->view;
    assert_jbool(view, "featured", 0);
    assert_jint(view, "track_count", 6);
    assert_preview(page, t1, m1);                        /* master over bounce over stem */
    assert_preview(page, t2, b2);                        /* bounce over stem */
    assert_preview(page, t3, s3);                        /* an allowed stem */
    assert_preview(page, t4, NULL);                      /* never a project, never a PDF */
    assert_preview(page, t5, b5);                        /* a non-audio master is no preview */
    assert_preview(page, t6, m6);
    assert_jstr(view, "tracks.0.preview_url", apr_pstrcat(fx->pool, "/s/", token, "/play/", t1, NULL));
    assert_jnull(view, "tracks.3.preview_url");

    /* Stems not allowed: a stem is no preview. */
    s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"], \"permissions\":"
                                    " {\"stems\": false}}", t3));
    page = open_page(fx, JSTR(s, "token"));
    assert_preview(page, t3, NULL);
    assert_jnull(page->view, "tracks.0.preview_url");
}

static void test_page_events_counted(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\", \"sharing_status\": \"released\"}");
    const char *u = make_track(fx, "{\"title\": \"U\", \"sharing_status\": \"released\"}");
    const char *m = add_file(fx, t, "master", "m.wav", "wav");
    const char *st = add_file(fx, t, "stem", "s.wav", "wav");
    json_t *s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\", \"%s\"]}", t, u));
    json_t *other = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    const char *sid = JSTR(s, "id");
    pds_ctx_t *c = &fx->ctx;
    json_t *tr, *l;
    pds_reply_t r;

    assert_null(pds_event_record(c, sid, NULL, NULL, "view", NULL));
    assert_null(pds_event_record(c, sid, NULL, NULL, "view", NULL));
    assert_null(pds_event_record(c, sid, t, NULL, "play", NULL));
    assert_null(pds_event_record(c, sid, t, m, "download", "master"));
    assert_null(pds_event_record(c, sid, t, m, "download", "master"));
    assert_null(pds_event_record(c, sid, t, st, "download", "stem"));
    assert_null(pds_event_record(c, sid, t, NULL, "download", "bounce"));   /* a zip */
    assert_null(pds_event_record(c, sid, u, NULL, "play", NULL));
    assert_null(pds_event_record(c, JSTR(other, "id"), t, m, "download", "master"));
    assert_null(pds_event_record(c, JSTR(other, "id"), NULL, NULL, "view", NULL));

    r = call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", sid, NULL), NULL, NULL);
    assert_status(r, 200);
    assert_jint(r.body, "views", 2);
    assert_jint(r.body, "plays", 2);
    assert_jint(r.body, "downloads", 4);
    assert_jint(r.body, "downloads_by_type.master", 2);
    assert_jint(r.body, "downloads_by_type.bounce", 1);
    assert_jint(r.body, "downloads_by_type.stem", 1);
    assert_jint(r.body, "downloads_by_type.project", 0);
    tr = find_by(jpath(r.body, "tracks"), "id", t);
    assert_non_null(tr);
    assert_jint(tr, "plays", 1);
    assert_jint(tr, "downloads", 4);
    assert_jint(tr, "downloads_by_type.master", 2);
    assert_jint(tr, "downloads_by_type.stem", 1);
    tr = find_by(jpath(r.body, "tracks"), "id", u);
    assert_jint(tr, "plays", 1);
    assert_jint(tr, "downloads", 0);

    /* The list counts the same. */
    r = call(fx, "GET", "/shares", NULL, NULL);
    l = find_by(jpath(r.body, "shares"), "id", sid);
    assert_non_null(l);
    assert_jint(l, "views", 2);
    assert_jint(l, "downloads", 4);
    assert_jint(l, "downloads_by_type.master", 2);
    l = find_by(jpath(r.body, "shares"), "id", JSTR(other, "id"));
    assert_jint(l, "views", 1);
    assert_jint(l, "downloads", 1);
}

/* A link-preview fetcher's view is a preview; its plays and downloads are
 * not recorded at all. */
static void test_page_link_preview_events(void **state)
{
    fx_t *fx = *state;
    const char *t = make_track(fx, "{\"title\": \"T\", \"sharing_status\": \"released\"}");
    const char *m = add_file(fx, t, "master", "m.wav", "wav");
    json_t *s = make_share(fx, apr_psprintf(fx->pool, "{\"track_ids\": [\"%s\"]}", t));
    const char *sid = JSTR(s, "id");
    pds_ctx_t *c = &fx->ctx;
    pds_reply_t r;

    c->link_preview = 1;
    assert_null(pds_event_record(c, sid, NULL, NULL, "view", NULL));
    assert_null(pds_event_record(c, sid, NULL, NULL, "preview", NULL));
    assert_null(pds_event_record(c, sid, t, NULL, "play", NULL));
    assert_null(pds_event_record(c, sid, t, m, "download", "master"));
    assert_null(pds_event_record(c, sid, t, NULL, "download", "bounce"));   /* a zip */
    c->link_preview = 0;
    assert_null(pds_event_record(c, sid, NULL, NULL, "view", NULL));

    r = call(fx, "GET", apr_pstrcat(fx->pool, "/shares/", sid, NULL), NULL, NULL);
    assert_status(r, 200);
    assert_jint(r.body, "views", 1);
    assert_jint(r.body, "previews", 2);
    assert_jint(r.body, "plays", 0);
    assert_jint(r.body, "downloads", 0);
    assert_jint(r.body, "downloads_by_type.master", 0);
}

static void test_page_helpers(void **state)
{
    (void)state;
    assert_int_equal(pds_zip_group("bounces"), PDS_CAT_BOUNCE);
    assert_int_equal(pds_zip_group("bounce"), PDS_CAT_BOUNCE);
    assert_int_equal(pds_zip_group("stems"), PDS_CAT_STEM);
    assert_int_equal(pds_zip_group("projects"), PDS_CAT_PROJECT);
    assert_int_equal(pds_zip_group("project"), PDS_CAT_PROJECT);
    assert_int_equal(pds_zip_group("videos"), -1);
    assert_int_equal(pds_zip_group(""), -1);
    assert_int_equal(pds_category_from_name("master"), PDS_CAT_MASTER);
    assert_int_equal(pds_category_from_name("stem"), PDS_CAT_STEM);
    assert_int_equal(pds_category_from_name("Stem"), -1);
    assert_int_equal(pds_category_from_name(NULL), -1);
}

/* ================================================================ main */

/* The access log's view of requests: share tokens and OAuth secrets cut. */
static void test_logmask(void **state)
{
    fx_t *fx = *state;
    apr_pool_t *p = fx->pool;
    const char *tok = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
    const char *line = apr_pstrcat(p, "GET /s/", tok, "/play/t1?x=1&code=CODE0123456789abc"
                                   "&state=ST0123456789xyz HTTP/1.1", NULL);
    assert_string_equal(pds_logmask_request_line(p, line, "/s"),
                        "GET /s/AbCdEf.../play/t1?x=1&code=CODE01...&state=ST0123... HTTP/1.1");
    assert_string_equal(pds_logmask_url(p, apr_pstrcat(p, "/s/", tok, ".json", NULL), "/s"),
                        "/s/AbCdEf....json");
    /* Absolute form and a Referer; other locations, assets and short values. */
    assert_string_equal(pds_logmask_url(p, apr_pstrcat(p, "https://h.example/s/", tok, NULL), "/s"),
                        "https://h.example/s/AbCdEf...");
    assert_string_equal(pds_logmask_url(p, apr_pstrcat(p, "//s//", tok, NULL), "/s/"),
                        "//s//AbCdEf...");
    assert_string_equal(pds_logmask_url(p, "/share/x", "/s"), "/share/x");
    assert_string_equal(pds_logmask_url(p, "/s/assets/pdshare.css", "/s"), "/s/assets/pdshare.css");
    assert_string_equal(pds_logmask_url(p, "/pd/api/tracks?bucket=EP&Token=short", "/s"),
                        "/pd/api/tracks?bucket=EP&Token=...");
    assert_string_equal(pds_logmask_url(p, "/x?code=&state", "/s"), "/x?code=...&state");
    assert_string_equal(pds_logmask_query(p, "a=1&&code=0123456789abcdef"),
                        "a=1&&code=012345...");
    assert_string_equal(pds_logmask_request_line(p, "GARBAGE", "/s"), "GARBAGE");
    /* httpd decodes and resolves the path before it picks the handler, so a
     * roundabout spelling of the share path reaches the page: its token is cut
     * all the same (logged as httpd read the path). */
    assert_string_equal(pds_logmask_request_line(p, apr_pstrcat(p, "GET /%73/", tok,
                                                                " HTTP/1.1", NULL), "/s"),
                        "GET /s/AbCdEf... HTTP/1.1");
    assert_string_equal(pds_logmask_url(p, apr_pstrcat(p, "/x/../s/", tok, "/play", NULL), "/s"),
                        "/s/AbCdEf.../play");
    assert_string_equal(pds_logmask_url(p, apr_pstrcat(p, "/./s%2F", tok, NULL), "/s"),
                        "/s/AbCdEf...");
    assert_string_equal(pds_logmask_url(p, apr_pstrcat(p, "http://h.example/%2e/%2F/s/", tok,
                                                       "?code=0123456789abcdef", NULL), "/s"),
                        "http://h.example/s/AbCdEf...?code=012345...");
    assert_string_equal(pds_logmask_url(p, "/x/../../s/%61ssets/a.css", "/s"),
                        "/x/../../s/%61ssets/a.css");
    assert_null(pds_logmask_url(p, NULL, "/s"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_pool, teardown_pool)
#define TDB(f) cmocka_unit_test_setup_teardown(f, setup_db, teardown_pool)
#define TRAW(f) cmocka_unit_test_setup_teardown(f, setup_db_raw, teardown_pool)

/* The writer inserts PDS_SPOOL_ROWS events per statement, the last group
 * padded with its last event: 37 events with one id twice in a statement
 * are 36 rows, and the same events again (a spool file replayed after its
 * commit) add none. */
static void test_spool_commit_batches(void **state)
{
    fx_t *fx = *state;
    apr_array_header_t *ev = apr_array_make(fx->pool, 40, sizeof(pds_event_t));
    int i, n = 2 * PDS_SPOOL_ROWS + 5;
    for (i = 0; i < n; i++) {
        pds_event_t *e = apr_array_push(ev);
        memset(e, 0, sizeof(*e));
        e->id = pds_spool_make_id(fx->pool, "unit", (apr_uint64_t)i);
        e->share_id = "s_unit";
        e->track_id = i % 3 ? "t_unit" : NULL;
        e->file_id = i % 3 == 2 ? "f_unit" : NULL;
        e->kind = i % 3 == 0 ? "view" : i % 3 == 1 ? "play" : "download";
        e->category = i % 3 == 2 ? "stem" : NULL;
        e->created_at = NOW + i;
    }
    APR_ARRAY_IDX(ev, 4, pds_event_t).id = APR_ARRAY_IDX(ev, 3, pds_event_t).id;
    assert_int_equal(pds_spool_commit(&fx->db, ev), APR_SUCCESS);
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_events"),
                        apr_itoa(fx->pool, n - 1));
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_events WHERE kind = 'download'"
                                      " AND category = 'stem' AND file_id = 'f_unit'"),
                        apr_itoa(fx->pool, n / 3));
    assert_string_equal(sql_value(fx, "SELECT MAX(created_at) FROM pds_events"),
                        apr_psprintf(fx->pool, "%" APR_INT64_T_FMT, NOW + n - 1));
    assert_int_equal(pds_spool_commit(&fx->db, ev), APR_SUCCESS);
    assert_string_equal(sql_value(fx, "SELECT COUNT(*) FROM pds_events"),
                        apr_itoa(fx->pool, n - 1));
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_token_new),
        T(test_token_wellformed),
        T(test_token_selector_and_log),
        T(test_logmask),
        T(test_ct_streq),
        T(test_new_id),
        TDB(test_error_kinds),
        TDB(test_spool_commit_batches),
        T(test_b64url_and_time),
        T(test_html_escape),
        T(test_parse_int64),
        T(test_url_unescape),
        T(test_field_text),
        T(test_valid_text_refuses_c1_controls),
        T(test_invite_plain),
        T(test_dbx_arg_header_escapes_del),
        T(test_track_folder_name_cut_on_utf8),
        T(test_field_url),
        T(test_field_color_alias),
        T(test_field_email_username),
        T(test_field_numbers),
        T(test_field_enum),
        T(test_valid_dropbox_path),
        T(test_valid_file_name_and_id),
        T(test_valid_utf8),
        T(test_bidi_refused_in_names),
        T(test_valid_query),
        T(test_dbx_unsent_call_fills_result),
        T(test_tmpl_variables_escaped),
        T(test_tmpl_dotted_names),
        T(test_tmpl_sections),
        T(test_tmpl_inverted),
        T(test_tmpl_partials_and_comments),
        T(test_tmpl_parse_errors),
        T(test_tmpl_unknown_template),
        T(test_tmpl_large_output),
        T(test_tmpl_load_dir),
        T(test_tmpl_dots_only_name),
        T(test_tmpl_add_respects_len),
        TRAW(test_db_setup_latest),
        TRAW(test_db_migrate_in_place),
        TDB(test_db_statements_and_transactions),
        TDB(test_api_track_create),
        TDB(test_api_track_validation),
        TDB(test_api_track_other_user),
        TDB(test_api_track_patch),
        TDB(test_api_track_delete),
        TDB(test_api_track_list_bucket),
        TDB(test_api_files),
        TDB(test_api_share_by_track_ids),
        TDB(test_api_share_by_bucket),
        TDB(test_api_share_too_many_tracks),
        TDB(test_api_share_default_permissions),
        TDB(test_api_share_revoke),
        TDB(test_api_share_expiry),
        TDB(test_share_by_token_lookup),
        TDB(test_api_method_not_allowed),
        TDB(test_api_unknown_route),
        TDB(test_page_group_resolution),
        TDB(test_page_forbidden_category_absent),
        TDB(test_page_best_preview),
        TDB(test_page_events_counted),
        TDB(test_page_link_preview_events),
        T(test_page_helpers),
    };
    int failed;

    if (apr_initialize() != APR_SUCCESS) return 1;
    if (apr_pool_create(&global_pool, NULL) != APR_SUCCESS || apr_dbd_init(global_pool)) {
        fprintf(stderr, "cannot initialise APR / apr_dbd\n");
        return 1;
    }
    failed = cmocka_run_group_tests_name("libpdshare", tests, NULL, NULL);
    apr_pool_destroy(global_pool);
    apr_terminate();
    return failed ? 1 : 0;
}
