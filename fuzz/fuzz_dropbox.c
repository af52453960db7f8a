/* Dropbox responses: whatever Dropbox (or anything posing as it) answers
 * must be classified without a crash, and acted on sensibly.
 *
 * Input: a first line naming a mode (below; any other line picks one by its
 * bytes), then the answers the stand-in HTTP implementation gives, in
 * order, separated by lines "%%". Each answer is a status line ("200",
 * "429", "0 t" for a timeout, "200 C" for a stream cut after its body,
 * "200 L" for an answer over the size cap, "200 A" for a download whose
 * sink stops after its first bytes), header lines, an empty line and
 * the body. Past the last answer the stand-in times out.
 *   rpc, token, download, upload   one call of pds_dropbox.c
 *   connect    the OAuth callback of a producer without a connection: the
 *              token exchange, users/get_current_account, three
 *              create_folder_v2; then status, a session and a file listing
 *   session    alice's stored connection: pds_dbx_session, a file listing
 *              (list_folder and its pages, a refresh on 401), disconnect
 *   refresh    the same with an access token that has expired
 *   renew      alice's session, then an upload and a download with its auth:
 *              401 expired_access_token refreshes once, 422 invalid_root
 *              stores the root it names, and the call is repeated
 * apr_sleep is replaced by a no-op here, so that backoff costs no time.
 * Properties: a call answers APR_SUCCESS only for a 200 (with parsed JSON
 * where JSON is wanted), else says why; at most four attempts; 4xx answers
 * other than 429 are not transient; the sink sees bytes only of a 2xx; the
 * headers sent never hold a line break (fz_perform). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_time.h>

#include "fuzz_common.h"
#include "pds_util.h"
#include "pds_dropbox.h"
#include "pds_connect.h"

#define MAX_ANSWERS 16

void apr_sleep(apr_interval_time_t t)
{
    (void)t;
}

static const char *const modes[] = { "rpc", "token", "download", "upload", "connect", "session",
                                      "refresh", "renew" };
#define NMODES ((int)(sizeof(modes) / sizeof(modes[0])))

static apr_file_t *upload_file;

typedef struct {
    int heads;
    int head_status;
    apr_size_t bytes;
    int stop_after;                 /* abort the sink after this many bytes (0: never) */
} sink_t;

static int on_head(void *baton, int status, apr_table_t *headers)
{
    sink_t *s = baton;
    s->heads++;
    s->head_status = status;
    FZ_CHECK(status >= 200 && status < 300, "on_head for status %d", status);
    return 0;
}

static int on_data(void *baton, const char *data, apr_size_t len)
{
    sink_t *s = baton;
    FZ_CHECK(s->heads == 1, "body bytes before the head");
    s->bytes += len;
    return s->stop_after && s->bytes >= (apr_size_t)s->stop_after;
}

/* too_many_write_operations anywhere in a 409's error (nested in path, to, reason). */
static int contention(json_t *v, int depth)
{
    const char *k;
    json_t *sub;
    if (!json_is_object(v) || depth > 4) return 0;
    sub = json_object_get(v, ".tag");
    if (json_is_string(sub) && !strcmp(json_string_value(sub), "too_many_write_operations"))
        return 1;
    json_object_foreach(v, k, sub) if (contention(sub, depth + 1)) return 1;
    return 0;
}

static void check_call(const char *what, apr_status_t rv, const pds_dbx_res_t *res,
                       int want_json, int calls)
{
    FZ_CHECK(calls >= 1 && calls <= 4, "%s: %d attempts", what, calls);
    if (rv == APR_SUCCESS) {
        FZ_CHECK(res->status == 200, "%s: success with status %d", what, res->status);
        if (want_json) FZ_CHECK(res->result != NULL, "%s: success without a result", what);
        return;
    }
    FZ_CHECK(res->why && *res->why, "%s: failure (status %d) without a reason", what, res->status);
    if (res->status >= 400 && res->status < 500 && res->status != 429
        && !(res->status == 409 && contention(res->error, 0)))
        FZ_CHECK(!res->transient, "%s: %d taken as transient", what, res->status);
    if (res->status == 409 && contention(res->error, 0))
        FZ_CHECK(res->transient, "%s: nested write contention not taken as transient", what);
    if (res->status == 429 || res->status >= 500)
        FZ_CHECK(res->transient, "%s: %d not taken as transient", what, res->status);
}

static json_t *arg_path(apr_pool_t *p)
{
    return pds_json_pool(p, json_pack("{s:s}", "path", "/PRODUCER-DASHBOARD/b\xc3\xa4nd/mix.wav"));
}

static void one_call(apr_pool_t *p, int mode, const fz_answer_t *answers, int n)
{
    pds_dbx_auth_t auth = { "access-token", NULL, NULL, NULL };
    pds_dbx_res_t res;
    apr_status_t rv;
    memset(&res, 0, sizeof(res));
    fz_http_script(p, answers, n);
    if (mode == 0) {
        auth.path_root = "{\".tag\":\"root\",\"root\":\"123\"}";
        rv = pds_dbx_rpc(p, &fz_dbx_conf, &auth, "files/get_metadata", arg_path(p), &res);
        check_call("rpc", rv, &res, 1, fz_http_calls());
    }
    else if (mode == 1) {
        apr_table_t *form = apr_table_make(p, 4);
        apr_table_setn(form, "grant_type", "authorization_code");
        apr_table_setn(form, "code", "c0de&=+ \xc3\xa4");
        rv = pds_dbx_token(p, &fz_dbx_conf, form, &res);
        check_call("token", rv, &res, 1, fz_http_calls());
    }
    else if (mode == 2) {
        sink_t s = { 0, 0, 0, 0 };
        int i;
        /* An answer whose status line says "A" has the sink stop early. */
        for (i = 0; i < n; i++) if (answers[i].stop_sink) s.stop_after = 1;
        rv = pds_dbx_download(p, &fz_dbx_conf, &auth, "files/download_zip", arg_path(p),
                              on_head, on_data, &s, &res);
        check_call("download", rv, &res, 0, fz_http_calls());
        FZ_CHECK(s.heads <= 1, "download: %d heads (retried after bytes went out)", s.heads);
        if (rv == APR_SUCCESS) FZ_CHECK(s.heads == 1, "download: success without a head");
    }
    else {
        rv = pds_dbx_upload(p, &fz_dbx_conf, &auth, "files/upload", arg_path(p), upload_file, 0,
                            answers[0].len & 1 ? 5 : 0, &res);
        check_call("upload", rv, &res, 1, fz_http_calls());
    }
}

static void listing(pds_ctx_t *ctx, pds_dbx_session_t *s)
{
    apr_array_header_t *folders = apr_array_make(ctx->pool, 2, sizeof(const char *));
    json_t *files = NULL, *f;
    pds_err_t *e;
    size_t i;
    int truncated = -1;
    APR_ARRAY_PUSH(folders, const char *) = "/PRODUCER-DASHBOARD/bounces/song-a";
    APR_ARRAY_PUSH(folders, const char *) = "/PRODUCER-DASHBOARD/stems/song-a";
    e = pds_dbx_list_files(ctx->dbx, s, folders, &files, &truncated);
    if (e) {
        FZ_CHECK(e->status == 503, "list_files: %d", e->status);
        return;
    }
    pds_json_pool(ctx->pool, files);
    FZ_CHECK(json_is_array(files), "list_files: not an array");
    FZ_CHECK(truncated == 0 || truncated == 1, "list_files: truncated not set");
    FZ_CHECK(json_array_size(files) <= PDS_LIST_MAX, "list_files: past its bound");
    json_array_foreach(files, i, f) FZ_CHECK(json_is_string(json_object_get(f, "path")),
                                             "list_files: an entry without a path");
}

static void connect_flow(apr_pool_t *p, const fz_answer_t *answers, int n)
{
    pds_db_t db;
    pds_ctx_t *ctx = fz_ctx(p, "carol", &db);
    const char *url = NULL, *st, *return_to = NULL;
    pds_dbx_session_t *s = NULL;
    json_t *status = NULL;
    pds_err_t *e;

    fz_http_script(p, answers, n);
    e = pds_dbx_connect_begin(ctx->dbx, ctx->redirect_uri, "/pd/settings", &url);
    FZ_CHECK(!e, "connect_begin: %s", e->message);
    st = strstr(url, "&state=");
    FZ_CHECK(st != NULL, "no state in %s", url);
    st = apr_pstrndup(p, st + 7, strcspn(st + 7, "&"));
    e = pds_dbx_connect_finish(ctx->dbx, "c0de", st, NULL, &return_to);
    FZ_CHECK(return_to && !strcmp(return_to, "/pd/settings"), "return_to lost");
    if (e) {
        FZ_CHECK(e->status == 400 || e->status == 503, "connect_finish: %d %s", e->status, e->code);
        FZ_CHECK(e->detail != NULL, "connect_finish failed (%s) without a reason", e->code);
    }
    e = pds_dbx_status(ctx->dbx, &status);
    FZ_CHECK(!e, "status: %s", e->message);
    pds_json_pool(p, status);
    if (!json_is_true(json_object_get(status, "connected"))) return;
    {
        const char *folder = json_string_value(json_object_get(status, "folder_path"));
        FZ_CHECK(folder && folder[0] == '/', "connected with folder %s",
                 folder ? folder : "(null)");
    }
    if (!pds_dbx_session(ctx->dbx, "carol", &s) && s) listing(ctx, s);
}

static void session_flow(apr_pool_t *p, int expired, const fz_answer_t *answers, int n)
{
    pds_db_t db;
    pds_ctx_t *ctx = fz_ctx(p, FZ_USER, &db);
    pds_dbx_session_t *s = NULL;
    json_t *out = NULL;
    pds_err_t *e;

    if (expired) fz_db_exec("UPDATE pds_dropbox_accounts SET access_expires_at = 1");
    fz_http_script(p, answers, n);
    e = pds_dbx_session(ctx->dbx, FZ_USER, &s);
    if (e) {
        FZ_CHECK(e->status == 503, "session: %d %s", e->status, e->code);
    }
    else {
        FZ_CHECK(s && s->auth.access_token && *s->auth.access_token, "session without a token");
        listing(ctx, s);
    }
    e = pds_dbx_disconnect(ctx->dbx, &out);
    FZ_CHECK(!e, "disconnect: %d %s", e->status, e->message);
    pds_json_pool(p, out);
}

/* Every kind of call with a session's auth renews it on 401 and 422. */
static void renew_flow(apr_pool_t *p, const fz_answer_t *answers, int n)
{
    pds_db_t db;
    pds_ctx_t *ctx = fz_ctx(p, FZ_USER, &db);
    pds_dbx_session_t *s = NULL;
    pds_dbx_res_t res;
    sink_t sk = { 0, 0, 0, 0 };
    apr_status_t rv;

    fz_http_script(p, answers, n);
    if (pds_dbx_session(ctx->dbx, FZ_USER, &s) || !s) return;
    memset(&res, 0, sizeof(res));
    rv = pds_dbx_upload(p, &fz_dbx_conf, &s->auth, "files/upload_session/append_v2",
                        arg_path(p), upload_file, 0, 5, &res);
    if (rv == APR_SUCCESS) FZ_CHECK(res.status == 200 && res.result, "upload: success without a result");
    else FZ_CHECK(res.why && *res.why, "upload: failure (status %d) without a reason", res.status);
    FZ_CHECK(s->auth.access_token && *s->auth.access_token, "upload: renewed to no token");
    FZ_CHECK(!s->auth.path_root || s->path_prefix[0] == '/',
             "a path root without a home path (%s)", s->path_prefix);
    memset(&res, 0, sizeof(res));
    rv = pds_dbx_download(p, &fz_dbx_conf, &s->auth, "files/download_zip", arg_path(p),
                          on_head, on_data, &sk, &res);
    FZ_CHECK(sk.heads <= 1, "download: %d heads (retried after bytes went out)", sk.heads);
    if (rv == APR_SUCCESS) FZ_CHECK(sk.heads == 1, "download: success without a head");
    else FZ_CHECK(res.why && *res.why, "download: failure (status %d) without a reason", res.status);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_pool_t *p = fz_init();
    const char *tmp = getenv("TMPDIR");
    char *tmpl = apr_pstrcat(p, tmp && *tmp ? tmp : "/tmp", "/pds-fuzz-upload-XXXXXX", NULL);
    apr_size_t n = 5;
    fz_db();
    /* A 5-byte file to upload from; its name goes at once, the open file stays. */
    if (apr_file_mktemp(&upload_file, tmpl, APR_CREATE | APR_READ | APR_WRITE | APR_EXCL, p)
        != APR_SUCCESS
        || apr_file_write(upload_file, "audio", &n) != APR_SUCCESS)
        abort();
    apr_file_remove(tmpl, p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    fz_answer_t answers[MAX_ANSWERS];
    apr_pool_t *p;
    int mode = 0, n, i;
    if (nl) {
        unsigned h = 0;
        size_t k, len = (size_t)(nl - data);
        mode = -1;
        for (i = 0; i < NMODES && mode < 0; i++)
            if (strlen(modes[i]) == len && !memcmp(modes[i], data, len)) mode = i;
        if (mode < 0) {
            for (k = 0; k < len; k++) h = h * 31 + data[k];
            mode = (int)(h % NMODES);
        }
        size -= len + 1;
        data = nl + 1;
    }
    p = fz_pool();
    n = fz_parse_answers(p, (const char *)data, size, answers, MAX_ANSWERS);
    if (mode <= 3) one_call(p, mode, answers, n);
    else if (mode == 4) connect_flow(p, answers, n);
    else if (mode == 7) renew_flow(p, answers, n);
    else session_flow(p, mode == 6, answers, n);
    fz_http_script(p, NULL, 0);
    fz_pool_done(p);
    fz_db_reset_if_changed();
    return 0;
}
