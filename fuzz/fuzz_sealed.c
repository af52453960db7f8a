/* Sealed tokens (AES-256-GCM, "v1." + base64url) and base64url.
 *
 * Input: arbitrary bytes. As a C string it is opened with pds_unseal under
 * a fixed key (and as "v1." + input), and decoded with pds_b64url_decode.
 * Then the input is split at its first NUL into a context and a plain text
 * that are sealed and opened again.
 * Properties: nothing opens that was not sealed under this key and context;
 * base64url decodes to floor(6n/8) bytes and re-encodes to a string that
 * decodes to the same bytes; seal then unseal gives the plain text back; the
 * wrong context, a changed character or a cut seal does not open. */
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_util.h"
#include "pds_crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

static void b64(apr_pool_t *p, const char *s)
{
    unsigned char *raw = NULL, *again = NULL;
    apr_size_t len = 0, len2 = 0, n = strlen(s);
    char *enc;
    if (pds_b64url_decode(p, s, &raw, &len)) {
        FZ_CHECK(n % 4 == 1 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_") != n, "valid base64url refused: %.80s", s);
        return;
    }
    FZ_CHECK(len == n * 6 / 8, "decoded %zu bytes from %zu characters", (size_t)len, (size_t)n);
    enc = apr_palloc(p, len * 4 / 3 + 4);
    pds_b64url_encode(enc, raw, len);
    FZ_CHECK(!pds_b64url_decode(p, enc, &again, &len2) && len2 == len
             && (!len || !memcmp(raw, again, len)), "base64url round trip failed for %.80s", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    const char *s = fz_strndup(p, data, size), *opened, *sealed, *context, *plain;
    const uint8_t *nul = memchr(data, 0, size);

    /* Arbitrary text never opens (a forgery would need the key). */
    opened = pds_unseal(p, fz_key, "dropbox-access:alice", s);
    FZ_CHECK(!opened, "unsealed arbitrary input: %.80s", s);
    opened = pds_unseal(p, fz_key, "dropbox-access:alice", apr_pstrcat(p, "v1.", s, NULL));
    FZ_CHECK(!opened, "unsealed arbitrary input: v1.%.80s", s);
    if (!strncmp(s, "v1.", 3)) b64(p, s + 3);
    else b64(p, s);

    /* Round trip: context before the first NUL, plain text after it. */
    context = nul ? fz_strndup(p, data, (size_t)(nul - data)) : "pkce:alice";
    plain = nul ? fz_strndup(p, nul + 1, size - (size_t)(nul + 1 - data)) : s;
    sealed = pds_seal(p, fz_key, context, plain);
    FZ_CHECK(sealed && !strncmp(sealed, "v1.", 3), "seal failed");
    opened = pds_unseal(p, fz_key, context, sealed);
    FZ_CHECK(opened && !strcmp(opened, plain), "round trip lost the plain text");
    FZ_CHECK(!pds_unseal(p, fz_key, apr_pstrcat(p, context, "x", NULL), sealed),
             "opened under another context");
    {
        /* One character changed, anywhere after the prefix. */
        char *bad = apr_pstrdup(p, sealed);
        size_t at = 3 + (size ? data[0] : 0) % (strlen(bad) - 3);
        bad[at] = bad[at] == 'A' ? 'B' : 'A';
        opened = pds_unseal(p, fz_key, context, bad);
        /* The last character may carry only padding bits: a change there
         * can decode to the same bytes. */
        FZ_CHECK(!opened || at == strlen(bad) - 1, "a changed seal opened (at %zu)", at);
        bad = apr_pstrndup(p, sealed, strlen(sealed) - 4);
        FZ_CHECK(!pds_unseal(p, fz_key, context, bad), "a cut seal opened");
    }
    fz_pool_done(p);
    return 0;
}
