/* mod_pdshare library: common types. Nothing here includes httpd headers;
 * the library runs inside httpd, in pdsharectl and in the unit tests. */
#ifndef PDS_H
#define PDS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_time.h>
#include <jansson.h>

/* What failed. The glue picks the incident (and on the public path the
 * answer) from the kind alone; the status is the API's (SPEC 4). */
typedef enum {
    PDS_ERR_INTERNAL = 0,     /* our own failure: randomness, sealing, a missing feature */
    PDS_ERR_INPUT,            /* the request is wrong (4xx other than 404/409) */
    PDS_ERR_NOT_FOUND,
    PDS_ERR_CONFLICT,
    PDS_ERR_DATABASE,         /* the database failed (pds_db_failed) */
    PDS_ERR_DROPBOX,          /* Dropbox failed: network, 5xx, 429, an unreadable answer */
    PDS_ERR_NOT_CONNECTED,    /* the producer's Dropbox is not connected, expired or revoked,
                               * or not configured here: their state, not an outage */
    PDS_ERR_CACHE             /* the link cache failed */
} pds_err_kind_e;

/* An error answered to an API client: its kind, HTTP status, stable
 * snake_case code, a sentence for humans and, for the error log only, the
 * detail (never a secret). Library calls return NULL for success. */
typedef struct pds_err_t {
    int status;
    const char *code;
    const char *message;
    pds_err_kind_e kind;
    const char *detail;       /* NULL: none beyond the message */
} pds_err_t;

/* The kind follows the status: 404 not found, 409 conflict, other 4xx
 * input, 5xx internal. */
pds_err_t *pds_err(apr_pool_t *p, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error of the given kind with its log detail (may be NULL). */
pds_err_t *pds_err_of(apr_pool_t *p, pds_err_kind_e kind, int status, const char *code,
                      const char *detail, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Categories of files, and the share permission each falls under. */
typedef enum {
    PDS_CAT_MASTER = 0, PDS_CAT_BOUNCE, PDS_CAT_STEM, PDS_CAT_PROJECT, PDS_CAT_COUNT
} pds_category_e;

extern const char *const pds_category_names[PDS_CAT_COUNT];
int pds_category_from_name(const char *name); /* -1 when unknown */

#define PDS_VERSION "0.1.0"
#define PDS_SCHEMA_VERSION 9

#endif
