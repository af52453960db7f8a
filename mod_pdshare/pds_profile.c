#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_db_args.h"
#include "pds_profile.h"

pds_err_t *pds_profile_get(pds_ctx_t *ctx, const char *username, json_t **out)
{
    pds_rows_t *rs;
    const char **r = NULL;
    json_t *o;
    if (pds_db_select(ctx->db, "pds_producer_get", &rs, 1, (const char *[]){ username }))
        return pds_db_failed(ctx);
    if (rs->rows->nelts) r = PDS_ROW(rs, 0);
    o = json_object();
    json_object_set_new(o, "username", json_string(username));
    json_object_set_new(o, "display_name", json_string(r && r[0] ? r[0] : username));
    json_object_set_new(o, "avatar_url", r && r[1] ? json_string(r[1]) : json_null());
    json_object_set_new(o, "header_url", r && r[2] ? json_string(r[2]) : json_null());
    json_object_set_new(o, "theme", json_pack("{s:s,s:s}",
                        "accent", r && r[3] ? r[3] : "#ff5a36",
                        "background", r && r[4] ? r[4] : "#111318"));
    json_object_set_new(o, "profile_url", r && r[5] ? json_string(r[5]) : json_null());
    *out = o;
    return NULL;
}

pds_err_t *pds_profile_put(pds_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const fields[] = { "display_name", "avatar_url", "header_url",
                                          "profile_url", "theme", NULL };
    static const char *const theme_fields[] = { "accent", "background", NULL };
    const char *name, *avatar, *header, *accent = NULL, *bg = NULL, *purl;
    pds_presence_e pn, pa, ph, pc = PDS_ABSENT, pb = PDS_ABSENT, pu;
    json_t *cur, *theme;
    pds_err_t *e;

    if ((e = pds_fields_known(ctx->pool, body, fields))
        || (e = pds_field_name(ctx->pool, body, "display_name", 100, &name, &pn))
        || (e = pds_field_url(ctx->pool, body, "avatar_url", &avatar, &pa))
        || (e = pds_field_url(ctx->pool, body, "header_url", &header, &ph))
        || (e = pds_field_url(ctx->pool, body, "profile_url", &purl, &pu))) return e;
    theme = json_object_get(body, "theme");
    if (theme && !json_is_null(theme)) {
        if (!json_is_object(theme))
            return pds_err(ctx->pool, 400, "invalid_field", "theme: must be an object");
        if ((e = pds_fields_known(ctx->pool, theme, theme_fields))
            || (e = pds_field_color(ctx->pool, theme, "accent", &accent, &pc))
            || (e = pds_field_color(ctx->pool, theme, "background", &bg, &pb))) {
            e->message = apr_pstrcat(ctx->pool, "theme.", e->message, NULL);
            return e;
        }
    }
    if (pn == PDS_SET && !*name)
        return pds_err(ctx->pool, 400, "invalid_field", "display_name: must not be empty");
    if ((e = pds_profile_get(ctx, ctx->user, &cur))) return e;
    pds_json_pool(ctx->pool, cur);
    /* Fields left out keep their value; null clears. */
#define KEEP(pr, val, key) if ((pr) == PDS_ABSENT) val = json_string_value(json_object_get(cur, key))
    KEEP(pn, name, "display_name");
    KEEP(pa, avatar, "avatar_url");
    KEEP(ph, header, "header_url");
    KEEP(pu, purl, "profile_url");
#undef KEEP
    if (pc == PDS_ABSENT)
        accent = json_string_value(json_object_get(json_object_get(cur, "theme"), "accent"));
    if (pb == PDS_ABSENT)
        bg = json_string_value(json_object_get(json_object_get(cur, "theme"), "background"));
    if (pn == PDS_NULL) name = NULL;
    {
        const char *now = pds_db_i64(ctx->pool, ctx->now);
        if (EXEC(ctx->db, "pds_producer_put", NULL, ctx->user, name, avatar, header,
                 accent, bg, purl, now, now))
            return pds_db_failed(ctx);
    }
    return pds_profile_get(ctx, ctx->user, out);
}

