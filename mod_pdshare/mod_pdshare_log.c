/* The access log without secrets: mod_log_config's %r, %U, %q and %{Referer}i
 * are replaced by versions that mask share tokens and OAuth codes and states
 * (pds_logmask.h), so every LogFormat, Debian's "combined" included, writes
 * them masked. httpd's own %r does the same for a password in the URL. */
#include <strings.h>
#include <apr_optional.h>
#include <apr_strings.h>
#include <mod_log_config.h>

#include "mod_pdshare.h"
#include "pds_logmask.h"

static const char *share_path(request_rec *r)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    return c && c->share_path ? c->share_path : PDS_DEFAULT_SHARE_PATH;
}

static const char *log_request_line(request_rec *r, char *a)
{
    const char *line = r->the_request;
    if (r->parsed_uri.password)        /* as httpd's own %r: no password either */
        line = apr_pstrcat(r->pool, r->method, " ", apr_uri_unparse(r->pool, &r->parsed_uri, 0),
                           r->assbackwards ? NULL : " ", r->protocol, NULL);
    return ap_escape_logitem(r->pool, pds_logmask_request_line(r->pool, line, share_path(r)));
}

static const char *log_request_uri(request_rec *r, char *a)
{
    return ap_escape_logitem(r->pool, pds_logmask_url(r->pool, r->uri, share_path(r)));
}

static const char *log_request_query(request_rec *r, char *a)
{
    return r->args ? apr_pstrcat(r->pool, "?", ap_escape_logitem(r->pool,
                                 pds_logmask_query(r->pool, r->args)), NULL) : "";
}

static const char *log_header_in(request_rec *r, char *a)
{
    const char *v = apr_table_get(r->headers_in, a);
    if (v && !strcasecmp(a, "Referer")) v = pds_logmask_url(r->pool, v, share_path(r));
    return ap_escape_logitem(r->pool, v);
}

/* After mod_log_config's pre_config, which registers its own handlers, and
 * before the configuration (LogFormat, CustomLog) is read. */
static int pdshare_log_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    APR_OPTIONAL_FN_TYPE(ap_register_log_handler) *reg =
        APR_RETRIEVE_OPTIONAL_FN(ap_register_log_handler);
    if (reg) {
        /* want_orig as mod_log_config has them: %r and %U the original request. */
        reg(pconf, "r", log_request_line, 1);
        reg(pconf, "U", log_request_uri, 1);
        reg(pconf, "q", log_request_query, 0);
        reg(pconf, "i", log_header_in, 0);
    }
    return OK;
}

void pdshare_log_register_hooks(apr_pool_t *p)
{
    static const char *const after[] = { "mod_log_config.c", NULL };
    ap_hook_pre_config(pdshare_log_pre_config, after, NULL, APR_HOOK_MIDDLE);
}
