/* Incidents: an outage of the database, of Dropbox or of the link cache is
 * logged once when it starts, reminded every PDSHARE_INCIDENT_REMIND seconds
 * while it lasts, and once when it ends, with how many requests it failed;
 * not once per request. The per-request detail still goes to the log at
 * info, for an admin who turns LogLevel up.
 *
 * The state lives in anonymous shared memory made in post_config, so all
 * children of one httpd share it: one line per incident per server, however
 * many processes see the failures. An incident ends on a success after
 * PDSHARE_INCIDENT_QUIET seconds without a failure, so a restart that fails
 * some pooled connections while others already work is one incident, not a
 * flapping series. For the database the callers count only writes as
 * successes: reads go on while SQLite is locked for writing. */
#include <stdarg.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "mod_pdshare.h"

#define PDSHARE_INCIDENT_QUIET   5
#define PDSHARE_INCIDENT_REMIND  600

typedef struct {
    volatile apr_uint32_t open;        /* 1 while the incident lasts */
    volatile apr_uint32_t failures;    /* failed requests in it */
    volatile apr_uint32_t opened;      /* epoch seconds */
    volatile apr_uint32_t last_fail;
    volatile apr_uint32_t reminded;
    volatile apr_uint32_t unreachable; /* when a connection last could not be had; 0: can */
    volatile apr_uint32_t closed;      /* when the last incident ended */
} incident_slot;

static const struct {
    const char *what;
    const char *open_code, *remind_code, *close_code;
} kinds[PDSHARE_INC_COUNT] = {
    [PDSHARE_INC_DATABASE]  = { "the database", "PDS00070", "PDS00071", "PDS00072" },
    [PDSHARE_INC_DROPBOX]   = { "Dropbox", "PDS00073", "PDS00074", "PDS00075" },
    [PDSHARE_INC_LINKCACHE] = { "the link cache (memcached)", "PDS00041", "PDS00041",
                                "PDS00042" },
    [PDSHARE_INC_SPOOL]     = { "the visitor-event spool (PDShareSpoolDir)", "PDS00160",
                                "PDS00164", "PDS00165" },
};

static incident_slot *slots;
/* Things worth saying once per server, not once per child (PDSHARE_ONCE_*),
 * in the same shared memory, after the slots. */
static volatile apr_uint32_t *once_flags;

static apr_uint32_t now_sec(void)
{
    return (apr_uint32_t)apr_time_sec(apr_time_now());
}

void pdshare_incident_init(apr_pool_t *pconf, server_rec *s)
{
    apr_shm_t *shm = NULL;
    apr_status_t rv;
    apr_size_t size = sizeof(incident_slot) * PDSHARE_INC_COUNT
                      + sizeof(apr_uint32_t) * PDSHARE_ONCE_COUNT;

    rv = apr_atomic_init(pconf);
    if (rv == APR_SUCCESS) rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv == APR_SUCCESS) {
        slots = apr_shm_baseaddr_get(shm);
        memset(slots, 0, size);
        once_flags = (volatile apr_uint32_t *)(slots + PDSHARE_INC_COUNT);
        return;
    }
    /* Without anonymous shared memory each child keeps its own state: one
     * line per incident per child. */
    ap_log_error(APLOG_MARK, APLOG_NOTICE, rv, s, "PDS00076: no anonymous shared memory for "
                 "the incident log; outages are logged once per child, not once per server");
    slots = apr_pcalloc(pconf, size);
    once_flags = (volatile apr_uint32_t *)(slots + PDSHARE_INC_COUNT);
}

pdshare_incident_t pdshare_incident_of(pds_err_kind_e kind)
{
    switch (kind) {
    case PDS_ERR_DATABASE: return PDSHARE_INC_DATABASE;
    case PDS_ERR_DROPBOX:  return PDSHARE_INC_DROPBOX;
    case PDS_ERR_CACHE:    return PDSHARE_INC_LINKCACHE;
    default:               return PDSHARE_INC_COUNT;
    }
}

int pdshare_once(pdshare_once_t which)
{
    if (!once_flags || which < 0 || which >= PDSHARE_ONCE_COUNT) return 1;
    return apr_atomic_cas32(&once_flags[which], 1, 0) == 0;
}

static void vfail(request_rec *r, server_rec *s, pdshare_incident_t kind, apr_time_t started,
                  int level, const char *fmt, va_list ap)
{
    incident_slot *slot = slots ? &slots[kind] : NULL;
    apr_uint32_t now = now_sec(), reminded;
    /* Without a request (the job worker's thread, mod_dbd's post_connect
     * hook) there is no pool of this thread's own: s->process->pool is
     * shared by every thread and never cleared. A line fits on the stack. */
    char buf[HUGE_STRING_LEN];
    const char *detail = buf;

    if (r) detail = apr_pvsprintf(r->pool, fmt, ap);
    else apr_vsnprintf(buf, sizeof(buf), fmt, ap);

    if (!slot) {                       /* before post_config: nothing to count with */
        ap_log_error(APLOG_MARK, level, 0, s, "%s", detail);
        return;
    }
    /* A request that began before the last incident ended and failed only
     * now, or one that failed right after it ended (on a pooled connection
     * left over from before the outage): part of that incident, not a new
     * one. A failure that goes on opens the next incident a moment later. */
    if (!apr_atomic_read32(&slot->open)
        && ((started && (apr_uint32_t)apr_time_sec(started) < apr_atomic_read32(&slot->closed))
            || now - apr_atomic_read32(&slot->closed) < PDSHARE_INCIDENT_QUIET)) {
        if (r) ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "%s", detail);
        else ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "%s", detail);
        return;
    }
    apr_atomic_set32(&slot->last_fail, now);
    /* Counted before anything else: a request that fails while another opens
     * the incident is counted too (the count is reset only when it closes). */
    apr_atomic_inc32(&slot->failures);
    if (apr_atomic_cas32(&slot->open, 1, 0) == 0) {
        apr_atomic_set32(&slot->opened, now);
        apr_atomic_set32(&slot->reminded, now);
        if (r)
            ap_log_rerror(APLOG_MARK, level, 0, r, "%s: %s is failing: %s; further failures are "
                          "counted, and logged at info only, until it answers again",
                          kinds[kind].open_code, kinds[kind].what, detail);
        else
            ap_log_error(APLOG_MARK, level, 0, s, "%s: %s is failing: %s; further failures are "
                         "counted, and logged at info only, until it answers again",
                         kinds[kind].open_code, kinds[kind].what, detail);
        return;
    }
    reminded = apr_atomic_read32(&slot->reminded);
    if (now - reminded >= PDSHARE_INCIDENT_REMIND
        && apr_atomic_cas32(&slot->reminded, now, reminded) == reminded) {
        ap_log_error(APLOG_MARK, level, 0, s, "%s: %s is still failing after %u s, %u failed "
                     "requests so far; latest: %s", kinds[kind].remind_code, kinds[kind].what,
                     now - apr_atomic_read32(&slot->opened), apr_atomic_read32(&slot->failures),
                     detail);
        return;
    }
    if (r) ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "%s", detail);
    else ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "%s", detail);
}

void pdshare_incident_fail(request_rec *r, server_rec *s, pdshare_incident_t kind, int level,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, s, kind, r ? r->request_time : 0, level, fmt, ap);
    va_end(ap);
}

void pdshare_incident_fail_since(server_rec *s, pdshare_incident_t kind, apr_time_t started,
                                 int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(NULL, s, kind, started, level, fmt, ap);
    va_end(ap);
}

void pdshare_incident_ok(server_rec *s, pdshare_incident_t kind)
{
    incident_slot *slot = slots ? &slots[kind] : NULL;
    apr_uint32_t now, failed;

    if (!slot || !apr_atomic_read32(&slot->open)) return;      /* the usual case */
    now = now_sec();
    if (now - apr_atomic_read32(&slot->last_fail) < PDSHARE_INCIDENT_QUIET) return;
    if (apr_atomic_cas32(&slot->open, 0, 1) != 1) return;      /* another child closed it */
    apr_atomic_set32(&slot->closed, now);
    failed = apr_atomic_xchg32(&slot->failures, 0);            /* the next one starts at 0 */
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "%s: %s answers again; the incident began %u s "
                 "ago and failed %u requests", kinds[kind].close_code, kinds[kind].what,
                 now - apr_atomic_read32(&slot->opened), failed);
}

/* While no connection can be had (the database server is down), asking for
 * one on every request only adds a connect timeout and a mod_dbd error line
 * per request: one request per server tries each second, the others fail at
 * once. */
int pdshare_incident_may_connect(pdshare_incident_t kind)
{
    incident_slot *slot = slots ? &slots[kind] : NULL;
    apr_uint32_t since, now;

    if (!slot || !(since = apr_atomic_read32(&slot->unreachable))) return 1;
    now = now_sec();
    if (now == since) return 0;
    return apr_atomic_cas32(&slot->unreachable, now, since) == since;
}

void pdshare_incident_connected(pdshare_incident_t kind, int ok)
{
    incident_slot *slot = slots ? &slots[kind] : NULL;
    if (!slot) return;
    if (ok) {
        if (apr_atomic_read32(&slot->unreachable)) apr_atomic_set32(&slot->unreachable, 0);
    }
    else apr_atomic_set32(&slot->unreachable, now_sec());
}
