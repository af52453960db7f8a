#include <string.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_valid.h"
#include "pds_invite.h"
#include "pds_jobs.h"
#include "pds_db_args.h"

/* Every field is data the client shows as text: the sender is named by the
 * username httpd authenticated, never by words they chose alone. */
static json_t *invitation_json(apr_pool_t *p, const char **r)
{
    const char *slash = r[IV_FOLDER] ? strrchr(r[IV_FOLDER], '/') : NULL;
    return json_pack("{s:s,s:{s:s,s:o},s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o}",
                     "id", r[IV_ID],
                     "from", "username", r[IV_OWNER], "display_name",
                     pds_json_str_or_null(r[IV_OWNER_NAME]),
                     "track_title", r[IV_TITLE],
                     "folder_path", pds_json_str_or_null(r[IV_FOLDER]),
                     "folder_name", pds_json_str_or_null(slash ? slash + 1 : NULL),
                     "status", r[IV_STATUS],
                     "mount_status", pds_json_str_or_null(r[IV_MOUNT]),
                     "mount_error", pds_json_str_or_null(r[IV_MOUNT_ERROR]),
                     "created_at", pds_json_time_or_null(p, r[IV_CREATED]),
                     "updated_at", pds_json_time_or_null(p, r[IV_UPDATED]));
}

pds_err_t *pds_invitation_list(pds_ctx_t *ctx, json_t **out)
{
    pds_rows_t *rs;
    json_t *arr;
    int i;
    if (SELECT(ctx->db, "pds_invitation_list", &rs, ctx->user)) return pds_db_failed(ctx);
    arr = json_array();
    for (i = 0; i < rs->rows->nelts; i++)
        json_array_append_new(arr, invitation_json(ctx->pool, PDS_ROW(rs, i)));
    *out = json_pack("{s:o}", "invitations", arr);
    return NULL;
}

static pds_err_t *invitation_row(pds_ctx_t *ctx, const char *id, const char ***row)
{
    pds_rows_t *rs;
    if (!pds_valid_id(id)) return pds_err(ctx->pool, 404, "not_found", "no such invitation");
    if (SELECT(ctx->db, "pds_invitation_get", &rs, id, ctx->user)) return pds_db_failed(ctx);
    if (!rs->rows->nelts) return pds_err(ctx->pool, 404, "not_found", "no such invitation");
    *row = PDS_ROW(rs, 0);
    return NULL;
}

pds_err_t *pds_invitation_answer(pds_ctx_t *ctx, const char *id, int accept, json_t *body,
                                 json_t **out)
{
    static const char *const no_fields[] = { NULL };
    const char **row, *want = accept ? "accepted" : "declined", *job_id;
    pds_err_t *e;
    int n = 0, failed;

    if ((e = pds_fields_known(ctx->pool, body, no_fields))) return e;
    if ((e = invitation_row(ctx, id, &row))) return e;
    if (!strcmp(row[IV_STATUS], "pending")) {
        /* The answer and the mount job in one transaction: an accepted
         * invitation always has its job. The status check in the UPDATE
         * makes one of two racing answers the only one. */
        if (pds_db_begin(ctx->db)) return pds_db_failed(ctx);
        failed = EXEC(ctx->db, "pds_invitation_answer", &n, want, accept ? "pending" : NULL,
                      pds_db_i64(ctx->pool, ctx->now), id, ctx->user) != APR_SUCCESS;
        if (!failed && n == 1 && accept)
            failed = pds_job_enqueue(ctx, PDS_JOB_MOUNT, ctx->user, row[IV_TRACK],
                                     pds_json_pool(ctx->pool, json_pack("{s:s}", "invitation_id", id)),
                                     &job_id) != NULL;
        if (pds_db_end(ctx->db, failed) || failed) return pds_db_failed(ctx);
        if ((e = invitation_row(ctx, id, &row))) return e;
    }
    if (strcmp(row[IV_STATUS], want))
        return pds_err(ctx->pool, 409, accept ? "already_declined" : "already_accepted",
                       "this invitation was %s already", row[IV_STATUS]);
    *out = invitation_json(ctx->pool, row);
    return NULL;
}

/* The invitations of a collaborator record go, answered or not, with the
 * notices that announced them; a mount job still queued then finds nothing
 * to do. ctx->user is the track's owner. */
pds_err_t *pds_invitation_withdraw(pds_ctx_t *ctx, const char *track_id, const char *cid)
{
    pds_rows_t *rs;
    int i;
    if (SELECT(ctx->db, "pds_invitation_withdraw_list", &rs, track_id, cid, ctx->user))
        return pds_db_failed(ctx);
    for (i = 0; i < rs->rows->nelts; i++)
        if (EXEC(ctx->db, "pds_notification_drop", NULL, PDS_ROW(rs, i)[1],
                 apr_pstrcat(ctx->pool, "invitation:", PDS_ROW(rs, i)[0], NULL)))
            return pds_db_failed(ctx);
    if (EXEC(ctx->db, "pds_invitation_withdraw", NULL, track_id, cid, ctx->user))
        return pds_db_failed(ctx);
    return NULL;
}

/* U+202A..U+202E (embeddings, overrides), U+2066..U+2069 (isolates),
 * U+200E/U+200F (marks) and U+061C: they reorder what a reader sees. */
static int bidi_control(const unsigned char *u, apr_size_t *len)
{
    if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0x8e || u[2] == 0x8f
                                         || (u[2] >= 0xaa && u[2] <= 0xae))) {
        *len = 3;
        return 1;
    }
    if (u[0] == 0xe2 && u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9) {
        *len = 3;
        return 1;
    }
    if (u[0] == 0xd8 && u[1] == 0x9c) {
        *len = 2;
        return 1;
    }
    return 0;
}

const char *pds_invite_plain(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    char *out = apr_palloc(p, strlen((const char *)u) + 1), *o = out;
    while (*u) {
        apr_size_t len;
        if (*u < 0x20 || *u == 0x7f) {
            *o++ = '?';
            u++;
        }
        else if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {   /* C1 controls */
            *o++ = '?';
            u += 2;
        }
        else if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) {
            *o++ = '?';                                   /* line and paragraph separators */
            u += 3;
        }
        else if (bidi_control(u, &len)) {
            *o++ = '?';
            u += len;
        }
        else *o++ = (char)*u++;
    }
    *o = '\0';
    return out;
}
