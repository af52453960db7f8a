#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_file_io.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_export.h"
#include "pds_db_args.h"

/* pds_file_for_export */
enum { FX_ID, FX_TRACK, FX_OWNER, FX_CAT, FX_NAME, FX_SIZE, FX_LOCAL, FX_HASH, FX_STATE,
       FX_ALIAS, FX_TITLE };

int pds_export_wanted(const pds_export_policy_t *pol, int category, int is_final)
{
    int final = category == PDS_CAT_MASTER || is_final;
    if (category == PDS_CAT_PROJECT) return 1;
    if (!strcmp(pol->by_status, "all")) return 1;
    if (!strcmp(pol->by_status, "final")) return final;
    return !final;                                      /* non-final */
}

const char *pds_track_folder_name(apr_pool_t *p, const char *alias, const char *title,
                                  const char *track_id)
{
    char *name, *c;
    apr_size_t n;
    if (alias) return alias;
    name = apr_pstrndup(p, title ? title : "track", 80);
    /* Cut on a character boundary: a split UTF-8 sequence is no string to JSON. */
    n = strlen(name);
    if (n == 80) {
        apr_size_t lead = n;
        while (lead > 0 && ((unsigned char)name[lead - 1] & 0xC0) == 0x80) lead--;
        if (lead > 0 && (unsigned char)name[lead - 1] >= 0xC0) {
            unsigned char u = (unsigned char)name[lead - 1];
            apr_size_t want = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : 2;
            if (n - (lead - 1) < want) name[lead - 1] = '\0';
        }
    }
    for (c = name; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u < 0x80 && !apr_isalnum(u) && u != ' ' && u != '-' && u != '_' && u != '.'
            && u != '(' && u != ')')
            *c = '_';
    }
    while (*name == '.' || *name == ' ') name++;
    if (!*name) name = "track";
    return apr_pstrcat(p, name, " [", track_id, "]", NULL);
}

const char *pds_export_path(apr_pool_t *p, const pds_export_policy_t *pol, const char *root,
                            int category, const char *track_folder, const char *name)
{
    static const char *const dirs[PDS_CAT_COUNT] = { "bounces", "bounces", "stems", "projects" };
    if (pol->single_folder) return apr_pstrcat(p, root, "/", name, NULL);
    return apr_pstrcat(p, root, "/", dirs[category], "/", track_folder, "/", name, NULL);
}

typedef struct {
    pds_runner_t *run;
    pds_job_t *job;
    pds_ctx_t *ctx;
    pds_dbx_session_t *s;
    const char **error;
    int *retry_in;
    int *stop;
} ex_t;

static int ex_checkpoint(ex_t *x)
{
    if (x->run->should_stop && x->run->should_stop(x->run->baton)) {
        *x->stop = 1;
        return 0;
    }
    x->ctx->now = pds_now();
    if (pds_job_renew(x->ctx, x->job, x->run->worker, x->run->lease_secs)) {
        *x->error = "the lease was lost";
        *x->stop = 1;
        return 0;
    }
    return 1;
}

static int ex_failed(ex_t *x, const char *step, const pds_dbx_res_t *res)
{
    *x->error = apr_psprintf(x->ctx->pool, "%s: %s", step, res->why ? res->why : "failed");
    if (res->transient) *x->retry_in = res->retry_after > 0 ? res->retry_after : 15 * x->job->attempts;
    return 0;
}

/* Keep the session and progress in the job, so a killed child's successor
 * resumes instead of starting over. */
static void save_progress(ex_t *x, const char *session_id, apr_off_t offset)
{
    char *text;
    json_object_set_new(x->job->payload, "session_id", json_string(session_id));
    json_object_set_new(x->job->payload, "offset", json_integer(offset));
    text = json_dumps(x->job->payload, JSON_COMPACT);
    if (!text) return;
    EXEC(x->ctx->db, "pds_job_payload", NULL, apr_pstrdup(x->ctx->pool, text),
         pds_db_i64(x->ctx->pool, pds_now()), x->job->id, x->run->worker);
    free(text);
}

static json_t *commit_info(apr_pool_t *p, const char *path)
{
    /* overwrite: a repeated attempt lands on the same file, not a copy. */
    return json_pack("{s:s,s:s,s:b,s:b}", "path", path, "mode", "overwrite", "autorename", 0,
                     "mute", 1);
}

static apr_int64_t correct_offset(json_t *err)
{
    json_t *v = json_object_get(err, "correct_offset");
    if (!v) v = json_object_get(json_object_get(err, "lookup_failed"), "correct_offset");
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static const char *incorrect_offset_tag(const pds_dbx_res_t *res)
{
    if (res->status != 409 || !res->tag) return NULL;
    if (!strcmp(res->tag, "incorrect_offset")) return res->tag;
    if (!strcmp(res->tag, "lookup_failed")) {
        json_t *lf = json_object_get(res->error, "lookup_failed");
        const char *t = json_string_value(json_object_get(lf, ".tag"));
        return t;
    }
    return NULL;
}

/* After a finish whose answer was lost: is the file there, with our content? */
static int already_there(ex_t *x, const char *path, const char *hash)
{
    pds_dbx_res_t res;
    json_t *arg = pds_json_pool(x->ctx->pool, json_pack("{s:s}", "path", path));
    const char *have;
    if (pds_dbx_session_rpc(x->run->env, x->s, "files/get_metadata", arg, &res) != APR_SUCCESS)
        return 0;
    have = json_string_value(json_object_get(res.result, "content_hash"));
    return have && hash && !strcmp(have, hash);
}

static int upload_session(ex_t *x, apr_file_t *f, apr_off_t size, const char *path,
                          const char *hash)
{
    apr_pool_t *p = x->ctx->pool;
    const char *sid = json_string_value(json_object_get(x->job->payload, "session_id"));
    apr_off_t off = json_integer_value(json_object_get(x->job->payload, "offset"));
    pds_dbx_res_t res;
    int rounds;

    if (sid) sid = apr_pstrdup(p, sid);
    for (rounds = 0; rounds < 10000; rounds++) {
        apr_size_t n;
        json_t *arg;
        if (!sid) {
            arg = pds_json_pool(p, json_pack("{s:b}", "close", 0));
            if (pds_dbx_upload(p, x->run->env->dbx, &x->s->auth, "files/upload_session/start",
                               arg, f, 0, 0, &res) != APR_SUCCESS)
                return ex_failed(x, "upload_session/start", &res);
            sid = json_string_value(json_object_get(res.result, "session_id"));
            if (!sid) {
                *x->error = "upload_session/start: no session_id";
                return 0;
            }
            sid = apr_pstrdup(p, sid);
            off = 0;
            save_progress(x, sid, off);
        }
        if (off >= size) {
            /* A content_hash on finish would cover only this call's (empty)
             * body: the whole file is checked against the metadata instead. */
            arg = pds_json_pool(p, json_pack("{s:{s:s,s:I},s:o}", "cursor", "session_id", sid,
                                "offset", (json_int_t)size, "commit", commit_info(p, path)));
            if (pds_dbx_upload(p, x->run->env->dbx, &x->s->auth, "files/upload_session/finish",
                               arg, f, 0, 0, &res) == APR_SUCCESS) {
                const char *have = json_string_value(json_object_get(res.result, "content_hash"));
                if (hash && have && strcmp(have, hash)) {
                    *x->error = "upload_session/finish: Dropbox holds different bytes than were"
                                " uploaded (content hash)";
                    return 0;
                }
                return 1;
            }
            if (incorrect_offset_tag(&res) && !strcmp(incorrect_offset_tag(&res), "incorrect_offset")) {
                off = correct_offset(res.error);
                if (off < 0) return ex_failed(x, "upload_session/finish", &res);
                continue;
            }
            /* A finish whose answer was lost has used the session up. */
            if (res.status == 409 && already_there(x, path, hash)) return 1;
            if (res.status == 409 && incorrect_offset_tag(&res)
                && !strcmp(incorrect_offset_tag(&res), "not_found")) {
                sid = NULL;               /* gone (expired): start over */
                continue;
            }
            return ex_failed(x, "upload_session/finish", &res);
        }
        n = (apr_size_t)(size - off < PDS_UPLOAD_CHUNK ? size - off : PDS_UPLOAD_CHUNK);
        arg = pds_json_pool(p, json_pack("{s:{s:s,s:I},s:b}", "cursor", "session_id", sid,
                            "offset", (json_int_t)off, "close", 0));
        if (pds_dbx_upload(p, x->run->env->dbx, &x->s->auth, "files/upload_session/append_v2",
                           arg, f, off, n, &res) == APR_SUCCESS) {
            off += n;
            save_progress(x, sid, off);
            if (!ex_checkpoint(x)) return 0;
            continue;
        }
        if (res.status == 409 && res.tag && !strcmp(res.tag, "incorrect_offset")) {
            /* e.g. our previous append arrived but its answer was lost */
            apr_int64_t c = correct_offset(res.error);
            if (c < 0 || c > size) return ex_failed(x, "upload_session/append_v2", &res);
            off = c;
            save_progress(x, sid, off);
            continue;
        }
        if (res.status == 409 && res.tag && !strcmp(res.tag, "not_found")) {
            sid = NULL;                   /* the session expired: start over */
            continue;
        }
        return ex_failed(x, "upload_session/append_v2", &res);
    }
    *x->error = "upload session: too many rounds";
    return 0;
}

void pds_export_run(pds_runner_t *run, pds_job_t *job, const pds_export_policy_t *pol,
                    const char **error, int *retry_in, int *stop)
{
    pds_ctx_t *ctx = run->env->ctx;
    const char *fid = json_string_value(json_object_get(job->payload, "file_id"));
    const char **r, *path, *api_path;
    pds_rows_t *rs;
    apr_file_t *f;
    apr_finfo_t fi;
    ex_t x;
    pds_err_t *e;
    int cat;

    memset(&x, 0, sizeof(x));
    x.run = run;
    x.job = job;
    x.ctx = ctx;
    x.error = error;
    x.retry_in = retry_in;
    x.stop = stop;
    ctx->user = job->owner;
    if (!fid || SELECT(ctx->db, "pds_file_for_export", &rs, fid)) {
        *error = fid ? ctx->db->last_error : "the job has no file";
        *retry_in = fid ? 30 : 0;
        return;
    }
    if (!rs->rows->nelts) {
        *error = "the file is gone";
        return;
    }
    r = PDS_ROW(rs, 0);
    if (r[FX_STATE] && !strcmp(r[FX_STATE], "done")) return;        /* exported already */
    if (!r[FX_LOCAL]) {
        *error = "the file has no local copy";
        return;
    }
    if ((e = pds_dbx_session(run->env, job->owner, &x.s))) {
        *error = apr_psprintf(ctx->pool, "no usable Dropbox connection: %s",
                              e->detail ? e->detail : e->message);
        *retry_in = 60 * job->attempts;
        return;
    }
    cat = pds_category_from_name(r[FX_CAT]);
    path = pds_export_path(ctx->pool, pol, run->env->root, cat < 0 ? PDS_CAT_BOUNCE : cat,
                           pds_track_folder_name(ctx->pool, r[FX_ALIAS], r[FX_TITLE], r[FX_TRACK]),
                           r[FX_NAME]);
    api_path = apr_pstrcat(ctx->pool, x.s->path_prefix, path, NULL);
    if (!pds_valid_utf8(api_path, strlen(api_path))) {
        /* A name stored before names were checked: no Dropbox call can carry it. */
        *error = "the file's Dropbox path is not valid UTF-8; it cannot be exported";
        return;
    }
    if (apr_file_open(&f, r[FX_LOCAL], APR_READ | APR_BINARY, 0, ctx->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        *error = apr_psprintf(ctx->pool, "cannot read the local copy %s", r[FX_LOCAL]);
        return;
    }
    if (fi.size <= PDS_UPLOAD_SINGLE_MAX) {
        pds_dbx_res_t res;
        json_t *arg = pds_json_pool(ctx->pool, commit_info(ctx->pool, api_path));
        if (r[FX_HASH]) json_object_set_new(arg, "content_hash", json_string(r[FX_HASH]));
        if (pds_dbx_upload(ctx->pool, run->env->dbx, &x.s->auth, "files/upload", arg, f, 0,
                           (apr_size_t)fi.size, &res) != APR_SUCCESS) {
            ex_failed(&x, "files/upload", &res);
            apr_file_close(f);
            return;
        }
    }
    else if (!upload_session(&x, f, fi.size, api_path, r[FX_HASH])) {
        apr_file_close(f);
        return;
    }
    apr_file_close(f);
    if (EXEC(ctx->db, "pds_file_exported", NULL, path, fid)) {
        *error = ctx->db->last_error;
        *retry_in = 30;
    }
}

pds_err_t *pds_export_retry(pds_ctx_t *ctx, const char *track_id, const char *file_id,
                            json_t *body, json_t **out)
{
    static const char *const no_fields[] = { NULL };
    pds_job_t *job = NULL;
    pds_rows_t *rs;
    const char **r, *job_id = NULL;
    pds_err_t *e;

    if ((e = pds_fields_known(ctx->pool, body, no_fields))) return e;
    if (!pds_valid_text(file_id, 100) || SELECT(ctx->db, "pds_file_for_export", &rs, file_id))
        return pds_err(ctx->pool, 404, "not_found", "no such file");
    r = rs->rows->nelts ? PDS_ROW(rs, 0) : NULL;
    if (!r || strcmp(r[FX_OWNER], ctx->user) || strcmp(r[FX_TRACK], track_id))
        return pds_err(ctx->pool, 404, "not_found", "no such file");
    if (!r[FX_STATE] || strcmp(r[FX_STATE], "failed"))
        return pds_err(ctx->pool, 409, "not_failed",
                       "only a failed export can be retried (this one is %s)",
                       r[FX_STATE] ? r[FX_STATE] : "not wanted");
    /* The failed job keeps its upload session and offset: requeue it. */
    if (SELECT(ctx->db, "pds_job_for_file", &rs, PDS_JOB_EXPORT, ctx->user, track_id,
               apr_pstrcat(ctx->pool, "%\"file_id\":\"", file_id, "\"%", NULL)))
        return pds_db_failed(ctx);
    if (rs->rows->nelts && (e = pds_job_get(ctx, PDS_ROW(rs, 0)[0], &job))) return e;
    if (EXEC(ctx->db, "pds_file_export_state", NULL, "pending", file_id))
        return pds_db_failed(ctx);
    if (job && strcmp(job->state, "failed")) job = NULL;       /* a stale pick: queue anew */
    if (job) {
        if ((e = pds_job_requeue(ctx, job))) return e;
        job_id = job->id;
    }
    else if ((e = pds_job_enqueue(ctx, PDS_JOB_EXPORT, ctx->user, track_id,
                                  pds_json_pool(ctx->pool, json_pack("{s:s}", "file_id", file_id)),
                                  &job_id)))
        return e;
    if ((e = pds_api_file(ctx, track_id, file_id, out))) return e;
    json_object_set_new(*out, "job_id", json_string(job_id));
    return NULL;
}
