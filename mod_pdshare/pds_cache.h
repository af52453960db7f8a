/* The temporary-link cache: one interface (a function table) with an
 * in-process backend (per child) and a memcached backend (shared by every
 * child and node). A get answers a hit, a miss, or an error; an error is
 * an outage to log and get around, never "no such link". */
#ifndef PDS_CACHE_H
#define PDS_CACHE_H

#include "pds.h"

typedef struct pds_cache_t pds_cache_t;
struct pds_cache_t {
    const char *name;
    /* APR_SUCCESS: hit; APR_NOTFOUND: miss; anything else: the cache is down. */
    apr_status_t (*get)(pds_cache_t *c, apr_pool_t *p, const char *key, const char **val);
    apr_status_t (*set)(pds_cache_t *c, const char *key, const char *val, int ttl);
    /* APR_SUCCESS when added, APR_EEXIST when the key was there. */
    apr_status_t (*add)(pds_cache_t *c, const char *key, const char *val, int ttl);
    apr_status_t (*del)(pds_cache_t *c, const char *key);
    /* NULL when every server is up, else which are down (optional). */
    const char *(*down)(pds_cache_t *c, apr_pool_t *p);
    void *impl;
};

/* In-process: a table guarded by a mutex, at most max_entries (expired
 * entries are dropped first, then the oldest). */
apr_status_t pds_cache_inproc(apr_pool_t *p, apr_size_t max_entries, pds_cache_t **out);
/* memcached: servers are "host:port". Sockets open lazily (min 0), so this
 * may run before fork; hmax caps the connections per server and process. */
apr_status_t pds_cache_memcache(apr_pool_t *p, apr_array_header_t *servers, int hmax,
                                pds_cache_t **out, const char **err);

/* Computes the value on a miss; answers APR_SUCCESS and a pool string, or an
 * error (and *why) when the value cannot be had. */
typedef apr_status_t (*pds_cache_fill_fn)(void *baton, apr_pool_t *p, const char **val,
                                          int *ttl);

typedef struct {
    int hit;                /* served from the cache */
    int filled;             /* this call computed the value */
    int outage;             /* the cache was down: computed without coalescing */
    const char *outage_why; /* also set when some servers are down and others stood in */
} pds_cache_trace_t;

/* The value for key: from the cache, or computed once for all concurrent
 * callers: the first takes a short lock (an `add` of "<key>:lock"), the
 * others wait for its value up to wait_ms, then compute it themselves. */
apr_status_t pds_cache_fetch(pds_cache_t *c, apr_pool_t *p, const char *key, int wait_ms,
                             pds_cache_fill_fn fill, void *baton, const char **val,
                             pds_cache_trace_t *trace);

#endif
