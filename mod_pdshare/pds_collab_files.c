/* Collaborator sharing as single files (mode "files"): each chosen file that
 * is in the producer's Dropbox gets the track's collaborators as members
 * (sharing/add_file_member), without a shared folder; removal takes them off
 * each file again (sharing/remove_file_member_2). What each file holds per
 * collaborator is recorded in pds_collab_file_shares; the collaborator's own
 * row (pds_collab_shares) sums it up, so status, retry, bulk and removal work
 * as for folders. Every step is idempotent: the members a file has are listed
 * first (sharing/list_file_members), and only the missing ones are added.
 *
 * Also here: the one mail to a collaborator who is not a producer here. */
#include <string.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_mail.h"
#include "pds_profile.h"
#include "pds_track.h"
#include "pds_invite.h"
#include "pds_db_args.h"
#include "pds_collab_int.h"

/* pds_file_list: id, track_id, category, dropbox_path, name, ... */
enum { FL_ID, FL_TRACK, FL_CATEGORY, FL_PATH, FL_NAME };
/* pds_collab_file_share_list: file_id, collaborator_id, email, status, error, dropbox_path. */
enum { FS_FILE, FS_COLLAB, FS_EMAIL, FS_STATUS, FS_ERROR, FS_PATH };

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *tag_at(json_t *o, const char *k)
{
    return jstr(json_object_get(o, k), ".tag");
}

/* The job's files: those asked for, else the track's bounces and stems. */
static int chosen(json_t *payload, const char **f)
{
    json_t *fids = json_object_get(payload, "file_ids"), *v;
    size_t k;
    if (!json_is_array(fids)) return strcmp(f[FL_CATEGORY], "project") != 0;
    json_array_foreach(fids, k, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), f[FL_ID])) return 1;
    return 0;
}

void pds_collab_mail_once(pds_attempt_t *a, const char **c, const char **track, const char *what)
{
    pds_ctx_t *ctx = a->ctx;
    const char *owner_name = NULL, *body, *why = NULL;
    json_t *profile = NULL;
    int n = 0;

    if (!a->run->smtp_url || !c[CO_EMAIL] || c[CO_USER]) return;
    /* The record first: at most one mail, even when a later attempt, a
     * retry, a re-share or a bulk share comes by again. */
    if (EXEC(ctx->db, "pds_collab_mail_once", &n, track[TR_ID], c[CO_ID], a->job->owner,
             c[CO_EMAIL], pds_db_i64(ctx->pool, pds_now()))) {
        pds_attempt_say(a, 2, "recording a collaborator mail: %s", ctx->db->last_error);
        return;
    }
    if (n != 1) return;
    if (!pds_profile_get(ctx, a->job->owner, &profile)) {
        pds_json_pool(ctx->pool, profile);
        owner_name = jstr(profile, "display_name");
    }
    body = apr_psprintf(ctx->pool,
        "Hello,\n\nA producer on PD Share shared a track with you through Dropbox.\n\n"
        "From (username): %s\nDisplay name they chose: %s\nTrack title: %s\n"
        "Shared with you: %s\n\n"
        "How to open it: Dropbox sends you its own invitation to this address. Open\n"
        "that mail from Dropbox and accept the invitation: sign in to Dropbox, or\n"
        "create a free Dropbox account with this address. You then find what was\n"
        "shared in your Dropbox (on dropbox.com under \"Shared\"). You do not need a\n"
        "PD Share account. If you do not know this producer, ignore both mails.\n",
        pds_invite_plain(ctx->pool, a->job->owner),
        owner_name ? pds_invite_plain(ctx->pool, owner_name) : "(none)",
        pds_invite_plain(ctx->pool, track[TR_TITLE]), pds_invite_plain(ctx->pool, what));
    if (pds_mail_send(ctx->pool, a->run->smtp_url, a->run->mail_from, c[CO_EMAIL],
                      "A track was shared with you through Dropbox", body,
                      a->run->env->dbx->total_timeout, &why) != APR_SUCCESS)
        pds_attempt_say(a, 1, "mail to a collaborator was not sent: %s", why ? why : "unknown");
}

/* Lower-case emails of the file's members and invitees, every page; NULL
 * when listing failed (a->error says why), or when the file itself cannot
 * be shared (*refused holds Dropbox's reason). */
static apr_hash_t *file_members(pds_attempt_t *a, const char *path, const char **refused)
{
    apr_pool_t *p = a->ctx->pool;
    apr_hash_t *emails = apr_hash_make(p);
    const char *route = "sharing/list_file_members";
    json_t *arg = pds_json_pool(p, json_pack("{s:s,s:b,s:i}", "file", path,
                                             "include_inherited", 0, "limit", 300));
    int pages;
    *refused = NULL;
    for (pages = 0; ; pages++) {
        pds_dbx_res_t res;
        const char *keys[] = { "invitees", "invitee", "users", "user" };
        int w;
        if (pages >= 10000) {             /* a cursor that never ends: no partial list */
            a->error = "list_file_members: the member list does not end";
            a->retry_in = 60;
            return NULL;
        }
        if (!pds_attempt_rpc(a, route, arg, &res)) {
            if (res.status == 409 && res.tag && !strcmp(res.tag, "access_error")) {
                *refused = apr_psprintf(p, "Dropbox cannot share this file (%s)",
                                        tag_at(res.error, "access_error")
                                        ? tag_at(res.error, "access_error") : "access_error");
                return NULL;
            }
            pds_attempt_dropbox_failed(a, "list_file_members", &res);
            return NULL;
        }
        for (w = 0; w < 4; w += 2) {
            json_t *e;
            size_t k;
            json_array_foreach(json_object_get(res.result, keys[w]), k, e) {
                const char *m = jstr(json_object_get(e, keys[w + 1]), "email");
                if (m) apr_hash_set(emails, pds_lower(p, m), APR_HASH_KEY_STRING, "");
            }
        }
        if (!jstr(res.result, "cursor")) break;
        route = "sharing/list_file_members/continue";
        arg = pds_json_pool(p, json_pack("{s:s}", "cursor", jstr(res.result, "cursor")));
    }
    return emails;
}

static void set_file(pds_attempt_t *a, const char *fid, const char *cid, const char *email,
                     const char *status, const char *error)
{
    if (EXEC(a->ctx->db, "pds_collab_file_share_put", NULL, a->job->track_id, fid, cid,
             a->job->owner, email, status, error, pds_db_i64(a->ctx->pool, pds_now())))
        pds_attempt_say(a, 2, "recording a shared file: %s", a->ctx->db->last_error);
}

/* One file: list its members, add the collaborators missing, record each
 * one's outcome. 0 when the attempt must end (lease lost, stop). */
static int share_file(pds_attempt_t *a, const char **f, pds_rows_t *collabs, int *pending)
{
    apr_pool_t *p = a->ctx->pool;
    const char *path = apr_pstrcat(p, a->s->path_prefix, f[FL_PATH], NULL), *refused;
    apr_hash_t *members = file_members(a, path, &refused);
    json_t *list = json_array(), *arg, *r;
    pds_dbx_res_t res;
    size_t k;
    int i;

    if (!members) {
        json_decref(list);
        for (i = 0; i < collabs->rows->nelts; i++) {
            const char **c = PDS_ROW(collabs, i);
            if (!c[CO_EMAIL]) continue;
            set_file(a, f[FL_ID], c[CO_ID], c[CO_EMAIL], refused ? "failed" : "pending",
                     refused ? refused : a->error);
            if (!refused) (*pending)++;
        }
        return pds_attempt_checkpoint(a);
    }
    for (i = 0; i < collabs->rows->nelts; i++) {
        const char **c = PDS_ROW(collabs, i);
        if (!c[CO_EMAIL]) continue;
        if (apr_hash_get(members, pds_lower(p, c[CO_EMAIL]), APR_HASH_KEY_STRING))
            set_file(a, f[FL_ID], c[CO_ID], c[CO_EMAIL], "shared", NULL);
        else
            json_array_append_new(list, json_pack("{s:s,s:s}", ".tag", "email", "email",
                                                  c[CO_EMAIL]));
    }
    if (!json_array_size(list)) {
        json_decref(list);
        return pds_attempt_checkpoint(a);
    }
    if (!pds_attempt_checkpoint(a)) {
        json_decref(list);
        return 0;
    }
    arg = pds_json_pool(p, json_pack("{s:s,s:o,s:{s:s},s:b}", "file", path, "members", list,
                                     "access_level", ".tag", "editor", "quiet", 0));
    if (!pds_attempt_rpc(a, "sharing/add_file_member", arg, &res)) {
        /* rate_limit: Dropbox's limit on invitations, so later, not never. */
        int later = res.transient || (res.status == 409 && res.tag && !strcmp(res.tag, "rate_limit"));
        const char *why = apr_psprintf(p, "add_file_member: %s", res.why ? res.why : "failed");
        if (later) {
            pds_attempt_dropbox_failed(a, "add_file_member", &res);
            if (!a->retry_in) a->retry_in = 60 * a->job->attempts;
        }
        json_array_foreach(json_object_get(arg, "members"), k, r) {
            for (i = 0; i < collabs->rows->nelts; i++) {
                const char **c = PDS_ROW(collabs, i);
                if (c[CO_EMAIL] && !strcmp(c[CO_EMAIL], jstr(r, "email")))
                    set_file(a, f[FL_ID], c[CO_ID], c[CO_EMAIL], later ? "pending" : "failed",
                             later ? a->error : why);
            }
            if (later) (*pending)++;
        }
        return pds_attempt_checkpoint(a);
    }
    /* One result per member: a refused address fails only itself. */
    json_array_foreach(res.result, k, r) {
        const char *email = jstr(json_object_get(r, "member"), "email");
        json_t *result = json_object_get(r, "result");
        const char *tag = jstr(result, ".tag");
        if (!email) continue;
        for (i = 0; i < collabs->rows->nelts; i++) {
            const char **c = PDS_ROW(collabs, i);
            if (!c[CO_EMAIL] || strcasecmp(c[CO_EMAIL], email)) continue;
            if (tag && !strcmp(tag, "success"))
                set_file(a, f[FL_ID], c[CO_ID], c[CO_EMAIL], "shared", NULL);
            else
                set_file(a, f[FL_ID], c[CO_ID], c[CO_EMAIL], "failed",
                         apr_psprintf(p, "Dropbox refused the address (%s)",
                                      tag_at(result, "member_error")
                                      ? tag_at(result, "member_error") : "member_error"));
        }
    }
    return pds_attempt_checkpoint(a);
}

void pds_collab_files_share(pds_attempt_t *a, const char **track)
{
    pds_ctx_t *ctx = a->ctx;
    pds_rows_t *files, *collabs, *rows;
    apr_hash_t *names = apr_hash_make(ctx->pool);
    int i, j, pending = 0, in_dropbox = 0;

    if (SELECT(ctx->db, "pds_file_list", &files, track[TR_ID], a->job->owner)
        || SELECT(ctx->db, "pds_collab_list", &collabs, track[TR_ID], a->job->owner)) {
        pds_attempt_db_trouble(a);
        return;
    }
    for (i = 0; i < files->rows->nelts; i++) {
        const char **f = PDS_ROW(files, i);
        if (!chosen(a->job->payload, f)) continue;
        if (!f[FL_PATH]) continue;                 /* uploaded, not in Dropbox yet: skipped */
        in_dropbox++;
        apr_hash_set(names, f[FL_ID], APR_HASH_KEY_STRING, f[FL_NAME]);
        if (!share_file(a, f, collabs, &pending)) return;
    }

    /* Each collaborator's row sums up their files. */
    if (SELECT(ctx->db, "pds_collab_file_share_list", &rows, track[TR_ID], a->job->owner)) {
        pds_attempt_db_trouble(a);
        return;
    }
    for (i = 0; i < collabs->rows->nelts; i++) {
        const char **c = PDS_ROW(collabs, i), *error = NULL, *what = NULL;
        int shared = 0, waiting = 0, failed = 0;
        if (!c[CO_EMAIL]) continue;
        for (j = 0; j < rows->rows->nelts; j++) {
            const char **r = PDS_ROW(rows, j), *name;
            if (strcmp(r[FS_COLLAB], c[CO_ID]) || !r[FS_EMAIL] || strcasecmp(r[FS_EMAIL], c[CO_EMAIL])
                || !(name = apr_hash_get(names, r[FS_FILE], APR_HASH_KEY_STRING)))
                continue;
            if (!strcmp(r[FS_STATUS], "shared")) {
                shared++;
                what = what ? apr_pstrcat(ctx->pool, what, ", ", name, NULL) : name;
            }
            else if (!strcmp(r[FS_STATUS], "pending")) waiting++;
            else if (!error) failed++, error = r[FS_ERROR];
            else failed++;
        }
        if (shared + waiting + failed < in_dropbox) {        /* a file without an answer */
            if (!failed) error = "Dropbox gave no answer for a file";
            failed++;
        }
        if (!in_dropbox)
            pds_att_set_collab(a, c[CO_ID], c[CO_EMAIL], "failed",
                               "none of the chosen files is in Dropbox yet");
        else if (waiting)
            pds_att_set_collab(a, c[CO_ID], c[CO_EMAIL], "pending", a->error);
        else
            pds_att_set_collab(a, c[CO_ID], c[CO_EMAIL], failed ? "failed" : "shared",
                               failed ? error : NULL);
        if (!shared) continue;
        if (c[CO_USER]) pds_att_offer_invitation(a, c, track, NULL, NULL);
        else pds_collab_mail_once(a, c, track, apr_psprintf(ctx->pool, "%d file%s: %s", shared,
                                                            shared == 1 ? "" : "s", what));
    }
    if (pending && !a->retry_in) a->retry_in = 30;
    if (pending && !a->error) a->error = "some files must be shared again";
    if (!pending) a->error = NULL;
}

int pds_collab_files_remove(pds_attempt_t *a, const char *cid, const char *email)
{
    pds_ctx_t *ctx = a->ctx;
    pds_rows_t *rows;
    int i;
    if (SELECT(ctx->db, "pds_collab_file_share_list", &rows, a->job->track_id, a->job->owner)) {
        pds_attempt_db_trouble(a);
        return 0;
    }
    for (i = 0; i < rows->rows->nelts; i++) {
        const char **r = PDS_ROW(rows, i);
        pds_dbx_res_t res;
        json_t *arg;
        if (strcmp(r[FS_COLLAB], cid)) continue;
        if (r[FS_PATH] && strcmp(r[FS_STATUS], "failed")) {
            if (!(a->s || pds_attempt_open_session(a)) || !pds_attempt_checkpoint(a)) return 0;
            arg = pds_json_pool(ctx->pool, json_pack("{s:s,s:{s:s,s:s}}", "file",
                                apr_pstrcat(ctx->pool, a->s->path_prefix, r[FS_PATH], NULL),
                                "member", ".tag", "email", "email", r[FS_EMAIL] ? r[FS_EMAIL] : email));
            /* A member_error (not a member any more), no_explicit_access (their
             * access comes from a folder, not from us) or a file gone: done. */
            if (!pds_attempt_rpc(a, "sharing/remove_file_member_2", arg, &res)
                && !(res.status == 409 && res.tag && (!strcmp(res.tag, "no_explicit_access")
                                                      || !strcmp(res.tag, "access_error")))) {
                pds_attempt_dropbox_failed(a, "remove_file_member_2", &res);
                if (!a->retry_in) pds_att_set_collab(a, cid, email, "failed", a->error);
                return 0;
            }
        }
        if (EXEC(ctx->db, "pds_collab_file_share_drop", NULL, r[FS_FILE], cid, a->job->owner)) {
            pds_attempt_db_trouble(a);
            return 0;
        }
    }
    return 1;
}

pds_err_t *pds_collab_files_email(pds_ctx_t *ctx, const char *track_id, const char *cid,
                                  const char **email)
{
    pds_rows_t *rows;
    int i;
    *email = NULL;
    if (SELECT(ctx->db, "pds_collab_file_share_list", &rows, track_id, ctx->user))
        return pds_db_failed(ctx);
    for (i = 0; i < rows->rows->nelts; i++) {
        const char **r = PDS_ROW(rows, i);
        if (!strcmp(r[FS_COLLAB], cid) && r[FS_EMAIL] && strcmp(r[FS_STATUS], "failed"))
            *email = r[FS_EMAIL];
    }
    return NULL;
}

pds_err_t *pds_collab_files_forget(pds_ctx_t *ctx, const char *track_id)
{
    if (EXEC(ctx->db, "pds_collab_file_share_delete_track", NULL, track_id, ctx->user))
        return pds_db_failed(ctx);
    return NULL;
}

pds_err_t *pds_collab_files_status(pds_ctx_t *ctx, const char *track_id, json_t *payload,
                                  json_t *out)
{
    pds_rows_t *files, *rows;
    json_t *list;
    int i, j;

    if (SELECT(ctx->db, "pds_file_list", &files, track_id, ctx->user)
        || SELECT(ctx->db, "pds_collab_file_share_list", &rows, track_id, ctx->user))
        return pds_db_failed(ctx);
    list = json_array();
    for (i = 0; i < files->rows->nelts; i++) {
        const char **f = PDS_ROW(files, i);
        json_t *per = json_array(), *c;
        size_t k;
        int shared = 0, with_email = 0;
        if (!chosen(payload, f)) {
            json_decref(per);
            continue;
        }
        /* The track's current collaborators, each with this file's state. */
        json_array_foreach(json_object_get(out, "collaborators"), k, c) {
            const char *cid = jstr(c, "id"), *email = jstr(c, "email");
            const char *status = "not_shared", *error = NULL;
            if (!email) continue;
            with_email++;
            for (j = 0; j < rows->rows->nelts; j++) {
                const char **r = PDS_ROW(rows, j);
                if (!strcmp(r[FS_FILE], f[FL_ID]) && !strcmp(r[FS_COLLAB], cid) && r[FS_EMAIL]
                    && !strcasecmp(r[FS_EMAIL], email)) {
                    status = r[FS_STATUS];
                    error = r[FS_ERROR];
                }
            }
            if (!f[FL_PATH]) status = "not_shared";
            if (!strcmp(status, "shared")) shared++;
            json_array_append_new(per, json_pack("{s:s,s:s,s:o}", "id", cid, "status", status,
                                  "error", error ? json_string(error) : json_null()));
        }
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:o,s:s,s:o,s:o}",
            "id", f[FL_ID], "name", f[FL_NAME], "category", f[FL_CATEGORY],
            "in_dropbox", json_boolean(f[FL_PATH] != NULL),
            "status", !f[FL_PATH] ? "skipped" : !shared ? "none"
                      : shared == with_email ? "all" : "partial",
            "web_url", f[FL_PATH] ? json_string(pds_collab_file_link(ctx->pool, f[FL_PATH]))
                                  : json_null(),
            "collaborators", per));
        if (!f[FL_PATH])
            json_object_set_new(json_array_get(list, json_array_size(list) - 1), "reason",
                                json_string("not in Dropbox yet (uploaded, not exported)"));
    }
    json_object_set_new(out, "files", list);
    return NULL;
}
