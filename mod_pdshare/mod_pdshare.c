/* mod_pdshare: share links and public share pages for music producers.
 * The module declaration and its hooks. */
#include <apr_optional.h>
#include <apr_strings.h>
#include <apr_optional_hooks.h>
#include <http_core.h>
#include <ap_expr.h>

#define PDSHARE_DECLARING_MODULE
#include "mod_pdshare.h"
#include "mod_pdshare_counter.h"
#include "mod_pdshare_compiled.h"

static int pdshare_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                               server_rec *s)
{
    int rc = pdshare_config_check(pconf, ptemp, s);
    if (rc == OK) rc = pdshare_counter_post_config(pconf, ptemp, s);
    if (rc == OK) pdshare_incident_init(pconf, s);
    return rc;
}

/* Our handlers' URLs name no file: skip core's walk of the filesystem for
 * them (a stat of every path component, an .htaccess open in each directory
 * that allows overrides), as mod_proxy does for its requests. The handler is
 * read as core will set it, from SetHandler in the <Location> sections (the
 * location walk is cached: core's own is then a no-op; an <If> walk here
 * would make core merge the <Location>s twice), so a request for any other
 * handler keeps its walk; one that <If> or a variable changes later is
 * refused by pdshare_fixups. As for
 * mod_proxy, r->filename becomes "pdshare:<handler>": nothing derived from
 * the URL (a share token in a log line, a suffix mod_mime reads as a
 * language or an encoding). <Directory>, <Files> and .htaccess sections do
 * not apply to these URLs; their rules belong in the <Location> (README).
 * TRACE, proxy requests and lookups of a file already found (subrequests)
 * are left to core. */
static const char *our_handler(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *h, *err = NULL;
    if (!d || !d->expr_handler) return NULL;
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    if (err || !h) return NULL;
    if (!strcmp(h, "pdshare")) return "pdshare";            /* as the handlers compare */
    if (!strcmp(h, "pdshare-api")) return "pdshare-api";
    return NULL;
}

static int pdshare_map_to_storage(request_rec *r)
{
    ap_conf_vector_t *base = r->per_dir_config;
    const char *h;
    if (r->method_number == M_TRACE || r->proxyreq || !r->uri || r->uri[0] != '/'
        || r->finfo.filetype != APR_NOFILE)
        return DECLINED;
    /* Core's walks start again from the server's defaults when we decline:
     * what our walks merged must not be merged twice. */
    if (ap_location_walk(r) != OK || !(h = our_handler(r))) {
        r->per_dir_config = base;
        return DECLINED;
    }
    r->filename = r->canonical_filename = apr_pstrcat(r->pool, "pdshare:", h, NULL);
    r->path_info = NULL;
    pdshare_note_location(r);
    return OK;
}

/* Fails closed: a request whose walk was skipped for our handler but that
 * another handler would now serve (an <If> or module that changed it after
 * map_to_storage) is refused rather than served without its <Directory>
 * rules. */
static int pdshare_fixups(request_rec *r)
{
    if (!r->filename || strncmp(r->filename, "pdshare:", 8)) return DECLINED;
    if (r->handler && !strcmp(r->filename + 8, r->handler)) return DECLINED;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00180: the filesystem walk was skipped for"
                  " handler %s, but handler %s would answer: refused (keep SetHandler %s"
                  " alone in the <Location>)", r->filename + 8,
                  r->handler ? r->handler : "(none)", r->filename + 8);
    return HTTP_NOT_FOUND;
}

static void pdshare_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pdshare_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pdshare_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pdshare_jobs_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(pdshare_counter_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(pdshare_compiled_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(pdshare_map_to_storage, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(pdshare_fixups, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_handler(pdshare_api_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(pdshare_public_handler, NULL, NULL, APR_HOOK_MIDDLE);
    pdshare_log_register_hooks(p);
    /* Each new mod_dbd connection: session settings, schema migration and
     * our prepared statements (see pdshare_dbd_post_connect). */
    APR_OPTIONAL_HOOK(dbd, post_connect, pdshare_dbd_post_connect, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(pdshare) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    pdshare_create_srv_conf,
    pdshare_merge_srv_conf,
    pdshare_cmds,
    pdshare_register_hooks
};
