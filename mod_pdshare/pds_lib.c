#include "pds_util.h"
#include "pds_lib.h"
#include "pds_connect.h"
#include "pds_collab.h"
#include "pds_export.h"

const pds_job_kind_t *const pds_job_kinds[] = {
    &pds_collab_share_job,
    &pds_collab_remove_job,
    &pds_collab_mount_job,
    &pds_export_job,
    NULL
};

pds_ctx_t *pds_ctx_make(apr_pool_t *p, const apr_dbd_driver_t *driver, apr_dbd_t *handle,
                        apr_hash_t *prepared, const pds_settings_t *settings)
{
    pds_ctx_t *ctx = apr_pcalloc(p, sizeof(*ctx));
    ctx->pool = p;
    ctx->db = apr_pcalloc(p, sizeof(*ctx->db));
    ctx->db->pool = p;
    ctx->db->driver = driver;
    ctx->db->handle = handle;
    ctx->db->prepared = prepared;
    ctx->settings = settings;
    ctx->now = pds_now();
    ctx->dbx = apr_pcalloc(p, sizeof(*ctx->dbx));
    ctx->dbx->ctx = ctx;
    ctx->dbx->dbx = settings->dbx;
    ctx->dbx->key = settings->data_key;
    ctx->dbx->root = settings->dropbox_root;
    return ctx;
}
