/* Unit tests of pds_zip: the CRC-32, the archive's records (classic and
 * ZIP64) read back byte by byte as APPNOTE.TXT lays them out, and the
 * entry-name rules. Run by `make check` (cmocka). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "pds_zip.h"

static apr_pool_t *pool;

/* ------------------------------------------------------------ helpers */

typedef struct {
    unsigned char *buf;            /* everything, or only the tail */
    apr_size_t len, cap;
    apr_uint64_t total;
    int tail_only;
    int fail_after;                /* > 0: the nth write fails */
    int writes;
} sink_t;

static apr_status_t sink_write(void *baton, const void *data, apr_size_t len)
{
    sink_t *s = baton;
    if (s->fail_after && ++s->writes >= s->fail_after) return APR_ECONNABORTED;
    s->total += len;
    if (s->tail_only) {
        /* keep the last cap bytes */
        if (len >= s->cap) {
            memcpy(s->buf, (const unsigned char *)data + len - s->cap, s->cap);
            s->len = s->cap;
        }
        else {
            apr_size_t keep = s->len + len > s->cap ? s->cap - len : s->len;
            memmove(s->buf, s->buf + s->len - keep, keep);
            memcpy(s->buf + keep, data, len);
            s->len = keep + len;
        }
        return APR_SUCCESS;
    }
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return APR_SUCCESS;
}

static apr_uint32_t le16(const unsigned char *p) { return p[0] | (apr_uint32_t)p[1] << 8; }
static apr_uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }
static apr_uint64_t le64(const unsigned char *p)
{
    return le32(p) | (apr_uint64_t)le32(p + 4) << 32;
}

/* The bitwise CRC-32 of the definition, to check the table-driven one. */
static apr_uint32_t crc_reference(const unsigned char *p, apr_size_t n)
{
    apr_uint32_t c = 0xFFFFFFFFu;
    int k;
    while (n--) {
        c ^= *p++;
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* ------------------------------------------------------------ tests */

static void test_crc32(void **state)
{
    unsigned char buf[1031];
    apr_uint32_t c = 0;
    apr_size_t i;
    (void)state;
    assert_int_equal(pds_zip_crc32(0, "123456789", 9), 0xCBF43926u);   /* the check value */
    assert_int_equal(pds_zip_crc32(0, "", 0), 0);
    for (i = 0; i < sizeof(buf); i++) buf[i] = (unsigned char)(i * 131 + 7);
    assert_int_equal(pds_zip_crc32(0, buf, sizeof(buf)), crc_reference(buf, sizeof(buf)));
    /* In pieces of every alignment, the same. */
    for (i = 0; i < sizeof(buf); i += 13)
        c = pds_zip_crc32(c, buf + i, i + 13 > sizeof(buf) ? sizeof(buf) - i : 13);
    assert_int_equal(c, crc_reference(buf, sizeof(buf)));
}

static void test_small_archive_records(void **state)
{
    sink_t s = { 0 };
    pds_zip_t *z = pds_zip_create(pool, apr_time_from_sec(1700000000), sink_write, &s);
    const unsigned char *p, *cd, *end;
    apr_uint32_t crc_a = pds_zip_crc32(0, "hello", 5);
    (void)state;
    assert_int_equal(pds_zip_entry_begin(z, "a.wav", 5), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_data(z, "hel", 3), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_data(z, "lo", 2), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_end(z), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_begin(z, "Track/b\xC3\xA9.wav", 0), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_end(z), APR_SUCCESS);
    assert_int_equal(pds_zip_finish(z), APR_SUCCESS);
    assert_int_equal(pds_zip_written(z), s.len);

    /* Local header: stored, data descriptor + UTF-8, sizes and CRC left for later. */
    p = s.buf;
    assert_int_equal(le32(p), 0x04034b50u);
    assert_int_equal(le16(p + 4), 20);
    assert_int_equal(le16(p + 6), 0x0808);
    assert_int_equal(le16(p + 8), 0);
    assert_int_equal(le16(p + 12), (43 << 9) | (11 << 5) | 14);      /* 2023-11-14 */
    assert_int_equal(le16(p + 10), (22 << 11) | (13 << 5) | 10);     /* 22:13:20 */
    assert_int_equal(le32(p + 14), 0);
    assert_int_equal(le32(p + 18), 0);
    assert_int_equal(le16(p + 26), 5);
    assert_int_equal(le16(p + 28), 0);
    assert_memory_equal(p + 30, "a.wav", 5);
    assert_memory_equal(p + 35, "hello", 5);
    /* Classic data descriptor. */
    p += 40;
    assert_int_equal(le32(p), 0x08074b50u);
    assert_int_equal(le32(p + 4), crc_a);
    assert_int_equal(le32(p + 8), 5);
    assert_int_equal(le32(p + 12), 5);

    /* End record, then the central directory it points at. */
    end = s.buf + s.len - 22;
    assert_int_equal(le32(end), 0x06054b50u);
    assert_int_equal(le16(end + 8), 2);
    assert_int_equal(le16(end + 10), 2);
    cd = s.buf + le32(end + 16);
    assert_int_equal(le32(cd), 0x02014b50u);
    assert_int_equal(le16(cd + 8), 0x0808);
    assert_int_equal(le32(cd + 16), crc_a);
    assert_int_equal(le32(cd + 20), 5);
    assert_int_equal(le32(cd + 24), 5);
    assert_int_equal(le16(cd + 28), 5);
    assert_int_equal(le16(cd + 30), 0);
    assert_int_equal(le32(cd + 42), 0);                              /* local header offset */
    cd += 46 + 5;
    assert_int_equal(le32(cd), 0x02014b50u);
    assert_int_equal(le32(cd + 16), 0);                              /* CRC of nothing */
    assert_int_equal(le32(cd + 42), 56);                             /* 30+5+5+16 */
    assert_memory_equal(cd + 46, "Track/b\xC3\xA9.wav", 13);
    assert_int_equal(cd + 46 + 13 - s.buf, le32(end + 16) + le32(end + 12));
    free(s.buf);
}

static void test_unknown_size_gets_zip64_local_records(void **state)
{
    sink_t s = { 0 };
    pds_zip_t *z = pds_zip_create(pool, apr_time_from_sec(1700000000), sink_write, &s);
    const unsigned char *p;
    (void)state;
    assert_int_equal(pds_zip_entry_begin(z, "x", -1), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_data(z, "abc", 3), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_end(z), APR_SUCCESS);
    assert_int_equal(pds_zip_finish(z), APR_SUCCESS);
    p = s.buf;
    assert_int_equal(le16(p + 4), 45);
    assert_int_equal(le32(p + 18), 0xFFFFFFFFu);
    assert_int_equal(le32(p + 22), 0xFFFFFFFFu);
    assert_int_equal(le16(p + 28), 20);
    assert_int_equal(le16(p + 31), 0x0001);                          /* after the name "x" */
    assert_int_equal(le16(p + 33), 16);
    p += 30 + 1 + 20 + 3;
    assert_int_equal(le32(p), 0x08074b50u);                          /* ZIP64 descriptor */
    assert_int_equal(le32(p + 4), pds_zip_crc32(0, "abc", 3));
    assert_int_equal(le64(p + 8), 3);
    assert_int_equal(le64(p + 16), 3);
    assert_int_equal(le32(p + 24), 0x02014b50u);                     /* then the directory */
    assert_int_equal(le16(p + 24 + 6), 45);
    free(s.buf);
}

static void test_more_than_65535_entries_is_zip64(void **state)
{
    unsigned char tail[256];
    sink_t s = { tail, 0, sizeof(tail), 0, 1, 0, 0 };
    pds_zip_t *z = pds_zip_create(pool, apr_time_from_sec(1700000000), sink_write, &s);
    const unsigned char *end, *loc, *rec;
    apr_uint64_t local_bytes = 0, cd_bytes = 0;
    int i;
    (void)state;
    for (i = 0; i < 65536; i++) {
        const char *name = apr_psprintf(pool, "f%05d", i);
        assert_int_equal(pds_zip_entry_begin(z, name, 1), APR_SUCCESS);
        assert_int_equal(pds_zip_entry_data(z, "x", 1), APR_SUCCESS);
        assert_int_equal(pds_zip_entry_end(z), APR_SUCCESS);
    }
    local_bytes = pds_zip_written(z);
    assert_int_equal(local_bytes, 65536ULL * (30 + 6 + 1 + 16));
    assert_int_equal(pds_zip_finish(z), APR_SUCCESS);
    cd_bytes = 65536ULL * (46 + 6);
    end = tail + s.len - 22;
    loc = end - 20;
    rec = loc - 56;
    assert_int_equal(le32(end), 0x06054b50u);
    assert_int_equal(le16(end + 8), 0xFFFF);
    assert_int_equal(le16(end + 10), 0xFFFF);
    assert_int_equal(le32(loc), 0x07064b50u);
    assert_int_equal(le64(loc + 8), local_bytes + cd_bytes);         /* where the record is */
    assert_int_equal(le32(loc + 16), 1);
    assert_int_equal(le32(rec), 0x06064b50u);
    assert_int_equal(le64(rec + 4), 44);
    assert_int_equal(le64(rec + 24), 65536);
    assert_int_equal(le64(rec + 32), 65536);
    assert_int_equal(le64(rec + 40), cd_bytes);
    assert_int_equal(le64(rec + 48), local_bytes);
    assert_int_equal(s.total, local_bytes + cd_bytes + 56 + 20 + 22);
}

static void test_write_failure_stops_the_archive(void **state)
{
    sink_t s = { 0 };
    pds_zip_t *z = pds_zip_create(pool, 0, sink_write, &s);
    (void)state;
    s.fail_after = 3;
    assert_int_equal(pds_zip_entry_begin(z, "a", 1), APR_SUCCESS);   /* writes 1 and 2 */
    assert_int_equal(pds_zip_entry_data(z, "a", 1), APR_ECONNABORTED);
    assert_int_equal(pds_zip_entry_end(z), APR_ECONNABORTED);
    assert_int_equal(pds_zip_finish(z), APR_ECONNABORTED);
    /* Misuse is refused: no name, an entry inside an entry, data outside one. */
    z = pds_zip_create(pool, 0, sink_write, &s);
    s.fail_after = 0;
    assert_int_equal(pds_zip_entry_begin(z, "", 1), APR_EINVAL);
    assert_int_equal(pds_zip_entry_data(z, "a", 1), APR_EINVAL);
    assert_int_equal(pds_zip_entry_begin(z, "a", 1), APR_SUCCESS);
    assert_int_equal(pds_zip_entry_begin(z, "b", 1), APR_EINVAL);
    assert_int_equal(pds_zip_finish(z), APR_EINVAL);
    free(s.buf);
}

static void test_safe_names(void **state)
{
    static const char *const cases[][2] = {
        { "take.wav", "take.wav" },
        { "../x.wav", "_._x.wav" },
        { "..", "_." },
        { ".", "_" },
        { "", "file" },
        { "a/b\\c:d.wav", "a_b_c_d.wav" },
        { "bell\x07tab\tnl\n.wav", "bell_tab_nl_.wav" },
        { "del\x7f.wav", "del_.wav" },
        { "c1\xC2\x85.wav", "c1_.wav" },                             /* U+0085 NEL */
        { "evil\xE2\x80\xAEvaw.exe", "evil_vaw.exe" },               /* U+202E RLO */
        { "iso\xE2\x81\xA6x\xE2\x81\xA9.wav", "iso_x_.wav" },        /* U+2066, U+2069 */
        { "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x8E\xB5.wav",
          "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x8E\xB5.wav" },         /* kept */
        { "bad\xC3(.wav", "bad_(.wav" },                             /* cut sequence */
        { "over\xC0\xAF.wav", "over__.wav" },                        /* overlong "/" */
        { "sur\xED\xA0\x80.wav", "sur___.wav" },                     /* a surrogate */
        { "CON", "_CON" },                        /* Windows device names */
        { "nul.wav", "_nul.wav" },
        { "Aux .tar.gz", "_Aux .tar.gz" },
        { "com1.wav", "_com1.wav" },
        { "LPT9", "_LPT9" },
        { "console.wav", "console.wav" },
        { "COM10.wav", "COM10.wav" },
        { NULL, NULL }
    };
    char long_name[400];
    const char *s;
    int i;
    (void)state;
    for (i = 0; cases[i][0]; i++) assert_string_equal(pds_zip_safe_name(pool, cases[i][0]),
                                                      cases[i][1]);
    assert_string_equal(pds_zip_safe_name(pool, NULL), "file");
    /* Long names are cut to 255 bytes on a character boundary. */
    for (i = 0; i < 398; i += 2) memcpy(long_name + i, "\xC3\xA9", 2);
    long_name[398] = '\0';
    s = pds_zip_safe_name(pool, long_name);
    assert_int_equal(strlen(s), 254);
}

static void test_duplicate_names(void **state)
{
    pds_zip_names_t *n = pds_zip_names_make(pool);
    (void)state;
    assert_string_equal(pds_zip_names_take(n, "take.wav"), "take.wav");
    assert_string_equal(pds_zip_names_take(n, "take.wav"), "take (2).wav");
    assert_string_equal(pds_zip_names_take(n, "Take.WAV"), "Take (3).WAV");
    assert_string_equal(pds_zip_names_take(n, "take (2).wav"), "take (2) (2).wav");
    assert_string_equal(pds_zip_names_take(n, "README"), "README");
    assert_string_equal(pds_zip_names_take(n, "readme"), "readme (2)");
    assert_string_equal(pds_zip_names_take(n, ".hidden"), ".hidden");
    assert_string_equal(pds_zip_names_take(n, ".hidden"), ".hidden (2)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_small_archive_records),
        cmocka_unit_test(test_unknown_size_gets_zip64_local_records),
        cmocka_unit_test(test_more_than_65535_entries_is_zip64),
        cmocka_unit_test(test_write_failure_stops_the_archive),
        cmocka_unit_test(test_safe_names),
        cmocka_unit_test(test_duplicate_names),
    };
    int rc;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
