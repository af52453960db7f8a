/* Dropbox API v2 client: RPC and download-style calls, the OAuth token
 * endpoint, and the retry rules of dropbox-api.md §5 (429 and 5xx retried
 * with backoff honouring Retry-After, inside the total timeout). */
#ifndef PDS_DROPBOX_H
#define PDS_DROPBOX_H

#include "pds.h"
#include "pds_http.h"

typedef struct pds_dbx_conf_t {
    const char *api_url;                /* https://api.dropboxapi.com */
    const char *content_url;            /* https://content.dropboxapi.com */
    const char *authorize_url;
    const char *app_key;
    const char *app_secret;
    int connect_timeout;                /* seconds */
    int total_timeout;                  /* seconds */
} pds_dbx_conf_t;

/* The outcome of a call. */
typedef struct {
    int status;                         /* HTTP status; 0 when none came back */
    json_t *result;                     /* parsed JSON of a 200 (pool-owned) */
    const char *tag;                    /* error[".tag"], or the OAuth "error" */
    json_t *error;                      /* the error union (pool-owned), if any */
    int retry_after;                    /* seconds, from Retry-After or the body */
    int transient;                      /* worth trying again later (429, 5xx, network) */
    const char *why;                    /* for the error log; never holds a secret */
} pds_dbx_res_t;

/* What a renew callback is asked to renew. */
enum { PDS_DBX_RENEW_TOKEN = 1,         /* 401 expired_access_token / invalid_access_token */
       PDS_DBX_RENEW_ROOT = 2 };        /* 422 invalid_root; error holds the latest root info */

typedef struct pds_dbx_auth_t pds_dbx_auth_t;
/* Renews a caller's auth in place (a fresh access token, or the path root
 * Dropbox named): 0 when the call may be repeated with it; otherwise non-zero
 * with res->why and res->transient set. Each kind is tried once per call. */
typedef int (*pds_dbx_renew_fn)(pds_dbx_auth_t *a, int kind, json_t *error, pds_dbx_res_t *res);

/* Who calls: an access token and, for team accounts, the path-root header
 * value ({".tag":"root","root":"<ns>"}); NULL for none. With renew set, every
 * kind of call (RPC, upload, download) renews once and repeats itself. */
struct pds_dbx_auth_t {
    const char *access_token;
    const char *path_root;
    pds_dbx_renew_fn renew;
    void *baton;
};

/* An RPC call: POST <api>/2/<route> with a JSON argument (NULL for Void;
 * routes with an argument must check that theirs was built). */
apr_status_t pds_dbx_rpc(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                         const char *route, json_t *arg, pds_dbx_res_t *res);
/* The OAuth token endpoint (form-encoded); `form` holds key/value pairs. */
apr_status_t pds_dbx_token(apr_pool_t *p, const pds_dbx_conf_t *c, apr_table_t *form,
                           pds_dbx_res_t *res);
/* A download-style call streaming a 2xx body to `sink` (e.g. files/download_zip).
 * Not retried once bytes have gone out. */
apr_status_t pds_dbx_download(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                              const char *route, json_t *arg, pds_http_head_fn on_head,
                              pds_http_sink_fn sink, void *baton, pds_dbx_res_t *res);

/* An upload-style call (files/upload and the upload_session routes): the argument in
 * Dropbox-API-Arg, len bytes of file from offset as the body (len 0: empty). */
apr_status_t pds_dbx_upload(apr_pool_t *p, const pds_dbx_conf_t *c, pds_dbx_auth_t *a,
                            const char *route, json_t *arg, apr_file_t *file, apr_off_t offset,
                            apr_size_t len, pds_dbx_res_t *res);

/* Whether a failed call on a path answered that nothing (or a folder) is
 * there: 409 with a LookupError not_found or not_file. The file is gone;
 * Dropbox itself is fine. */
int pds_dbx_path_gone(const pds_dbx_res_t *res);

/* Form encoding (application/x-www-form-urlencoded). */
const char *pds_form_encode(apr_pool_t *p, const char *s);
/* The Dropbox-API-Arg header value: JSON with every non-ASCII character and
 * 0x7F escaped (dropbox-api.md §1); NULL for a NULL arg. */
const char *pds_dbx_arg_header(apr_pool_t *p, json_t *arg);

#endif
