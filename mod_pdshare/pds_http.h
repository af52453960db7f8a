/* Outbound HTTP: one seam (a function table) with a libcurl implementation.
 * A request either buffers its answer (capped) or streams a 2xx body to a
 * sink; error bodies are always buffered. */
#ifndef PDS_HTTP_H
#define PDS_HTTP_H

#include <apr_file_io.h>
#include "pds.h"

/* Body bytes of a 2xx streamed answer; return non-zero to abort the transfer. */
typedef int (*pds_http_sink_fn)(void *baton, const char *data, apr_size_t len);
/* Called once the status and headers of a 2xx streamed answer are known,
 * before the first body byte; return non-zero to abort. */
typedef int (*pds_http_head_fn)(void *baton, int status, apr_table_t *headers);

typedef struct {
    const char *method;                 /* "GET" or "POST" */
    const char *url;
    apr_array_header_t *headers;        /* of "Name: value" */
    const char *body;
    apr_size_t body_len;
    /* Or a body read from a file: body_len bytes from body_offset. */
    apr_file_t *body_file;
    apr_off_t body_offset;
    int connect_timeout_ms;
    /* Whole-request limit. A streamed request (sink or file body) is instead
     * aborted when no byte moves for this long, so a large one may take longer. */
    int total_timeout_ms;
    apr_size_t max_response;            /* cap of a buffered answer */
    pds_http_sink_fn sink;              /* NULL: buffer */
    pds_http_head_fn on_head;
    void *baton;
} pds_http_req_t;

typedef struct {
    int status;                         /* 0: no HTTP answer */
    apr_table_t *headers;
    char *body;                         /* NUL-terminated, buffered answers */
    apr_size_t len;
    const char *error;                  /* transport failure, for logs */
    int timed_out;
    int too_large;
    int aborted;                        /* a callback asked to stop */
} pds_http_resp_t;

typedef struct {
    const char *name;
    apr_status_t (*perform)(apr_pool_t *p, const pds_http_req_t *req, pds_http_resp_t *resp);
} pds_http_impl_t;

/* curl_global_init, and libcurl as the implementation unless one was
 * installed: once, before threads or children (post_config). A process
 * that never calls it (pdsharectl, the unit tests) uses libcurl. */
apr_status_t pds_http_global_init(void);
const pds_http_impl_t *pds_http_curl(void);
void pds_http_use(const pds_http_impl_t *impl);
/* Perform with the implementation in use. APR_SUCCESS when an HTTP answer
 * (of any status) came back. */
apr_status_t pds_http_perform(apr_pool_t *p, const pds_http_req_t *req, pds_http_resp_t *resp);

#endif
