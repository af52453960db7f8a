/* The visitor-event spool: record format, spool files, and the batched,
 * idempotent insert (see pds_spool.h).
 *
 * A record, integers little-endian:
 *   "PDSq"  u32 payload length  u32 CRC-32 of the payload  payload
 * payload: u8 version (1), u16 event count, then per event an i64 created_at
 * and six strings (id, share, track, file, kind, category), each a u16
 * length (0xFFFF for NULL) and its bytes. */
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <apr_strings.h>

#include "pds_spool.h"
#include "pds_db.h"
#include "pds_zip.h"

#define MAGIC "PDSq"
#define HEADER 12
#define REC_VERSION 1
#define NULL_LEN 0xFFFF
#define NSTR 6

const char *pds_event_kind(int link_preview, const char *kind)
{
    if (!link_preview) return kind;
    return !strcmp(kind, "view") || !strcmp(kind, "preview") ? "preview" : NULL;
}

static void put16(unsigned char *o, apr_uint32_t v)
{
    o[0] = v & 0xff; o[1] = (v >> 8) & 0xff;
}

static void put32(unsigned char *o, apr_uint32_t v)
{
    put16(o, v & 0xffff); put16(o + 2, v >> 16);
}

static apr_uint32_t get16(const unsigned char *i)
{
    return i[0] | ((apr_uint32_t)i[1] << 8);
}

static apr_uint32_t get32(const unsigned char *i)
{
    return get16(i) | (get16(i + 2) << 16);
}

static void event_strings(const pds_event_t *e, const char *s[NSTR])
{
    s[0] = e->id; s[1] = e->share_id; s[2] = e->track_id;
    s[3] = e->file_id; s[4] = e->kind; s[5] = e->category;
}

apr_status_t pds_spool_encode(apr_pool_t *p, const pds_event_t *events, int n,
                              char **buf, apr_size_t *len)
{
    apr_size_t total = HEADER + 3;
    unsigned char *b, *o;
    int i, k;

    if (n < 1 || n > 0xFFFF) return APR_EINVAL;
    for (i = 0; i < n; i++) {
        const char *s[NSTR];
        event_strings(&events[i], s);
        total += 8;
        for (k = 0; k < NSTR; k++) {
            apr_size_t l = s[k] ? strlen(s[k]) : 0;
            if (l >= NULL_LEN) return APR_EINVAL;
            total += 2 + l;
        }
        if (total > PDS_SPOOL_MAX_RECORD) return APR_EINVAL;
    }
    o = b = apr_palloc(p, total);
    memcpy(o, MAGIC, 4);
    put32(o + 4, (apr_uint32_t)(total - HEADER));
    o += HEADER;
    *o++ = REC_VERSION;
    put16(o, (apr_uint32_t)n); o += 2;
    for (i = 0; i < n; i++) {
        const char *s[NSTR];
        apr_uint64_t t = (apr_uint64_t)events[i].created_at;
        event_strings(&events[i], s);
        put32(o, (apr_uint32_t)(t & 0xffffffffu)); put32(o + 4, (apr_uint32_t)(t >> 32)); o += 8;
        for (k = 0; k < NSTR; k++) {
            apr_size_t l = s[k] ? strlen(s[k]) : 0;
            put16(o, s[k] ? (apr_uint32_t)l : NULL_LEN); o += 2;
            memcpy(o, s[k] ? s[k] : "", l); o += l;
        }
    }
    put32(b + 8, pds_zip_crc32(0, b + HEADER, total - HEADER));
    *buf = (char *)b;
    *len = total;
    return APR_SUCCESS;
}

pds_spool_decoded_e pds_spool_decode(apr_pool_t *p, const char *buf, apr_size_t len,
                                     apr_size_t *used, apr_array_header_t *events)
{
    const unsigned char *b = (const unsigned char *)buf, *i, *end;
    apr_size_t plen;
    apr_uint32_t n, e;
    int start = events->nelts;

    if (len < 4) return memcmp(buf, MAGIC, len) ? PDS_SPOOL_BAD : PDS_SPOOL_SHORT;
    if (memcmp(b, MAGIC, 4)) return PDS_SPOOL_BAD;
    if (len < HEADER) return PDS_SPOOL_SHORT;
    plen = get32(b + 4);
    if (plen < 3 || plen > PDS_SPOOL_MAX_RECORD - HEADER) return PDS_SPOOL_BAD;
    if (len - HEADER < plen) return PDS_SPOOL_SHORT;
    if (pds_zip_crc32(0, b + HEADER, plen) != get32(b + 8)) return PDS_SPOOL_BAD;
    i = b + HEADER;
    end = i + plen;
    if (*i++ != REC_VERSION) return PDS_SPOOL_BAD;
    n = get16(i); i += 2;
    for (e = 0; e < n; e++) {
        pds_event_t *ev;
        const char *s[NSTR];
        int k;
        if (end - i < 8) goto bad;
        ev = &APR_ARRAY_PUSH(events, pds_event_t);
        ev->created_at = (apr_int64_t)((apr_uint64_t)get32(i) | ((apr_uint64_t)get32(i + 4) << 32));
        i += 8;
        for (k = 0; k < NSTR; k++) {
            apr_uint32_t l;
            if (end - i < 2) goto bad;
            l = get16(i); i += 2;
            if (l == NULL_LEN) { s[k] = NULL; continue; }
            if ((apr_uint32_t)(end - i) < l || memchr(i, '\0', l)) goto bad;
            s[k] = apr_pstrmemdup(p, (const char *)i, l);
            i += l;
        }
        ev->id = s[0]; ev->share_id = s[1]; ev->track_id = s[2];
        ev->file_id = s[3]; ev->kind = s[4]; ev->category = s[5];
        if (!ev->id || !ev->share_id || !ev->kind) goto bad;
    }
    if (i != end || n == 0) goto bad;
    *used = HEADER + plen;
    return PDS_SPOOL_RECORD;
bad:
    /* A record whose checksum holds but whose content does not parse was
     * not written by this code: none of it is counted. */
    events->nelts = start;
    return PDS_SPOOL_BAD;
}

apr_array_header_t *pds_spool_decode_all(apr_pool_t *p, const char *buf, apr_size_t len,
                                         apr_size_t *skipped)
{
    apr_array_header_t *events = apr_array_make(p, 16, sizeof(pds_event_t));
    apr_size_t at = 0, used;
    *skipped = 0;
    while (at < len) {
        pds_spool_decoded_e d = pds_spool_decode(p, buf + at, len - at, &used, events);
        if (d == PDS_SPOOL_RECORD) {
            at += used;
            continue;
        }
        /* Damage, or a record cut short (a write torn by a full disk, or the
         * child killed inside write(2)): go on from the next record marker. */
        {
            apr_size_t next = at + 1;
            while (next + 4 <= len && memcmp(buf + next, MAGIC, 4)) next++;
            if (next + 4 > len) next = len;
            *skipped += next - at;
            at = next;
        }
    }
    return events;
}

const char *pds_spool_make_id(apr_pool_t *p, const char *prefix, apr_uint64_t seq)
{
    return apr_psprintf(p, "%s.%" APR_UINT64_T_HEX_FMT, prefix, seq);
}

static apr_status_t errno_status(void)
{
    return errno ? APR_FROM_OS_ERROR(errno) : APR_EGENERAL;
}

static apr_status_t close_fd(void *data)
{
    pds_spool_file_t *f = data;
    if (f->fd >= 0) close(f->fd);      /* closing releases the flock */
    f->fd = -1;
    return APR_SUCCESS;
}

static pds_spool_file_t *file_make(apr_pool_t *p, int fd, const char *path)
{
    pds_spool_file_t *f = apr_pcalloc(p, sizeof(*f));
    f->fd = fd;
    f->path = apr_pstrdup(p, path);
    apr_pool_cleanup_register(p, f, close_fd, apr_pool_cleanup_null);
    return f;
}

/* Still linked under its name: a claimer may have removed it between our
 * open and our lock. */
static int still_linked(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_nlink > 0;
}

apr_status_t pds_spool_create(apr_pool_t *p, const char *dir, const char *name,
                              pds_spool_file_t **out)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return errno_status();
    /* Blocking: a claimer that found it empty holds it only for a moment. */
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            apr_status_t rv = errno_status();
            close(fd);
            unlink(path);
            return rv;
        }
    }
    if (!still_linked(fd)) {
        close(fd);
        return APR_EAGAIN;
    }
    *out = file_make(p, fd, path);
    return APR_SUCCESS;
}

apr_status_t pds_spool_append(pds_spool_file_t *f, const char *buf, apr_size_t len)
{
    ssize_t w;
    if (f->fd < 0) return APR_EBADF;
    do {
        w = write(f->fd, buf, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0) return errno_status();
    if ((apr_size_t)w != len) {
        /* A short write (disk full): the record is torn, so none of it
         * counts when read back; the next one starts on a fresh marker. */
        return APR_ENOSPC;
    }
    f->bytes += len;
    return APR_SUCCESS;
}

apr_status_t pds_spool_claim(apr_pool_t *p, const char *path, pds_spool_file_t **out)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? APR_ENOENT : errno_status();
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        apr_status_t rv = errno == EWOULDBLOCK ? APR_EBUSY : errno_status();
        close(fd);
        return rv;
    }
    if (!still_linked(fd)) {
        close(fd);
        return APR_ENOENT;
    }
    *out = file_make(p, fd, path);
    return APR_SUCCESS;
}

apr_status_t pds_spool_read(apr_pool_t *p, pds_spool_file_t *f, char **buf, apr_size_t *len)
{
    struct stat st;
    apr_size_t have = 0;
    char *b;
    if (fstat(f->fd, &st) != 0) return errno_status();
    b = apr_palloc(p, (apr_size_t)st.st_size + 1);
    while (have < (apr_size_t)st.st_size) {
        ssize_t r = pread(f->fd, b + have, (apr_size_t)st.st_size - have, (off_t)have);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno_status();
        if (r == 0) break;
        have += (apr_size_t)r;
    }
    *buf = b;
    *len = have;
    return APR_SUCCESS;
}

void pds_spool_remove(pds_spool_file_t *f)
{
    if (f->fd >= 0) unlink(f->path);
    close_fd(f);
}

void pds_spool_close(pds_spool_file_t *f)
{
    close_fd(f);
}

apr_status_t pds_spool_list(apr_pool_t *p, const char *dir, apr_array_header_t **paths)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    *paths = apr_array_make(p, 4, sizeof(const char *));
    if (!d) return errno_status();
    while ((de = readdir(d))) {
        apr_size_t l = strlen(de->d_name);
        if (l > 6 && de->d_name[0] != '.' && !strcmp(de->d_name + l - 6, ".spool"))
            APR_ARRAY_PUSH(*paths, const char *) = apr_pstrcat(p, dir, "/", de->d_name, NULL);
    }
    closedir(d);
    return APR_SUCCESS;
}

apr_status_t pds_spool_commit(struct pds_db_t *db, const apr_array_header_t *events)
{
    int i = 0, failed = 0;
    apr_status_t rv;
    const char *args[PDS_SPOOL_ROWS * 7];
    if (!events->nelts) return APR_SUCCESS;
    if (pds_db_begin(db) != APR_SUCCESS) return APR_EGENERAL;
    /* PDS_SPOOL_ROWS events per statement (the writer's time is taken from
     * the requests' core); a last group of fewer repeats its last event,
     * which ON CONFLICT DO NOTHING drops, so a batch is never more statements
     * than it needs. */
    while (i < events->nelts && !failed) {
        int r;
        for (r = 0; r < PDS_SPOOL_ROWS; r++) {
            int k = i + r < events->nelts ? i + r : events->nelts - 1;
            const pds_event_t *e = &APR_ARRAY_IDX(events, k, pds_event_t);
            const char **a = args + 7 * r;
            a[0] = e->id; a[1] = e->share_id; a[2] = e->track_id; a[3] = e->file_id;
            a[4] = e->kind; a[5] = e->category; a[6] = pds_db_i64(db->pool, e->created_at);
        }
        failed = pds_db_exec(db, "pds_event_spooled_rows", NULL, 7 * PDS_SPOOL_ROWS, args)
                 != APR_SUCCESS;
        i += PDS_SPOOL_ROWS;
    }
    /* The driver may answer success for a rollback: only our own record of
     * the statements says whether the events are in. */
    rv = pds_db_end(db, failed);
    return failed || rv != APR_SUCCESS ? APR_EGENERAL : APR_SUCCESS;
}
