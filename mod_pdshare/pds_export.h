/* Uploaded files: the export policy (SPEC §7), the Dropbox path of a file,
 * and the export job that puts a local file into the producer's Dropbox
 * (files/upload up to 150 MiB, upload sessions above, resuming from
 * correct_offset after a lost answer or a killed child). */
#ifndef PDS_EXPORT_H
#define PDS_EXPORT_H

#include "pds_jobs.h"

#define PDS_UPLOAD_SINGLE_MAX (150 * 1024 * 1024)
#define PDS_UPLOAD_CHUNK (16 * 1024 * 1024)     /* a multiple of 4 MiB */

struct pds_export_policy_t {
    const char *by_status;          /* "final", "non-final" or "all" */
    int single_folder;
};

/* Final: a master, or uploaded with final=1. Project files are always
 * exported; the others as the policy says. */
int pds_export_wanted(const pds_export_policy_t *pol, int category, int is_final);
/* The file's place in Dropbox, as the producer sees it: <root>/<name>, or
 * <root>/<bounces|stems|projects>/<track folder>/<name>. */
const char *pds_export_path(apr_pool_t *p, const pds_export_policy_t *pol, const char *root,
                            int category, const char *track_folder, const char *name);
/* A folder name for a track: its alias, else its title made path-safe with
 * the track id (two tracks may share a title). */
const char *pds_track_folder_name(apr_pool_t *p, const char *alias, const char *title,
                                  const char *track_id);

/* The export job (PDS_JOB_EXPORT); it runs when the runner has an export policy. */
extern const pds_job_kind_t pds_export_job;

/* POST /tracks/{id}/files/{fid}/export/retry: a failed export of the
 * caller's file runs again (its job, with its upload session, is requeued). */
pds_err_t *pds_export_retry(pds_ctx_t *ctx, const char *track_id, const char *file_id,
                            json_t *body, json_t **out);

#endif
