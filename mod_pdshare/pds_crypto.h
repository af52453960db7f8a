/* Secrets at rest and OAuth helpers, over OpenSSL's libcrypto. */
#ifndef PDS_CRYPTO_H
#define PDS_CRYPTO_H

#include "pds.h"

#define PDS_DATA_KEY_LEN 32

/* Seal `plain` with AES-256-GCM under key: "v1." + base64url(nonce|ciphertext|tag).
 * `context` is authenticated but not stored (e.g. "dropbox-access:<user>"), so a
 * sealed value copied to another producer's row does not open. NULL on failure. */
const char *pds_seal(apr_pool_t *p, const unsigned char *key, const char *context,
                     const char *plain);
/* Open a sealed value; NULL when it does not open (wrong key, context or data). */
const char *pds_unseal(apr_pool_t *p, const unsigned char *key, const char *context,
                       const char *sealed);

/* PKCE (RFC 7636): a 64-character verifier and its S256 challenge. */
const char *pds_pkce_verifier(apr_pool_t *p);
const char *pds_pkce_challenge(apr_pool_t *p, const char *verifier);

/* Lowercase hex SHA-256 of data. */
const char *pds_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len);

/* Dropbox's content hash, fed incrementally: the SHA-256 of the
 * concatenated SHA-256 digests of each 4 MiB block. */
typedef struct pds_dbx_hash_t pds_dbx_hash_t;
pds_dbx_hash_t *pds_dbx_hash_make(apr_pool_t *p);
void pds_dbx_hash_update(pds_dbx_hash_t *h, const void *data, apr_size_t len);
const char *pds_dbx_hash_hex(apr_pool_t *p, pds_dbx_hash_t *h);

/* Plain SHA-256, fed incrementally. */
typedef struct pds_sha256_t pds_sha256_t;
pds_sha256_t *pds_sha256_make(apr_pool_t *p);
void pds_sha256_update(pds_sha256_t *h, const void *data, apr_size_t len);
const char *pds_sha256_final_hex(apr_pool_t *p, pds_sha256_t *h);

/* Decode base64url without padding; -1 on bad input. */
int pds_b64url_decode(apr_pool_t *p, const char *in, unsigned char **out, apr_size_t *len);

#endif
