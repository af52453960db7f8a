/* Template parsing and rendering of arbitrary template text.
 *
 * Input: a template. It is parsed with pds_tmpl_add into a set that also
 * holds two fixed partials, then rendered with a fixed JSON context whose
 * strings carry markup. (Templates are the operator's files, not outside
 * input; this target checks that parser and renderer stay safe on any text.)
 * The fuzzed template's name cannot be written in a tag, so it cannot
 * include itself, and the context's arrays hold one element: the cost of a
 * render stays linear in the template's size.
 * Properties: the parser answers NULL or a reason; the renderer answers NULL
 * or a reason; the output is NUL-terminated at its length; no context
 * string reaches the output unescaped (a character of < > " ' ` that the
 * template's text does not hold is not in the output). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_tmpl.h"

#define NAME "fuzz template"
#define XSS "<xss a=\"1\" b='2' c=`3`>"

static json_t *context;
/* The fixed partials: no markup characters, so the output check below holds. */
static const char row[] = "[li]{{name}} {{#tags}}[{{.}}]{{/tags}}[/li]";
static const char head[] = "[title]{{title}}[/title]";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_error_t err;
    fz_init();
    context = json_pack_ex(&err, 0,
        "{s:s,s:s,s:i,s:f,s:b,s:b,s:n,s:s,s:[],s:{},"
        "s:[{s:s,s:i,s:[s]}],s:{s:{s:s}},s:[s],s:[i],s:[[s]]}",
        "title", XSS, "name", "Name & co", "n", 42, "r", 1.5, "t", 1, "f", 0, "z",
        "e", "", "ea", "eo",
        "items", "name", XSS, "id", 7, "tags", XSS,
        "obj", "a", "b", XSS,
        "list", XSS, "nums", 3, "nested", XSS);
    if (!context) {
        fprintf(stderr, "fuzz: context: %s\n", err.text);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    pds_tmpl_set_t *set = pds_tmpl_set_make(p);
    /* The set keeps pointers into the text: it lives as long as the pool. */
    const char *text = fz_strndup(p, data, size), *err, *out = NULL;
    apr_size_t len = 0;

    if (pds_tmpl_add(set, "row", row, sizeof(row) - 1)
        || pds_tmpl_add(set, "head", head, sizeof(head) - 1))
        abort();
    err = pds_tmpl_add(set, NAME, text, size);
    if (err) {
        FZ_CHECK(*err, "empty parse error");
        FZ_CHECK(!pds_tmpl_has(set, NAME), "a template that failed to parse was added");
        fz_pool_done(p);
        return 0;
    }
    FZ_CHECK(pds_tmpl_has(set, NAME), "parsed template missing");
    err = pds_tmpl_render(p, set, NAME, context, &out, &len);
    if (err) {
        FZ_CHECK(*err, "empty render error");
    }
    else {
        const char *c;
        FZ_CHECK(out && strlen(out) <= len && out[len] == '\0',
                 "output not terminated at its length");
        /* Markup from the context is escaped: a character the template's
         * text (and the partials) do not hold cannot be in the output. */
        for (c = "<>\"'`"; *c; c++)
            if (!memchr(data, *c, size))
                FZ_CHECK(!memchr(out, *c, len), "context markup reached the output unescaped (%c)",
                         *c);
    }
    fz_pool_done(p);
    return 0;
}
