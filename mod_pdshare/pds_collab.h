/* Sharing tracks with collaborators through shared Dropbox folders, as
 * durable jobs: the API side (queue, status, retry, reset, bulk, removal)
 * and the worker side (one idempotent attempt of a job). */
#ifndef PDS_COLLAB_H
#define PDS_COLLAB_H

#include "pds_connect.h"
#include "pds_jobs.h"

#define PDS_JOB_SHARE "share_track"
#define PDS_JOB_REMOVE "remove_member"

/* ---- API (ctx->user is the producer) */
pds_err_t *pds_collab_share(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out);
pds_err_t *pds_collab_status(pds_ctx_t *ctx, const char *track_id, json_t **out);
pds_err_t *pds_collab_retry(pds_ctx_t *ctx, const char *track_id, int reset, json_t **out);
pds_err_t *pds_collab_bulk(pds_ctx_t *ctx, json_t *body, json_t **out);
/* After a collaborator record is deleted: take their folder access away. */
pds_err_t *pds_collab_removed(pds_ctx_t *ctx, const char *track_id, const char *collaborator_id);

/* ---- worker */
typedef struct pds_export_policy_t pds_export_policy_t;   /* pds_export.h */

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
} pds_runner_t;

/* Run one attempt of a claimed job and record how it ended. */
void pds_job_run(pds_runner_t *run, pds_job_t *job);

#endif
