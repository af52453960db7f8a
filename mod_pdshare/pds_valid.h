/* Validation of producer-supplied JSON fields. Each getter answers NULL when
 * the field is acceptable, else a 400 invalid_field error naming it. */
#ifndef PDS_VALID_H
#define PDS_VALID_H

#include "pds.h"

typedef enum { PDS_ABSENT = 0, PDS_NULL, PDS_SET } pds_presence_e;

/* Single-line text: UTF-8, no control characters, at most maxchars. */
pds_err_t *pds_field_text(apr_pool_t *p, json_t *obj, const char *name, apr_size_t maxchars,
                          const char **out, pds_presence_e *pr);
/* Absolute http:// or https:// URL without spaces or control characters. */
pds_err_t *pds_field_url(apr_pool_t *p, json_t *obj, const char *name,
                         const char **out, pds_presence_e *pr);
pds_err_t *pds_field_color(apr_pool_t *p, json_t *obj, const char *name,
                           const char **out, pds_presence_e *pr);
pds_err_t *pds_field_alias(apr_pool_t *p, json_t *obj, const char *name,
                           const char **out, pds_presence_e *pr);
pds_err_t *pds_field_email(apr_pool_t *p, json_t *obj, const char *name,
                           const char **out, pds_presence_e *pr);
pds_err_t *pds_field_username(apr_pool_t *p, json_t *obj, const char *name,
                              const char **out, pds_presence_e *pr);
pds_err_t *pds_field_int(apr_pool_t *p, json_t *obj, const char *name, apr_int64_t min,
                         apr_int64_t max, apr_int64_t *out, pds_presence_e *pr);
pds_err_t *pds_field_number(apr_pool_t *p, json_t *obj, const char *name, double min,
                            double max, double *out, pds_presence_e *pr);
pds_err_t *pds_field_bool(apr_pool_t *p, json_t *obj, const char *name, int *out,
                          pds_presence_e *pr);
/* One of a NULL-terminated list of values. */
pds_err_t *pds_field_enum(apr_pool_t *p, json_t *obj, const char *name,
                          const char *const *values, const char **out, pds_presence_e *pr);
/* Every key of obj is one of the NULL-terminated `allowed` names; else a 400
 * unknown_field error naming the first stranger (a producer who sends a field we
 * do not know must not believe it took effect). obj NULL or not an object: OK. */
pds_err_t *pds_fields_known(apr_pool_t *p, json_t *obj, const char *const *allowed);
/* A Dropbox path: "/" then segments; no "." or ".." segment, no control
 * characters, no backslash, at most 1024 bytes. */
int pds_valid_dropbox_path(const char *path);
/* A file name: one path segment, no control characters, not "." or "..",
 * UTF-8 without bidi controls (pds_name_problem). */
int pds_valid_file_name(const char *name);
/* Text checks usable on their own. pds_valid_text: well-formed UTF-8 (below),
 * no control characters, at most maxchars code points. */
int pds_valid_text(const char *s, apr_size_t maxchars);
/* len bytes of well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates
 * (U+D800-U+DFFF), nothing above U+10FFFF, no cut-off sequence. jansson checks
 * JSON strings itself; paths and query values are checked with this. */
int pds_valid_utf8(const char *s, apr_size_t len);
/* Whether s (UTF-8) holds a bidirectional embedding, override or isolate
 * control (U+202A-U+202E, U+2066-U+2069): in a title or a name they make text
 * read differently than it is stored (a file "evil\u202Evaw.exe" shows as
 * "evilexe.wav"). */
int pds_has_bidi(const char *s);
/* Why a title or name is refused, or NULL: not UTF-8, or a bidi control. */
const char *pds_name_problem(const char *s);
/* A title or name: pds_field_text, and no bidi control (pds_has_bidi). */
pds_err_t *pds_field_name(apr_pool_t *p, json_t *obj, const char *name, apr_size_t maxchars,
                          const char **out, pds_presence_e *pr);
/* Every name and value of a query string (a=b&c=d) decodes (percent, +) to
 * UTF-8; else a 400 invalid_field naming it. Malformed escapes and control
 * characters are left to the route that reads the value. */
pds_err_t *pds_valid_query(apr_pool_t *p, const char *query);
int pds_valid_url(const char *s);
int pds_valid_id(const char *s);

#endif
