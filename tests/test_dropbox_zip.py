"""ZIP downloads (issue 11): composed by the module from exactly the files the
share offers, each streamed from Dropbox (files/download) or local storage,
stored entries with CRC-32, ZIP64 past 4 GiB, bounded memory; entry names made
safe; one download counted per file; HEAD answers headers only."""

import hashlib
import io
import os
import tempfile
import threading
import unicodedata
import zipfile
import zlib

import pytest
import requests

from pdshare_dropbox import child_pids, connect, rss_kib
from test_uploads import put, storage_lines
from dropbox_standin.blobs import blob_bytes, blob_iter

MIB = 1024 * 1024
GIB = 1024 * MIB
ROOT = "/PRODUCER-DASHBOARD"


def producer(h, standin):
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    return acct["account_id"], h.api("alice")


def add_file(standin, api, account_id, track_id, category, path, body, name=None):
    """Put bytes into the stand-in's Dropbox and register them with the track."""
    standin.put_file(account_id, path, content=body)
    name = name or path.rsplit("/", 1)[1]
    return api.create_file(track_id, category=category, name=name, dropbox_path=path,
                           format=name.rsplit(".", 1)[-1], size=len(body))


def token_of(share):
    return share["url"].rsplit("/", 1)[1]


def get_zip(h, path):
    """GET a ZIP route: the answer and the archive's entries {name: bytes}."""
    r = h.public(path)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["Content-Disposition"].startswith("attachment; filename=\"")
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert z.testzip() is None                       # every CRC checks
        for info in z.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & 0x800, f"{info.filename}: not flagged UTF-8"
        return r, {i.filename: z.read(i) for i in z.infolist()}


def blob_crc32(size, seed):
    crc = 0
    for chunk in blob_iter(size, seed, chunk=8 * MIB):
        crc = zlib.crc32(chunk, crc)
    return crc


def stats(api, share):
    s = api.get(f"/shares/{share['id']}").json()
    return s, {t["id"]: t for t in s["tracks"]}


def test_file_ids_share_zips_only_that_stem(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Big Song", sharing_status="released")
    stems = [add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/Big Song/stem{i}.wav",
                      f"stem {i} ".encode() * (1000 + i)) for i in range(3)]
    share = api.create_share(track_ids=[t["id"]], file_ids=[stems[1]["id"]],
                             permissions={"stems": True})
    token = token_of(share)
    assert f"/zip/{t['id']}/stems" in h.public(token).text
    r, entries = get_zip(h, f"{token}/zip/{t['id']}/stems")
    assert entries == {"stem1.wav": b"stem 1 " * 1001}
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"Big Song - stems.zip\"; "
        "filename*=UTF-8''Big%20Song%20-%20stems.zip")
    s, tracks = stats(api, share)
    assert s["downloads"] == 1 and s["downloads_by_type"]["stem"] == 1
    assert tracks[t["id"]]["downloads_by_type"]["stem"] == 1


def test_bounces_only_share_in_a_mixed_folder(dropbox_httpd, standin):
    """A project file, a stem and an unregistered private note share the folder
    with the bounces: none of them is in the bounces' ZIP."""
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Night Drive", sharing_status="wip")
    folder = f"{ROOT}/bounces/Night Drive"
    master = b"master bytes " * 500
    bounce = b"radio edit " * 300
    add_file(standin, api, aid, t["id"], "master", f"{folder}/Night Drive.wav", master)
    add_file(standin, api, aid, t["id"], "bounce", f"{folder}/Night Drive (edit).wav", bounce)
    add_file(standin, api, aid, t["id"], "stem", f"{folder}/Drums.wav", b"drums" * 100)
    add_file(standin, api, aid, t["id"], "project", f"{folder}/Night Drive.als", b"als" * 100)
    standin.put_file(aid, f"{folder}/notes-private.txt", content=b"do not share")
    share = api.create_share(track_ids=[t["id"]])
    assert share["permissions"] == {"bounces": True, "stems": False, "projects": False}
    token = token_of(share)
    _, entries = get_zip(h, f"{token}/zip/{t['id']}/bounces")
    assert entries == {"Night Drive.wav": master, "Night Drive (edit).wav": bounce}
    # Counted per file and per type, for the track too.
    s, tracks = stats(api, share)
    assert s["downloads"] == 2
    assert s["downloads_by_type"] == {"master": 1, "bounce": 1, "stem": 0, "project": 0}
    assert tracks[t["id"]]["downloads"] == 2
    assert tracks[t["id"]]["downloads_by_type"]["master"] == 1
    # Categories the share does not allow have no ZIP.
    for c in ("stems", "projects"):
        assert h.public(f"{token}/zip/{t['id']}/{c}").status_code == 403


def test_download_all_has_one_folder_per_track_and_counts_each_file(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    a = api.create_track(title="Night Drive", sharing_status="released")
    b = api.create_track(title="Night Drive", sharing_status="released")     # same title
    c = api.create_track(title="../Up/Down", sharing_status="released")
    add_file(standin, api, aid, a["id"], "master", f"{ROOT}/bounces/a/mix.wav", b"A master")
    add_file(standin, api, aid, a["id"], "stem", f"{ROOT}/stems/a/kick.wav", b"A kick")
    add_file(standin, api, aid, a["id"], "project", f"{ROOT}/projects/a/p.als", b"A project")
    add_file(standin, api, aid, b["id"], "bounce", f"{ROOT}/bounces/b/mix.wav", b"B bounce")
    add_file(standin, api, aid, c["id"], "stem", f"{ROOT}/stems/c/kick.wav", b"C kick")
    share = api.create_share(track_ids=[a["id"], b["id"], c["id"]], title="EP \u00e9t\u00e9")
    token = token_of(share)
    page = h.public(token).text
    assert f'href="/s/{token}/zip"' in page and "Download all" in page
    assert h.public(f"{token}.json").json()["download_all"]["url"] == f"/s/{token}/zip"
    r, entries = get_zip(h, f"{token}/zip")
    assert entries == {
        "Night Drive/mix.wav": b"A master",
        "Night Drive/kick.wav": b"A kick",
        "Night Drive (2)/mix.wav": b"B bounce",
        "_._Up_Down/kick.wav": b"C kick",
    }
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"EP _t_.zip\"; filename*=UTF-8''EP%20%C3%A9t%C3%A9.zip")
    s, tracks = stats(api, share)
    assert s["downloads"] == 4
    assert s["downloads_by_type"] == {"master": 1, "bounce": 1, "stem": 2, "project": 0}
    assert tracks[a["id"]]["downloads"] == 2
    assert tracks[a["id"]]["downloads_by_type"]["master"] == 1
    assert tracks[a["id"]]["downloads_by_type"]["stem"] == 1
    assert tracks[b["id"]]["downloads_by_type"]["bounce"] == 1
    assert tracks[c["id"]]["downloads_by_type"]["stem"] == 1


def test_download_all_only_when_more_than_one_file_and_hostile_requests(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Solo", sharing_status="wip")
    add_file(standin, api, aid, t["id"], "master", f"{ROOT}/bounces/solo/solo.wav", b"solo")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/solo/s.wav", b"stem")
    share = api.create_share(track_ids=[t["id"]])        # wip: the master only
    token = token_of(share)
    assert "Download all" not in h.public(token).text
    assert h.public(f"{token}.json").json()["download_all"] is None
    _, entries = get_zip(h, f"{token}/zip")               # still answers: what is offered
    assert entries == {"Solo/solo.wav": b"solo"}
    # Nothing offered at all: 403; unknown token 404; revoked 410; other methods 405.
    private = api.create_track(title="Private", sharing_status="private")
    add_file(standin, api, aid, private["id"], "bounce", f"{ROOT}/bounces/p/p.wav", b"p")
    closed = api.create_share(track_ids=[private["id"]])
    assert h.public(f"{token_of(closed)}/zip").status_code == 403
    assert h.public("no-such-token-0123456789abcdef/zip").status_code == 404
    for path in (f"{token}/zip/", f"{token}/zip/x", f"{token}/zip/x/y/z/w"):
        assert h.public(path).status_code in (404, 400), path
    r = requests.post(f"{h.base_url}/s/{token}/zip", timeout=10)
    assert r.status_code == 405
    api.post(f"/shares/{share['id']}/revoke", json={})
    assert h.public(f"{token}/zip").status_code == 410
    assert stats(api, share)[0]["downloads"] == 1


def test_local_file_not_exported_yet_is_in_the_zip(dropbox_httpd, standin):
    h = dropbox_httpd(start=False)
    h.extra += storage_lines(h, ["PDShareExportByStatus final"])   # a non-final stem stays local
    h.start()
    aid, api = producer(h, standin)
    t = api.create_track(title="Local", sharing_status="released")
    body = hashlib.sha256(b"local").digest() * 4000
    r = put(api, t["id"], "stem", "Local Stem.wav", body)
    assert r.status_code == 201, r.text
    assert r.json()["export"] == "none"
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/local/remote.wav", b"remote")
    share = api.create_share(track_ids=[t["id"]])
    _, entries = get_zip(h, f"{token_of(share)}/zip/{t['id']}/stems")
    assert entries == {"Local Stem.wav": body, "remote.wav": b"remote"}
    assert stats(api, share)[0]["downloads_by_type"]["stem"] == 2


HOSTILE = [
    ("../x.wav", "_._x.wav"),
    ("a/b.wav", "a_b.wav"),
    ("back\\slash.wav", "back_slash.wav"),
    ("ctl\x01\x1b\x7f\u0085.wav", "ctl____.wav"),
    ("evil\u202egnp.exe", "evil_gnp.exe"),
    ("\u2066iso\u2069.wav", "_iso_.wav"),
    ("take.wav", "take.wav"),
    ("take.wav", "take (2).wav"),
    ("Take.WAV", "Take (3).WAV"),
    ("..", "_."),
]


def test_hostile_names_are_made_safe(dropbox_httpd, standin):
    """Names the API would refuse today still reach the ZIP from older rows or
    other writers: they are made safe there too."""
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    # The API refuses a bidi control in a title now: an older row holds one.
    t = api.create_track(title='Caf\u00e9 "Live"', sharing_status="released")
    ids = []
    for i, _ in enumerate(HOSTILE):
        f = add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/h/f{i}.wav",
                     f"file {i}".encode())
        ids.append(f["id"])
    with h.db() as conn:
        for (name, _), fid in zip(HOSTILE, ids):
            conn.execute("UPDATE pds_files SET name = ? WHERE id = ?", (name, fid))
        conn.execute("UPDATE pds_tracks SET title = ? WHERE id = ?",
                     ('Caf\u00e9 "Live"; \u202e', t["id"]))
    share = api.create_share(track_ids=[t["id"]])
    r, entries = get_zip(h, f"{token_of(share)}/zip/{t['id']}/stems")
    # Files made in one second come in no set order: the duplicates' numbers may swap.
    assert sorted(n.lower() for n in entries) == sorted(safe.lower() for _, safe in HOSTILE)
    assert sorted(entries.values()) == sorted(f"file {i}".encode() for i in range(len(HOSTILE)))
    for i, (name, safe) in enumerate(HOSTILE):
        if name.lower() != "take.wav":
            assert entries[safe] == f"file {i}".encode(), safe
    for name in entries:
        assert "/" not in name and "\\" not in name and ".." not in name
        assert not any(unicodedata.category(ch) == "Cc" or 0x202A <= ord(ch) <= 0x202E
                       or 0x2066 <= ord(ch) <= 0x2069 for ch in name), repr(name)
    cd = r.headers["Content-Disposition"]
    assert cd == ("attachment; filename=\"Caf_ _Live__ _ - stems.zip\"; "
                  "filename*=UTF-8''Caf%C3%A9%20%22Live%22%3B%20%E2%80%AE%20-%20stems.zip")
    # The same names in "Download all", under the track's (safe) folder.
    _, entries = get_zip(h, f"{token_of(share)}/zip")
    folder = 'Caf\u00e9 "Live"; _'
    assert sorted(n.lower() for n in entries) == sorted(f"{folder}/{safe}".lower()
                                                       for _, safe in HOSTILE)


def test_head_counts_nothing_and_calls_no_dropbox(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Heads", sharing_status="released")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/x/a.wav", b"a")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/x/b.wav", b"b")
    share = api.create_share(track_ids=[t["id"]])
    token = token_of(share)
    standin.ctl("POST", "calls/reset")
    for path in (f"{token}/zip/{t['id']}/stems", f"{token}/zip"):
        r = requests.head(f"{h.base_url}/s/{path}", timeout=10)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "application/zip"
        assert r.headers["Content-Disposition"].startswith("attachment; filename=")
        assert r.content == b""
    assert requests.head(f"{h.base_url}/s/{token}/zip/{t['id']}/projects",
                         timeout=10).status_code == 403
    calls = standin.calls()
    assert not any(route.startswith("files/") for route in calls), calls
    s, _ = stats(api, share)
    assert s["downloads"] == 0


def test_file_gone_from_dropbox_is_404_and_not_an_outage(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Gone", sharing_status="released")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/g/gone.wav", b"gone")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/g/kept.wav", b"kept")
    standin.ctl("POST", "files/delete", {"account_id": aid, "path": f"{ROOT}/stems/g/gone.wav"})
    share = api.create_share(track_ids=[t["id"]])
    r = h.public(f"{token_of(share)}/zip/{t['id']}/stems")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    assert "no longer" in r.text
    assert stats(api, share)[0]["downloads"] == 0
    # The error log holds no warning (the harness checks): no PDS00073 incident.
    assert "PDS00073" not in h.read_error_log()


@pytest.mark.log_allow(r"PDS00040")
def test_dropbox_failing_before_the_first_byte_is_503(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Down", sharing_status="released")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/d/a.wav", b"a")
    share = api.create_share(track_ids=[t["id"]])
    standin.fault("files/download", "503", count=-1, retry_after=1)
    r = h.public(f"{token_of(share)}/zip/{t['id']}/stems")
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
    assert "unavailable" in r.text.lower()
    assert stats(api, share)[0]["downloads"] == 0


@pytest.mark.log_allow(r"PDS00100")
def test_failure_mid_stream_cuts_the_connection(dropbox_httpd, standin):
    h = dropbox_httpd()
    aid, api = producer(h, standin)
    t = api.create_track(title="Cut", sharing_status="released")
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/c/one.wav", b"1" * 300000)
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/c/two.wav", b"2" * 300000)
    share = api.create_share(track_ids=[t["id"]])
    url = f"{h.base_url}/s/{token_of(share)}/zip/{t['id']}/stems"
    with zipfile.ZipFile(io.BytesIO(requests.get(url, timeout=30).content)) as z:
        second = z.namelist()[1]                 # the file after the first byte went out
    standin.fault("files/download", "drop", count=-1, match=second)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with requests.get(url, stream=True, timeout=30) as r:
            assert r.status_code == 200
            for _ in r.iter_content(65536):
                pass
    assert "PDS00100: ZIP stream cut" in h.read_error_log()


def test_zip64_past_4_gib_streams_with_bounded_memory(dropbox_httpd, standin):
    """A generated file over 4 GiB, then a small one whose local header lies past
    4 GiB: ZIP64 sizes and offsets. zipfile checks the CRC of both as it reads."""
    h = dropbox_httpd(extra=["MaxConnectionsPerChild 0"])
    aid, api = producer(h, standin)
    t = api.create_track(title="Huge", sharing_status="released")
    big = 4 * GIB + 3 * MIB + 17
    path = f"{ROOT}/stems/huge/huge.wav"
    standin.put_file(aid, path, size=big, seed="zip64")
    huge = api.create_file(t["id"], category="stem", name="huge.wav", dropbox_path=path,
                           format="wav", size=big)
    add_file(standin, api, aid, t["id"], "stem", f"{ROOT}/stems/huge/tail.wav", b"tail" * 1000)
    with h.db() as conn:                 # files of one second: make the order certain
        conn.execute("UPDATE pds_files SET created_at = created_at - 60 WHERE id = ?",
                     (huge["id"],))
    # The expected CRC-32, from the stand-in's public generator, computed while
    # the ZIP downloads (zlib releases the GIL).
    want = {}
    crc_thread = threading.Thread(target=lambda: want.update(
        crc=blob_crc32(big, "zip64"), head=blob_bytes(big, "zip64", 0, MIB),
        middle=blob_bytes(big, "zip64", 4 * GIB - MIB, 4 * GIB + MIB)), daemon=True)
    crc_thread.start()
    share = api.create_share(track_ids=[t["id"]])
    token = token_of(share)
    for _ in range(10):                  # a serving child's baseline, not a fresh one's
        assert h.public(token).status_code == 200
    pids = child_pids(h.pid)
    base = {p: rss_kib(p) for p in pids}
    peak = dict(base)
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            for p in pids:
                peak[p] = max(peak[p], rss_kib(p))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.NamedTemporaryFile(suffix=".zip", dir="/var/tmp") as f:
        try:
            with requests.get(f"{h.base_url}/s/{token}/zip/{t['id']}/stems", stream=True,
                              timeout=120) as r:
                assert r.status_code == 200
                for chunk in r.iter_content(4 * MIB):
                    f.write(chunk)
        finally:
            done.set()
            sampler.join()
        f.flush()
        assert os.path.getsize(f.name) > big
        growth = max(peak[p] - base[p] for p in pids)
        assert growth < 64 * 1024, f"a child grew by {growth // 1024} MiB while streaming"
        crc_thread.join()
        with zipfile.ZipFile(f.name) as z:
            infos = {i.filename: i for i in z.infolist()}
            assert set(infos) == {"huge.wav", "tail.wav"}
            assert infos["huge.wav"].file_size == big
            assert infos["huge.wav"].CRC == want["crc"]
            assert infos["tail.wav"].header_offset > 0xFFFFFFFF
            assert z.read("tail.wav") == b"tail" * 1000
            # Read whole, in order (zipfile raises BadZipFile on a CRC mismatch at
            # the end), comparing the first MiB and the 2 MiB around 4 GiB.
            got = {"head": b"", "middle": b""}
            with z.open("huge.wav") as e:
                pos = 0
                for block in iter(lambda: e.read(MIB), b""):
                    if pos == 0:
                        got["head"] = block
                    elif 4 * GIB - MIB <= pos < 4 * GIB + MIB:
                        got["middle"] += block
                    pos += len(block)
            assert pos == big
            assert got["head"] == want["head"] and got["middle"] == want["middle"]
    assert stats(api, share)[0]["downloads_by_type"]["stem"] == 2
