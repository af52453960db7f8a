/* The owner API (SPEC §4) as library calls: routing, validation, the store
 * and the JSON shapes. The httpd glue authenticates, reads the body and
 * writes the reply. */
#ifndef PDS_API_H
#define PDS_API_H

#include "pds.h"
#include "pds_db.h"

typedef struct {
    const char *share_path;      /* public location, e.g. "/s" */
    int max_tracks;
    const char *dropbox_root;    /* PDShareDropboxRoot */
} pds_settings_t;

struct pds_dbx_env_t;

typedef struct {
    apr_pool_t *pool;
    pds_db_t *db;
    const char *user;            /* the producer (r->user) */
    const pds_settings_t *settings;
    const char *base_url;        /* scheme://host[:port], no trailing slash */
    const char *api_path;        /* URL path of the owner API's location */
    const char *redirect_uri;    /* OAuth redirect URI */
    struct pds_dbx_env_t *dbx;   /* the Dropbox connection's environment */
    apr_int64_t now;
    int link_preview;            /* the visitor is a link-preview fetcher (pds_event_record) */
} pds_ctx_t;

typedef struct {
    int status;
    pds_err_kind_e kind;         /* of the error answered (pds_reply_error); else 0 */
    json_t *body;                /* NULL: no body (204) */
    const char *allow;           /* for 405: the methods the route takes */
    const char *location;        /* for 302: where to */
    const char *log;             /* for the error log (never a secret) */
    const char *warn;            /* a warning on an answer that went through (never a secret) */
} pds_reply_t;

/* Answer one API request. `path` is relative to the handler's location and
 * starts with "/"; `body` is the parsed JSON of a write, or NULL. */
void pds_api_handle(pds_ctx_t *ctx, const char *method, const char *path,
                    const char *query, json_t *body, pds_reply_t *out);

/* An error reply in the contracted shape. */
void pds_reply_error(pds_ctx_t *ctx, pds_reply_t *out, const pds_err_t *e);

/* Shared with the public page and pdsharectl. */
json_t *pds_track_json(apr_pool_t *p, const char **row);
const char *pds_share_status(const char **share_row, apr_int64_t now);
const char *pds_share_url(pds_ctx_t *ctx, const char *token);
/* Build the share object (with stats when stats != 0) for share `id`. */
pds_err_t *pds_share_load(pds_ctx_t *ctx, const char *id, int stats, json_t **out);
/* Create a share: the JSON of POST /shares. */
pds_err_t *pds_share_create(pds_ctx_t *ctx, json_t *body, json_t **out);
pds_err_t *pds_share_revoke(pds_ctx_t *ctx, const char *id, json_t **out);
pds_err_t *pds_share_list(pds_ctx_t *ctx, json_t **out);

/* Columns of the share rows (SHARE_COLS in pds_sql.c). */
enum { SH_ID, SH_OWNER, SH_TOKEN, SH_TITLE, SH_BUCKET, SH_PB, SH_PS, SH_PP,
       SH_FILES_RESTRICTED, SH_EXPIRES, SH_REVOKED, SH_CREATED };
/* Columns of track rows (TRACK_COLS), after any leading columns. */
enum { TR_ID, TR_TITLE, TR_BPM, TR_KEY, TR_ARTWORK, TR_BUCKET, TR_ALIAS, TR_GROUP,
       TR_VERSION, TR_STATUS, TR_CREATED, TR_UPDATED, TR_NCOLS };

pds_err_t *pds_db_failed(pds_ctx_t *ctx);
/* Text that does not come in a JSON body: every path segment and query
 * value must be UTF-8 (jansson checks bodies). NULL, or a 400 invalid_field
 * naming what is wrong: the route's field for a segment (track_id, share_id,
 * collaborator_id, category, name), else "path" or the query parameter. */
pds_err_t *pds_api_check_text(apr_pool_t *p, const char *path, const char *query);
/* One file of the track, as the API shows it. */
pds_err_t *pds_api_file(pds_ctx_t *ctx, const char *track_id, const char *file_id, json_t **out);

#endif
