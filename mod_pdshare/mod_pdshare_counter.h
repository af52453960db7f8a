/* Counting off the request path (mod_pdshare_counter.c): a request appends
 * its events to this child's spool file and answers; a writer thread per
 * child commits them in one transaction at least every 100 ms and replays
 * the spool files of children that died (pds_spool.h). */
#ifndef MOD_PDSHARE_COUNTER_H
#define MOD_PDSHARE_COUNTER_H

#include "mod_pdshare.h"
#include "pds_spool.h"

/* The spool directory of every server: the default filled in, created, and
 * handed to the server's User when httpd starts as root. !OK stops httpd. */
int pdshare_counter_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
/* Per child: a spool file and the writer thread for each spool directory. */
void pdshare_counter_child_init(apr_pool_t *pchild, server_rec *s);

/* Record one event of this answer (a link-preview fetcher's as the rules of
 * pds_event_kind say). APR_SUCCESS when it is in the spool, or is not to be
 * counted; otherwise the failure is logged (PDS00160 incident) and the
 * answer must not be sent. */
apr_status_t pdshare_count(request_rec *r, pds_ctx_t *ctx, const char *share_id,
                           const char *track_id, const char *file_id, const char *kind,
                           const char *category);
/* The events of one answer (a ZIP's downloads), all or none: one record. The
 * ids and times are filled in here. */
apr_status_t pdshare_count_events(request_rec *r, pds_ctx_t *ctx, pds_event_t *events, int n);

#endif
