/* Shared pieces of the libFuzzer targets (docs/fuzzing.md): APR set-up, a
 * per-input pool, a real sqlite3 database with fixed seed rows, an owner API
 * context as the module builds it, a scripted stand-in for outbound HTTP, and
 * small input readers. Nothing here changes the library: the targets call
 * its public functions as the module and pdsharectl do. */
#ifndef PDS_FUZZ_COMMON_H
#define PDS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include <apr_dbd.h>

#include "pds.h"
#include "pds_db.h"
#include "pds_api.h"
#include "pds_http.h"
#include "pds_connect.h"
#include "pds_crypto.h"

/* The seed rows every input starts from (fz_db_reset). */
#define FZ_USER "alice"
#define FZ_OTHER "bob"
#define FZ_TRACK "t_seed_a1"          /* alice's, released, bucket "demo", alias song-a */
#define FZ_TRACK2 "t_seed_a2"         /* alice's, wip, bucket "demo", group g1 */
#define FZ_TRACK_BOB "t_seed_b1"      /* bob's */
#define FZ_FILE "f_seed_a1"
#define FZ_COLLAB "c_seed_a1"
#define FZ_SHARE "s_seed_a1"
#define FZ_TOKEN "AbCdEfGhIjKlMnOpQrStUvWxYz012345"   /* share s_seed_a1 */

/* A failed property: print what and where, then abort() so libFuzzer keeps
 * the input as a crash. */
#define FZ_CHECK(cond, ...) \
    do { if (!(cond)) fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* Known library bugs the targets step around so that fuzzing can go on (they
 * are listed in docs/fuzzing.md, with a reproducer under
 * fuzz/corpus-regressions/). Answers 1 while the guard for `bug` is on.
 * PDS_FUZZ_STRICT=1 in the environment turns every guard off, and a
 * comma-separated list of bug names turns off those guards only, so that the
 * reproducers crash or hang again. */
int fz_guard(const char *bug);

/* Once per process: apr_initialize, the process pool, curl kept off the network. */
apr_pool_t *fz_init(void);

/* A pool for one input, with its own allocator so that destroying it hands
 * every block back to malloc (libFuzzer's leak check sees no growth). */
apr_pool_t *fz_pool(void);
void fz_pool_done(apr_pool_t *p);

/* ---- database: sqlite3 on a file in a private directory under $TMPDIR,
 * created once per process and removed at exit. */
typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    long long changes_at_reset;
} fz_db_t;

fz_db_t *fz_db(void);
/* Back to the seed rows: every table emptied, the seed rows inserted. */
void fz_db_reset(void);
/* Reset only when the last input changed anything (sqlite3 total_changes),
 * so that every input starts from the same rows at little cost. */
void fz_db_reset_if_changed(void);
/* Run one SQL statement on the fuzz database (for checks); 0 on success. */
int fz_db_exec(const char *sql);

/* ---- an owner API context as mod_pdshare_util.c builds it, for user. The
 * Dropbox connection is configured (a data key, an app key) and its HTTP
 * goes to the scripted stand-in below. */
pds_ctx_t *fz_ctx(apr_pool_t *p, const char *user, pds_db_t *db);
extern const unsigned char fz_key[PDS_DATA_KEY_LEN];
extern const pds_dbx_conf_t fz_dbx_conf;

/* ---- scripted HTTP: answers in order; past the last one, "timed out"
 * (status 0, not retried). */
typedef struct {
    int status;                 /* 0: no answer */
    int timed_out;              /* with status 0 */
    int too_large;              /* a buffered answer over the cap (status kept) */
    int cut;                    /* a streamed 2xx answer that breaks off after its body */
    int stop_sink;              /* (download target) its sink asks to stop after the first bytes */
    apr_table_t *headers;
    const char *body;
    size_t len;
} fz_answer_t;

void fz_http_script(apr_pool_t *p, const fz_answer_t *answers, int n);
int fz_http_calls(void);        /* requests performed since the last script */
const pds_http_req_t *fz_http_last(void);
/* Parse answers from text: answers are separated by a line "%%"; each is a
 * status line, header lines, an empty line, then the body. The status line
 * is digits and flags: t timed out (with 0), L over the size cap, C a
 * stream cut after its body, A the sink stops early. */
int fz_parse_answers(apr_pool_t *p, const char *text, size_t len, fz_answer_t *out, int max);

/* ---- input readers */
/* A NUL-terminated pool copy of data[0..len). */
char *fz_strndup(apr_pool_t *p, const uint8_t *data, size_t len);
/* Split the input into at most max lines at '\n'; the last line takes the
 * rest. Answers the number of lines. */
int fz_lines(apr_pool_t *p, const uint8_t *data, size_t size, char **lines, int max);

/* The reply of pds_api_handle must be one of the contracted shapes. */
void fz_check_reply(const pds_reply_t *r, const char *method, const char *path);

#endif
