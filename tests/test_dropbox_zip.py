"""ZIP downloads: the track's category folder, zipped by Dropbox and streamed
through httpd's output filters with bounded memory, never whole in memory or on
disk; the bytes match, one download is counted."""

import hashlib
import os
import tempfile
import threading
import zipfile

import requests

from pdshare_dropbox import child_pids, connect, rss_kib

MIB = 1024 * 1024


def stems_share(h, standin, sizes, folder="/PRODUCER-DASHBOARD/stems/Big Song"):
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    t = api.create_track(title="Big Song", sharing_status="released")
    for i, size in enumerate(sizes):
        path = f"{folder}/stem{i}.wav"
        standin.put_file(acct["account_id"], path, size=size, seed=f"stem-{i}")
        api.create_file(t["id"], category="stem", name=f"stem{i}.wav", dropbox_path=path,
                        format="wav", size=size)
    share = api.create_share(track_ids=[t["id"]])
    return acct, api, t, share, share["url"].rsplit("/", 1)[1]


def entry_digests(standin, account_id, folder, n):
    out = {}
    for i in range(n):
        d = standin.ctl("GET", "file_sha256", account_id=account_id, path=f"{folder}/stem{i}.wav")
        out[f"stem{i}.wav"] = d["sha256"]
    return out


def zip_digests(path):
    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            h = hashlib.sha256()
            with z.open(info) as f:
                for block in iter(lambda: f.read(MIB), b""):
                    h.update(block)
            out[os.path.basename(info.filename)] = h.hexdigest()
    return out


def test_small_zip_matches_and_counts(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, share, token = stems_share(h, standin, [1000, 2000, 3000])
    page = h.public(token).text
    assert f"/zip/{t['id']}/stems" in page
    r = h.public(f"{token}/zip/{t['id']}/stems")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/zip"
    assert 'attachment; filename="Big Song - stems.zip"' == r.headers["Content-Disposition"]
    with tempfile.NamedTemporaryFile(suffix=".zip") as f:
        f.write(r.content)
        f.flush()
        assert zip_digests(f.name) == entry_digests(standin, acct["account_id"],
                                                    "/PRODUCER-DASHBOARD/stems/Big Song", 3)
    stats = api.get(f"/shares/{share['id']}").json()
    assert stats["downloads"] == 1 and stats["downloads_by_type"]["stem"] == 1


def test_zip_not_permitted_is_403_and_loose_files_have_no_zip(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, share, token = stems_share(h, standin, [10, 20],
                                             folder="/PRODUCER-DASHBOARD/stems")
    # Files straight in the stems folder: a ZIP of it would hold other tracks' stems.
    assert "/zip/" not in h.public(token).text
    assert h.public(f"{token}/zip/{t['id']}/stems").status_code == 404
    wip = api.create_track(title="WIP", sharing_status="wip")
    s2 = api.create_share(track_ids=[wip["id"]])
    assert h.public(s2["url"].rsplit("/", 1)[1] + f"/zip/{wip['id']}/stems").status_code == 403


def test_zip_larger_than_1_gib_streams_with_bounded_memory(dropbox_httpd, standin):
    h = dropbox_httpd(extra=["MaxConnectionsPerChild 0"])
    sizes = [410 * MIB, 410 * MIB, 410 * MIB]           # 1.2 GiB
    acct, api, t, share, token = stems_share(h, standin, sizes)
    # Warm the children so the baseline is a serving child's, not a fresh one's.
    for _ in range(20):
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
        with requests.get(f"{h.base_url}/s/{token}/zip/{t['id']}/stems", stream=True,
                          timeout=300) as r:
            assert r.status_code == 200
            total = 0
            for chunk in r.iter_content(MIB):
                f.write(chunk)
                total += len(chunk)
        done.set()
        sampler.join()
        f.flush()
        assert total > 1024 * MIB
        growth = max(peak[p] - base[p] for p in pids)
        assert growth < 64 * 1024, f"a child grew by {growth // 1024} MiB while streaming"
        assert zip_digests(f.name) == entry_digests(standin, acct["account_id"],
                                                    "/PRODUCER-DASHBOARD/stems/Big Song", 3)
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 1
