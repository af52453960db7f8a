/* Shared pieces of the libFuzzer targets: see fuzz_common.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "fuzz_common.h"
#include "pds_util.h"
#include "pds_crypto.h"

/* A fixed clock: the same input gives the same answer on any day. */
#define FZ_NOW 1700000000

static apr_pool_t *proc_pool;
static fz_db_t the_db;
static int db_open;
static char *db_dir;
static apr_array_header_t *db_tables;
/* The sqlite3 connection, held where LeakSanitizer looks. APR's pools take
 * their memory from mmap, which it does not scan: with the connection known
 * only from the pool-allocated apr_dbd_t, a leak check that libFuzzer runs
 * while the database is open (after an input that allocated more than it
 * freed) reports all of sqlite's memory as leaked. */
static void *volatile db_native;   /* volatile: a store never read is kept */

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n==FUZZ PROPERTY FAILED== %s:%d: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

int fz_guard(const char *bug)
{
    const char *s = getenv("PDS_FUZZ_STRICT");
    size_t n = strlen(bug);
    if (!s || !*s || !strcmp(s, "0")) return 1;
    if (!strcmp(s, "1") || !strcmp(s, "all")) return 0;
    /* A comma-separated list of bug names. */
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == n && !strncmp(s, bug, n)) return 0;
        s += len;
        if (*s) s++;
    }
    return 1;
}

static void cleanup_db_dir(void)
{
    /* Closed, so that the exit-time leak check does not take sqlite's memory
     * (referenced from APR pool memory, which LeakSanitizer does not scan)
     * for a leak. */
    if (db_open) {
        apr_dbd_close(the_db.driver, the_db.handle);
        db_open = 0;
        db_native = NULL;
    }
    if (db_dir) {
        static const char *const files[] = { "pds.db", "pds.db-wal", "pds.db-shm",
                                             "pds.db-journal" };
        char path[4096];
        size_t i;
        for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", db_dir, files[i]);
            unlink(path);
        }
        rmdir(db_dir);
        db_dir = NULL;
    }
}

apr_pool_t *fz_init(void)
{
    if (proc_pool) return proc_pool;
    apr_initialize();
    apr_pool_create(&proc_pool, NULL);
    apr_dbd_init(proc_pool);
    /* Outbound HTTP never leaves the process: a stand-in until a target scripts it. */
    fz_http_script(proc_pool, NULL, 0);
    return proc_pool;
}

apr_pool_t *fz_pool(void)
{
    apr_allocator_t *a;
    apr_pool_t *p;
    fz_init();
    if (apr_allocator_create(&a) != APR_SUCCESS) abort();
    if (apr_pool_create_ex(&p, NULL, NULL, a) != APR_SUCCESS) abort();
    apr_allocator_owner_set(a, p);
    return p;
}

void fz_pool_done(apr_pool_t *p)
{
    apr_pool_destroy(p);
}

/* ------------------------------------------------------------- database */

static int raw(const char *sql)
{
    int n = 0;
    int rv = apr_dbd_query(the_db.driver, the_db.handle, &n, sql);
    if (rv) {
        fprintf(stderr, "fuzz db: %s: %s\n", sql, apr_dbd_error(the_db.driver, the_db.handle, rv));
    }
    return rv;
}

int fz_db_exec(const char *sql)
{
    fz_db();
    return raw(sql);
}

static long long total_changes(void)
{
    apr_pool_t *p = fz_pool();
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    long long n = -1;
    if (!apr_dbd_select(the_db.driver, p, the_db.handle, &res, "SELECT total_changes()", 0)) {
        while (apr_dbd_get_row(the_db.driver, p, res, &row, -1) == 0) {
            const char *v = apr_dbd_get_entry(the_db.driver, row, 0);
            if (v) n = atoll(v);
        }
    }
    fz_pool_done(p);
    return n;
}

/* The seed rows: two producers, three tracks (one in a group), a file, a
 * collaborator, a share with a known token, an event, a notification. */
static const char *const seed_sql[] = {
    "INSERT INTO pds_producers (username, display_name, avatar_url, header_url, theme_accent,"
    " theme_background, profile_url, created_at, updated_at) VALUES ('alice', 'Alice & Co',"
    " 'https://example.test/a.png', NULL, '#1a2b3c', '#fff', NULL, 1600000000, 1600000000)",
    "INSERT INTO pds_tracks (id, owner, title, bpm, musical_key, artwork_url, bucket, alias,"
    " group_id, version, sharing_status, created_at, updated_at) VALUES ('t_seed_a1', 'alice',"
    " 'First <song>', 120.5, 'Am', NULL, 'demo', 'song-a', NULL, 1, 'released', 1600000001,"
    " 1600000001)",
    "INSERT INTO pds_tracks (id, owner, title, bpm, musical_key, artwork_url, bucket, alias,"
    " group_id, version, sharing_status, created_at, updated_at) VALUES ('t_seed_a2', 'alice',"
    " 'Second', NULL, NULL, NULL, 'demo', NULL, 'g1', 2, 'wip', 1600000002, 1600000002)",
    "INSERT INTO pds_tracks (id, owner, title, bpm, musical_key, artwork_url, bucket, alias,"
    " group_id, version, sharing_status, created_at, updated_at) VALUES ('t_seed_a3', 'alice',"
    " 'Spaced', NULL, NULL, NULL, 'with space', NULL, 'g1', 1, 'private', 1600000003, 1600000003)",
    "INSERT INTO pds_tracks (id, owner, title, bpm, musical_key, artwork_url, bucket, alias,"
    " group_id, version, sharing_status, created_at, updated_at) VALUES ('t_seed_b1', 'bob',"
    " 'Bob''s', NULL, NULL, NULL, 'demo', NULL, NULL, 1, 'released', 1600000004, 1600000004)",
    "INSERT INTO pds_files (id, track_id, owner, category, dropbox_path, name, format, size,"
    " created_at) VALUES ('f_seed_a1', 't_seed_a1', 'alice', 'bounce',"
    " '/PRODUCER-DASHBOARD/bounces/song-a/mix.wav', 'mix.wav', 'wav', 1234, 1600000005)",
    "INSERT INTO pds_collaborators (id, track_id, owner, name, email, avatar_url, role,"
    " username, created_at) VALUES ('c_seed_a1', 't_seed_a1', 'alice', 'Carol',"
    " 'carol@example.test', NULL, 'mix', NULL, 1600000006)",
    "INSERT INTO pds_shares (id, owner, token_selector, token, title, bucket, perm_bounces,"
    " perm_stems, perm_projects, files_restricted, expires_at, revoked_at, created_at) VALUES"
    " ('s_seed_a1', 'alice', 'AbCdEfGhIj', 'AbCdEfGhIjKlMnOpQrStUvWxYz012345', 'For you', NULL,"
    " 1, 1, 0, 0, NULL, NULL, 1600000007)",
    "INSERT INTO pds_share_tracks (share_id, track_id, position) VALUES ('s_seed_a1', 't_seed_a1', 0)",
    "INSERT INTO pds_share_tracks (share_id, track_id, position) VALUES ('s_seed_a1', 't_seed_a2', 1)",
    "INSERT INTO pds_events (share_id, track_id, file_id, kind, category, created_at) VALUES"
    " ('s_seed_a1', 't_seed_a1', 'f_seed_a1', 'download', 'bounce', 1600000008)",
    "INSERT INTO pds_events (share_id, track_id, file_id, kind, category, created_at) VALUES"
    " ('s_seed_a1', NULL, NULL, 'view', NULL, 1600000008)",
    "INSERT INTO pds_notifications (id, username, kind, message, data, created_at, read_at)"
    " VALUES ('n_seed_a1', 'alice', 'share_failed', 'It failed', '{\"track_id\":\"t_seed_a1\"}',"
    " 1600000009, NULL)",
    NULL
};

void fz_db_reset(void)
{
    int i;
    const char *const *s;
    apr_pool_t *p = fz_pool();
    fz_db();
    if (raw("BEGIN IMMEDIATE")) abort();
    for (i = 0; i < db_tables->nelts; i++)
        raw(apr_pstrcat(p, "DELETE FROM ", APR_ARRAY_IDX(db_tables, i, const char *), NULL));
    for (s = seed_sql; *s; s++)
        if (raw(*s)) abort();
    /* alice has connected Dropbox: tokens sealed under the fuzz key, valid for long. */
    if (raw(apr_psprintf(p, "INSERT INTO pds_dropbox_accounts (username, account_id, email,"
                         " display_name, account_type, team_name, root_namespace_id, home_path,"
                         " access_sealed, access_expires_at, refresh_sealed, token_status,"
                         " folder_path, connected_at, updated_at) VALUES ('alice', 'dbid:seed',"
                         " 'alice@example.test', 'Alice', 'personal', NULL, NULL, NULL, '%s',"
                         " 4000000000, '%s', 'ok', '/PRODUCER-DASHBOARD', 1600000000, 1600000000)",
                         pds_seal(p, fz_key, "dropbox-access:alice", "seed-access-token"),
                         pds_seal(p, fz_key, "dropbox-refresh:alice", "seed-refresh-token")))) abort();
    if (raw("COMMIT")) abort();
    fz_pool_done(p);
    the_db.changes_at_reset = total_changes();
}

void fz_db_reset_if_changed(void)
{
    fz_db();
    if (total_changes() != the_db.changes_at_reset) fz_db_reset();
}

fz_db_t *fz_db(void)
{
    const char *err = NULL, *tmp;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    char *path;
    if (db_open) return &the_db;
    fz_init();
    tmp = getenv("TMPDIR");
    db_dir = apr_pstrcat(proc_pool, tmp && *tmp ? tmp : "/tmp", "/pds-fuzz-XXXXXX", NULL);
    if (!mkdtemp(db_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(cleanup_db_dir);
    path = apr_pstrcat(proc_pool, db_dir, "/pds.db", NULL);
    if (apr_dbd_get_driver(proc_pool, "sqlite3", &the_db.driver) != APR_SUCCESS) {
        fprintf(stderr, "fuzz: no apr_dbd sqlite3 driver (libaprutil1-dbd-sqlite3)\n");
        abort();
    }
    if (apr_dbd_open_ex(the_db.driver, proc_pool, path, &the_db.handle, &err) != APR_SUCCESS) {
        fprintf(stderr, "fuzz: cannot open %s: %s\n", path, err ? err : "?");
        abort();
    }
    db_open = 1;
    db_native = apr_dbd_native_handle(the_db.driver, the_db.handle);
    /* As pdsharectl and the module's post_connect hook do. */
    if (pds_db_setup(proc_pool, the_db.driver, the_db.handle, 0, &err) != APR_SUCCESS) {
        fprintf(stderr, "fuzz: schema: %s\n", err ? err : "?");
        abort();
    }
    /* Durability is of no use here: no fsync at commits or checkpoints. */
    raw("PRAGMA synchronous = OFF");
    the_db.prepared = apr_hash_make(proc_pool);
    if (pds_db_prepare_all(proc_pool, the_db.driver, the_db.handle, the_db.prepared, &err)
        != APR_SUCCESS) {
        fprintf(stderr, "fuzz: prepare: %s\n", err ? err : "?");
        abort();
    }
    db_tables = apr_array_make(proc_pool, 16, sizeof(const char *));
    if (apr_dbd_select(the_db.driver, proc_pool, the_db.handle, &res,
                       "SELECT name FROM sqlite_master WHERE type = 'table'"
                       " AND name LIKE 'pds%' AND name <> 'pds_schema_version'", 0)) abort();
    while (apr_dbd_get_row(the_db.driver, proc_pool, res, &row, -1) == 0)
        APR_ARRAY_PUSH(db_tables, const char *) =
            apr_pstrdup(proc_pool, apr_dbd_get_entry(the_db.driver, row, 0));
    fz_db_reset();
    return &the_db;
}

/* ------------------------------------------------------------ contexts */

const unsigned char fz_key[PDS_DATA_KEY_LEN] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32
};

const pds_dbx_conf_t fz_dbx_conf = {
    "http://dropbox-api.invalid", "http://dropbox-content.invalid",
    "http://dropbox-www.invalid/oauth2/authorize", "fuzz-app-key", "fuzz-app-secret", 5, 30
};

static const pds_settings_t fz_settings = { "/s", 50, "/PRODUCER-DASHBOARD" };

pds_ctx_t *fz_ctx(apr_pool_t *p, const char *user, pds_db_t *db)
{
    pds_ctx_t *ctx = apr_pcalloc(p, sizeof(*ctx));
    fz_db_t *fdb = fz_db();
    memset(db, 0, sizeof(*db));
    db->pool = p;
    db->driver = fdb->driver;
    db->handle = fdb->handle;
    db->prepared = fdb->prepared;
    ctx->pool = p;
    ctx->db = db;
    ctx->user = user;
    ctx->settings = &fz_settings;
    ctx->base_url = "https://pdshare.example";
    ctx->api_path = "/pd/api";
    ctx->redirect_uri = "https://pdshare.example/pd/api/dropbox/callback";
    ctx->now = FZ_NOW;
    ctx->dbx = apr_pcalloc(p, sizeof(*ctx->dbx));
    ctx->dbx->ctx = ctx;
    ctx->dbx->dbx = &fz_dbx_conf;
    ctx->dbx->key = fz_key;
    ctx->dbx->root = fz_settings.dropbox_root;
    return ctx;
}

/* ------------------------------------------------------- scripted HTTP */

static const fz_answer_t *script;
static int script_len, script_next;
static const pds_http_req_t *last_req;

static apr_status_t fz_perform(apr_pool_t *p, const pds_http_req_t *req, pds_http_resp_t *resp)
{
    const fz_answer_t *a;
    int i;
    last_req = req;
    /* What the library sends: a method, a URL, headers without line breaks. */
    FZ_CHECK(req->method && req->url, "request without method or URL");
    for (i = 0; req->headers && i < req->headers->nelts; i++) {
        const char *h = APR_ARRAY_IDX(req->headers, i, const char *);
        FZ_CHECK(h && !strpbrk(h, "\r\n"),
                 "request header with a line break (header injection): %.200s", h ? h : "(null)");
    }
    memset(resp, 0, sizeof(*resp));
    resp->headers = apr_table_make(p, 4);
    resp->body = apr_pstrdup(p, "");
    if (script_next >= script_len) {
        script_next++;
        resp->timed_out = 1;
        resp->error = "Timeout was reached";
        return APR_EGENERAL;
    }
    a = &script[script_next++];
    if (a->headers) apr_table_overlap(resp->headers, a->headers, APR_OVERLAP_TABLES_SET);
    if (a->status <= 0) {
        resp->timed_out = a->timed_out;
        resp->error = a->timed_out ? "Timeout was reached" : "Couldn't connect to server";
        return APR_EGENERAL;
    }
    resp->status = a->status;
    if (req->sink && a->status >= 200 && a->status < 300) {
        size_t half = a->len / 2;
        if (req->on_head && req->on_head(req->baton, a->status, resp->headers)) {
            resp->aborted = 1;
            resp->error = "aborted by the receiver";
            return APR_EGENERAL;
        }
        if ((half && req->sink(req->baton, a->body, half))
            || (a->len - half && req->sink(req->baton, a->body + half, a->len - half))) {
            resp->aborted = 1;
            resp->error = "aborted by the receiver";
            return APR_EGENERAL;
        }
        if (a->cut) {
            resp->error = "transfer closed with outstanding read data remaining";
            return APR_EGENERAL;
        }
        return APR_SUCCESS;
    }
    if (a->too_large || a->len > req->max_response) {
        resp->too_large = 1;
        resp->error = "the answer is larger than allowed";
        return APR_EGENERAL;
    }
    resp->body = apr_pstrmemdup(p, a->body ? a->body : "", a->len);
    resp->len = a->len;
    return APR_SUCCESS;
}

static const pds_http_impl_t fz_http = { "fuzz", fz_perform };

void fz_http_script(apr_pool_t *p, const fz_answer_t *answers, int n)
{
    script = answers;
    script_len = n;
    script_next = 0;
    last_req = NULL;
    pds_http_use(&fz_http);
}

int fz_http_calls(void)
{
    return script_next;
}

const pds_http_req_t *fz_http_last(void)
{
    return last_req;
}

static const char *find_sep(const char *s, const char *end)
{
    /* "\n%%\n" */
    for (; s + 4 <= end; s++)
        if (s[0] == '\n' && s[1] == '%' && s[2] == '%' && s[3] == '\n') return s;
    return NULL;
}

static void parse_one(apr_pool_t *p, const char *s, const char *end, fz_answer_t *a)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *line_end = nl ? nl : end, *c;
    memset(a, 0, sizeof(*a));
    a->headers = apr_table_make(p, 4);
    a->status = 0;
    for (c = s; c < line_end && *c >= '0' && *c <= '9' && a->status < 100000; c++)
        a->status = a->status * 10 + (*c - '0');
    for (; c < line_end; c++) {
        if (*c == 't') a->timed_out = 1;
        else if (*c == 'L') a->too_large = 1;
        else if (*c == 'C') a->cut = 1;
        else if (*c == 'A') a->stop_sink = 1;
    }
    s = nl ? nl + 1 : end;
    /* Headers up to an empty line. */
    while (s < end) {
        const char *e = memchr(s, '\n', (size_t)(end - s)), *colon, *v, *ve;
        if (!e) e = end;
        if (e == s) { s = e + 1; break; }
        colon = memchr(s, ':', (size_t)(e - s));
        if (colon) {
            v = colon + 1;
            while (v < e && (*v == ' ' || *v == '\t')) v++;
            ve = e;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            apr_table_addn(a->headers, apr_pstrmemdup(p, s, (apr_size_t)(colon - s)),
                           apr_pstrmemdup(p, v, (apr_size_t)(ve - v)));
        }
        s = e < end ? e + 1 : end;
    }
    if (s > end) s = end;
    a->body = apr_pstrmemdup(p, s, (apr_size_t)(end - s));
    a->len = (size_t)(end - s);
}

int fz_parse_answers(apr_pool_t *p, const char *text, size_t len, fz_answer_t *out, int max)
{
    const char *s = text, *end = text + len;
    int n = 0;
    while (n < max && s <= end) {
        const char *sep = find_sep(s, end);
        parse_one(p, s, sep ? sep : end, &out[n++]);
        if (!sep) break;
        s = sep + 4;
    }
    return n;
}

/* --------------------------------------------------------------- input */

char *fz_strndup(apr_pool_t *p, const uint8_t *data, size_t len)
{
    char *s = apr_palloc(p, len + 1);
    if (len) memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

int fz_lines(apr_pool_t *p, const uint8_t *data, size_t size, char **lines, int max)
{
    int n = 0;
    size_t start = 0, i;
    for (i = 0; i < size && n < max - 1; i++) {
        if (data[i] == '\n') {
            lines[n++] = fz_strndup(p, data + start, i - start);
            start = i + 1;
        }
    }
    lines[n++] = fz_strndup(p, data + start, size - start);
    return n;
}

/* ------------------------------------------------------------ replies */

void fz_check_reply(const pds_reply_t *r, const char *method, const char *path)
{
    static const int ok[] = { 200, 201, 202, 204, 302, 400, 403, 404, 405, 409, 410, 503 };
    size_t i;
    int known = 0;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) known |= r->status == ok[i];
    FZ_CHECK(known, "%s %s answered status %d", method, path, r->status);
    if (r->status == 204) {
        FZ_CHECK(!r->body, "%s %s: 204 with a body", method, path);
        return;
    }
    if (r->status == 302) {
        FZ_CHECK(r->location && *r->location, "%s %s: 302 without Location", method, path);
        FZ_CHECK(!strpbrk(r->location, "\r\n"), "%s %s: Location with a line break", method, path);
    }
    FZ_CHECK(r->body != NULL, "%s %s: status %d without a body", method, path, r->status);
    if (r->status == 405) FZ_CHECK(r->allow && *r->allow, "%s %s: 405 without Allow", method, path);
    if (r->status >= 400) {
        json_t *e = json_object_get(r->body, "error");
        FZ_CHECK(json_is_string(json_object_get(e, "code"))
                 && json_is_string(json_object_get(e, "message")),
                 "%s %s: error %d not in the contracted shape", method, path, r->status);
    }
    else {
        FZ_CHECK(json_is_object(r->body), "%s %s: %d body is not an object", method, path,
                 r->status);
    }
}
