/* Shares (SPEC §4): create, load (with stats), list and revoke a producer's
 * shares; a share's status and public URL. */
#ifndef PDS_SHARE_H
#define PDS_SHARE_H

#include "pds_base.h"

/* Columns of the share rows (SHARE_COLS in pds_sql.c). */
enum { SH_ID, SH_OWNER, SH_TOKEN, SH_TITLE, SH_BUCKET, SH_PB, SH_PS, SH_PP,
       SH_FILES_RESTRICTED, SH_EXPIRES, SH_REVOKED, SH_CREATED, SH_NCOLS };

/* "active", "expired" or "revoked". */
const char *pds_share_status(const char **share_row, apr_int64_t now);
const char *pds_share_url(pds_ctx_t *ctx, const char *token);
/* Build the share object (with stats when stats != 0) for share `id`. */
pds_err_t *pds_share_load(pds_ctx_t *ctx, const char *id, int stats, json_t **out);
/* Create a share: the JSON of POST /shares. */
pds_err_t *pds_share_create(pds_ctx_t *ctx, json_t *body, json_t **out);
pds_err_t *pds_share_revoke(pds_ctx_t *ctx, const char *id, json_t **out);
pds_err_t *pds_share_patch(pds_ctx_t *ctx, const char *id, json_t *body, json_t **out);
pds_err_t *pds_share_list(pds_ctx_t *ctx, json_t **out);

#endif
