"""Connecting Dropbox through httpd and the stand-in: the OAuth code flow with
PKCE, the folder structure for personal and team accounts, status, and
disconnection; and no token ever stored or logged in clear."""

import re
from urllib.parse import urlsplit

import pytest

from pdshare_dropbox import connect, start_connect


def folder_paths(standin, account_id, **ns):
    files = standin.ctl("GET", "files", account_id=account_id, hashes="0", **ns)["files"]
    return {f["path_display"] for f in files if f[".tag"] == "folder"}


def test_connect_personal_account_creates_folders_and_disconnects(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd()
    alice = h.api("alice")
    assert alice.get("/dropbox").json()["connected"] is False

    back = connect(h, "alice", standin, acct["account_id"], return_to="/pd/settings")
    assert back == "/pd/settings?dropbox=connected"

    status = alice.get("/dropbox").json()
    assert status["connected"] is True
    assert status["account_type"] == "personal"
    assert status["email"] == "alice@example.com"
    assert status["folder_path"] == "/PRODUCER-DASHBOARD"
    assert status["token_status"] == "ok"
    assert {"/PRODUCER-DASHBOARD/projects", "/PRODUCER-DASHBOARD/bounces",
            "/PRODUCER-DASHBOARD/stems"} <= folder_paths(standin, acct["account_id"])

    # The code was exchanged with its PKCE verifier (the stand-in checks it
    # against the S256 challenge) and the offline grant gave a refresh token.
    exchange = [c["arg"] for c in standin.call_log("oauth2/token")]
    assert len(exchange) == 1, exchange
    assert exchange[0]["grant_type"] == "authorization_code"
    assert len(exchange[0]["code_verifier"]) >= 43
    assert standin.tokens()["refresh_tokens"], "token_access_type=offline gives a refresh token"

    # Disconnect: the token is revoked at Dropbox and forgotten here.
    r = alice.delete("/dropbox")
    assert r.status_code == 200, r.text
    assert r.json() == {"connected": False, "revoked_at_dropbox": True}
    assert standin.calls().get("auth/token/revoke") == 1
    tokens = standin.tokens()
    assert tokens["refresh_tokens"] and all(t["revoked"] for t in tokens["refresh_tokens"])
    assert all(t["revoked"] for t in tokens["access_tokens"])
    assert alice.get("/dropbox").json()["connected"] is False
    # Folders and files stay.
    assert "/PRODUCER-DASHBOARD/stems" in folder_paths(standin, acct["account_id"])


def test_connect_team_account_uses_home_path_and_path_root(dropbox_httpd, standin):
    acct = standin.account("tess@acme.example", "Tess Team",
                           team={"name": "Acme Records", "home_path": "/Tess Team"})
    h = dropbox_httpd()
    connect(h, "alice", standin, acct["account_id"])
    status = h.api("alice").get("/dropbox").json()
    assert status["account_type"] == "team"
    assert status["team_name"] == "Acme Records"
    assert status["folder_path"] == "/Tess Team/PRODUCER-DASHBOARD"

    creates = standin.call_log("files/create_folder_v2")
    assert len(creates) == 3
    for c in creates:
        root = c["headers"].get("Dropbox-API-Path-Root")
        assert root and '"root"' in root, c
        assert c["arg"]["path"].startswith("/Tess Team/PRODUCER-DASHBOARD/")
    # Seen from the member's home, the folders are where a personal account has them.
    assert "/PRODUCER-DASHBOARD/stems" in folder_paths(standin, acct["account_id"])


def test_folders_that_exist_are_fine(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    standin.put_file(acct["account_id"], "/PRODUCER-DASHBOARD/stems/old.wav", content=b"RIFF")
    h = dropbox_httpd()
    connect(h, "alice", standin, acct["account_id"])
    assert h.api("alice").get("/dropbox").json()["token_status"] == "ok"


def test_denied_authorization_returns_to_the_owner_with_the_reason(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    standin.ctl("POST", "deny_next", {})
    h = dropbox_httpd()
    back = connect(h, "alice", standin, acct["account_id"], return_to="/pd/settings")
    assert back == "/pd/settings?dropbox=error&reason=access_denied"
    assert h.api("alice").get("/dropbox").json()["connected"] is False


def test_state_is_bound_to_the_producer_and_made_up_states_are_refused(dropbox_httpd, standin):
    # Single use is test_state_replayed_is_refused's.
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd()
    _, _, callback = start_connect(h, "alice", standin, acct["account_id"])
    query = urlsplit(callback).query
    # Bob cannot finish Alice's authorization.
    r = h.api("bob").get("/dropbox/callback?" + query, allow_redirects=False)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"
    assert "Location" not in r.headers
    assert h.api("bob").get("/dropbox").json()["connected"] is False
    # A made-up state is refused.
    r = h.api("alice").get("/dropbox/callback?code=x&state=made-up", allow_redirects=False)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"
    assert h.api("alice").get("/dropbox").json()["connected"] is False
    # Neither attempt used up Alice's state: she still finishes her own
    # authorization, and only she is connected.
    r = h.api("alice").get("/dropbox/callback?" + query, allow_redirects=False)
    assert r.status_code == 302, r.text
    assert r.headers["Location"].endswith("dropbox=connected"), r.headers["Location"]
    assert h.api("alice").get("/dropbox").json()["connected"] is True
    assert h.api("bob").get("/dropbox").json()["connected"] is False


def test_state_replayed_is_refused(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd()
    alice = h.api("alice")
    _, _, callback = start_connect(h, "alice", standin, acct["account_id"])
    path = "/dropbox/callback?" + urlsplit(callback).query
    assert alice.get(path, allow_redirects=False).status_code == 302
    r = alice.get(path, allow_redirects=False)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil",
                                    "javascript:alert(1)", 17, ["/pd/settings"]])
def test_return_to_must_stay_on_this_site(dropbox_httpd, standin, target):
    h = dropbox_httpd()
    r = h.api("alice").post("/dropbox/connect", json={"return_to": target})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_field"
    assert oauth_states(h) == 0


def oauth_states(h):
    with h.db() as db:
        return db.execute("SELECT COUNT(*) FROM pds_oauth_states").fetchone()[0]


def test_connect_answers_the_authorize_url_to_a_json_post(dropbox_httpd, standin):
    h = dropbox_httpd()
    r = h.api("alice").post("/dropbox/connect", json={"return_to": "/pd/app/accounts.html"})
    assert r.status_code == 200, r.text
    assert "Location" not in r.headers
    url = r.json()["authorize_url"]
    assert url.startswith(standin.url + "/oauth2/authorize?")
    assert oauth_states(h) == 1
    # No body field at all is fine: the default return_to.
    r = h.api("alice").post("/dropbox/connect", json={})
    assert r.status_code == 200 and r.json()["authorize_url"] != url


def test_connect_cannot_be_started_by_a_navigation_from_another_site(dropbox_httpd, standin):
    """A link or a top-level redirect from another site is a GET: refused, nothing
    stored, Dropbox never asked."""
    acct = standin.account("alice@example.com", "Alice Producer")
    standin.ctl("POST", "next_account", {"account_id": acct["account_id"]})
    h = dropbox_httpd()
    r = h.api("alice").get("/dropbox/connect", params={"return_to": "/pd/settings"})
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert "Location" not in r.headers
    assert oauth_states(h) == 0
    assert h.api("alice").get("/dropbox").json()["connected"] is False


@pytest.mark.parametrize("ctype,body", [
    ("application/x-www-form-urlencoded", "return_to=%2Fpd%2Fsettings"),
    ("text/plain", '{"return_to": "/pd/settings"}'),
    ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'),
])
def test_connect_refuses_a_cross_site_form_post(dropbox_httpd, standin, ctype, body):
    """What an HTML form on another site can send (no preflight): 415, nothing started."""
    h = dropbox_httpd()
    r = h.api("alice").post("/dropbox/connect", data=body, headers={"Content-Type": ctype})
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert oauth_states(h) == 0


def test_connect_refuses_unknown_fields(dropbox_httpd, standin):
    h = dropbox_httpd()
    r = h.api("alice").post("/dropbox/connect", json={"return_to": "/pd/settings",
                                                      "redirect_uri": "https://evil.example/cb"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "unknown_field"
    assert "redirect_uri" in r.json()["error"]["message"]
    assert oauth_states(h) == 0


def test_reconnecting_revokes_the_earlier_tokens_at_dropbox(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd()
    alice = h.api("alice")
    t = alice.create_track(title="Song", alias="song")
    for _ in range(3):
        assert connect(h, "alice", standin, acct["account_id"]).endswith("dropbox=connected")
    live = standin.live_tokens(acct["account_id"])
    assert len(live["refresh_tokens"]) == 1, live
    assert standin.calls().get("auth/token/revoke") == 2
    # The one left is the one the module uses.
    assert alice.get(f"/tracks/{t['id']}/files").json()["dropbox"] == "ok"
    standin.ctl("POST", "expire_access", {"account_id": acct["account_id"]})
    assert alice.get(f"/tracks/{t['id']}/files").json()["dropbox"] == "ok"
    assert len(standin.live_tokens(acct["account_id"])["refresh_tokens"]) == 1


def test_connecting_another_account_revokes_the_first_one_even_when_expired(dropbox_httpd, standin):
    """The earlier access token has expired: it is refreshed, then revoked."""
    first = standin.account("alice@example.com", "Alice Producer")
    second = standin.account("alice@work.example", "Alice at Work")
    h = dropbox_httpd()
    connect(h, "alice", standin, first["account_id"])
    standin.ctl("POST", "expire_access", {"account_id": first["account_id"]})
    connect(h, "alice", standin, second["account_id"])
    assert standin.live_tokens(first["account_id"]) == {"refresh_tokens": [], "access_tokens": []}
    assert len(standin.live_tokens(second["account_id"])["refresh_tokens"]) == 1
    grants = [c["arg"]["grant_type"] for c in standin.call_log("oauth2/token")]
    assert grants == ["authorization_code", "authorization_code", "refresh_token"], grants
    assert h.api("alice").get("/dropbox").json()["email"] == "alice@work.example"


@pytest.mark.log_allow(r"PDS00130: GET /dropbox/callback: the earlier Dropbox connection of "
                       r"alice could not be revoked")
def test_a_failed_revoke_is_logged_and_does_not_block_the_new_connection(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd()
    connect(h, "alice", standin, acct["account_id"])
    standin.fault("auth/token/revoke", "500", count=-1)
    assert connect(h, "alice", standin, acct["account_id"]).endswith("dropbox=connected")
    assert h.api("alice").get("/dropbox").json()["token_status"] == "ok"
    log = h.error_log.read_text()
    warned = [l for l in log.splitlines() if "PDS00130:" in l]
    assert len(warned) == 1 and "[pdshare:warn]" in warned[0], warned
    tokens = standin.tokens()
    for t in tokens["access_tokens"] + tokens["refresh_tokens"]:
        assert t["token"] not in log


def test_no_token_in_the_database_or_the_log(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd(extra=["LogLevel debug"])
    connect(h, "alice", standin, acct["account_id"])
    alice = h.api("alice")
    # Use the tokens: a refresh, and a listing.
    standin.ctl("POST", "expire_access", {"account_id": acct["account_id"]})
    t = alice.create_track(title="Song", alias="song")
    assert alice.get(f"/tracks/{t['id']}/files").json()["dropbox"] == "ok"

    tokens = standin.tokens()
    secrets = [t["token"] for t in tokens["access_tokens"]] + \
              [t["token"] for t in tokens["refresh_tokens"]] + \
              [c["code"] for c in tokens["codes"]]
    assert len(tokens["access_tokens"]) >= 2 and tokens["refresh_tokens"]
    h.stop()
    blobs = h.db_dump()
    assert b"pds_dropbox_accounts" in blobs or b"alice" in blobs, "the dump holds the database"
    log = h.error_log.read_bytes()
    # The scan below means something only if the flow's requests were served
    # at LogLevel debug: httpd's own debug lines for them are there (one
    # authorization per authenticated request: connect, callback, create, list).
    # The module itself writes no line for a connect that goes well.
    granted = re.findall(rb"\[authz_core:debug\] .*\[client 127\.0\.0\.1:\d+\] "
                         rb"AH01626: authorization result of Require valid-user : granted", log)
    assert len(granted) >= 4, log.decode(errors="replace")[-3000:]
    for s in secrets + ["pdsharetestsecret"]:
        assert s.encode() not in blobs, "a Dropbox secret is stored in clear"
        assert s.encode() not in log, "a Dropbox secret is in the error log"


def test_reconnecting_after_the_app_was_removed_in_dropbox_warns_of_nothing(dropbox_httpd, standin):
    """The producer removed the app in Dropbox: the earlier tokens are dead there
    already (the refresh on the way is refused), so there is nothing to revoke and
    nothing to warn about (the fixture fails on a warning)."""
    acct = standin.account("alice@example.com", "Alice Producer")
    h = dropbox_httpd()
    connect(h, "alice", standin, acct["account_id"])
    standin.ctl("POST", "revoke_refresh", {"account_id": acct["account_id"]})
    assert connect(h, "alice", standin, acct["account_id"]).endswith("dropbox=connected")
    assert "PDS00130" not in h.error_log.read_text()
    assert len(standin.live_tokens(acct["account_id"])["refresh_tokens"]) == 1
    assert h.api("alice").get("/dropbox").json()["token_status"] == "ok"
