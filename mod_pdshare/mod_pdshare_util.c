/* Glue shared by the handlers: configuration access, the route below the
 * <Location>, the database connection and the library context. */
#include <string.h>
#include <apr_strings.h>
#include <apr_optional.h>

#include <http_core.h>

#include "mod_pdshare.h"
#include "pds_db.h"
#include "pds_util.h"

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;

int pdshare_dbd_available(void)
{
    if (!dbd_acquire) dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    return dbd_acquire != NULL;
}

pdshare_srv_conf *pdshare_srv(server_rec *s)
{
    return ap_get_module_config(s->module_config, &pdshare_module);
}

/* The <Location> path comes from core's per-dir config: our module has no
 * directive inside the section, so httpd never builds a per-dir config of
 * ours there. */
/* The path of the <Location> that holds our SetHandler, as the location
 * walk left it: an <If> section merged later names itself in core's config,
 * so it is noted before (pdshare_map_to_storage). */
void pdshare_note_location(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    if (core && core->d && !core->r)
        ap_set_module_config(r->request_config, &pdshare_module, (void *)core->d);
}

const char *pdshare_location(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    const char *loc = ap_get_module_config(r->request_config, &pdshare_module);
    apr_size_t n;
    if (!loc) loc = core && core->d && !core->r ? core->d : "";
    n = strlen(loc);
    while (n > 0 && loc[n - 1] == '/') n--;
    return apr_pstrndup(r->pool, loc, n);
}

const char *pdshare_route_path(request_rec *r)
{
    const char *loc = pdshare_location(r), *rest;
    apr_size_t n = strlen(loc);
    if (strncmp(r->uri, loc, n)) return NULL;
    rest = r->uri + n;
    if (*rest == '\0') return "/";
    if (*rest != '/') return NULL;
    return rest;
}

const char *pdshare_base_url(request_rec *r)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    apr_port_t port;
    const char *scheme;
    if (c->base_url) return c->base_url;
    scheme = ap_http_scheme(r);
    port = ap_get_server_port(r);
    if (ap_is_default_port(port, r))
        return apr_pstrcat(r->pool, scheme, "://", ap_get_server_name_for_url(r), NULL);
    return apr_psprintf(r->pool, "%s://%s:%u", scheme, ap_get_server_name_for_url(r), port);
}

pds_ctx_t *pdshare_ctx(request_rec *r, const char *user)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    pds_ctx_t *ctx;
    ap_dbd_t *dbd;
    if (!pdshare_incident_may_connect(PDSHARE_INC_DATABASE)) {
        pdshare_incident_fail(r, r->server, PDSHARE_INC_DATABASE, APLOG_ERR,
                              "PDS00010: no database connection: the last attempt, less than a "
                              "second ago, found none");
        return NULL;
    }
    dbd = dbd_acquire ? dbd_acquire(r) : NULL;
    pdshare_incident_connected(PDSHARE_INC_DATABASE, dbd != NULL);
    if (!dbd) {
        pdshare_incident_fail(r, r->server, PDSHARE_INC_DATABASE, APLOG_ERR,
                              "PDS00010: no database connection from mod_dbd; check DBDriver "
                              "and DBDParams, that the database server runs, and that the "
                              "database (for sqlite3: its directory) is writable by the "
                              "server's User");
        return NULL;
    }
    if (pdshare_dbd_ready(r->server, dbd)) return NULL;
    ctx = pds_ctx_make(r->pool, dbd->driver, dbd->handle, dbd->prepared, &c->settings);
    ctx->user = user;
    ctx->base_url = pdshare_base_url(r);
    ctx->api_path = pdshare_location(r);
    ctx->redirect_uri = c->redirect_uri ? c->redirect_uri
                      : apr_pstrcat(r->pool, ctx->base_url, ctx->api_path, "/dropbox/callback", NULL);
    ctx->now = (apr_int64_t)apr_time_sec(r->request_time);
    return ctx;
}

/* Our setup ran on a connection when its hash holds this label (no SQL
 * statement has it): set by our post_connect hook, or by our setup on first
 * use. A setup that failed part way is not run again: the statements that
 * fail later are prepared again one by one (pds_db.c). */
#define PDSHARE_READY_LABEL "pdshare:ready"

/* Session settings, the schema brought to the current version, and our
 * statements prepared on the connection (in its pool, so they live as long
 * as it). 0 when all of it was done. */
static int dbd_setup(server_rec *s, const char *name, ap_dbd_t *dbd, apr_pool_t *pool)
{
    const char *err = NULL;
    if (!dbd->prepared) dbd->prepared = apr_hash_make(pool);
    apr_hash_set(dbd->prepared, PDSHARE_READY_LABEL, APR_HASH_KEY_STRING, dbd);
    if (pds_db_setup(pool, dbd->driver, dbd->handle, 0, &err) != APR_SUCCESS) {
        pdshare_incident_fail(NULL, s, PDSHARE_INC_DATABASE, APLOG_ERR,
                              "PDS00011: cannot bring the database schema to version %d (%s): "
                              "%s", PDS_SCHEMA_VERSION, name, err ? err : "unknown error");
        return -1;
    }
    if (pds_db_prepare_all(pool, dbd->driver, dbd->handle, dbd->prepared, &err) != APR_SUCCESS) {
        /* A server going down as the connection was made: the first
         * statement that fails on it prepares them again (pds_db.c). */
        pdshare_incident_fail(NULL, s, PDSHARE_INC_DATABASE, APLOG_ERR,
                              "PDS00012: cannot prepare the module's statements (%s): %s",
                              name, err ? err : "unknown error");
        return -1;
    }
    return 0;
}

/* mod_dbd's post_connect hook, for every new connection. Preparing here
 * rather than with ap_dbd_prepare() is deliberate: mod_dbd prepares its
 * statements before any hook runs, and sqlite3 refuses to prepare a
 * statement on a table that does not exist yet. */
apr_status_t pdshare_dbd_post_connect(apr_pool_t *pool, dbd_cfg_t *cfg, ap_dbd_t *dbd)
{
    dbd_setup(cfg->server, cfg->name, dbd, pool);
    return APR_SUCCESS;
}

/* mod_dbd runs DBDInitSQL before the post_connect hooks and skips the hooks
 * when an init statement fails, and apr_dbd_query counts a statement that
 * returns a row (a PRAGMA that answers its value, a SELECT) as failed. Such
 * a connection is still handed out: it is set up here, on its first use by
 * this module. A connection is used by one thread at a time. */
int pdshare_dbd_ready(server_rec *s, ap_dbd_t *dbd)
{
    if (dbd->prepared && apr_hash_get(dbd->prepared, PDSHARE_READY_LABEL, APR_HASH_KEY_STRING))
        return 0;
    if (pdshare_once(PDSHARE_ONCE_DBD_HOOKS))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "PDS00150: mod_dbd handed out a "
                     "connection on which it did not run the post-connect hooks; a DBDInitSQL "
                     "statement probably failed (mod_dbd counts a statement that returns rows, "
                     "such as \"PRAGMA busy_timeout=5000\" or a SELECT, as failed). mod_pdshare "
                     "sets up such connections itself on first use; remove or fix that "
                     "DBDInitSQL (mod_pdshare sets the SQLite pragmas it needs on its own). "
                     "Logged once.");
    return dbd_setup(s, "connection set up on first use", dbd, dbd->pool);
}

int pdshare_write_json(request_rec *r, int status, json_t *body)
{
    char *text;
    r->status = status;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    if (!body) return OK;
    ap_set_content_type(r, "application/json; charset=utf-8");
    text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text) return HTTP_INTERNAL_SERVER_ERROR;
    ap_set_content_length(r, strlen(text) + 1);
    if (!r->header_only) {
        ap_rputs(text, r);
        ap_rputs("\n", r);
    }
    free(text);
    return OK;
}

int pdshare_write_error(request_rec *r, int status, const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (!body)
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                         "the request was refused");
    return pdshare_write_json(r, status, pds_json_pool(r->pool, body));
}
