#include <string.h>

#include "pds_util.h"
#include "pds_base.h"

void pds_settings_init(pds_settings_t *s)
{
    memset(s, 0, sizeof(*s));
    s->share_path = PDS_DEFAULT_SHARE_PATH;
    s->max_tracks = PDS_DEFAULT_MAX_TRACKS;
    s->dropbox_root = PDS_DEFAULT_ROOT;
}

pds_err_t *pds_db_failed(pds_ctx_t *ctx)
{
    return pds_err_of(ctx->pool, PDS_ERR_DATABASE, 503, "unavailable", ctx->db->last_error,
                      "the database is not available; try again shortly");
}

pds_err_t *pds_not_found(pds_ctx_t *ctx, const char *what)
{
    return pds_err(ctx->pool, 404, "not_found", "no such %s", what);
}
