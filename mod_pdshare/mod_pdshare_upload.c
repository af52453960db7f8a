/* PUT /tracks/{id}/upload/{category}/{name}[?final=1]: the body is streamed
 * to PDShareStorageDir (never whole in memory), written atomically (a
 * temporary file, fsync, rename), hashed on the way, recorded as a file of
 * the track, and queued for export to Dropbox when the policy says so. */
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>

#include <http_core.h>

#include "mod_pdshare.h"
#include "pds_util.h"
#include "pds_valid.h"
#include "pds_crypto.h"
#include "pds_export.h"

#define UPLOAD_BUF (64 * 1024)

static int upload_error(request_rec *r, int status, const char *code, const char *msg)
{
    return pdshare_write_error(r, status, code, msg);
}

/* final=1|true|0|false, or absent. -1 for anything else. */
static int parse_final(request_rec *r)
{
    const char *q = r->args;
    if (!q || !*q) return 0;
    if (!strcmp(q, "final=1") || !strcmp(q, "final=true")) return 1;
    if (!strcmp(q, "final=0") || !strcmp(q, "final=false")) return 0;
    return -1;
}

/* Where a producer's uploads live: a directory per producer, named by a hash
 * of the user name so any name makes a safe path. */
static const char *owner_dir(request_rec *r, const char *root, const char *user)
{
    return apr_pstrcat(r->pool, root, "/", apr_pstrndup(r->pool,
                       pds_sha256_hex(r->pool, user, strlen(user)), 24), NULL);
}

int pdshare_upload(request_rec *r, pds_ctx_t *ctx, const char *track_id, const char *category,
                   const char *name)
{
    pdshare_srv_conf *c = pdshare_srv(r->server);
    apr_off_t limit = ap_get_limit_req_body(r), total = 0;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    const char *dir, *tmp, *final_path, *id, *format, *dot;
    pds_export_policy_t pol = { c->export_by_status, c->export_single_folder };
    pds_sha256_t *sha;
    pds_dbx_hash_t *dbh;
    apr_file_t *f;
    apr_status_t rv;
    pds_rows_t *rs;
    char *buf;
    long got;
    int cat = pds_category_from_name(category), final = parse_final(r), wanted, rc;

    /* Everything is checked before a byte is written. */
    if (cat < 0)
        return upload_error(r, 400, "invalid_field",
                            "category: must be master, bounce, stem or project");
    if (pds_name_problem(name))
        return upload_error(r, 400, "invalid_field",
                            apr_pstrcat(r->pool, "name: ", pds_name_problem(name), NULL));
    if (!pds_valid_file_name(name) || name[0] == '.' || strlen(name) > 255)
        return upload_error(r, 400, "invalid_field", "name: one file name of at most 255 bytes,"
                            " without /, \\, control characters or a leading dot");
    if (final < 0)
        return upload_error(r, 400, "invalid_field", "final: must be 1 or 0");
    if (pds_db_select(ctx->db, "pds_track_get", &rs, 2, (const char *[]){ track_id, ctx->user }))
        return upload_error(r, 503, "unavailable", "the database is not available");
    if (!pds_valid_id(track_id) || !rs->rows->nelts)
        return upload_error(r, 404, "not_found", "no such track");
    if (!c->storage_dir)
        return upload_error(r, 503, "not_configured",
                            "uploads need PDShareStorageDir on this server");
    if (cl) {
        apr_off_t n;
        if (apr_strtoff(&n, cl, NULL, 10) != APR_SUCCESS || n < 0)
            return upload_error(r, 400, "invalid_request", "a bad Content-Length");
        if (limit && n > limit)
            return upload_error(r, 413, "payload_too_large", apr_psprintf(r->pool,
                                "the file is larger than this server takes (%" APR_OFF_T_FMT
                                " bytes, LimitRequestBody)", limit));
    }
    else if (!apr_table_get(r->headers_in, "Transfer-Encoding")) {
        return upload_error(r, 411, "length_required", "send the file as the request body");
    }

    dir = owner_dir(r, c->storage_dir, ctx->user);
    if ((rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE
                                     | APR_FPROT_GREAD | APR_FPROT_GEXECUTE, r->pool))
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "PDS00060: cannot create %s: is "
                      "PDShareStorageDir writable by the server's User?", dir);
        return upload_error(r, 503, "unavailable", "the upload could not be stored");
    }
    id = pds_new_id(r->pool, "f");
    tmp = apr_pstrcat(r->pool, dir, "/.upload-", id, NULL);
    final_path = apr_pstrcat(r->pool, dir, "/", id, NULL);
    if ((rv = apr_file_open(&f, tmp, APR_WRITE | APR_CREATE | APR_EXCL | APR_BINARY,
                            APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, r->pool))
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "PDS00061: cannot create %s", tmp);
        return upload_error(r, 503, "unavailable", "the upload could not be stored");
    }
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        apr_file_close(f);
        apr_file_remove(tmp, r->pool);
        return upload_error(r, rc == HTTP_REQUEST_ENTITY_TOO_LARGE ? 413 : 400,
                            rc == HTTP_REQUEST_ENTITY_TOO_LARGE ? "payload_too_large" : "invalid_request",
                            "the body could not be read");
    }
    sha = pds_sha256_make(r->pool);
    dbh = pds_dbx_hash_make(r->pool);
    buf = apr_palloc(r->pool, UPLOAD_BUF);
    rv = APR_SUCCESS;
    if (ap_should_client_block(r)) {
        while ((got = ap_get_client_block(r, buf, UPLOAD_BUF)) > 0) {
            apr_size_t n = (apr_size_t)got;
            if ((rv = apr_file_write_full(f, buf, n, NULL)) != APR_SUCCESS) break;
            pds_sha256_update(sha, buf, n);
            pds_dbx_hash_update(dbh, buf, n);
            total += got;
        }
        if (got < 0 && rv == APR_SUCCESS) {
            /* The body broke off, or went over LimitRequestBody (chunked). */
            apr_file_close(f);
            apr_file_remove(tmp, r->pool);
            if (limit && total + UPLOAD_BUF > limit)
                return upload_error(r, 413, "payload_too_large", "the file is larger than this"
                                    " server takes (LimitRequestBody)");
            return upload_error(r, 400, "invalid_request", "the upload broke off");
        }
    }
    if (rv == APR_SUCCESS) rv = apr_file_sync(f);
    apr_file_close(f);
    if (rv == APR_SUCCESS) rv = apr_file_rename(tmp, final_path, r->pool);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "PDS00062: writing the upload %s", final_path);
        return upload_error(r, 503, "unavailable", "the upload could not be stored");
    }

    dot = strrchr(name, '.');
    format = dot && dot[1] && strlen(dot + 1) <= 16 ? pds_lower(r->pool, dot + 1) : NULL;
    if (format && strspn(format, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(format))
        format = NULL;
    /* Without Dropbox configured nothing can be exported: the file stays local. */
    wanted = c->dbx_enabled && pds_export_wanted(&pol, cat, final);
    if (pds_db_exec(ctx->db, "pds_file_upload_insert", NULL, 13, (const char *[]){
            id, track_id, ctx->user, pds_category_names[cat], name, format,
            pds_db_i64(r->pool, total), pds_db_i64(r->pool, ctx->now), final_path,
            pds_sha256_final_hex(r->pool, sha), pds_dbx_hash_hex(r->pool, dbh),
            final ? "1" : "0", wanted ? "pending" : "none" })) {
        apr_file_remove(final_path, r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00063: recording an upload: %s",
                      ctx->db->last_error);
        return upload_error(r, 503, "unavailable", "the upload could not be recorded");
    }
    if (wanted) {
        const char *job_id;
        pds_err_t *e = pds_job_enqueue(ctx, PDS_JOB_EXPORT, ctx->user, track_id,
                                       pds_json_pool(r->pool, json_pack("{s:s}", "file_id", id)),
                                       &job_id);
        if (e) ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00064: queueing the export of %s:"
                             " %s", id, ctx->db->last_error);
    }
    {
        json_t *out;
        pds_err_t *e = pds_file_get(ctx, track_id, id, &out);
        if (e) return upload_error(r, e->status, e->code, e->message);
        return pdshare_write_json(r, HTTP_CREATED, pds_json_pool(r->pool, out));
    }
}
