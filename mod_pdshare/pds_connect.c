#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>

#include "pds_util.h"
#include "pds_crypto.h"
#include "pds_valid.h"
#include "pds_connect.h"
#include "pds_db_args.h"

/* Account row columns (pds_account_get). */
enum { AC_USER, AC_ACCOUNT, AC_EMAIL, AC_NAME, AC_TYPE, AC_TEAM, AC_ROOT_NS, AC_HOME,
       AC_ACCESS, AC_EXPIRES, AC_REFRESH, AC_STATUS, AC_FOLDER, AC_CONNECTED };

static pds_err_t *not_configured(pds_dbx_env_t *env)
{
    return pds_err_of(env->ctx->pool, PDS_ERR_NOT_CONNECTED, 503, "dropbox_not_configured",
                      NULL, "Dropbox is not configured on this server (PDShareDropboxAppKey)");
}

static pds_err_t *db_failed(pds_dbx_env_t *env)
{
    return pds_db_failed(env->ctx);
}

pds_err_t *pds_dbx_failed(pds_dbx_env_t *env, const pds_dbx_res_t *res)
{
    return pds_err_of(env->ctx->pool, PDS_ERR_DROPBOX, 503, "dropbox_unavailable", res->why,
                      "Dropbox did not answer as expected; try again shortly");
}

/* Dropbox answered, but not what we can use. */
static pds_err_t *dbx_unexpected(pds_dbx_env_t *env, const char *why)
{
    return pds_err_of(env->ctx->pool, PDS_ERR_DROPBOX, 503, "dropbox_unavailable", why,
                      "Dropbox answered unexpectedly");
}

/* A sealed token that does not open: the connection cannot be used. */
static pds_err_t *unsealable(pds_dbx_env_t *env)
{
    return pds_err_of(env->ctx->pool, PDS_ERR_DROPBOX, 503, "dropbox_unavailable",
                      "a sealed Dropbox token does not open: was PDShareDataKeyFile changed?",
                      "the Dropbox connection cannot be used");
}

static const char *ctx_access(pds_dbx_env_t *env, const char *user)
{
    return apr_pstrcat(env->ctx->pool, "dropbox-access:", user, NULL);
}

static const char *ctx_refresh(pds_dbx_env_t *env, const char *user)
{
    return apr_pstrcat(env->ctx->pool, "dropbox-refresh:", user, NULL);
}

static const char *query_kv(apr_pool_t *p, const char *k, const char *v, int first)
{
    return apr_pstrcat(p, first ? "?" : "&", k, "=", pds_form_encode(p, v), NULL);
}

pds_err_t *pds_dbx_connect_begin(pds_dbx_env_t *env, const char *redirect_uri,
                                 const char *return_to, const char **authorize_url)
{
    apr_pool_t *p = env->ctx->pool;
    const char *state, *verifier, *sealed, *now;
    if (!env->dbx) return not_configured(env);
    state = pds_random_b64url(p, 24);
    verifier = pds_pkce_verifier(p);
    if (!state || !verifier) return pds_err(p, 503, "unavailable", "no randomness available");
    sealed = pds_seal(p, env->key, apr_pstrcat(p, "pkce:", env->ctx->user, NULL), verifier);
    if (!sealed) return pds_err(p, 503, "unavailable", "cannot seal the PKCE verifier");
    now = pds_db_i64(p, env->ctx->now);
    if (EXEC(env->ctx->db, "pds_state_purge", NULL,
             pds_db_i64(p, env->ctx->now - PDS_STATE_TTL))
        || EXEC(env->ctx->db, "pds_state_insert", NULL, pds_sha256_hex(p, state, strlen(state)),
                env->ctx->user, sealed, redirect_uri, return_to, now))
        return db_failed(env);
    *authorize_url = apr_pstrcat(p, env->dbx->authorize_url,
                                 query_kv(p, "client_id", env->dbx->app_key, 1),
                                 query_kv(p, "response_type", "code", 0),
                                 query_kv(p, "redirect_uri", redirect_uri, 0),
                                 query_kv(p, "state", state, 0),
                                 query_kv(p, "code_challenge", pds_pkce_challenge(p, verifier), 0),
                                 query_kv(p, "code_challenge_method", "S256", 0),
                                 query_kv(p, "token_access_type", "offline", 0), NULL);
    return NULL;
}

/* A token as Dropbox issues it: visible ASCII, so it can go into a header
 * as it is (a hostile answer could otherwise add header lines). */
static int token_ok(const char *t)
{
    apr_size_t n;
    if (!t) return 0;
    for (n = 0; t[n]; n++) if (t[n] < 0x21 || t[n] > 0x7e) return 0;
    return n > 0 && n <= 4096;
}

/* expires_in, bounded: a hostile or broken answer must not overflow now + it. */
static apr_int64_t expires_in_of(json_t *tok)
{
    json_t *v = json_object_get(tok, "expires_in");
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n > 0 && n <= 10 * 365 * 86400 ? (apr_int64_t)n : 0;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Create <prefix><root>/{projects,bounces,stems}; existing folders are fine. */
static pds_err_t *create_folders(pds_dbx_env_t *env, pds_dbx_session_t *s)
{
    static const char *const sub[] = { "projects", "bounces", "stems" };
    apr_pool_t *p = env->ctx->pool;
    int i;
    for (i = 0; i < 3; i++) {
        pds_dbx_res_t res;
        const char *path = apr_pstrcat(p, s->folder_path, "/", sub[i], NULL);
        json_t *arg = pds_json_pool(p, json_pack("{s:s,s:b}", "path", path, "autorename", 0));
        if (pds_dbx_session_rpc(env, s, "files/create_folder_v2", arg, &res) == APR_SUCCESS)
            continue;
        if (res.status == 409 && res.tag && !strcmp(res.tag, "path")) {
            json_t *reason = json_object_get(json_object_get(res.error, "path"), "conflict");
            const char *what = json_is_object(reason) ? jstr(reason, ".tag") : NULL;
            if (what && !strcmp(what, "folder")) continue;          /* already there */
        }
        return pds_dbx_failed(env, &res);
    }
    return NULL;
}

static pds_err_t *account_row(pds_dbx_env_t *env, const char *owner, const char ***row);

/* Revoke the connection in account row r at Dropbox: its access token (refreshed
 * first when it has expired), which ends its refresh token too. 1 when Dropbox
 * confirmed it; 0 otherwise, with *why set when a live token may be left. */
static int revoke_at_dropbox(pds_dbx_env_t *env, const char **r, const char **why)
{
    pds_dbx_session_t *s = NULL;
    pds_dbx_res_t res;
    pds_err_t *e;
    int ok = 0;
    *why = NULL;
    /* Refused or expired without a refresh token: nothing live is left. */
    if (!strcmp(r[AC_STATUS], "revoked") || !strcmp(r[AC_STATUS], "expired")) return 0;
    if ((e = pds_dbx_session(env, r[AC_USER], &s)) || !s) {
        /* Found refused or expired on the way: nothing live either. */
        if (!e || (strcmp(e->code, "dropbox_revoked") && strcmp(e->code, "dropbox_expired")))
            *why = e && e->detail ? e->detail : "no usable token";
    }
    else if (pds_dbx_session_rpc(env, s, "auth/token/revoke", NULL, &res) == APR_SUCCESS)
        ok = 1;
    else if (res.status != 401 || res.transient)     /* 401, refresh refused: dead already */
        *why = res.why ? res.why : "auth/token/revoke failed";
    return ok;
}

pds_err_t *pds_dbx_connect_finish(pds_dbx_env_t *env, const char *code, const char *state,
                                  const char *error, const char **return_to)
{
    apr_pool_t *p = env->ctx->pool;
    pds_db_t *db = env->ctx->db;
    pds_rows_t *rs;
    const char **st, *hash, *verifier, *access, *refresh, *now, *type, *team = NULL;
    const char *root_ns = NULL, *home = "", *sealed_a, *sealed_r = NULL, **old, *why;
    apr_table_t *form;
    pds_dbx_res_t res;
    pds_dbx_session_t s;
    json_t *tok, *acct, *root_info;
    apr_int64_t created, expires_in = 0;
    pds_err_t *e;
    int n = 0;

    if (!env->dbx) return not_configured(env);
    if (!state || !*state || !pds_valid_text(state, 200))
        return pds_err(p, 400, "invalid_state", "the authorization answer has no valid state");
    hash = pds_sha256_hex(p, state, strlen(state));
    if (SELECT(db, "pds_state_get", &rs, hash)) return db_failed(env);
    if (!rs->rows->nelts || strcmp(PDS_ROW(rs, 0)[0], env->ctx->user))
        return pds_err(p, 400, "invalid_state",
                       "this authorization was not started by you, or was already used");
    st = PDS_ROW(rs, 0);
    *return_to = st[3];
    /* Single use: only the request that deletes the state goes on. */
    if (EXEC(db, "pds_state_delete", &n, hash)) return db_failed(env);
    if (n != 1)
        return pds_err(p, 400, "invalid_state", "this authorization was already used");
    if (pds_parse_int64(st[4], 0, APR_INT64_MAX, &created)
        || created + PDS_STATE_TTL < env->ctx->now)
        return pds_err(p, 400, "expired_state", "this authorization took too long; start again");
    if (error && *error)
        return pds_err_of(p, PDS_ERR_INPUT, 403, "access_denied",
                          apr_psprintf(p, "Dropbox authorization answered error=%.40s",
                                       pds_valid_text(error, 40) ? error : "(unprintable)"),
                          "Dropbox access was not granted");
    if (!code || !*code || !pds_valid_text(code, 512))
        return pds_err(p, 400, "invalid_request", "the authorization answer has no code");
    verifier = pds_unseal(p, env->key, apr_pstrcat(p, "pkce:", env->ctx->user, NULL), st[1]);
    if (!verifier)
        return pds_err_of(p, PDS_ERR_INTERNAL, 503, "unavailable",
                          "the PKCE verifier does not open: was PDShareDataKeyFile changed?",
                          "the connection could not be completed");

    form = apr_table_make(p, 8);
    apr_table_setn(form, "grant_type", "authorization_code");
    apr_table_setn(form, "code", code);
    apr_table_setn(form, "redirect_uri", st[2]);
    apr_table_setn(form, "code_verifier", verifier);
    apr_table_setn(form, "client_id", env->dbx->app_key);
    apr_table_setn(form, "client_secret", env->dbx->app_secret);
    if (pds_dbx_token(p, env->dbx, form, &res) != APR_SUCCESS) {
        if (!res.transient)
            return pds_err_of(p, PDS_ERR_INPUT, 400, "invalid_grant", res.why,
                              "Dropbox did not accept the authorization; start again");
        return pds_dbx_failed(env, &res);
    }
    tok = res.result;
    access = jstr(tok, "access_token");
    refresh = jstr(tok, "refresh_token");
    expires_in = expires_in_of(tok);
    if (!token_ok(access) || (refresh && !token_ok(refresh)))
        return dbx_unexpected(env, "oauth2/token: the answer holds no usable access_token"
                              " or refresh_token");

    memset(&s, 0, sizeof(s));
    s.username = env->ctx->user;
    s.auth.access_token = access;
    s.expires_at = expires_in ? env->ctx->now + expires_in : APR_INT64_MAX;
    if (pds_dbx_rpc(p, env->dbx, &s.auth, "users/get_current_account", NULL, &res)
        != APR_SUCCESS)
        return pds_dbx_failed(env, &res);
    acct = res.result;
    root_info = json_object_get(acct, "root_info");
    type = "personal";
    if (json_is_object(json_object_get(acct, "team"))) team = jstr(json_object_get(acct, "team"), "name");
    if (jstr(root_info, ".tag") && !strcmp(jstr(root_info, ".tag"), "team")) {
        type = "team";
        root_ns = jstr(root_info, "root_namespace_id");
        home = jstr(root_info, "home_path");
        if (!root_ns || !home || home[0] != '/')
            return dbx_unexpected(env, "users/get_current_account: a team root_info without"
                                  " root_namespace_id or home_path");
        s.auth.path_root = pds_dbx_arg_header(p, pds_json_pool(p,
                               json_pack("{s:s,s:s}", ".tag", "root", "root", root_ns)));
    }
    else if (team) {
        type = "team";            /* a team member without a separate team root */
    }
    s.account_id = jstr(acct, "account_id");
    if (!s.account_id)
        return dbx_unexpected(env, "users/get_current_account: no account_id");
    s.account_type = type;
    s.path_prefix = home;
    s.folder_path = apr_pstrcat(p, home, env->root, NULL);
    if ((e = create_folders(env, &s))) return e;

    sealed_a = pds_seal(p, env->key, ctx_access(env, s.username), s.auth.access_token);
    if (refresh) sealed_r = pds_seal(p, env->key, ctx_refresh(env, s.username), refresh);
    if (!sealed_a || (refresh && !sealed_r))
        return pds_err(p, 503, "unavailable", "cannot seal the tokens");
    /* Reconnecting (the same account or another): the earlier tokens are ended
     * at Dropbox before they are forgotten here, or they stay live there. */
    if ((e = account_row(env, s.username, &old))) return e;
    if (old && !revoke_at_dropbox(env, old, &why) && why)
        env->notice = apr_psprintf(p, "the earlier Dropbox connection of %s could not be"
                                   " revoked at Dropbox (%s); it is replaced all the same",
                                   s.username, why);
    now = pds_db_i64(p, env->ctx->now);
    if (EXEC(db, "pds_account_put", NULL, s.username, s.account_id, jstr(acct, "email"),
             jstr(json_object_get(acct, "name"), "display_name"), type, team, root_ns,
             *home ? home : NULL, sealed_a, pds_db_i64(p, s.expires_at), sealed_r, "ok",
             s.folder_path, now, now))
        return db_failed(env);
    return NULL;
}

static pds_err_t *account_row(pds_dbx_env_t *env, const char *owner, const char ***row)
{
    pds_rows_t *rs;
    if (SELECT(env->ctx->db, "pds_account_get", &rs, owner)) return db_failed(env);
    *row = rs->rows->nelts ? PDS_ROW(rs, 0) : NULL;
    return NULL;
}

pds_err_t *pds_dbx_status(pds_dbx_env_t *env, json_t **out)
{
    const char **r;
    pds_err_t *e;
    const char *status;
    apr_int64_t exp = 0;
    if ((e = account_row(env, env->ctx->user, &r))) return e;
    if (!r) {
        *out = json_pack("{s:b,s:n,s:n,s:n,s:n,s:n,s:b}", "connected", 0, "account_type",
                         "team_name", "email", "folder_path", "token_status",
                         "configured", env->dbx != NULL);
        return NULL;
    }
    status = r[AC_STATUS];
    pds_parse_int64(r[AC_EXPIRES], 0, APR_INT64_MAX, &exp);
    if (!strcmp(status, "ok") && exp <= env->ctx->now && !r[AC_REFRESH]) status = "expired";
    *out = json_pack("{s:b,s:s,s:o,s:o,s:o,s:s,s:s,s:b}", "connected", 1,
                     "account_type", r[AC_TYPE],
                     "team_name", r[AC_TEAM] ? json_string(r[AC_TEAM]) : json_null(),
                     "email", r[AC_EMAIL] ? json_string(r[AC_EMAIL]) : json_null(),
                     "folder_path", r[AC_FOLDER] ? json_string(r[AC_FOLDER]) : json_null(),
                     "token_status", status, "account_id", r[AC_ACCOUNT],
                     "configured", env->dbx != NULL);
    return NULL;
}

static int session_renew(pds_dbx_auth_t *a, int kind, json_t *error, pds_dbx_res_t *res);

static pds_err_t *session_from_row(pds_dbx_env_t *env, const char **r, pds_dbx_session_t **out)
{
    apr_pool_t *p = env->ctx->pool;
    pds_dbx_session_t *s = apr_pcalloc(p, sizeof(*s));
    s->env = env;
    s->auth.renew = session_renew;
    s->auth.baton = s;
    s->username = r[AC_USER];
    s->account_id = r[AC_ACCOUNT];
    s->account_type = r[AC_TYPE];
    s->path_prefix = r[AC_HOME] ? r[AC_HOME] : "";
    s->folder_path = r[AC_FOLDER];
    s->refresh_sealed = r[AC_REFRESH];
    if (r[AC_ROOT_NS])
        s->auth.path_root = pds_dbx_arg_header(p, pds_json_pool(p,
                                json_pack("{s:s,s:s}", ".tag", "root", "root", r[AC_ROOT_NS])));
    if (pds_parse_int64(r[AC_EXPIRES], 0, APR_INT64_MAX, &s->expires_at)) s->expires_at = 0;
    s->auth.access_token = pds_unseal(p, env->key, ctx_access(env, s->username), r[AC_ACCESS]);
    if (!s->auth.access_token) return unsealable(env);
    *out = s;
    return NULL;
}

/* Refresh the access token. A refresh answered invalid_grant marks the
 * connection revoked. */
static pds_err_t *refresh(pds_dbx_env_t *env, pds_dbx_session_t *s)
{
    apr_pool_t *p = env->ctx->pool;
    const char *rt, *access, *sealed;
    apr_table_t *form;
    pds_dbx_res_t res;
    apr_int64_t expires_in = 0;

    if (!s->refresh_sealed) {
        EXEC(env->ctx->db, "pds_account_status", NULL, "expired",
             pds_db_i64(p, env->ctx->now), s->username, s->account_id);
        return pds_err_of(p, PDS_ERR_NOT_CONNECTED, 503, "dropbox_expired",
                          "the access token expired and there is no refresh token",
                          "the Dropbox connection has expired");
    }
    rt = pds_unseal(p, env->key, ctx_refresh(env, s->username), s->refresh_sealed);
    if (!rt) return unsealable(env);
    form = apr_table_make(p, 4);
    apr_table_setn(form, "grant_type", "refresh_token");
    apr_table_setn(form, "refresh_token", rt);
    apr_table_setn(form, "client_id", env->dbx->app_key);
    apr_table_setn(form, "client_secret", env->dbx->app_secret);
    if (pds_dbx_token(p, env->dbx, form, &res) != APR_SUCCESS) {
        if (res.status == 400 && res.tag && !strcmp(res.tag, "invalid_grant")) {
            if (EXEC(env->ctx->db, "pds_account_status", NULL, "revoked",
                     pds_db_i64(p, env->ctx->now), s->username, s->account_id))
                return db_failed(env);
            return pds_err_of(p, PDS_ERR_NOT_CONNECTED, 503, "dropbox_revoked",
                              apr_psprintf(p, "the Dropbox refresh token of %s was refused"
                                           " (invalid_grant): the connection is now revoked",
                                           s->username),
                              "the producer's Dropbox connection was revoked");
        }
        return pds_dbx_failed(env, &res);
    }
    access = jstr(res.result, "access_token");
    expires_in = expires_in_of(res.result);
    if (!token_ok(access))
        return dbx_unexpected(env, "oauth2/token (refresh): the answer holds no usable"
                              " access_token");
    sealed = pds_seal(p, env->key, ctx_access(env, s->username), access);
    if (!sealed) return pds_err(p, 503, "unavailable", "cannot seal the token");
    s->auth.access_token = access;
    s->expires_at = expires_in ? env->ctx->now + expires_in : APR_INT64_MAX;
    if (EXEC(env->ctx->db, "pds_account_token", NULL, sealed, pds_db_i64(p, s->expires_at), "ok",
             pds_db_i64(p, env->ctx->now), s->username, s->account_id))
        return db_failed(env);
    return NULL;
}

/* The path-root header value and home path of a RootInfo (team: its root
 * namespace and the member's home path; user: none). */
static int root_of(apr_pool_t *p, json_t *root_info, const char **path_root, const char **home,
                   const char **root_ns)
{
    const char *tag = jstr(root_info, ".tag");
    *path_root = *root_ns = NULL;
    *home = "";
    if (tag && !strcmp(tag, "user")) return 0;
    if (!tag || strcmp(tag, "team")) return -1;
    *root_ns = jstr(root_info, "root_namespace_id");
    *home = jstr(root_info, "home_path");
    if (!*root_ns || !*home || (*home)[0] != '/' || !pds_valid_text(*home, 1000)
        || !pds_valid_text(*root_ns, 100))
        return -1;
    *path_root = pds_dbx_arg_header(p, pds_json_pool(p,
                     json_pack("{s:s,s:s}", ".tag", "root", "root", *root_ns)));
    return *path_root ? 0 : -1;
}

/* 422 invalid_root: the member joined or left a team, or the team space
 * changed. Keep the root Dropbox named for this and later calls. */
static int renew_root(pds_dbx_session_t *s, json_t *root_info, pds_dbx_res_t *res)
{
    pds_dbx_env_t *env = s->env;
    apr_pool_t *p = env->ctx->pool;
    const char *path_root, *home, *root_ns, *folder;
    if (root_of(p, root_info, &path_root, &home, &root_ns)) {
        res->why = apr_psprintf(p, "%s (without a usable root info)", res->why);
        return -1;
    }
    folder = apr_pstrcat(p, home, env->root, NULL);
    if (EXEC(env->ctx->db, "pds_account_root", NULL, root_ns, *home ? home : NULL, folder,
             pds_db_i64(p, pds_now()), s->username, s->account_id)) {
        res->why = apr_psprintf(p, "%s (the new root could not be stored)", res->why);
        res->transient = 1;
        return -1;
    }
    s->auth.path_root = path_root;
    s->path_prefix = home;
    s->folder_path = folder;
    return 0;
}

static int session_renew(pds_dbx_auth_t *a, int kind, json_t *error, pds_dbx_res_t *res)
{
    pds_dbx_session_t *s = a->baton;
    pds_err_t *e;
    if (kind == PDS_DBX_RENEW_ROOT) return renew_root(s, error, res);
    if (!(e = refresh(s->env, s))) return 0;
    res->why = e->detail ? e->detail : e->message;
    res->transient = strcmp(e->code, "dropbox_revoked") != 0;
    return -1;
}

pds_err_t *pds_dbx_session(pds_dbx_env_t *env, const char *owner, pds_dbx_session_t **out)
{
    apr_pool_t *p = env->ctx->pool;
    const char **r;
    pds_err_t *e;
    if (!env->dbx) return not_configured(env);
    if ((e = account_row(env, owner, &r))) return e;
    if (!r)
        return pds_err_of(p, PDS_ERR_NOT_CONNECTED, 503, "not_connected",
                          apr_psprintf(p, "%s has not connected Dropbox", owner),
                          "Dropbox is not connected");
    if (!strcmp(r[AC_STATUS], "revoked"))
        return pds_err_of(p, PDS_ERR_NOT_CONNECTED, 503, "dropbox_revoked",
                          apr_psprintf(p, "the Dropbox connection of %s is revoked", owner),
                          "the producer's Dropbox connection was revoked");
    if ((e = session_from_row(env, r, out))) return e;
    if ((*out)->expires_at - PDS_REFRESH_MARGIN <= env->ctx->now) {
        if ((e = refresh(env, *out))) {
            /* A token that is still valid serves while Dropbox's token endpoint is down. */
            if ((*out)->expires_at > env->ctx->now && e->kind == PDS_ERR_DROPBOX)
                return NULL;
            return e;
        }
    }
    return NULL;
}

apr_status_t pds_dbx_session_rpc(pds_dbx_env_t *env, pds_dbx_session_t *s, const char *route,
                                 json_t *arg, pds_dbx_res_t *res)
{
    return pds_dbx_rpc(env->ctx->pool, env->dbx, &s->auth, route, arg, res);
}

int pds_dbx_usable(pds_dbx_env_t *env, const char *owner)
{
    const char **r;
    if (!env->dbx || account_row(env, owner, &r) || !r) return 0;
    return strcmp(r[AC_STATUS], "revoked") != 0;
}

pds_err_t *pds_dbx_brief(pds_dbx_env_t *env, const char *owner, pds_dbx_brief_t *out)
{
    const char **r;
    pds_err_t *e;
    memset(out, 0, sizeof(*out));
    out->path_prefix = "";
    if (!env->dbx) return NULL;
    if ((e = account_row(env, owner, &r))) return e;
    if (!r) return NULL;
    out->usable = strcmp(r[AC_STATUS], "revoked") != 0;
    out->account_id = r[AC_ACCOUNT];
    out->path_prefix = r[AC_HOME] ? r[AC_HOME] : "";
    return NULL;
}

pds_err_t *pds_dbx_disconnect(pds_dbx_env_t *env, json_t **out)
{
    apr_pool_t *p = env->ctx->pool;
    const char **r, *why;
    pds_err_t *e;
    int revoked;
    if (!env->dbx) return not_configured(env);
    if ((e = account_row(env, env->ctx->user, &r))) return e;
    if (!r) return pds_err(p, 404, "not_found", "Dropbox is not connected");
    /* Revoke at Dropbox (which also ends the refresh token), then forget.
     * A connection Dropbox already dropped is forgotten all the same. */
    revoked = revoke_at_dropbox(env, r, &why);
    if (EXEC(env->ctx->db, "pds_account_delete", NULL, env->ctx->user)) return db_failed(env);
    *out = json_pack("{s:b,s:b}", "connected", 0, "revoked_at_dropbox", revoked);
    return NULL;
}

pds_err_t *pds_dbx_list_files(pds_dbx_env_t *env, pds_dbx_session_t *s,
                              apr_array_header_t *folders, json_t **out, int *truncated)
{
    apr_pool_t *p = env->ctx->pool;
    json_t *all = json_array();
    int i, resets = 0;
    *truncated = 0;
    for (i = 0; i < folders->nelts; i++) {
        const char *folder = APR_ARRAY_IDX(folders, i, const char *);
        const char *route = "files/list_folder";
        json_t *first = pds_json_pool(p, json_pack("{s:s,s:b,s:i}", "path",
                                      apr_pstrcat(p, s->path_prefix, folder, NULL),
                                      "recursive", 0, "limit", 500)), *arg = first;
        size_t start = json_array_size(all);
        for (;;) {
            pds_dbx_res_t res;
            json_t *entry, *cursor;
            size_t k;
            if (pds_dbx_session_rpc(env, s, route, arg, &res) != APR_SUCCESS) {
                if (res.status == 409 && res.tag && !strcmp(res.tag, "path")) break;  /* no folder */
                if (res.status == 409 && res.tag && !strcmp(res.tag, "reset") && resets++ < 3) {
                    /* The cursor was invalidated: list this folder again. */
                    while (json_array_size(all) > start) json_array_remove(all, start);
                    route = "files/list_folder";
                    arg = first;
                    continue;
                }
                json_decref(all);
                return pds_dbx_failed(env, &res);
            }
            json_array_foreach(json_object_get(res.result, "entries"), k, entry) {
                const char *tag = jstr(entry, ".tag"), *path = jstr(entry, "path_display");
                apr_size_t plen = strlen(s->path_prefix);
                if (!tag || strcmp(tag, "file") || !path) continue;
                if (json_array_size(all) >= PDS_LIST_MAX) {
                    *truncated = 1;
                    break;
                }
                if (plen && !strncasecmp(path, s->path_prefix, plen)) path += plen;
                json_array_append_new(all, json_pack("{s:s,s:o,s:O}", "path", path,
                                      "name", json_object_get(entry, "name")
                                          ? json_incref(json_object_get(entry, "name")) : json_null(),
                                      "size", json_object_get(entry, "size")
                                          ? json_object_get(entry, "size") : json_null()));
            }
            if (*truncated || !json_is_true(json_object_get(res.result, "has_more"))) break;
            cursor = json_object_get(res.result, "cursor");
            if (!json_is_string(cursor)) break;
            route = "files/list_folder/continue";
            arg = pds_json_pool(p, json_pack("{s:O}", "cursor", cursor));
        }
        if (*truncated) break;
    }
    *out = all;
    return NULL;
}
