#include <string.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_memcache.h>

#include "pds_cache.h"

/* ---------------------------------------------------------- in-process */

typedef struct {
    char *key;                       /* the table's key: freed with the entry */
    char *val;
    apr_time_t expires;
    apr_time_t stored;
} entry_t;

typedef struct {
    apr_pool_t *pool;
    apr_thread_mutex_t *mutex;
    apr_hash_t *table;               /* key -> entry_t*, entries malloc'd */
    apr_size_t max;
} inproc_t;

static void entry_free(apr_hash_t *t, entry_t *e)
{
    apr_hash_set(t, e->key, APR_HASH_KEY_STRING, NULL);
    free(e->key);
    free(e->val);
    free(e);
}

/* Make room: drop what has expired, then the oldest. Mutex held. */
static void inproc_evict(inproc_t *c, apr_pool_t *p)
{
    apr_time_t now = apr_time_now();
    apr_hash_index_t *hi;
    entry_t *oldest = NULL;
    for (hi = apr_hash_first(p, c->table); hi; hi = apr_hash_next(hi)) {
        entry_t *e = apr_hash_this_val(hi);
        if (e->expires <= now) entry_free(c->table, e);
        else if (!oldest || e->stored < oldest->stored) oldest = e;
    }
    if (apr_hash_count(c->table) >= c->max && oldest) entry_free(c->table, oldest);
}

static apr_status_t inproc_get(pds_cache_t *cache, apr_pool_t *p, const char *key,
                               const char **val)
{
    inproc_t *c = cache->impl;
    entry_t *e;
    apr_status_t rv = APR_NOTFOUND;
    apr_thread_mutex_lock(c->mutex);
    e = apr_hash_get(c->table, key, APR_HASH_KEY_STRING);
    if (e && e->expires > apr_time_now()) {
        *val = apr_pstrdup(p, e->val);
        rv = APR_SUCCESS;
    }
    apr_thread_mutex_unlock(c->mutex);
    return rv;
}

static apr_status_t inproc_put(pds_cache_t *cache, const char *key, const char *val, int ttl,
                               int only_new)
{
    inproc_t *c = cache->impl;
    apr_time_t now = apr_time_now();
    entry_t *e;
    char *v;
    apr_status_t rv = APR_SUCCESS;
    apr_pool_t *tmp;
    apr_thread_mutex_lock(c->mutex);
    e = apr_hash_get(c->table, key, APR_HASH_KEY_STRING);
    if (e && e->expires > now && only_new) {
        rv = APR_EEXIST;
    }
    else if (!(v = strdup(val))) {
        rv = APR_ENOMEM;
    }
    else {
        if (!e) {
            if (apr_hash_count(c->table) >= c->max
                && apr_pool_create(&tmp, c->pool) == APR_SUCCESS) {
                inproc_evict(c, tmp);
                apr_pool_destroy(tmp);
            }
            if (!(e = calloc(1, sizeof(*e))) || !(e->key = strdup(key))) {
                free(e);
                free(v);
                apr_thread_mutex_unlock(c->mutex);
                return APR_ENOMEM;
            }
            apr_hash_set(c->table, e->key, APR_HASH_KEY_STRING, e);
        }
        free(e->val);
        e->val = v;
        e->expires = now + apr_time_from_sec(ttl);
        e->stored = now;
    }
    apr_thread_mutex_unlock(c->mutex);
    return rv;
}

static apr_status_t inproc_set(pds_cache_t *c, const char *key, const char *val, int ttl)
{
    return inproc_put(c, key, val, ttl, 0);
}

static apr_status_t inproc_add(pds_cache_t *c, const char *key, const char *val, int ttl)
{
    return inproc_put(c, key, val, ttl, 1);
}

static apr_status_t inproc_del(pds_cache_t *cache, const char *key)
{
    inproc_t *c = cache->impl;
    entry_t *e;
    apr_thread_mutex_lock(c->mutex);
    if ((e = apr_hash_get(c->table, key, APR_HASH_KEY_STRING))) entry_free(c->table, e);
    apr_thread_mutex_unlock(c->mutex);
    return APR_SUCCESS;
}

static apr_status_t inproc_cleanup(void *data)
{
    inproc_t *c = data;
    apr_hash_index_t *hi;
    for (hi = apr_hash_first(NULL, c->table); hi; hi = apr_hash_next(hi))
        entry_free(c->table, apr_hash_this_val(hi));
    return APR_SUCCESS;
}

apr_status_t pds_cache_inproc(apr_pool_t *p, apr_size_t max_entries, pds_cache_t **out)
{
    pds_cache_t *cache = apr_pcalloc(p, sizeof(*cache));
    inproc_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv = apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) return rv;
    c->pool = p;
    c->table = apr_hash_make(p);
    c->max = max_entries ? max_entries : 10000;
    apr_pool_cleanup_register(p, c, inproc_cleanup, apr_pool_cleanup_null);
    cache->name = "in-process";
    cache->get = inproc_get;
    cache->set = inproc_set;
    cache->add = inproc_add;
    cache->del = inproc_del;
    cache->impl = c;
    *out = cache;
    return APR_SUCCESS;
}

/* -------------------------------------------------------------- memcache */

/* apr_memcache answers APR_NOTFOUND both for a miss and when no server is
 * alive for the key; tell them apart by asking which server holds it. */
static int mc_server_alive(apr_memcache_t *mc, const char *key)
{
    apr_uint32_t h = apr_memcache_hash(mc, key, strlen(key));
    return apr_memcache_find_server_hash(mc, h) != NULL;
}

static apr_status_t mc_get(pds_cache_t *cache, apr_pool_t *p, const char *key, const char **val)
{
    apr_memcache_t *mc = cache->impl;
    char *data = NULL;
    apr_size_t len = 0;
    apr_status_t rv;
    if (!mc_server_alive(mc, key)) return APR_ECONNREFUSED;
    rv = apr_memcache_getp(mc, p, key, &data, &len, NULL);
    if (rv == APR_SUCCESS) {
        *val = apr_pstrndup(p, data, len);
        return APR_SUCCESS;
    }
    if (rv == APR_NOTFOUND && mc_server_alive(mc, key)) return APR_NOTFOUND;
    return rv == APR_NOTFOUND ? APR_ECONNREFUSED : rv;
}

static apr_status_t mc_set(pds_cache_t *cache, const char *key, const char *val, int ttl)
{
    return apr_memcache_set(cache->impl, key, (char *)val, strlen(val), (apr_uint32_t)ttl, 0);
}

static apr_status_t mc_add(pds_cache_t *cache, const char *key, const char *val, int ttl)
{
    apr_memcache_t *mc = cache->impl;
    apr_status_t rv;
    if (!mc_server_alive(mc, key)) return APR_ECONNREFUSED;
    rv = apr_memcache_add(mc, key, (char *)val, strlen(val), (apr_uint32_t)ttl, 0);
    return rv;
}

static apr_status_t mc_del(pds_cache_t *cache, const char *key)
{
    apr_status_t rv = apr_memcache_delete(cache->impl, key, 0);
    return rv == APR_NOTFOUND ? APR_SUCCESS : rv;
}

/* apr_memcache moves a dead server's keys to the others without a word:
 * say which are down, so that the admin hears of it. */
static const char *mc_down(pds_cache_t *cache, apr_pool_t *p)
{
    apr_memcache_t *mc = cache->impl;
    const char *down = NULL;
    apr_uint16_t i;
    for (i = 0; i < mc->ntotal; i++) {
        apr_memcache_server_t *ms = mc->live_servers[i];
        if (ms && ms->status == APR_MC_SERVER_DEAD)
            down = apr_psprintf(p, "%s%s%s:%u", down ? down : "", down ? ", " : "", ms->host,
                                ms->port);
    }
    return down;
}

apr_status_t pds_cache_memcache(apr_pool_t *p, apr_array_header_t *servers, int hmax,
                                pds_cache_t **out, const char **err)
{
    pds_cache_t *cache = apr_pcalloc(p, sizeof(*cache));
    apr_memcache_t *mc;
    apr_status_t rv;
    int i;
    if (hmax < 1) hmax = 1;
    if ((rv = apr_memcache_create(p, (apr_uint16_t)servers->nelts, 0, &mc)) != APR_SUCCESS) {
        *err = "cannot create the memcache client";
        return rv;
    }
    for (i = 0; i < servers->nelts; i++) {
        const char *spec = APR_ARRAY_IDX(servers, i, const char *);
        char *host = NULL, *scope = NULL;
        apr_port_t port = 0;
        apr_memcache_server_t *ms;
        if (apr_parse_addr_port(&host, &scope, &port, spec, p) != APR_SUCCESS || !host || !port) {
            *err = apr_psprintf(p, "'%s' is not HOST:PORT", spec);
            return APR_EINVAL;
        }
        /* min 0: no socket before fork; connections live 60 s idle. */
        rv = apr_memcache_server_create(p, host, port, 0, 1, (apr_uint32_t)hmax,
                                        (apr_uint32_t)apr_time_from_sec(60), &ms);
        if (rv == APR_SUCCESS) rv = apr_memcache_add_server(mc, ms);
        if (rv != APR_SUCCESS) {
            *err = apr_psprintf(p, "cannot add memcached server %s", spec);
            return rv;
        }
    }
    cache->name = "memcache";
    cache->get = mc_get;
    cache->set = mc_set;
    cache->add = mc_add;
    cache->del = mc_del;
    cache->down = mc_down;
    cache->impl = mc;
    *out = cache;
    return APR_SUCCESS;
}

/* ---------------------------------------------------------- coalescing */

#define LOCK_TTL 15
#define POLL_MS 20

/* Some servers down while others stood in: still an outage to report. */
static void note_down(pds_cache_t *c, apr_pool_t *p, pds_cache_trace_t *trace)
{
    const char *down = c->down ? c->down(c, p) : NULL;
    if (down)
        trace->outage_why = apr_psprintf(p, "%s server %s down; the others stand in", c->name,
                                         down);
}

apr_status_t pds_cache_fetch(pds_cache_t *c, apr_pool_t *p, const char *key, int wait_ms,
                             pds_cache_fill_fn fill, void *baton, const char **val,
                             pds_cache_trace_t *trace)
{
    const char *lock = apr_pstrcat(p, key, ":lock", NULL);
    apr_time_t until = apr_time_now() + apr_time_from_msec(wait_ms);
    apr_status_t rv;
    int ttl = 0, locked = 0;

    memset(trace, 0, sizeof(*trace));
    for (;;) {
        rv = c->get(c, p, key, val);
        if (rv == APR_SUCCESS) {
            trace->hit = 1;
            note_down(c, p, trace);
            return APR_SUCCESS;
        }
        if (rv != APR_NOTFOUND) break;                       /* outage */
        rv = c->add(c, lock, "1", LOCK_TTL);
        if (rv == APR_SUCCESS) { locked = 1; break; }
        if (rv != APR_EEXIST) break;                          /* outage */
        if (apr_time_now() >= until) { rv = APR_SUCCESS; break; }  /* waited enough */
        apr_sleep(apr_time_from_msec(POLL_MS));
    }
    if (rv != APR_SUCCESS && !locked) {
        trace->outage = 1;
        trace->outage_why = apr_psprintf(p, "%s cache unavailable (%d)", c->name, rv);
    }
    else note_down(c, p, trace);
    if (locked) {
        /* Someone may have filled it between our get and add. */
        if (c->get(c, p, key, val) == APR_SUCCESS) {
            c->del(c, lock);
            trace->hit = 1;
            return APR_SUCCESS;
        }
    }
    rv = fill(baton, p, val, &ttl);
    trace->filled = 1;
    if (rv == APR_SUCCESS && ttl > 0 && !trace->outage) c->set(c, key, *val, ttl);
    if (locked) c->del(c, lock);
    return rv;
}
