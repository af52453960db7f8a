/* The job worker: one thread per child, started in child_init with a pool of
 * its own (cleared per job), taking jobs from the database with a lease. On
 * graceful restart or stop the child's pool cleanup asks it to stop; the job
 * in hand is finished or given back at its next step. */
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_optional.h>
#include <http_core.h>

#include "mod_pdshare.h"
#include "pds_util.h"
#include "pds_export.h"

#define POLL_MS 250

typedef struct {
    server_rec *s;
    apr_pool_t *pool;
    apr_thread_t *thread;
    volatile int stop;
    const char *worker;
    apr_time_t next_connect;    /* after a failed connect: not before this */
} worker_t;

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

static int should_stop(void *baton)
{
    return ((worker_t *)baton)->stop;
}

static void log_job(void *baton, int level, const char *msg)
{
    worker_t *w = baton;
    int lvl = level >= 2 ? APLOG_ERR : level == 1 ? APLOG_WARNING : APLOG_INFO;
    ap_log_error(APLOG_MARK, lvl, 0, w->s, "PDS00050: %s", msg);
}

/* One look at the queue: claim a job and run one attempt of it. */
static int work_once(worker_t *w, apr_pool_t *p)
{
    pdshare_srv_conf *c = pdshare_srv(w->s);
    apr_time_t started = apr_time_now();
    ap_dbd_t *dbd = NULL;
    pds_ctx_t *ctx;
    pds_runner_t run;
    pds_job_t *job = NULL;
    pds_export_policy_t pol;
    pds_err_t *e;

    if (started >= w->next_connect && pdshare_incident_may_connect(PDSHARE_INC_DATABASE)) {
        dbd = dbd_open(p, w->s);
        /* Only a success is shared with the requests: a failure of the
         * worker's poll just before the server came back (a restart) would
         * otherwise close the door on every visitor for the rest of that
         * second. Visitors find an outage themselves, one request per second;
         * the worker waits a second of its own after a failure. */
        if (dbd) pdshare_incident_connected(PDSHARE_INC_DATABASE, 1);
        else w->next_connect = started + apr_time_from_sec(1);
    }
    if (!dbd) {
        pdshare_incident_fail_since(w->s, PDSHARE_INC_DATABASE, started, APLOG_ERR, "PDS00051: "
                                    "the job worker has no database connection from mod_dbd");
        return 0;
    }
    if (pdshare_dbd_ready(w->s, dbd)) {
        dbd_close(w->s, dbd);
        return 0;
    }
    memset(&run, 0, sizeof(run));
    ctx = pds_ctx_make(p, dbd->driver, dbd->handle, dbd->prepared, &c->settings);
    ctx->base_url = c->base_url;
    if ((e = pds_job_claim(ctx, w->worker, c->job_lease, &job))) {
        pdshare_incident_fail_since(w->s, PDSHARE_INC_DATABASE, started, APLOG_ERR,
                                    "PDS00051: claiming a job: %s",
                                    ctx->db->last_error ? ctx->db->last_error : e->message);
    }
    else if (job) {
        pdshare_incident_ok(w->s, PDSHARE_INC_DATABASE);  /* the claim wrote */
    }
    if (job) {
        run.env = ctx->dbx;
        run.kinds = pds_job_kinds;
        run.worker = w->worker;
        run.lease_secs = c->job_lease;
        run.should_stop = should_stop;
        run.log = log_job;
        run.baton = w;
        run.smtp_url = c->smtp_url;
        run.mail_from = c->mail_from;
        pol.by_status = c->export_by_status;
        pol.single_folder = c->export_single_folder;
        run.export_policy = &pol;
        pds_job_run(&run, job);
    }
    dbd_close(w->s, dbd);
    return job != NULL;
}

static void *APR_THREAD_FUNC worker_main(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    apr_pool_t *iter;
    if (apr_pool_create(&iter, w->pool) != APR_SUCCESS) return NULL;
    while (!w->stop) {
        int busy = work_once(w, iter);
        apr_pool_clear(iter);
        if (!busy) {
            int slept;
            for (slept = 0; slept < POLL_MS && !w->stop; slept += 50)
                apr_sleep(apr_time_from_msec(50));
        }
    }
    apr_pool_destroy(iter);
    return NULL;
}

static apr_status_t worker_stop(void *data)
{
    worker_t *w = data;
    apr_status_t rv;
    w->stop = 1;
    if (w->thread) apr_thread_join(&rv, w->thread);
    return APR_SUCCESS;
}

void pdshare_jobs_child_init(apr_pool_t *pchild, server_rec *s)
{
    pdshare_srv_conf *c = pdshare_srv(s);
    worker_t *w;
    char host[64] = "";
    if (!c->dbx_enabled) return;        /* every job kind talks to Dropbox */
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_open || !dbd_close) return;
    w = apr_pcalloc(pchild, sizeof(*w));
    w->s = s;
    gethostname(host, sizeof(host) - 1);
    w->worker = apr_psprintf(pchild, "%s:%" APR_PID_T_FMT ":%s", host, getpid(),
                             pds_random_b64url(pchild, 6));
    if (apr_pool_create(&w->pool, pchild) != APR_SUCCESS) return;
    /* A pre-cleanup: when the child exits, APR destroys pchild's sub-pools
     * (mod_dbd's connections, our w->pool) before its ordinary cleanups, so
     * the thread must be stopped and joined before that. */
    apr_pool_pre_cleanup_register(pchild, w, worker_stop);
    if (apr_thread_create(&w->thread, NULL, worker_main, w, w->pool) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "PDS00052: cannot start the job worker;"
                     " collaborator sharing waits until a child can");
        w->thread = NULL;
    }
}
