#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_api.h"
#include "pds_page.h"
#include "pds_connect.h"
#include "pds_collab.h"
#include "pds_invite.h"
#include "pds_export.h"
#include "pds_db_args.h"

static const char *const sharing_statuses[] = { "private", "wip", "released", NULL };
static const char *const categories[] = { "master", "bounce", "stem", "project", NULL };

pds_err_t *pds_db_failed(pds_ctx_t *ctx)
{
    return pds_err_of(ctx->pool, PDS_ERR_DATABASE, 503, "unavailable", ctx->db->last_error,
                      "the database is not available; try again shortly");
}

void pds_reply_error(pds_ctx_t *ctx, pds_reply_t *out, const pds_err_t *e)
{
    json_t *err = json_pack("{s:{s:s,s:s}}", "error", "code", e->code, "message", e->message);
    if (!err)   /* a message that is not UTF-8 (it may quote the request) */
        err = json_pack("{s:{s:s,s:s}}", "error", "code", e->code, "message", "the request was refused");
    out->status = e->status;
    out->kind = e->kind;
    out->body = pds_json_pool(ctx->pool, err);
    /* Detail for the log only (never a secret); the kind says what failed. */
    if (!out->log) out->log = e->detail;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *time_or_null(apr_pool_t *p, const char *epoch)
{
    apr_int64_t t;
    if (!epoch || pds_parse_int64(epoch, 0, APR_INT64_MAX, &t)) return json_null();
    return json_string(pds_iso8601(p, t));
}

json_t *pds_track_json(apr_pool_t *p, const char **row)
{
    json_t *t = json_object();
    apr_int64_t v = 1;
    json_object_set_new(t, "id", json_string(row[TR_ID]));
    json_object_set_new(t, "title", str_or_null(row[TR_TITLE]));
    json_object_set_new(t, "bpm", row[TR_BPM] ? json_real(atof(row[TR_BPM])) : json_null());
    json_object_set_new(t, "key", str_or_null(row[TR_KEY]));
    json_object_set_new(t, "artwork_url", str_or_null(row[TR_ARTWORK]));
    json_object_set_new(t, "bucket", str_or_null(row[TR_BUCKET]));
    json_object_set_new(t, "alias", str_or_null(row[TR_ALIAS]));
    json_object_set_new(t, "group_id", str_or_null(row[TR_GROUP]));
    pds_parse_int64(row[TR_VERSION], 0, APR_INT64_MAX, &v);
    json_object_set_new(t, "version", json_integer(v));
    json_object_set_new(t, "sharing_status", str_or_null(row[TR_STATUS]));
    json_object_set_new(t, "created_at", time_or_null(p, row[TR_CREATED]));
    json_object_set_new(t, "updated_at", time_or_null(p, row[TR_UPDATED]));
    return t;
}

static pds_err_t *not_found(pds_ctx_t *ctx, const char *what)
{
    return pds_err(ctx->pool, 404, "not_found", "no such %s", what);
}

static json_t *wrap_list(const char *key, json_t *arr)
{
    json_t *o = json_object();
    json_object_set_new(o, key, arr);
    return o;
}

/* ---------------------------------------------------------------- profile */

static pds_err_t *profile_get(pds_ctx_t *ctx, json_t **out)
{
    return pds_profile_get(ctx, ctx->user, out);
}

static pds_err_t *profile_put(pds_ctx_t *ctx, json_t *body, json_t **out)
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
    if ((e = profile_get(ctx, &cur))) return e;
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
    return profile_get(ctx, out);
}

/* ----------------------------------------------------------------- tracks */

static pds_err_t *track_row(pds_ctx_t *ctx, const char *id, const char ***row)
{
    pds_rows_t *rs;
    if (!pds_valid_id(id)) return not_found(ctx, "track");
    if (SELECT(ctx->db, "pds_track_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return not_found(ctx, "track");
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

static pds_err_t *track_create(pds_ctx_t *ctx, json_t *body, json_t **out)
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
    if ((e = track_row(ctx, id, &row))) return e;
    *out = pds_track_json(ctx->pool, row);
    return NULL;
}

static pds_err_t *track_patch(pds_ctx_t *ctx, const char *id, json_t *body, json_t **out)
{
    const char *v[TR_NCOLS];
    const char **row;
    pds_err_t *e;
    if ((e = track_row(ctx, id, &row))) return e;
    if ((e = track_fields(ctx, body, row, v))) return e;
    if (EXEC(ctx->db, "pds_track_update", NULL, v[TR_TITLE], v[TR_BPM], v[TR_KEY],
             v[TR_ARTWORK], v[TR_BUCKET], v[TR_ALIAS], v[TR_GROUP], v[TR_VERSION],
             v[TR_STATUS], pds_db_i64(ctx->pool, ctx->now), id, ctx->user))
        return pds_db_failed(ctx);
    if ((e = track_row(ctx, id, &row))) return e;
    *out = pds_track_json(ctx->pool, row);
    return NULL;
}

static pds_err_t *track_delete(pds_ctx_t *ctx, const char *id)
{
    const char **row;
    pds_err_t *e;
    pds_rows_t *cs;
    int failed, i;
    if ((e = track_row(ctx, id, &row))) return e;
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

static pds_err_t *track_list(pds_ctx_t *ctx, const char *bucket, json_t **out)
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
    *out = wrap_list("tracks", arr);
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
    json_object_set_new(f, "dropbox_path", str_or_null(r[3]));
    json_object_set_new(f, "name", json_string(r[4]));
    json_object_set_new(f, "format", str_or_null(r[5]));
    json_object_set_new(f, "size", r[6] && !pds_parse_int64(r[6], 0, APR_INT64_MAX, &size)
                        ? json_integer(size) : json_null());
    json_object_set_new(f, "imported", json_true());
    json_object_set_new(f, "created_at", time_or_null(p, r[7]));
    /* Uploaded files: kept here, and exported to Dropbox by policy. */
    json_object_set_new(f, "uploaded", json_boolean(local));
    if (local) {
        json_object_set_new(f, "sha256", str_or_null(r[10]));
        json_object_set_new(f, "final", json_boolean(r[11] && atoi(r[11])));
        json_object_set_new(f, "export", json_string(r[9] ? r[9] : "none"));
    }
    return f;
}

/* A track's files or collaborators as {"<key>": [...]}, or, with `only`, the
 * one row whose id is `only`. */
static pds_err_t *track_children(pds_ctx_t *ctx, const char *track_id, const char *label,
                                 json_t *(*to_json)(apr_pool_t *, const char **),
                                 const char *key, const char *only, json_t **out)
{
    const char **row;
    pds_rows_t *rs;
    pds_err_t *e;
    json_t *arr;
    int i;
    if ((e = track_row(ctx, track_id, &row))) return e;
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
    *out = wrap_list(key, arr);
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
static pds_err_t *file_list(pds_ctx_t *ctx, const char *track_id, json_t **out)
{
    pds_dbx_session_t *s;
    const char **track;
    json_t *files, *found, *f;
    apr_hash_t *known = apr_hash_make(ctx->pool);
    pds_err_t *e;
    size_t k;
    int truncated = 0;

    if ((e = track_children(ctx, track_id, "pds_file_list", file_json, "files", NULL, out)))
        return e;
    files = json_object_get(*out, "files");
    if (!ctx->dbx || !ctx->dbx->dbx) {
        json_object_set_new(*out, "dropbox", json_string("not_configured"));
        return NULL;
    }
    if ((e = track_row(ctx, track_id, &track))) return e;
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

static pds_err_t *file_register(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out)
{
    static const char *const fields[] = { "category", "dropbox_path", "name", "format", "size",
                                          NULL };
    const char **row, *cat, *path, *name, *format, *id, *now;
    pds_presence_e pr;
    apr_int64_t size = 0;
    pds_err_t *e;

    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if ((e = track_row(ctx, track_id, &row))) return e;
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
    return track_children(ctx, track_id, "pds_file_list", file_json, "files", id, out);
}

pds_err_t *pds_api_file(pds_ctx_t *ctx, const char *track_id, const char *file_id, json_t **out)
{
    return track_children(ctx, track_id, "pds_file_list", file_json, "files", file_id, out);
}

/* ---------------------------------------------------------- collaborators */

/* The fields of a collaborator, for POST and PATCH. */
static const char *const collab_fields[] = { "name", "email", "avatar_url", "role", "username",
                                             NULL };

static json_t *collab_json(apr_pool_t *p, const char **r)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "id", r[0], "track_id", r[1],
                     "name", r[2], "email", str_or_null(r[3]), "avatar_url", str_or_null(r[4]),
                     "role", str_or_null(r[5]), "username", str_or_null(r[6]));
}

static pds_err_t *collab_add(pds_ctx_t *ctx, const char *track_id, json_t *body, json_t **out)
{
    const char **row, *name, *email, *avatar, *role, *username, *id;
    pds_presence_e pr;
    pds_err_t *e;
    if ((e = pds_fields_known(ctx->pool, body, collab_fields))) return e;
    if ((e = track_row(ctx, track_id, &row))) return e;
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
    return track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators", id, out);
}

static pds_err_t *collab_delete(pds_ctx_t *ctx, const char *track_id, const char *cid)
{
    const char **row;
    pds_err_t *e;
    int n = 0;
    if ((e = track_row(ctx, track_id, &row))) return e;
    if (!pds_valid_id(cid)) return not_found(ctx, "collaborator");
    if (EXEC(ctx->db, "pds_collab_delete", &n, cid, track_id, ctx->user))
        return pds_db_failed(ctx);
    if (!n) return not_found(ctx, "collaborator");
    /* Their access to the shared folder goes too (a job). */
    return pds_collab_removed(ctx, track_id, cid);
}

/* PATCH a collaborator: fields left out keep their value, null clears. */
static pds_err_t *collab_patch(pds_ctx_t *ctx, const char *track_id, const char *cid,
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
    if (!pds_valid_id(cid)) return not_found(ctx, "collaborator");
    /* The current values live in the pool, not in *out: an error after this
     * point must leave *out empty (the caller frees what it holds). */
    if ((e = track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators", cid, &cur)))
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
    return track_children(ctx, track_id, "pds_collab_list", collab_json, "collaborators", cid, out);
}

/* ----------------------------------------------------------------- shares */

const char *pds_share_status(const char **s, apr_int64_t now)
{
    apr_int64_t exp;
    if (s[SH_REVOKED]) return "revoked";
    if (s[SH_EXPIRES] && !pds_parse_int64(s[SH_EXPIRES], 0, APR_INT64_MAX, &exp) && now >= exp)
        return "expired";
    return "active";
}

const char *pds_share_url(pds_ctx_t *ctx, const char *token)
{
    return apr_pstrcat(ctx->pool, ctx->base_url ? ctx->base_url : "",
                       ctx->settings->share_path, "/", token, NULL);
}

static json_t *by_type_zero(void)
{
    json_t *o = json_object();
    int i;
    for (i = 0; i < PDS_CAT_COUNT; i++) json_object_set_new(o, pds_category_names[i], json_integer(0));
    return o;
}

static void add_count(json_t *obj, const char *key, json_int_t n)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + n));
}

/* The share object without stats; tracks from `slots` rows (share_id + TRACK_COLS). */
static json_t *share_json(pds_ctx_t *ctx, const char **s, json_t *tracks, json_t *file_ids)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(s[SH_ID]));
    json_object_set_new(o, "token", json_string(s[SH_TOKEN]));
    json_object_set_new(o, "url", json_string(pds_share_url(ctx, s[SH_TOKEN])));
    json_object_set_new(o, "title", str_or_null(s[SH_TITLE]));
    json_object_set_new(o, "bucket", str_or_null(s[SH_BUCKET]));
    json_object_set_new(o, "status", json_string(pds_share_status(s, ctx->now)));
    json_object_set_new(o, "created_at", time_or_null(ctx->pool, s[SH_CREATED]));
    json_object_set_new(o, "expires_at", time_or_null(ctx->pool, s[SH_EXPIRES]));
    json_object_set_new(o, "revoked_at", time_or_null(ctx->pool, s[SH_REVOKED]));
    json_object_set_new(o, "permissions", json_pack("{s:b,s:b,s:b}",
                        "bounces", s[SH_PB] && atoi(s[SH_PB]),
                        "stems", s[SH_PS] && atoi(s[SH_PS]),
                        "projects", s[SH_PP] && atoi(s[SH_PP])));
    json_object_set_new(o, "tracks", tracks);
    json_object_set_new(o, "file_ids", s[SH_FILES_RESTRICTED] && atoi(s[SH_FILES_RESTRICTED])
                        ? file_ids : (json_decref(file_ids), json_null()));
    return o;
}

static void share_stats_init(json_t *share)
{
    size_t i;
    json_t *t;
    json_object_set_new(share, "views", json_integer(0));
    json_object_set_new(share, "previews", json_integer(0));
    json_object_set_new(share, "plays", json_integer(0));
    json_object_set_new(share, "downloads", json_integer(0));
    json_object_set_new(share, "downloads_by_type", by_type_zero());
    json_array_foreach(json_object_get(share, "tracks"), i, t) {
        json_object_set_new(t, "plays", json_integer(0));
        json_object_set_new(t, "downloads", json_integer(0));
        json_object_set_new(t, "downloads_by_type", by_type_zero());
    }
}

/* One stats row: share_id, track_id, kind, category, count. */
static void share_stats_add(json_t *share, const char **r)
{
    apr_int64_t n = 0;
    size_t i;
    json_t *t;
    pds_parse_int64(r[4], 0, APR_INT64_MAX, &n);
    if (!strcmp(r[2], "view")) { add_count(share, "views", n); return; }
    if (!strcmp(r[2], "preview")) { add_count(share, "previews", n); return; }
    if (!strcmp(r[2], "play")) add_count(share, "plays", n);
    if (!strcmp(r[2], "download")) {
        add_count(share, "downloads", n);
        if (r[3] && pds_category_from_name(r[3]) >= 0)
            add_count(json_object_get(share, "downloads_by_type"), r[3], n);
    }
    if (!r[1]) return;
    json_array_foreach(json_object_get(share, "tracks"), i, t) {
        if (strcmp(json_string_value(json_object_get(t, "id")), r[1])) continue;
        if (!strcmp(r[2], "play")) add_count(t, "plays", n);
        else if (!strcmp(r[2], "download")) {
            add_count(t, "downloads", n);
            if (r[3] && pds_category_from_name(r[3]) >= 0)
                add_count(json_object_get(t, "downloads_by_type"), r[3], n);
        }
    }
}

pds_err_t *pds_share_load(pds_ctx_t *ctx, const char *id, int stats, json_t **out)
{
    pds_rows_t *rs, *slots, *files, *st;
    json_t *tracks, *fids, *share;
    int i;
    if (!pds_valid_id(id)) return not_found(ctx, "share");
    if (SELECT(ctx->db, "pds_share_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return not_found(ctx, "share");
    if (SELECT(ctx->db, "pds_share_slots", &slots, id)
        || SELECT(ctx->db, "pds_share_files", &files, id)) return pds_db_failed(ctx);
    tracks = json_array();
    for (i = 0; i < slots->rows->nelts; i++)
        json_array_append_new(tracks, pds_track_json(ctx->pool, PDS_ROW(slots, i) + 1));
    fids = json_array();
    for (i = 0; i < files->rows->nelts; i++)
        json_array_append_new(fids, json_string(PDS_ROW(files, i)[0]));
    share = share_json(ctx, PDS_ROW(rs, 0), tracks, fids);
    if (stats) {
        share_stats_init(share);
        if (SELECT(ctx->db, "pds_stats_share", &st, id)) {
            json_decref(share);
            return pds_db_failed(ctx);
        }
        for (i = 0; i < st->rows->nelts; i++) share_stats_add(share, PDS_ROW(st, i));
    }
    *out = share;
    return NULL;
}

pds_err_t *pds_share_list(pds_ctx_t *ctx, json_t **out)
{
    pds_rows_t *rs, *slots, *files, *st;
    apr_hash_t *by_id = apr_hash_make(ctx->pool);
    json_t *arr;
    int i;
    /* Four statements for any number of shares. */
    if (SELECT(ctx->db, "pds_share_list", &rs, ctx->user)
        || SELECT(ctx->db, "pds_share_slots_owner", &slots, ctx->user)
        || SELECT(ctx->db, "pds_share_files_owner", &files, ctx->user)
        || SELECT(ctx->db, "pds_stats_owner", &st, ctx->user)) return pds_db_failed(ctx);
    arr = json_array();
    for (i = 0; i < rs->rows->nelts; i++) {
        const char **s = PDS_ROW(rs, i);
        json_t *share = share_json(ctx, s, json_array(), json_array());
        json_array_append_new(arr, share);
        apr_hash_set(by_id, s[SH_ID], APR_HASH_KEY_STRING, share);
    }
    for (i = 0; i < slots->rows->nelts; i++) {
        json_t *share = apr_hash_get(by_id, PDS_ROW(slots, i)[0], APR_HASH_KEY_STRING);
        if (share) json_array_append_new(json_object_get(share, "tracks"),
                                         pds_track_json(ctx->pool, PDS_ROW(slots, i) + 1));
    }
    for (i = 0; i < files->rows->nelts; i++) {
        json_t *share = apr_hash_get(by_id, PDS_ROW(files, i)[0], APR_HASH_KEY_STRING);
        json_t *f = share ? json_object_get(share, "file_ids") : NULL;
        if (json_is_array(f)) json_array_append_new(f, json_string(PDS_ROW(files, i)[1]));
    }
    for (i = 0; i < rs->rows->nelts; i++) share_stats_init(json_array_get(arr, i));
    for (i = 0; i < st->rows->nelts; i++) {
        json_t *share = apr_hash_get(by_id, PDS_ROW(st, i)[0], APR_HASH_KEY_STRING);
        if (share) share_stats_add(share, PDS_ROW(st, i));
    }
    *out = wrap_list("shares", arr);
    return NULL;
}

/* Most restrictive default over the tracks: private none, wip bounces,
 * released bounces and stems; projects only when asked. */
static void default_permissions(const char *status, int *pb, int *ps)
{
    int b = 0, s = 0;
    if (!strcmp(status, "wip")) b = 1;
    else if (!strcmp(status, "released")) b = s = 1;
    *pb = *pb && b;
    *ps = *ps && s;
}

pds_err_t *pds_share_create(pds_ctx_t *ctx, json_t *body, json_t **out)
{
    /* SPEC also names password, download_limit(s) and comments: not implemented
     * yet, so refused (a producer must not believe a link is protected). */
    static const char *const fields[] = { "track_ids", "bucket", "file_ids", "permissions",
                                          "expires_in_days", "title", NULL };
    static const char *const perm_fields[] = { "bounces", "stems", "projects", NULL };
    json_t *ids = json_object_get(body, "track_ids");
    json_t *fids = json_object_get(body, "file_ids");
    json_t *perms = json_object_get(body, "permissions");
    const char *bucket = NULL, *title = NULL, *id, *token, *now, *expires = NULL;
    apr_array_header_t *tracks = apr_array_make(ctx->pool, 8, sizeof(const char *));
    apr_array_header_t *files = apr_array_make(ctx->pool, 8, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(ctx->pool);
    apr_hash_t *track_set = apr_hash_make(ctx->pool);
    pds_presence_e pr, pbr = PDS_ABSENT, psr = PDS_ABSENT, ppr = PDS_ABSENT;
    int pb = 1, ps = 1, pp = 0, i, failed = 0;
    apr_int64_t days = 0;
    pds_err_t *e;
    pds_rows_t *rs;
    size_t k;
    json_t *v;

    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if ((e = pds_field_text(ctx->pool, body, "bucket", 100, &bucket, &pr))) return e;
    if (bucket && !*bucket)
        return pds_err(ctx->pool, 400, "invalid_field", "bucket: must not be empty");
    if ((ids && !json_is_null(ids)) == (bucket != NULL))
        return pds_err(ctx->pool, 400, "invalid_field",
                       "track_ids: give either track_ids or bucket, not both");
    if ((e = pds_field_name(ctx->pool, body, "title", 200, &title, &pr))) return e;
    if (title && !*title) title = NULL;
    if ((e = pds_field_int(ctx->pool, body, "expires_in_days", 1, 3650, &days, &pr))) return e;
    if (pr == PDS_SET) expires = pds_db_i64(ctx->pool, ctx->now + days * 86400);

    if (perms && !json_is_null(perms)) {
        if (!json_is_object(perms))
            return pds_err(ctx->pool, 400, "invalid_field", "permissions: must be an object");
        if ((e = pds_fields_known(ctx->pool, perms, perm_fields))) {
            e->message = apr_pstrcat(ctx->pool, "permissions.", e->message, NULL);
            return e;
        }
        if ((e = pds_field_bool(ctx->pool, perms, "bounces", &pb, &pbr))
            || (e = pds_field_bool(ctx->pool, perms, "stems", &ps, &psr))
            || (e = pds_field_bool(ctx->pool, perms, "projects", &pp, &ppr))) {
            e->message = apr_pstrcat(ctx->pool, "permissions.", e->message, NULL);
            return e;
        }
        if (pbr == PDS_NULL || psr == PDS_NULL || ppr == PDS_NULL)
            return pds_err(ctx->pool, 400, "invalid_field",
                           "permissions: bounces, stems and projects must be true or false");
    }

    if (bucket) {
        if (SELECT(ctx->db, "pds_track_list_bucket", &rs, ctx->user, bucket))
            return pds_db_failed(ctx);
        if (!rs->rows->nelts)
            return pds_err(ctx->pool, 404, "not_found", "no tracks in bucket");
        for (i = 0; i < rs->rows->nelts; i++) {
            APR_ARRAY_PUSH(tracks, const char *) = PDS_ROW(rs, i)[TR_ID];
            apr_hash_set(track_set, PDS_ROW(rs, i)[TR_ID], APR_HASH_KEY_STRING, PDS_ROW(rs, i));
        }
    }
    else {
        if (!json_is_array(ids) || !json_array_size(ids))
            return pds_err(ctx->pool, 400, "invalid_field",
                           "track_ids: must be a non-empty array of track ids");
        json_array_foreach(ids, k, v) {
            const char *tid = json_string_value(v);
            if (!json_is_string(v))
                return pds_err(ctx->pool, 400, "invalid_field", "track_ids: must hold strings");
            if (apr_hash_get(seen, tid, APR_HASH_KEY_STRING)) continue;
            apr_hash_set(seen, apr_pstrdup(ctx->pool, tid), APR_HASH_KEY_STRING, "");
            APR_ARRAY_PUSH(tracks, const char *) = apr_pstrdup(ctx->pool, tid);
        }
    }
    if (tracks->nelts > ctx->settings->max_tracks)
        return pds_err(ctx->pool, 400, "too_many_tracks",
                       "a share holds at most %d tracks; this one has %d",
                       ctx->settings->max_tracks, tracks->nelts);
    if (!bucket) {
        for (i = 0; i < tracks->nelts; i++) {
            const char **row;
            if ((e = track_row(ctx, APR_ARRAY_IDX(tracks, i, const char *), &row))) return e;
            apr_hash_set(track_set, row[TR_ID], APR_HASH_KEY_STRING, row);
        }
    }
    if (!perms || json_is_null(perms) || pbr == PDS_ABSENT || psr == PDS_ABSENT) {
        int db = 1, ds = 1;
        for (i = 0; i < tracks->nelts; i++) {
            const char **row = apr_hash_get(track_set, APR_ARRAY_IDX(tracks, i, const char *),
                                            APR_HASH_KEY_STRING);
            default_permissions(row[TR_STATUS], &db, &ds);
        }
        if (pbr == PDS_ABSENT) pb = db;
        if (psr == PDS_ABSENT) ps = ds;
    }

    if (fids && !json_is_null(fids)) {
        if (!json_is_array(fids))
            return pds_err(ctx->pool, 400, "invalid_field", "file_ids: must be an array");
        json_array_foreach(fids, k, v) {
            pds_rows_t *f;
            if (!json_is_string(v) || !pds_valid_id(json_string_value(v)))
                return pds_err(ctx->pool, 400, "invalid_field", "file_ids: must hold file ids");
            if (SELECT(ctx->db, "pds_file_owned", &f, json_string_value(v), ctx->user))
                return pds_db_failed(ctx);
            if (!f->rows->nelts) return not_found(ctx, "file");
            if (!apr_hash_get(track_set, PDS_ROW(f, 0)[1], APR_HASH_KEY_STRING))
                return pds_err(ctx->pool, 400, "invalid_field",
                               "file_ids: file %s does not belong to the shared tracks",
                               json_string_value(v));
            APR_ARRAY_PUSH(files, const char *) = PDS_ROW(f, 0)[0];
        }
    }

    id = pds_new_id(ctx->pool, "s");
    token = pds_token_new(ctx->pool);
    if (!id || !token) return pds_err(ctx->pool, 503, "unavailable", "no randomness available");
    now = pds_db_i64(ctx->pool, ctx->now);
    if (pds_db_begin(ctx->db)) return pds_db_failed(ctx);
    failed = EXEC(ctx->db, "pds_share_insert", NULL, id, ctx->user,
                  pds_token_selector(ctx->pool, token), token, title, bucket,
                  pb ? "1" : "0", ps ? "1" : "0", pp ? "1" : "0",
                  (fids && !json_is_null(fids)) ? "1" : "0", expires, now);
    for (i = 0; !failed && i < tracks->nelts; i++)
        failed = EXEC(ctx->db, "pds_share_track_insert", NULL, id,
                      APR_ARRAY_IDX(tracks, i, const char *), apr_itoa(ctx->pool, i));
    for (i = 0; !failed && i < files->nelts; i++) {
        if (apr_hash_get(seen, APR_ARRAY_IDX(files, i, const char *), APR_HASH_KEY_STRING) == files)
            continue;   /* duplicate file id */
        apr_hash_set(seen, APR_ARRAY_IDX(files, i, const char *), APR_HASH_KEY_STRING, files);
        failed = EXEC(ctx->db, "pds_share_file_insert", NULL, id,
                      APR_ARRAY_IDX(files, i, const char *));
    }
    if (pds_db_end(ctx->db, failed) || failed) return pds_db_failed(ctx);
    return pds_share_load(ctx, id, 0, out);
}

pds_err_t *pds_share_revoke(pds_ctx_t *ctx, const char *id, json_t **out)
{
    pds_rows_t *rs;
    if (!pds_valid_id(id)) return not_found(ctx, "share");
    if (SELECT(ctx->db, "pds_share_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return not_found(ctx, "share");
    if (EXEC(ctx->db, "pds_share_revoke", NULL, pds_db_i64(ctx->pool, ctx->now), id, ctx->user))
        return pds_db_failed(ctx);
    return pds_share_load(ctx, id, 1, out);
}

/* ---------------------------------------------------------- notifications */

static pds_err_t *notification_list(pds_ctx_t *ctx, json_t **out)
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
                              "created_at", time_or_null(ctx->pool, r[4]), "read", r[5] != NULL));
    }
    *out = wrap_list("notifications", arr);
    return NULL;
}

/* ---------------------------------------------------------------- routing */

/* Split "/a/b/c" into at most max segments; answers the count, or -1 when
 * there are more segments or an empty one. */
static int split_path(apr_pool_t *p, const char *path, const char **seg, int max)
{
    int n = 0;
    const char *s = path;
    if (*s != '/') return -1;
    while (*s == '/' && s[1] == '\0') return 0;
    while (*s) {
        const char *end;
        if (*s != '/') return -1;
        s++;
        end = strchr(s, '/');
        if (!end) end = s + strlen(s);
        if (end == s || n == max) return -1;
        seg[n++] = apr_pstrndup(p, s, end - s);
        s = end;
    }
    return n;
}

/* What the i-th segment of an owner API path is called, for an error. */
static const char *segment_field(const char **seg, int n, int i)
{
    if (i == 1 && !strcmp(seg[0], "tracks")) return "track_id";
    if (i == 1 && !strcmp(seg[0], "shares")) return "share_id";
    if (n > 2 && i == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "collaborators"))
        return "collaborator_id";
    if (n > 2 && i == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload"))
        return "category";
    if (n > 2 && i == 4 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload"))
        return "name";
    return "path";
}

pds_err_t *pds_api_check_text(apr_pool_t *p, const char *path, const char *query)
{
    const char *seg[6];
    int n = 0, i;
    const char *s = path;
    if (!pds_valid_utf8(path, strlen(path))) {
        /* Name the segment: split by hand, split_path wants a well-formed route. */
        while (*s == '/' && n < 6) {
            const char *end = strchr(s + 1, '/');
            if (!end) end = s + strlen(s);
            seg[n++] = apr_pstrndup(p, s + 1, end - s - 1);
            s = end;
        }
        for (i = 0; i < n; i++) {
            if (!pds_valid_utf8(seg[i], strlen(seg[i])))
                return pds_err(p, 400, "invalid_field", "%s: must be valid UTF-8",
                               segment_field(seg, n, i));
        }
        return pds_err(p, 400, "invalid_field", "path: must be valid UTF-8");
    }
    return pds_valid_query(p, query);
}

static const char *query_arg(apr_pool_t *p, const char *query, const char *name)
{
    apr_size_t nl = strlen(name);
    const char *q = query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        apr_size_t len = amp ? (apr_size_t)(amp - q) : strlen(q);
        if (len > nl && !strncmp(q, name, nl) && q[nl] == '=') {
            char *v = apr_pstrndup(p, q + nl + 1, len - nl - 1), *c;
            for (c = v; *c; c++) if (*c == '+') *c = ' ';
            if (pds_url_unescape(v)) return NULL;
            return v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* return_to must be a path on this site: no scheme, no host, no "//". */
static int local_path(const char *s)
{
    return s && s[0] == '/' && s[1] != '/' && s[1] != '\\' && !strchr(s, '\\')
        && !strstr(s, "://") && pds_valid_text(s, 512);
}

/* POST only, with a JSON body: a page of another site can navigate a browser to
 * a GET, or post a form (not JSON), but cannot start a connection. */
static pds_err_t *dropbox_connect(pds_ctx_t *ctx, json_t *body, json_t **res)
{
    static const char *const fields[] = { "return_to", NULL };
    json_t *v = json_object_get(body, "return_to");
    const char *return_to = NULL, *url;
    pds_err_t *e;
    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if (v && !json_is_null(v)) {
        return_to = json_is_string(v) ? json_string_value(v) : NULL;
        if (!return_to || !local_path(return_to))
            return pds_err(ctx->pool, 400, "invalid_field",
                           "return_to: must be a path on this site, like /pd/settings");
    }
    if (!return_to) return_to = apr_pstrcat(ctx->pool, ctx->api_path, "/dropbox", NULL);
    if ((e = pds_dbx_connect_begin(ctx->dbx, ctx->redirect_uri, return_to, &url))) return e;
    *res = json_pack("{s:s}", "authorize_url", url);
    return NULL;
}

static pds_err_t *dropbox_callback(pds_ctx_t *ctx, const char *query, pds_reply_t *out,
                                   json_t **res)
{
    const char *return_to = NULL;
    pds_err_t *e = pds_dbx_connect_finish(ctx->dbx, query_arg(ctx->pool, query, "code"),
                                          query_arg(ctx->pool, query, "state"),
                                          query_arg(ctx->pool, query, "error"), &return_to);
    if (e && !return_to) return e;      /* no valid state: nowhere safe to go back to */
    out->status = 302;
    out->location = apr_pstrcat(ctx->pool, return_to, strchr(return_to, '?') ? "&" : "?",
                                e ? "dropbox=error&reason=" : "dropbox=connected",
                                e ? e->code : "", NULL);
    if (e) {
        *res = json_pack("{s:{s:s,s:s}}", "error", "code", e->code, "message", e->message);
        out->log = e->detail;
    }
    else {
        *res = json_pack("{s:b}", "connected", 1);
        out->warn = ctx->dbx->notice;
    }
    return NULL;
}

#define IS(m) (!strcmp(method, (m)))

static int method_ok(pds_reply_t *out, const char *method, const char *allow)
{
    /* allow is "GET, POST": check membership as a whole word. */
    const char *a = allow;
    apr_size_t n = strlen(method);
    if (!n) {
        out->allow = allow;
        return 0;
    }
    while ((a = strstr(a, method))) {
        if ((a == allow || a[-1] == ' ') && (a[n] == ',' || a[n] == '\0')) return 1;
        a += n;
    }
    out->allow = allow;
    return 0;
}

static void handle_route(pds_ctx_t *ctx, const char *method, const char **seg, int n,
                         const char *query, json_t *body, pds_reply_t *out,
                         pds_err_t **err, json_t **res)
{
    static const char *const no_fields[] = { NULL };    /* a body of {} */
    const char *bucket;
    *err = NULL;
    *res = NULL;
    out->status = 200;

#define ALLOW(list) if (!method_ok(out, method, list)) { \
        *err = pds_err(ctx->pool, 405, "method_not_allowed", "%s is not allowed here; use %s", \
                       method, list); return; }

    if (n == 1 && !strcmp(seg[0], "profile")) {
        ALLOW("GET, PUT");
        *err = IS("GET") ? profile_get(ctx, res) : profile_put(ctx, body, res);
    }
    else if (n == 1 && !strcmp(seg[0], "tracks")) {
        ALLOW("GET, POST");
        if (IS("GET")) {
            bucket = query_arg(ctx->pool, query, "bucket");
            if (!bucket && query && (!strncmp(query, "bucket=", 7) || strstr(query, "&bucket=")))
                *err = pds_err(ctx->pool, 400, "invalid_field",
                               "bucket: not a valid URL-encoded value");
            else *err = track_list(ctx, bucket, res);
        }
        else {
            *err = track_create(ctx, body, res);
            out->status = 201;
        }
    }
    else if (n == 2 && !strcmp(seg[0], "tracks")) {
        ALLOW("GET, PATCH, DELETE");
        if (IS("GET")) {
            const char **row;
            if (!(*err = track_row(ctx, seg[1], &row))) *res = pds_track_json(ctx->pool, row);
        }
        else if (IS("PATCH")) *err = track_patch(ctx, seg[1], body, res);
        else if (!(*err = track_delete(ctx, seg[1]))) out->status = 204;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "files")) {
        ALLOW("GET, POST");
        if (IS("GET")) *err = file_list(ctx, seg[1], res);
        else if (!(*err = file_register(ctx, seg[1], body, res))) out->status = 201;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "collaborators")) {
        ALLOW("GET, POST");
        if (IS("GET"))
            *err = track_children(ctx, seg[1], "pds_collab_list", collab_json, "collaborators",
                                  NULL, res);
        else if (!(*err = collab_add(ctx, seg[1], body, res))) out->status = 201;
    }
    else if (n == 4 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "collaborators")) {
        ALLOW("PATCH, DELETE");
        if (IS("PATCH")) *err = collab_patch(ctx, seg[1], seg[3], body, res);
        else if (!(*err = collab_delete(ctx, seg[1], seg[3]))) out->status = 204;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "share-with-collaborators")) {
        ALLOW("POST");
        if (!(*err = pds_collab_share(ctx, seg[1], body, res))) out->status = 202;
    }
    else if (n == 4 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "share-with-collaborators")
             && (!strcmp(seg[3], "retry") || !strcmp(seg[3], "reset"))) {
        ALLOW("POST");
        if ((*err = pds_fields_known(ctx->pool, body, no_fields))) return;
        if (!(*err = pds_collab_retry(ctx, seg[1], !strcmp(seg[3], "reset"), res))) out->status = 202;
    }
    else if (n == 6 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "files")
             && !strcmp(seg[4], "export") && !strcmp(seg[5], "retry")) {
        ALLOW("POST");
        if (!(*err = pds_export_retry(ctx, seg[1], seg[3], body, res))) out->status = 202;
    }
    else if (n == 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "share-status")) {
        ALLOW("GET");
        *err = pds_collab_status(ctx, seg[1], res);
    }
    else if (n >= 3 && !strcmp(seg[0], "tracks") && !strcmp(seg[2], "upload")) {
        const char **row;
        if (!(*err = track_row(ctx, seg[1], &row)))
            *err = pds_err(ctx->pool, 503, "not_available",
                           "uploads are not available in this build yet");
    }
    else if (n == 1 && !strcmp(seg[0], "share-with-collaborators")) {
        ALLOW("POST");
        if (!(*err = pds_collab_bulk(ctx, body, res))) out->status = 202;
    }
    else if (n == 1 && !strcmp(seg[0], "shares")) {
        ALLOW("GET, POST");
        if (IS("GET")) *err = pds_share_list(ctx, res);
        else if (!(*err = pds_share_create(ctx, body, res))) out->status = 201;
    }
    else if (n == 2 && !strcmp(seg[0], "shares")) {
        ALLOW("GET");
        *err = pds_share_load(ctx, seg[1], 1, res);
    }
    else if (n == 3 && !strcmp(seg[0], "shares") && !strcmp(seg[2], "revoke")) {
        ALLOW("POST");
        if ((*err = pds_fields_known(ctx->pool, body, no_fields))) return;
        *err = pds_share_revoke(ctx, seg[1], res);
    }
    else if (n == 1 && !strcmp(seg[0], "notifications")) {
        ALLOW("GET");
        *err = notification_list(ctx, res);
    }
    else if (n == 1 && !strcmp(seg[0], "invitations")) {
        ALLOW("GET");
        *err = pds_invitation_list(ctx, res);
    }
    else if (n == 3 && !strcmp(seg[0], "invitations")
             && (!strcmp(seg[2], "accept") || !strcmp(seg[2], "decline"))) {
        ALLOW("POST");
        *err = pds_invitation_answer(ctx, seg[1], !strcmp(seg[2], "accept"), body, res);
    }
    else if (n == 1 && !strcmp(seg[0], "dropbox")) {
        ALLOW("GET, DELETE");
        if (IS("GET")) *err = pds_dbx_status(ctx->dbx, res);
        else *err = pds_dbx_disconnect(ctx->dbx, res);
    }
    else if (n == 2 && !strcmp(seg[0], "dropbox") && !strcmp(seg[1], "connect")) {
        ALLOW("POST");
        *err = dropbox_connect(ctx, body, res);
    }
    else if (n == 2 && !strcmp(seg[0], "dropbox") && !strcmp(seg[1], "callback")) {
        ALLOW("GET");
        *err = dropbox_callback(ctx, query, out, res);
    }
    else {
        *err = pds_err(ctx->pool, 404, "not_found", "no such route");
    }
#undef ALLOW
}

void pds_api_handle(pds_ctx_t *ctx, const char *method, const char *path,
                    const char *query, json_t *body, pds_reply_t *out)
{
    const char *seg[6];
    pds_err_t *err;
    json_t *res;
    int n = split_path(ctx->pool, path, seg, 6);

    memset(out, 0, sizeof(*out));
    if (n <= 0) {
        pds_reply_error(ctx, out, pds_err(ctx->pool, 404, "not_found", "no such route"));
        return;
    }
    handle_route(ctx, method, seg, n, query, body, out, &err, &res);
    if (err) {
        json_decref(res);
        pds_reply_error(ctx, out, err);
        return;
    }
    out->body = res ? pds_json_pool(ctx->pool, res) : NULL;
}
