/* A ZIP archive written on the fly (APPNOTE.TXT 6.3): stored entries
 * (method 0), sizes and CRC-32 in a data descriptor after each entry's data
 * (flag bit 3), UTF-8 names (bit 11), and ZIP64 records whenever a size, an
 * offset or the number of entries passes what the classic fields hold. Only
 * the central directory (one small record per entry) is kept in memory; the
 * bytes go to the writer callback as they come. The approach is nginx
 * mod_zip's; the code is ours. */
#ifndef PDS_ZIP_H
#define PDS_ZIP_H

#include "pds.h"

/* Bytes of the archive, in order; non-zero stops the archive. */
typedef apr_status_t (*pds_zip_write_fn)(void *baton, const void *data, apr_size_t len);

typedef struct pds_zip_t pds_zip_t;

/* An archive whose entries are all dated `mtime` (DOS time, UTC). */
pds_zip_t *pds_zip_create(apr_pool_t *p, apr_time_t mtime, pds_zip_write_fn write, void *baton);
/* Start an entry. `name` must be valid UTF-8 (see pds_zip_safe_name);
 * `size_hint` is the expected size, or -1 when unknown: an entry that may
 * reach 4 GiB gets ZIP64 local records. */
apr_status_t pds_zip_entry_begin(pds_zip_t *z, const char *name, apr_int64_t size_hint);
apr_status_t pds_zip_entry_data(pds_zip_t *z, const void *data, apr_size_t len);
/* The data descriptor. APR_EINVAL when the entry outgrew 4 GiB without ZIP64
 * local records (the size hint was wrong). */
apr_status_t pds_zip_entry_end(pds_zip_t *z);
/* The central directory and the end records. */
apr_status_t pds_zip_finish(pds_zip_t *z);
/* Archive bytes written so far. */
apr_uint64_t pds_zip_written(const pds_zip_t *z);

/* CRC-32 (ISO-HDLC, as ZIP uses it): pds_zip_crc32(0, data, len) for one
 * buffer; pass the previous value to go on. */
apr_uint32_t pds_zip_crc32(apr_uint32_t crc, const void *data, apr_size_t len);

/* A name safe as one path component of an entry: invalid UTF-8, control
 * characters (C0, DEL, C1), bidi controls (U+202A-U+202E, U+2066-U+2069),
 * "/", "\" and ":" become "_", ".." becomes "_.", an empty name "file", and
 * a Windows device name (CON, NUL, COM1.wav, ...) gets a "_" in front. */
const char *pds_zip_safe_name(apr_pool_t *p, const char *name);

/* Names already used in one folder of an archive (case-insensitive). */
typedef struct pds_zip_names_t pds_zip_names_t;
pds_zip_names_t *pds_zip_names_make(apr_pool_t *p);
/* `name` itself, or "stem (2).ext", "stem (3).ext", ... when taken; recorded. */
const char *pds_zip_names_take(pds_zip_names_t *n, const char *name);

#endif
