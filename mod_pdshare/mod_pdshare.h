/* mod_pdshare: httpd glue. Hooks, directives and handlers; the work is done
 * by the pds_* library. */
#ifndef MOD_PDSHARE_H
#define MOD_PDSHARE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#include "pds_base.h"
#include "pds_lib.h"
#include "pds_api.h"
#include "pds_tmpl.h"
#include "pds_dropbox.h"
#include "pds_cache.h"
#include "pds_connect.h"

#ifndef PDSHARE_DECLARING_MODULE
APLOG_USE_MODULE(pdshare);
#endif
extern module AP_MODULE_DECLARE_DATA pdshare_module;

#include "pds_paths.h"

#define PDS_KEY_LEN 32

/* Server configuration. Unset markers: NULL for strings, -1 for numbers. */
typedef struct {
    const char *base_url;
    const char *htdocs;
    const char *data_key_file;
    const unsigned char *data_key;        /* PDS_KEY_LEN bytes, read at start-up */
    const char *app_key;
    const char *app_secret_file;
    const char *app_secret;
    const char *redirect_uri;
    const char *api_url;
    const char *content_url;
    const char *authorize_url;
    const char *dropbox_root;
    int connect_timeout;
    int total_timeout;
    apr_array_header_t *memcache;         /* of "host:port" */
    int templink_ttl;
    int max_tracks;
    const char *storage_dir;
    int export_single_folder;
    const char *export_by_status;
    const char *smtp_url;
    const char *mail_from;
    const char *share_path;
    int job_lease;
    const char *spool_dir;                /* visitor events before they are committed */
    apr_int64_t share_cache;              /* PDShareShareCache: bytes per child, 0 off */
    /* Derived in post_config (and child_init for the in-process cache). */
    pds_tmpl_set_t *templates;
    const char *assets_version;           /* of htdocs/assets, NULL when unreadable */
    pds_settings_t settings;
    pds_dbx_conf_t dbx;
    int dbx_enabled;
    pds_cache_t *cache;                   /* temporary links */
    struct pdshare_counter_t *counter;    /* per child (mod_pdshare_counter.c) */
    struct pdshare_compiled_cache_t *compiled; /* per child (mod_pdshare_compiled.c) */
} pdshare_srv_conf;

/* Defaults: PDS_DEFAULT_* in pds_base.h, shared with pdsharectl. */

extern const command_rec pdshare_cmds[];
void *pdshare_create_srv_conf(apr_pool_t *p, server_rec *s);
void *pdshare_merge_srv_conf(apr_pool_t *p, void *base, void *add);
/* Checks that need the whole configuration; logs and answers !OK to stop httpd. */
int pdshare_config_check(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
/* Per child: the in-process link cache where no memcache is configured. */
void pdshare_child_init(apr_pool_t *pchild, server_rec *s);
/* Per child: the job worker thread (mod_pdshare_jobs.c). */
void pdshare_jobs_child_init(apr_pool_t *pchild, server_rec *s);

/* The access log's %r, %U, %q and %{Referer}i with secrets masked (mod_pdshare_log.c). */
void pdshare_log_register_hooks(apr_pool_t *p);

int pdshare_api_handler(request_rec *r);
int pdshare_public_handler(request_rec *r);
/* The share template's data: the page model with the nonce and the asset path. */
json_t *pdshare_page_data(request_rec *r, json_t *view, const char *nonce);

/* Shared glue helpers (mod_pdshare_util.c). */
pdshare_srv_conf *pdshare_srv(server_rec *s);
/* The request's path below the handler's <Location>, starting with "/";
 * NULL when the request is not below it. */
const char *pdshare_route_path(request_rec *r);
/* The URL path of the handler's <Location>. */
const char *pdshare_location(request_rec *r);
/* Notes that path before <If> sections are merged (they name themselves). */
void pdshare_note_location(request_rec *r);
/* A library context for this request, with mod_dbd's connection; NULL and
 * a logged error when the database cannot be had. */
pds_ctx_t *pdshare_ctx(request_rec *r, const char *user);
const char *pdshare_base_url(request_rec *r);
/* Write a JSON answer (NULL body: none, e.g. 204). */
int pdshare_write_json(request_rec *r, int status, json_t *body);
/* Write {"error":{"code","message"}}; a message that is not UTF-8 (it may
 * quote the request) is replaced, so an error is never an empty answer. */
int pdshare_write_error(request_rec *r, int status, const char *code, const char *message);
/* PUT /tracks/{id}/upload/{category}/{name} (mod_pdshare_upload.c). */
int pdshare_upload(request_rec *r, pds_ctx_t *ctx, const char *track_id, const char *category,
                   const char *name);
/* Outages logged once per incident, not once per request
 * (mod_pdshare_incident.c). */
typedef enum {
    PDSHARE_INC_DATABASE,
    PDSHARE_INC_DROPBOX,
    PDSHARE_INC_LINKCACHE,
    PDSHARE_INC_SPOOL,
    PDSHARE_INC_COUNT
} pdshare_incident_t;
/* The incident an error of this kind belongs to; PDSHARE_INC_COUNT: none
 * (the request's own fault, or the producer's state). */
pdshare_incident_t pdshare_incident_of(pds_err_kind_e kind);
void pdshare_incident_init(apr_pool_t *pconf, server_rec *s);
/* Things logged once per server (all children), e.g. a configuration
 * problem seen at run time. */
typedef enum { PDSHARE_ONCE_DBD_HOOKS = 0, PDSHARE_ONCE_SHARE_CACHE_BOUND, PDSHARE_ONCE_COUNT } pdshare_once_t;
/* True for the first caller on this server, false after. */
int pdshare_once(pdshare_once_t which);
/* A failure of `kind`: the first of an incident is logged at `level` with
 * the detail; the rest at info, with a reminder at `level` now and then.
 * r may be NULL (the job worker). */
void pdshare_incident_fail(request_rec *r, server_rec *s, pdshare_incident_t kind, int level,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same for work that is not a request (the job worker), begun at `started`. */
void pdshare_incident_fail_since(server_rec *s, pdshare_incident_t kind, apr_time_t started,
                                 int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A success of `kind`: ends an incident once it has been quiet a while. */
void pdshare_incident_ok(server_rec *s, pdshare_incident_t kind);
/* Whether to ask for a connection now: false while the last attempt, less
 * than a second ago, found none. */
int pdshare_incident_may_connect(pdshare_incident_t kind);
/* Whether a connection could be had. */
void pdshare_incident_connected(pdshare_incident_t kind, int ok);

apr_status_t pdshare_dbd_post_connect(apr_pool_t *pool, dbd_cfg_t *cfg, ap_dbd_t *dbd);
/* A connection from mod_dbd made ready for the module: when mod_dbd did not
 * run its post_connect hooks on it (a failed DBDInitSQL stops them), the
 * setup and statements are done now, and that is logged once. 0 on success. */
int pdshare_dbd_ready(server_rec *s, ap_dbd_t *dbd);
int pdshare_dbd_available(void);

#endif
