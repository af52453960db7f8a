/* Every SQL text the module runs: migrations and labelled statements.
 * The same text runs on sqlite3 and pgsql (apr_dbd placeholders). */
#ifndef PDS_SQL_H
#define PDS_SQL_H

typedef struct {
    const char *label;
    const char *sql;
} pds_stmt_def_t;

/* Migrations: pds_migrations[v-1] lists the statements that take a
 * database from version v-1 to v. Never edit a released version: add one. */
extern const char *const *const pds_migrations[];
/* A migration statement that begins with one of these runs on that
 * database only (the prefix is not sent). */
#define PDS_SQL_SQLITE_ONLY "sqlite3:"
#define PDS_SQL_PGSQL_ONLY "pgsql:"

extern const int pds_migration_count;

extern const pds_stmt_def_t pds_statements[];

#endif
