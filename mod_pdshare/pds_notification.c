#include "pds_util.h"
#include "pds_db_args.h"
#include "pds_notification.h"

pds_err_t *pds_notification_list(pds_ctx_t *ctx, json_t **out)
{
    pds_rows_t *rs;
    json_t *arr = json_array();
    int i;
    if (SELECT(ctx->db, "pds_notification_list", &rs, ctx->user)) {
        json_decref(arr);
        return pds_db_failed(ctx);
    }
    for (i = 0; i < rs->rows->nelts; i++) {
        const char **r = PDS_ROW(rs, i);
        json_t *data = r[3] ? json_loads(r[3], 0, NULL) : NULL;
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o,s:o,s:b}", "id", r[0],
                              "kind", r[1], "message", r[2], "data", data ? data : json_null(),
                              "created_at", pds_json_time_or_null(ctx->pool, r[4]),
                              "read", r[5] != NULL));
    }
    *out = pds_json_wrap("notifications", arr);
    return NULL;
}

