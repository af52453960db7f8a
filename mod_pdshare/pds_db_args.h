/* Statement calls with their arguments written inline, for the library's
 * store code: SELECT(db, "label", &rows, a, b) and EXEC(db, "label", &n, a).
 * Arguments are strings (NULL for SQL NULL); their count is taken from the
 * list. Internal to the pds_*.c files that run statements. */
#ifndef PDS_DB_ARGS_H
#define PDS_DB_ARGS_H

#include "pds_db.h"

#define ARGS(...) ((const char *[]){ __VA_ARGS__ })
#define NARGS(...) ((int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *)))
#define SELECT(db, label, rs, ...) \
    pds_db_select((db), (label), (rs), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))
#define EXEC(db, label, n, ...) \
    pds_db_exec((db), (label), (n), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

#endif
