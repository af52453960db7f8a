/* Internal to the collaborator-sharing job (pds_collab.c, pds_collab_files.c):
 * the steps both sharing modes use (an attempt is pds_jobs.h's). */
#ifndef PDS_COLLAB_INT_H
#define PDS_COLLAB_INT_H

#include "pds_collab.h"

/* Collaborator rows (pds_collab_list): id, track_id, name, email, avatar_url, role, username. */
enum { CO_ID, CO_TRACK, CO_NAME, CO_EMAIL, CO_AVATAR, CO_ROLE, CO_USER };

/* pds_collab.c */
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
