/* Compiled shares (issue 13): everything a visitor request needs about a
 * share, built once per owner data version and kept per child in bounded
 * memory (PDShareShareCache), least recently used out. */
#ifndef MOD_PDSHARE_COMPILED_H
#define MOD_PDSHARE_COMPILED_H

#include "mod_pdshare.h"
#include "pds_page.h"

#define PDSHARE_DEFAULT_SHARE_CACHE (APR_INT64_C(16) * 1024 * 1024)

typedef struct {
    const char *text;
    apr_size_t len;
} pdshare_piece_t;

typedef struct pdshare_compiled_t pdshare_compiled_t;
struct pdshare_compiled_t {
    /* What visitors get; never changed once compiled (threads share it). */
    const char **share;             /* the SHARE_COLS row */
    pds_page_t *page;               /* files, tracks, offered; page->view is NULL */
    int dbx_configured;             /* this server talks to Dropbox */
    pds_dbx_brief_t dbx;            /* the owner's connection, as far as visitors need */
    apr_array_header_t *html;       /* pdshare_piece_t: the page, split where the nonce goes */
    apr_size_t html_len;            /* of the pieces, without the nonces */
    const char *json;               /* /s/{token}.json */
    apr_size_t json_len;

    /* The cache's bookkeeping (under its lock). */
    const char *key;
    apr_int64_t version;
    apr_size_t bytes;
    apr_pool_t *pool;               /* NULL: lives in the request's pool (cache off) */
    int refs;
    int cached;
    pdshare_compiled_t *prev, *next;
};

void pdshare_compiled_child_init(apr_pool_t *pchild, server_rec *s);

/* The compiled share for a live share whose head was just read: this
 * child's copy when it is of head->version, else compiled now. It stays
 * valid until r->pool is cleaned up. NULL with *e on a failure. */
pdshare_compiled_t *pdshare_compiled_get(request_rec *r, pds_ctx_t *ctx,
                                         const pds_share_head_t *head, pds_err_t **e);

/* The link cache's key of a file: the producer, the Dropbox account and the
 * file's full path, hashed. */
const char *pdshare_link_key(apr_pool_t *p, const char *owner, const char *account_id,
                             const char *path);
/* A bucket over cached bytes (or the request's nonce) that is safe to hand
 * the output filters for this request. */
apr_bucket *pdshare_compiled_bucket(request_rec *r, const char *data, apr_size_t len);
/* Write the page with this response's nonce into bb (no copy). */
void pdshare_compiled_page(request_rec *r, const pdshare_compiled_t *cs, const char *nonce,
                           apr_bucket_brigade *bb);
apr_size_t pdshare_compiled_page_len(const pdshare_compiled_t *cs, const char *nonce);

#endif
