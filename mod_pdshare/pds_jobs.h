/* The job module: a durable queue in the database, the kinds of job, and
 * the dispatcher that runs one attempt of a claimed job. Workers claim a job
 * with a lease; a job whose worker died is claimed again when the lease runs
 * out, so every step a job takes must be idempotent. A kind is a
 * pds_job_kind_t (its runner) that its module exports and pds_lib.c lists. */
#ifndef PDS_JOBS_H
#define PDS_JOBS_H

#include "pds_base.h"
#include "pds_connect.h"

/* Every kind of job. */
#define PDS_JOB_SHARE "share_track"        /* pds_collab.c */
#define PDS_JOB_REMOVE "remove_member"     /* pds_collab.c */
#define PDS_JOB_MOUNT "mount_folder"       /* pds_collab.c */
#define PDS_JOB_EXPORT "export_file"       /* pds_export.c */

typedef struct {
    const char *id;
    const char *kind;
    const char *owner;
    const char *track_id;
    json_t *payload;                 /* pool-owned */
    const char *state;               /* pending, running, done, failed */
    int attempts;
    const char *last_error;
    apr_int64_t created_at;
    apr_int64_t updated_at;
} pds_job_t;

#define PDS_JOB_MAX_ATTEMPTS 5

/* Queue a job; *id answers its id. */
pds_err_t *pds_job_enqueue(pds_ctx_t *ctx, const char *kind, const char *owner,
                           const char *track_id, json_t *payload, const char **id);
/* Claim the next ready job for `worker` with a lease of lease_secs; NULL
 * job and no error when there is none. */
pds_err_t *pds_job_claim(pds_ctx_t *ctx, const char *worker, int lease_secs, pds_job_t **job);
/* Extend the lease; an error means the job is no longer ours. */
pds_err_t *pds_job_renew(pds_ctx_t *ctx, pds_job_t *job, const char *worker, int lease_secs);
/* The end of an attempt. state "done" or "failed"; or "pending" with a delay
 * to try again (after PDS_JOB_MAX_ATTEMPTS attempts it fails instead). */
pds_err_t *pds_job_finish(pds_ctx_t *ctx, pds_job_t *job, const char *worker, const char *state,
                          const char *error, int retry_in);
/* Back to pending at once, attempt not counted (graceful stop). */
pds_err_t *pds_job_release(pds_ctx_t *ctx, pds_job_t *job, const char *worker);
pds_err_t *pds_job_get(pds_ctx_t *ctx, const char *id, pds_job_t **job);
pds_err_t *pds_job_requeue(pds_ctx_t *ctx, pds_job_t *job);
json_t *pds_job_json(apr_pool_t *p, const pds_job_t *job);

/* ---- the worker side */
typedef struct pds_export_policy_t pds_export_policy_t;   /* pds_export.h */
typedef struct pds_job_kind_t pds_job_kind_t;

typedef struct {
    pds_dbx_env_t *env;              /* env->ctx: a context without a user */
    const char *worker;              /* lease owner id */
    int lease_secs;
    int (*should_stop)(void *baton); /* graceful stop asked */
    void (*log)(void *baton, int level, const char *msg);   /* level: 0 info, 1 warn, 2 error */
    void *baton;
    const char *smtp_url;            /* NULL: no mail */
    const char *mail_from;
    const pds_export_policy_t *export_policy;
    const pds_job_kind_t *const *kinds;   /* NULL-terminated (pds_job_kinds, pds_lib.h) */
} pds_runner_t;

/* One attempt of a job, as its runner sees it. */
typedef struct {
    pds_runner_t *run;
    pds_job_t *job;
    pds_ctx_t *ctx;
    pds_dbx_session_t *s;        /* the owner's Dropbox session, once opened */
    const char *error;           /* what ended the attempt */
    int retry_in;                /* > 0: try again later */
    int stop;                    /* released for a graceful stop */
} pds_attempt_t;

/* A kind of job: its runner, and what to record when a job of it has failed
 * for good (NULL: nothing; non-zero when that could not be recorded, after
 * logging it). */
struct pds_job_kind_t {
    const char *kind;
    void (*run)(pds_attempt_t *a);
    int (*failed)(pds_attempt_t *a);
};

/* Run one attempt of a claimed job and record how it ended. */
void pds_job_run(pds_runner_t *run, pds_job_t *job);

/* For the runners. Level: 0 info, 1 warn, 2 error. */
void pds_attempt_say(pds_attempt_t *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Between steps: keep the lease, and give the job back on a graceful stop;
 * 0 when the attempt must end here. */
int pds_attempt_checkpoint(pds_attempt_t *a);
/* Open the owner's Dropbox session into a->s; without one the job waits and
 * tries again (0). */
int pds_attempt_open_session(pds_attempt_t *a);
/* The database failed under the job: try again shortly. */
void pds_attempt_db_trouble(pds_attempt_t *a);
/* A Dropbox call failed at `step`: a transient failure retries the job
 * later. Answers 0. */
int pds_attempt_dropbox_failed(pds_attempt_t *a, const char *step, const pds_dbx_res_t *res);
/* An RPC call in the attempt's session; 1 on success. */
int pds_attempt_rpc(pds_attempt_t *a, const char *route, json_t *arg, pds_dbx_res_t *res);

#endif
