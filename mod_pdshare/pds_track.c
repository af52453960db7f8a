#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_db_args.h"
#include "pds_connect.h"
#include "pds_invite.h"
#include "pds_track.h"

static const char *const sharing_statuses[] = { "private", "wip", "released", NULL };
static const char *const categories[] = { "master", "bounce", "stem", "project", NULL };

json_t *pds_track_json(apr_pool_t *p, const char **row)
{
    json_t *t = json_object();
    apr_int64_t v = 1;
    json_object_set_new(t, "id", json_string(row[TR_ID]));
    json_object_set_new(t, "title", pds_json_str_or_null(row[TR_TITLE]));
    json_object_set_new(t, "bpm", row[TR_BPM] ? json_real(atof(row[TR_BPM])) : json_null());
    json_object_set_new(t, "key", pds_json_str_or_null(row[TR_KEY]));
    json_object_set_new(t, "artwork_url", pds_json_str_or_null(row[TR_ARTWORK]));
    json_object_set_new(t, "bucket", pds_json_str_or_null(row[TR_BUCKET]));
    json_object_set_new(t, "alias", pds_json_str_or_null(row[TR_ALIAS]));
    json_object_set_new(t, "group_id", pds_json_str_or_null(row[TR_GROUP]));
    pds_parse_int64(row[TR_VERSION], 0, APR_INT64_MAX, &v);
    json_object_set_new(t, "version", json_integer(v));
    json_object_set_new(t, "sharing_status", pds_json_str_or_null(row[TR_STATUS]));
    json_object_set_new(t, "created_at", pds_json_time_or_null(p, row[TR_CREATED]));
    json_object_set_new(t, "updated_at", pds_json_time_or_null(p, row[TR_UPDATED]));
    return t;
}

/* ----------------------------------------------------------------- tracks */

pds_err_t *pds_track_row(pds_ctx_t *ctx, const char *id, const char ***row)
{
    pds_rows_t *rs;
    if (!pds_valid_id(id)) return pds_not_found(ctx, "track");
    if (SELECT(ctx->db, "pds_track_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return pds_not_found(ctx, "track");
    *row = PDS_ROW(rs, 0);
    return NULL;
}

/* Validate a track body. For a create, `cur` is NULL; for a PATCH, fields
 * left out keep their current value from `cur`. */
static pds_err_t *track_fields(pds_ctx_t *ctx, json_t *body, const char **cur,
                               const char **vals)
{
    static const char *const fields[] = { "title", "bpm", "key", "artwork_url", "bucket", "alias",
                                          "group_id", "version", "sharing_status", NULL };
    pds_presence_e pr;
    pds_err_t *e;
    const char *s;
    double bpm;
    apr_int64_t version;
    int i;

    if (cur) for (i = 0; i < TR_NCOLS; i++) vals[i] = cur[i];
    else for (i = 0; i < TR_NCOLS; i++) vals[i] = NULL;

    if ((e = pds_fields_known(ctx->pool, body, fields))
        || (e = pds_field_name(ctx->pool, body, "title", 200, &s, &pr))) return e;
    if (pr == PDS_SET && !*s) pr = PDS_NULL;
    if (pr == PDS_NULL || (!cur && pr == PDS_ABSENT))
        return pds_err(ctx->pool, 400, "invalid_field", "title: is required");
    if (pr == PDS_SET) vals[TR_TITLE] = s;

    if ((e = pds_field_number(ctx->pool, body, "bpm", 1, 999, &bpm, &pr))) return e;
    if (pr == PDS_SET) vals[TR_BPM] = apr_psprintf(ctx->pool, "%.17g", bpm);
    else if (pr == PDS_NULL) vals[TR_BPM] = NULL;

#define TEXT(check, name, idx, max) \
    if ((e = check(ctx->pool, body, name, max, &s, &pr))) return e; \
    if (pr == PDS_SET) vals[idx] = *s ? s : NULL; else if (pr == PDS_NULL) vals[idx] = NULL
    TEXT(pds_field_name, "key", TR_KEY, 32);        /* shown on the share page */
    TEXT(pds_field_text, "bucket", TR_BUCKET, 100);
    TEXT(pds_field_text, "group_id", TR_GROUP, 100);
#undef TEXT
    if ((e = pds_field_url(ctx->pool, body, "artwork_url", &s, &pr))) return e;
    if (pr != PDS_ABSENT) vals[TR_ARTWORK] = s;
    if ((e = pds_field_alias(ctx->pool, body, "alias", &s, &pr))) return e;
    if (pr != PDS_ABSENT) vals[TR_ALIAS] = s;
    if ((e = pds_field_int(ctx->pool, body, "version", 1, 1000000, &version, &pr))) return e;
    if (pr == PDS_SET) vals[TR_VERSION] = pds_db_i64(ctx->pool, version);
    else if (pr == PDS_NULL)
        return pds_err(ctx->pool, 400, "invalid_field", "version: must be a whole number");
    if (!vals[TR_VERSION]) vals[TR_VERSION] = "1";
    if ((e = pds_field_enum(ctx->pool, body, "sharing_status", sharing_statuses, &s, &pr)))
        return e;
    if (pr == PDS_SET) vals[TR_STATUS] = s;
    else if (pr == PDS_NULL)
        return pds_err(ctx->pool, 400, "invalid_field",
                       "sharing_status: must be one of private, wip, released");
    if (!vals[TR_STATUS]) vals[TR_STATUS] = "private";
    return NULL;
}

pds_err_t *pds_track_create(pds_ctx_t *ctx, json_t *body, json_t **out)
{
    const char *v[TR_NCOLS];
    const char *id, *now, **row;
    pds_err_t *e;
    if ((e = track_fields(ctx, body, NULL, v))) return e;
    id = pds_new_id(ctx->pool, "t");
    now = pds_db_i64(ctx->pool, ctx->now);
    if (EXEC(ctx->db, "pds_track_insert", NULL, id, ctx->user, v[TR_TITLE], v[TR_BPM], v[TR_KEY],
             v[TR_ARTWORK], v[TR_BUCKET], v[TR_ALIAS], v[TR_GROUP], v[TR_VERSION],
             v[TR_STATUS], now, now))
        return pds_db_failed(ctx);
    if ((e = pds_track_row(ctx, id, &row))) return e;
    *out = pds_track_json(ctx->pool, row);
    return NULL;
}

pds_err_t *pds_track_patch(pds_ctx_t *ctx, const char *id, json_t *body, json_t **out)
{
    const char *v[TR_NCOLS];
    const char **row;
    pds_err_t *e;
    if ((e = pds_track_row(ctx, id, &row))) return e;
    if ((e = track_fields(ctx, body, row, v))) return e;
    if (EXEC(ctx->db, "pds_track_update", NULL, v[TR_TITLE], v[TR_BPM], v[TR_KEY],
             v[TR_ARTWORK], v[TR_BUCKET], v[TR_ALIAS], v[TR_GROUP], v[TR_VERSION],
             v[TR_STATUS], pds_db_i64(ctx->pool, ctx->now), id, ctx->user))
        return pds_db_failed(ctx);
    if ((e = pds_track_row(ctx, id, &row))) return e;
    *out = pds_track_json(ctx->pool, row);
    return NULL;
}

pds_err_t *pds_track_delete(pds_ctx_t *ctx, const char *id)
{
    const char **row;
    pds_err_t *e;
    pds_rows_t *cs;
    int failed, i;
    if ((e = pds_track_row(ctx, id, &row))) return e;
    if (pds_db_begin(ctx->db)) return pds_db_failed(ctx);
    /* The invitations its collaborators were sent go with it (and their notices). */
    failed = SELECT(ctx->db, "pds_collab_list", &cs, id, ctx->user) != APR_SUCCESS;
    for (i = 0; !failed && i < cs->rows->nelts; i++)
        failed = pds_invitation_withdraw(ctx, id, PDS_ROW(cs, i)[0]) != NULL;
    failed = failed || EXEC(ctx->db, "pds_track_delete_files", NULL, id, ctx->user)
          || EXEC(ctx->db, "pds_track_delete_collabs", NULL, id, ctx->user)
          || EXEC(ctx->db, "pds_track_delete", NULL, id, ctx->user);
    if (pds_db_end(ctx->db, failed) || failed) return pds_db_failed(ctx);
    return NULL;
}

pds_err_t *pds_track_list(pds_ctx_t *ctx, const char *bucket, json_t **out)
{
    pds_rows_t *rs;
    json_t *arr;
    int i;
    apr_status_t rv = bucket ? SELECT(ctx->db, "pds_track_list_bucket", &rs, ctx->user, bucket)
                             : SELECT(ctx->db, "pds_track_list", &rs, ctx->user);
    if (rv) return pds_db_failed(ctx);
    arr = json_array();
    for (i = 0; i < rs->rows->nelts; i++)
        json_array_append_new(arr, pds_track_json(ctx->pool, PDS_ROW(rs, i)));
    *out = pds_json_wrap("tracks", arr);
    return NULL;
}

/* ------------------------------------------------------------------ files */

static json_t *file_json(apr_pool_t *p, const char **r)
{
    apr_int64_t size = 0;
    json_t *f = json_object();
    int local = r[8] != NULL;
    json_object_set_new(f, "id", json_string(r[0]));
    json_object_set_new(f, "track_id", json_string(r[1]));
    json_object_set_new(f, "category", json_string(r[2]));
    json_object_set_new(f, "dropbox_path", pds_json_str_or_null(r[3]));
    json_object_set_new(f, "name", json_string(r[4]));
    json_object_set_new(f, "format", pds_json_str_or_null(r[5]));
    json_object_set_new(f, "size", r[6] && !pds_parse_int64(r[6], 0, APR_INT64_MAX, &size)
                        ? json_integer(size) : json_null());
    json_object_set_new(f, "imported", json_true());
    json_object_set_new(f, "created_at", pds_json_time_or_null(p, r[7]));
    /* Uploaded files: kept here, and exported to Dropbox by policy. */
    json_object_set_new(f, "uploaded", json_boolean(local));
    if (local) {
        json_object_set_new(f, "sha256", pds_json_str_or_null(r[10]));
        json_object_set_new(f, "final", json_boolean(r[11] && atoi(r[11])));
        json_object_set_new(f, "export", json_string(r[9] ? r[9] : "none"));
    }
    return f;
}

/* A track's files or collaborators as {"<key>": [...]}, or, with `only`, the
 * one row whose id is `only`. */
pds_err_t *pds_track_children(pds_ctx_t *ctx, const char *track_id, const char *label,
                                 json_t *(*to_json)(apr_pool_t *, const char **),
                                 const char *key, const char *only, json_t **out)
{
    const char **row;
    pds_rows_t *rs;
    pds_err_t *e;
    json_t *arr;
    int i;
    if ((e = pds_track_row(ctx, track_id, &row))) return e;
    if (SELECT(ctx->db, label, &rs, track_id, ctx->user)) return pds_db_failed(ctx);
    for (i = 0; only && i < rs->rows->nelts; i++) {
        if (!strcmp(PDS_ROW(rs, i)[0], only)) {
            *out = to_json(ctx->pool, PDS_ROW(rs, i));
            return NULL;
        }
    }
    if (only) return pds_err(ctx->pool, 404, "not_found", "no such entry in %s", key);
    arr = json_array();
    for (i = 0; i < rs->rows->nelts; i++)
        json_array_append_new(arr, to_json(ctx->pool, PDS_ROW(rs, i)));
    *out = pds_json_wrap(key, arr);
    return NULL;
}

/* The Dropbox folders a track's files live in: the folders of its registered
 * files, and with an alias the structured layout <root>/<category>/<alias>. */
static apr_array_header_t *track_folders(pds_ctx_t *ctx, const char **track, json_t *files)
{
    static const char *const cats[] = { "bounces", "stems", "projects" };
    apr_array_header_t *folders = apr_array_make(ctx->pool, 4, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(ctx->pool);
    size_t k;
    int i;
    json_t *f;
    json_array_foreach(files, k, f) {
        const char *path = json_string_value(json_object_get(f, "dropbox_path"));
        const char *slash = path ? strrchr(path, '/') : NULL;
        if (slash && slash > path) {
            const char *dir = apr_pstrndup(ctx->pool, path, slash - path);
            if (!apr_hash_get(seen, dir, APR_HASH_KEY_STRING)) {
                apr_hash_set(seen, dir, APR_HASH_KEY_STRING, "");
                APR_ARRAY_PUSH(folders, const char *) = dir;
            }
        }
    }
    for (i = 0; track[TR_ALIAS] && ctx->settings->dropbox_root && i < 3; i++) {
        const char *dir = apr_pstrcat(ctx->pool, ctx->settings->dropbox_root, "/", cats[i], "/",
                                      track[TR_ALIAS], NULL);
        if (!apr_hash_get(seen, dir, APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, dir, APR_HASH_KEY_STRING, "");
            APR_ARRAY_PUSH(folders, const char *) = dir;
        }
    }
    return folders;
}

static const char *category_of_folder(const char *path)
{
    if (strstr(path, "/stems/") || strstr(path, "/stems")) return "stem";
    if (strstr(path, "/projects/") || strstr(path, "/projects")) return "project";
    return "bounce";
}

/* GET /tracks/{id}/files: the registered files, then those found in the
 * track's Dropbox folders that are not registered ("imported": false). */
pds_err_t *pds_file_list(pds_ctx_t *ctx, const char *track_id, json_t **out)
{
    pds_dbx_session_t *s;
    const char **track;
    json_t *files, *found, *f;
    apr_hash_t *known = apr_hash_make(ctx->pool);
    pds_err_t *e;
    size_t k;
    int truncated = 0;

    if ((e = pds_track_children(ctx, track_id, "pds_file_list", file_json, "files", NULL, out)))
        return e;
    files = json_object_get(*out, "files");
    if (!ctx->dbx || !ctx->dbx->dbx) {
        json_object_set_new(*out, "dropbox", json_string("not_configured"));
        return NULL;
    }
    if ((e = pds_track_row(ctx, track_id, &track))) return e;
    if ((e = pds_dbx_session(ctx->dbx, ctx->user, &s))) {
        json_object_set_new(*out, "dropbox", json_string(!strcmp(e->code, "not_connected")
                                                         ? "not_connected" : "unavailable"));
        return NULL;
    }
    if (pds_dbx_list_files(ctx->dbx, s, track_folders(ctx, track, files), &found, &truncated)) {
        json_object_set_new(*out, "dropbox", json_string("unavailable"));
        return NULL;
    }
    /* Dropbox paths are case-insensitive. */
    json_array_foreach(files, k, f) {
        const char *path = json_string_value(json_object_get(f, "dropbox_path"));
        if (path) apr_hash_set(known, pds_lower(ctx->pool, path), APR_HASH_KEY_STRING, "");
    }
    json_array_foreach(found, k, f) {
        const char *path = json_string_value(json_object_get(f, "path"));
        if (apr_hash_get(known, pds_lower(ctx->pool, path), APR_HASH_KEY_STRING)) continue;
        json_array_append_new(files, json_pack("{s:n,s:s,s:s,s:O,s:s,s:O,s:b}", "id",
                              "track_id", track_id, "category", category_of_folder(path),
                              "name", json_object_get(f, "name"), "dropbox_path", path,
                              "size", json_object_get(f, "size"), "imported", 0));
    }
    json_decref(found);
    json_object_set_new(*out, "dropbox", json_string("ok"));
    json_object_set_new(*out, "truncated", json_boolean(truncated));
    return NULL;
}

pds_err_t *pds_file_register(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out)
{
    static const char *const fields[] = { "category", "dropbox_path", "name", "format", "size",
                                          NULL };
    const char **row, *cat, *path, *name, *format, *id, *now;
    pds_presence_e pr;
    apr_int64_t size = 0;
    pds_err_t *e;

    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if ((e = pds_track_row(ctx, track_id, &row))) return e;
    if ((e = pds_field_enum(ctx->pool, body, "category", categories, &cat, &pr))) return e;
    if (pr != PDS_SET)
        return pds_err(ctx->pool, 400, "invalid_field",
                       "category: is required (master, bounce, stem or project)");
    if ((e = pds_field_text(ctx->pool, body, "dropbox_path", 1024, &path, &pr))) return e;
    if (pr != PDS_SET || !pds_valid_dropbox_path(path))
        return pds_err(ctx->pool, 400, "invalid_field", "dropbox_path: must be an absolute"
                       " Dropbox path like /PRODUCER-DASHBOARD/bounces/mix.wav, without . or .."
                       " segments");
    if ((e = pds_field_name(ctx->pool, body, "name", 255, &name, &pr))) return e;
    if (pr != PDS_SET || !pds_valid_file_name(name))
        return pds_err(ctx->pool, 400, "invalid_field",
                       "name: is required, one file name without / or control characters");
    if ((e = pds_field_text(ctx->pool, body, "format", 16, &format, &pr))) return e;
    if (format && (!*format || strspn(format, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(format)))
        return pds_err(ctx->pool, 400, "invalid_field", "format: letters and digits only, like wav");
    if ((e = pds_field_int(ctx->pool, body, "size", 0, APR_INT64_C(1) << 42, &size, &pr)))
        return e;
    id = pds_new_id(ctx->pool, "f");
    now = pds_db_i64(ctx->pool, ctx->now);
    if (EXEC(ctx->db, "pds_file_insert", NULL, id, track_id, ctx->user, cat, path, name, format,
             pr == PDS_SET ? pds_db_i64(ctx->pool, size) : NULL, now))
        return pds_db_failed(ctx);
    return pds_track_children(ctx, track_id, "pds_file_list", file_json, "files", id, out);
}

pds_err_t *pds_file_get(pds_ctx_t *ctx, const char *track_id, const char *file_id, json_t **out)
{
    return pds_track_children(ctx, track_id, "pds_file_list", file_json, "files", file_id, out);
}

