/* Templates: a small Mustache subset over a JSON context, parsed once at
 * start-up. {{name}} and {{a.b}} write the value HTML-escaped (there is no
 * unescaped form, on purpose); {{#x}}...{{/x}} renders for a true value, once
 * per element of an array, or inside an object; {{^x}}...{{/x}} renders when
 * x is false, null, missing or empty; {{>name}} includes another template;
 * {{! ...}} is a comment. */
#ifndef PDS_TMPL_H
#define PDS_TMPL_H

#include "pds.h"

typedef struct pds_tmpl_set_t pds_tmpl_set_t;

pds_tmpl_set_t *pds_tmpl_set_make(apr_pool_t *p);
/* Parse one template into the set; NULL on success, else why (with the line). */
const char *pds_tmpl_add(pds_tmpl_set_t *set, const char *name, const char *text, apr_size_t len);
/* Load every NAME.html of dir into the set. NULL on success, else why. */
const char *pds_tmpl_load_dir(pds_tmpl_set_t *set, const char *dir);
int pds_tmpl_has(const pds_tmpl_set_t *set, const char *name);
/* Render into a NUL-terminated string allocated from p. NULL on success. */
const char *pds_tmpl_render(apr_pool_t *p, const pds_tmpl_set_t *set, const char *name,
                            json_t *data, const char **out, apr_size_t *len);

#endif
