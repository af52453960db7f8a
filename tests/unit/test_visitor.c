/* Unit tests of pds_visitor: the Range parser (what a local download
 * answers, and so whether it counts) and the link-preview list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "pds_visitor.h"
#include "pds_dropbox.h"

static int setup_pool(void **state)
{
    apr_pool_t *p;
    apr_initialize();
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) return -1;
    *state = p;
    return 0;
}

static int teardown_pool(void **state)
{
    apr_pool_destroy(*state);
    apr_terminate();
    return 0;
}

typedef struct {
    const char *value;
    apr_off_t size;
    pds_range_kind_e kind;
    int first_byte;
    const char *header;          /* NULL: none expected */
} range_case_t;

static void check_ranges(apr_pool_t *p, const range_case_t *cases, int max_parts)
{
    const range_case_t *c;
    for (c = cases; c->value || c->size; c++) {
        pds_range_t r;
        pds_range_parse(p, c->value, c->size, max_parts, &r);
        if (r.kind != c->kind || r.first_byte != c->first_byte
            || (c->header ? !r.header || strcmp(r.header, c->header) : r.header != NULL))
            fail_msg("Range \"%s\" on %d bytes: kind %d first_byte %d header %s",
                     c->value ? c->value : "(none)", (int)c->size, r.kind, r.first_byte,
                     r.header ? r.header : "(none)");
    }
}

/* The attacker's headers from issue 11, and the usual ones. */
static void test_range_first_byte(void **state)
{
    static const range_case_t cases[] = {
        { NULL, 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=0-", 1000, PDS_RANGE_PARTS, 1, "bytes=0-999" },
        { "bytes=00-", 1000, PDS_RANGE_PARTS, 1, "bytes=0-999" },
        { "bytes=000-9", 1000, PDS_RANGE_PARTS, 1, "bytes=0-9" },
        { "BYTES=0-", 1000, PDS_RANGE_PARTS, 1, "bytes=0-999" },
        { "Bytes=0-0", 1000, PDS_RANGE_PARTS, 1, "bytes=0-0" },
        { "bytes=-8", 1000, PDS_RANGE_PARTS, 0, "bytes=992-999" },
        { "bytes=-1000", 1000, PDS_RANGE_PARTS, 1, "bytes=0-999" },
        { "bytes=-5000", 1000, PDS_RANGE_PARTS, 1, "bytes=0-999" },
        { "bytes=-8", 8, PDS_RANGE_PARTS, 1, "bytes=0-7" },
        { "bytes=1-,0-0", 1000, PDS_RANGE_PARTS, 1, "bytes=0-999" },
        { "bytes=1-", 1000, PDS_RANGE_PARTS, 0, "bytes=1-999" },
        { "bytes=100-199", 1000, PDS_RANGE_PARTS, 0, "bytes=100-199" },
        { "bytes=500-599,0-9", 1000, PDS_RANGE_PARTS, 1, "bytes=0-9,500-599" },
        { "bytes=10-19,20-29", 1000, PDS_RANGE_PARTS, 0, "bytes=10-29" },
        { "bytes=10-50,20-29", 1000, PDS_RANGE_PARTS, 0, "bytes=10-50" },
        { "bytes=900-2000", 1000, PDS_RANGE_PARTS, 0, "bytes=900-999" },
        { "bytes=1-99999999999999999999999", 1000, PDS_RANGE_PARTS, 0, "bytes=1-999" },
        /* list syntax: optional whitespace and empty elements */
        { "bytes= 5-9 ,\t0-1", 1000, PDS_RANGE_PARTS, 1, "bytes=0-1,5-9" },
        { "bytes=,5-9,,", 1000, PDS_RANGE_PARTS, 0, "bytes=5-9" },
        /* unsatisfiable: 416, nothing sent */
        { "bytes=1000-", 1000, PDS_RANGE_UNSATISFIABLE, 0, "bytes=1000-" },
        { "bytes=-0", 1000, PDS_RANGE_UNSATISFIABLE, 0, "bytes=1000-" },
        { "bytes=99999999999999999999-", 1000, PDS_RANGE_UNSATISFIABLE, 0, "bytes=1000-" },
        { "bytes=2000-,-0", 1000, PDS_RANGE_UNSATISFIABLE, 0, "bytes=1000-" },
        /* ignored (whole file, 200): other units and bad syntax anywhere in the set */
        { "items=0-5", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=,", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes =0-", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytess=5-", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=5", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=9-5", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=5-9,x", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=+5-9", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=5-+9", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=0x5-9", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=5 -9", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=--5", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=-", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=5-9;0-1", 1000, PDS_RANGE_WHOLE, 1, NULL },
        /* an empty file: httpd sends it whole */
        { "bytes=5-", 0, PDS_RANGE_WHOLE, 1, NULL },
        { NULL, 0, 0, 0, NULL }
    };
    check_ranges(*state, cases, -1);
}

/* MaxRanges: more parts than allowed, and httpd sends the whole file. */
static void test_range_max_parts(void **state)
{
    static const range_case_t two[] = {
        { "bytes=1-2,5-6", 1000, PDS_RANGE_PARTS, 0, "bytes=1-2,5-6" },
        { "bytes=1-2,5-6,9-10", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { "bytes=1-2,3-6,7-10", 1000, PDS_RANGE_PARTS, 0, "bytes=1-10" },
        { NULL, 0, 0, 0, NULL }
    };
    static const range_case_t none[] = {
        { "bytes=5-9", 1000, PDS_RANGE_WHOLE, 1, NULL },
        { NULL, 0, 0, 0, NULL }
    };
    check_ranges(*state, two, 2);
    check_ranges(*state, none, 0);
}

/* Many parts stay exact and bounded. */
static void test_range_many_parts(void **state)
{
    apr_pool_t *p = *state;
    char value[8192] = "bytes=";
    pds_range_t r;
    int i;
    for (i = 999; i >= 1; i -= 2) {
        char part[16];
        snprintf(part, sizeof(part), "%d-%d,", i, i);
        strcat(value, part);
    }
    pds_range_parse(p, value, 2000, -1, &r);
    assert_int_equal(r.kind, PDS_RANGE_PARTS);
    assert_int_equal(r.parts, 500);
    assert_false(r.first_byte);
    assert_true(!strncmp(r.header, "bytes=1-1,3-3,", 14));
    strcat(value, "0-0");
    pds_range_parse(p, value, 2000, -1, &r);
    assert_int_equal(r.parts, 500);            /* 0-0 and 1-1 merge */
    assert_true(r.first_byte);
    assert_true(!strncmp(r.header, "bytes=0-1,3-3,", 14));
}

static void test_link_preview_agents(void **state)
{
    static const char *const bots[] = {
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Slack-ImgProxy (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko)"
            " Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "Twitterbot/1.0",
        "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "TelegramBot (like TwitterBot)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"
            " Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
        "Pinterestbot/1.0 (+http://www.pinterest.com/bot.html)",
        "redditbot/1.0",
        "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "SLACKBOT", "discordBOT",
        NULL
    };
    static const char *const people[] = {
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0]",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "curl/8.5.0", "python-requests/2.31.0", "",
        NULL
    };
    int i;
    for (i = 0; bots[i]; i++)
        if (!pds_is_link_preview(bots[i])) fail_msg("not seen as a link preview: %s", bots[i]);
    for (i = 0; people[i]; i++)
        if (pds_is_link_preview(people[i])) fail_msg("seen as a link preview: %s", people[i]);
    assert_false(pds_is_link_preview(NULL));
    {
        /* Agents around the lowered buffer's size (1,024 bytes): a name at
         * the very end is still found, and padding alone is not a bot. */
        static const apr_size_t sizes[] = { 1000, 1023, 1024, 1025, 4000 };
        char ua[4100];
        apr_size_t k;
        for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            apr_size_t n = sizes[k] - strlen("Twitterbot/1.0");
            memset(ua, 'M', n);
            strcpy(ua + n, "Twitterbot/1.0");
            assert_int_equal(strlen(ua), sizes[k]);
            if (!pds_is_link_preview(ua)) fail_msg("a %zu-byte agent ending in a bot", sizes[k]);
            memset(ua, 'M', sizes[k]);
            ua[sizes[k]] = '\0';
            if (pds_is_link_preview(ua)) fail_msg("%zu bytes of padding seen as a bot", sizes[k]);
        }
    }
}

/* A file gone from Dropbox is told apart from every other failure. */
static void test_dbx_path_gone(void **state)
{
    static const struct { int status; const char *error; int gone; } cases[] = {
        { 409, "{\".tag\":\"path\",\"path\":{\".tag\":\"not_found\"}}", 1 },
        { 409, "{\".tag\":\"path\",\"path\":{\".tag\":\"not_file\"}}", 1 },
        { 409, "{\".tag\":\"path\",\"path\":{\".tag\":\"restricted_content\"}}", 0 },
        { 409, "{\".tag\":\"path\",\"path\":\"not_found\"}", 0 },
        { 409, "{\".tag\":\"email_not_verified\"}", 0 },
        { 409, "{\".tag\":\"path\"}", 0 },
        { 401, "{\".tag\":\"path\",\"path\":{\".tag\":\"not_found\"}}", 0 },
        { 503, NULL, 0 },
        { 0, NULL, 0 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pds_dbx_res_t res;
        memset(&res, 0, sizeof(res));
        res.status = cases[i].status;
        if (cases[i].error) {
            res.error = json_loads(cases[i].error, 0, NULL);
            assert_non_null(res.error);
            res.tag = json_string_value(json_object_get(res.error, ".tag"));
        }
        if (pds_dbx_path_gone(&res) != cases[i].gone)
            fail_msg("case %zu (%d %s): want gone=%d", i, cases[i].status,
                     cases[i].error ? cases[i].error : "-", cases[i].gone);
        json_decref(res.error);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_range_first_byte, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_range_max_parts, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_range_many_parts, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_link_preview_agents, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_dbx_path_gone, setup_pool, teardown_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
