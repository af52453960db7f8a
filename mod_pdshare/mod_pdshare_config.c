/* Directives (SPEC §2): parsed and checked when httpd reads its
 * configuration; a value that cannot work stops httpd with one line that
 * names the directive. */
#include <string.h>
#include <errno.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_network_io.h>
#include <ap_mpm.h>
#include <http_main.h>
#include <unixd.h>
#include <unistd.h>

#include "mod_pdshare.h"
#include "pds_util.h"
#include "pds_valid.h"
#include "pds_crypto.h"

void *pdshare_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    pdshare_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    c->connect_timeout = -1;
    c->total_timeout = -1;
    c->templink_ttl = -1;
    c->max_tracks = -1;
    c->export_single_folder = -1;
    c->job_lease = -1;
    c->share_cache = -1;
    return c;
}

void *pdshare_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    pdshare_srv_conf *base = basev, *add = addv;
    pdshare_srv_conf *c = apr_pcalloc(p, sizeof(*c));
#define MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define MERGE_INT(f) c->f = add->f != -1 ? add->f : base->f
    MERGE_PTR(base_url);
    MERGE_PTR(htdocs);
    MERGE_PTR(data_key_file);
    MERGE_PTR(data_key);
    MERGE_PTR(app_key);
    MERGE_PTR(app_secret_file);
    MERGE_PTR(app_secret);
    MERGE_PTR(redirect_uri);
    MERGE_PTR(api_url);
    MERGE_PTR(content_url);
    MERGE_PTR(authorize_url);
    MERGE_PTR(dropbox_root);
    MERGE_INT(connect_timeout);
    MERGE_INT(total_timeout);
    MERGE_PTR(memcache);
    MERGE_INT(templink_ttl);
    MERGE_INT(max_tracks);
    MERGE_PTR(storage_dir);
    MERGE_INT(export_single_folder);
    MERGE_PTR(export_by_status);
    MERGE_PTR(smtp_url);
    MERGE_PTR(mail_from);
    MERGE_PTR(share_path);
    MERGE_INT(job_lease);
    MERGE_PTR(spool_dir);
    MERGE_INT(share_cache);
#undef MERGE_PTR
#undef MERGE_INT
    return c;
}

static pdshare_srv_conf *conf_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &pdshare_module);
}

/* Every setter: server or virtual-host context only. */
#define CHECK_CONTEXT(cmd) do { \
        const char *err_ = ap_check_cmd_context((cmd), NOT_IN_DIR_CONTEXT); \
        if (err_) return err_; \
    } while (0)

static const char *bad(cmd_parms *cmd, const char *fmt, const char *arg)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", apr_psprintf(cmd->pool, fmt, arg), NULL);
}

/* A URL with an http or https scheme and a host, without query or fragment;
 * a trailing slash is dropped. */
static const char *check_http_url(cmd_parms *cmd, const char *arg, const char **out)
{
    apr_size_t n;
    if (!pds_valid_url(arg) || strchr(arg, '?') || strchr(arg, '#'))
        return bad(cmd, "'%s' is not an http:// or https:// URL with a host", arg);
    n = strlen(arg);
    while (n > 0 && arg[n - 1] == '/') n--;
    *out = apr_pstrndup(cmd->pool, arg, n);
    return NULL;
}

static const char *set_url(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    const char **field = (const char **)((char *)c + (apr_size_t)cmd->info);
    CHECK_CONTEXT(cmd);
    return check_http_url(cmd, arg, field);
}

static const char *set_htdocs(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;
    CHECK_CONTEXT(cmd);
    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || fi.filetype != APR_DIR)
        return bad(cmd, "'%s' is not a directory", arg);
    c->htdocs = path;
    return NULL;
}

/* Read a small file whole; NULL and *why on failure. */
static const char *read_small_file(apr_pool_t *p, const char *path, apr_size_t max,
                                   apr_size_t *len, const char **why)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char *buf, ebuf[128];
    apr_size_t n;
    if ((rv = apr_file_open(&f, path, APR_READ | APR_BINARY, 0, p)) != APR_SUCCESS
        || (rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f)) != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot read '%s': %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return NULL;
    }
    if (fi.filetype != APR_REG || fi.size < 0 || (apr_size_t)fi.size > max) {
        apr_file_close(f);
        *why = apr_psprintf(p, "'%s' is not a regular file of at most %" APR_SIZE_T_FMT " bytes",
                            path, max);
        return NULL;
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !(rv == APR_EOF && n == 0)) {
        *why = apr_psprintf(p, "cannot read '%s': %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The data key: 32 raw bytes, or 64 hex characters (a trailing newline is
 * fine). The key itself never appears in a message. */
static const char *set_data_key_file(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg), *why = NULL;
    unsigned char *key;
    const char *data;
    apr_size_t n, i;
    CHECK_CONTEXT(cmd);
    if (!path) return bad(cmd, "'%s' is not a valid path", arg);
    if (!(data = read_small_file(cmd->temp_pool, path, 4096, &n, &why)))
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", why, NULL);
    key = apr_palloc(cmd->pool, PDS_KEY_LEN);
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r') && n != PDS_KEY_LEN) n--;
    if (n == PDS_KEY_LEN) {
        memcpy(key, data, PDS_KEY_LEN);
    }
    else if (n == 2 * PDS_KEY_LEN) {
        for (i = 0; i < PDS_KEY_LEN; i++) {
            int hi = hexval(data[2 * i]), lo = hexval(data[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return bad(cmd, "'%s' must hold 32 bytes, or 64 hex characters", arg);
            key[i] = (unsigned char)(hi * 16 + lo);
        }
    }
    else {
        return bad(cmd, "'%s' must hold 32 bytes, or 64 hex characters "
                   "(make one with: openssl rand 32 > FILE)", arg);
    }
    c->data_key_file = path;
    c->data_key = key;
    return NULL;
}

static const char *set_app_key(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    apr_size_t n = strlen(arg);
    CHECK_CONTEXT(cmd);
    if (!n || n > 128 || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != n)
        return bad(cmd, "'%s' is not a Dropbox app key (letters and digits)", arg);
    c->app_key = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_app_secret_file(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg), *why = NULL, *data;
    apr_size_t n;
    CHECK_CONTEXT(cmd);
    if (!path) return bad(cmd, "'%s' is not a valid path", arg);
    if (!(data = read_small_file(cmd->pool, path, 1024, &n, &why)))
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", why, NULL);
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ')) n--;
    if (!n || strlen(data) < n)
        return bad(cmd, "'%s' holds no app secret", arg);
    c->app_secret_file = path;
    c->app_secret = apr_pstrndup(cmd->pool, data, n);
    return NULL;
}

static const char *set_root(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    apr_size_t n = strlen(arg);
    CHECK_CONTEXT(cmd);
    while (n > 1 && arg[n - 1] == '/') n--;
    if (!pds_valid_dropbox_path(apr_pstrndup(cmd->temp_pool, arg, n)) || n > 255)
        return bad(cmd, "'%s' must be a Dropbox folder path like /PRODUCER-DASHBOARD "
                   "(leading slash, no . or .. segments)", arg);
    c->dropbox_root = apr_pstrndup(cmd->pool, arg, n);
    return NULL;
}

static const char *parse_int(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                             int *out)
{
    apr_int64_t v;
    if (pds_parse_int64(arg, min, max, &v))
        return apr_psprintf(cmd->pool, "%s: '%s' must be a whole number from %" APR_INT64_T_FMT
                            " to %" APR_INT64_T_FMT, cmd->cmd->name, arg, min, max);
    *out = (int)v;
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dc, const char *a1, const char *a2)
{
    pdshare_srv_conf *c = conf_of(cmd);
    const char *err;
    int conn = 0, total = 0;
    CHECK_CONTEXT(cmd);
    if ((err = parse_int(cmd, a1, 1, 600, &conn)) || (err = parse_int(cmd, a2, 1, 600, &total)))
        return err;
    if (conn > total)
        return apr_psprintf(cmd->pool, "%s: the connect timeout (%d s) must not exceed the "
                            "total timeout (%d s)", cmd->cmd->name, conn, total);
    c->connect_timeout = conn;
    c->total_timeout = total;
    return NULL;
}

static const char *set_memcache(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    char *host = NULL, *scope = NULL;
    apr_port_t port = 0;
    CHECK_CONTEXT(cmd);
    if (apr_parse_addr_port(&host, &scope, &port, arg, cmd->temp_pool) != APR_SUCCESS
        || !host || !port)
        return bad(cmd, "'%s' must be HOST:PORT (port 1-65535)", arg);
    if (!c->memcache) c->memcache = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c->memcache, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_ttl(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    const char *err;
    CHECK_CONTEXT(cmd);
    if ((err = parse_int(cmd, arg, 1, 14399, &c->templink_ttl)))
        return apr_pstrcat(cmd->pool, err, " (a Dropbox temporary link lives 4 hours, so the"
                           " TTL must be below 14400)", NULL);
    return NULL;
}

static const char *set_max_tracks(cmd_parms *cmd, void *dc, const char *arg)
{
    CHECK_CONTEXT(cmd);
    return parse_int(cmd, arg, 1, 1000, &conf_of(cmd)->max_tracks);
}

static const char *set_storage_dir(cmd_parms *cmd, void *dc, const char *arg)
{
    pdshare_srv_conf *c = conf_of(cmd);
    apr_finfo_t fi;
    CHECK_CONTEXT(cmd);
    if (arg[0] != '/')
        return bad(cmd, "'%s' must be an absolute path", arg);
    if (apr_stat(&fi, arg, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS || fi.filetype != APR_DIR)
        return bad(cmd, "'%s' is not an existing directory", arg);
    c->storage_dir = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_export_single(cmd_parms *cmd, void *dc, int flag)
{
    CHECK_CONTEXT(cmd);
    conf_of(cmd)->export_single_folder = flag;
    return NULL;
}

static const char *set_export_by_status(cmd_parms *cmd, void *dc, const char *arg)
{
    CHECK_CONTEXT(cmd);
    if (strcmp(arg, "final") && strcmp(arg, "non-final") && strcmp(arg, "all"))
        return bad(cmd, "'%s' must be final, non-final or all", arg);
    conf_of(cmd)->export_by_status = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_smtp(cmd_parms *cmd, void *dc, const char *arg)
{
    CHECK_CONTEXT(cmd);
    if ((strncasecmp(arg, "smtp://", 7) && strncasecmp(arg, "smtps://", 8))
        || strlen(arg) < 9 || strpbrk(arg, " \t\r\n"))
        return bad(cmd, "'%s' must be an smtp:// or smtps:// URL", arg);
    conf_of(cmd)->smtp_url = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_mail_from(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *at = strchr(arg, '@');
    CHECK_CONTEXT(cmd);
    if (!at || at == arg || !at[1] || strchr(at + 1, '@') || strpbrk(arg, " \t\r\n<>,;\""))
        return bad(cmd, "'%s' must be an email address", arg);
    conf_of(cmd)->mail_from = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_share_path(cmd_parms *cmd, void *dc, const char *arg)
{
    apr_size_t n = strlen(arg);
    CHECK_CONTEXT(cmd);
    while (n > 1 && arg[n - 1] == '/') n--;
    if (arg[0] != '/' || n < 2 || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-~") < n
        || strstr(arg, "//") || strstr(arg, "/."))
        return bad(cmd, "'%s' must be a URL path like /s", arg);
    conf_of(cmd)->share_path = apr_pstrndup(cmd->pool, arg, n);
    return NULL;
}

static const char *set_job_lease(cmd_parms *cmd, void *dc, const char *arg)
{
    CHECK_CONTEXT(cmd);
    return parse_int(cmd, arg, 5, 3600, &conf_of(cmd)->job_lease);
}

static const char *set_spool_dir(cmd_parms *cmd, void *dc, const char *arg)
{
    CHECK_CONTEXT(cmd);
    if (arg[0] != '/')
        return bad(cmd, "'%s' must be an absolute path", arg);
    conf_of(cmd)->spool_dir = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

/* PDShareShareCache SIZE: bytes, or with K, M or G; 0 turns it off. */
static const char *set_share_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    apr_int64_t n = 0, unit = 1;
    const char *p = arg, *err;
    /* One cache per child, for all virtual hosts. */
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) return err;
    while (*p >= '0' && *p <= '9' && n < APR_INT64_C(1) << 40) n = n * 10 + (*p++ - '0');
    if (*p == 'K' || *p == 'k') unit = 1024, p++;
    else if (*p == 'M' || *p == 'm') unit = 1024 * 1024, p++;
    else if (*p == 'G' || *p == 'g') unit = 1024 * 1024 * 1024, p++;
    if (p == arg || *p || n > APR_INT64_C(4) * 1024 * 1024 * 1024 / unit)
        return bad(cmd, "'%s' must be a size in bytes (a number, optionally with K, M or G),"
                   " at most 4G; 0 turns the cache off", arg);
    if (n && n * unit < 64 * 1024)
        return bad(cmd, "'%s' is below 64K: one 50-track share does not fit; use 0 to turn"
                   " the cache off", arg);
    conf_of(cmd)->share_cache = (apr_int64_t)(n * unit);
    return NULL;
}

#define URL_FIELD(f) ((void *)APR_OFFSETOF(pdshare_srv_conf, f))

/* The one list of directives; `apache2 -L` prints it, and the README's
 * table is checked against it by the tests. */
const command_rec pdshare_cmds[] = {
    AP_INIT_TAKE1("PDShareBaseURL", set_url, URL_FIELD(base_url), RSRC_CONF,
                  "public base URL used in share links, e.g. https://music.example.com"),
    AP_INIT_TAKE1("PDShareSharePath", set_share_path, NULL, RSRC_CONF,
                  "URL path of the public share <Location> (default /s)"),
    AP_INIT_TAKE1("PDShareHtdocs", set_htdocs, NULL, RSRC_CONF,
                  "directory with the templates and assets"),
    AP_INIT_TAKE1("PDShareDataKeyFile", set_data_key_file, NULL, RSRC_CONF,
                  "file with the 32-byte key that seals Dropbox tokens"),
    AP_INIT_TAKE1("PDShareDropboxAppKey", set_app_key, NULL, RSRC_CONF,
                  "Dropbox app key"),
    AP_INIT_TAKE1("PDShareDropboxAppSecretFile", set_app_secret_file, NULL, RSRC_CONF,
                  "file holding the Dropbox app secret"),
    AP_INIT_TAKE1("PDShareDropboxRedirectURI", set_url, URL_FIELD(redirect_uri), RSRC_CONF,
                  "OAuth redirect URI"),
    AP_INIT_TAKE1("PDShareDropboxAPIURL", set_url, URL_FIELD(api_url), RSRC_CONF,
                  "Dropbox RPC host URL"),
    AP_INIT_TAKE1("PDShareDropboxContentURL", set_url, URL_FIELD(content_url), RSRC_CONF,
                  "Dropbox content host URL"),
    AP_INIT_TAKE1("PDShareDropboxAuthorizeURL", set_url, URL_FIELD(authorize_url), RSRC_CONF,
                  "Dropbox OAuth authorize page URL"),
    AP_INIT_TAKE1("PDShareDropboxRoot", set_root, NULL, RSRC_CONF,
                  "root folder created in each producer's Dropbox"),
    AP_INIT_TAKE2("PDShareHTTPTimeout", set_timeout, NULL, RSRC_CONF,
                  "connect and total timeout in seconds for outbound calls"),
    AP_INIT_ITERATE("PDShareMemcache", set_memcache, NULL, RSRC_CONF,
                    "memcached servers (HOST:PORT ...) for temporary links"),
    AP_INIT_TAKE1("PDShareTempLinkTTL", set_ttl, NULL, RSRC_CONF,
                  "seconds a Dropbox temporary link is reused (below 14400)"),
    AP_INIT_TAKE1("PDShareMaxTracks", set_max_tracks, NULL, RSRC_CONF,
                  "tracks in one share link"),
    AP_INIT_TAKE1("PDShareStorageDir", set_storage_dir, NULL, RSRC_CONF,
                  "directory where uploaded files are kept"),
    AP_INIT_FLAG("PDShareExportSingleFolder", set_export_single, NULL, RSRC_CONF,
                 "On: uploaded files go flat into the producer's base folder"),
    AP_INIT_TAKE1("PDShareExportByStatus", set_export_by_status, NULL, RSRC_CONF,
                  "which uploaded files are exported: final, non-final or all"),
    AP_INIT_TAKE1("PDShareJobLease", set_job_lease, NULL, RSRC_CONF,
                  "seconds a worker holds a job before another may take it over"),
    AP_INIT_TAKE1("PDShareSpoolDir", set_spool_dir, NULL, RSRC_CONF,
                  "directory where visitor events wait for the database (created if missing)"),
    AP_INIT_TAKE1("PDShareShareCache", set_share_cache, NULL, RSRC_CONF,
                  "memory per child for compiled shares, e.g. 32M (0: off)"),
    AP_INIT_TAKE1("PDShareSMTP", set_smtp, NULL, RSRC_CONF,
                  "smtp:// or smtps:// URL for collaborator notices"),
    AP_INIT_TAKE1("PDShareMailFrom", set_mail_from, NULL, RSRC_CONF,
                  "sender address of collaborator notices"),
    { NULL }
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The version of the share pages' assets: a digest of the names and bytes of
 * the files in DIR, so their URLs change when any of them does and browsers may
 * keep them for a year. NULL when DIR cannot be read (the pages then use
 * unversioned URLs, kept an hour). */
static const char *assets_version(apr_pool_t *pconf, apr_pool_t *ptemp, const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_array_header_t *names = apr_array_make(ptemp, 8, sizeof(const char *));
    pds_sha256_t *h;
    int i;
    if (apr_dir_open(&d, dir, ptemp) != APR_SUCCESS) return NULL;
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS)
        if (fi.filetype == APR_REG && fi.name[0] != '.')
            APR_ARRAY_PUSH(names, const char *) = apr_pstrdup(ptemp, fi.name);
    apr_dir_close(d);
    qsort(names->elts, names->nelts, sizeof(const char *), cmp_names);
    h = pds_sha256_make(ptemp);
    for (i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const char *size;
        char *data = NULL;
        apr_size_t len = 0;
        apr_file_t *f;
        apr_finfo_t ff;
        if (apr_file_open(&f, apr_pstrcat(ptemp, dir, "/", name, NULL), APR_READ | APR_BINARY,
                          0, ptemp) != APR_SUCCESS)
            return NULL;
        if (apr_file_info_get(&ff, APR_FINFO_SIZE, f) == APR_SUCCESS && ff.size > 0) {
            data = apr_palloc(ptemp, (apr_size_t)ff.size);
            if (apr_file_read_full(f, data, (apr_size_t)ff.size, &len) != APR_SUCCESS) len = 0;
        }
        apr_file_close(f);
        size = apr_off_t_toa(ptemp, (apr_off_t)len);
        pds_sha256_update(h, name, strlen(name) + 1);
        pds_sha256_update(h, size, strlen(size) + 1);
        if (len) pds_sha256_update(h, data, len);
    }
    return apr_pstrndup(pconf, pds_sha256_final_hex(ptemp, h), 16);
}

/* Checks across directives, and defaults filled in, once the whole
 * configuration is read. */
int pdshare_config_check(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *template_sets = apr_hash_make(ptemp);
    server_rec *sp;

    if (pds_http_global_init() != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PDS00007: libcurl failed to initialise");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pdshare_dbd_available()) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PDS00001: mod_pdshare needs mod_dbd: "
                     "add 'LoadModule dbd_module modules/mod_dbd.so' (Debian: a2enmod dbd) "
                     "and DBDriver/DBDParams");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (sp = s; sp; sp = sp->next) {
        pdshare_srv_conf *c = ap_get_module_config(sp->module_config, &pdshare_module);
        const char *err;
        if (!c->htdocs) c->htdocs = PDSHARE_HTDOCS;
        if (!c->api_url) c->api_url = PDS_DEFAULT_API_URL;
        if (!c->content_url) c->content_url = PDS_DEFAULT_CONTENT_URL;
        if (!c->authorize_url) c->authorize_url = PDS_DEFAULT_AUTHORIZE_URL;
        if (!c->dropbox_root) c->dropbox_root = PDS_DEFAULT_ROOT;
        if (c->connect_timeout < 0) c->connect_timeout = PDS_DEFAULT_CONNECT_TIMEOUT;
        if (c->total_timeout < 0) c->total_timeout = PDS_DEFAULT_TOTAL_TIMEOUT;
        if (c->templink_ttl < 0) c->templink_ttl = PDS_DEFAULT_TEMPLINK_TTL;
        if (c->max_tracks < 0) c->max_tracks = PDS_DEFAULT_MAX_TRACKS;
        if (c->export_single_folder < 0) c->export_single_folder = 0;
        if (!c->export_by_status) c->export_by_status = PDS_DEFAULT_EXPORT_BY_STATUS;
        if (!c->share_path) c->share_path = PDS_DEFAULT_SHARE_PATH;
        if (c->job_lease < 0) c->job_lease = PDS_DEFAULT_JOB_LEASE;
        c->settings.share_path = c->share_path;
        c->settings.max_tracks = c->max_tracks;
        c->settings.dropbox_root = c->dropbox_root;

        if (c->app_key && (!c->data_key || !c->app_secret)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, "PDS00002: PDShareDropboxAppKey is set, "
                         "so PDShareDataKeyFile and PDShareDropboxAppSecretFile are required");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (c->app_key) {
            c->dbx_enabled = 1;
            c->dbx.api_url = c->api_url;
            c->dbx.content_url = c->content_url;
            c->dbx.authorize_url = c->authorize_url;
            c->dbx.app_key = c->app_key;
            c->dbx.app_secret = c->app_secret;
            c->dbx.connect_timeout = c->connect_timeout;
            c->dbx.total_timeout = c->total_timeout;
        }
        c->settings.dbx = c->dbx_enabled ? &c->dbx : NULL;
        c->settings.data_key = c->data_key;
        if (c->memcache && !c->cache) {
            int threads = 0;
            const char *why = NULL;
            /* As mod_socache_memcache: the most threads a child can ever
             * have (ThreadLimit), not today's ThreadsPerChild. */
            ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
            if (pds_cache_memcache(pconf, c->memcache, threads > 0 ? threads : 1, &c->cache,
                                   &why) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, "PDS00006: PDShareMemcache: %s", why);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        /* The children write uploads as the server's User: as root, hand the
         * storage directory to it, as mod_md does with its store. */
        if (c->storage_dir && geteuid() == 0
            && chown(c->storage_dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, errno, sp, "PDS00009: PDShareStorageDir: cannot"
                         " give %s to the server's User", c->storage_dir);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (c->smtp_url && !c->mail_from) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp,
                         "PDS00003: PDShareSMTP is set, so PDShareMailFrom is required");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* Templates are parsed once per directory, here, not per request. */
        c->templates = apr_hash_get(template_sets, c->htdocs, APR_HASH_KEY_STRING);
        if (!c->templates) {
            const char *dir = apr_pstrcat(ptemp, c->htdocs, "/templates", NULL);
            c->templates = pds_tmpl_set_make(pconf);
            if ((err = pds_tmpl_load_dir(c->templates, dir))) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, "PDS00004: PDShareHtdocs: %s", err);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            if (!pds_tmpl_has(c->templates, "share") || !pds_tmpl_has(c->templates, "notice")) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, "PDS00005: PDShareHtdocs: %s must "
                             "hold share.html and notice.html", dir);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            apr_hash_set(template_sets, c->htdocs, APR_HASH_KEY_STRING, c->templates);
        }
        c->assets_version = assets_version(pconf, ptemp,
                                           apr_pstrcat(ptemp, c->htdocs, "/assets", NULL));
    }
    return OK;
}

void pdshare_child_init(apr_pool_t *pchild, server_rec *s)
{
    pds_cache_t *local = NULL;
    server_rec *sp;
    for (sp = s; sp; sp = sp->next) {
        pdshare_srv_conf *c = ap_get_module_config(sp->module_config, &pdshare_module);
        if (c->cache) continue;
        if (!local && pds_cache_inproc(pchild, 10000, &local) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, "PDS00008: cannot create the in-process"
                         " link cache; every download will ask Dropbox for a link");
            return;
        }
        c->cache = local;
    }
}
