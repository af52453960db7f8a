#ifndef PDS_UTIL_H
#define PDS_UTIL_H

#include "pds.h"

/* jansson objects tied to a pool: decref'd when the pool is cleared. */
json_t *pds_json_pool(apr_pool_t *p, json_t *j);
/* A JSON string, or null for NULL. */
json_t *pds_json_str_or_null(const char *s);
/* ISO 8601 of an epoch-seconds column, or null when there is none. */
json_t *pds_json_time_or_null(apr_pool_t *p, const char *epoch);
/* {"<key>": arr} (takes arr's reference). */
json_t *pds_json_wrap(const char *key, json_t *arr);

/* "YYYY-MM-DDTHH:MM:SSZ" for epoch seconds. */
const char *pds_iso8601(apr_pool_t *p, apr_int64_t epoch);
apr_int64_t pds_now(void);

/* Random bytes from the system CSPRNG; APR_SUCCESS or an error. */
apr_status_t pds_random(unsigned char *buf, apr_size_t len);
/* URL-safe base64 (no padding) of len random bytes. */
const char *pds_random_b64url(apr_pool_t *p, apr_size_t len);
void pds_b64url_encode(char *out, const unsigned char *in, apr_size_t len);
/* An opaque object id: a letter prefix and 16 random hex characters. */
const char *pds_new_id(apr_pool_t *p, const char *prefix);

/* Constant-time comparison of two strings of possibly different length. */
int pds_ct_streq(const char *a, const char *b);

/* An ASCII-lowercased copy. */
const char *pds_lower(apr_pool_t *p, const char *s);

/* HTML escaping for text and attribute values. */
const char *pds_html_escape(apr_pool_t *p, const char *s);
void pds_html_escape_to(apr_pool_t *p, apr_array_header_t *out, const char *s, apr_size_t len);

/* Percent-decoding in place; -1 for a bad escape or a decoded control
 * character. */
int pds_url_unescape(char *s);

/* Integer parsing that refuses junk; returns 0 on success. */
int pds_parse_int64(const char *s, apr_int64_t min, apr_int64_t max, apr_int64_t *out);

/* A share token is selector + verifier; the selector is indexed in the
 * database, the whole token is checked in constant time. */
#define PDS_TOKEN_BYTES 24
#define PDS_TOKEN_LEN 32
#define PDS_TOKEN_SELECTOR_LEN 10
const char *pds_token_new(apr_pool_t *p);
int pds_token_wellformed(const char *t);
const char *pds_token_selector(apr_pool_t *p, const char *token);
/* A token shortened for logs: never the whole token. */
const char *pds_token_for_log(apr_pool_t *p, const char *token);

#endif
