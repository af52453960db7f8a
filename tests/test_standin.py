"""Tests of the Dropbox stand-in itself (tests/dropbox_standin), no httpd needed.

The stand-in runs as a separate process, as the integration tests use it; every test
starts from POST /__control/reset. Only the standard library talks to it.
"""

import base64
import hashlib
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dropbox_standin import StandIn, blob_bytes  # noqa: E402

APP, SECRET = "pdshare-test-app", "pdshare-test-secret"
REDIRECT = "http://127.0.0.1:9/pd/api/dropbox/callback"


# ---------------------------------------------------------------- plumbing

class Resp:
    def __init__(self, r, body):
        self.status = r.status
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, headers=None, keep=False, timeout=30):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = self.conn if keep and self.conn else \
            http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if keep:
            self.conn = conn
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Resp(r, r.read())
        finally:
            if not keep:
                conn.close()

    # control API
    def ctl(self, method, sub, body=None):
        r = self.request(method, "/__control/" + sub, body if body is not None else
                         ({} if method in ("POST", "DELETE") else None))
        assert r.status == 200, (sub, r.status, r.text)
        return r.json()

    # Dropbox API
    def rpc(self, route, arg=None, token=None, headers=None, void=False):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if void:
            return self.request("POST", "/2/" + route, None, h)
        h.setdefault("Content-Type", "application/json")
        return self.request("POST", "/2/" + route, json.dumps(arg).encode(), h)


@pytest.fixture(scope="module")
def standin():
    d = tempfile.mkdtemp(prefix="standin-test-")
    port_file = os.path.join(d, "port")
    env = dict(os.environ, PYTHONPATH=HERE)
    p = subprocess.Popen([sys.executable, "-m", "dropbox_standin", "--port", "0",
                          "--host", "127.0.0.1", "--port-file", port_file],
                         cwd=HERE, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if p.poll() is not None or time.time() > deadline:
                raise RuntimeError("stand-in did not start: " +
                                   p.stderr.read().decode(errors="replace"))
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.read())
        yield p, port
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


@pytest.fixture
def c(standin):
    cl = Client(standin[1])
    cl.ctl("POST", "reset")
    return cl


def pkce_pair():
    verifier = base64.urlsafe_b64encode(os.urandom(96)).rstrip(b"=").decode()[:128]
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(c, state="st", challenge=None, access="offline", client_id=APP,
              redirect=REDIRECT):
    q = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect,
         "state": state, "token_access_type": access}
    if challenge:
        q.update(code_challenge=challenge, code_challenge_method="S256")
    return c.request("GET", "/oauth2/authorize?" + urlencode(q))


def redirect_params(r):
    assert r.status == 302, (r.status, r.text)
    loc = r.header("Location")
    assert loc.startswith(REDIRECT + "?"), loc
    return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}


def token_call(c, form, headers=None, in_query=False):
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    h.update(headers or {})
    if in_query:
        return c.request("POST", "/oauth2/token?" + urlencode(form), b"", h)
    return c.request("POST", "/oauth2/token", urlencode(form).encode(), h)


def connect(c, email="ann@example.com", name="Ann Producer", team=None):
    """Create an account and run the PKCE code flow for it: (account, token JSON)."""
    acct = c.ctl("POST", "accounts", {"email": email, "display_name": name, "team": team})
    c.ctl("POST", "next_account", {"account_id": acct["account_id"]})
    verifier, challenge = pkce_pair()
    p = redirect_params(authorize(c, challenge=challenge))
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "client_id": APP, "code_verifier": verifier,
                       "redirect_uri": REDIRECT})
    assert r.status == 200, r.text
    return acct, r.json()


def put(c, acct, path, data=None, **kw):
    body = {"account_id": acct["account_id"], "path": path}
    if data is not None:
        body["content_b64"] = base64.b64encode(data).decode()
    body.update(kw)
    return c.ctl("POST", "files", body)


def assert_summary(body, prefix):
    s = body["error_summary"]
    assert s.startswith(prefix), s
    assert s[len(prefix):] in ("", ".", "..", "..."), s


# ---------------------------------------------------------------- transport

def test_request_id_keepalive_and_404(c):
    acct, tok = connect(c)
    ids = set()
    for _ in range(3):
        r = c.rpc("users/get_current_account", token=tok["access_token"], void=True)
        r2 = c.request("POST", "/2/users/get_current_account", b"null",
                       {"Authorization": "Bearer " + tok["access_token"],
                        "Content-Type": "application/json"}, keep=True)
        assert r.status == r2.status == 200
        ids.add(r.header("X-Dropbox-Request-Id"))
        ids.add(r2.header("X-Dropbox-Request-Id"))
    assert len(ids) == 6 and all(ids)
    r = c.rpc("files/no_such_route", {}, token=tok["access_token"])
    assert r.status == 404 and r.header("X-Dropbox-Request-Id")


def test_in_process_standin():
    with StandIn() as s:
        cl = Client(s.port)
        assert s.url.startswith("http://127.0.0.1:")
        assert cl.ctl("GET", "apps")["apps"][0]["client_id"] == APP


def test_sixty_concurrent_connections(c):
    n = 60
    acct, tok = connect(c)
    results = []
    barrier = threading.Barrier(n)

    def one():
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
        conn.connect()
        barrier.wait()
        conn.request("POST", "/2/users/get_current_account", b"null",
                     {"Authorization": "Bearer " + tok["access_token"],
                      "Content-Type": "application/json"})
        r = conn.getresponse()
        results.append((r.status, json.loads(r.read())["account_id"]))
        conn.close()

    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert results == [(200, acct["account_id"])] * n


# ---------------------------------------------------------------- OAuth

def test_oauth_pkce_code_flow(c):
    acct = c.ctl("POST", "accounts", {"email": "ann@example.com",
                                      "display_name": "Ann Producer", "team": None})
    verifier, challenge = pkce_pair()
    state = "csrf=1&x y/é"
    p = redirect_params(authorize(c, state=state, challenge=challenge))
    assert p["state"] == state and p["code"]
    form = {"grant_type": "authorization_code", "code": p["code"], "client_id": APP,
            "redirect_uri": REDIRECT}
    # wrong verifier
    r = token_call(c, dict(form, code_verifier=pkce_pair()[0]))
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    # wrong redirect_uri
    r = token_call(c, dict(form, code_verifier=verifier, redirect_uri=REDIRECT + "x"))
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    # good (form in the query string, as the JS SDK sends it)
    r = token_call(c, dict(form, code_verifier=verifier), in_query=True)
    assert r.status == 200, r.text
    t = r.json()
    assert t["access_token"].startswith("sl.") and t["token_type"] == "bearer"
    assert t["expires_in"] == 14400 and t["refresh_token"]
    assert t["account_id"] == acct["account_id"] and t["uid"] == acct["uid"]
    assert "files.content.read" in t["scope"].split()
    # reused code
    r = token_call(c, dict(form, code_verifier=verifier))
    assert r.status == 400 and r.json() == {
        "error": "invalid_grant", "error_description": "code doesn't exist or has expired"}
    assert r.header("Content-Type") == "application/json"


def test_oauth_pkce_verifier_missing(c):
    """A code issued for an S256 challenge is refused without its code_verifier,
    however the client authenticates: the client secret in the body, as HTTP
    Basic, or client_id alone. The default app does not require PKCE, so only the
    code's own challenge makes the verifier necessary. The refused attempts do not
    use the code up: with its verifier it is still exchanged, once.

    Fails if the stand-in let a client secret stand in for the verifier again (the
    first attempt would get a token), or burned a code on a refused attempt."""
    c.ctl("POST", "accounts", {"email": "ann@example.com", "display_name": "Ann Producer"})
    verifier, challenge = pkce_pair()
    p = redirect_params(authorize(c, challenge=challenge))
    form = {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT}
    basic = "Basic " + base64.b64encode(f"{APP}:{SECRET}".encode()).decode()
    missing = {"error": "invalid_grant", "error_description": "code_verifier is required"}
    for fields, headers, answer in [
            ({"client_id": APP, "client_secret": SECRET}, None, missing),
            ({}, {"Authorization": basic}, missing),
            ({"client_id": APP}, None, missing),
            ({"client_id": APP, "client_secret": SECRET, "code_verifier": ""}, None,
             {"error": "invalid_grant", "error_description": "invalid code verifier"})]:
        r = token_call(c, dict(form, **fields), headers)
        assert r.status == 400 and r.json() == answer, (fields, headers, r.status, r.text)
        assert r.header("Content-Type") == "application/json"
    assert c.ctl("GET", "tokens")["access_tokens"] == []
    r = token_call(c, dict(form, client_id=APP, client_secret=SECRET, code_verifier=verifier))
    assert r.status == 200, r.text
    r = token_call(c, dict(form, client_id=APP, client_secret=SECRET, code_verifier=verifier))
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    assert len(c.ctl("GET", "tokens")["access_tokens"]) == 1
    # A code issued without a challenge needs no verifier: the secret suffices.
    p = redirect_params(authorize(c))
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "redirect_uri": REDIRECT, "client_id": APP, "client_secret": SECRET})
    assert r.status == 200, r.text


def test_oauth_secret_basic_online_expired_code_and_errors(c):
    c.ctl("POST", "accounts", {"email": "a@example.com", "display_name": "A B"})
    # online access: no refresh token; credentials as HTTP Basic
    p = redirect_params(authorize(c, access="online"))
    basic = base64.b64encode(f"{APP}:{SECRET}".encode()).decode()
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "redirect_uri": REDIRECT}, {"Authorization": "Basic " + basic})
    assert r.status == 200 and "refresh_token" not in r.json()
    # code older than 10 minutes
    p = redirect_params(authorize(c))
    c.ctl("POST", "clock", {"advance": 601})
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "client_id": APP, "client_secret": SECRET, "redirect_uri": REDIRECT})
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    # bad secret, unknown grant, no credentials at all
    p = redirect_params(authorize(c))
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "client_id": APP, "client_secret": "nope", "redirect_uri": REDIRECT})
    assert r.status in (400, 401) and r.json()["error"] == "invalid_client"
    bad = base64.b64encode(f"{APP}:nope".encode()).decode()
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "redirect_uri": REDIRECT}, {"Authorization": "Basic " + bad})
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    r = token_call(c, {"grant_type": "password", "client_id": APP, "client_secret": SECRET})
    assert r.status == 400 and r.json()["error"] == "unsupported_grant_type"
    # without PKCE nor secret the code cannot be exchanged
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "client_id": APP, "redirect_uri": REDIRECT})
    assert r.status in (400, 401) and r.json()["error"] == "invalid_client"
    # bad client_id at authorize: 400 text, no redirect
    r = authorize(c, client_id="nobody")
    assert r.status == 400 and "client_id" in r.text and r.header("Location") is None


def test_oauth_deny(c):
    c.ctl("POST", "accounts", {"email": "a@example.com", "display_name": "A B"})
    c.ctl("POST", "deny_next", {})
    p = redirect_params(authorize(c, state="s1"))
    assert p["error"] == "access_denied" and p["state"] == "s1" and p["error_description"]
    assert "code" not in p
    p = redirect_params(authorize(c, state="s2"))     # one-shot
    assert "code" in p


def test_refresh_grant_and_revoke_kills_family(c):
    acct, t = connect(c)
    form = {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
            "client_id": APP, "client_secret": SECRET}
    r = token_call(c, form)
    assert r.status == 200, r.text
    t2 = r.json()
    assert "refresh_token" not in t2 and t2["expires_in"] == 14400
    assert t2["access_token"] != t["access_token"]
    # a PKCE-issued refresh token refreshes with client_id only
    r = token_call(c, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                       "client_id": APP})
    assert r.status == 200
    t3 = r.json()
    for tok in (t["access_token"], t2["access_token"], t3["access_token"]):
        assert c.rpc("users/get_current_account", token=tok, void=True).status == 200
    # revoke with a `null` body
    r = c.request("POST", "/2/auth/token/revoke", b"null",
                  {"Authorization": "Bearer " + t2["access_token"],
                   "Content-Type": "application/json"})
    assert r.status == 200 and r.json() is None
    for tok in (t["access_token"], t2["access_token"], t3["access_token"]):
        r = c.rpc("users/get_current_account", token=tok, void=True)
        assert r.status == 401 and r.json()["error"] == {".tag": "invalid_access_token"}
    r = token_call(c, form)
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    r = token_call(c, dict(form, refresh_token="unknown"))
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    tokens = c.ctl("GET", "tokens")
    assert {x["token"] for x in tokens["access_tokens"]} == \
        {t["access_token"], t2["access_token"], t3["access_token"]}
    assert [x["revoked"] for x in tokens["refresh_tokens"]] == [True]


def test_control_revoke_refresh(c):
    acct, t = connect(c)
    n = c.ctl("POST", "revoke_refresh", {"account_id": acct["account_id"]})
    assert n == {"revoked_refresh_tokens": 1, "revoked_access_tokens": 1}
    r = token_call(c, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                       "client_id": APP, "client_secret": SECRET})
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    assert c.rpc("users/get_current_account", token=t["access_token"], void=True).status \
        == 401


def test_expiry_clock_and_expire_access(c):
    c.ctl("POST", "settings", {"token_ttl": 60})
    acct, t = connect(c)
    assert t["expires_in"] == 60
    tok = t["access_token"]
    assert c.rpc("users/get_current_account", token=tok, void=True).status == 200
    c.ctl("POST", "clock", {"advance": 61})
    r = c.rpc("users/get_current_account", token=tok, void=True)
    assert r.status == 401
    assert r.json()["error"] == {".tag": "expired_access_token"}
    assert_summary(r.json(), "expired_access_token/")
    assert r.header("WWW-Authenticate") == 'Bearer realm="Dropbox-API"'
    r = token_call(c, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                       "client_id": APP, "client_secret": SECRET})
    tok2 = r.json()["access_token"]
    assert c.rpc("users/get_current_account", token=tok2, void=True).status == 200
    assert c.ctl("POST", "expire_access", {"account_id": acct["account_id"]}) == \
        {"expired": 1}
    r = c.rpc("users/get_current_account", token=tok2, void=True)
    assert r.json()["error"][".tag"] == "expired_access_token"


def test_auth_and_call_style_errors(c):
    acct, t = connect(c)
    tok = t["access_token"]
    r = c.request("POST", "/2/users/get_current_account")
    assert r.status == 400 and r.text == (
        'Error in call to API function "users/get_current_account": Must provide HTTP '
        'header "Authorization" or URL parameter "authorization".')
    r = c.request("POST", "/2/users/get_current_account", None,
                  {"Authorization": "Token abc"})
    assert r.status == 400 and "Invalid authorization value" in r.text
    r = c.request("POST", "/2/users/get_current_account", None,
                  {"Authorization": "Bearer sl.nope"})
    assert r.status == 401 and r.json()["error"][".tag"] == "invalid_access_token"
    # form-encoded content type on an RPC route
    r = c.request("POST", "/2/users/get_current_account", b"",
                  {"Authorization": "Bearer " + tok,
                   "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400 and 'Bad HTTP "Content-Type" header' in r.text
    assert r.header("Content-Type").startswith("text/plain")
    # Void: no body, or null; anything else is refused
    assert c.rpc("users/get_current_account", token=tok, void=True).status == 200
    assert c.rpc("users/get_current_account", None, token=tok).status == 200
    assert c.rpc("users/get_current_account", {"x": 1}, token=tok).status == 400
    # bad JSON, unknown field, missing field, "/" root
    r = c.request("POST", "/2/files/list_folder", b"{nope",
                  {"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    assert r.status == 400 and "could not decode input as JSON" in r.text
    assert c.rpc("files/list_folder", {"path": "", "bogus": 1}, token=tok).status == 400
    assert c.rpc("files/get_metadata", {}, token=tok).status == 400
    r = c.rpc("files/list_folder", {"path": "/"}, token=tok)
    assert r.status == 400 and 'empty string rather than as "/"' in r.text
    # token in the URL parameter
    r = c.request("POST", "/2/users/get_current_account?authorization=Bearer%20" + tok)
    assert r.status == 200
    # missing scope
    c.ctl("POST", "apps", {"client_id": "narrow", "client_secret": "s",
                           "scopes": ["account_info.read"]})
    p = redirect_params(authorize(c, client_id="narrow"))
    r = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                       "client_id": "narrow", "client_secret": "s", "redirect_uri": REDIRECT})
    narrow = r.json()["access_token"]
    r = c.rpc("files/list_folder", {"path": ""}, token=narrow)
    assert r.status == 401 and r.json()["error"] == {".tag": "missing_scope",
                                                     "required_scope": "files.metadata.read"}


# ---------------------------------------------------------------- accounts, path roots

def test_get_current_account_personal_and_team(c):
    acct, t = connect(c)
    d = c.rpc("users/get_current_account", token=t["access_token"], void=True).json()
    assert d["account_id"] == acct["account_id"] and d["email"] == "ann@example.com"
    assert d["name"]["display_name"] == "Ann Producer"
    assert d["account_type"] == {".tag": "basic"} and "team" not in d
    assert d["root_info"] == {".tag": "user", "root_namespace_id": acct["home_namespace_id"],
                              "home_namespace_id": acct["home_namespace_id"]}
    tacct, tt = connect(c, "bo@acme.test", "Bo Member",
                        team={"name": "Acme", "home_path": "/Bo Member"})
    d = c.rpc("users/get_current_account", token=tt["access_token"], void=True).json()
    assert d["account_type"] == {".tag": "business"}
    assert d["team"]["name"] == "Acme" and d["team"]["id"].startswith("dbtid:")
    assert d["team_member_id"].startswith("dbmid:")
    ri = d["root_info"]
    assert ri[".tag"] == "team" and ri["home_path"] == "/Bo Member"
    assert ri["home_namespace_id"] == tacct["home_namespace_id"]
    assert ri["root_namespace_id"] == tacct["root_namespace_id"] != ri["home_namespace_id"]


def test_path_root_modes(c):
    acct, t = connect(c, "bo@acme.test", "Bo Member",
                      team={"name": "Acme", "home_path": "/Bo Member"})
    tok = t["access_token"]
    root = acct["root_namespace_id"]
    home = acct["home_namespace_id"]
    # home (no header): created inside the member's home
    r = c.rpc("files/create_folder_v2", {"path": "/PRODUCER-DASHBOARD/bounces"}, token=tok)
    assert r.status == 200 and r.json()["metadata"]["path_display"] == \
        "/PRODUCER-DASHBOARD/bounces"
    # root mode: the same folder under home_path, the member folder visible at the top
    hdr = {"Dropbox-API-Path-Root": json.dumps({".tag": "root", "root": root})}
    r = c.rpc("files/get_metadata", {"path": "/bo member/producer-dashboard"}, token=tok,
              headers=hdr)
    assert r.status == 200, r.text
    assert r.json()["path_display"] == "/Bo Member/PRODUCER-DASHBOARD"
    r = c.rpc("files/create_folder_v2", {"path": "/Bo Member/PRODUCER-DASHBOARD/stems"},
              token=tok, headers=hdr)
    assert r.status == 200
    # another member of the team: their home folder is not visible to Bo
    other = c.ctl("POST", "accounts", {"email": "cy@acme.test", "display_name": "Cy",
                                       "team": {"name": "Acme", "home_path": "/Cy"}})
    assert other["root_namespace_id"] == root
    put(c, other, "/secret.wav", b"s")
    top = c.rpc("files/list_folder", {"path": "", "recursive": True}, token=tok,
                headers=hdr).json()
    assert [e["path_display"] for e in top["entries"]] == [
        "/Bo Member", "/Bo Member/PRODUCER-DASHBOARD", "/Bo Member/PRODUCER-DASHBOARD/bounces",
        "/Bo Member/PRODUCER-DASHBOARD/stems"]
    r = c.rpc("files/get_metadata", {"path": "/Cy/secret.wav"}, token=tok, headers=hdr)
    assert r.status == 409 and r.json()["error"]["path"][".tag"] == "not_found"
    # a non-admin member cannot write at the top of the team space
    r = c.rpc("files/create_folder_v2", {"path": "/PRODUCER-DASHBOARD"}, token=tok,
              headers=hdr)
    assert r.status == 409 and r.json()["error"]["path"][".tag"] == "no_write_permission"
    # home mode header and compact union form
    for v in ({".tag": "home"}, "home"):
        r = c.rpc("files/list_folder", {"path": "/PRODUCER-DASHBOARD"}, token=tok,
                  headers={"Dropbox-API-Path-Root": json.dumps(v)})
        assert sorted(e["name"] for e in r.json()["entries"]) == ["bounces", "stems"]
    # namespace_id mode
    r = c.rpc("files/get_metadata", {"path": "/PRODUCER-DASHBOARD/stems"}, token=tok,
              headers={"Dropbox-API-Path-Root": json.dumps(
                  {".tag": "namespace_id", "namespace_id": home})})
    assert r.status == 200
    # wrong root id: 422 invalid_root carrying the current root info
    r = c.rpc("files/list_folder", {"path": ""}, token=tok, headers={
        "Dropbox-API-Path-Root": json.dumps({".tag": "root", "root": "12345"})})
    assert r.status == 422
    err = r.json()["error"]
    assert err[".tag"] == "invalid_root" and err["invalid_root"][".tag"] == "team"
    assert err["invalid_root"]["root_namespace_id"] == root
    assert_summary(r.json(), "invalid_root/")
    r = c.rpc("files/list_folder", {"path": ""}, token=tok, headers={
        "Dropbox-API-Path-Root": json.dumps({".tag": "namespace_id", "namespace_id": "9"})})
    assert r.status == 422 and r.json()["error"] == {".tag": "no_permission"}
    # personal account: root == home
    pacct, pt = connect(c)
    r = c.rpc("files/list_folder", {"path": ""}, token=pt["access_token"], headers={
        "Dropbox-API-Path-Root": json.dumps({".tag": "root",
                                             "root": pacct["home_namespace_id"]})})
    assert r.status == 200 and r.json()["entries"] == []


# ---------------------------------------------------------------- files

def test_create_folder_conflict_and_metadata(c):
    acct, t = connect(c)
    tok = t["access_token"]
    r = c.rpc("files/create_folder_v2", {"path": "/PRODUCER-DASHBOARD/Projects"}, token=tok)
    md = r.json()["metadata"]
    assert ".tag" not in md and md["name"] == "Projects" and md["id"].startswith("id:")
    assert md["path_lower"] == "/producer-dashboard/projects"
    r = c.rpc("files/create_folder_v2", {"path": "/producer-dashboard/PROJECTS"}, token=tok)
    assert r.status == 409
    body = r.json()
    assert body["error"] == {".tag": "path", "path": {".tag": "conflict",
                                                      "conflict": {".tag": "folder"}}}
    assert_summary(body, "path/conflict/folder/")
    r = c.rpc("files/create_folder_v2", {"path": "/producer-dashboard/projects",
                                         "autorename": True}, token=tok)
    assert r.json()["metadata"]["name"] == "projects (1)"
    put(c, acct, "/PRODUCER-DASHBOARD/a.wav", b"RIFF....")
    r = c.rpc("files/create_folder_v2", {"path": "/PRODUCER-DASHBOARD/A.wav"}, token=tok)
    assert r.json()["error"]["path"]["conflict"] == {".tag": "file"}
    r = c.rpc("files/create_folder_v2", {"path": "/PRODUCER-DASHBOARD/a.wav/x"}, token=tok)
    assert r.json()["error"]["path"]["conflict"] == {".tag": "file_ancestor"}


def test_get_metadata_shapes(c):
    acct, t = connect(c)
    tok = t["access_token"]
    r = c.rpc("files/get_metadata", {"path": "/nope"}, token=tok)
    assert r.status == 409
    assert r.json()["error"] == {".tag": "path", "path": {".tag": "not_found"}}
    assert_summary(r.json(), "path/not_found/")
    data = b"x" * 5000
    f = put(c, acct, "/Bounces/Mix Final.WAV", data)
    md = c.rpc("files/get_metadata", {"path": "/bounces/mix final.wav"}, token=tok).json()
    assert md[".tag"] == "file" and md["name"] == "Mix Final.WAV"
    assert md["path_display"] == "/Bounces/Mix Final.WAV" and md["size"] == 5000
    assert md["id"] == f["id"] and md["rev"] == f["rev"] and len(md["rev"]) >= 9
    assert md["content_hash"] == hashlib.sha256(hashlib.sha256(data).digest()).hexdigest()
    assert md["server_modified"].endswith("Z") and md["is_downloadable"] is True
    assert c.rpc("files/get_metadata", {"path": f["id"]}, token=tok).json()["id"] == f["id"]
    assert c.rpc("files/get_metadata", {"path": "rev:" + f["rev"]}, token=tok).status == 200
    assert c.rpc("files/get_metadata", {"path": "/Bounces"}, token=tok).json()[".tag"] == \
        "folder"
    assert c.rpc("files/get_metadata", {"path": ""}, token=tok).status == 400
    r = c.rpc("files/get_metadata", {"path": "/a//b"}, token=tok)
    assert r.status == 409 and r.json()["error"]["path"][".tag"] == "malformed_path"


def test_list_folder_paging_recursive_and_changes(c):
    acct, t = connect(c)
    tok = t["access_token"]
    for i in range(7):
        put(c, acct, f"/Stems/s{i}.wav", b"%d" % i)
    put(c, acct, "/Stems/sub/deep.wav", b"deep")
    r = c.rpc("files/list_folder", {"path": "/stems", "limit": 3}, token=tok).json()
    names = [e["name"] for e in r["entries"]]
    assert len(names) == 3 and r["has_more"] is True
    cursor = r["cursor"]
    while r["has_more"]:
        r = c.rpc("files/list_folder/continue", {"cursor": cursor}, token=tok).json()
        names += [e["name"] for e in r["entries"]]
        cursor = r["cursor"]
    assert sorted(names) == sorted([f"s{i}.wav" for i in range(7)] + ["sub"])
    # changes after the listing: only the new file comes back, the cursor survives
    r = c.rpc("files/list_folder/continue", {"cursor": cursor}, token=tok).json()
    assert r["entries"] == [] and r["has_more"] is False
    put(c, acct, "/Stems/new.wav", b"new")
    put(c, acct, "/Elsewhere/x.wav", b"x")
    r = c.rpc("files/list_folder/continue", {"cursor": r["cursor"]}, token=tok).json()
    assert [e["path_display"] for e in r["entries"]] == ["/Stems/new.wav"]
    c.ctl("POST", "files/delete", {"account_id": acct["account_id"], "path": "/Stems/s0.wav"})
    r = c.rpc("files/list_folder/continue", {"cursor": r["cursor"]}, token=tok).json()
    assert r["entries"] == [{".tag": "deleted", "name": "s0.wav",
                             "path_lower": "/stems/s0.wav", "path_display": "/Stems/s0.wav"}]
    # recursive: the folder itself, then everything below it
    r = c.rpc("files/list_folder", {"path": "/Stems", "recursive": True}, token=tok).json()
    paths = [e["path_lower"] for e in r["entries"]]
    assert paths[0] == "/stems" and "/stems/sub/deep.wav" in paths and len(paths) == 10
    # a file is not a folder; a stale cursor is reset
    r = c.rpc("files/list_folder", {"path": "/Stems/s1.wav"}, token=tok)
    assert r.json()["error"] == {".tag": "path", "path": {".tag": "not_folder"}}
    c.ctl("POST", "cursors/reset")
    r = c.rpc("files/list_folder/continue", {"cursor": cursor}, token=tok)
    assert r.status == 409 and r.json()["error"] == {".tag": "reset"}


# ---------------------------------------------------------------- temporary links

def test_temporary_link_range_and_410(c):
    c.ctl("POST", "settings", {"token_ttl": 10**6})     # outlive the clock jumps below
    acct, t = connect(c)
    tok = t["access_token"]
    data = os.urandom(10000)
    put(c, acct, "/Bounces/mix.wav", data)
    put(c, acct, "/Bounces/mix.mp3", b"ID3")
    put(c, acct, "/Projects/song.als", b"ableton")
    r = c.rpc("files/get_temporary_link", {"path": "/bounces/MIX.wav"}, token=tok)
    d = r.json()
    assert ".tag" not in d["metadata"] and d["metadata"]["size"] == 10000
    link = urlsplit(d["link"])
    assert link.path.startswith("/tl/") and link.port == c.port
    r = c.request("GET", link.path)
    assert r.status == 200 and r.body == data
    assert r.header("Content-Type") == "audio/wav" and r.header("Content-Length") == "10000"
    r = c.request("GET", link.path, headers={"Range": "bytes=100-199"})
    assert r.status == 206 and r.body == data[100:200]
    assert r.header("Content-Range") == "bytes 100-199/10000"
    r = c.request("GET", link.path, headers={"Range": "bytes=-10"})
    assert r.status == 206 and r.body == data[-10:]
    r = c.request("GET", link.path, headers={"Range": "bytes=20000-"})
    assert r.status == 416
    for path, ctype in (("/Bounces/mix.mp3", "audio/mpeg"),
                        ("/Projects/song.als", "application/octet-stream")):
        lk = c.rpc("files/get_temporary_link", {"path": path}, token=tok).json()["link"]
        assert c.request("GET", urlsplit(lk).path).header("Content-Type") == ctype
    r = c.rpc("files/get_temporary_link", {"path": "/Bounces"}, token=tok)
    assert r.status == 409
    assert r.json()["error"] == {".tag": "path", "path": {".tag": "not_file"}}
    c.ctl("POST", "clock", {"advance": 14399})
    assert c.request("GET", link.path).status == 200
    c.ctl("POST", "clock", {"advance": 2})
    assert c.request("GET", link.path).status == 410
    # a short TTL in real time
    c.ctl("POST", "settings", {"link_ttl": 1})
    lk = c.rpc("files/get_temporary_link", {"path": "/Bounces/mix.wav"}, token=tok).json()
    assert c.request("GET", urlsplit(lk["link"]).path).status == 200
    time.sleep(1.1)
    assert c.request("GET", urlsplit(lk["link"]).path).status == 410
    assert c.ctl("GET", "calls")["tl"] == 10


# ---------------------------------------------------------------- download_zip

def zip_call(c, tok, path, method="POST", headers=None):
    h = {"Authorization": "Bearer " + tok,
         "Dropbox-API-Arg": json.dumps({"path": path})}
    h.update(headers or {})
    return c.request(method, "/2/files/download_zip", None, h)


def test_download_zip_small(c):
    acct, t = connect(c)
    tok = t["access_token"]
    files = {"Track 1/bounces/mix.wav": os.urandom(3000),
             "Track 1/stems/kick.wav": b"kick",
             "Track 1/stems/sub/snäre.wav": b"snare",
             "Track 1/empty.txt": b""}
    for p, data in files.items():
        put(c, acct, "/PD/" + p, data)
    c.ctl("POST", "files", {"account_id": acct["account_id"], "path": "/PD/Track 1/void",
                            "folder": True})
    put(c, acct, "/PD/Track 1/gen.bin", size=3_000_000, seed=7)
    files["Track 1/gen.bin"] = blob_bytes(3_000_000, 7)
    r = zip_call(c, tok, "/pd/track 1")
    assert r.status == 200, r.text
    assert json.loads(r.header("Dropbox-API-Result"))["metadata"]["path_display"] == \
        "/PD/Track 1"
    assert r.header("Content-Type") == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.body))
    assert z.testzip() is None
    got = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    assert got == files
    assert {n for n in z.namelist() if n.endswith("/")} == {
        "Track 1/", "Track 1/bounces/", "Track 1/stems/", "Track 1/stems/sub/",
        "Track 1/void/"}
    # argument as URL parameter with GET; errors come back as JSON bodies
    r = c.request("GET", "/2/files/download_zip?" + urlencode(
        {"arg": json.dumps({"path": "/PD/Track 1/stems"}), "authorization": "Bearer " + tok}))
    assert r.status == 200 and zipfile.ZipFile(io.BytesIO(r.body)).namelist()[0] == "stems/"
    r = zip_call(c, tok, "/PD/Track 1/stems/kick.wav")
    assert r.status == 409 and r.json()["error"] == {".tag": "path",
                                                     "path": {".tag": "not_folder"}}
    assert r.header("Dropbox-API-Result") is None
    r = zip_call(c, tok, "/PD/missing")
    assert r.json()["error"]["path"][".tag"] == "not_found"
    c.ctl("POST", "settings", {"zip_max_entries": 5})
    r = zip_call(c, tok, "/PD/Track 1")
    assert r.status == 409 and r.json()["error"] == {".tag": "too_many_files"}
    c.ctl("POST", "settings", {"zip_max_entries": 9999, "zip_max_bytes": 1000})
    r = zip_call(c, tok, "/PD/Track 1")
    assert r.status == 409 and r.json()["error"] == {".tag": "too_large"}
    # call-style errors: no argument, raw non-ASCII, form content type
    r = c.request("POST", "/2/files/download_zip", None, {"Authorization": "Bearer " + tok})
    assert r.status == 400 and 'Must provide HTTP header "Dropbox-API-Arg"' in r.text
    r = zip_call(c, tok, "/PD/Track 1",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400 and 'Bad HTTP "Content-Type"' in r.text
    c.ctl("POST", "settings", {"zip_max_bytes": 10**10})
    r = zip_call(c, tok, "/PD/Track 1/stems/sub/..", headers={})
    assert r.status == 409


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Reader:
    """Exact reads from a streamed http.client response."""

    def __init__(self, r):
        self.r = r
        self.total = 0

    def read(self, n):
        out = []
        while n:
            b = self.r.read(min(n, 1 << 20))
            if not b:
                raise EOFError
            out.append(b)
            n -= len(b)
            self.total += len(b)
        return b"".join(out)

    def skip_hash(self, n, h):
        while n:
            b = self.r.read(min(n, 1 << 20))
            if not b:
                raise EOFError
            h.update(b)
            n -= len(b)
            self.total += len(b)


def test_download_zip_streams_1_2_gib(c, standin):
    proc, port = standin
    acct, t = connect(c)
    sizes = {"big-a.wav": 600 << 20, "big-b.wav": 400 << 20, "big-c.wav": 229 << 20}
    for i, (name, size) in enumerate(sizes.items()):
        put(c, acct, f"/Huge/{name}", size=size + i, seed=f"huge-{i}")
    small = os.urandom(1234)
    put(c, acct, "/Huge/notes.txt", small)
    total = sum(sizes.values())
    assert total >= int(1.2 * (1 << 30))

    # expected digests from the control API (computed by the stand-in, cached there)
    want = {}
    for name in sizes:
        r = c.request("GET", "/__control/file_sha256?" + urlencode(
            {"account_id": acct["account_id"], "path": f"/Huge/{name}"}))
        want["Huge/" + name] = r.json()["sha256"]
    want["Huge/notes.txt"] = hashlib.sha256(small).hexdigest()

    base_rss = _rss_kb(proc.pid)
    peak = [base_rss]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kb(proc.pid))
            time.sleep(0.05)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    start = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/2/files/download_zip", None, {
        "Authorization": "Bearer " + t["access_token"],
        "Dropbox-API-Arg": json.dumps({"path": "/Huge"})})
    r = conn.getresponse()
    try:
        assert r.status == 200
        length = int(r.getheader("Content-Length"))
        rd = _Reader(r)
        got = {}
        while True:
            sig = struct.unpack("<I", rd.read(4))[0]
            if sig != 0x04034B50:
                assert sig == 0x02014B50      # central directory
                break
            (ver, flags, method, _t, _d, crc, csize, usize, nlen, xlen) = \
                struct.unpack("<HHHHHIIIHH", rd.read(26))
            name = rd.read(nlen).decode()
            rd.read(xlen)
            assert method == 0 and csize == usize
            h = hashlib.sha256()
            rd.skip_hash(usize, h)
            if flags & 0x08:
                dsig, dcrc, dcs, dus = struct.unpack("<IIII", rd.read(16))
                assert dsig == 0x08074B50 and dus == usize
            if not name.endswith("/"):
                got[name] = h.hexdigest()
            assert time.time() - start < 45, "zip streaming too slow"
        rest = r.read()
        assert rd.total + len(rest) == length
    finally:
        stop.set()
        w.join()
        conn.close()
    assert got == want
    grown_mb = (peak[0] - base_rss) / 1024
    print(f"RSS base {base_rss} kB, peak {peak[0]} kB")
    assert grown_mb < 100, f"stand-in RSS grew by {grown_mb:.0f} MiB while streaming"
    assert length > total


# ---------------------------------------------------------------- faults and calls

def test_faults(c):
    acct, t = connect(c)
    tok = t["access_token"]
    route = "users/get_current_account"
    c.ctl("POST", "faults", {"route": route, "kind": "429", "retry_after": 7, "count": 2})
    for _ in range(2):
        r = c.rpc(route, token=tok, void=True)
        assert r.status == 429 and r.header("Retry-After") == "7"
        assert r.json()["error"] == {"reason": {".tag": "too_many_requests"},
                                     "retry_after": 7}
    assert c.rpc(route, token=tok, void=True).status == 200
    c.ctl("POST", "faults", {"route": route, "kind": "429_text", "retry_after": 3})
    r = c.rpc(route, token=tok, void=True)
    assert r.status == 429 and r.header("Retry-After") == "3"
    assert r.header("Content-Type").startswith("text/plain")
    c.ctl("POST", "faults", {"route": route, "kind": "503", "retry_after": 2})
    r = c.rpc(route, token=tok, void=True)
    assert r.status == 503 and r.header("Retry-After") == "2"
    c.ctl("POST", "faults", {"route": route, "kind": "500"})
    assert c.rpc(route, token=tok, void=True).status == 500
    c.ctl("POST", "faults", {"route": route, "kind": "malformed_json"})
    r = c.rpc(route, token=tok, void=True)
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    with pytest.raises(ValueError):
        json.loads(r.body)
    # hang: answered after hang_seconds; a client timeout sees nothing before
    c.ctl("POST", "faults", {"route": route, "kind": "hang", "hang_seconds": 1.5})
    t0 = time.time()
    assert c.rpc(route, token=tok, void=True).status == 200
    assert time.time() - t0 >= 1.4
    c.ctl("POST", "faults", {"route": route, "kind": "hang", "hang_seconds": 30})
    with pytest.raises(socket.timeout):
        c.request("POST", "/2/" + route, None, {"Authorization": "Bearer " + tok},
                  timeout=0.5)
    c.ctl("DELETE", "faults")          # also wakes the hung request
    # drop: the call is applied, then the connection closes without an answer
    c.ctl("POST", "faults", {"route": "files/create_folder_v2", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        c.rpc("files/create_folder_v2", {"path": "/Dropped"}, token=tok)
    r = c.rpc("files/create_folder_v2", {"path": "/Dropped"}, token=tok)
    assert r.json()["error"]["path"][".tag"] == "conflict"
    # write contention as a 409 of the route's own union; 429 write contention
    c.ctl("POST", "faults", {"route": "files/create_folder_v2",
                             "kind": "409_write_contention"})
    r = c.rpc("files/create_folder_v2", {"path": "/X"}, token=tok)
    assert r.status == 409 and r.json()["error"] == {
        ".tag": "path", "path": {".tag": "too_many_write_operations"}}
    c.ctl("POST", "faults", {"route": "*", "kind": "429_write", "match": "/Y"})
    r = c.rpc("files/create_folder_v2", {"path": "/X"}, token=tok)
    assert r.status == 200
    r = c.rpc("files/create_folder_v2", {"path": "/Y"}, token=tok)
    assert r.status == 429 and r.json()["error"]["reason"][".tag"] == \
        "too_many_write_operations" and r.header("Retry-After") == "1"
    # forever, on the OAuth token route
    c.ctl("POST", "faults", {"route": "oauth2/token", "kind": "503", "count": -1})
    for _ in range(3):
        assert token_call(c, {"grant_type": "refresh_token",
                              "refresh_token": t["refresh_token"], "client_id": APP,
                              "client_secret": SECRET}).status == 503
    c.ctl("DELETE", "faults")
    assert token_call(c, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                          "client_id": APP, "client_secret": SECRET}).status == 200


def test_call_counts_and_log(c):
    acct, t = connect(c)
    c.ctl("POST", "calls/reset")
    tok = t["access_token"]
    put(c, acct, "/a.wav", b"a")
    for _ in range(3):
        c.rpc("files/get_temporary_link", {"path": "/a.wav"}, token=tok,
              headers={"Dropbox-API-Path-Root": '{".tag": "home"}'})
    c.rpc("users/get_current_account", token=tok, void=True)
    counts = c.ctl("GET", "calls")
    assert counts == {"files/get_temporary_link": 3, "users/get_current_account": 1}
    log = c.ctl("GET", "calls/log?route=files/get_temporary_link")["calls"]
    assert len(log) == 3
    e = log[-1]
    assert e["method"] == "POST" and e["status"] == 200 and e["arg"] == {"path": "/a.wav"}
    assert e["headers"]["Dropbox-API-Path-Root"] == '{".tag": "home"}'
    assert e["headers"]["Authorization"].startswith("Bearer sl.")
    assert tok not in json.dumps(log)
    c.ctl("POST", "calls/reset")
    assert c.ctl("GET", "calls") == {}


def test_non_ascii_arg_and_include_deleted(c):
    acct, t = connect(c)
    tok = t["access_token"]
    put(c, acct, "/Bläh/ü.wav", b"u")
    put(c, acct, "/Bläh/gone.wav", b"g")
    escaped = json.dumps({"path": "/Bläh"})            # \u00e4, header-safe
    assert "\\u00e4" in escaped
    r = c.request("POST", "/2/files/download_zip", None,
                  {"Authorization": "Bearer " + tok, "Dropbox-API-Arg": escaped})
    assert r.status == 200
    assert zipfile.ZipFile(io.BytesIO(r.body)).read("Bläh/ü.wav") == b"u"
    assert "\\u00e4" in r.header("Dropbox-API-Result")
    raw = json.dumps({"path": "/Bläh"}, ensure_ascii=False).encode("utf-8")
    r = c.request("POST", "/2/files/download_zip", None,
                  {"Authorization": "Bearer " + tok, "Dropbox-API-Arg": raw})
    assert r.status == 400 and "Dropbox-API-Arg" in r.text
    c.ctl("POST", "files/delete", {"account_id": acct["account_id"], "path": "/Bläh/gone.wav"})
    r = c.rpc("files/list_folder", {"path": "/bläh"}, token=tok).json()
    assert [e["name"] for e in r["entries"]] == ["ü.wav"]
    r = c.rpc("files/list_folder", {"path": "/bläh", "include_deleted": True},
              token=tok).json()
    assert sorted((e[".tag"], e["name"]) for e in r["entries"]) == [
        ("deleted", "gone.wav"), ("file", "ü.wav")]
    r = c.rpc("files/get_metadata", {"path": "/Bläh/gone.wav", "include_deleted": True},
              token=tok)
    assert r.json()[".tag"] == "deleted"
    assert c.rpc("files/get_metadata", {"path": "/Bläh/gone.wav"}, token=tok).status == 409


# ---------------------------------------------------------------- copy_v2 and sharing

def share(c, tok, path, **kw):
    return c.rpc("sharing/share_folder", dict({"path": path}, **kw), token=tok)


def invite(c, tok, sfid, *emails, level="editor", **kw):
    members = [{"member": {".tag": "email", "email": e}, "access_level": level}
               for e in emails]
    return c.rpc("sharing/add_folder_member",
                 dict({"shared_folder_id": sfid, "members": members}, **kw), token=tok)


def effects(c):
    se = c.ctl("GET", "side_effects")
    se.pop("events")
    return {k: v for k, v in se.items() if v}


def test_copy_v2(c):
    acct, t = connect(c)
    tok = t["access_token"]
    put(c, acct, "/Uploads/mix.wav", b"RIFFmix")
    put(c, acct, "/Uploads/stems/big.wav", size=3_000_000, seed="stem")
    r = c.rpc("files/copy_v2", {"from_path": "/uploads", "to_path": "/PD/Track 1/files"},
              token=tok)
    assert r.status == 200, r.text
    md = r.json()["metadata"]
    assert md[".tag"] == "folder" and md["path_display"] == "/PD/Track 1/files"
    files = {f["path_display"]: f for f in c.ctl(
        "GET", f"files?account_id={acct['account_id']}&hashes=0")["files"]}
    big, copy = files["/Uploads/stems/big.wav"], files["/PD/Track 1/files/stems/big.wav"]
    assert copy["generated"] and copy["seed"] == "stem" and copy["size"] == 3_000_000
    assert copy["id"] != big["id"]
    # a file copy keeps content_hash; the copy is a Metadata with .tag
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav",
                                "to_path": "/PD/Track 1/mix.wav"}, token=tok)
    assert r.json()["metadata"][".tag"] == "file"
    src = c.rpc("files/get_metadata", {"path": "/Uploads/mix.wav"}, token=tok).json()
    assert r.json()["metadata"]["content_hash"] == src["content_hash"]
    # conflicts, autorename, lookups, folder into itself, entry limit
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav",
                                "to_path": "/pd/track 1/MIX.wav"}, token=tok)
    assert r.status == 409 and r.json()["error"] == {
        ".tag": "to", "to": {".tag": "conflict", "conflict": {".tag": "file"}}}
    assert_summary(r.json(), "to/conflict/file/")
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads", "to_path": "/PD/Track 1/files"},
              token=tok)
    assert r.json()["error"]["to"]["conflict"] == {".tag": "folder"}
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav", "autorename": True,
                                "to_path": "/PD/Track 1/mix.wav"}, token=tok)
    assert r.json()["metadata"]["name"] == "mix (1).wav"
    r = c.rpc("files/copy_v2", {"from_path": "/nope.wav", "to_path": "/x.wav"}, token=tok)
    assert r.status == 409 and r.json()["error"] == {
        ".tag": "from_lookup", "from_lookup": {".tag": "not_found"}}
    assert_summary(r.json(), "from_lookup/not_found/")
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads", "to_path": "/Uploads/stems/in"},
              token=tok)
    assert r.json()["error"] == {".tag": "cant_move_folder_into_itself"}
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav",
                                "to_path": "/Uploads/mix.wav/x"}, token=tok)
    assert r.json()["error"]["to"]["conflict"] == {".tag": "file_ancestor"}
    c.ctl("POST", "settings", {"copy_max_entries": 3})
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads", "to_path": "/Other"}, token=tok)
    assert r.json()["error"] == {".tag": "too_many_files"}
    r = c.rpc("files/copy_v2", {"from_path": "/", "to_path": "/x"}, token=tok)
    assert r.status == 400 and 'empty string rather than as "/"' in r.text
    assert c.rpc("files/copy_v2", {"from_path": "/Uploads"}, token=tok).status == 400
    assert effects(c) == {"copies": 3, "files_copied": 4, "folders_copied": 2}
    # drop: the copy happens, the answer is lost; the retry sees the conflict
    c.ctl("POST", "faults", {"route": "files/copy_v2", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav", "to_path": "/Dup.wav"},
              token=tok)
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav", "to_path": "/Dup.wav"},
              token=tok)
    assert r.json()["error"]["to"]["conflict"] == {".tag": "file"}
    assert effects(c)["copies"] == 4
    log = c.ctl("GET", "calls/log?route=files/copy_v2")["calls"]
    assert log[-2]["fault"] == "drop" and log[-2]["status"] is None
    # write contention comes as the `to` WriteError member
    c.ctl("POST", "faults", {"route": "files/copy_v2", "kind": "409_write_contention"})
    r = c.rpc("files/copy_v2", {"from_path": "/Uploads/mix.wav", "to_path": "/Z.wav"},
              token=tok)
    assert r.json()["error"] == {".tag": "to", "to": {".tag": "too_many_write_operations"}}


def test_share_folder_sync_and_errors(c):
    acct, t = connect(c)
    tok = t["access_token"]
    put(c, acct, "/PD/Old/take.wav", b"take")
    # a missing folder is created, then shared
    r = share(c, tok, "/PD/Track 1", acl_update_policy="editors",
              shared_link_policy={".tag": "members"})
    assert r.status == 409 and r.json()["error"] == {".tag": "disallowed_shared_link_policy"}
    r = share(c, tok, "/PD/Track 1", acl_update_policy="editors")
    assert r.status == 200, r.text
    d = r.json()
    assert d[".tag"] == "complete" and d["access_type"] == {".tag": "owner"}
    assert d["path_lower"] == "/pd/track 1" and d["name"] == "Track 1"
    assert d["policy"]["acl_update_policy"] == {".tag": "editors"}
    assert "member_policy" not in d["policy"]          # personal account
    assert d["owner_display_names"] == ["Ann Producer"] and d["shared_folder_id"]
    assert d["time_invited"].endswith("Z") and d["preview_url"].startswith("https://")
    sfid = d["shared_folder_id"]
    md = c.rpc("files/get_metadata", {"path": "/PD/Track 1"}, token=tok).json()
    assert md["sharing_info"] == {"read_only": False, "shared_folder_id": sfid,
                                  "traverse_only": False, "no_access": False}
    assert md["id"] == d["folder_id"]
    put(c, acct, "/PD/Track 1/mix.wav", b"mix")
    md = c.rpc("files/get_metadata", {"path": "/PD/Track 1/mix.wav"}, token=tok).json()
    assert md["sharing_info"]["parent_shared_folder_id"] == sfid
    # again: already_shared carries the metadata (how a client recovers the id)
    r = share(c, tok, "/pd/TRACK 1")
    assert r.status == 409
    err = r.json()["error"]
    assert err[".tag"] == "bad_path" and err["bad_path"][".tag"] == "already_shared"
    assert err["bad_path"]["shared_folder_id"] == sfid
    assert_summary(r.json(), "bad_path/already_shared/")
    # an existing folder keeps its content
    r = share(c, tok, "/PD/Old")
    assert r.json()[".tag"] == "complete"
    r = c.rpc("files/list_folder", {"path": "/PD/Old"}, token=tok).json()
    assert [e["name"] for e in r["entries"]] == ["take.wav"]
    # path errors
    for path, tag in (("/PD/Old/take.wav", "is_file"), ("/PD/Track 1/sub", "inside_shared_folder"),
                      ("/PD", "contains_shared_folder")):
        r = share(c, tok, path)
        assert r.status == 409 and r.json()["error"] == {
            ".tag": "bad_path", "bad_path": {".tag": tag}}, (path, r.text)
    assert c.rpc("files/get_metadata", {"path": "/PD/Track 1/sub"}, token=tok).status == 409
    assert share(c, tok, "/X", member_policy="everyone").status == 400
    assert share(c, tok, "").status == 400
    c.ctl("POST", f"accounts/{acct['account_id']}/flags", {"can_share": False})
    assert share(c, tok, "/X").json()["error"] == {".tag": "no_permission"}
    c.ctl("POST", f"accounts/{acct['account_id']}/flags",
          {"can_share": True, "email_verified": False})
    assert share(c, tok, "/X").json()["error"] == {".tag": "email_unverified"}
    assert effects(c) == {"folders_created_by_share_folder": 1, "folders_shared": 2}
    # team accounts carry member_policy and owner_team
    tacct, tt = connect(c, "bo@acme.test", "Bo Member", team={"name": "Acme"})
    d = share(c, tt["access_token"], "/Shared", member_policy="team").json()
    assert d["policy"]["member_policy"] == {".tag": "team"}
    assert d["owner_team"]["name"] == "Acme"
    # a drop: the folder is shared, the client retries and recovers the id
    c.ctl("POST", "faults", {"route": "sharing/share_folder", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        share(c, tt["access_token"], "/Dropped")
    r = share(c, tt["access_token"], "/Dropped")
    assert r.json()["error"]["bad_path"][".tag"] == "already_shared"
    assert len(c.ctl("GET", "shared_folders")["shared_folders"]) == 4


def test_share_folder_async(c):
    acct, t = connect(c)
    tok = t["access_token"]
    r = share(c, tok, "/PD/Async", force_async=True)
    assert r.status == 200 and r.json()[".tag"] == "async_job_id"
    job = r.json()["async_job_id"]
    poll = lambda j, k=tok: c.rpc("sharing/check_share_job_status",   # noqa: E731
                                  {"async_job_id": j}, token=k)
    assert [poll(job).json() for _ in range(2)] == [{".tag": "in_progress"}] * 2
    done = poll(job).json()
    assert done[".tag"] == "complete" and done["path_lower"] == "/pd/async"
    assert poll(job).json()[".tag"] == "complete"
    # every share async, completing on the first poll
    c.ctl("POST", "settings", {"share_always_async": 1, "share_async_polls": 0})
    job = share(c, tok, "/PD/Two").json()["async_job_id"]
    assert poll(job).json()["shared_folder_id"]
    # a failed job
    c.ctl("POST", "fail_next_job", {"kind": "share"})
    job = share(c, tok, "/PD/Three").json()["async_job_id"]
    assert poll(job).json() == {".tag": "failed", "failed": {".tag": "no_permission"}}
    # unknown ids, another account's job, a job of another kind
    r = poll("dbjid:nope")
    assert r.status == 409 and r.json()["error"] == {".tag": "invalid_async_job_id"}
    other, ot = connect(c, "bob@example.com", "Bob")
    assert poll(job, ot["access_token"]).json()["error"][".tag"] == "invalid_async_job_id"
    r = c.rpc("sharing/check_job_status", {"async_job_id": job}, token=tok)
    assert r.json()["error"] == {".tag": "invalid_async_job_id"}
    assert c.rpc("sharing/check_share_job_status", {}, token=tok).status == 400
    assert [j["state"] for j in c.ctl("GET", "jobs")["jobs"]] == [
        "complete", "complete", "failed"]


def test_add_folder_member_invitations(c):
    c.ctl("POST", "settings", {"token_ttl": 10**6})     # outlive the clock jump below
    acct, t = connect(c)
    tok = t["access_token"]
    bob = c.ctl("POST", "accounts", {"email": "bob@example.com", "display_name": "Bob B"})
    sfid = share(c, tok, "/PD/Track").json()["shared_folder_id"]
    r = c.rpc("sharing/add_folder_member", {
        "shared_folder_id": sfid, "quiet": True, "custom_message": "New track",
        "members": [{"member": {".tag": "email", "email": "cy@example.org"},
                     "access_level": "viewer"},
                    {"member": {".tag": "dropbox_id", "dropbox_id": bob["account_id"]},
                     "access_level": {".tag": "editor"}}]}, token=tok)
    assert r.status == 200 and r.body == b"null" and r.json() is None
    inv = c.ctl("GET", "invitations")["invitations"]
    assert [(i["email"], i["access_level"], i["quiet"], i["custom_message"]) for i in inv] \
        == [("cy@example.org", "viewer", True, "New track"),
            ("bob@example.com", "editor", True, "New track")]
    assert inv[1]["account_id"] == bob["account_id"] and inv[0]["shared_folder_id"] == sfid
    # re-inviting (by email, by id, other case) sends nothing new and succeeds
    assert invite(c, tok, sfid, "CY@example.org", "bob@example.com").status == 200
    assert invite(c, tok, sfid, "ann@example.com").status == 200      # the owner
    assert len(c.ctl("GET", "invitations")["invitations"]) == 2
    m = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid}, token=tok).json()
    assert [u["user"]["email"] for u in m["users"]] == ["ann@example.com"]
    assert m["users"][0]["access_type"] == {".tag": "owner"} and m["groups"] == []
    assert [(i["invitee"], i["access_type"][".tag"]) for i in m["invitees"]] == [
        ({".tag": "email", "email": "cy@example.org"}, "viewer"),
        ({".tag": "email", "email": "bob@example.com"}, "editor")]
    assert m["invitees"][1]["user"]["account_id"] == bob["account_id"]
    assert "cursor" not in m
    # 400s: no access_level, owner, malformed email, empty custom_message
    r = c.rpc("sharing/add_folder_member", {"shared_folder_id": sfid, "members": [
        {"member": {".tag": "email", "email": "d@example.org"}}]}, token=tok)
    assert r.status == 400 and "missing required field 'access_level'" in r.text
    assert invite(c, tok, sfid, "d@example.org", level="owner").status == 400
    r = invite(c, tok, sfid, "not an email")
    assert r.status == 400 and "did not match pattern" in r.text
    assert invite(c, tok, sfid, "d@example.org", custom_message="").status == 400
    # 409s
    c.ctl("POST", "settings", {"email_pattern_400": 0})
    r = invite(c, tok, sfid, "not an email")
    assert r.status == 409 and r.json()["error"] == {
        ".tag": "bad_member", "bad_member": {".tag": "invalid_email",
                                             "invalid_email": "not an email"}}
    assert_summary(r.json(), "bad_member/invalid_email/")
    c.ctl("POST", "invalid_emails", {"emails": ["Bounce@Example.org"]})
    r = invite(c, tok, sfid, "ok@example.org", "bounce@example.org")
    assert r.json()["error"]["bad_member"] == {".tag": "invalid_email",
                                               "invalid_email": "bounce@example.org"}
    r = c.rpc("sharing/add_folder_member", {"shared_folder_id": sfid, "members": [
        {"member": {".tag": "dropbox_id", "dropbox_id": "dbid:nobody"},
         "access_level": "viewer"}]}, token=tok)
    assert r.json()["error"]["bad_member"][".tag"] == "invalid_dropbox_id"
    r = invite(c, tok, "123456789", "d@example.org")
    assert r.json()["error"] == {".tag": "access_error", "access_error": {".tag": "invalid_id"}}
    other, ot = connect(c, "eve@example.com", "Eve")
    r = invite(c, ot["access_token"], sfid, "d@example.org")
    assert r.json()["error"] == {".tag": "access_error",
                                 "access_error": {".tag": "not_a_member"}}
    c.ctl("POST", "settings", {"folder_member_limit": 3})
    r = invite(c, tok, sfid, "d@example.org")
    assert r.json()["error"] == {".tag": "too_many_members", "too_many_members": 3}
    c.ctl("POST", "settings", {"folder_member_limit": 1000, "daily_invite_limit": 2})
    assert invite(c, tok, sfid, "d@example.org").json()["error"] == {".tag": "rate_limit"}
    assert len(c.ctl("GET", "invitations")["invitations"]) == 2
    c.ctl("POST", "clock", {"advance": 86401})         # a new day: the limit is free again
    # faults: a 429 sends nothing; a drop sends once and the retry is idempotent
    c.ctl("POST", "faults", {"route": "sharing/add_folder_member", "kind": "429",
                             "retry_after": 2})
    r = invite(c, tok, sfid, "d@example.org")
    assert r.status == 429 and r.header("Retry-After") == "2"
    assert len(c.ctl("GET", "invitations")["invitations"]) == 2
    c.ctl("POST", "faults", {"route": "sharing/add_folder_member", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        invite(c, tok, sfid, "d@example.org")
    assert invite(c, tok, sfid, "d@example.org").status == 200
    assert len(c.ctl("GET", "invitations?email=D@example.org")["invitations"]) == 1
    assert effects(c) == {"folders_created_by_share_folder": 1, "folders_shared": 1,
                          "invitations_sent": 3}


def test_team_member_policy_and_editor_acl(c):
    acct, t = connect(c, "bo@acme.test", "Bo", team={"name": "Acme"})
    mate, mt = connect(c, "cy@acme.test", "Cy", team={"name": "Acme"})
    tok = t["access_token"]
    sfid = share(c, tok, "/Team Track", member_policy="team").json()["shared_folder_id"]
    r = invite(c, tok, sfid, "outsider@example.com")
    assert r.json()["error"] == {".tag": "cant_share_outside_team"}
    assert invite(c, tok, sfid, "cy@acme.test").status == 200
    m = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid}, token=tok).json()
    assert m["invitees"][0]["user"] == {
        "account_id": mate["account_id"], "email": "cy@acme.test", "display_name": "Cy",
        "same_team": True, "team_member_id": mate["team"]["team_member_id"]}
    # a viewer may not invite; an editor may when the ACL policy is editors
    pa, pt = connect(c, "pat@example.com", "Pat")
    sfid2 = share(c, pt["access_token"], "/P").json()["shared_folder_id"]
    assert invite(c, pt["access_token"], sfid2, "bo@acme.test", level="viewer").status == 200
    c.ctl("POST", "accept_invite", {"account_id": acct["account_id"]})
    assert invite(c, tok, sfid2, "x@example.com").json()["error"] == {".tag": "no_permission"}
    # two members of one team mount the same folder: each sees their own mount, in the
    # home and in the root view
    ctok = mt["access_token"]
    d = c.rpc("sharing/mount_folder", {"shared_folder_id": sfid}, token=ctok).json()
    assert d["path_display"] == "/Team Track"
    root = {"Dropbox-API-Path-Root": json.dumps({".tag": "root",
                                                 "root": acct["root_namespace_id"]})}
    for k, want in ((tok, "/Bo/Team Track"), (ctok, "/Cy/Team Track")):
        gm = c.rpc("sharing/get_folder_metadata", {"shared_folder_id": sfid}, token=k,
                   headers=root).json()
        assert gm["path_display"] == want
        r = c.rpc("files/list_folder", {"path": "", "recursive": True}, token=k,
                  headers=root).json()
        assert [e["path_display"] for e in r["entries"]] == [want.rsplit("/", 1)[0], want]


def test_list_folder_members_paging(c):
    acct, t = connect(c)
    tok = t["access_token"]
    sfid = share(c, tok, "/Big").json()["shared_folder_id"]
    for i in range(4):
        c.ctl("POST", "accounts", {"email": f"u{i}@example.com", "display_name": f"U {i}"})
    assert invite(c, tok, sfid, *[f"u{i}@example.com" for i in range(4)],
                  "z@example.com").status == 200
    for i in range(2):
        c.ctl("POST", "accept_invite", {"email": f"u{i}@example.com", "mount": False})
    r = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid, "limit": 2},
              token=tok).json()
    seen = [u["user"]["email"] for u in r["users"]] + \
        [i["invitee"]["email"] for i in r["invitees"]]
    pages = 1
    while "cursor" in r:
        r = c.rpc("sharing/list_folder_members/continue", {"cursor": r["cursor"]},
                  token=tok).json()
        seen += [u["user"]["email"] for u in r["users"]] + \
            [i["invitee"]["email"] for i in r["invitees"]]
        pages += 1
    assert pages == 3 and seen == ["ann@example.com", "u0@example.com", "u1@example.com",
                                   "u2@example.com", "u3@example.com", "z@example.com"]
    r = c.rpc("sharing/list_folder_members/continue", {"cursor": "bogus"}, token=tok)
    assert r.status == 409 and r.json()["error"] == {".tag": "invalid_cursor"}
    assert c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid, "limit": 0},
                 token=tok).status == 400
    r = c.rpc("sharing/list_folder_members", {"shared_folder_id": "999"}, token=tok)
    assert r.json()["error"] == {".tag": "invalid_id"}
    assert c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid},
                 token=connect(c, "eve@example.com", "Eve")[1]["access_token"]
                 ).json()["error"] == {".tag": "not_a_member"}


def members_pages(c, tok, first):
    """Every page of list_folder_members from the first answer: [[email, ...], ...]."""
    def emails(r):
        return [u["user"]["email"] for u in r["users"]] + \
            [i["invitee"]["email"] for i in r["invitees"]]
    pages = [emails(first)]
    while "cursor" in first:
        first = c.rpc("sharing/list_folder_members/continue", {"cursor": first["cursor"]},
                      token=tok).json()
        pages.append(emails(first))
    return pages


def test_list_folder_members_page_max_setting(c):
    """Issue 14: Dropbox may answer fewer members than `limit` asks; the setting
    list_folder_members_page_max makes the stand-in do so, and `limit` still caps a
    page when it is the smaller."""
    acct, t = connect(c)
    tok = t["access_token"]
    sfid = share(c, tok, "/Crowd").json()["shared_folder_id"]
    guests = [f"g{i:02d}@example.com" for i in range(7)]
    assert invite(c, tok, sfid, *guests).status == 200
    assert c.ctl("GET", "settings")["list_folder_members_page_max"] == 1000
    c.ctl("POST", "settings", {"list_folder_members_page_max": 3})
    r = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid}, token=tok).json()
    pages = members_pages(c, tok, r)
    assert [len(p) for p in pages] == [3, 3, 2]
    assert sum(pages, []) == ["ann@example.com"] + guests
    r = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid, "limit": 2},
              token=tok).json()
    assert [len(p) for p in members_pages(c, tok, r)] == [2, 2, 2, 2]
    c.ctl("POST", "settings", {"list_folder_members_page_max": 1000})
    r = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid}, token=tok).json()
    assert "cursor" not in r and len(members_pages(c, tok, r)[0]) == 8
    assert c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid, "limit": 1001},
                 token=tok).status == 400
    r = c.rpc("sharing/list_folder_members/continue", {"cursor": "ZtkX" + "a" * 56}, token=tok)
    assert r.status == 409 and r.json()["error"] == {".tag": "invalid_cursor"}


def test_remove_folder_member_both_pollers(c):
    acct, t = connect(c)
    tok = t["access_token"]
    bob, bt = connect(c, "bob@example.com", "Bob")
    sfid = share(c, tok, "/PD/Track").json()["shared_folder_id"]
    put(c, acct, "/PD/Track/mix.wav", b"mix")
    assert invite(c, tok, sfid, "bob@example.com", "cy@example.org").status == 200
    assert c.rpc("sharing/mount_folder", {"shared_folder_id": sfid},
                 token=bt["access_token"]).status == 200
    assert c.rpc("files/get_metadata", {"path": "/Track/mix.wav"},
                 token=bt["access_token"]).status == 200

    def remove(email, leave=False):
        return c.rpc("sharing/remove_folder_member", {
            "shared_folder_id": sfid, "member": {".tag": "email", "email": email},
            "leave_a_copy": leave}, token=tok)

    r = remove("bob@example.com")
    assert r.status == 200 and set(r.json()) == {".tag", "async_job_id"}
    assert r.json()[".tag"] == "async_job_id"
    job = r.json()["async_job_id"]
    r2 = remove("bob@example.com")            # launched twice: the second one fails
    poll = lambda route, j: c.rpc(route, {"async_job_id": j}, token=tok).json()  # noqa
    for _ in range(2):
        assert poll("sharing/check_remove_member_job_status", job) == {".tag": "in_progress"}
    # not applied until the job completes
    assert c.rpc("files/get_metadata", {"path": "/Track"},
                 token=bt["access_token"]).status == 200
    assert poll("sharing/check_remove_member_job_status", job) == {".tag": "complete"}
    assert poll("sharing/check_job_status", job) == {".tag": "complete"}
    assert c.rpc("files/get_metadata", {"path": "/Track"},
                 token=bt["access_token"]).status == 409
    m = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid}, token=tok).json()
    assert [u["user"]["email"] for u in m["users"]] == ["ann@example.com"]
    job2 = r2.json()["async_job_id"]
    for _ in range(2):
        assert poll("sharing/check_job_status", job2) == {".tag": "in_progress"}
    assert poll("sharing/check_job_status", job2) == {
        ".tag": "failed", "failed": {".tag": "remove_folder_member_error",
                                     "remove_folder_member_error": {
                                         ".tag": "member_error",
                                         "member_error": {".tag": "not_a_member"}}}}
    assert poll("sharing/check_remove_member_job_status", job2) == {
        ".tag": "failed", "failed": {".tag": "member_error",
                                     "member_error": {".tag": "not_a_member"}}}
    # an invitee is removed the same way; remove_polls 0 completes on the first poll
    c.ctl("POST", "settings", {"remove_polls": 0})
    job = remove("CY@example.org").json()["async_job_id"]
    assert poll("sharing/check_job_status", job) == {".tag": "complete"}
    # launch errors, forced failure, bad job ids
    assert remove("cy@example.org").json()["error"] == {
        ".tag": "member_error", "member_error": {".tag": "not_a_member"}}
    assert remove("ann@example.com").json()["error"] == {".tag": "folder_owner"}
    r = c.rpc("sharing/remove_folder_member", {
        "shared_folder_id": "4242", "member": {".tag": "email", "email": "a@b.co"},
        "leave_a_copy": False}, token=tok)
    assert r.json()["error"] == {".tag": "access_error", "access_error": {".tag": "invalid_id"}}
    r = c.rpc("sharing/remove_folder_member", {
        "shared_folder_id": sfid, "member": {".tag": "email", "email": "a@b.co"}}, token=tok)
    assert r.status == 400 and "leave_a_copy" in r.text
    assert invite(c, tok, sfid, "bob@example.com").status == 200
    c.ctl("POST", "fail_next_job", {"kind": "remove", "error": {".tag": "team_folder"}})
    job = remove("bob@example.com").json()["async_job_id"]
    assert poll("sharing/check_remove_member_job_status", job) == {
        ".tag": "failed", "failed": {".tag": "team_folder"}}
    for route in ("sharing/check_remove_member_job_status", "sharing/check_job_status"):
        r = c.rpc(route, {"async_job_id": "dbjid:nope"}, token=tok)
        assert r.status == 409 and r.json()["error"] == {".tag": "invalid_async_job_id"}
    assert effects(c)["members_removed"] == 1 and effects(c)["invitees_removed"] == 1
    # leave_a_copy: the member keeps a plain folder with the content
    c.ctl("POST", "accept_invite", {"account_id": bob["account_id"], "mount": True})
    job = remove("bob@example.com", leave=True).json()["async_job_id"]
    assert poll("sharing/check_job_status", job) == {".tag": "complete"}
    md = c.rpc("files/get_metadata", {"path": "/Track/mix.wav"},
               token=bt["access_token"]).json()
    assert md[".tag"] == "file" and "sharing_info" not in md


def test_mount_modes_and_listing(c):
    c.ctl("POST", "settings", {"token_ttl": 10**6})
    acct, t = connect(c)
    tok = t["access_token"]
    bob, bt = connect(c, "bob@example.com", "Bob")
    btok = bt["access_token"]
    sfid = share(c, tok, "/PD/Track").json()["shared_folder_id"]
    put(c, acct, "/PD/Track/mix.wav", b"mix")
    put(c, bob, "/Track/mine.txt", b"bob's own")       # the name is taken in Bob's home
    assert c.rpc("sharing/mount_folder", {"shared_folder_id": sfid},
                 token=btok).json()["error"] == {".tag": "access_error",
                                                 "access_error": {".tag": "not_a_member"}}
    assert invite(c, tok, sfid, "bob@example.com", level="viewer").status == 200
    mf = c.rpc("sharing/list_mountable_folders", {}, token=btok).json()
    assert [e["shared_folder_id"] for e in mf["entries"]] == [sfid]
    assert "path_lower" not in mf["entries"][0]
    assert c.rpc("sharing/list_folders", {}, token=btok).json()["entries"] == []
    gm = c.rpc("sharing/get_folder_metadata", {"shared_folder_id": sfid}, token=btok).json()
    assert gm["access_type"] == {".tag": "viewer"} and "path_lower" not in gm
    # normal: mount_folder accepts and assigns a path, renamed on a clash
    feed = lambda k: c.rpc("files/list_folder", {"path": "", "recursive": True},  # noqa
                           token=k).json()["cursor"]
    bcur, acur = feed(btok), feed(tok)
    d = c.rpc("sharing/mount_folder", {"shared_folder_id": sfid}, token=btok).json()
    assert d["path_lower"] == "/track (1)" and d["access_type"] == {".tag": "viewer"}
    r = c.rpc("files/list_folder/continue", {"cursor": bcur}, token=btok).json()
    assert [e["path_display"] for e in r["entries"]] == ["/Track (1)", "/Track (1)/mix.wav"]
    assert c.rpc("files/list_folder/continue", {"cursor": acur},
                 token=tok).json()["entries"] == []
    r = c.rpc("sharing/mount_folder", {"shared_folder_id": sfid}, token=btok)
    assert r.json()["error"] == {".tag": "already_mounted"}
    lf = c.rpc("sharing/list_folders", {}, token=btok).json()["entries"]
    assert [e["path_lower"] for e in lf] == ["/track (1)"]
    m = c.rpc("sharing/list_folder_members", {"shared_folder_id": sfid}, token=tok).json()
    assert [u["user"]["email"] for u in m["users"]] == ["ann@example.com", "bob@example.com"]
    assert m["invitees"] == []
    # the member reads through the mount (same folder id); a viewer cannot write
    md = c.rpc("files/get_metadata", {"path": "/Track (1)"}, token=btok).json()
    assert md["sharing_info"]["read_only"] is True and md["id"] == d["folder_id"]
    assert c.rpc("files/get_metadata", {"path": d["folder_id"] + "/mix.wav"},
                 token=btok).json()["path_display"] == "/Track (1)/mix.wav"
    lk = c.rpc("files/get_temporary_link", {"path": "/track (1)/mix.wav"}, token=btok).json()
    assert c.request("GET", urlsplit(lk["link"]).path).body == b"mix"
    r = c.rpc("files/create_folder_v2", {"path": "/Track (1)/new"}, token=btok)
    assert r.json()["error"] == {".tag": "path", "path": {".tag": "no_write_permission"}}
    # must_automount and not_mountable refuse the API mount
    cy, ct = connect(c, "cy@example.org", "Cy")
    c.ctl("POST", f"accounts/{cy['account_id']}/mount_mode", {"mode": "must_automount"})
    assert invite(c, tok, sfid, "cy@example.org").status == 200
    r = c.rpc("sharing/mount_folder", {"shared_folder_id": sfid}, token=ct["access_token"])
    assert r.json()["error"] == {".tag": "must_automount"}
    acc = c.ctl("POST", "accept_invite", {"email": "cy@example.org",
                                          "shared_folder_id": sfid})
    assert acc == {"accepted": [sfid], "mounted": [{"shared_folder_id": sfid,
                                                    "path": "/Track"}]}
    dee, dt = connect(c, "dee@example.org", "Dee")
    c.ctl("POST", f"accounts/{dee['account_id']}/mount_mode", {"mode": "not_mountable"})
    assert invite(c, tok, sfid, "dee@example.org").status == 200
    r = c.rpc("sharing/mount_folder", {"shared_folder_id": sfid}, token=dt["access_token"])
    assert r.json()["error"] == {".tag": "not_mountable"}
    # automount: a business member's folder is mounted as soon as they are invited
    biz, zt = connect(c, "biz@acme.test", "Biz", team={"name": "Acme", "home_path": "/Biz"})
    c.ctl("POST", f"accounts/{biz['account_id']}/mount_mode", {"mode": "automount"})
    assert invite(c, tok, sfid, "biz@acme.test").status == 200
    ztok = zt["access_token"]
    lf = c.rpc("sharing/list_folders", {}, token=ztok).json()["entries"]
    assert [e["path_lower"] for e in lf] == ["/track"]
    root = {"Dropbox-API-Path-Root": json.dumps({".tag": "root",
                                                 "root": biz["root_namespace_id"]})}
    gm = c.rpc("sharing/get_folder_metadata", {"shared_folder_id": sfid}, token=ztok,
               headers=root).json()
    assert gm["path_display"] == "/Biz/Track"
    r = c.rpc("sharing/mount_folder", {"shared_folder_id": sfid}, token=ztok)
    assert r.json()["error"] == {".tag": "already_mounted"}
    # list_folders paging; the owner's folder is not "mountable"
    for i in range(3):
        share(c, tok, f"/More{i}")
    r = c.rpc("sharing/list_folders", {"limit": 2}, token=tok).json()
    names = [e["name"] for e in r["entries"]]
    r = c.rpc("sharing/list_folders/continue", {"cursor": r["cursor"]}, token=tok).json()
    names += [e["name"] for e in r["entries"]]
    assert names == ["Track", "More0", "More1", "More2"] and "cursor" not in r
    assert c.rpc("sharing/list_mountable_folders", {}, token=tok).json() == {"entries": []}
    r = c.rpc("sharing/list_mountable_folders/continue", {"cursor": "x"}, token=tok)
    assert r.json()["error"] == {".tag": "invalid_cursor"}
    r = c.rpc("sharing/get_folder_metadata", {"shared_folder_id": sfid},
              token=connect(c, "eve@example.com", "Eve")[1]["access_token"])
    assert r.json()["error"] == {".tag": "not_a_member"}
    sf = [f for f in c.ctl("GET", "shared_folders")["shared_folders"]
          if f["shared_folder_id"] == sfid][0]
    assert sf["path"] == "/PD/Track" and sf["owner"] == acct["account_id"]
    assert {m["email"]: m["access_level"] for m in sf["members"]} == {
        "ann@example.com": "owner", "bob@example.com": "viewer", "cy@example.org": "editor",
        "biz@acme.test": "editor"}
    assert [i["email"] for i in sf["invitees"]] == ["dee@example.org"]
    assert {m["path"] for m in sf["mounts"]} == {"/PD/Track", "/Track (1)", "/Track"}
    assert effects(c)["mounts"] == 3 and effects(c)["members_added"] == 3


def test_sharing_scopes_and_call_style(c):
    c.ctl("POST", "apps", {"client_id": "ro", "client_secret": "s",
                           "scopes": ["sharing.read"]})
    acct = c.ctl("POST", "accounts", {"email": "a@example.com", "display_name": "A"})
    p = redirect_params(authorize(c, client_id="ro"))
    tok = token_call(c, {"grant_type": "authorization_code", "code": p["code"],
                         "client_id": "ro", "client_secret": "s",
                         "redirect_uri": REDIRECT}).json()["access_token"]
    r = share(c, tok, "/X")
    assert r.status == 401 and r.json()["error"] == {".tag": "missing_scope",
                                                     "required_scope": "sharing.write"}
    assert c.rpc("sharing/list_folders", None, token=tok).status == 200
    assert c.rpc("sharing/list_folders", {}, token=tok).json() == {"entries": []}
    r = c.request("POST", "/2/sharing/list_folders", b"{}",
                  {"Authorization": "Bearer " + tok,
                   "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400
    assert acct["mount_mode"] == "normal"


# ---------------------------------------------------------------- uploads

from dropbox_standin.blobs import content_hash_of  # noqa: E402

OCTET = "application/octet-stream"


def up(c, tok, route, arg, data=b"", ctype=OCTET, timeout=60, headers=None):
    """An upload-style call: the argument in Dropbox-API-Arg, the bytes as the body."""
    h = dict(headers or {})
    h.update({"Authorization": "Bearer " + tok, "Dropbox-API-Arg": json.dumps(arg)})
    if ctype is not None:
        h["Content-Type"] = ctype
    return c.request("POST", "/2/files/" + route, data, h, timeout=timeout)


def cursor(sid, offset):
    return {"session_id": sid, "offset": offset}


def uploads_state(c):
    return c.ctl("GET", "uploads")


def session_of(c, sid):
    return next(s for s in uploads_state(c)["sessions"] if s["session_id"] == sid)


def err_of(r, status=409):
    assert r.status == status, (r.status, r.text)
    return r.json()


def test_upload_simple_conflicts_hash_and_payload_too_large(c):
    acct, t = connect(c)
    tok = t["access_token"]
    aid = acct["account_id"]
    # call style: wrong or missing Content-Type is a 400 text, even with no body
    for ct in ("application/json", None):
        r = up(c, tok, "upload", {"path": "/E/x.txt"}, b"", ctype=ct)
        assert r.status == 400 and r.header("Content-Type").startswith("text/plain")
        assert r.text.startswith('Error in call to API function "files/upload": '
                                 'Bad HTTP "Content-Type" header')
    r = c.request("POST", "/2/files/upload", b"x",
                  {"Authorization": "Bearer " + tok, "Content-Type": OCTET})
    assert r.status == 400 and "Dropbox-API-Arg" in r.text
    assert up(c, tok, "upload", {"path": "/"}, b"x").status == 400
    assert up(c, tok, "upload", {"path": "/E/x.txt", "mode": "push"}, b"x").status == 400
    assert up(c, tok, "upload", {"path": "/E/x.txt", "bogus": 1}, b"x").status == 400

    # a new file: FileMetadata without .tag, parents created
    data = os.urandom(5 << 20)      # two 4 MiB hash blocks
    r = up(c, tok, "upload", {"path": "/Exports/Mix.wav",
                              "client_modified": "2024-05-06T07:08:09Z",
                              "content_hash": content_hash_of(data)}, data)
    assert r.status == 200, r.text
    m = r.json()
    assert ".tag" not in m and m["path_display"] == "/Exports/Mix.wav"
    assert m["size"] == len(data) and m["content_hash"] == content_hash_of(data)
    assert m["client_modified"] == "2024-05-06T07:08:09Z"
    q = urlencode({"account_id": aid, "path": "/Exports/Mix.wav"})
    d = c.ctl("GET", "file_sha256?" + q)
    assert d["sha256"] == hashlib.sha256(data).hexdigest() and d["rev"] == m["rev"]
    assert c.request("GET", "/__control/file_content?" + q).body == data
    # add + identical content: nothing is written, same rev
    r = up(c, tok, "upload", {"path": "/exports/mix.wav"}, data)
    assert r.status == 200 and r.json()["rev"] == m["rev"]
    # ... unless strict_conflict
    e = err_of(up(c, tok, "upload", {"path": "/Exports/Mix.wav", "strict_conflict": True},
                  data))
    assert e["error"]["reason"] == {".tag": "conflict", "conflict": {".tag": "file"}}
    # add + other content: UploadWriteFailed, the data kept in a session
    e = err_of(up(c, tok, "upload", {"path": "/Exports/Mix.wav"}, b"other"))
    assert_summary(e, "path/conflict/file/")
    assert e["error"][".tag"] == "path" and set(e["error"]) == {
        ".tag", "reason", "upload_session_id"}
    sid = e["error"]["upload_session_id"]
    assert sid.startswith("pid_upload_session:")
    r = up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 5), "commit": {
        "path": "/Exports/Mix.wav", "autorename": True}})
    assert r.status == 200 and r.json()["path_display"] == "/Exports/Mix (1).wav"
    r = up(c, tok, "upload", {"path": "/Exports/Mix.wav", "autorename": True}, b"third")
    assert r.json()["name"] == "Mix (2).wav"
    # overwrite keeps the id, gives a new rev
    r = up(c, tok, "upload", {"path": "/Exports/Mix.wav", "mode": "overwrite"}, b"v2")
    m2 = r.json()
    assert m2["id"] == m["id"] and m2["rev"] != m["rev"] and m2["size"] == 2
    # update: the right rev overwrites; a stale one conflicts or is a conflicted copy
    r = up(c, tok, "upload", {"path": "/Exports/Mix.wav",
                              "mode": {".tag": "update", "update": m2["rev"]}}, b"v3")
    assert r.status == 200, r.text
    assert r.json()["id"] == m["id"] and r.json()["rev"] != m2["rev"]
    stale = {".tag": "update", "update": m2["rev"]}
    e = err_of(up(c, tok, "upload", {"path": "/Exports/Mix.wav", "mode": stale}, b"v4"))
    assert e["error"]["reason"]["conflict"] == {".tag": "file"}
    r = up(c, tok, "upload", {"path": "/Exports/Mix.wav", "mode": stale,
                              "autorename": True}, b"v4")
    assert r.json()["name"] == "Mix (conflicted copy).wav"
    assert up(c, tok, "upload", {"path": "/Exports/Mix.wav", "mode": {
        ".tag": "update", "update": "zz"}}, b"v4").status == 400
    # a folder at the path is always a conflict; a file on the way is file_ancestor
    e = err_of(up(c, tok, "upload", {"path": "/Exports", "mode": "overwrite"}, b"f"))
    assert e["error"]["reason"]["conflict"] == {".tag": "folder"}
    r = up(c, tok, "upload", {"path": "/Exports", "autorename": True}, b"f")
    assert r.json()["path_display"] == "/Exports (1)"
    e = err_of(up(c, tok, "upload", {"path": "/Exports/Mix.wav/x"}, b"f"))
    assert_summary(e, "path/conflict/file_ancestor/")
    e = err_of(up(c, tok, "upload", {"path": "/Exports/desktop.ini"}, b"f"))
    assert e["error"]["reason"] == {".tag": "disallowed_name"}
    # id: paths name the file itself
    r = up(c, tok, "upload", {"path": m["id"], "mode": "overwrite"}, b"by id")
    assert r.json()["id"] == m["id"] and r.json()["size"] == 5
    # content_hash
    e = err_of(up(c, tok, "upload", {"path": "/Exports/h.txt",
                                     "content_hash": content_hash_of(b"abd")}, b"abc"))
    assert e["error"] == {".tag": "content_hash_mismatch"}
    assert_summary(e, "content_hash_mismatch/")
    assert up(c, tok, "upload", {"path": "/Exports/h.txt", "content_hash": "ab"},
              b"abc").status == 400
    # payload_too_large (the 150 MiB limit made small)
    c.ctl("POST", "settings", {"upload_max_request_bytes": 1000})
    e = err_of(up(c, tok, "upload", {"path": "/Exports/big.bin"}, b"x" * 1001))
    assert e["error"] == {".tag": "payload_too_large"}
    assert_summary(e, "payload_too_large/")
    assert up(c, tok, "upload", {"path": "/Exports/big.bin"}, b"x" * 1000).status == 200
    # what the control API shows
    st = c.ctl("GET", "uploads?all=1")
    names = [(f["route"], f["path"], f["written"]) for f in st["files"]]
    assert names[:3] == [("files/upload", "/Exports/Mix.wav", True),
                         ("files/upload", "/Exports/Mix.wav", False),
                         ("files/upload_session/finish", "/Exports/Mix (1).wav", True)]
    f0 = st["files"][0]
    assert f0["size"] == len(data) and f0["sha256"] == hashlib.sha256(data).hexdigest()
    listed = {f["path_display"]: f for f in c.ctl("GET", "files?account_id=" + aid)["files"]}
    assert listed["/Exports/Mix (1).wav"]["sha256"] == hashlib.sha256(b"other").hexdigest()
    assert listed["/Exports/big.bin"]["size"] == 1000
    assert st["spool"]["request_bodies"] == 0
    # uploaded bytes zip with their CRC (zipfile checks it)
    z = zipfile.ZipFile(io.BytesIO(zip_call(c, tok, "/Exports").body))
    assert z.read("Exports/Mix (1).wav") == b"other"
    assert z.read("Exports/Mix (2).wav") == b"third"
    # a team root: only admins write at its top; the member's home is fine
    tacct, tt = connect(c, "tim@example.com", "Tim", team={"name": "Lbl",
                                                          "home_path": "/Tim"})
    root = {"Dropbox-API-Path-Root": json.dumps({".tag": "root",
                                                 "root": tacct["root_namespace_id"]})}
    e = err_of(up(c, tt["access_token"], "upload", {"path": "/top.txt"}, b"t",
                  headers=root))
    assert e["error"]["reason"] == {".tag": "no_write_permission"}
    r = up(c, tt["access_token"], "upload", {"path": "/Tim/in.txt"}, b"t", headers=root)
    assert r.status == 200 and r.json()["path_display"] == "/Tim/in.txt"
    assert c.ctl("GET", "uploads?account_id=" + tacct["account_id"])["files"][0][
        "home_path"] == "/in.txt"


def test_upload_session_appends_finish_and_errors(c):
    acct, t = connect(c)
    tok = t["access_token"]
    aid = acct["account_id"]
    parts = [os.urandom(n) for n in (3 << 20, 5 << 20, 1 << 20, 7 << 20, 12345)]
    whole = b"".join(parts)
    r = up(c, tok, "upload_session/start", {}, parts[0])
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    sid = r.json()["session_id"]
    assert sid.startswith("pid_upload_session:")
    off = len(parts[0])
    for p in parts[1:4]:
        r = up(c, tok, "upload_session/append_v2",
               {"cursor": cursor(sid, off), "close": False}, p)
        assert r.status == 200 and r.body == b"null"
        off += len(p)
    assert session_of(c, sid)["offset"] == off
    # a wrong offset: append answers at the top level, finish under lookup_failed
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 7)}, b"x"))
    assert e["error"] == {".tag": "incorrect_offset", "correct_offset": off}
    assert_summary(e, "incorrect_offset/")
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, off + 1),
                                                    "commit": {"path": "/S/f.bin"}}))
    assert e["error"] == {".tag": "lookup_failed", "lookup_failed": {
        ".tag": "incorrect_offset", "correct_offset": off}}
    assert_summary(e, "lookup_failed/incorrect_offset/")
    # the fault incorrect_offset: the true offset, and the chunk is not applied
    c.ctl("POST", "faults", {"route": "files/upload_session/append_v2",
                             "kind": "incorrect_offset"})
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, off)}, b"zz"))
    assert e["error"] == {".tag": "incorrect_offset", "correct_offset": off}
    c.ctl("POST", "faults", {"route": "*", "kind": "incorrect_offset"})
    assert c.rpc("files/create_folder_v2", {"path": "/S"}, token=tok).status == 200
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, off),
                                                    "commit": {"path": "/S/f.bin"}}, b"zz"))
    assert e["error"]["lookup_failed"] == {".tag": "incorrect_offset", "correct_offset": off}
    assert session_of(c, sid)["offset"] == off
    log = c.ctl("GET", "calls/log?route=files/upload_session/finish")["calls"]
    assert log[-1]["fault"] == "incorrect_offset" and log[-1]["status"] == 409
    assert c.request("POST", "/__control/faults", {"route": "files/upload",
                                                   "kind": "incorrect_offset"}).status == 400
    # content_hash of the chunk; payload_too_large; too_large
    e = err_of(up(c, tok, "upload_session/append_v2", {
        "cursor": cursor(sid, off), "content_hash": content_hash_of(b"y")}, b"x"))
    assert e["error"] == {".tag": "content_hash_mismatch"}
    c.ctl("POST", "settings", {"upload_max_request_bytes": 4 << 20})
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, off)},
                  b"x" * ((4 << 20) + 1)))
    assert e["error"] == {".tag": "payload_too_large"}
    c.ctl("POST", "settings", {"upload_max_request_bytes": 150 << 20,
                               "upload_max_file_bytes": off + 10})
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, off)},
                  b"x" * 11))
    assert e["error"] == {".tag": "too_large"}
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, off),
                                                    "commit": {"path": "/S/f.bin"}},
                  b"x" * 11))
    assert e["error"] == {".tag": "lookup_failed", "lookup_failed": {".tag": "too_large"}}
    c.ctl("POST", "settings", {"upload_max_file_bytes": 1 << 40})
    assert session_of(c, sid)["offset"] == off
    # finish with the last bytes; the content is right
    r = up(c, tok, "upload_session/finish", {
        "cursor": cursor(sid, off), "commit": {"path": "/S/f.bin", "mode": "add"},
        "content_hash": content_hash_of(parts[4])}, parts[4])
    assert r.status == 200, r.text
    m = r.json()
    assert ".tag" not in m and m["size"] == len(whole)
    assert m["content_hash"] == content_hash_of(whole)
    d = c.ctl("GET", "file_sha256?" + urlencode({"account_id": aid, "path": "/S/f.bin"}))
    assert d["sha256"] == hashlib.sha256(whole).hexdigest()
    s = session_of(c, sid)
    assert s["finished"] and not s["spooled"] and s["offset"] == len(whole)
    # a finished session is gone
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, s["offset"])},
                  b"x"))
    assert e["error"] == {".tag": "not_found"}
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, s["offset"]),
                                                    "commit": {"path": "/S/g.bin"}}))
    assert e["error"] == {".tag": "lookup_failed", "lookup_failed": {".tag": "not_found"}}
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor("nope", 0)}, b""))
    assert e["error"] == {".tag": "not_found"}

    # close: no more appends; finish with data is lookup_failed/closed, empty is fine
    sid = up(c, tok, "upload_session/start", {"close": False}, b"").json()["session_id"]
    assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 0), "close": True},
              b"abc").status == 200
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 3)}, b"d"))
    assert e["error"] == {".tag": "closed"}
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 3),
                                                    "commit": {"path": "/S/c.txt"}}, b"d"))
    assert e["error"] == {".tag": "lookup_failed", "lookup_failed": {".tag": "closed"}}
    # empty finish without Content-Type: still a 400
    r = up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 3),
                                             "commit": {"path": "/S/c.txt"}}, ctype=None)
    assert r.status == 400 and "Content-Type" in r.text
    # a path error keeps the data: retry with an empty body
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 3),
                                                    "commit": {"path": "/S/f.bin"}}))
    assert e["error"] == {".tag": "path", "path": {".tag": "conflict",
                                                  "conflict": {".tag": "file"}}}
    assert_summary(e, "path/conflict/file/")
    r = up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 3), "commit": {
        "path": "/S/f.bin", "autorename": True}})
    assert r.json()["path_display"] == "/S/f (1).bin" and r.json()["size"] == 3
    # another account cannot use a session
    sid = up(c, tok, "upload_session/start", {}, b"mine").json()["session_id"]
    _, t2 = connect(c, "bob@example.com", "Bob")
    e = err_of(up(c, t2["access_token"], "upload_session/append_v2",
                  {"cursor": cursor(sid, 4)}, b"x"))
    assert e["error"] == {".tag": "not_found"}

    # concurrent sessions: 4 MiB pieces in any order, finish with no data
    r = up(c, tok, "upload_session/start", {"session_type": "concurrent"}, b"x")
    assert err_of(r)["error"] == {".tag": "concurrent_session_data_not_allowed"}
    sid = up(c, tok, "upload_session/start", {"session_type": "concurrent"}).json()[
        "session_id"]
    blk = 4 << 20
    cc = [os.urandom(blk), os.urandom(blk), os.urandom(999)]
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 5)}, cc[0]))
    assert e["error"] == {".tag": "concurrent_session_invalid_offset"}
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 0)}, b"x"))
    assert e["error"] == {".tag": "concurrent_session_invalid_data_size"}
    for i in (1, 0):
        assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, i * blk)},
                  cc[i]).status == 200
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 2 * blk),
                                                    "commit": {"path": "/S/cc.bin"}}))
    assert e["error"] == {".tag": "concurrent_session_not_closed"}
    assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 2 * blk),
                                                   "close": True}, cc[2]).status == 200
    r = up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 2 * blk + 999),
                                             "commit": {"path": "/S/cc.bin"}})
    assert r.status == 200 and r.json()["content_hash"] == content_hash_of(b"".join(cc))


def test_upload_session_lost_responses_and_faults(c):
    acct, t = connect(c)
    tok = t["access_token"]
    aid = acct["account_id"]
    parts = [os.urandom(1 << 20) for _ in range(4)]
    sid = up(c, tok, "upload_session/start", {}, parts[0]).json()["session_id"]
    # 503 and 429 are answered before anything is applied
    c.ctl("POST", "faults", {"route": "files/upload_session/append_v2", "kind": "503",
                             "retry_after": 1})
    r = up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 1 << 20)}, parts[1])
    assert r.status == 503 and r.header("Retry-After") == "1"
    c.ctl("POST", "faults", {"route": "files/upload_session/append_v2", "kind": "429"})
    assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 1 << 20)},
              parts[1]).status == 429
    assert session_of(c, sid)["offset"] == 1 << 20
    # drop: the chunk is applied, the answer lost; the retry learns correct_offset
    c.ctl("POST", "faults", {"route": "files/upload_session/append_v2", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 1 << 20)}, parts[1])
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 1 << 20)},
                  parts[1]))
    assert e["error"] == {".tag": "incorrect_offset", "correct_offset": 2 << 20}
    off = e["error"]["correct_offset"]
    assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, off)},
              parts[2]).status == 200
    # hang on finish: the client times out, the call still completes afterwards
    c.ctl("POST", "faults", {"route": "files/upload_session/finish", "kind": "hang",
                             "hang_seconds": 1})
    with pytest.raises(socket.timeout):
        up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 3 << 20),
                                             "commit": {"path": "/L/a.bin"}}, parts[3],
           timeout=0.3)
    deadline = time.time() + 5
    while not session_of(c, sid)["finished"] and time.time() < deadline:
        time.sleep(0.05)
    # drop on finish: the file is there; a retry finds the session gone
    sid2 = up(c, tok, "upload_session/start", {}, b"tail").json()["session_id"]
    c.ctl("POST", "faults", {"route": "files/upload_session/finish", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        up(c, tok, "upload_session/finish", {"cursor": cursor(sid2, 4),
                                             "commit": {"path": "/L/b.bin"}})
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid2, 4),
                                                    "commit": {"path": "/L/b.bin"}}))
    assert e["error"]["lookup_failed"] == {".tag": "not_found"}
    # drop on upload: written; the identical retry is a no-op
    c.ctl("POST", "faults", {"route": "files/upload", "kind": "drop"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        up(c, tok, "upload", {"path": "/L/c.bin"}, b"cc")
    assert up(c, tok, "upload", {"path": "/L/c.bin"}, b"cc").status == 200
    # write contention on upload: the route's own WriteError, the data kept
    c.ctl("POST", "faults", {"route": "files/upload", "kind": "409_write_contention"})
    e = err_of(up(c, tok, "upload", {"path": "/L/d.bin"}, b"dd"))
    assert e["error"]["reason"] == {".tag": "too_many_write_operations"}
    assert up(c, tok, "upload_session/finish", {
        "cursor": cursor(e["error"]["upload_session_id"], 2),
        "commit": {"path": "/L/d.bin"}}).status == 200
    files = {f["path_display"]: f for f in c.ctl("GET", "files?account_id=" + aid)["files"]}
    assert files["/L/a.bin"]["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert sorted(p for p in files if p.startswith("/L/")) == [
        "/L/a.bin", "/L/b.bin", "/L/c.bin", "/L/d.bin"]
    st = uploads_state(c)
    assert [(f["route"], f["path"]) for f in st["files"]] == [
        ("files/upload_session/finish", "/L/a.bin"),
        ("files/upload_session/finish", "/L/b.bin"),
        ("files/upload", "/L/c.bin"),                   # the no-op retry is not listed
        ("files/upload_session/finish", "/L/d.bin")]
    assert [f["written"] for f in c.ctl("GET", "uploads?all=1")["files"]] == [
        True, True, True, False, True]
    assert st["spool"]["sessions"] == 0 and st["spool"]["request_bodies"] == 0


def test_upload_session_expires_after_7_days(c):
    c.ctl("POST", "settings", {"token_ttl": 10**7})     # outlive the clock jumps
    acct, t = connect(c, "cat@example.com", "Cat")
    tok = t["access_token"]
    sid = up(c, tok, "upload_session/start", {}, b"abc").json()["session_id"]
    c.ctl("POST", "clock", {"advance": 7 * 86400 - 60})
    assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 3)},
              b"def").status == 200
    assert uploads_state(c)["spool"]["sessions"] == 1
    c.ctl("POST", "clock", {"advance": 120})
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(sid, 6)}, b"g"))
    assert e["error"] == {".tag": "not_found"}
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(sid, 6),
                                                    "commit": {"path": "/x.bin"}}))
    assert e["error"] == {".tag": "lookup_failed", "lookup_failed": {".tag": "not_found"}}
    st = uploads_state(c)
    s = next(s for s in st["sessions"] if s["session_id"] == sid)
    assert s["expired"] and not s["spooled"] and s["offset"] == 6
    assert st["spool"]["sessions"] == 0
    # reset forgets sessions and deletes uploaded bytes
    sid = up(c, tok, "upload_session/start", {}, b"abc").json()["session_id"]
    up(c, tok, "upload", {"path": "/y.bin"}, b"y")
    assert uploads_state(c)["spool"]["sessions"] == 1
    c.ctl("POST", "reset")
    st = uploads_state(c)
    assert st["sessions"] == [] and st["files"] == []
    assert st["spool"]["sessions"] == 0 and st["spool"]["files"] == 0


def test_upload_session_200_mib_keeps_rss_small(c, standin):
    proc, port = standin
    acct, t = connect(c)
    tok = t["access_token"]
    chunk = 48 << 20
    total = 200 << 20
    want = hashlib.sha256()
    base_rss = _rss_kb(proc.pid)
    peak = [base_rss]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kb(proc.pid))
            time.sleep(0.02)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        sid = up(c, tok, "upload_session/start", {}).json()["session_id"]
        off = 0
        while off < total:
            n = min(chunk, total - off)
            data = blob_bytes(total, "up200", off, off + n)
            want.update(data)
            last = off + n == total
            r = up(c, tok, "upload_session/append_v2",
                    {"cursor": cursor(sid, off), "close": last}, data)
            assert r.status == 200, r.text
            off += n
            del data
        r = up(c, tok, "upload_session/finish", {"cursor": cursor(sid, total),
                                                 "commit": {"path": "/Big/export.wav"}})
        assert r.status == 200, r.text
    finally:
        stop.set()
        w.join()
    assert r.json()["size"] == total
    d = c.ctl("GET", "file_sha256?" + urlencode({"account_id": acct["account_id"],
                                                 "path": "/Big/export.wav"}))
    assert d["sha256"] == want.hexdigest()
    grown_mb = (peak[0] - base_rss) / 1024
    print(f"RSS base {base_rss} kB, peak {peak[0]} kB")
    assert grown_mb < 40, f"stand-in RSS grew by {grown_mb:.0f} MiB during the upload"
    st = uploads_state(c)
    assert st["spool"]["files"] == 1 and st["spool"]["bytes"] == total
    # the uploaded bytes stream back through a temporary link
    r = c.rpc("files/get_temporary_link", {"path": "/Big/export.wav"}, token=tok)
    link = urlsplit(r.json()["link"])
    r = c.request("GET", link.path, headers={"Range": "bytes=100000000-100000999"})
    assert r.status == 206 and r.body == blob_bytes(total, "up200", 100000000, 100001000)


# ---------------------------------------------------------------- issue 14: real answers

def test_expired_token_fault_after_n_calls_and_refresh_count(c):
    acct, t = connect(c)
    tok = t["access_token"]
    s = up(c, tok, "upload_session/start", {}, b"ab").json()["session_id"]
    c.ctl("POST", "faults", {"route": "files/upload_session/append_v2", "kind": "expired_token",
                             "after": 1})
    assert up(c, tok, "upload_session/append_v2", {"cursor": cursor(s, 2)}, b"cd").status == 200
    e = err_of(up(c, tok, "upload_session/append_v2", {"cursor": cursor(s, 4)}, b"ef"), 401)
    assert e["error"] == {".tag": "expired_access_token"}
    # the token really expired: any call with it now answers 401
    assert c.rpc("users/get_current_account", token=tok, void=True).status == 401
    assert c.ctl("GET", "tokens")["refresh_grants"] == 0
    r = token_call(c, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                       "client_id": APP, "client_secret": SECRET})
    tok2 = r.json()["access_token"]
    assert c.ctl("GET", "tokens")["refresh_grants"] == 1
    # the session lives on: the chunk that was refused goes again
    assert up(c, tok2, "upload_session/append_v2", {"cursor": cursor(s, 4)}, b"ef").status == 200
    assert session_of(c, s)["offset"] == 6
    # on a download too
    put(c, acct, "/Z/a.txt", b"a")
    c.ctl("POST", "faults", {"route": "files/download_zip", "kind": "expired_token"})
    r = c.request("POST", "/2/files/download_zip", None,
                  {"Authorization": "Bearer " + tok2, "Dropbox-API-Arg": '{"path": "/Z"}'})
    assert r.status == 401 and r.json()["error"][".tag"] == "expired_access_token"
    r = c.request("POST", "/__control/faults", {"route": "x", "kind": "429", "after": -1})
    assert r.status == 400


def test_finish_write_contention_is_nested_in_path(c):
    acct, t = connect(c)
    tok = t["access_token"]
    s = up(c, tok, "upload_session/start", {}, b"ab").json()["session_id"]
    c.ctl("POST", "faults", {"route": "files/upload_session/finish",
                             "kind": "409_write_contention"})
    e = err_of(up(c, tok, "upload_session/finish", {"cursor": cursor(s, 2),
                                                    "commit": {"path": "/F/a.bin"}}))
    assert e["error"] == {".tag": "path", "path": {".tag": "too_many_write_operations"}}
    assert_summary(e, "path/too_many_write_operations/")
    # nothing was taken: the same finish goes through
    assert up(c, tok, "upload_session/finish", {"cursor": cursor(s, 2),
                                                "commit": {"path": "/F/a.bin"}}).status == 200


def test_raw_del_in_dropbox_api_arg_is_refused(c):
    acct, t = connect(c)

    def upload(arg_text):
        return c.request("POST", "/2/files/upload", b"x",
                         {"Authorization": "Bearer " + t["access_token"],
                          "Content-Type": OCTET, "Dropbox-API-Arg": arg_text})
    r = upload('{"path": "/a\x7fb.bin"}')
    assert r.status == 400 and "could not decode input as JSON" in r.text
    r = upload('{"path": "/a\\u007fb.bin"}')
    assert r.status == 200, r.text
    assert r.json()["name"] == "a\x7fb.bin"


def test_team_membership_changes_give_invalid_root(c):
    acct, t = connect(c, team={"name": "A", "home_path": "/Ann"})
    tok = t["access_token"]
    old = c.rpc("users/get_current_account", token=tok, void=True).json()["root_info"]
    assert old[".tag"] == "team"
    hdr = {"Dropbox-API-Path-Root": json.dumps({".tag": "root",
                                                "root": old["root_namespace_id"]})}
    assert c.rpc("files/list_folder", {"path": ""}, token=tok, headers=hdr).status == 200
    moved = c.ctl("POST", "team_membership", {"account_id": acct["account_id"],
                                              "team": {"name": "B", "home_path": "/Ann"}})
    assert moved["root_info"][".tag"] == "team"
    assert moved["root_info"]["root_namespace_id"] != old["root_namespace_id"]
    assert moved["root_info"]["home_namespace_id"] == old["home_namespace_id"]
    e = err_of(c.rpc("files/list_folder", {"path": ""}, token=tok, headers=hdr), 422)
    assert e["error"] == {".tag": "invalid_root", "invalid_root": moved["root_info"]}
    assert_summary(e, "invalid_root/")
    # left the team: root_info user
    left = c.ctl("POST", "team_membership", {"account_id": acct["account_id"], "team": None})
    assert left["root_info"][".tag"] == "user" and left["account"]["team"] is None
    e = err_of(c.rpc("files/list_folder", {"path": ""}, token=tok, headers=hdr), 422)
    assert e["error"]["invalid_root"][".tag"] == "user"
    assert c.rpc("files/list_folder", {"path": ""}, token=tok).status == 200
    r = c.request("POST", "/__control/team_membership", {"account_id": acct["account_id"]})
    assert r.status == 400


def test_team_without_team_space_has_user_root(c):
    acct, t = connect(c, team={"name": "Small", "space": False})
    me = c.rpc("users/get_current_account", token=t["access_token"], void=True).json()
    assert me["root_info"][".tag"] == "user"
    assert me["root_info"]["root_namespace_id"] == me["root_info"]["home_namespace_id"]
    assert me["team"]["name"] == "Small"


def test_list_folder_page_max_and_cursor_reset_fault(c):
    acct, t = connect(c)
    tok = t["access_token"]
    for i in range(25):
        put(c, acct, f"/P/f{i:02}.txt", b"x")
    c.ctl("POST", "settings", {"list_folder_page_max": 10})
    r = c.rpc("files/list_folder", {"path": "/P", "limit": 500}, token=tok).json()
    assert len(r["entries"]) == 10 and r["has_more"]
    c.ctl("POST", "faults", {"route": "files/list_folder/continue", "kind": "cursor_reset"})
    e = err_of(c.rpc("files/list_folder/continue", {"cursor": r["cursor"]}, token=tok))
    assert e["error"] == {".tag": "reset"}
    names = []
    r = c.rpc("files/list_folder", {"path": "/P", "limit": 500}, token=tok).json()
    names += [x["name"] for x in r["entries"]]
    while r["has_more"]:
        r = c.rpc("files/list_folder/continue", {"cursor": r["cursor"]}, token=tok).json()
        names += [x["name"] for x in r["entries"]]
    assert sorted(names) == [f"f{i:02}.txt" for i in range(25)]
    r = c.request("POST", "/__control/faults", {"route": "files/upload",
                                                "kind": "cursor_reset"})
    assert r.status == 400


# ---------------------------------------------------------------- single files (issue 14)

def add_file(c, tok, path, *emails, **kw):
    return c.rpc("sharing/add_file_member", dict(
        {"file": path, "members": [{".tag": "email", "email": e} for e in emails]}, **kw),
        token=tok)


def test_add_file_member_results_per_member(c):
    c.ctl("POST", "settings", {"token_ttl": 10**6})
    acct, t = connect(c)
    tok = t["access_token"]
    bob = c.ctl("POST", "accounts", {"email": "bob@example.com", "display_name": "Bob B"})
    put(c, acct, "/PD/mix.wav", b"mix")
    c.ctl("POST", "invalid_emails", {"emails": ["Bounce@Example.org"]})
    r = add_file(c, tok, "/PD/mix.wav", "cy@example.org", "bounce@example.org",
                 "bob@example.com", "not an email")
    assert r.status == 200, r.text
    # a LIST, one result per member in order; one bad address fails only itself
    assert r.json() == [
        {"member": {".tag": "email", "email": "cy@example.org"}, "result": {".tag": "success"}},
        {"member": {".tag": "email", "email": "bounce@example.org"},
         "result": {".tag": "member_error", "member_error": {".tag": "invalid_member"}}},
        {"member": {".tag": "email", "email": "bob@example.com"}, "result": {".tag": "success"}},
        {"member": {".tag": "email", "email": "not an email"},
         "result": {".tag": "member_error", "member_error": {".tag": "invalid_member"}}}]
    assert effects(c)["file_members_added"] == 2
    # again, other case: success, nobody added twice
    assert add_file(c, tok, "/PD/mix.wav", "CY@example.org").json()[0]["result"] == \
        {".tag": "success"}
    assert effects(c)["file_members_added"] == 2
    inv = [i for i in c.ctl("GET", "invitations")["invitations"] if i.get("file_id")]
    assert [(i["email"], i["access_level"]) for i in inv] == [
        ("cy@example.org", "viewer"), ("bob@example.com", "viewer")]    # default viewer
    fm = c.ctl("GET", "file_members")["files"]
    assert fm[0]["path"] == "/PD/mix.wav"
    assert {m["email"]: m["account_id"] for m in fm[0]["members"]} == {
        "cy@example.org": None, "bob@example.com": bob["account_id"]}
    # route errors: a folder, a missing file, another account's view, malformed args
    put(c, acct, "/PD/Folder/x.wav", b"x")
    r = add_file(c, tok, "/PD/Folder", "d@example.org")
    assert r.status == 409 and r.json()["error"] == {
        ".tag": "access_error", "access_error": {".tag": "is_folder"}}
    assert_summary(r.json(), "access_error/is_folder/")
    r = add_file(c, tok, "/PD/none.wav", "d@example.org")
    assert r.json()["error"] == {".tag": "access_error", "access_error": {".tag": "invalid_file"}}
    assert add_file(c, tok, "PD/mix.wav", "d@example.org").status == 400
    r = c.rpc("sharing/add_file_member", {"file": "/PD/mix.wav"}, token=tok)
    assert r.status == 400 and "members" in r.text
    # the invitation limit and the rate_limit fault: 409 rate_limit, nothing added
    c.ctl("POST", "faults", {"route": "sharing/add_file_member", "kind": "rate_limit"})
    r = add_file(c, tok, "/PD/mix.wav", "d@example.org")
    assert r.status == 409 and r.json()["error"] == {".tag": "rate_limit"}
    c.ctl("POST", "settings", {"daily_invite_limit": 2})
    assert add_file(c, tok, "/PD/mix.wav", "d@example.org").json()["error"] == \
        {".tag": "rate_limit"}
    assert effects(c)["file_members_added"] == 2
    c.ctl("POST", "settings", {"daily_invite_limit": 1000})
    # write contention on the route: 409 too_many_write_operations, nothing added
    c.ctl("POST", "faults", {"route": "sharing/add_file_member", "kind": "409_write_contention"})
    r = add_file(c, tok, "/PD/mix.wav", "d@example.org")
    assert r.status == 409 and r.json()["error"][".tag"] == "too_many_write_operations"
    assert effects(c)["file_members_added"] == 2


def test_list_and_remove_file_members(c):
    c.ctl("POST", "settings", {"token_ttl": 10**6})
    acct, t = connect(c)
    tok = t["access_token"]
    meta = put(c, acct, "/PD/mix.wav", b"mix")
    emails = [f"m{i}@example.org" for i in range(5)]
    assert all(x["result"][".tag"] == "success"
               for x in add_file(c, tok, "/PD/mix.wav", *emails).json())
    fid = c.rpc("files/get_metadata", {"path": "/PD/mix.wav"}, token=tok).json()["id"]
    r = c.rpc("sharing/list_file_members", {"file": fid, "limit": 2}, token=tok)
    assert r.status == 200, r.text
    page = r.json()
    assert page["users"][0]["access_type"] == {".tag": "owner"}
    assert page["users"][0]["user"]["email"] == "ann@example.com"
    seen = [i["invitee"]["email"] for i in page["invitees"]]
    while "cursor" in page:
        page = c.rpc("sharing/list_file_members/continue", {"cursor": page["cursor"]},
                     token=tok).json()
        seen += [i["invitee"]["email"] for i in page["invitees"]]
    assert seen == emails
    assert page["groups"] == []
    r = c.rpc("sharing/list_file_members/continue", {"cursor": "nope"}, token=tok)
    assert r.status == 409 and r.json()["error"] == {".tag": "invalid_cursor"}
    assert c.rpc("sharing/list_file_members", {"file": fid, "limit": 301},
                 token=tok).status == 400
    # remove: success, then member_error for someone not (any more) a member
    r = c.rpc("sharing/remove_file_member_2",
              {"file": "/PD/mix.wav", "member": {".tag": "email", "email": "M1@example.org"}},
              token=tok)
    assert r.status == 200 and r.json()[".tag"] == "success"
    r = c.rpc("sharing/remove_file_member_2",
              {"file": "/PD/mix.wav", "member": {".tag": "email", "email": "m1@example.org"}},
              token=tok)
    assert r.json() == {".tag": "member_error", "member_error": {".tag": "invalid_member"}}
    assert effects(c)["file_members_removed"] == 1
    r = c.rpc("sharing/remove_file_member_2",
              {"file": "/PD", "member": {".tag": "email", "email": "m2@example.org"}}, token=tok)
    assert r.json()["error"] == {".tag": "access_error", "access_error": {".tag": "is_folder"}}
    # a file inside a shared folder: its folder's members are inherited, not removable here
    put(c, acct, "/Shared/take.wav", b"take")
    sfid = share(c, tok, "/Shared").json()["shared_folder_id"]
    assert invite(c, tok, sfid, "fold@example.org").status == 200
    m = c.rpc("sharing/list_file_members", {"file": "/Shared/take.wav"}, token=tok).json()
    assert [(i["invitee"]["email"], i["is_inherited"]) for i in m["invitees"]] == [
        ("fold@example.org", True)]
    m = c.rpc("sharing/list_file_members", {"file": "/Shared/take.wav",
                                            "include_inherited": False}, token=tok).json()
    assert m["invitees"] == []
    r = c.rpc("sharing/remove_file_member_2", {"file": "/Shared/take.wav", "member": {
        ".tag": "email", "email": "fold@example.org"}}, token=tok)
    assert r.status == 409 and r.json()["error"][".tag"] == "no_explicit_access"
    assert meta
