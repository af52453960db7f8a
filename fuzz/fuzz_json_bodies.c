/* JSON bodies of the owner API's writes.
 *
 * Input: a first line naming the route (one of the names below; any other
 * line picks one by its bytes), then the body. The body is parsed as the
 * module does (json_loadb with JSON_REJECT_DUPLICATES; not an object: the
 * module answers 400 itself) and handed to pds_api_handle. After a write
 * that succeeded, the collection is read back with a GET, so that stored
 * values go through the read paths too.
 * Properties: contracted statuses and shapes; no write is refused by the
 * database (a 503 "unavailable" means validation let through a value the
 * store cannot take); a 2xx write reads back with 200. */
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_util.h"

static const struct {
    const char *name, *method, *path, *readback;
} routes[] = {
    { "tracks", "POST", "/tracks", "/tracks" },
    { "track", "PATCH", "/tracks/" FZ_TRACK, "/tracks/" FZ_TRACK },
    { "profile", "PUT", "/profile", "/profile" },
    { "shares", "POST", "/shares", "/shares" },
    { "files", "POST", "/tracks/" FZ_TRACK "/files", "/tracks/" FZ_TRACK "/files" },
    { "collaborators", "POST", "/tracks/" FZ_TRACK "/collaborators",
      "/tracks/" FZ_TRACK "/collaborators" },
    { "collaborator", "PATCH", "/tracks/" FZ_TRACK "/collaborators/" FZ_COLLAB,
      "/tracks/" FZ_TRACK "/collaborators" },
    { "share-collab", "POST", "/tracks/" FZ_TRACK "/share-with-collaborators",
      "/tracks/" FZ_TRACK "/share-status" },
    { "bulk", "POST", "/share-with-collaborators", "/notifications" },
};
#define NROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

static int pick(const uint8_t *data, size_t n)
{
    unsigned h = 0;
    size_t i;
    int r;
    for (r = 0; r < NROUTES; r++)
        if (strlen(routes[r].name) == n && !memcmp(routes[r].name, data, n)) return r;
    for (i = 0; i < n; i++) h = h * 31 + data[i];
    return (int)(h % NROUTES);
}

static const char *error_code(const pds_reply_t *r)
{
    return json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_db();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    const uint8_t *json = nl ? nl + 1 : data;
    size_t json_len = nl ? size - (size_t)(nl + 1 - data) : size;
    int r = nl ? pick(data, (size_t)(nl - data)) : 0;
    apr_pool_t *p;
    pds_reply_t reply, back;
    pds_db_t db;
    pds_ctx_t *ctx;
    json_error_t jerr;
    json_t *body = json_loadb((const char *)json, json_len, JSON_REJECT_DUPLICATES, &jerr);

    if (!body) return 0;
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    p = fz_pool();
    pds_json_pool(p, body);
    ctx = fz_ctx(p, FZ_USER, &db);
    fz_http_script(p, NULL, 0);

    pds_api_handle(ctx, routes[r].method, routes[r].path, NULL, body, &reply);
    fz_check_reply(&reply, routes[r].method, routes[r].path);
    FZ_CHECK(reply.status < 500 || strcmp(error_code(&reply), "unavailable"),
             "%s %s: the database refused a validated body: %s", routes[r].method,
             routes[r].path, db.last_error ? db.last_error : "?");

    if (reply.status >= 200 && reply.status < 300) {
        pds_api_handle(ctx, "GET", routes[r].readback, NULL, NULL, &back);
        fz_check_reply(&back, "GET", routes[r].readback);
        FZ_CHECK(back.status == 200, "GET %s after %s %s answered %d", routes[r].readback,
                 routes[r].method, routes[r].path, back.status);
    }

    fz_pool_done(p);
    fz_db_reset_if_changed();
    return 0;
}
