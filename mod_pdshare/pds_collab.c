#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_mail.h"
#include "pds_collab.h"
#include "pds_page.h"
#include "pds_export.h"
#include "pds_db_args.h"
#include "pds_invite.h"
#include "pds_collab_int.h"

/* pds_collab_share_list: collaborator_id, email, status, error, updated_at. */
enum { CS_ID, CS_EMAIL, CS_STATUS, CS_ERROR, CS_UPDATED };
/* pds_track_share_get: track_id, owner, folder_path, shared_folder_id, job_id, updated_at. */
enum { TS_TRACK, TS_OWNER, TS_FOLDER, TS_SFID, TS_JOB, TS_UPDATED };

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static pds_err_t *track_of(pds_ctx_t *ctx, const char *id, const char ***row)
{
    pds_rows_t *rs;
    if (!pds_valid_id(id)) return pds_err(ctx->pool, 404, "not_found", "no such track");
    if (SELECT(ctx->db, "pds_track_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return pds_err(ctx->pool, 404, "not_found", "no such track");
    *row = PDS_ROW(rs, 0);
    return NULL;
}

/* The folder on dropbox.com: each path segment percent-encoded, slashes kept. */
static const char *web_link(apr_pool_t *p, const char *folder)
{
    const char *out = "https://www.dropbox.com/home", *seg = folder;
    if (!folder) return NULL;
    while (seg && *seg) {
        const char *next = strchr(seg + 1, '/');
        const char *part = apr_pstrndup(p, seg + 1, next ? (apr_size_t)(next - seg - 1)
                                                          : strlen(seg + 1));
        out = apr_pstrcat(p, out, "/", pds_form_encode(p, part), NULL);
        seg = next;
    }
    return out;
}

/* ================================================================= API */

pds_err_t *pds_collab_status(pds_ctx_t *ctx, const char *track_id, json_t **out)
{
    const char **track, **ts = NULL;
    pds_rows_t *collabs, *shares, *tsr;
    apr_hash_t *state = apr_hash_make(ctx->pool), *present = apr_hash_make(ctx->pool);
    json_t *list, *removed, *o;
    pds_job_t *job = NULL;
    pds_err_t *e;
    int i, with_email = 0, shared = 0;

    if ((e = track_of(ctx, track_id, &track))) return e;
    list = json_array();
    removed = json_array();
    if (SELECT(ctx->db, "pds_collab_list", &collabs, track_id, ctx->user)
        || SELECT(ctx->db, "pds_collab_share_list", &shares, track_id, ctx->user)
        || SELECT(ctx->db, "pds_track_share_get", &tsr, track_id, ctx->user)) {
        json_decref(list);
        json_decref(removed);
        return pds_db_failed(ctx);
    }
    if (tsr->rows->nelts) ts = PDS_ROW(tsr, 0);
    if (ts && ts[TS_JOB] && (e = pds_job_get(ctx, ts[TS_JOB], &job))) {
        json_decref(list);
        json_decref(removed);
        return e;
    }
    for (i = 0; i < shares->rows->nelts; i++)
        apr_hash_set(state, PDS_ROW(shares, i)[CS_ID], APR_HASH_KEY_STRING, PDS_ROW(shares, i));
    for (i = 0; i < collabs->rows->nelts; i++) {
        const char **c = PDS_ROW(collabs, i), **st = apr_hash_get(state, c[CO_ID], APR_HASH_KEY_STRING);
        const char *status = "not_shared", *error = NULL;
        apr_hash_set(present, c[CO_ID], APR_HASH_KEY_STRING, "");
        if (!c[CO_EMAIL]) {
            error = "no email address";
        }
        else {
            with_email++;
            /* A changed email is not shared until shared again. */
            if (st && (!st[CS_EMAIL] || !strcasecmp(st[CS_EMAIL], c[CO_EMAIL]))) {
                status = st[CS_STATUS];
                error = st[CS_ERROR];
            }
            if (!strcmp(status, "shared")) shared++;
        }
        json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:o,s:s,s:o}", "id", c[CO_ID],
                              "name", c[CO_NAME],
                              "email", c[CO_EMAIL] ? json_string(c[CO_EMAIL]) : json_null(),
                              "username", c[CO_USER] ? json_string(c[CO_USER]) : json_null(),
                              "status", status, "error", error ? json_string(error) : json_null()));
    }
    for (i = 0; i < shares->rows->nelts; i++) {
        const char **st = PDS_ROW(shares, i);
        if (apr_hash_get(present, st[CS_ID], APR_HASH_KEY_STRING)) continue;
        json_array_append_new(removed, json_pack("{s:s,s:o,s:s,s:o}", "id", st[CS_ID],
                              "email", st[CS_EMAIL] ? json_string(st[CS_EMAIL]) : json_null(),
                              "status", st[CS_STATUS],
                              "error", st[CS_ERROR] ? json_string(st[CS_ERROR]) : json_null()));
    }
    o = json_object();
    json_object_set_new(o, "track_id", json_string(track_id));
    json_object_set_new(o, "status", json_string(shared == 0 ? "none"
                                                 : shared == with_email ? "all" : "partial"));
    json_object_set_new(o, "folder_path", ts && ts[TS_FOLDER] ? json_string(ts[TS_FOLDER]) : json_null());
    json_object_set_new(o, "web_url", ts && ts[TS_FOLDER]
                        ? json_string(web_link(ctx->pool, ts[TS_FOLDER])) : json_null());
    json_object_set_new(o, "shared_folder_id", ts && ts[TS_SFID] ? json_string(ts[TS_SFID]) : json_null());
    json_object_set_new(o, "job", job ? pds_job_json(ctx->pool, job) : json_null());
    json_object_set_new(o, "collaborators", list);
    json_object_set_new(o, "removed", removed);
    json_object_set_new(o, "mode", json_string(job && jstr(job->payload, "mode")
                                               ? jstr(job->payload, "mode") : "folder"));
    if (job && jstr(job->payload, "mode") && !strcmp(jstr(job->payload, "mode"), "files")
        && (e = pds_collab_files_status(ctx, track_id, job->payload, o))) {
        json_decref(o);
        return e;
    }
    *out = o;
    return NULL;
}

/* Collaborators with an email become pending. */
static pds_err_t *mark_pending(pds_ctx_t *ctx, const char *track_id)
{
    pds_rows_t *collabs;
    int i;
    if (SELECT(ctx->db, "pds_collab_list", &collabs, track_id, ctx->user)) return pds_db_failed(ctx);
    for (i = 0; i < collabs->rows->nelts; i++) {
        const char **c = PDS_ROW(collabs, i);
        if (!c[CO_EMAIL]) continue;
        if (EXEC(ctx->db, "pds_collab_share_put", NULL, track_id, c[CO_ID], ctx->user,
                 c[CO_EMAIL], "pending", NULL, pds_db_i64(ctx->pool, ctx->now)))
            return pds_db_failed(ctx);
    }
    return NULL;
}

/* A new job for the track; the track's share row points at it. */
static pds_err_t *queue_share(pds_ctx_t *ctx, const char *track_id, json_t *payload,
                              const char **job_id)
{
    pds_err_t *e;
    if ((e = mark_pending(ctx, track_id))) return e;
    if ((e = pds_job_enqueue(ctx, PDS_JOB_SHARE, ctx->user, track_id, payload, job_id))) return e;
    if (EXEC(ctx->db, "pds_track_share_put", NULL, track_id, ctx->user, NULL, NULL, *job_id,
             pds_db_i64(ctx->pool, ctx->now)))
        return pds_db_failed(ctx);
    return NULL;
}

static pds_err_t *accepted(pds_ctx_t *ctx, const char *track_id, json_t **out)
{
    pds_err_t *e = pds_collab_status(ctx, track_id, out);
    if (!e) json_object_set_new(*out, "accepted", json_true());
    return e;
}

pds_err_t *pds_collab_share(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out)
{
    static const char *const modes[] = { "folder", "files", NULL };
    static const char *const fields[] = { "file_ids", "mode", NULL };
    const char **track, *mode = "folder", *job_id;
    json_t *fids = json_object_get(body, "file_ids"), *payload, *v;
    pds_presence_e pr;
    pds_err_t *e;
    size_t k;

    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if ((e = track_of(ctx, track_id, &track))) return e;
    if ((e = pds_field_enum(ctx->pool, body, "mode", modes, &mode, &pr))) return e;
    if (!mode) mode = "folder";
    payload = pds_json_pool(ctx->pool, json_pack("{s:s}", "mode", mode));
    if (fids && !json_is_null(fids)) {
        json_t *ids = json_array();
        json_object_set_new(payload, "file_ids", ids);
        if (!json_is_array(fids) || !json_array_size(fids))
            return pds_err(ctx->pool, 400, "invalid_field", "file_ids: must be a non-empty array");
        json_array_foreach(fids, k, v) {
            pds_rows_t *f;
            if (!json_is_string(v) || !pds_valid_id(json_string_value(v)))
                return pds_err(ctx->pool, 400, "invalid_field", "file_ids: must hold file ids");
            if (pds_db_select(ctx->db, "pds_file_owned", &f, 2,
                              ARGS(json_string_value(v), ctx->user)))
                return pds_db_failed(ctx);
            if (!f->rows->nelts || strcmp(PDS_ROW(f, 0)[1], track_id))
                return pds_err(ctx->pool, 400, "invalid_field",
                               "file_ids: %s is not a file of this track", json_string_value(v));
            json_array_append(ids, v);
        }
    }
    if (!pds_dbx_usable(ctx->dbx, ctx->user))
        return pds_err(ctx->pool, 409, "not_connected",
                       "connect Dropbox first: collaborators get a shared Dropbox folder");
    if ((e = queue_share(ctx, track_id, payload, &job_id))) return e;
    return accepted(ctx, track_id, out);
}

pds_err_t *pds_collab_retry(pds_ctx_t *ctx, const char *track_id, int reset, json_t **out)
{
    const char **track, *job_id;
    pds_job_t *job = NULL;
    pds_rows_t *tsr;
    pds_err_t *e;
    if ((e = track_of(ctx, track_id, &track))) return e;
    if (SELECT(ctx->db, "pds_track_share_get", &tsr, track_id, ctx->user)) return pds_db_failed(ctx);
    if (tsr->rows->nelts && PDS_ROW(tsr, 0)[TS_JOB]
        && (e = pds_job_get(ctx, PDS_ROW(tsr, 0)[TS_JOB], &job)))
        return e;
    if (!job)
        return pds_err(ctx->pool, 404, "not_found", "this track was never shared with collaborators");
    if (reset) {
        /* Start over: forget what was recorded (Dropbox's folder stays). */
        if (EXEC(ctx->db, "pds_collab_share_delete_track", NULL, track_id, ctx->user)
            || EXEC(ctx->db, "pds_track_share_delete", NULL, track_id, ctx->user))
            return pds_db_failed(ctx);
        if ((e = pds_collab_files_forget(ctx, track_id))) return e;
        if ((e = queue_share(ctx, track_id, job->payload, &job_id))) return e;
        return accepted(ctx, track_id, out);
    }
    if (!strcmp(job->state, "running"))
        return pds_err(ctx->pool, 409, "job_running",
                       "the share is running now; retry once it has finished or stalled");
    /* pending, done (perhaps with failed collaborators) or failed: run it again. */
    if ((e = mark_pending(ctx, track_id)) || (e = pds_job_requeue(ctx, job))) return e;
    return accepted(ctx, track_id, out);
}

pds_err_t *pds_collab_bulk(pds_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const modes[] = { "folder", "files", NULL };
    json_t *ids = json_object_get(body, "track_ids"), *v, *queued, *skipped;
    const char *mode = NULL;
    pds_presence_e pr;
    apr_hash_t *with = apr_hash_make(ctx->pool), *seen = apr_hash_make(ctx->pool);
    pds_rows_t *rs;
    pds_err_t *e;
    static const char *const fields[] = { "track_ids", "mode", NULL };
    size_t k;
    int i;
    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if (!json_is_array(ids) || !json_array_size(ids) || json_array_size(ids) > 500)
        return pds_err(ctx->pool, 400, "invalid_field", "track_ids: must be an array of 1 to 500 ids");
    if ((e = pds_field_enum(ctx->pool, body, "mode", modes, &mode, &pr))) return e;
    json_array_foreach(ids, k, v) {
        const char **track;
        if (!json_is_string(v)) return pds_err(ctx->pool, 400, "invalid_field", "track_ids: must hold strings");
        if ((e = track_of(ctx, json_string_value(v), &track))) return e;
    }
    if (!pds_dbx_usable(ctx->dbx, ctx->user))
        return pds_err(ctx->pool, 409, "not_connected",
                       "connect Dropbox first: collaborators get a shared Dropbox folder");
    if (SELECT(ctx->db, "pds_tracks_with_collabs", &rs, ctx->user)) return pds_db_failed(ctx);
    for (i = 0; i < rs->rows->nelts; i++)
        apr_hash_set(with, PDS_ROW(rs, i)[0], APR_HASH_KEY_STRING, "");
    queued = json_array();
    skipped = json_array();
    json_array_foreach(ids, k, v) {
        const char *tid = json_string_value(v), *job_id;
        if (apr_hash_get(seen, tid, APR_HASH_KEY_STRING)) continue;
        apr_hash_set(seen, tid, APR_HASH_KEY_STRING, "");
        if (!apr_hash_get(with, tid, APR_HASH_KEY_STRING)) {
            json_array_append_new(skipped, json_pack("{s:s,s:s}", "track_id", tid,
                                  "reason", "no collaborators"));
            continue;
        }
        if ((e = queue_share(ctx, tid, pds_json_pool(ctx->pool, json_pack("{s:s}", "mode", mode ? mode : "folder")),
                             &job_id))) {
            json_decref(queued);
            json_decref(skipped);
            return e;
        }
        json_array_append_new(queued, json_pack("{s:s,s:s}", "track_id", tid, "job_id", job_id));
    }
    *out = json_pack("{s:o,s:o}", "queued", queued, "skipped", skipped);
    return NULL;
}

pds_err_t *pds_collab_removed(pds_ctx_t *ctx, const char *track_id, const char *collaborator_id)
{
    pds_rows_t *shares, *tsr;
    const char *job_id, *email = NULL;
    int i;
    pds_err_t *e;
    if ((e = pds_invitation_withdraw(ctx, track_id, collaborator_id))) return e;
    if (SELECT(ctx->db, "pds_collab_share_list", &shares, track_id, ctx->user)
        || SELECT(ctx->db, "pds_track_share_get", &tsr, track_id, ctx->user))
        return pds_db_failed(ctx);
    for (i = 0; i < shares->rows->nelts; i++) {
        const char **st = PDS_ROW(shares, i);
        if (!strcmp(st[CS_ID], collaborator_id) && st[CS_EMAIL] && strcmp(st[CS_STATUS], "failed"))
            email = st[CS_EMAIL];
    }
    /* Shared as files: failed on one file may still hold the others. */
    if (!email && (e = pds_collab_files_email(ctx, track_id, collaborator_id, &email))) return e;
    if (!email) return NULL;                                   /* never had access */
    if (EXEC(ctx->db, "pds_collab_share_put", NULL, track_id, collaborator_id, ctx->user, email,
             "removing", NULL, pds_db_i64(ctx->pool, ctx->now)))
        return pds_db_failed(ctx);
    return pds_job_enqueue(ctx, PDS_JOB_REMOVE, ctx->user, track_id,
                           pds_json_pool(ctx->pool, json_pack("{s:s,s:s}", "collaborator_id",
                                         collaborator_id, "email", email)), &job_id);
}

/* ============================================================== worker */

typedef pds_attempt_t attempt_t;

static void say(attempt_t *a, int level, const char *fmt, ...)
{
    va_list ap;
    const char *msg;
    if (!a->run->log) return;
    va_start(ap, fmt);
    msg = apr_pvsprintf(a->ctx->pool, fmt, ap);
    va_end(ap);
    a->run->log(a->run->baton, level, apr_psprintf(a->ctx->pool, "job %s (%s, %s): %s",
                a->job->id, a->job->kind, a->job->owner, msg));
}

/* Between steps: keep the lease, and give the job back on a graceful stop. */
static int checkpoint(attempt_t *a)
{
    if (a->run->should_stop && a->run->should_stop(a->run->baton)) {
        a->stop = 1;
        return 0;
    }
    a->ctx->now = pds_now();
    if (pds_job_renew(a->ctx, a->job, a->run->worker, a->run->lease_secs)) {
        a->error = "the lease was lost";
        a->stop = 1;
        return 0;
    }
    return 1;
}

/* The owner's Dropbox session; without one the job waits and tries again. */
static int open_session(attempt_t *a)
{
    pds_err_t *e = pds_dbx_session(a->run->env, a->job->owner, &a->s);
    if (!e) return 1;
    a->error = apr_psprintf(a->ctx->pool, "no usable Dropbox connection: %s",
                            e->detail ? e->detail : e->message);
    a->retry_in = 60 * a->job->attempts;
    return 0;
}

/* The database failed under the job: try again shortly. */
static void db_trouble(attempt_t *a)
{
    a->error = a->ctx->db->last_error;
    a->retry_in = 30;
}

/* A Dropbox call failed: a transient failure retries the job later. */
static int dropbox_failed(attempt_t *a, const char *step, const pds_dbx_res_t *res)
{
    a->error = apr_psprintf(a->ctx->pool, "%s: %s", step, res->why ? res->why : "failed");
    if (res->transient) a->retry_in = res->retry_after > 0 ? res->retry_after : 15 * a->job->attempts;
    return 0;
}

static int rpc(attempt_t *a, const char *route, json_t *arg, pds_dbx_res_t *res)
{
    return pds_dbx_session_rpc(a->run->env, a->s, route, arg, res) == APR_SUCCESS;
}

static const char *tag_at(json_t *o, const char *k)
{
    return jstr(json_object_get(o, k), ".tag");
}

static int ensure_folder(attempt_t *a, const char *path)
{
    pds_dbx_res_t res;
    json_t *arg = pds_json_pool(a->ctx->pool, json_pack("{s:s,s:b}", "path", path, "autorename", 0));
    const char *what;
    if (rpc(a, "files/create_folder_v2", arg, &res)) return 1;
    what = tag_at(json_object_get(res.error, "path"), "conflict");
    if (res.status == 409 && res.tag && !strcmp(res.tag, "path") && what && !strcmp(what, "folder"))
        return 1;                                                /* already there */
    return dropbox_failed(a, "create_folder_v2", &res);
}

/* Copy one file into the folder; a file already there counts as copied. */
static int copy_file(attempt_t *a, const char *from, const char *to)
{
    pds_dbx_res_t res;
    json_t *arg = pds_json_pool(a->ctx->pool, json_pack("{s:s,s:s,s:b}", "from_path", from,
                                "to_path", to, "autorename", 0));
    if (rpc(a, "files/copy_v2", arg, &res)) return 1;
    if (res.status == 409 && res.tag && !strcmp(res.tag, "to")) {
        const char *what = tag_at(json_object_get(res.error, "to"), "conflict");
        if (what && !strcmp(what, "file")) return 1;
    }
    if (res.status == 409 && res.tag && !strcmp(res.tag, "from_lookup")) {
        a->error = apr_psprintf(a->ctx->pool, "copy_v2: %s is not in Dropbox", from);
        return 0;
    }
    return dropbox_failed(a, "copy_v2", &res);
}

/* Share the folder; an already shared one gives its id. Async jobs polled. */
static const char *share_folder(attempt_t *a, const char *path)
{
    pds_dbx_res_t res;
    json_t *arg = pds_json_pool(a->ctx->pool, json_pack("{s:s,s:b}", "path", path, "force_async", 0));
    const char *tag, *job;
    int polls;
    if (!rpc(a, "sharing/share_folder", arg, &res)) {
        json_t *bad = json_object_get(res.error, "bad_path");
        if (res.status == 409 && res.tag && !strcmp(res.tag, "bad_path")
            && jstr(bad, ".tag") && !strcmp(jstr(bad, ".tag"), "already_shared")) {
            /* The metadata is a struct, so Stone puts its fields beside the tag;
             * the nested form is accepted too. */
            const char *id = jstr(bad, "shared_folder_id");
            if (!id) id = jstr(json_object_get(bad, "already_shared"), "shared_folder_id");
            if (id) return apr_pstrdup(a->ctx->pool, id);
        }
        dropbox_failed(a, "share_folder", &res);
        return NULL;
    }
    tag = jstr(res.result, ".tag");
    if (tag && !strcmp(tag, "complete")) return apr_pstrdup(a->ctx->pool, jstr(res.result, "shared_folder_id"));
    job = jstr(res.result, "async_job_id");
    if (!job) {
        a->error = "share_folder: an answer with neither metadata nor a job";
        return NULL;
    }
    job = apr_pstrdup(a->ctx->pool, job);
    for (polls = 0; polls < 120; polls++) {
        json_t *parg = pds_json_pool(a->ctx->pool, json_pack("{s:s}", "async_job_id", job));
        apr_sleep(apr_time_from_msec(polls < 10 ? 200 : 1000));
        if (!checkpoint(a)) return NULL;
        if (!rpc(a, "sharing/check_share_job_status", parg, &res)) {
            dropbox_failed(a, "check_share_job_status", &res);
            return NULL;
        }
        tag = jstr(res.result, ".tag");
        if (tag && !strcmp(tag, "complete")) return apr_pstrdup(a->ctx->pool, jstr(res.result, "shared_folder_id"));
        if (tag && !strcmp(tag, "failed")) {
            a->error = apr_psprintf(a->ctx->pool, "share_folder failed: %s",
                                    tag_at(res.result, "failed") ? tag_at(res.result, "failed") : "?");
            return NULL;
        }
    }
    a->error = "share_folder: still in progress after two minutes";
    a->retry_in = 60;
    return NULL;
}

/* Emails already invited to or members of the folder (lowercase). */
static apr_hash_t *folder_members(attempt_t *a, const char *sfid)
{
    apr_hash_t *emails = apr_hash_make(a->ctx->pool);
    const char *route = "sharing/list_folder_members";
    json_t *arg = pds_json_pool(a->ctx->pool, json_pack("{s:s,s:i}", "shared_folder_id", sfid, "limit", 1000));
    int pages;
    for (pages = 0; ; pages++) {
        pds_dbx_res_t res;
        json_t *e;
        size_t k;
        if (pages >= 10000) {             /* a cursor that never ends: no partial list */
            a->error = "list_folder_members: the member list does not end";
            return NULL;
        }
        if (pages && !checkpoint(a)) return NULL;   /* a long list outlasts a lease */
        if (!rpc(a, route, arg, &res)) {
            dropbox_failed(a, "list_folder_members", &res);
            return NULL;
        }
        json_array_foreach(json_object_get(res.result, "invitees"), k, e) {
            const char *m = jstr(json_object_get(e, "invitee"), "email");
            if (m) apr_hash_set(emails, apr_pstrdup(a->ctx->pool, pds_lower(a->ctx->pool, m)), APR_HASH_KEY_STRING, "");
        }
        json_array_foreach(json_object_get(res.result, "users"), k, e) {
            const char *m = jstr(json_object_get(e, "user"), "email");
            if (m) apr_hash_set(emails, apr_pstrdup(a->ctx->pool, pds_lower(a->ctx->pool, m)), APR_HASH_KEY_STRING, "");
        }
        if (!jstr(res.result, "cursor")) break;
        route = "sharing/list_folder_members/continue";
        arg = pds_json_pool(a->ctx->pool, json_pack("{s:s}", "cursor", jstr(res.result, "cursor")));
    }
    return emails;
}

static void set_collab(attempt_t *a, const char *cid, const char *email, const char *status,
                       const char *error)
{
    if (EXEC(a->ctx->db, "pds_collab_share_put", NULL, a->job->track_id, cid, a->job->owner,
             email, status, error, pds_db_i64(a->ctx->pool, pds_now())))
        say(a, 2, "recording %s for a collaborator: %s", status, a->ctx->db->last_error);
}

/* A collaborator who is a producer here is invited, not acted for: an
 * invitation they answer in the app, a notice (once) and mail when
 * configured. Nothing touches their Dropbox here; an acceptance queues the
 * mount (run_mount). The notice and the mail are the module's sentences with
 * the sender's username and the track's title as data; the mail holds no
 * link, and its header nothing the sender wrote. */
static void offer_invitation(attempt_t *a, const char **c, const char **track, const char *folder,
                             const char *sfid)
{
    pds_ctx_t *ctx = a->ctx;
    const char *owner_name = NULL, *inv_id, *dedupe, *now = pds_db_i64(ctx->pool, pds_now());
    json_t *profile = NULL, *data;
    pds_rows_t *key;
    char *text;
    int n = 0;

    if (!strcmp(c[CO_USER], a->job->owner)) return;          /* oneself: nothing to ask */
    if (EXEC(ctx->db, "pds_invitation_offer", NULL, pds_new_id(ctx->pool, "i"), a->job->owner,
             c[CO_USER], track[TR_ID], c[CO_ID], folder, sfid, now, now)
        || SELECT(ctx->db, "pds_invitation_key", &key, track[TR_ID], c[CO_ID], c[CO_USER],
                  a->job->owner) || !key->rows->nelts) {
        say(a, 2, "recording an invitation: %s", ctx->db->last_error);
        return;
    }
    if (strcmp(PDS_ROW(key, 0)[1], "pending")) return;         /* answered already */
    inv_id = PDS_ROW(key, 0)[0];
    if (!pds_profile_get(ctx, a->job->owner, &profile)) {
        pds_json_pool(ctx->pool, profile);
        owner_name = jstr(profile, "display_name");
    }
    data = pds_json_pool(ctx->pool, json_pack("{s:s,s:s,s:o,s:s}", "invitation_id", inv_id,
                         "from_username", a->job->owner,
                         "from_display_name", owner_name ? json_string(owner_name) : json_null(),
                         "track_title", track[TR_TITLE]));
    text = json_dumps(data, JSON_COMPACT);
    dedupe = apr_pstrcat(ctx->pool, "invitation:", inv_id, NULL);
    if (!text || EXEC(ctx->db, "pds_notification_add", &n, pds_new_id(ctx->pool, "n"), c[CO_USER],
                      "invitation", "A producer invited you to collaborate on a track.",
                      apr_pstrdup(ctx->pool, text), now, dedupe)) {
        free(text);
        say(a, 2, "recording a notification: %s", ctx->db->last_error);
        return;
    }
    free(text);
    /* Mail only with the notice's first insertion: at most once. */
    if (n == 1 && a->run->smtp_url && c[CO_EMAIL]) {
        const char *why = NULL;
        const char *body = apr_psprintf(ctx->pool,
            "Hello,\n\nA producer on PD Share invited you to collaborate on a track.\n\n"
            "From (username): %s\nDisplay name they chose: %s\nTrack title: %s\n\n"
            "Nothing has been added to your Dropbox. To accept or decline, sign in to\n"
            "PD Share and open your invitations. If you do not know this producer,\n"
            "decline the invitation.\n",
            pds_invite_plain(ctx->pool, a->job->owner),
            owner_name ? pds_invite_plain(ctx->pool, owner_name) : "(none)",
            pds_invite_plain(ctx->pool, track[TR_TITLE]));
        if (pds_mail_send(ctx->pool, a->run->smtp_url, a->run->mail_from, c[CO_EMAIL],
                          "You have an invitation on PD Share", body,
                          a->run->env->dbx->total_timeout, &why) != APR_SUCCESS)
            say(a, 1, "mail to a collaborator was not sent: %s", why);
    }
}

/* The invitee accepted: with their own Dropbox session, a team account gets
 * the folder mounted. The job's owner is the invitee, so nothing here can
 * act for anyone else. A withdrawn invitation (collaborator removed, track
 * deleted) is not found, and nothing is done. */
static void set_mount(attempt_t *a, const char *inv_id, const char *state, const char *error)
{
    if (EXEC(a->ctx->db, "pds_invitation_mount_state", NULL, state, error,
             pds_db_i64(a->ctx->pool, pds_now()), inv_id, a->job->owner))
        say(a, 2, "recording the mount: %s", a->ctx->db->last_error);
}

static void run_mount(attempt_t *a)
{
    pds_ctx_t *ctx = a->ctx;
    const char *inv_id = jstr(a->job->payload, "invitation_id"), **inv;
    pds_rows_t *rs, *acct;
    pds_dbx_res_t res;

    ctx->user = a->job->owner;
    if (!inv_id) {
        a->error = "the job has no invitation";
        return;
    }
    if (SELECT(ctx->db, "pds_invitation_get", &rs, inv_id, a->job->owner)) {
        db_trouble(a);
        return;
    }
    if (!rs->rows->nelts || strcmp((inv = PDS_ROW(rs, 0))[IV_STATUS], "accepted")) return;
    if (SELECT(ctx->db, "pds_account_get", &acct, a->job->owner)) {
        db_trouble(a);
        return;
    }
    /* Mounting is for team accounts; otherwise Dropbox's own invitation to
     * their address is how the folder reaches them. */
    if (!acct->rows->nelts || strcmp(PDS_ROW(acct, 0)[4], "team") || !inv[IV_SFID]) {
        set_mount(a, inv_id, "not_needed", NULL);
        return;
    }
    if (!open_session(a)) {
        set_mount(a, inv_id, "pending", a->error);
        return;
    }
    if (rpc(a, "sharing/mount_folder", pds_json_pool(ctx->pool,
            json_pack("{s:s}", "shared_folder_id", inv[IV_SFID])), &res)
        || (res.status == 409 && res.tag && (!strcmp(res.tag, "already_mounted")
                                             || !strcmp(res.tag, "must_automount")))) {
        set_mount(a, inv_id, "mounted", NULL);     /* there now, or Dropbox mounts it itself */
        return;
    }
    dropbox_failed(a, "mount_folder", &res);
    set_mount(a, inv_id, a->retry_in ? "pending" : "failed", a->error);
}

static void run_share(attempt_t *a)
{
    pds_ctx_t *ctx = a->ctx;
    const char **track, *folder, *sfid;
    json_t *fids = json_object_get(a->job->payload, "file_ids");
    apr_hash_t *wanted = NULL, *members;
    pds_rows_t *files, *collabs;
    int i, pending = 0;

    ctx->user = a->job->owner;
    if (track_of(ctx, a->job->track_id, &track)) {
        a->error = "the track is gone";
        return;
    }
    if (!open_session(a)) return;
    if (jstr(a->job->payload, "mode") && !strcmp(jstr(a->job->payload, "mode"), "files")) {
        pds_collab_files_share(a, track);
        return;
    }
    folder = apr_pstrcat(ctx->pool, a->run->env->root, "/projects/",
                         pds_track_folder_name(ctx->pool, track[TR_ALIAS], track[TR_TITLE],
                                               track[TR_ID]), NULL);
    if (!ensure_folder(a, apr_pstrcat(ctx->pool, a->s->path_prefix, folder, NULL)) || !checkpoint(a))
        return;
    if (EXEC(ctx->db, "pds_track_share_put", NULL, track[TR_ID], a->job->owner, folder, NULL,
             a->job->id, pds_db_i64(ctx->pool, pds_now()))) {
        db_trouble(a);
        return;
    }

    /* The files: those asked for, else the track's bounces and stems. */
    if (json_is_array(fids)) {
        size_t k;
        json_t *v;
        wanted = apr_hash_make(ctx->pool);
        json_array_foreach(fids, k, v)
            apr_hash_set(wanted, json_string_value(v), APR_HASH_KEY_STRING, "");
    }
    if (SELECT(ctx->db, "pds_file_list", &files, track[TR_ID], a->job->owner)) {
        db_trouble(a);
        return;
    }
    for (i = 0; i < files->rows->nelts; i++) {
        const char **f = PDS_ROW(files, i);          /* id, track_id, category, path, name, ... */
        if (wanted ? !apr_hash_get(wanted, f[0], APR_HASH_KEY_STRING) : !strcmp(f[2], "project"))
            continue;
        if (!f[3]) continue;
        if (!copy_file(a, apr_pstrcat(ctx->pool, a->s->path_prefix, f[3], NULL),
                       apr_pstrcat(ctx->pool, a->s->path_prefix, folder, "/", f[4], NULL))
            || !checkpoint(a))
            return;
    }

    if (!(sfid = share_folder(a, apr_pstrcat(ctx->pool, a->s->path_prefix, folder, NULL))) || !checkpoint(a))
        return;
    if (EXEC(ctx->db, "pds_track_share_put", NULL, track[TR_ID], a->job->owner, folder, sfid,
             a->job->id, pds_db_i64(ctx->pool, pds_now()))) {
        db_trouble(a);
        return;
    }
    if (!(members = folder_members(a, sfid))) return;

    if (SELECT(ctx->db, "pds_collab_list", &collabs, track[TR_ID], a->job->owner)) {
        db_trouble(a);
        return;
    }
    for (i = 0; i < collabs->rows->nelts; i++) {
        const char **c = PDS_ROW(collabs, i);
        pds_dbx_res_t res;
        json_t *arg;
        if (!c[CO_EMAIL]) continue;
        if (!checkpoint(a)) return;
        if (!apr_hash_get(members, pds_lower(ctx->pool, c[CO_EMAIL]), APR_HASH_KEY_STRING)) {
            /* access_level has no default in the current spec: always sent. */
            arg = pds_json_pool(ctx->pool, json_pack("{s:s,s:[{s:{s:s,s:s},s:{s:s}}],s:b}",
                                "shared_folder_id", sfid, "members", "member", ".tag", "email",
                                "email", c[CO_EMAIL], "access_level", ".tag", "editor",
                                "quiet", 0));
            if (!rpc(a, "sharing/add_folder_member", arg, &res)) {
                if (res.transient) {
                    dropbox_failed(a, "add_folder_member", &res);
                    set_collab(a, c[CO_ID], c[CO_EMAIL], "pending", a->error);
                    pending++;
                    continue;
                }
                set_collab(a, c[CO_ID], c[CO_EMAIL], "failed", res.tag && !strcmp(res.tag, "bad_member")
                           ? apr_psprintf(ctx->pool, "Dropbox refused the address (%s)",
                                          tag_at(res.error, "bad_member") ? tag_at(res.error, "bad_member") : "bad_member")
                           : res.why);
                continue;
            }
        }
        set_collab(a, c[CO_ID], c[CO_EMAIL], "shared", NULL);
        if (c[CO_USER]) offer_invitation(a, c, track, folder, sfid);
        else pds_collab_mail_once(a, c, track, apr_psprintf(ctx->pool, "the folder \"%s\"",
                                  pds_invite_plain(ctx->pool, strrchr(folder, '/') + 1)));
    }
    if (pending && !a->retry_in) a->retry_in = 30;
    if (pending && !a->error) a->error = "some invitations must be tried again";
    if (!pending) a->error = NULL;
}

static void run_remove(attempt_t *a)
{
    pds_ctx_t *ctx = a->ctx;
    const char *cid = jstr(a->job->payload, "collaborator_id");
    const char *email = jstr(a->job->payload, "email"), *tag, *job;
    pds_rows_t *tsr;
    pds_dbx_res_t res;
    json_t *arg;
    int polls;

    ctx->user = a->job->owner;
    if (!cid || !email) {
        a->error = "the job has no collaborator";
        return;
    }
    if (!pds_collab_files_remove(a, cid, email)) return;      /* shared as single files */
    if (SELECT(ctx->db, "pds_track_share_get", &tsr, a->job->track_id, a->job->owner)) {
        db_trouble(a);
        return;
    }
    if (!tsr->rows->nelts || !PDS_ROW(tsr, 0)[TS_SFID]) {
        set_collab(a, cid, email, "removed", NULL);               /* nothing was shared */
        return;
    }
    if (!open_session(a)) return;
    arg = pds_json_pool(ctx->pool, json_pack("{s:s,s:{s:s,s:s},s:b}", "shared_folder_id",
                        PDS_ROW(tsr, 0)[TS_SFID], "member", ".tag", "email", "email", email,
                        "leave_a_copy", 0));
    if (!rpc(a, "sharing/remove_folder_member", arg, &res)) {
        const char *me = tag_at(res.error, "member_error");
        if (res.status == 409 && res.tag && !strcmp(res.tag, "member_error") && me
            && !strcmp(me, "not_a_member")) {
            set_collab(a, cid, email, "removed", NULL);
            return;
        }
        dropbox_failed(a, "remove_folder_member", &res);
        if (!a->retry_in) set_collab(a, cid, email, "failed", a->error);
        return;
    }
    job = jstr(res.result, "async_job_id");
    for (polls = 0; job && polls < 120; polls++) {
        json_t *parg = pds_json_pool(ctx->pool, json_pack("{s:s}", "async_job_id", job));
        apr_sleep(apr_time_from_msec(polls < 10 ? 200 : 1000));
        if (!checkpoint(a)) return;
        if (!rpc(a, "sharing/check_remove_member_job_status", parg, &res)) {
            dropbox_failed(a, "check_remove_member_job_status", &res);
            return;
        }
        tag = jstr(res.result, ".tag");
        if (tag && !strcmp(tag, "complete")) break;
        if (tag && !strcmp(tag, "failed")) {
            const char *why = tag_at(res.result, "failed");
            if (why && !strcmp(why, "member_error")) break;        /* not a member any more */
            a->error = apr_psprintf(ctx->pool, "remove_folder_member failed: %s", why ? why : "?");
            set_collab(a, cid, email, "failed", a->error);
            return;
        }
    }
    set_collab(a, cid, email, "removed", NULL);
}

void pds_job_run(pds_runner_t *run, pds_job_t *job)
{
    attempt_t a;
    const char *state;
    memset(&a, 0, sizeof(a));
    a.run = run;
    a.job = job;
    a.ctx = run->env->ctx;
    if (!strcmp(job->kind, PDS_JOB_SHARE)) run_share(&a);
    else if (!strcmp(job->kind, PDS_JOB_REMOVE)) run_remove(&a);
    else if (!strcmp(job->kind, PDS_JOB_MOUNT)) run_mount(&a);
    else if (!strcmp(job->kind, PDS_JOB_EXPORT) && run->export_policy)
        pds_export_run(run, job, run->export_policy, &a.error, &a.retry_in, &a.stop);
    else a.error = apr_psprintf(a.ctx->pool, "unknown job kind %s", job->kind);

    a.ctx->now = pds_now();
    if (a.stop && !a.error) {
        say(&a, 0, "released for a graceful stop");
        pds_job_release(a.ctx, job, run->worker);
        return;
    }
    if (a.stop) {
        say(&a, 1, "%s", a.error);
        return;                  /* lease lost: someone else has it */
    }
    state = !a.error ? "done" : a.retry_in > 0 ? "pending" : "failed";
    if (pds_job_finish(a.ctx, job, run->worker, state, a.error, a.retry_in))
        say(&a, 2, "recording the end of the attempt: %s", a.ctx->db->last_error);
    else if (!strcmp(job->state, "failed") && !strcmp(job->kind, PDS_JOB_SHARE)
             && EXEC(a.ctx->db, "pds_collab_share_fail_pending", NULL, a.error,
                     pds_db_i64(a.ctx->pool, a.ctx->now), job->track_id, job->owner))
        say(&a, 2, "recording failed collaborators: %s", a.ctx->db->last_error);
    else if (!strcmp(job->state, "failed") && !strcmp(job->kind, PDS_JOB_EXPORT)
             && EXEC(a.ctx->db, "pds_file_export_state", NULL, "failed",
                     jstr(job->payload, "file_id")))
        say(&a, 2, "recording a failed export: %s", a.ctx->db->last_error);
    else if (!strcmp(job->state, "failed") && !strcmp(job->kind, PDS_JOB_MOUNT)
             && jstr(job->payload, "invitation_id")
             && EXEC(a.ctx->db, "pds_invitation_mount_state", NULL, "failed", a.error,
                     pds_db_i64(a.ctx->pool, a.ctx->now), jstr(job->payload, "invitation_id"),
                     job->owner))
        say(&a, 2, "recording a failed mount: %s", a.ctx->db->last_error);
    else if (a.error)
        say(&a, !strcmp(job->state, "failed") ? 2 : 1, "%s (%s)", a.error,
            !strcmp(job->state, "failed") ? "failed" : "will try again");
}

/* ------------------------------------------- for pds_collab_files.c */

void pds_att_say(attempt_t *a, int level, const char *msg) { say(a, level, "%s", msg); }
int pds_att_checkpoint(attempt_t *a) { return checkpoint(a); }
int pds_att_open_session(attempt_t *a) { return a->s || open_session(a); }
void pds_att_db_trouble(attempt_t *a) { db_trouble(a); }
int pds_att_dropbox_failed(attempt_t *a, const char *step, const pds_dbx_res_t *res)
{
    return dropbox_failed(a, step, res);
}
int pds_att_rpc(attempt_t *a, const char *route, json_t *arg, pds_dbx_res_t *res)
{
    return rpc(a, route, arg, res);
}
void pds_att_set_collab(attempt_t *a, const char *cid, const char *email, const char *status,
                        const char *error)
{
    set_collab(a, cid, email, status, error);
}
void pds_att_offer_invitation(attempt_t *a, const char **c, const char **track,
                              const char *folder, const char *sfid)
{
    offer_invitation(a, c, track, folder, sfid);
}
const char *pds_collab_file_link(apr_pool_t *p, const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash) return NULL;
    return apr_pstrcat(p, slash == path ? "https://www.dropbox.com/home"
                          : web_link(p, apr_pstrndup(p, path, (apr_size_t)(slash - path))),
                       "?preview=", pds_form_encode(p, slash + 1), NULL);
}
