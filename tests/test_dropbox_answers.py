"""Dropbox as it really answers (issue 14): an access token that expires in the
middle of uploads, sessions and downloads; write contention nested in 409s;
a root namespace that changes under a connected producer; names that do not
fit; listings longer than a few pages. The stand-in answers each of these as
Dropbox does (tests/dropbox_standin/answers.py and its faults)."""

import hashlib
import time

import pytest

from pdshare_dropbox import connect

MIB = 1024 * 1024
LEASE = 5
BLOCK = 4 * MIB


def wait_for(fn, timeout=60, every=0.2, what="the condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def storage_lines(h, extra=()):
    d = h.dir / "storage"
    d.mkdir(exist_ok=True)
    return [f"PDShareStorageDir {d}", f"PDShareJobLease {LEASE}", "PDShareExportByStatus all",
            "LimitRequestBody 0"] + list(extra)


def producer(dropbox_httpd, standin, team=None, user="alice"):
    h = dropbox_httpd(start=False)
    h.extra += storage_lines(h)
    h.start()
    acct = standin.account(f"{user}@example.com", user.title(), team=team)
    connect(h, user, standin, acct["account_id"])
    return h, acct, h.api(user)


def export_job(h):
    with h.db() as conn:
        return conn.execute("SELECT state, attempts, last_error, payload FROM pds_jobs"
                            " WHERE kind = 'export_file' ORDER BY created_at DESC").fetchone()


def wait_export(h, timeout=60):
    return wait_for(lambda: (lambda r: r if r and r[0] in ("done", "failed") else None)(
        export_job(h)), timeout=timeout, what="the export job")


def refresh_grants(standin):
    return standin.tokens()["refresh_grants"]


def dropbox_content_hash(data_blocks):
    """Dropbox's content hash: SHA-256 of the SHA-256s of the 4 MiB blocks."""
    outer = hashlib.sha256()
    for b in data_blocks:
        outer.update(hashlib.sha256(b).digest())
    return outer.hexdigest()


class Body:
    """n deterministic bytes, produced as they are sent, in 4 MiB-aligned pieces."""

    def __init__(self, n):
        self.n = n
        self.piece = hashlib.sha256(b"issue14").digest() * (MIB // 32)

    def blocks(self):
        left = self.n
        while left:
            k = min(left, BLOCK)
            whole, rest = divmod(k, MIB)
            yield self.piece * whole + self.piece[:rest]
            left -= k

    def __iter__(self):
        for b in self.blocks():
            for i in range(0, len(b), MIB):
                yield b[i:i + MIB]


# ------------------------------------------------------------------ item 1: expiry

@pytest.mark.log_allow(r"PDS00050")
def test_151_mib_export_survives_token_expiry_between_chunks(dropbox_httpd, standin):
    """A 151 MiB file goes up in an upload session (16 MiB chunks); the token
    expires after the second chunk and the finish meets write contention: one
    refresh, one session, the whole file in Dropbox with its content hash."""
    h, acct, api = producer(dropbox_httpd, standin)
    t = api.create_track(title="Long Night", alias="long-night", sharing_status="released")
    standin.fault("files/upload_session/append_v2", "expired_token", count=1, after=2)
    standin.fault("files/upload_session/finish", "409_write_contention", count=1)
    body = Body(151 * MIB)
    r = api.session.put(api.url(f"/tracks/{t['id']}/upload/stem/long.wav"), data=iter(body),
                        auth=api.auth, headers={"Content-Type": "application/octet-stream"},
                        timeout=300)
    assert r.status_code == 201, r.text
    state, attempts, err, _ = wait_export(h, timeout=120)
    assert state == "done", err
    assert attempts == 1, h.read_error_log()[-3000:]
    assert refresh_grants(standin) == 1
    faults = {f["kind"]: f["hits"] for f in standin.ctl("GET", "faults")["faults"]}
    assert faults == {"expired_token": 1, "409_write_contention": 1}
    assert len(standin.ctl("GET", "uploads")["sessions"]) == 1, "one session, resumed"
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"],
                    path="/PRODUCER-DASHBOARD/stems/long-night/long.wav")
    assert d["size"] == 151 * MIB
    assert d["content_hash"] == dropbox_content_hash(body.blocks())
    f = api.get(f"/tracks/{t['id']}/files").json()["files"]
    assert [x["export"] for x in f if x["name"] == "long.wav"] == ["done"]


@pytest.mark.log_allow(r"PDS00050")
def test_small_export_survives_token_expiry_and_nested_contention(dropbox_httpd, standin):
    h, acct, api = producer(dropbox_httpd, standin)
    t = api.create_track(title="Short", alias="short", sharing_status="released")
    standin.fault("files/upload", "expired_token", count=1)
    standin.fault("files/upload", "409_write_contention", count=1)
    r = api.put(f"/tracks/{t['id']}/upload/bounce/mix.mp3", data=b"x" * 1000,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    state, attempts, err, _ = wait_export(h)
    assert state == "done", err
    assert attempts == 1
    assert refresh_grants(standin) == 1
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"],
                    path="/PRODUCER-DASHBOARD/bounces/short/mix.mp3")
    assert d["size"] == 1000


@pytest.mark.log_allow(r"PDS00050")
def test_failed_export_can_be_retried_by_its_owner_only(dropbox_httpd, standin):
    h, acct, api = producer(dropbox_httpd, standin)
    t = api.create_track(title="Blocked", alias="blocked", sharing_status="released")
    # A folder where the file must go: a conflict, which no retry later mends.
    target = "/PRODUCER-DASHBOARD/bounces/blocked/mix.mp3"
    standin.put_file(acct["account_id"], target + "/inside.txt", content=b"x")
    r = api.put(f"/tracks/{t['id']}/upload/bounce/mix.mp3", data=b"y" * 500,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    state, _, err, _ = wait_export(h)
    assert state == "failed" and "409 path" in err
    files = api.get(f"/tracks/{t['id']}/files").json()["files"]
    assert [x["export"] for x in files if x["id"] == fid] == ["failed"]

    url = f"/tracks/{t['id']}/files/{fid}/export/retry"
    # Hostile: another producer, an unknown file, unknown fields, wrong method.
    bob = standin.account("bob@example.com", "Bob")
    connect(h, "bob", standin, bob["account_id"])
    assert h.api("bob").post(url, json={}).status_code == 404
    assert api.post(f"/tracks/{t['id']}/files/nosuchfile/export/retry", json={}).status_code == 404
    assert api.post(url, json={"force": True}).status_code == 400
    assert api.get(url).status_code == 405

    standin.ctl("POST", "files/delete", {"account_id": acct["account_id"], "path": target})
    r = api.post(url, json={})
    assert r.status_code == 202, r.text
    assert r.json()["export"] == "pending" and r.json()["id"] == fid
    state, _, err, _ = wait_export(h)
    assert state == "done", err
    with h.db() as conn:        # the failed job itself ran again (it keeps its checkpoint)
        assert conn.execute("SELECT COUNT(*) FROM pds_jobs WHERE kind = 'export_file'"
                            ).fetchone()[0] == 1
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"], path=target)
    assert d["size"] == 500
    files = api.get(f"/tracks/{t['id']}/files").json()["files"]
    assert [x["export"] for x in files if x["id"] == fid] == ["done"]
    # Not failed (any more): 409.
    r = api.post(url, json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_failed"


def test_zip_download_survives_token_expiry(dropbox_httpd, standin):
    """A content download whose token expired (files/download, file by file, as
    the module composes a ZIP) refreshes once and streams the whole archive."""
    from test_dropbox_zip import ROOT, add_file, get_zip, producer, token_of
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Big Song", sharing_status="released")
    for i, size in enumerate([1000, 2000]):
        add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/Big Song/s{i}.wav",
                 bytes([i + 1]) * size)
    share = api.create_share(track_ids=[t["id"]])
    standin.fault("files/download", "expired_token", count=1)
    _, entries = get_zip(h, f"{token_of(share)}/zip/{t['id']}/stems")
    assert entries == {"s0.wav": b"\x01" * 1000, "s1.wav": b"\x02" * 2000}
    assert refresh_grants(standin) == 1
    assert [f["hits"] for f in standin.ctl("GET", "faults")["faults"]] == [1]


# ------------------------------------------------------------------ item 2: contention

def test_connect_survives_nested_write_contention(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct = standin.account("alice@example.com", "Alice")
    standin.fault("files/create_folder_v2", "409_write_contention", count=2)
    loc = connect(h, "alice", standin, acct["account_id"])
    assert "error" not in loc, loc
    st = h.api("alice").get("/dropbox").json()
    assert st["connected"] is True
    assert [f["hits"] for f in standin.ctl("GET", "faults")["faults"]] == [2]


@pytest.mark.log_allow(r"PDS00050")
def test_share_survives_copy_contention_and_invite_rate_limit_waits(dropbox_httpd, standin):
    h = dropbox_httpd(extra=[f"PDShareJobLease {LEASE}"])
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    t = api.create_track(title="Shared", sharing_status="released")
    path = "/PRODUCER-DASHBOARD/bounces/Shared/mix.mp3"
    standin.put_file(acct["account_id"], path, content=b"mix")
    api.create_file(t["id"], category="bounce", name="mix.mp3", dropbox_path=path, format="mp3")
    api.create_collaborator(t["id"], name="Collaborator", email="c@collab.example", role="vocals")
    standin.fault("files/copy_v2", "409_write_contention", count=1)
    standin.ctl("POST", "settings", {"daily_invite_limit": 0})
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators", json={"mode": "folder"})
    assert r.status_code == 202, r.text

    def settled():
        s = api.get(f"/tracks/{t['id']}/share-status").json()
        return s if s["job"] and s["job"]["state"] != "running" and s["job"]["attempts"] else None
    s = wait_for(settled, what="the share job")
    # The copy went through; the daily invite limit means later, not never.
    assert s["job"]["state"] == "pending", s
    assert [c["status"] for c in s["collaborators"]] == ["pending"]
    assert standin.ctl("GET", "side_effects")["files_copied"] == 1


# ------------------------------------------------------------------ item 3: root

def test_changed_root_namespace_heals_itself(dropbox_httpd, standin):
    h, acct, api = producer(dropbox_httpd, standin, team={"name": "Studio A",
                                                          "home_path": "/Alice"})
    t = api.create_track(title="Rooted", alias="rooted", sharing_status="released")
    with h.db() as conn:
        old = conn.execute("SELECT root_namespace_id FROM pds_dropbox_accounts").fetchone()[0]
    # The member moves to another team: the old root answers 422 invalid_root.
    moved = standin.ctl("POST", "team_membership", {"account_id": acct["account_id"],
                        "team": {"name": "Studio B", "home_path": "/Alice"}})
    new = moved["root_info"]["root_namespace_id"]
    assert new != old
    r = api.get(f"/tracks/{t['id']}/files")
    assert r.status_code == 200 and r.json()["dropbox"] == "ok", r.text
    with h.db() as conn:
        assert conn.execute("SELECT root_namespace_id FROM pds_dropbox_accounts").fetchone()[0] == new
    log = standin.call_log("files/list_folder")
    assert [c["status"] for c in log].count(422) == 1          # the old root, once
    assert log[-1]["status"] != 422 and new in log[-1]["headers"]["Dropbox-API-Path-Root"]

    # Then it leaves the team: root_info "user", no path root any more.
    standin.ctl("POST", "team_membership", {"account_id": acct["account_id"], "team": None})
    r = api.get(f"/tracks/{t['id']}/files")
    assert r.status_code == 200 and r.json()["dropbox"] == "ok", r.text
    r = api.put(f"/tracks/{t['id']}/upload/bounce/after.mp3", data=b"z" * 10,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    state, _, err, _ = wait_export(h)
    assert state == "done", err
    up = standin.call_log("files/upload")[-1]
    assert "Dropbox-API-Path-Root" not in up["headers"]
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"],
                    path="/PRODUCER-DASHBOARD/bounces/rooted/after.mp3")
    assert d["size"] == 10


def test_team_member_without_team_space_works(dropbox_httpd, standin):
    h, acct, api = producer(dropbox_httpd, standin, team={"name": "Small Team", "space": False})
    st = api.get("/dropbox").json()
    assert st["connected"] and st["account_type"] == "team"
    assert st["folder_path"] == "/PRODUCER-DASHBOARD"
    t = api.create_track(title="Home", alias="home", sharing_status="released")
    r = api.put(f"/tracks/{t['id']}/upload/bounce/home.mp3", data=b"h" * 10,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    state, _, err, _ = wait_export(h)
    assert state == "done", err
    assert "Dropbox-API-Path-Root" not in standin.call_log("files/upload")[-1]["headers"]
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"],
                    path="/PRODUCER-DASHBOARD/bounces/home/home.mp3")
    assert d["size"] == 10


# ------------------------------------------------------------------ item 4: names

def test_long_multibyte_title_is_cut_on_a_character_boundary(dropbox_httpd, standin):
    h, acct, api = producer(dropbox_httpd, standin)
    title = "a" * 79 + "é" + "b" * 10          # byte 80 falls inside the é
    t = api.create_track(title=title, sharing_status="released")
    r = api.put(f"/tracks/{t['id']}/upload/bounce/cut.mp3", data=b"c" * 10,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    state, _, err, _ = wait_export(h)
    assert state == "done", err
    want = f"/PRODUCER-DASHBOARD/bounces/{'a' * 79} [{t['id']}]/cut.mp3"
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"], path=want)
    assert d["size"] == 10


# ------------------------------------------------------------------ item 5: lists

def test_long_listings_are_whole_and_survive_a_reset(dropbox_httpd, standin):
    h, acct, api = producer(dropbox_httpd, standin)
    t = api.create_track(title="Many", alias="many", sharing_status="released")
    standin.ctl("POST", "settings", {"list_folder_page_max": 10})
    for i in range(260):                       # 26 pages: more than the old 20
        standin.put_file(acct["account_id"], f"/PRODUCER-DASHBOARD/stems/many/s{i:03}.wav",
                         content=b"s")
    standin.fault("files/list_folder/continue", "cursor_reset", count=1, after=3)
    r = api.get(f"/tracks/{t['id']}/files")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dropbox"] == "ok" and out["truncated"] is False
    names = sorted(f["name"] for f in out["files"] if not f["imported"])
    assert names == [f"s{i:03}.wav" for i in range(260)]
    assert [f["hits"] for f in standin.ctl("GET", "faults")["faults"]] == [1]


# ------------------------------------------- item 8: temporary links' Content-Disposition

@pytest.mark.parametrize("setting,expected", [(0, "inline"), (1, "attachment"), (2, None)],
                         ids=["inline", "attachment", "none"])
def test_downloads_and_plays_work_whatever_disposition_dropbox_answers(
        dropbox_httpd, standin, setting, expected):
    """Dropbox does not document the Content-Disposition of its temporary links:
    whichever the stand-in answers with, play and download redirect to a link
    that gives the file's exact bytes, each counted once."""
    from test_dropbox_zip import ROOT, add_file, producer, token_of
    import requests
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    standin.ctl("POST", "settings", {"templink_disposition": setting})
    t = api.create_track(title="Song", sharing_status="released")
    body = bytes(range(256)) * 40
    f = add_file(standin, api, aid, t["id"], "master", f"{ROOT}/bounces/Song/master.wav", body)
    share = api.create_share(track_ids=[t["id"]])
    tok = token_of(share)
    for path in (f"{tok}/files/{f['id']}", f"{tok}/play/{t['id']}"):
        r = h.public(path)
        assert r.status_code == 302, r.text[:200]
        got = requests.get(r.headers["Location"], timeout=30)
        assert got.status_code == 200 and got.content == body
        cd = got.headers.get("Content-Disposition")
        assert (cd.split(";")[0] if cd else None) == expected
    s = api.get(f"/shares/{share['id']}").json()
    assert s["downloads"] == 1 and s["plays"] == 1
