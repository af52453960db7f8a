/* Counting off the request path (issue 13): visitors never wait for the
 * database to count them.
 *
 * A request encodes its events as one record and appends it, with one
 * write(2) on an O_APPEND descriptor, to its child's current spool file, then
 * answers. The kernel keeps what was written when the child is killed, so a
 * count is never lost once the visitor was answered. Every WRITE_MS the
 * child's writer thread swaps in a fresh spool file, reads the old one back,
 * inserts its events in one transaction (ON CONFLICT DO NOTHING on their ids)
 * and removes it. A file is flock'ed by its child as long as the child has it;
 * every second the writer also claims the files nobody holds (their child
 * died, or exited while the database was away) and commits them the same way.
 * At child exit (graceful restart or stop) the writer commits what is left;
 * what it cannot commit stays in the spool for the next writer. */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_optional.h>
#include <http_core.h>
#include <http_main.h>
#include <unixd.h>

#include "mod_pdshare_counter.h"
#include "pds_util.h"
#include "pds_db.h"

#define WRITE_MS 80                 /* a batch at least this often (SPEC: 100 ms) */
#define CLAIM_MS 1000               /* how often dead children's files are looked for */
#define RETRY_MS 1000               /* after a failed commit */

struct pdshare_counter_t {
    server_rec *s;                  /* whose mod_dbd connection the writer uses */
    const char *dir;
    apr_pool_t *pool;               /* the writer's; files have sub-pools of it */
    apr_thread_mutex_t *lock;       /* guards cur, seq */
    pds_spool_file_t *cur;          /* requests append here */
    apr_pool_t *cur_pool;
    const char *id_prefix;          /* of event ids: unique per child */
    const char *name_prefix;        /* of this child's file names */
    apr_uint64_t seq;
    unsigned int gen;
    apr_thread_t *thread;
    volatile int stop;
    apr_time_t next_connect;
};

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

/* ------------------------------------------------------------ config */

int pdshare_counter_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    server_rec *sp;
    for (sp = s; sp; sp = sp->next) {
        pdshare_srv_conf *c = pdshare_srv(sp);
        apr_status_t rv;
        if (!c->spool_dir) c->spool_dir = ap_runtime_dir_relative(pconf, "pdshare-spool");
        if (!c->spool_dir) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, "PDS00163: PDShareSpoolDir: no"
                         " default: DefaultRuntimeDir is not usable");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if ((rv = apr_dir_make_recursive(c->spool_dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                         | APR_FPROT_UEXECUTE, ptemp)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, sp, "PDS00163: PDShareSpoolDir: cannot"
                         " create %s", c->spool_dir);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* The children write it as the server's User, as PDShareStorageDir. */
        if (geteuid() == 0
            && chown(c->spool_dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, errno, sp, "PDS00163: PDShareSpoolDir: cannot"
                         " give %s to the server's User", c->spool_dir);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ------------------------------------------------------------ spool files */

/* A new spool file for this child: its name says which child (for logs and
 * to skip our own files when claiming); created held. */
static apr_status_t new_file(struct pdshare_counter_t *k, pds_spool_file_t **f, apr_pool_t **fp)
{
    apr_status_t rv = APR_EGENERAL;
    int attempt;
    if ((rv = apr_pool_create(fp, k->pool)) != APR_SUCCESS) return rv;
    for (attempt = 0; attempt < 3; attempt++) {
        const char *name = apr_psprintf(*fp, "%s%u.spool", k->name_prefix, ++k->gen);
        if ((rv = pds_spool_create(*fp, k->dir, name, f)) != APR_EAGAIN) break;
    }
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(*fp);
        *fp = NULL;
    }
    return rv;
}

/* ------------------------------------------------------------ request path */

apr_status_t pdshare_count_events(request_rec *r, pds_ctx_t *ctx, pds_event_t *events, int n)
{
    struct pdshare_counter_t *k = pdshare_srv(r->server)->counter;
    apr_status_t rv;
    char *buf;
    apr_size_t len;
    int i, kept = 0;

    for (i = 0; i < n; i++) {
        const char *kind = pds_event_kind(ctx->link_preview, events[i].kind);
        if (!kind) continue;
        events[kept] = events[i];
        events[kept].kind = kind;
        events[kept].created_at = ctx->now;
        kept++;
    }
    if (!kept) return APR_SUCCESS;
    if (!k) {
        rv = APR_ENOTIMPL;
    }
    else {
        apr_thread_mutex_lock(k->lock);
        for (i = 0; i < kept; i++) events[i].id = pds_spool_make_id(r->pool, k->id_prefix, ++k->seq);
        rv = pds_spool_encode(r->pool, events, kept, &buf, &len);
        if (rv == APR_SUCCESS) rv = k->cur ? pds_spool_append(k->cur, buf, len) : APR_ENOENT;
        apr_thread_mutex_unlock(k->lock);
    }
    if (rv != APR_SUCCESS) {
        char ebuf[120];
        pdshare_incident_fail(r, r->server, PDSHARE_INC_SPOOL, APLOG_ERR,
                              "PDS00160: recording a %s in %s: %s", events[0].kind,
                              k ? k->dir : "the spool (no writer in this child)",
                              apr_strerror(rv, ebuf, sizeof(ebuf)));
        return rv;
    }
    pdshare_incident_ok(r->server, PDSHARE_INC_SPOOL);
    return APR_SUCCESS;
}

apr_status_t pdshare_count(request_rec *r, pds_ctx_t *ctx, const char *share_id,
                           const char *track_id, const char *file_id, const char *kind,
                           const char *category)
{
    pds_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.share_id = share_id;
    ev.track_id = track_id;
    ev.file_id = file_id;
    ev.kind = kind;
    ev.category = category;
    return pdshare_count_events(r, ctx, &ev, 1);
}

/* ------------------------------------------------------------ the writer */

/* Commit a held file's events and remove it. 0 when done (or nothing in it). */
static int commit_file(struct pdshare_counter_t *k, apr_pool_t *p, pds_spool_file_t *f,
                       int now_or_never)
{
    apr_time_t started = apr_time_now();
    apr_array_header_t *events;
    apr_size_t len, skipped;
    ap_dbd_t *dbd = NULL;
    pds_db_t db;
    char *buf;
    apr_status_t rv;

    if ((rv = pds_spool_read(p, f, &buf, &len)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, k->s, "PDS00161: cannot read spool file %s",
                     f->path);
        return -1;
    }
    events = pds_spool_decode_all(p, buf, len, &skipped);
    if (skipped)
        /* A torn tail is a child killed inside write(2): that visitor had no answer. */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, k->s, "PDS00162: spool file %s: %"
                     APR_SIZE_T_FMT " bytes of a torn or damaged record skipped", f->path, skipped);
    if (!events->nelts) {
        pds_spool_remove(f);
        return 0;
    }
    if ((!now_or_never && started < k->next_connect)
        || !pdshare_incident_may_connect(PDSHARE_INC_DATABASE))
        return -1;
    if (!(dbd = dbd_open(p, k->s))) {
        k->next_connect = started + apr_time_from_msec(RETRY_MS);
        pdshare_incident_fail_since(k->s, PDSHARE_INC_DATABASE, started, APLOG_ERR, "PDS00161: "
                                    "the counter has no database connection from mod_dbd;"
                                    " %d events wait in %s", events->nelts, f->path);
        return -1;
    }
    pdshare_incident_connected(PDSHARE_INC_DATABASE, 1);
    if (pdshare_dbd_ready(k->s, dbd)) {
        dbd_close(k->s, dbd);
        k->next_connect = started + apr_time_from_msec(RETRY_MS);
        return -1;
    }
    memset(&db, 0, sizeof(db));
    db.pool = p;
    db.driver = dbd->driver;
    db.handle = dbd->handle;
    db.prepared = dbd->prepared;
    rv = pds_spool_commit(&db, events);
    dbd_close(k->s, dbd);
    if (rv != APR_SUCCESS) {
        k->next_connect = started + apr_time_from_msec(RETRY_MS);
        pdshare_incident_fail_since(k->s, PDSHARE_INC_DATABASE, started, APLOG_ERR,
                                    "PDS00161: committing %d counted events: %s", events->nelts,
                                    db.last_error ? db.last_error : "failed");
        return -1;
    }
    pdshare_incident_ok(k->s, PDSHARE_INC_DATABASE);
    pds_spool_remove(f);
    return 0;
}

/* The files nobody holds: their children are gone. */
static void claim_orphans(struct pdshare_counter_t *k, apr_pool_t *p)
{
    apr_array_header_t *paths;
    apr_size_t plen = strlen(k->name_prefix);
    int i;
    if (pds_spool_list(p, k->dir, &paths) != APR_SUCCESS) return;
    for (i = 0; i < paths->nelts && !k->stop; i++) {
        const char *path = APR_ARRAY_IDX(paths, i, const char *);
        const char *name = strrchr(path, '/') + 1;
        pds_spool_file_t *f;
        if (!strncmp(name, k->name_prefix, plen)) continue;   /* ours */
        if (pds_spool_claim(p, path, &f) != APR_SUCCESS) continue;
        if (commit_file(k, p, f, 0)) {
            pds_spool_close(f);             /* for a later try, here or elsewhere */
            return;
        }
    }
}

/* Swap in a fresh file when the current one holds events; answers the old
 * one (to commit), or NULL. With stop set, no new file is made. */
static pds_spool_file_t *rotate(struct pdshare_counter_t *k, apr_pool_t **old_pool, int final)
{
    pds_spool_file_t *old = NULL, *f = NULL;
    apr_pool_t *fp = NULL;
    apr_size_t bytes;

    apr_thread_mutex_lock(k->lock);
    bytes = k->cur ? k->cur->bytes : 0;
    apr_thread_mutex_unlock(k->lock);
    if (!bytes && !final && k->cur) return NULL;
    if (!final && new_file(k, &f, &fp) != APR_SUCCESS) {
        if (!k->cur) return NULL;
        /* No new file: the requests keep the current one; try again later. */
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, k->s, "PDS00161: cannot create a spool"
                     " file in %s", k->dir);
        return NULL;
    }
    apr_thread_mutex_lock(k->lock);
    old = k->cur;
    *old_pool = k->cur_pool;
    k->cur = f;
    k->cur_pool = fp;
    apr_thread_mutex_unlock(k->lock);
    return old;
}

static void *APR_THREAD_FUNC writer_main(apr_thread_t *t, void *data)
{
    struct pdshare_counter_t *k = data;
    apr_pool_t *iter, *pending_pool = NULL;
    pds_spool_file_t *pending = NULL;
    apr_time_t next_claim = 0;
    int i;

    if (apr_pool_create(&iter, k->pool) != APR_SUCCESS) return NULL;
    while (!k->stop) {
        apr_time_t now = apr_time_now();
        /* One batch in hand at a time: a failed commit is tried again before
         * the next swap, and the requests go on appending meanwhile. */
        if (!pending) pending = rotate(k, &pending_pool, 0);
        if (pending && now >= k->next_connect) {
            if (!commit_file(k, iter, pending, 0)) {
                apr_pool_destroy(pending_pool);
                pending = NULL;
            }
            apr_pool_clear(iter);
        }
        if (now >= next_claim) {
            claim_orphans(k, iter);
            apr_pool_clear(iter);
            next_claim = now + apr_time_from_msec(CLAIM_MS);
        }
        /* A batch every WRITE_MS from the start of the last one: the time
         * its commit took is not added to the wait. */
        {
            apr_time_t left = now + apr_time_from_msec(WRITE_MS) - apr_time_now();
            if (left > 0) apr_sleep(left);
        }
    }
    /* Child exit: every request is done. The batch in hand, then the rest. */
    for (i = 0; i < 2; i++) {
        if (!pending) pending = rotate(k, &pending_pool, 1);
        if (!pending || commit_file(k, iter, pending, 1)) break;
        apr_pool_destroy(pending_pool);
        pending = NULL;
    }
    if (pending || k->cur) {
        /* Released when the child's pools go: another child commits them. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, k->s, "PDS00161: counted events left in"
                     " %s for another child to commit", k->dir);
    }
    apr_pool_destroy(iter);
    return NULL;
}

static apr_status_t writer_stop(void *data)
{
    struct pdshare_counter_t *k = data;
    apr_status_t rv;
    k->stop = 1;
    if (k->thread) apr_thread_join(&rv, k->thread);
    return APR_SUCCESS;
}

void pdshare_counter_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *by_dir = apr_hash_make(pchild);
    const char *id_prefix = pds_random_b64url(pchild, 12);
    server_rec *sp;

    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_open || !dbd_close) return;
    /* One writer per spool directory; the first server naming it gives the
     * database (see PDShareSpoolDir in README). */
    for (sp = s; sp; sp = sp->next) {
        pdshare_srv_conf *c = pdshare_srv(sp);
        struct pdshare_counter_t *k;
        if (!c->spool_dir) continue;
        if ((k = apr_hash_get(by_dir, c->spool_dir, APR_HASH_KEY_STRING))) {
            c->counter = k;
            continue;
        }
        k = apr_pcalloc(pchild, sizeof(*k));
        k->s = sp;
        k->dir = c->spool_dir;
        k->id_prefix = id_prefix;
        k->name_prefix = apr_psprintf(pchild, "%" APR_PID_T_FMT "-%s-", getpid(),
                                      pds_random_b64url(pchild, 6));
        if (apr_pool_create(&k->pool, pchild) != APR_SUCCESS
            || apr_thread_mutex_create(&k->lock, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS)
            return;
        if (new_file(k, &k->cur, &k->cur_pool) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, sp, "PDS00161: cannot create a spool"
                         " file in %s; this child answers 503 where it must count", k->dir);
            continue;
        }
        apr_hash_set(by_dir, k->dir, APR_HASH_KEY_STRING, k);
        c->counter = k;
        /* Stopped and joined before mod_dbd's pools go (as the job worker). */
        apr_pool_pre_cleanup_register(pchild, k, writer_stop);
        if (apr_thread_create(&k->thread, NULL, writer_main, k, k->pool) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, "PDS00161: cannot start the counter's"
                         " writer; counts wait in %s for another child", k->dir);
            k->thread = NULL;
        }
    }
}
