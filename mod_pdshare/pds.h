/* mod_pdshare library: common types. Nothing here includes httpd headers;
 * the library runs inside httpd, in pdsharectl and in the unit tests. */
#ifndef PDS_H
#define PDS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_time.h>
#include <jansson.h>

/* An error answered to an API client: HTTP status, stable snake_case code and
 * a sentence for humans. Library calls return NULL for success. */
typedef struct pds_err_t {
    int status;
    const char *code;
    const char *message;
} pds_err_t;

pds_err_t *pds_err(apr_pool_t *p, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Categories of files, and the share permission each falls under. */
typedef enum {
    PDS_CAT_MASTER = 0, PDS_CAT_BOUNCE, PDS_CAT_STEM, PDS_CAT_PROJECT, PDS_CAT_COUNT
} pds_category_e;

extern const char *const pds_category_names[PDS_CAT_COUNT];
int pds_category_from_name(const char *name); /* -1 when unknown */

#define PDS_VERSION "0.1.0"
#define PDS_SCHEMA_VERSION 8

#endif
