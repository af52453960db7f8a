/* The owner API (SPEC §4): the router and its replies. The domain is in
 * the files named for it (pds_track, pds_share, pds_collab, ...). The httpd
 * glue authenticates, reads the body and writes the reply. */
#ifndef PDS_API_H
#define PDS_API_H

#include "pds_base.h"
#include "pds_track.h"
#include "pds_share.h"

typedef struct {
    int status;
    pds_err_kind_e kind;         /* of the error answered (pds_reply_error); else 0 */
    json_t *body;                /* NULL: no body (204) */
    const char *allow;           /* for 405: the methods the route takes */
    const char *location;        /* for 302: where to */
    const char *log;             /* for the error log (never a secret) */
    const char *warn;            /* a warning on an answer that went through (never a secret) */
} pds_reply_t;

/* Answer one API request. `path` is relative to the handler's location and
 * starts with "/"; `body` is the parsed JSON of a write, or NULL. */
void pds_api_handle(pds_ctx_t *ctx, const char *method, const char *path,
                    const char *query, json_t *body, pds_reply_t *out);

/* An error reply in the contracted shape. */
void pds_reply_error(pds_ctx_t *ctx, pds_reply_t *out, const pds_err_t *e);

/* Text that does not come in a JSON body: every path segment and query
 * value must be UTF-8 (jansson checks bodies). NULL, or a 400 invalid_field
 * naming what is wrong: the route's field for a segment (track_id, share_id,
 * collaborator_id, category, name), else "path" or the query parameter. */
pds_err_t *pds_api_check_text(apr_pool_t *p, const char *path, const char *query);

#endif
