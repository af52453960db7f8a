/* Tracks and their files (SPEC §4): create, change, delete and list a
 * producer's tracks; register files and list them with what the track's
 * Dropbox folders hold. Every call is scoped to ctx->user. */
#ifndef PDS_TRACK_H
#define PDS_TRACK_H

#include "pds_base.h"

/* Columns of track rows (TRACK_COLS), after any leading columns. */
enum { TR_ID, TR_TITLE, TR_BPM, TR_KEY, TR_ARTWORK, TR_BUCKET, TR_ALIAS, TR_GROUP,
       TR_VERSION, TR_STATUS, TR_CREATED, TR_UPDATED, TR_NCOLS };

/* A track row as the API shows it. */
json_t *pds_track_json(apr_pool_t *p, const char **row);
/* The caller's track `id` (404 when it is not theirs). */
pds_err_t *pds_track_row(pds_ctx_t *ctx, const char *id, const char ***row);
/* A track's files or collaborators (statement `label`) as {"<key>": [...]},
 * or, with `only`, the one row whose id is `only`. */
pds_err_t *pds_track_children(pds_ctx_t *ctx, const char *track_id, const char *label,
                              json_t *(*to_json)(apr_pool_t *, const char **),
                              const char *key, const char *only, json_t **out);

pds_err_t *pds_track_create(pds_ctx_t *ctx, json_t *body, json_t **out);
pds_err_t *pds_track_patch(pds_ctx_t *ctx, const char *id, json_t *body, json_t **out);
/* With its files, collaborators and the invitations they were sent. */
pds_err_t *pds_track_delete(pds_ctx_t *ctx, const char *id);
/* {"tracks": [...]}, of one bucket when bucket is not NULL. */
pds_err_t *pds_track_list(pds_ctx_t *ctx, const char *bucket, json_t **out);

/* GET /tracks/{id}/files: the registered files, then those found in the
 * track's Dropbox folders that are not registered ("imported": false). */
pds_err_t *pds_file_list(pds_ctx_t *ctx, const char *track_id, json_t **out);
/* POST /tracks/{id}/files: register a file that is in Dropbox. */
pds_err_t *pds_file_register(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out);
/* One file of the track, as the API shows it. */
pds_err_t *pds_file_get(pds_ctx_t *ctx, const char *track_id, const char *file_id, json_t **out);

#endif
