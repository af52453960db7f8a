/* mod_pdshare: share links and public share pages for music producers.
 * The module declaration and its hooks. */
#include <apr_optional.h>
#include <apr_optional_hooks.h>

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

static void pdshare_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pdshare_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pdshare_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pdshare_jobs_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(pdshare_counter_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(pdshare_compiled_child_init, NULL, NULL, APR_HOOK_MIDDLE);
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
