#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_jobs.h"
#include "pds_db_args.h"

enum { J_ID, J_KIND, J_OWNER, J_TRACK, J_PAYLOAD, J_STATE, J_ATTEMPTS, J_LEASE_OWNER,
       J_LEASE_UNTIL, J_ERROR, J_RUN_AFTER, J_CREATED, J_UPDATED };

static pds_job_t *job_from_row(apr_pool_t *p, const char **r)
{
    pds_job_t *j = apr_pcalloc(p, sizeof(*j));
    apr_int64_t n = 0;
    j->id = r[J_ID];
    j->kind = r[J_KIND];
    j->owner = r[J_OWNER];
    j->track_id = r[J_TRACK];
    j->payload = r[J_PAYLOAD] ? pds_json_pool(p, json_loads(r[J_PAYLOAD], 0, NULL)) : NULL;
    if (!j->payload) j->payload = pds_json_pool(p, json_object());
    j->state = r[J_STATE];
    pds_parse_int64(r[J_ATTEMPTS], 0, 1000000, &n);
    j->attempts = (int)n;
    j->last_error = r[J_ERROR];
    pds_parse_int64(r[J_CREATED], 0, APR_INT64_MAX, &j->created_at);
    pds_parse_int64(r[J_UPDATED], 0, APR_INT64_MAX, &j->updated_at);
    return j;
}

static pds_err_t *job_by_id(pds_ctx_t *ctx, const char *id, pds_job_t **job)
{
    pds_rows_t *rs;
    if (SELECT(ctx->db, "pds_job_get", &rs, id)) return pds_db_failed(ctx);
    *job = rs->rows->nelts ? job_from_row(ctx->pool, PDS_ROW(rs, 0)) : NULL;
    return NULL;
}

pds_err_t *pds_job_enqueue(pds_ctx_t *ctx, const char *kind, const char *owner,
                           const char *track_id, json_t *payload, const char **id)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    const char *now = pds_db_i64(ctx->pool, ctx->now), *t;
    apr_status_t rv;
    *id = pds_new_id(ctx->pool, "j");
    if (!text || !*id) {
        free(text);
        return pds_err(ctx->pool, 503, "unavailable", "cannot queue the job");
    }
    t = apr_pstrdup(ctx->pool, text);
    free(text);
    rv = EXEC(ctx->db, "pds_job_insert", NULL, *id, kind, owner, track_id, t, now, now, now);
    return rv ? pds_db_failed(ctx) : NULL;
}

pds_err_t *pds_job_claim(pds_ctx_t *ctx, const char *worker, int lease_secs, pds_job_t **job)
{
    const char *now = pds_db_i64(ctx->pool, ctx->now);
    const char *until = pds_db_i64(ctx->pool, ctx->now + lease_secs);
    pds_rows_t *rs;
    int n = 0;
    *job = NULL;
    if (SELECT(ctx->db, "pds_job_next", &rs, now, now)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return NULL;
    if (EXEC(ctx->db, "pds_job_claim", &n, worker, until, now, PDS_ROW(rs, 0)[0], now, now))
        return pds_db_failed(ctx);
    if (n != 1) return NULL;                        /* another worker was first */
    return job_by_id(ctx, PDS_ROW(rs, 0)[0], job);
}

pds_err_t *pds_job_renew(pds_ctx_t *ctx, pds_job_t *job, const char *worker, int lease_secs)
{
    int n = 0;
    if (EXEC(ctx->db, "pds_job_renew", &n, pds_db_i64(ctx->pool, ctx->now + lease_secs),
             pds_db_i64(ctx->pool, ctx->now), job->id, worker))
        return pds_db_failed(ctx);
    if (n != 1) return pds_err(ctx->pool, 409, "lease_lost", "the job's lease was taken over");
    return NULL;
}

pds_err_t *pds_job_finish(pds_ctx_t *ctx, pds_job_t *job, const char *worker, const char *state,
                          const char *error, int retry_in)
{
    if (!strcmp(state, "pending") && job->attempts >= PDS_JOB_MAX_ATTEMPTS) state = "failed";
    if (EXEC(ctx->db, "pds_job_finish", NULL, state, error,
             pds_db_i64(ctx->pool, ctx->now + (retry_in > 0 ? retry_in : 0)),
             pds_db_i64(ctx->pool, ctx->now), job->id, worker))
        return pds_db_failed(ctx);
    job->state = state;
    job->last_error = error;
    return NULL;
}

pds_err_t *pds_job_release(pds_ctx_t *ctx, pds_job_t *job, const char *worker)
{
    /* The attempt was not a failure: give it back. */
    job->attempts = job->attempts > 0 ? job->attempts - 1 : 0;
    return pds_job_finish(ctx, job, worker, "pending", job->last_error, 0);
}

pds_err_t *pds_job_get(pds_ctx_t *ctx, const char *id, pds_job_t **job)
{
    return job_by_id(ctx, id, job);
}

pds_err_t *pds_job_requeue(pds_ctx_t *ctx, pds_job_t *job)
{
    if (EXEC(ctx->db, "pds_job_requeue", NULL, pds_db_i64(ctx->pool, ctx->now),
             pds_db_i64(ctx->pool, ctx->now), job->id, ctx->user))
        return pds_db_failed(ctx);
    job->state = "pending";
    job->attempts = 0;
    job->last_error = NULL;
    return NULL;
}

json_t *pds_job_json(apr_pool_t *p, const pds_job_t *job)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:o,s:s,s:s}", "id", job->id, "kind", job->kind,
                     "state", job->state, "attempts", job->attempts,
                     "last_error", job->last_error ? json_string(job->last_error) : json_null(),
                     "created_at", pds_iso8601(p, job->created_at),
                     "updated_at", pds_iso8601(p, job->updated_at));
}

/* ============================================================ dispatcher */

void pds_attempt_say(pds_attempt_t *a, int level, const char *fmt, ...)
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

int pds_attempt_checkpoint(pds_attempt_t *a)
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

int pds_attempt_open_session(pds_attempt_t *a)
{
    pds_err_t *e = pds_dbx_session(a->run->env, a->job->owner, &a->s);
    if (!e) return 1;
    a->error = apr_psprintf(a->ctx->pool, "no usable Dropbox connection: %s",
                            e->detail ? e->detail : e->message);
    a->retry_in = 60 * a->job->attempts;
    return 0;
}

void pds_attempt_db_trouble(pds_attempt_t *a)
{
    a->error = a->ctx->db->last_error;
    a->retry_in = 30;
}

int pds_attempt_dropbox_failed(pds_attempt_t *a, const char *step, const pds_dbx_res_t *res)
{
    a->error = apr_psprintf(a->ctx->pool, "%s: %s", step, res->why ? res->why : "failed");
    if (res->transient) a->retry_in = res->retry_after > 0 ? res->retry_after : 15 * a->job->attempts;
    return 0;
}

int pds_attempt_rpc(pds_attempt_t *a, const char *route, json_t *arg, pds_dbx_res_t *res)
{
    return pds_dbx_session_rpc(a->run->env, a->s, route, arg, res) == APR_SUCCESS;
}

static const pds_job_kind_t *kind_of(const pds_runner_t *run, const char *kind)
{
    const pds_job_kind_t *const *k;
    for (k = run->kinds; k && *k; k++)
        if (!strcmp((*k)->kind, kind)) return *k;
    return NULL;
}

void pds_job_run(pds_runner_t *run, pds_job_t *job)
{
    const pds_job_kind_t *k = kind_of(run, job->kind);
    pds_attempt_t a;
    const char *state;
    memset(&a, 0, sizeof(a));
    a.run = run;
    a.job = job;
    a.ctx = run->env->ctx;
    if (k) k->run(&a);
    else a.error = apr_psprintf(a.ctx->pool, "unknown job kind %s", job->kind);

    a.ctx->now = pds_now();
    if (a.stop && !a.error) {
        pds_attempt_say(&a, 0, "released for a graceful stop");
        pds_job_release(a.ctx, job, run->worker);
        return;
    }
    if (a.stop) {
        pds_attempt_say(&a, 1, "%s", a.error);
        return;                  /* lease lost: someone else has it */
    }
    state = !a.error ? "done" : a.retry_in > 0 ? "pending" : "failed";
    if (pds_job_finish(a.ctx, job, run->worker, state, a.error, a.retry_in))
        pds_attempt_say(&a, 2, "recording the end of the attempt: %s", a.ctx->db->last_error);
    else if (!strcmp(job->state, "failed") && k && k->failed && k->failed(&a))
        ;                        /* the kind logged why its rows could not be marked */
    else if (a.error)
        pds_attempt_say(&a, !strcmp(job->state, "failed") ? 2 : 1, "%s (%s)", a.error,
                        !strcmp(job->state, "failed") ? "failed" : "will try again");
}
