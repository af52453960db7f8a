#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "pds_util.h"
#include "pds_crypto.h"

#define NONCE_LEN 12
#define TAG_LEN 16

const char *pds_seal(apr_pool_t *p, const unsigned char *key, const char *context,
                     const char *plain)
{
    EVP_CIPHER_CTX *c;
    apr_size_t n = strlen(plain), total = NONCE_LEN + n + TAG_LEN;
    unsigned char *buf = apr_palloc(p, total);
    char *out;
    int len, ok;

    if (pds_random(buf, NONCE_LEN) != APR_SUCCESS) return NULL;
    if (!(c = EVP_CIPHER_CTX_new())) return NULL;
    ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL)
      && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL)
      && EVP_EncryptInit_ex(c, NULL, NULL, key, buf)
      && EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)context, (int)strlen(context))
      && EVP_EncryptUpdate(c, buf + NONCE_LEN, &len, (const unsigned char *)plain, (int)n)
      && EVP_EncryptFinal_ex(c, buf + NONCE_LEN + len, &len)
      && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, buf + NONCE_LEN + n);
    EVP_CIPHER_CTX_free(c);
    if (!ok) return NULL;
    out = apr_palloc(p, 3 + (total * 4) / 3 + 4);
    memcpy(out, "v1.", 3);
    pds_b64url_encode(out + 3, buf, total);
    return out;
}

const char *pds_unseal(apr_pool_t *p, const unsigned char *key, const char *context,
                       const char *sealed)
{
    EVP_CIPHER_CTX *c;
    unsigned char *raw;
    apr_size_t rawlen, n;
    char *plain;
    int len, ok;

    if (!sealed || strncmp(sealed, "v1.", 3)) return NULL;
    if (pds_b64url_decode(p, sealed + 3, &raw, &rawlen) || rawlen < NONCE_LEN + TAG_LEN)
        return NULL;
    n = rawlen - NONCE_LEN - TAG_LEN;
    plain = apr_palloc(p, n + 1);
    if (!(c = EVP_CIPHER_CTX_new())) return NULL;
    ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL)
      && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL)
      && EVP_DecryptInit_ex(c, NULL, NULL, key, raw)
      && EVP_DecryptUpdate(c, NULL, &len, (const unsigned char *)context, (int)strlen(context))
      && EVP_DecryptUpdate(c, (unsigned char *)plain, &len, raw + NONCE_LEN, (int)n)
      && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + n)
      && EVP_DecryptFinal_ex(c, (unsigned char *)plain + len, &len) > 0;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(plain, n);
        return NULL;
    }
    plain[n] = '\0';
    if (strlen(plain) != n) return NULL;
    return plain;
}

const char *pds_pkce_verifier(apr_pool_t *p)
{
    return pds_random_b64url(p, 48);          /* 64 characters of [A-Za-z0-9-_] */
}

const char *pds_pkce_challenge(apr_pool_t *p, const char *verifier)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char *out = apr_palloc(p, 48);
    EVP_Digest(verifier, strlen(verifier), md, &mdlen, EVP_sha256(), NULL);
    pds_b64url_encode(out, md, mdlen);
    return out;
}

const char *pds_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0, i;
    char *out = apr_palloc(p, 65);
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
    return out;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int pds_b64url_decode(apr_pool_t *p, const char *in, unsigned char **out, apr_size_t *len)
{
    apr_size_t n = strlen(in), i, o = 0;
    unsigned char *buf;
    unsigned acc = 0;
    int bits = 0;
    if (n % 4 == 1) return -1;
    buf = apr_palloc(p, (n * 3) / 4 + 3);
    for (i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    *out = buf;
    *len = o;
    return 0;
}

#define DBX_BLOCK (4 * 1024 * 1024)

struct pds_sha256_t {
    EVP_MD_CTX *md;
};

static apr_status_t md_cleanup(void *data)
{
    EVP_MD_CTX_free((EVP_MD_CTX *)data);
    return APR_SUCCESS;
}

static EVP_MD_CTX *md_make(apr_pool_t *p)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return NULL;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    apr_pool_cleanup_register(p, md, md_cleanup, apr_pool_cleanup_null);
    return md;
}

static const char *hex_of(apr_pool_t *p, const unsigned char *md, unsigned int n)
{
    static const char hex[] = "0123456789abcdef";
    char *out = apr_palloc(p, 2 * n + 1);
    unsigned int i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

pds_sha256_t *pds_sha256_make(apr_pool_t *p)
{
    pds_sha256_t *h = apr_pcalloc(p, sizeof(*h));
    if (!(h->md = md_make(p))) return NULL;
    return h;
}

void pds_sha256_update(pds_sha256_t *h, const void *data, apr_size_t len)
{
    EVP_DigestUpdate(h->md, data, len);
}

const char *pds_sha256_final_hex(apr_pool_t *p, pds_sha256_t *h)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->md, md, &n);
    return hex_of(p, md, n);
}

struct pds_dbx_hash_t {
    EVP_MD_CTX *block;
    EVP_MD_CTX *all;
    apr_size_t in_block;
};

pds_dbx_hash_t *pds_dbx_hash_make(apr_pool_t *p)
{
    pds_dbx_hash_t *h = apr_pcalloc(p, sizeof(*h));
    if (!(h->block = md_make(p)) || !(h->all = md_make(p))) return NULL;
    return h;
}

static void dbx_block_done(pds_dbx_hash_t *h)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->block, md, &n);
    EVP_DigestUpdate(h->all, md, n);
    EVP_DigestInit_ex(h->block, EVP_sha256(), NULL);
    h->in_block = 0;
}

void pds_dbx_hash_update(pds_dbx_hash_t *h, const void *data, apr_size_t len)
{
    const unsigned char *d = data;
    while (len) {
        apr_size_t take = DBX_BLOCK - h->in_block;
        if (take > len) take = len;
        EVP_DigestUpdate(h->block, d, take);
        h->in_block += take;
        d += take;
        len -= take;
        if (h->in_block == DBX_BLOCK) dbx_block_done(h);
    }
}

const char *pds_dbx_hash_hex(apr_pool_t *p, pds_dbx_hash_t *h)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (h->in_block) dbx_block_done(h);
    EVP_DigestFinal_ex(h->all, md, &n);
    return hex_of(p, md, n);
}
