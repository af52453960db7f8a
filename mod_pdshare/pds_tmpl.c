#include <string.h>
#include <stdio.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_fnmatch.h>

#include "pds_util.h"
#include "pds_tmpl.h"

typedef enum { N_TEXT, N_VAR, N_SECTION, N_INVERTED, N_PARTIAL } node_kind_e;

typedef struct node_t node_t;
struct node_t {
    node_kind_e kind;
    const char *text;            /* N_TEXT: the text; otherwise the name */
    apr_size_t len;
    const char **path;           /* dotted name split; NULL-terminated; {"."} for "." */
    node_t *children;            /* sections */
    node_t *next;
};

struct pds_tmpl_set_t {
    apr_pool_t *pool;
    apr_hash_t *templates;       /* name -> node_t* */
};

#define MAX_DEPTH 32

pds_tmpl_set_t *pds_tmpl_set_make(apr_pool_t *p)
{
    pds_tmpl_set_t *set = apr_pcalloc(p, sizeof(*set));
    set->pool = p;
    set->templates = apr_hash_make(p);
    return set;
}

static const char **split_name(apr_pool_t *p, const char *name)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    char *last, *tok, *copy = apr_pstrdup(p, name);
    if (!strcmp(name, ".")) {
        APR_ARRAY_PUSH(a, const char *) = ".";
    }
    else {
        for (tok = apr_strtok(copy, ".", &last); tok; tok = apr_strtok(NULL, ".", &last))
            APR_ARRAY_PUSH(a, const char *) = tok;
    }
    APR_ARRAY_PUSH(a, const char *) = NULL;
    return (const char **)a->elts;
}

/* Find a two-character marker in [s, end): the text need not be NUL-terminated. */
static const char *find2(const char *s, const char *end, char a, char b)
{
    for (; s + 1 < end; s++) if (s[0] == a && s[1] == b) return s;
    return NULL;
}

/* A tag name: "." alone, or dot-separated non-empty parts. */
static int good_name(const char *name)
{
    apr_size_t n = strlen(name);
    if (!strcmp(name, ".")) return 1;
    if (!n || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
        return 0;
    return name[0] != '.' && name[n - 1] != '.' && !strstr(name, "..");
}

static int line_of(const char *start, const char *at)
{
    int line = 1;
    for (; start < at; start++) if (*start == '\n') line++;
    return line;
}

const char *pds_tmpl_add(pds_tmpl_set_t *set, const char *name, const char *text, apr_size_t len)
{
    apr_pool_t *p = set->pool;
    node_t root = { 0 };
    node_t *stack[MAX_DEPTH];
    node_t **tail[MAX_DEPTH];
    const char *s = text, *end = text + len;
    int depth = 0;

    stack[0] = &root;
    tail[0] = &root.children;
    while (s < end) {
        const char *open = find2(s, end, '{', '{');
        const char *close, *tag, *tag_end;
        node_t *n;
        char sigil;
        if (!open) open = end;
        if (open > s) {
            n = apr_pcalloc(p, sizeof(*n));
            n->kind = N_TEXT;
            n->text = s;
            n->len = (apr_size_t)(open - s);
            *tail[depth] = n;
            tail[depth] = &n->next;
        }
        if (open == end) break;
        close = find2(open + 2, end, '}', '}');
        if (!close)
            return apr_psprintf(p, "%s line %d: '{{' without '}}'", name, line_of(text, open));
        tag = open + 2;
        sigil = *tag;
        if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '>' || sigil == '!'
            || sigil == '{' || sigil == '&' || sigil == '=') tag++;
        if (sigil == '{' || sigil == '&' || sigil == '=')
            return apr_psprintf(p, "%s line %d: unescaped output and delimiter changes are"
                                " not supported", name, line_of(text, open));
        while (tag < close && *tag == ' ') tag++;
        tag_end = close;
        while (tag_end > tag && tag_end[-1] == ' ') tag_end--;
        s = close + 2;
        if (sigil == '!') continue;
        if (tag_end == tag)
            return apr_psprintf(p, "%s line %d: empty tag", name, line_of(text, open));
        {
            const char *tname = apr_pstrndup(p, tag, tag_end - tag);
            if (!good_name(tname))
                return apr_psprintf(p, "%s line %d: bad tag name '%s'", name,
                                    line_of(text, open), tname);
            if (sigil == '/') {
                if (depth == 0 || strcmp(stack[depth]->text, tname))
                    return apr_psprintf(p, "%s line %d: '{{/%s}}' closes nothing open", name,
                                        line_of(text, open), tname);
                depth--;
                continue;
            }
            n = apr_pcalloc(p, sizeof(*n));
            n->text = tname;
            n->path = split_name(p, tname);
            n->kind = sigil == '#' ? N_SECTION : sigil == '^' ? N_INVERTED
                    : sigil == '>' ? N_PARTIAL : N_VAR;
            *tail[depth] = n;
            tail[depth] = &n->next;
            if (n->kind == N_SECTION || n->kind == N_INVERTED) {
                if (depth + 1 >= MAX_DEPTH)
                    return apr_psprintf(p, "%s line %d: sections nested too deep", name,
                                        line_of(text, open));
                depth++;
                stack[depth] = n;
                tail[depth] = &n->children;
            }
        }
    }
    if (depth)
        return apr_psprintf(p, "%s: section '%s' is not closed", name, stack[depth]->text);
    apr_hash_set(set->templates, apr_pstrdup(p, name), APR_HASH_KEY_STRING,
                 root.children ? root.children : apr_pcalloc(p, sizeof(node_t)));
    return NULL;
}

const char *pds_tmpl_load_dir(pds_tmpl_set_t *set, const char *dir)
{
    apr_pool_t *p = set->pool;
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;
    char ebuf[256];
    int loaded = 0;

    if ((rv = apr_dir_open(&d, dir, p)) != APR_SUCCESS)
        return apr_psprintf(p, "cannot open %s: %s", dir, apr_strerror(rv, ebuf, sizeof(ebuf)));
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
        const char *path, *err;
        char *text, *dot;
        apr_file_t *f;
        apr_finfo_t st;
        apr_size_t n;
        if (fi.filetype != APR_REG || apr_fnmatch("*.html", fi.name, 0) != APR_SUCCESS) continue;
        path = apr_pstrcat(p, dir, "/", fi.name, NULL);
        if ((rv = apr_file_open(&f, path, APR_READ, 0, p)) != APR_SUCCESS
            || (rv = apr_file_info_get(&st, APR_FINFO_SIZE, f)) != APR_SUCCESS) {
            apr_dir_close(d);
            return apr_psprintf(p, "cannot read %s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        }
        n = (apr_size_t)st.size;
        text = apr_palloc(p, n + 1);
        rv = apr_file_read_full(f, text, n, &n);
        apr_file_close(f);
        if (rv != APR_SUCCESS && rv != APR_EOF) {
            apr_dir_close(d);
            return apr_psprintf(p, "cannot read %s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        }
        text[n] = '\0';
        dot = strrchr(apr_pstrdup(p, fi.name), '.');
        {
            char *tname = apr_pstrndup(p, fi.name, strlen(fi.name) - strlen(dot));
            if ((err = pds_tmpl_add(set, tname, text, n))) {
                apr_dir_close(d);
                return err;
            }
        }
        loaded++;
    }
    apr_dir_close(d);
    if (!loaded) return apr_psprintf(p, "no templates (*.html) in %s", dir);
    return NULL;
}

int pds_tmpl_has(const pds_tmpl_set_t *set, const char *name)
{
    return apr_hash_get(set->templates, name, APR_HASH_KEY_STRING) != NULL;
}

typedef struct {
    apr_pool_t *pool;
    const pds_tmpl_set_t *set;
    char *buf;
    apr_size_t len, cap;
    json_t *stack[MAX_DEPTH * 2];
    int top;
    int depth;
    const char *err;
} render_t;

static json_t *lookup(render_t *r, const char **path)
{
    json_t *v = NULL;
    int i;
    if (!strcmp(path[0], ".")) return r->stack[r->top];
    for (i = r->top; i >= 0; i--) {
        if (json_is_object(r->stack[i]) && (v = json_object_get(r->stack[i], path[0]))) break;
    }
    for (i = 1; v && path[i]; i++) v = json_is_object(v) ? json_object_get(v, path[i]) : NULL;
    return v;
}

static int truthy(json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v)) return 0;
    if (json_is_array(v)) return json_array_size(v) > 0;
    if (json_is_string(v)) return json_string_length(v) > 0;
    return 1;
}

static void put(render_t *r, const char *s, apr_size_t n)
{
    if (!n) return;
    if (r->len + n + 1 > r->cap) {
        apr_size_t cap = (r->len + n + 1) * 2;
        char *grown = apr_palloc(r->pool, cap);
        memcpy(grown, r->buf, r->len);
        r->buf = grown;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
}

static void render_nodes(render_t *r, const node_t *n);

static void render_value(render_t *r, json_t *v)
{
    char buf[64];
    if (json_is_string(v)) {
        apr_array_header_t *esc = apr_array_make(r->pool, (int)json_string_length(v) + 16, 1);
        pds_html_escape_to(r->pool, esc, json_string_value(v), json_string_length(v));
        put(r, esc->elts, esc->nelts);
    }
    else if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(r, buf, strlen(buf));
    }
    else if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        put(r, buf, strlen(buf));
    }
    else if (json_is_true(v)) {
        put(r, "true", 4);
    }
}

static void render_nodes(render_t *r, const node_t *n)
{
    for (; n && !r->err; n = n->next) {
        json_t *v;
        switch (n->kind) {
        case N_TEXT:
            put(r, n->text, n->len);
            break;
        case N_VAR:
            v = lookup(r, n->path);
            if (v) render_value(r, v);
            break;
        case N_INVERTED:
            if (!truthy(lookup(r, n->path))) render_nodes(r, n->children);
            break;
        case N_SECTION:
            v = lookup(r, n->path);
            if (!truthy(v)) break;
            if (r->top + 1 >= (int)(sizeof(r->stack) / sizeof(r->stack[0]))) {
                r->err = "template nesting too deep";
                break;
            }
            if (json_is_array(v)) {
                size_t i;
                json_t *el;
                json_array_foreach(v, i, el) {
                    r->stack[++r->top] = el;
                    render_nodes(r, n->children);
                    r->top--;
                }
            }
            else {
                r->stack[++r->top] = v;
                render_nodes(r, n->children);
                r->top--;
            }
            break;
        case N_PARTIAL: {
            const node_t *t = apr_hash_get(r->set->templates, n->text, APR_HASH_KEY_STRING);
            if (!t) {
                r->err = apr_psprintf(r->pool, "partial '%s' not found", n->text);
                break;
            }
            if (++r->depth > MAX_DEPTH) {
                r->err = "partials nested too deep";
                break;
            }
            render_nodes(r, t);
            r->depth--;
            break;
        }
        }
    }
}

const char *pds_tmpl_render(apr_pool_t *p, const pds_tmpl_set_t *set, const char *name,
                            json_t *data, const char **out, apr_size_t *len)
{
    render_t r;
    const node_t *t = apr_hash_get(set->templates, name, APR_HASH_KEY_STRING);
    if (!t) return apr_psprintf(p, "template '%s' not found", name);
    memset(&r, 0, sizeof(r));
    r.pool = p;
    r.set = set;
    r.cap = 16384;
    r.buf = apr_palloc(p, r.cap);
    r.stack[0] = data;
    render_nodes(&r, t);
    if (r.err) return r.err;
    r.buf[r.len] = '\0';
    *out = r.buf;
    if (len) *len = r.len;
    return NULL;
}
