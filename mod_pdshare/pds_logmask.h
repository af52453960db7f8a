/* Masking secrets out of what httpd writes to its access log: share tokens
 * (the path segment after the share path) and the values of the query
 * parameters code, state and token (OAuth codes and states, share tokens).
 * A masked query value keeps its first PDS_LOGMASK_KEEP characters when it
 * is longer than twice that, then "..."; a shorter one keeps none. The share
 * token's path segment is masked the same way (a token is 32 characters);
 * a segment of at most PDS_LOGMASK_KEEP ("assets") is left as it is. */
#ifndef PDS_LOGMASK_H
#define PDS_LOGMASK_H

#include <apr_pools.h>

#define PDS_LOGMASK_KEEP 6

/* A request target (origin form "/s/TOKEN?x=1", absolute form
 * "https://host/s/TOKEN") or a URL such as a Referer; share_path is
 * PDShareSharePath ("/s"). Answers s itself when there is nothing to mask. */
const char *pds_logmask_url(apr_pool_t *p, const char *s, const char *share_path);
/* A request line "METHOD SP target SP protocol": the target masked. */
const char *pds_logmask_request_line(apr_pool_t *p, const char *line, const char *share_path);
/* A query string without its "?". */
const char *pds_logmask_query(apr_pool_t *p, const char *query);

#endif
