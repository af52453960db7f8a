/* Sharing tracks with collaborators through shared Dropbox folders, as
 * durable jobs: the API side (queue, status, retry, reset, bulk, removal)
 * and the job kinds that do it (pds_jobs.h runs them). The collaborator
 * records themselves are pds_collaborator.h's. */
#ifndef PDS_COLLAB_H
#define PDS_COLLAB_H

#include "pds_connect.h"
#include "pds_jobs.h"

/* ---- API (ctx->user is the producer) */
pds_err_t *pds_collab_share(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out);
pds_err_t *pds_collab_status(pds_ctx_t *ctx, const char *track_id, json_t **out);
pds_err_t *pds_collab_retry(pds_ctx_t *ctx, const char *track_id, int reset, json_t **out);
pds_err_t *pds_collab_bulk(pds_ctx_t *ctx, json_t *body, json_t **out);
/* After a collaborator record is deleted: take their folder access away. */
pds_err_t *pds_collab_removed(pds_ctx_t *ctx, const char *track_id, const char *collaborator_id);

/* ---- worker: the job kinds (pds_jobs.h) this module runs */
extern const pds_job_kind_t pds_collab_share_job;    /* PDS_JOB_SHARE */
extern const pds_job_kind_t pds_collab_remove_job;   /* PDS_JOB_REMOVE */
extern const pds_job_kind_t pds_collab_mount_job;    /* PDS_JOB_MOUNT, after an invitation */

#endif
