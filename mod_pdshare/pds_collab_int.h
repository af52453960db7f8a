/* Internal to the collaborator-sharing job (pds_collab.c, pds_collab_files.c):
 * one attempt of a job and the steps both sharing modes use. */
#ifndef PDS_COLLAB_INT_H
#define PDS_COLLAB_INT_H

#include "pds_collab.h"

/* Collaborator rows (pds_collab_list): id, track_id, name, email, avatar_url, role, username. */
enum { CO_ID, CO_TRACK, CO_NAME, CO_EMAIL, CO_AVATAR, CO_ROLE, CO_USER };

typedef struct {
    pds_runner_t *run;
    pds_job_t *job;
    pds_ctx_t *ctx;
    pds_dbx_session_t *s;
    const char *error;           /* what ended the attempt */
    int retry_in;                /* > 0: try again later */
    int stop;                    /* released for a graceful stop */
} pds_attempt_t;

/* pds_collab.c */
void pds_att_say(pds_attempt_t *a, int level, const char *msg);
int pds_att_checkpoint(pds_attempt_t *a);
int pds_att_open_session(pds_attempt_t *a);
void pds_att_db_trouble(pds_attempt_t *a);
int pds_att_dropbox_failed(pds_attempt_t *a, const char *step, const pds_dbx_res_t *res);
int pds_att_rpc(pds_attempt_t *a, const char *route, json_t *arg, pds_dbx_res_t *res);
void pds_att_set_collab(pds_attempt_t *a, const char *cid, const char *email,
                        const char *status, const char *error);
void pds_att_offer_invitation(pds_attempt_t *a, const char **c, const char **track,
                              const char *folder, const char *sfid);

/* pds_collab_files.c: mode "files", each file shared to the collaborators. */
void pds_collab_files_share(pds_attempt_t *a, const char **track);
/* Take a removed collaborator off every file shared with them; 0 when the
 * attempt must end here (a->error, a->retry_in or a->stop say why). */
int pds_collab_files_remove(pds_attempt_t *a, const char *cid, const char *email);
/* Once per collaborator and track: the mail to a collaborator who is not a
 * producer here, saying what was shared and how to open it in Dropbox. */
void pds_collab_mail_once(pds_attempt_t *a, const char **c, const char **track,
                          const char *what);
/* The share-status parts of mode "files": "files" (each with its status per
 * collaborator, or skipped when not in Dropbox). */
pds_err_t *pds_collab_files_status(pds_ctx_t *ctx, const char *track_id, json_t *payload,
                                  json_t *out);
/* *email: the address a collaborator holds some file under, or NULL. */
pds_err_t *pds_collab_files_email(pds_ctx_t *ctx, const char *track_id, const char *cid,
                                  const char **email);
/* A reset forgets what was recorded per file. */
pds_err_t *pds_collab_files_forget(pds_ctx_t *ctx, const char *track_id);
/* The file's page on dropbox.com. */
const char *pds_collab_file_link(apr_pool_t *p, const char *path);

#endif
