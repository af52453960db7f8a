#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_db_args.h"
#include "pds_track.h"
#include "pds_collab.h"
#include "pds_invite.h"
#include "pds_collaborator.h"

/* The fields of a collaborator, for POST and PATCH. */
static const char *const collab_fields[] = { "name", "email", "avatar_url", "role", "username",
                                             NULL };

static json_t *collab_json(apr_pool_t *p, const char **r)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "id", r[0], "track_id", r[1],
                     "name", r[2], "email", pds_json_str_or_null(r[3]),
                     "avatar_url", pds_json_str_or_null(r[4]),
                     "role", pds_json_str_or_null(r[5]), "username", pds_json_str_or_null(r[6]));
}

pds_err_t *pds_collaborator_add(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out)
{
    const char **row, *name, *email, *avatar, *role, *username, *id;
    pds_presence_e pr;
    pds_err_t *e;
    if ((e = pds_fields_known(ctx->pool, body, collab_fields))) return e;
    if ((e = pds_track_row(ctx, track_id, &row))) return e;
    if ((e = pds_field_name(ctx->pool, body, "name", 100, &name, &pr))) return e;
    if (pr != PDS_SET || !*name)
        return pds_err(ctx->pool, 400, "invalid_field", "name: is required");
    if ((e = pds_field_email(ctx->pool, body, "email", &email, &pr))
        || (e = pds_field_url(ctx->pool, body, "avatar_url", &avatar, &pr))
        || (e = pds_field_name(ctx->pool, body, "role", 50, &role, &pr))
        || (e = pds_field_username(ctx->pool, body, "username", &username, &pr))) return e;
    if (role && !*role) role = NULL;
    id = pds_new_id(ctx->pool, "c");
    if (EXEC(ctx->db, "pds_collab_insert", NULL, id, track_id, ctx->user, name, email, avatar,
             role, username, pds_db_i64(ctx->pool, ctx->now)))
        return pds_db_failed(ctx);
    return pds_track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators", id, out);
}

pds_err_t *pds_collaborator_delete(pds_ctx_t *ctx, const char *track_id, const char *cid)
{
    const char **row;
    pds_err_t *e;
    int n = 0;
    if ((e = pds_track_row(ctx, track_id, &row))) return e;
    if (!pds_valid_id(cid)) return pds_not_found(ctx, "collaborator");
    if (EXEC(ctx->db, "pds_collab_delete", &n, cid, track_id, ctx->user))
        return pds_db_failed(ctx);
    if (!n) return pds_not_found(ctx, "collaborator");
    /* Their access to the shared folder goes too (a job). */
    return pds_collab_removed(ctx, track_id, cid);
}

/* PATCH a collaborator: fields left out keep their value, null clears. */
pds_err_t *pds_collaborator_patch(pds_ctx_t *ctx, const char *track_id, const char *cid,
                                  json_t *body, json_t **out)
{
    json_t *cur;
    const char *v[5];
    pds_presence_e pr;
    pds_err_t *e;
    const char *s;
    static const char *const keys[] = { "name", "email", "avatar_url", "role", "username" };
    int i, renamed;
    if ((e = pds_fields_known(ctx->pool, body, collab_fields))) return e;
    if (!pds_valid_id(cid)) return pds_not_found(ctx, "collaborator");
    /* The current values live in the pool, not in *out: an error after this
     * point must leave *out empty (the caller frees what it holds). */
    if ((e = pds_track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators", cid, &cur)))
        return e;
    pds_json_pool(ctx->pool, cur);
    for (i = 0; i < 5; i++) v[i] = json_string_value(json_object_get(cur, keys[i]));
    if ((e = pds_field_name(ctx->pool, body, "name", 100, &s, &pr))) return e;
    if (pr == PDS_NULL || (pr == PDS_SET && !*s))
        return pds_err(ctx->pool, 400, "invalid_field", "name: is required");
    if (pr == PDS_SET) v[0] = s;
    if ((e = pds_field_email(ctx->pool, body, "email", &s, &pr))) return e;
    if (pr != PDS_ABSENT) v[1] = s;
    if ((e = pds_field_url(ctx->pool, body, "avatar_url", &s, &pr))) return e;
    if (pr != PDS_ABSENT) v[2] = s;
    if ((e = pds_field_name(ctx->pool, body, "role", 50, &s, &pr))) return e;
    if (pr != PDS_ABSENT) v[3] = s && *s ? s : NULL;
    if ((e = pds_field_username(ctx->pool, body, "username", &s, &pr))) return e;
    /* Another producer named: what was offered to the one before is withdrawn. */
    renamed = pr != PDS_ABSENT && v[4] && (!s || strcmp(s, v[4]));
    if (pr != PDS_ABSENT) v[4] = s;
    if (EXEC(ctx->db, "pds_collab_update", NULL, v[0], v[1], v[2], v[3], v[4], cid, track_id,
             ctx->user))
        return pds_db_failed(ctx);
    if (renamed && (e = pds_invitation_withdraw(ctx, track_id, cid))) return e;
    return pds_track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators", cid, out);
}

pds_err_t *pds_collaborator_list(pds_ctx_t *ctx, const char *track_id, json_t **out)
{
    return pds_track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators",
                              NULL, out);
}
