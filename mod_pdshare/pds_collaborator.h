/* A track's collaborator records (SPEC §4 /tracks/{id}/collaborators): list,
 * add, change, remove. Sharing with them is pds_collab.h's. */
#ifndef PDS_COLLABORATOR_H
#define PDS_COLLABORATOR_H

#include "pds_base.h"

pds_err_t *pds_collaborator_list(pds_ctx_t *ctx, const char *track_id, json_t **out);
pds_err_t *pds_collaborator_add(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out);
/* Naming another producer withdraws what was offered to the one before. */
pds_err_t *pds_collaborator_patch(pds_ctx_t *ctx, const char *track_id, const char *cid,
                                  json_t *body, json_t **out);
/* Their access to the shared folder goes too (a job). */
pds_err_t *pds_collaborator_delete(pds_ctx_t *ctx, const char *track_id, const char *cid);

#endif
