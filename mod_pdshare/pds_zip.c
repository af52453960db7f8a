#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "pds_zip.h"

#define SIG_LOCAL    0x04034b50u
#define SIG_DESC     0x08074b50u
#define SIG_CENTRAL  0x02014b50u
#define SIG_END64    0x06064b50u
#define SIG_LOC64    0x07064b50u
#define SIG_END      0x06054b50u
#define FLAGS        0x0808u          /* bit 3: data descriptor; bit 11: UTF-8 name */
#define VERSION_20   20u
#define VERSION_45   45u              /* ZIP64 */
#define MADE_BY      ((3u << 8) | VERSION_45)     /* Unix, 4.5 */
#define MAX32        APR_UINT64_C(0xFFFFFFFF)
#define MAX16        0xFFFFu
#define MAX_NAME     255              /* bytes of one name (a file system's limit) */

/* ------------------------------------------------------------ CRC-32 */

/* Slicing-by-8 over the reflected polynomial 0xEDB88320: eight 256-entry
 * tables, filled once when the library is loaded (before any thread). */
static apr_uint32_t crc_tab[8][256];

__attribute__((constructor)) static void crc_init(void)
{
    apr_uint32_t i, k, c;
    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++)
            crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^ crc_tab[0][crc_tab[k - 1][i] & 0xFF];
}

apr_uint32_t pds_zip_crc32(apr_uint32_t crc, const void *data, apr_size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (len >= 8) {
        apr_uint32_t a = crc ^ ((apr_uint32_t)p[0] | (apr_uint32_t)p[1] << 8
                                | (apr_uint32_t)p[2] << 16 | (apr_uint32_t)p[3] << 24);
        crc = crc_tab[7][a & 0xFF] ^ crc_tab[6][(a >> 8) & 0xFF]
            ^ crc_tab[5][(a >> 16) & 0xFF] ^ crc_tab[4][a >> 24]
            ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--) crc = crc_tab[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------ the archive */

typedef struct {
    const char *name;
    apr_uint16_t name_len;
    apr_uint32_t crc;
    apr_uint64_t size;
    apr_uint64_t offset;           /* of the local header */
    int zip64_local;               /* local header and descriptor in ZIP64 form */
} zip_entry_t;

struct pds_zip_t {
    apr_pool_t *pool;
    pds_zip_write_fn write;
    void *baton;
    apr_uint16_t dos_time, dos_date;
    apr_uint64_t offset;           /* bytes written */
    apr_array_header_t *entries;   /* of zip_entry_t: the central directory */
    zip_entry_t *cur;              /* the entry being written, or NULL */
    apr_status_t failed;           /* the first failure; everything after it fails */
};

/* A little-endian record under construction. */
typedef struct {
    unsigned char b[64];
    apr_size_t n;
} rec_t;

static void put16(rec_t *r, apr_uint32_t v)
{
    r->b[r->n++] = v & 0xFF;
    r->b[r->n++] = (v >> 8) & 0xFF;
}

static void put32(rec_t *r, apr_uint32_t v)
{
    put16(r, v & 0xFFFF);
    put16(r, v >> 16);
}

static void put64(rec_t *r, apr_uint64_t v)
{
    put32(r, (apr_uint32_t)(v & MAX32));
    put32(r, (apr_uint32_t)(v >> 32));
}

static apr_status_t emit(pds_zip_t *z, const void *data, apr_size_t len)
{
    apr_status_t rv;
    if (z->failed) return z->failed;
    if (!len) return APR_SUCCESS;
    if ((rv = z->write(z->baton, data, len)) != APR_SUCCESS) {
        z->failed = rv;
        return rv;
    }
    z->offset += len;
    return APR_SUCCESS;
}

static apr_status_t emit_rec(pds_zip_t *z, const rec_t *r)
{
    return emit(z, r->b, r->n);
}

pds_zip_t *pds_zip_create(apr_pool_t *p, apr_time_t mtime, pds_zip_write_fn write, void *baton)
{
    pds_zip_t *z = apr_pcalloc(p, sizeof(*z));
    apr_time_exp_t t;
    z->pool = p;
    z->write = write;
    z->baton = baton;
    z->entries = apr_array_make(p, 16, sizeof(zip_entry_t));
    if (apr_time_exp_gmt(&t, mtime) != APR_SUCCESS || t.tm_year < 80) {
        z->dos_date = (0 << 9) | (1 << 5) | 1;                   /* 1980-01-01 */
    }
    else {
        int year = t.tm_year - 80 > 127 ? 127 : t.tm_year - 80;
        z->dos_date = (apr_uint16_t)((year << 9) | ((t.tm_mon + 1) << 5) | t.tm_mday);
        z->dos_time = (apr_uint16_t)((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec / 2));
    }
    return z;
}

apr_uint64_t pds_zip_written(const pds_zip_t *z)
{
    return z->offset;
}

apr_status_t pds_zip_entry_begin(pds_zip_t *z, const char *name, apr_int64_t size_hint)
{
    zip_entry_t *e;
    rec_t r = { { 0 }, 0 };
    apr_size_t len = strlen(name);
    apr_status_t rv;
    if (z->failed) return z->failed;
    if (z->cur || !len || len > MAX16) return APR_EINVAL;
    e = apr_array_push(z->entries);
    e->name = apr_pstrmemdup(z->pool, name, len);
    e->name_len = (apr_uint16_t)len;
    e->offset = z->offset;
    e->zip64_local = size_hint < 0 || (apr_uint64_t)size_hint >= MAX32;
    z->cur = e;
    put32(&r, SIG_LOCAL);
    put16(&r, e->zip64_local ? VERSION_45 : VERSION_20);
    put16(&r, FLAGS);
    put16(&r, 0);                                        /* stored */
    put16(&r, z->dos_time);
    put16(&r, z->dos_date);
    put32(&r, 0);                                        /* CRC: in the descriptor */
    put32(&r, e->zip64_local ? 0xFFFFFFFFu : 0);         /* sizes: likewise */
    put32(&r, e->zip64_local ? 0xFFFFFFFFu : 0);
    put16(&r, e->name_len);
    put16(&r, e->zip64_local ? 20 : 0);
    if ((rv = emit_rec(z, &r)) || (rv = emit(z, e->name, len))) return rv;
    if (e->zip64_local) {
        r.n = 0;
        put16(&r, 0x0001);                               /* ZIP64 extended information */
        put16(&r, 16);
        put64(&r, 0);
        put64(&r, 0);
        if ((rv = emit_rec(z, &r))) return rv;
    }
    return APR_SUCCESS;
}

apr_status_t pds_zip_entry_data(pds_zip_t *z, const void *data, apr_size_t len)
{
    apr_status_t rv;
    if (!z->cur) return z->failed ? z->failed : APR_EINVAL;
    if ((rv = emit(z, data, len))) return rv;
    z->cur->crc = pds_zip_crc32(z->cur->crc, data, len);
    z->cur->size += len;
    return APR_SUCCESS;
}

apr_status_t pds_zip_entry_end(pds_zip_t *z)
{
    zip_entry_t *e = z->cur;
    rec_t r = { { 0 }, 0 };
    if (!e) return z->failed ? z->failed : APR_EINVAL;
    z->cur = NULL;
    if (!e->zip64_local && e->size >= MAX32) {
        z->failed = APR_EINVAL;
        return APR_EINVAL;
    }
    put32(&r, SIG_DESC);
    put32(&r, e->crc);
    if (e->zip64_local) {
        put64(&r, e->size);
        put64(&r, e->size);
    }
    else {
        put32(&r, (apr_uint32_t)e->size);
        put32(&r, (apr_uint32_t)e->size);
    }
    return emit_rec(z, &r);
}

static apr_status_t central_record(pds_zip_t *z, const zip_entry_t *e)
{
    rec_t r = { { 0 }, 0 }, x = { { 0 }, 0 };
    int big_size = e->size >= MAX32, big_offset = e->offset >= MAX32;
    apr_status_t rv;
    if (big_size || big_offset) {
        put16(&x, 0x0001);
        put16(&x, (big_size ? 16 : 0) + (big_offset ? 8 : 0));
        if (big_size) {
            put64(&x, e->size);                          /* original, then compressed */
            put64(&x, e->size);
        }
        if (big_offset) put64(&x, e->offset);
    }
    put32(&r, SIG_CENTRAL);
    put16(&r, MADE_BY);
    put16(&r, e->zip64_local || x.n ? VERSION_45 : VERSION_20);
    put16(&r, FLAGS);
    put16(&r, 0);
    put16(&r, z->dos_time);
    put16(&r, z->dos_date);
    put32(&r, e->crc);
    put32(&r, big_size ? 0xFFFFFFFFu : (apr_uint32_t)e->size);
    put32(&r, big_size ? 0xFFFFFFFFu : (apr_uint32_t)e->size);
    put16(&r, e->name_len);
    put16(&r, (apr_uint32_t)x.n);
    put16(&r, 0);                                        /* comment */
    put16(&r, 0);                                        /* disk */
    put16(&r, 0);                                        /* internal attributes */
    put32(&r, 0100644u << 16);                           /* a regular file, rw-r--r-- */
    put32(&r, big_offset ? 0xFFFFFFFFu : (apr_uint32_t)e->offset);
    if ((rv = emit_rec(z, &r)) || (rv = emit(z, e->name, e->name_len))) return rv;
    return emit_rec(z, &x);
}

apr_status_t pds_zip_finish(pds_zip_t *z)
{
    apr_uint64_t cd_offset = z->offset, cd_size, count = (apr_uint64_t)z->entries->nelts;
    rec_t r = { { 0 }, 0 };
    apr_status_t rv;
    int i, zip64;
    if (z->cur) return APR_EINVAL;
    for (i = 0; i < z->entries->nelts; i++)
        if ((rv = central_record(z, &APR_ARRAY_IDX(z->entries, i, zip_entry_t)))) return rv;
    cd_size = z->offset - cd_offset;
    zip64 = count >= MAX16 || cd_size >= MAX32 || cd_offset >= MAX32;
    if (zip64) {
        apr_uint64_t end64 = z->offset;
        put32(&r, SIG_END64);
        put64(&r, 44);                                   /* the record's size after this field */
        put16(&r, MADE_BY);
        put16(&r, VERSION_45);
        put32(&r, 0);
        put32(&r, 0);
        put64(&r, count);
        put64(&r, count);
        put64(&r, cd_size);
        put64(&r, cd_offset);
        if ((rv = emit_rec(z, &r))) return rv;
        r.n = 0;
        put32(&r, SIG_LOC64);
        put32(&r, 0);
        put64(&r, end64);
        put32(&r, 1);                                    /* disks */
        if ((rv = emit_rec(z, &r))) return rv;
        r.n = 0;
    }
    put32(&r, SIG_END);
    put16(&r, 0);
    put16(&r, 0);
    put16(&r, count >= MAX16 ? MAX16 : (apr_uint32_t)count);
    put16(&r, count >= MAX16 ? MAX16 : (apr_uint32_t)count);
    put32(&r, cd_size >= MAX32 ? 0xFFFFFFFFu : (apr_uint32_t)cd_size);
    put32(&r, cd_offset >= MAX32 ? 0xFFFFFFFFu : (apr_uint32_t)cd_offset);
    put16(&r, 0);                                        /* comment */
    return emit_rec(z, &r);
}

/* ------------------------------------------------------------ names */

/* The code point of the UTF-8 sequence at s (at most n bytes) and its length,
 * or 0 for a malformed one (overlong, surrogate, past U+10FFFF, cut short). */
static apr_size_t utf8_next(const unsigned char *s, apr_size_t n, apr_uint32_t *cp)
{
    apr_size_t len, i;
    apr_uint32_t c = s[0], min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; c &= 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; c &= 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; c &= 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

static int unsafe_code_point(apr_uint32_t c)
{
    return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)
        || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069)
        || c == '/' || c == '\\' || c == ':';
}

/* A Windows device name (CON, NUL, COM1, ... with any extension, case and
 * trailing spaces): Windows cannot create such a file, so Explorer stops the
 * extraction there. */
static int reserved_on_windows(const char *s)
{
    static const char *const names[] = { "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", NULL };
    apr_size_t n = strcspn(s, ".");
    int i;
    while (n && s[n - 1] == ' ') n--;
    for (i = 0; names[i]; i++)
        if (n == strlen(names[i]) && !strncasecmp(s, names[i], n)) return 1;
    return n == 4 && (!strncasecmp(s, "COM", 3) || !strncasecmp(s, "LPT", 3))
        && s[3] >= '1' && s[3] <= '9';
}

const char *pds_zip_safe_name(apr_pool_t *p, const char *name)
{
    const unsigned char *s = (const unsigned char *)(name ? name : "");
    apr_size_t n = strlen((const char *)s), i = 0, o = 0;
    char *out = apr_palloc(p, n + 5);
    while (i < n) {
        apr_uint32_t cp;
        apr_size_t len = utf8_next(s + i, n - i, &cp);
        if (!len || unsafe_code_point(cp)) {
            len = len ? len : 1;
            if (o + 1 > MAX_NAME) break;
            out[o++] = '_';
        }
        else {
            if (o + len > MAX_NAME) break;               /* cut on a character boundary */
            memcpy(out + o, s + i, len);
            o += len;
        }
        i += len;
    }
    out[o] = '\0';
    for (i = 0; i + 1 < o; i++)
        if (out[i] == '.' && out[i + 1] == '.') out[i] = '_';
    if (!o) return "file";
    if (!strcmp(out, ".")) return "_";
    if (reserved_on_windows(out)) return apr_pstrcat(p, "_", out, NULL);
    return out;
}

struct pds_zip_names_t {
    apr_pool_t *pool;
    apr_hash_t *used;              /* ASCII-lowercased names */
};

pds_zip_names_t *pds_zip_names_make(apr_pool_t *p)
{
    pds_zip_names_t *n = apr_palloc(p, sizeof(*n));
    n->pool = p;
    n->used = apr_hash_make(p);
    return n;
}

static const char *fold(apr_pool_t *p, const char *s)
{
    char *f = apr_pstrdup(p, s), *c;
    for (c = f; *c; c++) *c = (char)apr_tolower((unsigned char)*c);
    return f;
}

const char *pds_zip_names_take(pds_zip_names_t *n, const char *name)
{
    const char *dot = strrchr(name, '.'), *cand = name, *key;
    const char *stem = dot && dot != name ? apr_pstrndup(n->pool, name, dot - name) : name;
    const char *ext = dot && dot != name ? dot : "";
    int k;
    for (k = 2; apr_hash_get(n->used, key = fold(n->pool, cand), APR_HASH_KEY_STRING); k++)
        cand = apr_psprintf(n->pool, "%s (%d)%s", stem, k, ext);
    apr_hash_set(n->used, key, APR_HASH_KEY_STRING, "");
    return cand;
}
