/* Counting off the request path: the visitor events of an answer (a view, a
 * play, the downloads of a ZIP) are appended to a spool file in one write(2)
 * before the answer, and a writer commits them to pds_events in batches.
 *
 * A record holds the events of one answer, with a CRC-32 over them: a torn or
 * damaged record is skipped whole, so an answer counts all its events or
 * none. Every event has an id unique across children and nodes; the writer
 * inserts with ON CONFLICT DO NOTHING on it, so replaying a file whose events
 * were partly or wholly committed counts nothing twice.
 *
 * Spool files live in one directory, one current file per child. A file is
 * held with flock(2) by the child that writes it; a file nobody holds belongs
 * to a dead child (or to one that exited before it could commit) and any
 * writer may claim it, commit it and remove it. */
#ifndef PDS_SPOOL_H
#define PDS_SPOOL_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "pds.h"

struct pds_db_t;

typedef struct {
    const char *id;               /* unique; see pds_spool_make_id */
    const char *share_id;
    const char *track_id;         /* NULL for views and previews */
    const char *file_id;
    const char *kind;             /* view, preview, play, download */
    const char *category;         /* the file's category, or NULL */
    apr_int64_t created_at;       /* epoch seconds */
} pds_event_t;

/* The kind an event is recorded as: a link-preview fetcher's view is a
 * "preview"; its plays and downloads are not recorded (NULL). */
const char *pds_event_kind(int link_preview, const char *kind);

/* Events the writer inserts with one statement (pds_event_spooled_rows). */
#define PDS_SPOOL_ROWS 16

/* Longest record: what one answer may hold (a ZIP of many files). */
#define PDS_SPOOL_MAX_RECORD (4 * 1024 * 1024)

/* Encode n events as one record into *buf (from p). APR_EINVAL when a
 * string is too long or the record would exceed PDS_SPOOL_MAX_RECORD. */
apr_status_t pds_spool_encode(apr_pool_t *p, const pds_event_t *events, int n,
                              char **buf, apr_size_t *len);

typedef enum {
    PDS_SPOOL_RECORD = 0,         /* one record decoded: *used bytes */
    PDS_SPOOL_SHORT,              /* the bytes end inside a record (a torn tail) */
    PDS_SPOOL_BAD                 /* no valid record starts here */
} pds_spool_decoded_e;

/* Decode the record at buf, appending its events (pds_event_t, strings from
 * p) to `events`. On PDS_SPOOL_BAD nothing is appended. */
pds_spool_decoded_e pds_spool_decode(apr_pool_t *p, const char *buf, apr_size_t len,
                                     apr_size_t *used, apr_array_header_t *events);

/* Every event of a spool file's bytes, in order; damaged stretches are
 * skipped (resynchronised on the next record marker) and counted in
 * *skipped (bytes). */
apr_array_header_t *pds_spool_decode_all(apr_pool_t *p, const char *buf, apr_size_t len,
                                         apr_size_t *skipped);

/* An id unique across processes and nodes: the writer's random prefix and a
 * sequence number. */
const char *pds_spool_make_id(apr_pool_t *p, const char *prefix, apr_uint64_t seq);

/* ---- spool files (POSIX: open, flock, write) ---- */

typedef struct {
    int fd;
    const char *path;
    apr_size_t bytes;             /* appended through this handle */
} pds_spool_file_t;

/* Create `dir/name` (exclusive, 0600, O_APPEND), held with an exclusive
 * flock until pds_spool_close. */
apr_status_t pds_spool_create(apr_pool_t *p, const char *dir, const char *name,
                              pds_spool_file_t **out);
/* Append one record with one write(2): all of it, or an error. */
apr_status_t pds_spool_append(pds_spool_file_t *f, const char *buf, apr_size_t len);
/* Take a file no live process holds: opened and locked, or APR_EBUSY when
 * another process holds it, APR_ENOENT when it is gone or already removed. */
apr_status_t pds_spool_claim(apr_pool_t *p, const char *path, pds_spool_file_t **out);
/* The whole content of a held file. */
apr_status_t pds_spool_read(apr_pool_t *p, pds_spool_file_t *f, char **buf, apr_size_t *len);
/* Remove the file (its events are committed), then release it. */
void pds_spool_remove(pds_spool_file_t *f);
/* Release without removing (another writer may claim it). */
void pds_spool_close(pds_spool_file_t *f);
/* The spool files in dir (names ending in ".spool"), as full paths. */
apr_status_t pds_spool_list(apr_pool_t *p, const char *dir, apr_array_header_t **paths);

/* Insert the events in one transaction, each at most once (ON CONFLICT DO
 * NOTHING on its id). APR_SUCCESS only when the transaction committed; the
 * driver's text is in db->last_error otherwise. */
apr_status_t pds_spool_commit(struct pds_db_t *db, const apr_array_header_t *events);

#endif
