#include <string.h>
#include <apr_strings.h>

#include "pds_db.h"
#include "pds_sql.h"
#include "pds_util.h"

#define PG_MIGRATION_LOCK "727274"

static int is_sqlite(const apr_dbd_driver_t *d)
{
    return !strcmp(apr_dbd_name(d), "sqlite3");
}

/* Run a statement that may return rows, and read them to the end. */
static apr_status_t raw_select(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                               const char *sql, const char **first, const char **errmsg)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv = apr_dbd_select(d, p, h, &res, sql, 0);
    if (rv) {
        if (errmsg) *errmsg = apr_psprintf(p, "%s: %s", sql, apr_dbd_error(d, h, rv));
        return APR_EGENERAL;
    }
    if (first) *first = NULL;
    while (apr_dbd_get_row(d, p, res, &row, -1) == 0) {
        if (first && !*first) {
            const char *v = apr_dbd_get_entry(d, row, 0);
            *first = v ? apr_pstrdup(p, v) : "";
        }
    }
    return APR_SUCCESS;
}

static apr_status_t raw_query(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                              const char *sql, const char **errmsg)
{
    int nrows = 0;
    int rv = apr_dbd_query(d, h, &nrows, sql);
    if (rv) {
        if (errmsg) *errmsg = apr_psprintf(p, "%s: %s", sql, apr_dbd_error(d, h, rv));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

int pds_db_schema_version(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h)
{
    const char *v = NULL;
    apr_int64_t n;
    const char *sql = "SELECT version FROM pds_schema_version";
    if (is_sqlite(d)) {
        /* Avoid an error (and a log line) on a database with no schema yet. */
        const char *exists = NULL;
        if (raw_select(p, d, h, "SELECT name FROM sqlite_master WHERE type = 'table'"
                       " AND name = 'pds_schema_version'", &exists, NULL) != APR_SUCCESS
            || !exists) {
            return 0;
        }
    }
    else {
        const char *exists = NULL;
        if (raw_select(p, d, h, "SELECT to_regclass('pds_schema_version')", &exists, NULL)
                != APR_SUCCESS || !exists || !*exists) {
            return 0;
        }
    }
    if (raw_select(p, d, h, sql, &v, NULL) != APR_SUCCESS || !v) return 0;
    if (pds_parse_int64(v, 0, 1000000, &n)) return 0;
    return (int)n;
}

/* sqlite3 session settings. Readers never wait for the writer (WAL, which
 * the database file keeps once set). A busy database is waited on inside
 * sqlite, in short steps, for up to 250 ms; past that, apr-util's driver
 * sleeps 0.75 s and tries again, 16 times at most. The wait is kept short
 * because the driver holds one mutex per process while sqlite waits: every
 * other thread of the child waits with it. A write lock held elsewhere (a
 * backup, an sqlite3 shell) is thus waited out for 16 s or more, then the
 * request fails (503) rather than holding its thread for minutes. */
static apr_status_t sqlite_session(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                                   const char **errmsg)
{
    const char *mode = NULL;
    apr_status_t rv;
    if ((rv = raw_select(p, d, h, "PRAGMA busy_timeout = 250", NULL, errmsg))
        || (rv = raw_query(p, d, h, "PRAGMA synchronous = NORMAL", errmsg))
        || (rv = raw_select(p, d, h, "PRAGMA journal_mode", &mode, errmsg)))
        return rv;
    if (mode && !strcasecmp(mode, "wal")) return APR_SUCCESS;
    return raw_select(p, d, h, "PRAGMA journal_mode = WAL", NULL, errmsg);
}

static apr_status_t migrate_once(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                                 int target, const char **errmsg);

apr_status_t pds_db_setup(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                          int target, const char **errmsg)
{
    apr_status_t rv = APR_SUCCESS;
    int attempt;

    if (target <= 0 || target > pds_migration_count) target = pds_migration_count;
    /* Several processes open their first connections at once on a new
     * database: the loser of a race on the schema tries again. */
    for (attempt = 0; attempt < 50; attempt++) {
        if (attempt) apr_sleep(apr_time_from_msec(100));
        if (is_sqlite(d) && (rv = sqlite_session(p, d, h, errmsg))) continue;
        if (!(rv = migrate_once(p, d, h, target, errmsg))) break;
    }
    return rv;
}

static apr_status_t migrate_once(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                                 int target, const char **errmsg)
{
    int version, v;
    apr_status_t rv;

    version = pds_db_schema_version(p, d, h);
    if (version >= target) return APR_SUCCESS;

    /* One migrator at a time, across processes and nodes. */
    if (is_sqlite(d)) {
        rv = raw_query(p, d, h, "BEGIN IMMEDIATE", errmsg);
    }
    else {
        rv = raw_query(p, d, h, "BEGIN", errmsg);
        if (!rv) rv = raw_select(p, d, h, "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK ")",
                                 NULL, errmsg);
    }
    if (rv) return rv;
    rv = raw_query(p, d, h, "CREATE TABLE IF NOT EXISTS pds_schema_version"
                   " (version INTEGER NOT NULL)", errmsg);
    if (!rv) {
        version = pds_db_schema_version(p, d, h);
        for (v = version + 1; !rv && v <= target; v++) {
            const char *const *stmt;
            for (stmt = pds_migrations[v - 1]; !rv && *stmt; stmt++) {
                /* "sqlite3:" and "pgsql:" statements run on that database only. */
                const char *sql = *stmt;
                if (!strncmp(sql, PDS_SQL_SQLITE_ONLY, sizeof(PDS_SQL_SQLITE_ONLY) - 1)) {
                    if (!is_sqlite(d)) continue;
                    sql += sizeof(PDS_SQL_SQLITE_ONLY) - 1;
                }
                else if (!strncmp(sql, PDS_SQL_PGSQL_ONLY, sizeof(PDS_SQL_PGSQL_ONLY) - 1)) {
                    if (is_sqlite(d)) continue;
                    sql += sizeof(PDS_SQL_PGSQL_ONLY) - 1;
                }
                rv = raw_query(p, d, h, sql, errmsg);
            }
        }
        if (!rv && version < target) {
            rv = raw_query(p, d, h, "DELETE FROM pds_schema_version", errmsg);
            if (!rv) rv = raw_query(p, d, h, apr_psprintf(p, "INSERT INTO pds_schema_version"
                                    " (version) VALUES (%d)", target), errmsg);
        }
    }
    if (rv) {
        raw_query(p, d, h, "ROLLBACK", NULL);
        return rv;
    }
    return raw_query(p, d, h, "COMMIT", errmsg);
}

apr_status_t pds_db_prepare_all(apr_pool_t *p, const apr_dbd_driver_t *d, apr_dbd_t *h,
                                apr_hash_t *into, const char **errmsg)
{
    const pds_stmt_def_t *s;
    for (s = pds_statements; s->label; s++) {
        apr_dbd_prepared_t *stmt = NULL;
        int rv = apr_dbd_prepare(d, p, h, s->sql, s->label, &stmt);
        if (rv) {
            if (errmsg) *errmsg = apr_psprintf(p, "preparing %s: %s", s->label,
                                               apr_dbd_error(d, h, rv));
            return APR_EGENERAL;
        }
        apr_hash_set(into, s->label, APR_HASH_KEY_STRING, stmt);
    }
    return APR_SUCCESS;
}

static apr_dbd_prepared_t *lookup(pds_db_t *db, const char *label)
{
    apr_dbd_prepared_t *stmt = db->prepared
        ? apr_hash_get(db->prepared, label, APR_HASH_KEY_STRING) : NULL;
    if (!stmt) db->last_error = apr_psprintf(db->pool, "statement %s is not prepared on this"
                                             " connection", label);
    return stmt;
}

/* A PostgreSQL server that restarted leaves every pooled connection dead,
 * and a connection that the driver (or mod_dbd) reconnects comes back as a
 * new server session without our prepared statements. After a failed
 * statement outside a transaction: reconnect if the connection is down,
 * and prepare the statements again if the server session lost them. True
 * when it did (the statement never ran, so a read may be tried again). */
static int repair(pds_db_t *db, const char *label)
{
    const pds_stmt_def_t *s;
    apr_pool_t *cp;
    apr_dbd_prepared_t *stmt = NULL;
    const char *err = NULL;
    int attempt, rv;

    if (is_sqlite(db->driver) || db->txn || !db->prepared) return 0;
    for (s = pds_statements; s->label && strcmp(s->label, label); s++)
        ;
    if (!s->label) return 0;
    cp = apr_hash_pool_get(db->prepared);
    /* Where the statement still exists, preparing it again fails: then the
     * failure was something else, and is left as it is. libpq may notice a
     * connection closed by the server only at that second use: then the
     * driver reconnects, and it is tried once more. */
    for (attempt = 0; ; attempt++) {
        if ((rv = apr_dbd_check_conn(db->driver, db->pool, db->handle)) != APR_SUCCESS) {
            db->last_error = apr_psprintf(db->pool, "%s; reconnecting failed: %s",
                                          db->last_error, apr_dbd_error(db->driver, db->handle, rv));
            return 0;
        }
        if (apr_dbd_prepare(db->driver, cp, db->handle, s->sql, s->label, &stmt) == 0) break;
        if (attempt == 1) return 0;
    }
    apr_hash_set(db->prepared, s->label, APR_HASH_KEY_STRING, stmt);
    for (s = pds_statements; s->label; s++) {
        if (!strcmp(s->label, label)) continue;
        stmt = NULL;
        if ((rv = apr_dbd_prepare(db->driver, cp, db->handle, s->sql, s->label, &stmt)) != 0) {
            if (!err) err = apr_psprintf(db->pool, "preparing %s again after a reconnect: %s",
                                         s->label, apr_dbd_error(db->driver, db->handle, rv));
            continue;
        }
        apr_hash_set(db->prepared, s->label, APR_HASH_KEY_STRING, stmt);
    }
    db->repaired++;
    if (err) db->last_error = err;
    return 1;
}

static apr_status_t select_once(pds_db_t *db, const char *label, pds_rows_t **rows,
                                int nargs, const char **args);

apr_status_t pds_db_select(pds_db_t *db, const char *label, pds_rows_t **rows,
                           int nargs, const char **args)
{
    apr_status_t rv = select_once(db, label, rows, nargs, args);
    if (rv != APR_SUCCESS && repair(db, label)) rv = select_once(db, label, rows, nargs, args);
    return rv;
}

static apr_status_t select_once(pds_db_t *db, const char *label, pds_rows_t **rows,
                                int nargs, const char **args)
{
    apr_dbd_prepared_t *stmt = lookup(db, label);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    pds_rows_t *rs;
    int rv, i;

    if (!stmt) return APR_EGENERAL;
    db->statements++;
    /* Random access (1): the whole result at once. We read every row anyway,
     * and pgsql's sequential mode polls, sleeping on empty results. */
    rv = apr_dbd_pselect(db->driver, db->pool, db->handle, &res, stmt, 1, nargs, args);
    if (rv) {
        db->last_error = apr_psprintf(db->pool, "%s: %s", label,
                                      apr_dbd_error(db->driver, db->handle, rv));
        if (db->txn && !db->failed_label) db->failed_label = label;
        return APR_EGENERAL;
    }
    rs = apr_palloc(db->pool, sizeof(*rs));
    rs->ncols = apr_dbd_num_cols(db->driver, res);
    rs->rows = apr_array_make(db->pool, 8, sizeof(const char **));
    while ((rv = apr_dbd_get_row(db->driver, db->pool, res, &row, -1)) == 0) {
        const char **r;
        /* pgsql knows its columns only once the first row is in. */
        if (!rs->ncols) rs->ncols = apr_dbd_num_cols(db->driver, res);
        r = apr_palloc(db->pool, sizeof(char *) * (rs->ncols + 1));
        for (i = 0; i < rs->ncols; i++) {
            /* datum_get tells SQL NULL apart on every driver (pgsql's
             * get_entry gives "" for it). */
            char *v = NULL;
            if (apr_dbd_datum_get(db->driver, row, i, APR_DBD_TYPE_STRING, &v) == APR_SUCCESS && v)
                r[i] = apr_pstrdup(db->pool, v);
            else
                r[i] = NULL;
        }
        APR_ARRAY_PUSH(rs->rows, const char **) = r;
    }
    if (rv != -1) {
        db->last_error = apr_psprintf(db->pool, "%s: reading rows: %s", label,
                                      apr_dbd_error(db->driver, db->handle, rv));
        return APR_EGENERAL;
    }
    *rows = rs;
    return APR_SUCCESS;
}

apr_status_t pds_db_exec(pds_db_t *db, const char *label, int *nrows,
                         int nargs, const char **args)
{
    apr_dbd_prepared_t *stmt = lookup(db, label);
    int n = 0, rv;
    if (!stmt) return APR_EGENERAL;
    db->statements++;
    rv = apr_dbd_pquery(db->driver, db->pool, db->handle, &n, stmt, nargs, args);
    if (rv) {
        db->last_error = apr_psprintf(db->pool, "%s: %s", label,
                                      apr_dbd_error(db->driver, db->handle, rv));
        /* A write is not tried again: had the server died after committing
         * it, a second run would count twice. The connection is repaired
         * for the next statement; this request fails. */
        if (db->txn) {
            if (!db->failed_label) db->failed_label = label;
        }
        else repair(db, label);
        return APR_EGENERAL;
    }
    if (nrows) *nrows = n;
    return APR_SUCCESS;
}

/* apr-util's pgsql driver (1.6.3) writes through *trans when the server
 * answers BEGIN with an error, allocating the record only on success: with
 * *trans NULL, a connection lost between mod_dbd's check and our BEGIN (a
 * server shutting down) crashes the child. It is handed zeroed memory
 * instead, which it fills in as its own record ({mode, errnum, handle}, well
 * under this size), as its pcalloc would have. Only for pgsql: sqlite3's
 * driver sets the record up only when it allocates it. */
#define PGSQL_TXN_RECORD 64

static int written(const char *record)
{
    int i;
    for (i = 0; i < PGSQL_TXN_RECORD; i++)
        if (record[i]) return 1;
    return 0;
}

apr_status_t pds_db_begin(pds_db_t *db)
{
    int rv;
    db->txn = is_sqlite(db->driver) ? NULL : apr_pcalloc(db->pool, PGSQL_TXN_RECORD);
    rv = apr_dbd_transaction_start(db->driver, db->pool, db->handle, &db->txn);
    if (rv) {
        db->last_error = apr_psprintf(db->pool, "begin: %s",
                                      apr_dbd_error(db->driver, db->handle, rv));
        if (db->txn && !is_sqlite(db->driver) && written((const char *)db->txn)) {
            /* The driver filled the record in and marked the handle as in a
             * transaction with it: end it, or the next statement on this
             * connection would find a record freed with our pool. */
            apr_dbd_transaction_mode_set(db->driver, db->txn, APR_DBD_TRANSACTION_ROLLBACK);
            apr_dbd_transaction_end(db->driver, db->pool, db->txn);
        }
        db->txn = NULL;
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t pds_db_end(pds_db_t *db, int rollback)
{
    int rv;
    if (!db->txn) return APR_SUCCESS;
    if (rollback) apr_dbd_transaction_mode_set(db->driver, db->txn, APR_DBD_TRANSACTION_ROLLBACK);
    rv = apr_dbd_transaction_end(db->driver, db->pool, db->txn);
    db->txn = NULL;
    /* A statement that failed inside the transaction may have found the
     * connection lost: repair it now for the next request. */
    if (db->failed_label) repair(db, db->failed_label);
    db->failed_label = NULL;
    if (rv) {
        db->last_error = apr_psprintf(db->pool, "end of transaction: %s",
                                      apr_dbd_error(db->driver, db->handle, rv));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

const char *pds_db_i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}
