/* The public share page (SPEC §3): token lookup, the page model served as
 * HTML and JSON, permission checks for play/file/zip, and counting. */
#ifndef PDS_PAGE_H
#define PDS_PAGE_H

#include "pds_base.h"
#include "pds_share.h"
#include "pds_track.h"

typedef enum {
    PDS_SHARE_OK = 0, PDS_SHARE_NOT_FOUND, PDS_SHARE_EXPIRED, PDS_SHARE_REVOKED, PDS_SHARE_ERROR
} pds_share_state_e;

typedef struct {
    const char *id;
    const char *slot_id;         /* the track as shared (stats are kept per slot) */
    const char *track_id;        /* the version shown */
    int category;                /* pds_category_e */
    const char *dropbox_path;     /* NULL: not in Dropbox (yet) */
    const char *local_path;       /* an uploaded file kept here */
    apr_int64_t size;
    const char *name;
    const char *format;
    int permitted;
    const char *link_key;        /* the link cache's key, set once by the glue's compiled
                                  * share; NULL: made per request */
} pds_page_file_t;

typedef struct {
    const char *track_id;        /* shown version */
    const char *slot_id;
    const char *title;
    pds_page_file_t *preview;    /* best preview file, or NULL */
    /* Files the share offers per ZIP group (pds_zip_group: bounces with
     * masters, stems, projects); a group with any has a ZIP. */
    int offered[PDS_CAT_COUNT];
} pds_page_track_t;

typedef struct {
    const char **share;          /* SHARE_COLS row */
    json_t *view;                /* the page model: the .json variant and the template's data */
    apr_hash_t *files;           /* file id -> pds_page_file_t */
    apr_hash_t *tracks;          /* track id and slot id -> pds_page_track_t */
    apr_array_header_t *offered; /* pds_page_file_t *: the files the share offers (permitted,
                                  * in the share), in the page's order */
} pds_page_t;

/* Find a share by token; the token is checked in constant time. */
pds_share_state_e pds_share_by_token(pds_ctx_t *ctx, const char *token, const char ***share);
/* What a visitor request reads first: one indexed row. */
typedef struct {
    const char *share_id;
    apr_int64_t version;         /* the owner's data version (pds_data_versions) */
} pds_share_head_t;
/* The share's state and the owner's data version, by token, in one
 * statement; the token is checked in constant time. */
pds_share_state_e pds_share_head(pds_ctx_t *ctx, const char *token, pds_share_head_t *head);
/* Build the page model of a live share (page->view included). */
pds_err_t *pds_page_build(pds_ctx_t *ctx, const char **share, pds_page_t **page);
/* Only what play, file and ZIP need: files, tracks, previews, the files
 * offered (one statement, no JSON); page->view is NULL. */
pds_err_t *pds_page_files_model(pds_ctx_t *ctx, const char **share, pds_page_t **page);
/* Which permission a category needs: 0 bounces (with masters), 1 stems, 2 projects. */
int pds_category_permitted(const char **share, int category);
/* Zip route categories: "bounces", "stems", "projects" (singular accepted);
 * answers the permission index, or -1. */
int pds_zip_group(const char *name);
/* The ZIP group of a file category: masters go with bounces. */
int pds_zip_group_of(int category);
/* Record a view, play or download at once, one row per event (the unit
 * tests; visitors' events go through the spool, pds_spool.h). For a
 * link-preview fetcher (ctx->link_preview) a view is recorded as a
 * "preview", and plays and downloads are not recorded at all. */
pds_err_t *pds_event_record(pds_ctx_t *ctx, const char *share_id, const char *track_id,
                            const char *file_id, const char *kind, const char *category);
#endif
