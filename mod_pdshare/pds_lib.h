/* The library put together: the one way to make a context (the module per
 * request, its job worker per job, pdsharectl per run) and the job kinds a
 * worker runs. The only unit that knows every job module. */
#ifndef PDS_LIB_H
#define PDS_LIB_H

#include <apr_dbd.h>
#include "pds_base.h"
#include "pds_jobs.h"

/* A context on an open database connection (driver, handle and its prepared
 * statements), allocated from p, which also holds results: the settings, the
 * Dropbox environment they name (ctx->dbx), now. No user, base_url, api_path
 * or redirect_uri: the caller sets what it knows. */
pds_ctx_t *pds_ctx_make(apr_pool_t *p, const apr_dbd_driver_t *driver, apr_dbd_t *handle,
                        apr_hash_t *prepared, const pds_settings_t *settings);

/* Every job kind, NULL-terminated: pds_runner_t.kinds. A new kind is a
 * PDS_JOB_* name in pds_jobs.h, a pds_job_kind_t in its module, and a line here. */
extern const pds_job_kind_t *const pds_job_kinds[];

#endif
