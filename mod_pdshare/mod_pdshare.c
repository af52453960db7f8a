/* mod_pdshare: share links and public share pages for music producers.
 * The module declaration and its hooks. */
#include <apr_optional.h>
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
 * read the way core will set it, from SetHandler in the <Location> sections,
 * so a request for any other handler (a file under a real "s" directory of
 * another virtual host) keeps its walk. <Directory> sections do not apply to
 * these URLs; their access rules belong in the <Location> (README). TRACE
 * is left to httpd's own hook. */
static int pdshare_map_to_storage(request_rec *r)
{
    core_dir_config *d;
    const char *h, *err = NULL;
    if (r->method_number == M_TRACE || !r->uri || r->uri[0] != '/') return DECLINED;
    if (ap_location_walk(r) != OK) return DECLINED;        /* core walks and answers */
    d = ap_get_core_module_config(r->per_dir_config);
    if (!d || !d->expr_handler) return DECLINED;
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    if (err || !h || (strcasecmp(h, "pdshare") && strcasecmp(h, "pdshare-api")))
        return DECLINED;
    return OK;
}

static void pdshare_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pdshare_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pdshare_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pdshare_jobs_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(pdshare_counter_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(pdshare_compiled_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(pdshare_map_to_storage, NULL, NULL, APR_HOOK_MIDDLE);
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
