/* What every library unit needs: the context a call runs in, the settings
 * it carries, their defaults, and the answer to a failed database call.
 * The error type itself is in pds.h. Nothing here includes httpd headers. */
#ifndef PDS_BASE_H
#define PDS_BASE_H

#include "pds.h"
#include "pds_db.h"

/* Defaults (SPEC §2), for the module's directives and for pdsharectl. */
#define PDS_DEFAULT_API_URL "https://api.dropboxapi.com"
#define PDS_DEFAULT_CONTENT_URL "https://content.dropboxapi.com"
#define PDS_DEFAULT_AUTHORIZE_URL "https://www.dropbox.com/oauth2/authorize"
#define PDS_DEFAULT_ROOT "/PRODUCER-DASHBOARD"
#define PDS_DEFAULT_CONNECT_TIMEOUT 5
#define PDS_DEFAULT_TOTAL_TIMEOUT 30
#define PDS_DEFAULT_TEMPLINK_TTL 12600
#define PDS_DEFAULT_MAX_TRACKS 50
#define PDS_DEFAULT_EXPORT_BY_STATUS "non-final"
#define PDS_DEFAULT_SHARE_PATH "/s"
#define PDS_DEFAULT_JOB_LEASE 60

struct pds_dbx_conf_t;               /* pds_dropbox.h */

/* Fixed for a server (the module) or a run (pdsharectl). */
typedef struct {
    const char *share_path;      /* public location, e.g. "/s" */
    int max_tracks;
    const char *dropbox_root;    /* PDShareDropboxRoot */
    const struct pds_dbx_conf_t *dbx;   /* NULL: Dropbox is not configured */
    const unsigned char *data_key;      /* PDShareDataKeyFile's key, or NULL */
} pds_settings_t;

/* The defaults of share_path, max_tracks and dropbox_root; no Dropbox. */
void pds_settings_init(pds_settings_t *s);

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

/* The error for a failed database call (503; the detail is in ctx->db). */
pds_err_t *pds_db_failed(pds_ctx_t *ctx);
/* 404 not_found: "no such <what>". */
pds_err_t *pds_not_found(pds_ctx_t *ctx, const char *what);

#endif
