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


def test_fifty_concurrent_connections(c):
    acct, tok = connect(c)
    results = []
    barrier = threading.Barrier(60)

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

    ts = [threading.Thread(target=one) for _ in range(60)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert results == [(200, acct["account_id"])] * 60


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
