/* pdsharectl: mod_pdshare's admin CLI, on the same library as the module.
 * It opens the database with apr_dbd directly (the same DBDriver and
 * DBDParams as httpd.conf) and prints JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_getopt.h>
#include <apr_dbd.h>

#include "pds_lib.h"
#include "pds_api.h"
#include "pds_util.h"

#define STRING_(x) #x
#define STRING(x) STRING_(x)

static void usage(FILE *out)
{
    fprintf(out,
        "usage: pdsharectl [options] COMMAND [ARGS]\n"
        "\n"
        "options:\n"
        "  -d, --driver NAME       apr_dbd driver: sqlite3 (default) or pgsql (as DBDriver)\n"
        "  -p, --params PARAMS     driver parameters (as DBDParams), e.g. /var/lib/pdshare/pdshare.db\n"
        "  -b, --base-url URL      base of share URLs (as PDShareBaseURL)\n"
        "  -s, --share-path PATH   public share path (as PDShareSharePath, default "
        PDS_DEFAULT_SHARE_PATH ")\n"
        "  -m, --max-tracks N      tracks per share (as PDShareMaxTracks, default "
        STRING(PDS_DEFAULT_MAX_TRACKS) ")\n"
        "\n"
        "commands:\n"
        "  migrate [VERSION]                       create or upgrade the schema (default: latest)\n"
        "  schema-version                          print the schema version of the database\n"
        "  shares list PRODUCER                    list a producer's shares with their stats\n"
        "  shares create PRODUCER [--expires-days N] [--title T] (--bucket B | TRACK_ID...)\n"
        "                                          create a share, print it with its URL\n"
        "  shares revoke PRODUCER SHARE_ID         disable a share from the next request on\n"
        "  shares stats PRODUCER SHARE_ID          views, previews, plays and downloads of a share\n");
}

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "pdsharectl: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

static int print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    if (!s) return 1;
    puts(s);
    free(s);
    return 0;
}

static int report(pds_err_t *e, json_t *out)
{
    int rc;
    if (e) {
        fprintf(stderr, "pdsharectl: %s (%s)\n", e->message, e->code);
        return e->status >= 500 ? 3 : 1;
    }
    rc = print_json(out);
    json_decref(out);
    return rc;
}

static int shares(pds_ctx_t *ctx, int argc, const char *const *argv)
{
    json_t *out = NULL;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    pds_err_t *e;
    ctx->user = argv[1];
    if (!strcmp(argv[0], "list") && argc == 2) {
        e = pds_share_list(ctx, &out);
        return report(e, out);
    }
    if (!strcmp(argv[0], "revoke") && argc == 3) {
        e = pds_share_revoke(ctx, argv[2], &out);
        return report(e, out);
    }
    if (!strcmp(argv[0], "stats") && argc == 3) {
        e = pds_share_load(ctx, argv[2], 1, &out);
        return report(e, out);
    }
    if (!strcmp(argv[0], "create")) {
        json_t *body = json_object(), *ids = json_array();
        int i, rc;
        for (i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--bucket") && i + 1 < argc) {
                json_object_set_new(body, "bucket", json_string(argv[++i]));
            }
            else if (!strcmp(argv[i], "--title") && i + 1 < argc) {
                json_object_set_new(body, "title", json_string(argv[++i]));
            }
            else if (!strcmp(argv[i], "--expires-days") && i + 1 < argc) {
                apr_int64_t d;
                if (pds_parse_int64(argv[++i], 1, 3650, &d)) {
                    json_decref(body);
                    json_decref(ids);
                    return fail("--expires-days takes 1 to 3650, not '%s'", argv[i]);
                }
                json_object_set_new(body, "expires_in_days", json_integer(d));
            }
            else if (argv[i][0] == '-') {
                json_decref(body);
                json_decref(ids);
                return fail("unknown option '%s' for shares create", argv[i]);
            }
            else json_array_append_new(ids, json_string(argv[i]));
        }
        if (json_array_size(ids)) json_object_set(body, "track_ids", ids);
        e = pds_share_create(ctx, body, &out);
        rc = report(e, out);
        json_decref(body);
        json_decref(ids);
        return rc;
    }
    usage(stderr);
    return 2;
}

int main(int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        { "driver", 'd', 1, "apr_dbd driver" },
        { "params", 'p', 1, "driver parameters" },
        { "base-url", 'b', 1, "base URL" },
        { "share-path", 's', 1, "share path" },
        { "max-tracks", 'm', 1, "max tracks" },
        { "help", 'h', 0, "help" },
        { NULL, 0, 0, NULL }
    };
    const char *driver_name = "sqlite3", *params = NULL, *arg, *err = NULL;
    pds_settings_t settings;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_getopt_t *g;
    apr_pool_t *p;
    const char *base_url = "";
    apr_hash_t *prepared;
    pds_ctx_t *ctx;
    apr_status_t rv;
    int opt, rc, rest;
    apr_int64_t n;

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    apr_pool_create(&p, NULL);
    apr_getopt_init(&g, p, argc, argv);
    pds_settings_init(&settings);
    while ((rv = apr_getopt_long(g, opts, &opt, &arg)) == APR_SUCCESS) {
        switch (opt) {
        case 'd': driver_name = arg; break;
        case 'p': params = arg; break;
        case 'b': base_url = arg; break;
        case 's': settings.share_path = arg; break;
        case 'm':
            if (pds_parse_int64(arg, 1, 1000, &n)) return fail("--max-tracks takes 1 to 1000, not '%s'", arg);
            settings.max_tracks = (int)n;
            break;
        case 'h': usage(stdout); return 0;
        }
    }
    if (rv != APR_EOF) {
        usage(stderr);
        return 2;
    }
    rest = g->ind;
    if (rest >= argc) {
        usage(stderr);
        return 2;
    }
    if (!params) return fail("%s", "give the database with --params (as DBDParams in httpd.conf)");

    apr_dbd_init(p);
    if ((rv = apr_dbd_get_driver(p, driver_name, &driver)) != APR_SUCCESS)
        return fail("no apr_dbd driver '%s' (Debian: libaprutil1-dbd-sqlite3 or -pgsql)", driver_name);
    if ((rv = apr_dbd_open_ex(driver, p, params, &handle, &err)) != APR_SUCCESS)
        return fail("cannot open the database: %s", err ? err : "unknown error");

    if (!strcmp(argv[rest], "schema-version")) {
        printf("%d\n", pds_db_schema_version(p, driver, handle));
        return 0;
    }
    if (!strcmp(argv[rest], "migrate")) {
        int target = 0;
        if (rest + 1 < argc) {
            if (pds_parse_int64(argv[rest + 1], 1, PDS_SCHEMA_VERSION, &n))
                return fail("migrate takes a schema version from 1 to the latest, not '%s'",
                            argv[rest + 1]);
            target = (int)n;
        }
        if (pds_db_setup(p, driver, handle, target, &err) != APR_SUCCESS)
            return fail("migration failed: %s", err ? err : "unknown error");
        printf("schema version %d\n", pds_db_schema_version(p, driver, handle));
        return 0;
    }
    if (strcmp(argv[rest], "shares")) {
        usage(stderr);
        return 2;
    }
    if (pds_db_setup(p, driver, handle, 0, &err) != APR_SUCCESS)
        return fail("cannot bring the schema up to date: %s", err ? err : "unknown error");
    prepared = apr_hash_make(p);
    if (pds_db_prepare_all(p, driver, handle, prepared, &err) != APR_SUCCESS)
        return fail("%s", err ? err : "cannot prepare statements");
    ctx = pds_ctx_make(p, driver, handle, prepared, &settings);
    ctx->base_url = base_url;
    rc = shares(ctx, argc - rest - 1, argv + rest + 1);
    if (rc == 3 && ctx->db->last_error)
        fprintf(stderr, "pdsharectl: database: %s\n", ctx->db->last_error);
    apr_dbd_close(driver, handle);
    return rc;
}
