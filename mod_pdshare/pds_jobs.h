/* A durable job queue in the database. Workers claim a job with a lease; a
 * job whose worker died is claimed again when the lease runs out, so every
 * step a job takes must be idempotent. */
#ifndef PDS_JOBS_H
#define PDS_JOBS_H

#include "pds_api.h"

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

#endif
