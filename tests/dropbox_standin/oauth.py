"""OAuth 2 code flow (dropbox-api.md §2): /oauth2/authorize and /oauth2/token."""

import base64
import binascii
import hashlib
import json
import re
from urllib.parse import parse_qs, unquote, urlencode

from .errors import HttpError
from .state import Code, AccessToken, RefreshToken

DENY_DESCRIPTION = "The user chose not to give your app access to their Dropbox account."
PKCE_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def _one(q, name):
    v = q.get(name)
    if not v:
        return None
    return v[0]


def _redirect(uri, params):
    sep = "&" if "?" in uri else "?"
    return HttpError(302, b"", content_type="text/html",
                     headers={"Location": uri + sep + urlencode(params)})


def authorize(st, q):
    """GET /oauth2/authorize. The approving account is the control API's next account
    (default: the first personal account); a deny_next makes it an access_denied."""
    client_id = _one(q, "client_id")
    app = st.apps.get(client_id or "")
    if app is None:
        raise HttpError(400, 'Invalid client_id: "%s".' % (client_id or ""))
    redirect_uri = _one(q, "redirect_uri")
    if redirect_uri is not None and app.redirect_uris is not None and \
            redirect_uri not in app.redirect_uris:
        raise HttpError(400, 'Invalid redirect_uri: "%s". It must exactly match one of the '
                        'redirect URIs you\'ve pre-configured for your app (including the '
                        'path).' % redirect_uri)
    response_type = _one(q, "response_type")
    if response_type != "code":
        raise HttpError(400, 'Invalid response_type: "%s". Expecting "code".'
                        % (response_type or ""))
    state_param = _one(q, "state")
    if state_param is not None and len(state_param.encode()) > 500:
        raise HttpError(400, "Invalid state: longer than 500 bytes.")
    challenge = _one(q, "code_challenge")
    method = _one(q, "code_challenge_method")
    if challenge is not None or method is not None or app.require_pkce:
        if challenge is None:
            raise HttpError(400, "Missing code_challenge.")
        if method is None:
            method = "plain"
        if method not in ("S256", "plain"):
            raise HttpError(400, 'Invalid code_challenge_method: "%s".' % method)
        if app.require_pkce and method != "S256":
            raise HttpError(400, 'Invalid code_challenge_method: "%s". Expecting "S256".'
                            % method)
        if not PKCE_RE.fullmatch(challenge):
            raise HttpError(400, "Invalid code_challenge.")
    access_type = _one(q, "token_access_type") or "online"
    if access_type not in ("offline", "online", "legacy"):
        raise HttpError(400, 'Invalid token_access_type: "%s".' % access_type)
    scope = _one(q, "scope")
    if scope:
        scopes = scope.split()
        unknown = [s for s in scopes if s not in app.scopes]
        if unknown:
            raise HttpError(400, 'Invalid scope: "%s".' % " ".join(unknown))
        if _one(q, "include_granted_scopes") in ("user", "team"):
            scopes = list(dict.fromkeys(scopes + app.scopes))
    else:
        scopes = list(app.scopes)

    if st.deny_next is not None:
        deny = st.deny_next
        st.deny_next = None
        params = {"error": deny.get("error", "access_denied"),
                  "error_description": deny.get("error_description", DENY_DESCRIPTION)}
        if state_param is not None:
            params["state"] = state_param
        if redirect_uri is None:
            raise HttpError(400, params["error_description"])
        raise _redirect(redirect_uri, params)

    acct = st.approving_account()
    if acct is None:
        raise HttpError(400, "The stand-in has no account to approve with "
                             "(POST /__control/accounts first).")
    code = Code(st, app, acct, redirect_uri, challenge, method, access_type, scopes)
    st.codes[code.code] = code
    if redirect_uri is None:
        # No redirect: Dropbox shows the code for the user to paste.
        raise HttpError(200, "<html><body><p>Enter this code into your app:</p>"
                             f"<code id=\"auth-code\">{code.code}</code></body></html>",
                        content_type="text/html; charset=utf-8")
    params = {"code": code.code}
    if state_param is not None:
        params["state"] = state_param
    raise _redirect(redirect_uri, params)


def _oauth_error(error, description, status=400, headers=None):
    return HttpError(status, {"error": error, "error_description": description},
                     headers=headers)


def token_params(handler, query, body):
    """Form fields from the body (form-encoded) merged with the query string."""
    params = {}
    for k, v in query.items():
        params[k] = v[0]
    if body:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise _oauth_error("invalid_request", "request body is not valid form data")
        for k, v in form.items():
            params[k] = v[0]
    return params


def _basic(handler):
    h = handler.headers.get("Authorization")
    if not h:
        return None
    scheme, _, rest = h.partition(" ")
    if scheme.lower() != "basic":
        raise _oauth_error("invalid_request", "Unsupported Authorization scheme.")
    try:
        dec = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _oauth_error("invalid_client", "Invalid Basic authorization header.", 401,
                           {"WWW-Authenticate": 'Basic realm="Dropbox-API"'})
    cid, sep, secret = dec.partition(":")
    if not sep:
        raise _oauth_error("invalid_client", "Invalid Basic authorization header.", 401,
                           {"WWW-Authenticate": 'Basic realm="Dropbox-API"'})
    return unquote(cid), unquote(secret)


def _client(st, handler, p):
    """(app, how) with how in 'basic' | 'body' | 'none' (client_id only: PKCE)."""
    basic = _basic(handler)
    if basic is not None:
        cid, secret = basic
        app = st.apps.get(cid)
        if app is None or secret != app.client_secret:
            raise _oauth_error("invalid_client", "Invalid client_id or client_secret", 401,
                               {"WWW-Authenticate": 'Basic realm="Dropbox-API"'})
        if p.get("client_id") not in (None, cid):
            raise _oauth_error("invalid_request", "client_id does not match the "
                                                  "Authorization header")
        return app, "basic"
    cid = p.get("client_id")
    if not cid:
        raise _oauth_error("invalid_request", "No auth function available for given request")
    app = st.apps.get(cid)
    if app is None:
        raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
    if "client_secret" in p:
        if p["client_secret"] != app.client_secret:
            raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
        return app, "body"
    return app, "none"


def _token_json(st, tok, refresh, acct, with_ids):
    d = {"access_token": tok.token, "token_type": "bearer",
         "expires_in": int(round(tok.expires_at - tok.issued))}
    if refresh is not None:
        d["refresh_token"] = refresh.token
    d["scope"] = " ".join(tok.scopes)
    if with_ids:
        d["uid"] = acct.uid
        d["account_id"] = acct.account_id
    return d


def token(st, handler, query, body):
    """POST /oauth2/token. Returns (status, JSON body, how the client authenticated)."""
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if body and ctype not in ("application/x-www-form-urlencoded", ""):
        raise _oauth_error("invalid_request", "Content-Type must be "
                                              "application/x-www-form-urlencoded")
    p = token_params(handler, query, body)
    grant = p.get("grant_type")
    if not grant:
        raise _oauth_error("invalid_request", "No grant_type")
    if grant not in ("authorization_code", "refresh_token"):
        raise _oauth_error("unsupported_grant_type", f'Unsupported grant_type "{grant}"')
    app, how = _client(st, handler, p)
    now = st.now()

    if grant == "authorization_code":
        code_s = p.get("code")
        if not code_s:
            raise _oauth_error("invalid_request", "No code")
        code = st.codes.get(code_s)
        if code is None or code.used or code.client_id != app.client_id or \
                now >= code.created + st.settings["code_ttl"]:
            raise _oauth_error("invalid_grant", "code doesn't exist or has expired")
        if code.redirect_uri != p.get("redirect_uri"):
            raise _oauth_error("invalid_grant", "redirect_uri mismatch")
        verifier = p.get("code_verifier")
        if code.challenge is not None:
            # A code issued for a code_challenge is redeemed only with its
            # code_verifier, whatever the client authentication: a client_secret
            # does not stand in for it (dropbox-api.md §6 "Validate PKCE (S256)";
            # RFC 7636 §4.6). A refused attempt does not use the code up.
            if verifier is None:
                raise _oauth_error("invalid_grant", "code_verifier is required")
            if not PKCE_RE.fullmatch(verifier):
                raise _oauth_error("invalid_grant", "invalid code verifier")
            if code.method == "S256":
                calc = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            else:
                calc = verifier
            if calc != code.challenge:
                raise _oauth_error("invalid_grant", "invalid code verifier")
        elif how == "none":
            raise _oauth_error("invalid_client", "No client_secret and no PKCE "
                                                 "code_challenge for this code")
        code.used = True
        acct = st.accounts[code.account_id]
        refresh = None
        if code.access_type == "offline":
            refresh = RefreshToken(st, app.client_id, acct.account_id, code.scopes,
                                   pkce=(how == "none"))
            st.refresh_tokens[refresh.token] = refresh
        tok = AccessToken(st, app.client_id, acct.account_id, code.scopes, refresh)
        st.access_tokens[tok.token] = tok
        return _token_json(st, tok, refresh, acct, True), how

    # refresh_token grant
    rt_s = p.get("refresh_token")
    if not rt_s:
        raise _oauth_error("invalid_request", "No refresh_token")
    rt = st.refresh_tokens.get(rt_s)
    if rt is None or rt.revoked or rt.client_id != app.client_id:
        raise _oauth_error("invalid_grant", "refresh token is invalid or revoked")
    if how == "none" and not rt.pkce:
        raise _oauth_error("invalid_client", "client_secret is required for this "
                                             "refresh token")
    acct = st.accounts.get(rt.account_id)
    if acct is None:
        raise _oauth_error("invalid_grant", "refresh token is invalid or revoked")
    scopes = rt.scopes
    if p.get("scope"):
        want = p["scope"].split()
        if any(s not in rt.scopes for s in want):
            raise _oauth_error("invalid_scope", "requested scope is not a subset of the "
                                                "granted scopes")
        scopes = want
    tok = AccessToken(st, app.client_id, acct.account_id, scopes, rt)
    st.access_tokens[tok.token] = tok
    st.refresh_grants += 1
    d = {"access_token": tok.token, "token_type": "bearer",
         "expires_in": int(round(tok.expires_at - tok.issued))}
    if p.get("scope"):
        d["scope"] = " ".join(scopes)
    return d, how


def redact_form(p):
    out = dict(p)
    if "client_secret" in out:
        out["client_secret"] = "<redacted>"
    return out


def dumps(obj):
    return json.dumps(obj)
