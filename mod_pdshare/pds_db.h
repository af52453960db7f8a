/* A database handle over apr_dbd: the connection, its prepared statements,
 * and a pool for results. In httpd the connection is mod_dbd's; in
 * pdsharectl and the unit tests it is opened with apr_dbd directly. */
#ifndef PDS_DB_H
#define PDS_DB_H

#include <apr_dbd.h>
#include "pds.h"

typedef struct pds_db_t {
    apr_pool_t *pool;                 /* results live here */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;             /* label -> apr_dbd_prepared_t* */
    apr_dbd_transaction_t *txn;
    const char *last_error;           /* driver's text of the last failure */
    int statements;                   /* statements run with this handle */
    int repaired;                     /* reconnects handled (pgsql) */
    const char *failed_label;         /* first statement that failed in the transaction */
} pds_db_t;

/* A result set read to its end: rows of ncols strings (NULL for SQL NULL). */
typedef struct {
    int ncols;
    apr_array_header_t *rows;         /* of const char ** */
} pds_rows_t;

#define PDS_ROW(rs, i) (APR_ARRAY_IDX((rs)->rows, (i), const char **))

/* On a freshly opened connection: session settings (sqlite3: WAL, busy
 * timeout), then the schema migrated to `target` (0 = latest). */
apr_status_t pds_db_setup(apr_pool_t *p, const apr_dbd_driver_t *driver, apr_dbd_t *handle,
                          int target, const char **errmsg);
/* Prepare every labelled statement into `into`, allocated from p (the
 * connection's lifetime). */
apr_status_t pds_db_prepare_all(apr_pool_t *p, const apr_dbd_driver_t *driver,
                                apr_dbd_t *handle, apr_hash_t *into, const char **errmsg);
/* The schema version stored in the database (0: none). */
int pds_db_schema_version(apr_pool_t *p, const apr_dbd_driver_t *driver, apr_dbd_t *handle);

apr_status_t pds_db_select(pds_db_t *db, const char *label, pds_rows_t **rows,
                           int nargs, const char **args);
apr_status_t pds_db_exec(pds_db_t *db, const char *label, int *nrows,
                         int nargs, const char **args);

apr_status_t pds_db_begin(pds_db_t *db);
/* Commits, or rolls back when any statement in the transaction failed. */
apr_status_t pds_db_end(pds_db_t *db, int rollback);

/* Helpers to build statement arguments. */
const char *pds_db_i64(apr_pool_t *p, apr_int64_t v);

#endif
