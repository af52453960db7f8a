/* Compiled shares (issue 13). A visitor request reads one indexed row (the
 * share's state and its owner's data version, pds_share_head); when this
 * child holds the share compiled at that version, the page, its JSON, the
 * file index and the ZIP contents come from memory. Every owner write that
 * could change what a visitor sees bumps the version in the same
 * transaction (triggers, pds_sql.c v9), so a change made on any node is on
 * every node's next request, and revocation and expiry, read from the row
 * itself, hold at once.
 *
 * One cache per child, bounded by PDShareShareCache: least recently used
 * out. An entry is immutable once compiled and shared by the threads that
 * hold a reference; one pushed out while in use is freed by its last
 * holder. Entries live in unmanaged pools, so no pool is shared between
 * threads. */
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mod_pdshare_compiled.h"
#include <http_vhost.h>
#include "pds_util.h"
#include "pds_crypto.h"

typedef struct pdshare_compiled_cache_t {
    apr_thread_mutex_t *lock;
    apr_hash_t *by_key;             /* key -> pdshare_compiled_t (in `pool`) */
    apr_pool_t *pool;               /* the hash and the keys it holds */
    pdshare_compiled_t *head, *tail;  /* most recently used first */
    apr_size_t bytes, bound;
    apr_size_t evictions;
    const char *placeholder;        /* where the nonce goes; random per child */
} cache_t;

static cache_t *the_cache;          /* per child; NULL: off */
static const char *child_placeholder;

static void unlink_entry(cache_t *c, pdshare_compiled_t *cs)
{
    if (cs->prev) cs->prev->next = cs->next;
    else c->head = cs->next;
    if (cs->next) cs->next->prev = cs->prev;
    else c->tail = cs->prev;
    cs->prev = cs->next = NULL;
}

static void push_front(cache_t *c, pdshare_compiled_t *cs)
{
    cs->prev = NULL;
    cs->next = c->head;
    if (c->head) c->head->prev = cs;
    c->head = cs;
    if (!c->tail) c->tail = cs;
}

/* Under the lock: out of the cache; freed now or by its last holder. */
static void drop(cache_t *c, pdshare_compiled_t *cs)
{
    unlink_entry(c, cs);
    apr_hash_set(c->by_key, cs->key, APR_HASH_KEY_STRING, NULL);
    c->bytes -= cs->bytes;
    cs->cached = 0;
    if (!cs->refs) apr_pool_destroy(cs->pool);
}

static apr_status_t release(void *data)
{
    pdshare_compiled_t *cs = data;
    cache_t *c = the_cache;
    int destroy;
    if (!c) return APR_SUCCESS;         /* the child's pools are going */
    apr_thread_mutex_lock(c->lock);
    destroy = --cs->refs == 0 && !cs->cached;
    apr_thread_mutex_unlock(c->lock);
    if (destroy) apr_pool_destroy(cs->pool);
    return APR_SUCCESS;
}

static apr_status_t cache_cleanup(void *data)
{
    cache_t *c = data;
    /* The child is going: its requests are over. */
    apr_thread_mutex_lock(c->lock);
    while (c->head) {
        pdshare_compiled_t *cs = c->head;
        unlink_entry(c, cs);
        cs->cached = 0;
        /* One still held is freed by its holder's release. */
        if (!cs->refs) apr_pool_destroy(cs->pool);
    }
    apr_thread_mutex_unlock(c->lock);
    the_cache = NULL;
    return APR_SUCCESS;
}

void pdshare_compiled_child_init(apr_pool_t *pchild, server_rec *s)
{
    pdshare_srv_conf *conf = pdshare_srv(s);
    apr_int64_t bound = conf->share_cache < 0 ? PDSHARE_DEFAULT_SHARE_CACHE : conf->share_cache;
    cache_t *c;
    child_placeholder = apr_pstrcat(pchild, "pdsnonce", pds_random_b64url(pchild, 18), NULL);
    if (!bound) return;
    c = apr_pcalloc(pchild, sizeof(*c));
    c->bound = (apr_size_t)bound;
    if (apr_pool_create(&c->pool, pchild) != APR_SUCCESS
        || apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "PDS00170: the compiled-share cache could not"
                     " be set up; this child compiles every share per request");
        return;
    }
    c->by_key = apr_hash_make(c->pool);
    apr_pool_cleanup_register(pchild, c, cache_cleanup, apr_pool_cleanup_null);
    the_cache = c;
}

/* ------------------------------------------------------------ compiling */

const char *pdshare_link_key(apr_pool_t *p, const char *owner, const char *account_id,
                             const char *path)
{
    /* Hashed: memcached keys must be short and free of spaces. */
    const char *key = apr_pstrcat(p, owner, "\n", account_id, "\n", path, NULL);
    return apr_pstrcat(p, "pds:tl:", pds_sha256_hex(p, key, strlen(key)), NULL);
}

/* Copies into the entry's pool, counted. */
typedef struct {
    apr_pool_t *p;
    apr_size_t bytes;
} copier_t;

static void *copy_mem(copier_t *k, const void *src, apr_size_t len)
{
    k->bytes += APR_ALIGN_DEFAULT(len);
    return apr_pmemdup(k->p, src, len);
}

static const char *copy_str(copier_t *k, const char *s)
{
    return s ? copy_mem(k, s, strlen(s) + 1) : NULL;
}

static void *alloc_counted(copier_t *k, apr_size_t len)
{
    k->bytes += APR_ALIGN_DEFAULT(len);
    return apr_pcalloc(k->p, len);
}

/* The page model's index (files, tracks, offered) into the entry. */
static pds_page_t *copy_page(copier_t *k, apr_pool_t *tmp, const pds_page_t *in,
                             const char **share)
{
    pds_page_t *out = alloc_counted(k, sizeof(*out));
    apr_hash_t *moved = apr_hash_make(tmp);       /* old file -> new file */
    apr_hash_index_t *hi;
    int i;
    /* An apr_hash entry and its share of the bucket array. */
    const apr_size_t per_entry = 6 * sizeof(void *);

    out->share = share;
    out->files = apr_hash_make(k->p);
    out->tracks = apr_hash_make(k->p);
    out->offered = apr_array_make(k->p, in->offered->nelts + 1, sizeof(pds_page_file_t *));
    k->bytes += sizeof(pds_page_file_t *) * (in->offered->nelts + 1);
    for (hi = apr_hash_first(tmp, in->files); hi; hi = apr_hash_next(hi)) {
        const pds_page_file_t *f = apr_hash_this_val(hi);
        pds_page_file_t *g = copy_mem(k, f, sizeof(*f));
        g->id = copy_str(k, f->id);
        g->slot_id = copy_str(k, f->slot_id);
        g->track_id = copy_str(k, f->track_id);
        g->dropbox_path = copy_str(k, f->dropbox_path);
        g->local_path = copy_str(k, f->local_path);
        g->name = copy_str(k, f->name);
        g->format = copy_str(k, f->format);
        apr_hash_set(out->files, g->id, APR_HASH_KEY_STRING, g);
        /* apr_hash keeps the key's address: a copy of the pointer that stays. */
        apr_hash_set(moved, apr_pmemdup(tmp, &f, sizeof(f)), sizeof(f), g);
        k->bytes += per_entry;
    }
    for (hi = apr_hash_first(tmp, in->tracks); hi; hi = apr_hash_next(hi)) {
        const char *key = apr_hash_this_key(hi);
        const pds_page_track_t *t = apr_hash_this_val(hi);
        pds_page_track_t *u = apr_hash_get(moved, &t, sizeof(t));
        if (!u) {                  /* each track is under its id and its slot's */
            u = copy_mem(k, t, sizeof(*t));
            u->track_id = copy_str(k, t->track_id);
            u->slot_id = copy_str(k, t->slot_id);
            u->title = copy_str(k, t->title);
            u->preview = t->preview ? apr_hash_get(moved, &t->preview, sizeof(t->preview)) : NULL;
            apr_hash_set(moved, apr_pmemdup(tmp, &t, sizeof(t)), sizeof(t), u);
        }
        apr_hash_set(out->tracks, copy_str(k, key), APR_HASH_KEY_STRING, u);
        k->bytes += per_entry;
    }
    for (i = 0; i < in->offered->nelts; i++) {
        const pds_page_file_t *f = APR_ARRAY_IDX(in->offered, i, pds_page_file_t *);
        APR_ARRAY_PUSH(out->offered, pds_page_file_t *) = apr_hash_get(moved, &f, sizeof(f));
    }
    return out;
}

/* The page, cut where the nonce goes. */
static void split_html(copier_t *k, const char *html, apr_size_t len, const char *mark,
                       pdshare_compiled_t *cs)
{
    apr_size_t mlen = strlen(mark);
    const char *p = html, *end = html + len;
    cs->html = apr_array_make(k->p, 4, sizeof(pdshare_piece_t));
    cs->html_len = 0;
    for (;;) {
        const char *at = p;
        pdshare_piece_t *piece;
        while (at && at < end) {
            at = memchr(at, mark[0], end - at);
            if (!at || (apr_size_t)(end - at) < mlen) { at = NULL; break; }
            if (!memcmp(at, mark, mlen)) break;
            at++;
        }
        piece = apr_array_push(cs->html);
        piece->len = (at ? at : end) - p;
        piece->text = copy_mem(k, p, piece->len);
        cs->html_len += piece->len;
        if (!at) break;
        p = at + mlen;
    }
    k->bytes += sizeof(pdshare_piece_t) * cs->html->nalloc;
}

/* Build everything in a scratch pool, then keep what visitors need. */
static pds_err_t *compile(request_rec *r, pds_ctx_t *ctx, const pds_share_head_t *head,
                          apr_pool_t *into, pdshare_compiled_t **out)
{
    pdshare_srv_conf *conf = pdshare_srv(r->server);
    apr_pool_t *tmp;
    pds_ctx_t sub;
    pds_db_t db;
    pds_dbx_env_t env;
    const char **share = NULL, *html, *err;
    pds_page_t *page;
    pds_dbx_brief_t brief;
    pdshare_compiled_t *cs;
    copier_t k;
    json_t *data;
    char *json;
    apr_size_t html_len;
    pds_err_t *e = NULL;
    int i;

    apr_pool_create(&tmp, r->pool);
    /* The library allocates in ctx->pool and the rows in db->pool: both the
     * scratch pool here. */
    sub = *ctx;
    db = *ctx->db;
    env = *ctx->dbx;
    sub.pool = tmp;
    db.pool = tmp;
    sub.db = &db;
    env.ctx = &sub;
    sub.dbx = &env;

    {
        pds_rows_t *rs;
        if (pds_db_select(&db, "pds_share_by_id", &rs, 1, (const char *[]){ head->share_id }))
            e = pds_db_failed(&sub);
        else if (!rs->rows->nelts)
            e = pds_err_of(tmp, PDS_ERR_NOT_FOUND, 404, "not_found", NULL, "no such share");
        else share = PDS_ROW(rs, 0);
    }
    if (!e) e = pds_page_build(&sub, share, &page);
    if (!e) e = pds_dbx_brief(&env, share[SH_OWNER], &brief);
    ctx->db->statements = db.statements;
    ctx->db->repaired = db.repaired;
    if (e) {
        /* The scratch pool goes below: the text is kept in the request's. */
        ctx->db->last_error = db.last_error ? apr_pstrdup(r->pool, db.last_error) : NULL;
        *out = NULL;
        /* The error lives in the request's pool, which outlives the scratch one. */
        e = pds_err_of(r->pool, e->kind, e->status, apr_pstrdup(r->pool, e->code),
                       e->detail ? apr_pstrdup(r->pool, e->detail) : NULL, "%s", e->message);
        apr_pool_destroy(tmp);
        return e;
    }
    if (env.dbx) {
        json_object_set_new(page->view, "downloads_available", json_boolean(brief.usable));
        if (!brief.usable) json_object_set_new(page->view, "downloads_unavailable", json_true());
    }

    memset(&k, 0, sizeof(k));
    k.p = into;
    cs = alloc_counted(&k, sizeof(*cs));
    cs->share = alloc_counted(&k, sizeof(const char *) * SH_NCOLS);
    for (i = 0; i < SH_NCOLS; i++) cs->share[i] = copy_str(&k, share[i]);
    cs->page = copy_page(&k, tmp, page, cs->share);
    cs->dbx_configured = env.dbx != NULL;
    cs->dbx.usable = brief.usable;
    cs->dbx.account_id = copy_str(&k, brief.account_id);
    cs->dbx.path_prefix = copy_str(&k, brief.path_prefix);
    if (cs->dbx_configured && cs->dbx.usable && cs->dbx.account_id) {
        /* Each file's link-cache key, hashed once here rather than per redirect. */
        apr_hash_index_t *hi;
        for (hi = apr_hash_first(tmp, cs->page->files); hi; hi = apr_hash_next(hi)) {
            pds_page_file_t *f = apr_hash_this_val(hi);
            if (f->dropbox_path)
                f->link_key = copy_str(&k, pdshare_link_key(tmp, cs->share[SH_OWNER],
                    cs->dbx.account_id, apr_pstrcat(tmp, cs->dbx.path_prefix, f->dropbox_path,
                                                    NULL)));
        }
    }

    /* The JSON as UTF-8, written once. */
    if (!(json = json_dumps(page->view, JSON_COMPACT))) {
        apr_pool_destroy(tmp);
        return pds_err(r->pool, 500, "internal", "the share's JSON could not be written");
    }
    cs->json_len = strlen(json);
    cs->json = copy_mem(&k, json, cs->json_len + 1);
    free(json);

    /* The page, with a mark where each response puts its own nonce. */
    data = pdshare_page_data(r, page->view, child_placeholder);
    if ((err = pds_tmpl_render(tmp, conf->templates, "share", data, &html, &html_len))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PDS00030: template share: %s", err);
        apr_pool_destroy(tmp);
        return pds_err(r->pool, 500, "internal", "the share page could not be rendered");
    }
    split_html(&k, html, html_len, child_placeholder, cs);
    cs->version = head->version;
    cs->bytes = k.bytes;
    apr_pool_destroy(tmp);
    *out = cs;
    return NULL;
}

static const char *key_of(request_rec *r, pds_ctx_t *ctx, const pds_share_head_t *head)
{
    /* The page holds the share's URL (from PDShareBaseURL or the request's
     * host) and the server's templates and asset path. */
    return apr_psprintf(r->pool, "%s\n%s\n%pp", head->share_id,
                        ctx->base_url ? ctx->base_url : "", (void *)pdshare_srv(r->server));
}

pdshare_compiled_t *pdshare_compiled_get(request_rec *r, pds_ctx_t *ctx,
                                         const pds_share_head_t *head, pds_err_t **e)
{
    cache_t *c = the_cache;
    pdshare_compiled_t *cs;
    apr_pool_t *pool;
    const char *key;

    /* Without PDShareBaseURL the page's URLs come from the request's Host:
     * a Host this server is not named for is compiled for that request
     * only, so that made-up names cannot push real shares out. (The names
     * compared are ServerName and ServerAlias; the port is not.) */
    if (!c || (!pdshare_srv(r->server)->base_url && r->hostname
               && !ap_matches_request_vhost(r, r->hostname, r->server->port))) {
        *e = compile(r, ctx, head, r->pool, &cs);
        return *e ? NULL : cs;
    }
    key = key_of(r, ctx, head);
    apr_thread_mutex_lock(c->lock);
    cs = apr_hash_get(c->by_key, key, APR_HASH_KEY_STRING);
    if (cs && cs->version == head->version) {
        cs->refs++;
        if (c->head != cs) {
            unlink_entry(c, cs);
            push_front(c, cs);
        }
        apr_thread_mutex_unlock(c->lock);
        apr_pool_cleanup_register(r->pool, cs, release, apr_pool_cleanup_null);
        return cs;
    }
    apr_thread_mutex_unlock(c->lock);

    /* Compiled outside the lock; two threads may compile the same share at
     * once, and the later one's copy stays. */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        *e = pds_err(r->pool, 500, "internal", "out of memory");
        return NULL;
    }
    if ((*e = compile(r, ctx, head, pool, &cs))) {
        apr_pool_destroy(pool);
        return NULL;
    }
    cs->pool = pool;
    cs->key = apr_pstrdup(pool, key);
    cs->refs = 1;
    apr_thread_mutex_lock(c->lock);
    {
        pdshare_compiled_t *old = apr_hash_get(c->by_key, cs->key, APR_HASH_KEY_STRING);
        /* Keep the newer version when two threads raced (a version only grows). */
        if (!old || old->version <= cs->version) {
            if (old) drop(c, old);
            if (cs->bytes <= c->bound) {
                cs->cached = 1;
                apr_hash_set(c->by_key, cs->key, APR_HASH_KEY_STRING, cs);
                push_front(c, cs);
                c->bytes += cs->bytes;
                while (c->bytes > c->bound && c->tail && c->tail != cs) {
                    drop(c, c->tail);
                    c->evictions++;
                }
            }
        }
    }
    apr_thread_mutex_unlock(c->lock);
    if (!cs->cached && cs->bytes > c->bound)
        /* Once per server (all children) at info; then at debug, not per request. */
        ap_log_rerror(APLOG_MARK, pdshare_once(PDSHARE_ONCE_SHARE_CACHE_BOUND) ? APLOG_INFO
                      : APLOG_DEBUG, 0, r, "PDS00171: share %s takes %" APR_SIZE_T_FMT
                      " bytes compiled, more than PDShareShareCache (%" APR_SIZE_T_FMT "):"
                      " compiled for each request", head->share_id, cs->bytes, c->bound);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PDS00172: share %s compiled at version %"
                  APR_INT64_T_FMT ": %" APR_SIZE_T_FMT " bytes; this child's compiled shares:"
                  " %" APR_SIZE_T_FMT " of %" APR_SIZE_T_FMT " bytes, %" APR_SIZE_T_FMT
                  " pushed out so far", head->share_id, head->version, cs->bytes, c->bytes,
                  c->bound, c->evictions);
    apr_pool_cleanup_register(r->pool, cs, release, apr_pool_cleanup_null);
    return cs;
}

apr_size_t pdshare_compiled_page_len(const pdshare_compiled_t *cs, const char *nonce)
{
    return cs->html_len + (cs->html->nelts - 1) * strlen(nonce);
}

/* For a main request, an immortal bucket: the entry (and the nonce, in
 * r->pool) stays until r->pool's cleanup, which runs when the request's
 * end-of-request bucket is destroyed, after the core has written everything
 * before it, asynchronous write completion included. A subrequest's pool
 * goes as soon as it returns, while the core may still hold the buckets set
 * aside for a slow client: there, a transient bucket, which the core copies
 * when it sets it aside. */
apr_bucket *pdshare_compiled_bucket(request_rec *r, const char *data, apr_size_t len)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    return r->main ? apr_bucket_transient_create(data, len, ba)
                   : apr_bucket_immortal_create(data, len, ba);
}

void pdshare_compiled_page(request_rec *r, const pdshare_compiled_t *cs, const char *nonce,
                           apr_bucket_brigade *bb)
{
    apr_size_t nlen = strlen(nonce);
    int i;
    for (i = 0; i < cs->html->nelts; i++) {
        const pdshare_piece_t *piece = &APR_ARRAY_IDX(cs->html, i, pdshare_piece_t);
        if (i) APR_BRIGADE_INSERT_TAIL(bb, pdshare_compiled_bucket(r, nonce, nlen));
        if (piece->len)
            APR_BRIGADE_INSERT_TAIL(bb, pdshare_compiled_bucket(r, piece->text, piece->len));
    }
}
