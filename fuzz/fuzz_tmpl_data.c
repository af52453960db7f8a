/* Rendering the real templates with a fuzzed context.
 *
 * The page's data is producer-supplied (titles, names, URLs, colours) and
 * reaches the public page through the templates of htdocs/templates, loaded
 * once with pds_tmpl_load_dir as the module does. Input: a first line naming
 * a template (any other line picks one by its bytes), then JSON: the
 * context. As the module's page_data does, "nonce" and "assets" are added.
 * Properties: a loaded template renders without error for any object; the
 * output is NUL-terminated at its length; a string of the context holding
 * "<xss" never reaches the output unescaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_info.h>

#include "fuzz_common.h"
#include "pds_tmpl.h"
#include "pds_util.h"

#ifndef FZ_TEMPLATES_DIR
#define FZ_TEMPLATES_DIR "htdocs/templates"
#endif

static pds_tmpl_set_t *set;
static apr_array_header_t *names;

static int cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_pool_t *p = fz_init();
    const char *dir = getenv("PDS_FUZZ_TEMPLATES"), *err;
    apr_dir_t *d;
    apr_finfo_t fi;
    if (!dir || !*dir) dir = FZ_TEMPLATES_DIR;
    set = pds_tmpl_set_make(p);
    if ((err = pds_tmpl_load_dir(set, dir))) {
        fprintf(stderr, "fuzz: templates: %s\n", err);
        abort();
    }
    names = apr_array_make(p, 8, sizeof(const char *));
    if (apr_dir_open(&d, dir, p) != APR_SUCCESS) abort();
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
        size_t n = strlen(fi.name);
        if (n > 5 && !strcmp(fi.name + n - 5, ".html"))
            APR_ARRAY_PUSH(names, const char *) = apr_pstrndup(p, fi.name, n - 5);
    }
    apr_dir_close(d);
    qsort(names->elts, (size_t)names->nelts, sizeof(const char *), cmp);
    return 0;
}

static int pick(const uint8_t *data, size_t n)
{
    unsigned h = 0;
    size_t i;
    int k;
    for (k = 0; k < names->nelts; k++) {
        const char *name = APR_ARRAY_IDX(names, k, const char *);
        if (strlen(name) == n && !memcmp(name, data, n)) return k;
    }
    for (i = 0; i < n; i++) h = h * 31 + data[i];
    return (int)(h % (unsigned)names->nelts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    const char *name = APR_ARRAY_IDX(names, nl ? pick(data, (size_t)(nl - data)) : 0, const char *);
    const uint8_t *json = nl ? nl + 1 : data;
    size_t json_len = nl ? size - (size_t)(nl + 1 - data) : size;
    json_t *ctx = json_loadb((const char *)json, json_len, 0, NULL);
    const char *out = NULL, *err;
    apr_size_t len = 0;
    apr_pool_t *p;

    if (!ctx) return 0;
    if (!json_is_object(ctx)) {
        json_decref(ctx);
        return 0;
    }
    p = fz_pool();
    pds_json_pool(p, ctx);
    json_object_set_new(ctx, "nonce", json_string("fuzz-nonce"));
    json_object_set_new(ctx, "assets", json_string("/s/assets"));
    err = pds_tmpl_render(p, set, name, ctx, &out, &len);
    FZ_CHECK(!err, "template %s: %s", name, err);
    FZ_CHECK(out && strlen(out) <= len && out[len] == '\0', "output not terminated at its length");
    FZ_CHECK(!strstr(out, "<xss"), "template %s: context markup reached the output unescaped",
             name);
    fz_pool_done(p);
    return 0;
}
