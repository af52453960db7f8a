#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_db_args.h"
#include "pds_track.h"
#include "pds_share.h"

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
    json_object_set_new(o, "title", pds_json_str_or_null(s[SH_TITLE]));
    json_object_set_new(o, "bucket", pds_json_str_or_null(s[SH_BUCKET]));
    json_object_set_new(o, "status", json_string(pds_share_status(s, ctx->now)));
    json_object_set_new(o, "created_at", pds_json_time_or_null(ctx->pool, s[SH_CREATED]));
    json_object_set_new(o, "expires_at", pds_json_time_or_null(ctx->pool, s[SH_EXPIRES]));
    json_object_set_new(o, "revoked_at", pds_json_time_or_null(ctx->pool, s[SH_REVOKED]));
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
    if (!pds_valid_id(id)) return pds_not_found(ctx, "share");
    if (SELECT(ctx->db, "pds_share_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return pds_not_found(ctx, "share");
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
    *out = pds_json_wrap("shares", arr);
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
            if ((e = pds_track_row(ctx, APR_ARRAY_IDX(tracks, i, const char *), &row))) return e;
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
            if (!f->rows->nelts) return pds_not_found(ctx, "file");
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

/* PATCH /shares/{id}: rename it, or set its expiry again (from now; null
 * for never). A revoked share stays revoked; an expired one given a new
 * expiry serves again. What a visitor sees changes on the next request (the
 * data version, pds_sql.c v9). */
pds_err_t *pds_share_patch(pds_ctx_t *ctx, const char *id, json_t *body, json_t **out)
{
    /* SPEC also names password, download_limit(s) and comments: refused until
     * they are built, as on create. */
    static const char *const fields[] = { "title", "expires_in_days", NULL };
    const char *title, *expires;
    pds_presence_e tp, ep;
    apr_int64_t days = 0;
    pds_rows_t *rs;
    pds_err_t *e;
    if (!pds_valid_id(id)) return pds_not_found(ctx, "share");
    if ((e = pds_fields_known(ctx->pool, body, fields))) return e;
    if ((e = pds_field_name(ctx->pool, body, "title", 200, &title, &tp))) return e;
    if ((e = pds_field_int(ctx->pool, body, "expires_in_days", 1, 3650, &days, &ep))) return e;
    if (SELECT(ctx->db, "pds_share_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return pds_not_found(ctx, "share");
    if (tp == PDS_ABSENT) title = PDS_ROW(rs, 0)[SH_TITLE];
    else if (tp == PDS_NULL || (title && !*title)) title = NULL;
    expires = ep == PDS_ABSENT ? PDS_ROW(rs, 0)[SH_EXPIRES]
            : ep == PDS_SET ? pds_db_i64(ctx->pool, ctx->now + days * 86400) : NULL;
    if (EXEC(ctx->db, "pds_share_update", NULL, title, expires, id, ctx->user))
        return pds_db_failed(ctx);
    return pds_share_load(ctx, id, 1, out);
}

pds_err_t *pds_share_revoke(pds_ctx_t *ctx, const char *id, json_t **out)
{
    pds_rows_t *rs;
    if (!pds_valid_id(id)) return pds_not_found(ctx, "share");
    if (SELECT(ctx->db, "pds_share_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return pds_not_found(ctx, "share");
    if (EXEC(ctx->db, "pds_share_revoke", NULL, pds_db_i64(ctx->pool, ctx->now), id, ctx->user))
        return pds_db_failed(ctx);
    return pds_share_load(ctx, id, 1, out);
}

