#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_page.h"
#include "pds_profile.h"
#include "pds_spool.h"

static const char *const audio_formats[] = {
    "wav", "mp3", "aif", "aiff", "flac", "m4a", "ogg", "oga", "opus", "aac", NULL
};

static int is_audio(const char *format, const char *name)
{
    const char *ext = format;
    const char *const *f;
    if (!ext && name) {
        ext = strrchr(name, '.');
        if (ext) ext++;
    }
    if (!ext) return 0;
    for (f = audio_formats; *f; f++) if (!strcasecmp(*f, ext)) return 1;
    return 0;
}

pds_share_state_e pds_share_by_token(pds_ctx_t *ctx, const char *token, const char ***share)
{
    pds_rows_t *rs;
    const char **s;
    const char *st;
    if (!pds_token_wellformed(token)) return PDS_SHARE_NOT_FOUND;
    if (pds_db_select(ctx->db, "pds_share_by_selector", &rs, 1,
                      (const char *[]){ pds_token_selector(ctx->pool, token) }))
        return PDS_SHARE_ERROR;
    if (!rs->rows->nelts) return PDS_SHARE_NOT_FOUND;
    s = PDS_ROW(rs, 0);
    if (!pds_ct_streq(s[SH_TOKEN], token)) return PDS_SHARE_NOT_FOUND;
    *share = s;
    st = pds_share_status(s, ctx->now);
    if (!strcmp(st, "revoked")) return PDS_SHARE_REVOKED;
    if (!strcmp(st, "expired")) return PDS_SHARE_EXPIRED;
    return PDS_SHARE_OK;
}

/* pds_share_head columns */
enum { HD_ID, HD_TOKEN, HD_EXPIRES, HD_REVOKED, HD_VERSION };

pds_share_state_e pds_share_head(pds_ctx_t *ctx, const char *token, pds_share_head_t *head)
{
    pds_rows_t *rs;
    const char **s;
    apr_int64_t t;
    if (!pds_token_wellformed(token)) return PDS_SHARE_NOT_FOUND;
    if (pds_db_select(ctx->db, "pds_share_head", &rs, 1,
                      (const char *[]){ pds_token_selector(ctx->pool, token) }))
        return PDS_SHARE_ERROR;
    if (!rs->rows->nelts) return PDS_SHARE_NOT_FOUND;
    s = PDS_ROW(rs, 0);
    if (!pds_ct_streq(s[HD_TOKEN], token)) return PDS_SHARE_NOT_FOUND;
    head->share_id = s[HD_ID];
    if (!s[HD_VERSION] || pds_parse_int64(s[HD_VERSION], 0, APR_INT64_MAX, &head->version))
        head->version = 0;
    /* As pds_share_status: revoked first, then expired. */
    if (s[HD_REVOKED]) return PDS_SHARE_REVOKED;
    if (s[HD_EXPIRES] && !pds_parse_int64(s[HD_EXPIRES], 0, APR_INT64_MAX, &t)
        && ctx->now >= t)
        return PDS_SHARE_EXPIRED;
    return PDS_SHARE_OK;
}

int pds_category_permitted(const char **share, int category)
{
    int idx = category == PDS_CAT_STEM ? SH_PS : category == PDS_CAT_PROJECT ? SH_PP : SH_PB;
    return share[idx] && atoi(share[idx]) != 0;
}

int pds_zip_group(const char *name)
{
    if (!strcmp(name, "bounces") || !strcmp(name, "bounce") || !strcmp(name, "master"))
        return PDS_CAT_BOUNCE;
    if (!strcmp(name, "stems") || !strcmp(name, "stem")) return PDS_CAT_STEM;
    if (!strcmp(name, "projects") || !strcmp(name, "project")) return PDS_CAT_PROJECT;
    return -1;
}

int pds_zip_group_of(int category)
{
    return category == PDS_CAT_MASTER ? PDS_CAT_BOUNCE : category;
}

static const char *size_label(apr_pool_t *p, const char *size)
{
    apr_int64_t n;
    if (!size || pds_parse_int64(size, 0, APR_INT64_MAX, &n)) return NULL;
    if (n < 1024) return apr_psprintf(p, "%" APR_INT64_T_FMT " B", n);
    if (n < 1024 * 1024) return apr_psprintf(p, "%.1f KB", n / 1024.0);
    if (n < APR_INT64_C(1024) * 1024 * 1024) return apr_psprintf(p, "%.1f MB", n / 1048576.0);
    return apr_psprintf(p, "%.2f GB", n / 1073741824.0);
}

static const char *zip_labels[PDS_CAT_COUNT] = { NULL, "All bounces", "All stems", "All project files" };
static const char *zip_names[PDS_CAT_COUNT] = { NULL, "bounces", "stems", "projects" };
static const char *cat_labels[PDS_CAT_COUNT] = { "Master", "Bounce", "Stem", "Project" };

/* Preview rank: the master, else a bounce, else a permitted audio file. */
static int preview_rank(const pds_page_file_t *f)
{
    if (!f || !is_audio(f->format, f->name)) return 0;
    return f->category == PDS_CAT_MASTER ? 3 : f->category == PDS_CAT_BOUNCE ? 2
         : f->permitted ? 1 : 0;
}

/* pds_page_files columns */
enum { PGF_SLOT, PGF_ID, PGF_CAT, PGF_PATH, PGF_NAME, PGF_FORMAT, PGF_SIZE, PGF_LOCAL, PGF_TRACK, PGF_TITLE };

static pds_err_t *files_model(pds_ctx_t *ctx, const char **s, pds_page_t *page, pds_rows_t **rows)
{
    const char *sid = s[SH_ID];
    pds_rows_t *fr, *restrict_rs = NULL;
    apr_hash_t *allowed_ids = NULL;
    int i, restricted = s[SH_FILES_RESTRICTED] && atoi(s[SH_FILES_RESTRICTED]);

    if (pds_db_select(ctx->db, "pds_page_files", &fr, 1, &sid)
        || (restricted && pds_db_select(ctx->db, "pds_share_files", &restrict_rs, 1, &sid)))
        return pds_db_failed(ctx);
    if (restricted) {
        allowed_ids = apr_hash_make(ctx->pool);
        for (i = 0; i < restrict_rs->rows->nelts; i++)
            apr_hash_set(allowed_ids, PDS_ROW(restrict_rs, i)[0], APR_HASH_KEY_STRING, "");
    }
    page->share = s;
    page->files = apr_hash_make(ctx->pool);
    page->tracks = apr_hash_make(ctx->pool);
    page->offered = apr_array_make(ctx->pool, fr->rows->nelts + 1, sizeof(pds_page_file_t *));
    for (i = 0; i < fr->rows->nelts; i++) {
        const char **r = PDS_ROW(fr, i);
        pds_page_track_t *pt = apr_hash_get(page->tracks, r[PGF_TRACK], APR_HASH_KEY_STRING);
        pds_page_file_t *f;
        int cat = pds_category_from_name(r[PGF_CAT]);
        if (!pt) {
            pt = apr_pcalloc(ctx->pool, sizeof(*pt));
            pt->track_id = r[PGF_TRACK];
            pt->slot_id = r[PGF_SLOT];
            pt->title = r[PGF_TITLE];
            apr_hash_set(page->tracks, pt->track_id, APR_HASH_KEY_STRING, pt);
            apr_hash_set(page->tracks, pt->slot_id, APR_HASH_KEY_STRING, pt);
        }
        if (strcmp(pt->slot_id, r[PGF_SLOT])) continue;      /* two slots, one song */
        if (cat < 0) continue;
        if (allowed_ids && !apr_hash_get(allowed_ids, r[PGF_ID], APR_HASH_KEY_STRING)) continue;
        f = apr_pcalloc(ctx->pool, sizeof(*f));
        f->id = r[PGF_ID];
        f->slot_id = pt->slot_id;
        f->track_id = pt->track_id;
        f->category = cat;
        f->dropbox_path = r[PGF_PATH];
        f->local_path = r[PGF_LOCAL];
        if (r[PGF_SIZE]) pds_parse_int64(r[PGF_SIZE], 0, APR_INT64_MAX, &f->size);
        f->name = r[PGF_NAME];
        f->format = r[PGF_FORMAT];
        f->permitted = pds_category_permitted(s, cat);
        apr_hash_set(page->files, f->id, APR_HASH_KEY_STRING, f);
        if (preview_rank(f) > preview_rank(pt->preview)) pt->preview = f;
        if (f->permitted) {
            APR_ARRAY_PUSH(page->offered, pds_page_file_t *) = f;
            pt->offered[pds_zip_group_of(cat)]++;
        }
    }
    if (rows) *rows = fr;
    return NULL;
}

pds_err_t *pds_page_files_model(pds_ctx_t *ctx, const char **s, pds_page_t **out)
{
    pds_page_t *page = apr_pcalloc(ctx->pool, sizeof(*page));
    pds_err_t *e = files_model(ctx, s, page, NULL);
    if (!e) *out = page;
    return e;
}

pds_err_t *pds_page_build(pds_ctx_t *ctx, const char **s, pds_page_t **out)
{
    const char *sid = s[SH_ID];
    const char *base = apr_pstrcat(ctx->pool, ctx->settings->share_path, "/", s[SH_TOKEN], NULL);
    pds_rows_t *tr, *fr, *cr;
    pds_page_t *page = apr_pcalloc(ctx->pool, sizeof(*page));
    apr_hash_t *shown = apr_hash_make(ctx->pool);
    json_t *view, *tracks, *producer, *track_by_slot;
    pds_err_t *e;
    int i, c;

    if ((e = files_model(ctx, s, page, &fr))) return e;
    if (pds_db_select(ctx->db, "pds_page_tracks", &tr, 1, &sid)
        || pds_db_select(ctx->db, "pds_page_collabs", &cr, 1, &sid))
        return pds_db_failed(ctx);
    if ((e = pds_profile_get(ctx, s[SH_OWNER], &producer))) return e;
    json_object_del(producer, "username");

    view = json_object();
    tracks = json_array();
    track_by_slot = json_object();
    for (i = 0; i < tr->rows->nelts; i++) {
        const char **r = PDS_ROW(tr, i);
        const char **t = r + 1;
        pds_page_track_t *pt = apr_hash_get(page->tracks, t[TR_ID], APR_HASH_KEY_STRING);
        json_t *tj;
        if (apr_hash_get(shown, t[TR_ID], APR_HASH_KEY_STRING)) continue;   /* two slots, one song */
        apr_hash_set(shown, t[TR_ID], APR_HASH_KEY_STRING, "");
        if (!pt) {                                 /* a track without files */
            pt = apr_pcalloc(ctx->pool, sizeof(*pt));
            pt->track_id = t[TR_ID];
            pt->slot_id = r[0];
            apr_hash_set(page->tracks, pt->track_id, APR_HASH_KEY_STRING, pt);
            apr_hash_set(page->tracks, pt->slot_id, APR_HASH_KEY_STRING, pt);
        }
        pt->title = t[TR_TITLE];
        tj = pds_track_json(ctx->pool, t);
        json_object_del(tj, "sharing_status");
        json_object_del(tj, "bucket");
        json_object_del(tj, "alias");
        json_object_del(tj, "group_id");
        json_object_del(tj, "created_at");
        json_object_del(tj, "updated_at");
        if (t[TR_BPM])
            json_object_set_new(tj, "bpm_label", json_string(apr_psprintf(ctx->pool, "%g",
                                                                          atof(t[TR_BPM]))));
        json_object_set_new(tj, "collaborators", json_array());
        json_object_set_new(tj, "files", json_array());
        json_object_set_new(tj, "zips", json_array());
        json_object_set_new(tj, "preview_url", pt->preview
                            ? json_string(apr_pstrcat(ctx->pool, base, "/play/", pt->track_id, NULL))
                            : json_null());
        for (c = PDS_CAT_BOUNCE; c < PDS_CAT_COUNT; c++) {
            if (!pt->offered[c]) continue;
            json_array_append_new(json_object_get(tj, "zips"), json_pack("{s:s,s:s,s:s}",
                                  "category", zip_names[c], "label", zip_labels[c],
                                  "url", apr_pstrcat(ctx->pool, base, "/zip/", pt->track_id, "/",
                                                     zip_names[c], NULL)));
        }
        json_object_set_new(tj, "number", json_integer(json_array_size(tracks) + 1));
        json_array_append_new(tracks, tj);
        json_object_set(track_by_slot, pt->slot_id, tj);
    }

    for (i = 0; i < cr->rows->nelts; i++) {
        const char **r = PDS_ROW(cr, i);
        json_t *tj = json_object_get(track_by_slot, r[0]);
        if (!tj) continue;
        json_array_append_new(json_object_get(tj, "collaborators"),
                              json_pack("{s:s,s:o,s:o}", "name", r[1],
                                        "avatar_url", r[2] ? json_string(r[2]) : json_null(),
                                        "role", r[3] ? json_string(r[3]) : json_null()));
    }

    /* The download buttons, in the files' order. */
    for (i = 0; i < fr->rows->nelts; i++) {
        const char **r = PDS_ROW(fr, i);
        pds_page_file_t *f = apr_hash_get(page->files, r[PGF_ID], APR_HASH_KEY_STRING);
        json_t *tj = json_object_get(track_by_slot, r[PGF_SLOT]), *fj;
        if (!f || !tj || !f->permitted || strcmp(f->slot_id, r[PGF_SLOT])) continue;
        fj = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "id", f->id, "name", f->name,
                       "category", pds_category_names[f->category],
                       "category_label", cat_labels[f->category],
                       "format", f->format ? json_string(f->format) : json_null(),
                       "url", apr_pstrcat(ctx->pool, base, "/files/", f->id, NULL));
        if (!fj) continue;      /* a name stored before names were checked for UTF-8 */
        if (r[PGF_SIZE]) {
            json_object_set_new(fj, "size", json_integer(f->size));
            json_object_set_new(fj, "size_label", json_string(size_label(ctx->pool, r[PGF_SIZE])));
        }
        else json_object_set_new(fj, "size", json_null());
        json_array_append_new(json_object_get(tj, "files"), fj);
    }
    for (i = 0; i < (int)json_array_size(tracks); i++) {
        json_t *tj = json_array_get(tracks, i);
        json_object_set_new(tj, "has_downloads",
                            json_boolean(json_array_size(json_object_get(tj, "files")) > 0));
    }

    json_object_set_new(view, "share", json_pack("{s:o,s:o,s:s}",
                        "title", s[SH_TITLE] ? json_string(s[SH_TITLE]) : json_null(),
                        "expires_at", s[SH_EXPIRES]
                            ? json_string(pds_iso8601(ctx->pool, atoll(s[SH_EXPIRES])))
                            : json_null(),
                        "url", pds_share_url(ctx, s[SH_TOKEN])));
    json_object_set_new(view, "producer", producer);
    json_object_set_new(view, "permissions", json_pack("{s:b,s:b,s:b}",
                        "bounces", pds_category_permitted(s, PDS_CAT_BOUNCE),
                        "stems", pds_category_permitted(s, PDS_CAT_STEM),
                        "projects", pds_category_permitted(s, PDS_CAT_PROJECT)));
    /* "Download all": one ZIP of everything offered, when that is more than one file. */
    json_object_set_new(view, "download_all", page->offered->nelts > 1
                        ? json_pack("{s:s,s:i}", "url", apr_pstrcat(ctx->pool, base, "/zip", NULL),
                                    "count", page->offered->nelts)
                        : json_null());
    json_object_set_new(view, "featured", json_boolean(json_array_size(tracks) == 1));
    json_object_set_new(view, "track_count", json_integer(json_array_size(tracks)));
    json_object_set_new(view, "tracks", tracks);
    json_decref(track_by_slot);
    page->view = pds_json_pool(ctx->pool, view);
    *out = page;
    return NULL;
}

pds_err_t *pds_event_record(pds_ctx_t *ctx, const char *share_id, const char *track_id,
                            const char *file_id, const char *kind, const char *category)
{
    const char *args[6] = { share_id, track_id, file_id, kind, category,
                            pds_db_i64(ctx->pool, ctx->now) };
    if (!(args[3] = pds_event_kind(ctx->link_preview, kind))) return NULL;
    if (pds_db_exec(ctx->db, "pds_event_insert", NULL, 6, args)) return pds_db_failed(ctx);
    return NULL;
}
