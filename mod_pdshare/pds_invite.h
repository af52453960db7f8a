/* Invitations (issue 11): a producer named as a collaborator (`username`)
 * is asked in the app, and nothing is done with their Dropbox account until
 * they accept. The API side (list, accept, decline) is here; the share job
 * that offers invitations and the mount job that follows an acceptance are
 * in pds_collab.c. Every call is scoped to ctx->user, the invitee. */
#ifndef PDS_INVITE_H
#define PDS_INVITE_H

#include "pds_base.h"

/* Columns of pds_invitation_list / pds_invitation_get (INVITATION_COLS). */
enum { IV_ID, IV_OWNER, IV_OWNER_NAME, IV_TITLE, IV_FOLDER, IV_STATUS, IV_MOUNT,
       IV_MOUNT_ERROR, IV_CREATED, IV_UPDATED, IV_SFID, IV_TRACK };

/* GET /invitations: {"invitations": [...]}, newest first. */
pds_err_t *pds_invitation_list(pds_ctx_t *ctx, json_t **out);
/* POST /invitations/{id}/accept (accept != 0) or /decline. An accepted
 * invitation queues the mount job. Answering again the same way answers the
 * invitation as it is (idempotent); the other way is 409. */
pds_err_t *pds_invitation_answer(pds_ctx_t *ctx, const char *id, int accept, json_t *body,
                                 json_t **out);
/* Withdraw the invitations made for collaborator record `cid` of the owner's
 * (ctx->user) track, and their notices: the record was removed, now names
 * someone else, or its track is deleted. */
pds_err_t *pds_invitation_withdraw(pds_ctx_t *ctx, const char *track_id, const char *cid);
/* Mail and notice text from another producer's fields: one line, with
 * control, line and bidirectional-formatting characters replaced by '?'. */
const char *pds_invite_plain(apr_pool_t *p, const char *s);

#endif
