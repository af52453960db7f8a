/* A producer's profile (SPEC §4 /profile): what the share page and the mail
 * to collaborators show of them. */
#ifndef PDS_PROFILE_H
#define PDS_PROFILE_H

#include "pds_base.h"

/* The producer's profile as JSON (display_name, avatar_url, header_url,
 * theme, profile_url). */
pds_err_t *pds_profile_get(pds_ctx_t *ctx, const char *username, json_t **out);
/* PUT /profile (ctx->user): fields left out keep their value, null clears. */
pds_err_t *pds_profile_put(pds_ctx_t *ctx, json_t *body, json_t **out);

#endif
