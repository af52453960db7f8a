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


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil", "javascript:alert(1)"])
def test_return_to_must_stay_on_this_site(dropbox_httpd, standin, target):
    h = dropbox_httpd()
    r = h.api("alice").get("/dropbox/connect", params={"return_to": target}, allow_redirects=False)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_field"


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
