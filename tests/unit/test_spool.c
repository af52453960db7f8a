/* Unit tests of pds_spool: records read back as written (NULLs, a ZIP's many
 * events), a torn tail and damage skipped whole with the records around them
 * kept, the link-preview rule, and the file handling (a held file cannot be
 * claimed; a released one can, once). Run by `make check` (cmocka). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "pds_spool.h"

static apr_pool_t *pool;

static pds_event_t ev(const char *id, const char *kind, const char *track, const char *cat)
{
    pds_event_t e;
    memset(&e, 0, sizeof(e));
    e.id = id; e.share_id = "share-1"; e.track_id = track; e.file_id = track ? "file-9" : NULL;
    e.kind = kind; e.category = cat; e.created_at = 1700000000123LL;
    return e;
}

static void test_round_trip(void **state)
{
    pds_event_t in[3] = { ev("a.1", "view", NULL, NULL), ev("a.2", "download", "t", "stem"),
                          ev("a.3", "play", "t", "master") };
    apr_array_header_t *out = apr_array_make(pool, 4, sizeof(pds_event_t));
    char *buf;
    apr_size_t len, used;
    pds_event_t *e;
    assert_int_equal(pds_spool_encode(pool, in, 3, &buf, &len), APR_SUCCESS);
    assert_int_equal(pds_spool_decode(pool, buf, len, &used, out), PDS_SPOOL_RECORD);
    assert_int_equal(used, len);
    assert_int_equal(out->nelts, 3);
    e = &APR_ARRAY_IDX(out, 0, pds_event_t);
    assert_string_equal(e->id, "a.1");
    assert_string_equal(e->share_id, "share-1");
    assert_null(e->track_id);
    assert_null(e->file_id);
    assert_null(e->category);
    assert_true(e->created_at == 1700000000123LL);
    e = &APR_ARRAY_IDX(out, 1, pds_event_t);
    assert_string_equal(e->kind, "download");
    assert_string_equal(e->category, "stem");
    assert_string_equal(e->file_id, "file-9");
    /* Every shorter prefix is a torn record, never a record. */
    for (used = 0; used < len; used++) {
        apr_size_t u;
        out->nelts = 0;
        assert_int_equal(pds_spool_decode(pool, buf, used, &u, out), PDS_SPOOL_SHORT);
        assert_int_equal(out->nelts, 0);
    }
}

static void test_damage_is_skipped_whole(void **state)
{
    pds_event_t a = ev("x.1", "view", NULL, NULL), b[2] = { ev("x.2", "download", "t", "stem"),
                                                           ev("x.3", "download", "t", "bounce") };
    pds_event_t c = ev("x.4", "view", NULL, NULL);
    char *ra, *rb, *rc, *all;
    apr_size_t la, lb, lc, skipped, n;
    apr_array_header_t *out;
    assert_int_equal(pds_spool_encode(pool, &a, 1, &ra, &la), APR_SUCCESS);
    assert_int_equal(pds_spool_encode(pool, b, 2, &rb, &lb), APR_SUCCESS);
    assert_int_equal(pds_spool_encode(pool, &c, 1, &rc, &lc), APR_SUCCESS);
    /* a, b with one payload byte flipped, c, then c torn. */
    n = la + lb + lc + lc - 2;
    all = apr_palloc(pool, n);
    memcpy(all, ra, la);
    memcpy(all + la, rb, lb);
    all[la + lb - 5] ^= 0x20;
    memcpy(all + la + lb, rc, lc);
    memcpy(all + la + lb + lc, rc, lc - 2);
    out = pds_spool_decode_all(pool, all, n, &skipped);
    assert_int_equal(out->nelts, 2);            /* none of b's two */
    assert_string_equal(APR_ARRAY_IDX(out, 0, pds_event_t).id, "x.1");
    assert_string_equal(APR_ARRAY_IDX(out, 1, pds_event_t).id, "x.4");
    assert_int_equal(skipped, lb + lc - 2);
    /* A record cut short in the middle hides nothing after it. */
    memcpy(all, ra, la - 3);
    memcpy(all + la - 3, rc, lc);
    out = pds_spool_decode_all(pool, all, la - 3 + lc, &skipped);
    assert_int_equal(out->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(out, 0, pds_event_t).id, "x.4");
}

static void test_encode_refuses(void **state)
{
    pds_event_t e = ev("y.1", "view", NULL, NULL);
    char *buf, *big = apr_palloc(pool, 70000);
    apr_size_t len;
    assert_int_equal(pds_spool_encode(pool, &e, 0, &buf, &len), APR_EINVAL);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    e.share_id = big;
    assert_int_equal(pds_spool_encode(pool, &e, 1, &buf, &len), APR_EINVAL);
}

static void test_link_preview_kind(void **state)
{
    assert_string_equal(pds_event_kind(0, "play"), "play");
    assert_string_equal(pds_event_kind(1, "view"), "preview");
    assert_string_equal(pds_event_kind(1, "preview"), "preview");
    assert_null(pds_event_kind(1, "play"));
    assert_null(pds_event_kind(1, "download"));
}

static void test_files_held_and_claimed(void **state)
{
    char tmpl[] = "/tmp/pds-spool-test-XXXXXX";
    const char *dir = mkdtemp(tmpl);
    pds_spool_file_t *f, *g;
    apr_array_header_t *paths, *out;
    pds_event_t e = ev("z.1", "view", NULL, NULL);
    char *buf, *back;
    apr_size_t len, blen, skipped;
    assert_non_null(dir);
    assert_int_equal(pds_spool_create(pool, dir, "1-a-1.spool", &f), APR_SUCCESS);
    assert_int_equal(pds_spool_create(pool, dir, "1-a-1.spool", &g), APR_EEXIST);
    assert_int_equal(pds_spool_encode(pool, &e, 1, &buf, &len), APR_SUCCESS);
    assert_int_equal(pds_spool_append(f, buf, len), APR_SUCCESS);
    assert_int_equal(pds_spool_list(pool, dir, &paths), APR_SUCCESS);
    assert_int_equal(paths->nelts, 1);
    /* Held: nobody else may claim it (flock is per open file). */
    assert_int_equal(pds_spool_claim(pool, APR_ARRAY_IDX(paths, 0, const char *), &g), APR_EBUSY);
    pds_spool_close(f);
    assert_int_equal(pds_spool_claim(pool, APR_ARRAY_IDX(paths, 0, const char *), &g), APR_SUCCESS);
    assert_int_equal(pds_spool_read(pool, g, &back, &blen), APR_SUCCESS);
    out = pds_spool_decode_all(pool, back, blen, &skipped);
    assert_int_equal(out->nelts, 1);
    pds_spool_remove(g);
    assert_int_equal(pds_spool_claim(pool, APR_ARRAY_IDX(paths, 0, const char *), &g), APR_ENOENT);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage_is_skipped_whole),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_link_preview_kind),
        cmocka_unit_test(test_files_held_and_claimed),
    };
    int rc;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
