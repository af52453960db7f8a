"""Uploads: streamed to PDShareStorageDir, validated, kept locally and served
to visitors with Range support, and exported to Dropbox by the admin's policy
(single folder or structured; final, non-final or all; projects always)."""

import hashlib
import threading
import time

import pytest

from pdshare_dropbox import child_pids, connect, rss_kib
from pdshare_harness import kill_child

MIB = 1024 * 1024
LEASE = 5


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
    return [f"PDShareStorageDir {d}", f"PDShareJobLease {LEASE}"] + list(extra)


def put(api, track_id, category, name, body, final=False, headers=None):
    url = f"/tracks/{track_id}/upload/{category}/{name}" + ("?final=1" if final else "")
    return api.put(url, data=body, headers=headers or {"Content-Type": "application/octet-stream"})


def jobs_settled(h):
    with h.db() as conn:
        rows = conn.execute("SELECT state FROM pds_jobs").fetchall()
    return rows and all(r[0] in ("done", "failed") for r in rows)


def dropbox_files(standin, account_id):
    return {f["path_display"]: f for f in standin.ctl("GET", "files", account_id=account_id)["files"]
            if f[".tag"] == "file"}


UPLOADS = [("master", "Song Master.wav", False), ("bounce", "Song Rough.mp3", False),
           ("stem", "Drums.wav", False), ("project", "Song.als", False),
           ("bounce", "Song Final.mp3", True)]


def expected(layout_single, status):
    def wanted(cat, final):
        final = final or cat == "master"
        if cat == "project" or status == "all":
            return True
        return final if status == "final" else not final
    folder = {"master": "bounces", "bounce": "bounces", "stem": "stems", "project": "projects"}
    out = set()
    for cat, name, final in UPLOADS:
        if wanted(cat, final):
            out.add(f"/PRODUCER-DASHBOARD/{name}" if layout_single
                    else f"/PRODUCER-DASHBOARD/{folder[cat]}/song-alias/{name}")
    return out


@pytest.mark.parametrize("single", [False, True], ids=["structured", "single-folder"])
@pytest.mark.parametrize("status", ["final", "non-final", "all"])
def test_export_policy_matrix(dropbox_httpd, standin, single, status):
    h = dropbox_httpd(start=False)
    h.extra += storage_lines(h, [f"PDShareExportSingleFolder {'On' if single else 'Off'}",
                                 f"PDShareExportByStatus {status}"])
    h.start()
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    t = api.create_track(title="Song", alias="song-alias", sharing_status="released")
    bodies = {}
    for cat, name, final in UPLOADS:
        bodies[name] = f"{cat}:{name}".encode() * 1000
        r = put(api, t["id"], cat, name, bodies[name], final=final)
        assert r.status_code == 201, r.text
        f = r.json()
        assert f["uploaded"] is True and f["name"] == name and f["category"] == cat
        assert f["sha256"] == hashlib.sha256(bodies[name]).hexdigest()
    wait_for(lambda: jobs_settled(h), what="the exports")
    files = dropbox_files(standin, acct["account_id"])
    want = expected(single, status)
    got = {p for p in files if not p.startswith("/PRODUCER-DASHBOARD/") or p.count("/") >= 2}
    assert {p for p in got if p.rsplit("/", 1)[1] in bodies} == want
    for p in want:
        name = p.rsplit("/", 1)[1]
        assert files[p]["sha256"] == hashlib.sha256(bodies[name]).hexdigest()
    # The API says which were exported.
    listing = {f["name"]: f for f in api.get(f"/tracks/{t['id']}/files").json()["files"] if f.get("uploaded")}
    for cat, name, final in UPLOADS:
        exported = any(p.endswith("/" + name) for p in want)
        assert listing[name]["export"] == ("done" if exported else "none"), (name, listing[name])


class Body:
    """A deterministic body of n bytes, produced as it is sent."""

    def __init__(self, n, seed=b"pdshare"):
        self.n = n
        self.block = hashlib.sha256(seed).digest() * (MIB // 32)
        self.sha = hashlib.sha256()

    def __iter__(self):
        left = self.n
        while left:
            chunk = self.block[:min(left, len(self.block))]
            self.sha.update(chunk)
            left -= len(chunk)
            yield chunk


@pytest.mark.log_allow(r"PDS00050")
def test_400_mib_upload_streams_and_exports_through_faults(dropbox_httpd, standin):
    h = dropbox_httpd(start=False)
    h.extra += storage_lines(h, ["PDShareExportByStatus all", "LimitRequestBody 0"])
    h.start()
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    t = api.create_track(title="Big", alias="big", sharing_status="released")
    # The export will lose the answer of one append (applied, connection cut).
    standin.fault("files/upload_session/append_v2", "drop", count=1)

    pids = child_pids(h.pid)
    for _ in range(10):
        api.get("/tracks")
    base = {p: rss_kib(p) for p in pids}
    peak = dict(base)
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            for p in pids:
                peak[p] = max(peak[p], rss_kib(p))
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    body = Body(400 * MIB)
    r = api.session.put(api.url(f"/tracks/{t['id']}/upload/stem/big.wav"), data=iter(body),
                        auth=api.auth, headers={"Content-Type": "application/octet-stream"},
                        timeout=600)
    done.set()
    th.join()
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 400 * MIB
    assert r.json()["sha256"] == body.sha.hexdigest()
    growth = max(peak[p] - base[p] for p in pids)
    assert growth < 64 * 1024, f"a child grew by {growth // 1024} MiB during the upload"

    # Mid-session, hold an append and kill the child running the export.
    wait_for(lambda: standin.calls().get("files/upload_session/append_v2", 0) >= 1, timeout=120,
             what="the session under way")
    standin.fault("files/upload_session/append_v2", "hang", count=1, hang_seconds=60)
    wait_for(lambda: any(c.get("fault") == "hang" for c in
                         standin.call_log("files/upload_session/append_v2")),
             timeout=120, what="an append held")
    with h.db() as conn:
        owner, state = conn.execute("SELECT lease_owner, state FROM pds_jobs").fetchone()
    assert state == "running" and owner
    kill_child(int(owner.split(":")[1]), api)
    standin.ctl("DELETE", "faults")
    wait_for(lambda: jobs_settled(h), timeout=240, every=1, what="the export")
    with h.db() as conn:
        state, attempts, err, payload = conn.execute(
            "SELECT state, attempts, last_error, payload FROM pds_jobs").fetchone()
    assert state == "done", err
    assert attempts >= 2, "the killed attempt was taken up again"
    sessions = standin.ctl("GET", "uploads")["sessions"]
    assert len(sessions) == 1, "the export resumed its session rather than starting over"
    path = "/PRODUCER-DASHBOARD/stems/big/big.wav"
    d = standin.ctl("GET", "file_sha256", account_id=acct["account_id"], path=path)
    assert d["size"] == 400 * MIB and d["sha256"] == body.sha.hexdigest()
    commits = [u for u in standin.ctl("GET", "uploads")["files"] if u["path"].lower() == path.lower()]
    assert len(commits) == 1, commits


@pytest.mark.parametrize("name", ["..", ".hidden", "a%01b", "%2e%2e", "a\\b"])
def test_bad_names_are_refused_and_nothing_is_written(httpd_factory, name):
    h = httpd_factory(start=False)
    h.extra = storage_lines(h)
    h.start()
    api = h.api("alice")
    t = api.create_track(title="T")
    r = api.put(f"/tracks/{t['id']}/upload/stem/{name}", data=b"x" * 100)
    assert 400 <= r.status_code < 500, (name, r.status_code)
    assert list((h.dir / "storage").rglob("*")) == [] or \
        all(p.is_dir() for p in (h.dir / "storage").rglob("*"))
    assert [f for f in api.get(f"/tracks/{t['id']}/files").json()["files"]] == []


def test_other_bad_uploads(httpd_factory):
    h = httpd_factory(start=False)
    h.extra = storage_lines(h, ["LimitRequestBody 1000"])
    h.start()
    api = h.api("alice")
    t = api.create_track(title="T")
    r = put(api, t["id"], "vocals", "a.wav", b"x")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    r = put(api, t["id"], "stem", "a.wav", b"x" * 5000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = put(h.api("bob"), t["id"], "stem", "a.wav", b"x")
    assert r.status_code == 404
    r = api.put(f"/tracks/{t['id']}/upload/stem/a.wav?final=maybe", data=b"x")
    assert r.status_code == 400
    assert not any(p.is_file() for p in (h.dir / "storage").rglob("*"))
    assert api.get(f"/tracks/{t['id']}/files").json()["files"] == []
    # A good one, then.
    r = put(api, t["id"], "stem", "a.wav", b"RIFF" * 10)
    assert r.status_code == 201
    assert sum(1 for p in (h.dir / "storage").rglob("*") if p.is_file()) == 1


def test_local_files_are_served_with_ranges_and_counted(httpd_factory):
    h = httpd_factory(start=False)
    h.extra = storage_lines(h)
    h.start()
    api = h.api("alice")
    t = api.create_track(title="Local", sharing_status="released")
    data = bytes(range(256)) * 400
    f = put(api, t["id"], "stem", "Local Drums.wav", data).json()
    share = api.create_share(track_ids=[t["id"]])
    token = share["url"].rsplit("/", 1)[1]
    r = h.public(f"{token}/files/{f['id']}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "audio/wav"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert "attachment" in r.headers["Content-Disposition"]
    r = h.public(f"{token}/files/{f['id']}", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    r = h.public(f"{token}/files/{f['id']}", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == data[:10]
    r = h.public(f"{token}/play/{t['id']}")
    assert r.status_code == 200 and r.content == data
    stats = api.get(f"/shares/{share['id']}").json()
    assert stats["downloads"] == 2, "a range past byte 0 continues a download"
    assert stats["plays"] == 1
    assert stats["downloads_by_type"]["stem"] == 2
