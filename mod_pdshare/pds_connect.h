/* A producer's Dropbox connection: the OAuth code flow (state bound to the
 * producer, single use, expiring; PKCE S256; offline tokens), tokens sealed
 * at rest and refreshed before they expire, the folder structure, status and
 * disconnection. */
#ifndef PDS_CONNECT_H
#define PDS_CONNECT_H

#include "pds_base.h"
#include "pds_dropbox.h"

#define PDS_STATE_TTL 600            /* seconds an OAuth state stays usable */
#define PDS_REFRESH_MARGIN 300       /* refresh this long before expiry */

typedef struct pds_dbx_env_t {
    pds_ctx_t *ctx;
    const pds_dbx_conf_t *dbx;       /* NULL: Dropbox is not configured */
    const unsigned char *key;        /* the data key (PDShareDataKeyFile) */
    const char *root;                /* PDShareDropboxRoot */
    const char *notice;              /* set on success: a problem worth a warning (no secret) */
} pds_dbx_env_t;

typedef struct {
    pds_dbx_env_t *env;              /* renews through it (auth.renew) */
    const char *username;
    const char *account_id;
    const char *account_type;        /* "personal" or "team" */
    const char *path_prefix;         /* team: the member's home path; personal: "" */
    const char *folder_path;         /* <prefix><root> */
    pds_dbx_auth_t auth;
    apr_int64_t expires_at;
    const char *refresh_sealed;
} pds_dbx_session_t;

/* The authorize URL to send the producer to; return_to (a local path,
 * checked by the caller) is where the callback sends them back. */
pds_err_t *pds_dbx_connect_begin(pds_dbx_env_t *env, const char *redirect_uri,
                                 const char *return_to, const char **authorize_url);
/* The callback: checks state (producer, single use, age), exchanges the
 * code, reads the account, creates the folders and stores the sealed tokens.
 * Tokens of an earlier connection are revoked at Dropbox first; when that
 * fails, env->notice says so and the new connection is stored all the same. */
pds_err_t *pds_dbx_connect_finish(pds_dbx_env_t *env, const char *code, const char *state,
                                  const char *error, const char **return_to);
pds_err_t *pds_dbx_status(pds_dbx_env_t *env, json_t **out);
pds_err_t *pds_dbx_disconnect(pds_dbx_env_t *env, json_t **out);
/* A session for the owner's Dropbox with a fresh access token. */
pds_err_t *pds_dbx_session(pds_dbx_env_t *env, const char *owner, pds_dbx_session_t **out);
/* An RPC call in a session. Every call with a session's auth (RPC, upload,
 * download) refreshes an expired or invalid access token once and repeats
 * itself (a refresh answered invalid_grant marks the connection revoked), and
 * on 422 invalid_root stores the root Dropbox names and repeats itself once. */
apr_status_t pds_dbx_session_rpc(pds_dbx_env_t *env, pds_dbx_session_t *s, const char *route,
                                 json_t *arg, pds_dbx_res_t *res);
/* Whether a connection for owner is usable (connected, not revoked). */
int pds_dbx_usable(pds_dbx_env_t *env, const char *owner);
/* What a visitor's downloads need to know of the owner's connection without
 * unsealing a token: whether it can be used (configured, connected, not
 * revoked), and the parts of the link-cache key. A database failure is an
 * error (never "not usable"). */
typedef struct {
    int usable;
    const char *account_id;          /* NULL when not connected */
    const char *path_prefix;         /* as pds_dbx_session_t */
} pds_dbx_brief_t;
pds_err_t *pds_dbx_brief(pds_dbx_env_t *env, const char *owner, pds_dbx_brief_t *out);
/* Entries of the given Dropbox folders (paths as the producer sees them)
 * as {path, name, size} objects; folders that do not exist are skipped.
 * A listing is paged to its end, started over on a reset cursor, and stops
 * at PDS_LIST_MAX entries with *truncated set. */
#define PDS_LIST_MAX 100000
pds_err_t *pds_dbx_list_files(pds_dbx_env_t *env, pds_dbx_session_t *s,
                              apr_array_header_t *folders, json_t **out, int *truncated);
/* The error to answer for a failed Dropbox call (503, Retry-After in res). */
pds_err_t *pds_dbx_failed(pds_dbx_env_t *env, const pds_dbx_res_t *res);

#endif
