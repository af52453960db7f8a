"""The share page and the owner pages in a real browser: Debian's chromium driven
by playwright-core (tests/browser/run.mjs) against an httpd with the module and
the Dropbox stand-in that these fixtures start, so start/stop and the error-log
checks are the harness's. axe-core checks accessibility; screenshots at 390 and
1280 px go to tests/artifacts/browser/.

These tests fail (they never skip) when chromium or the node modules are
missing: scripts/test.sh installs them (apt: scripts/deps.txt; `npm ci`)."""

import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from pdshare_dropbox import connect
from pdshare_harness import REPO, USERS, chown_tree, iso_to_epoch

# PDSHARE_ARTIFACTS: another directory, for a pass that runs beside this one.
ARTIFACTS = Path(os.environ.get("PDSHARE_ARTIFACTS") or REPO / "tests" / "artifacts" / "browser")
RUNNER = REPO / "tests" / "browser" / "run.mjs"
CHROMIUM = os.environ.get("PDSHARE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_env():
    """node and chromium, or a failure that says how to get them."""
    problems = []
    node = shutil.which("node")
    if not node:
        problems.append("node is not installed (apt-get install nodejs npm; see scripts/deps.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium; see scripts/deps.txt)")
    for mod in ("playwright-core", "axe-core"):
        if not (REPO / "node_modules" / mod / "package.json").is_file():
            problems.append(f"node_modules/{mod} is missing: run `npm ci` at the top of the repo")
    if problems:
        pytest.fail("browser tests cannot run:\n" + "\n".join(problems), pytrace=False)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return node


def run_browser(node, scenario, cfg, tmp_path, timeout=150):
    cfg = dict(cfg, artifacts=str(ARTIFACTS), users=USERS)
    cfg_file = tmp_path / f"{scenario}.json"
    cfg_file.write_text(json.dumps(cfg))
    try:
        out = subprocess.run([node, str(RUNNER), scenario, str(cfg_file)], cwd=str(REPO),
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"browser scenario {scenario} ran over {timeout}s:\n{e.stderr or ''}", pytrace=False)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    report = json.loads(lines[-1]) if lines else {"ok": False, "failures": ["no report"]}
    (ARTIFACTS / f"{scenario}-report.json").write_text(json.dumps(report, indent=2))
    if out.returncode != 0 or not report.get("ok"):
        pytest.fail(f"browser scenario {scenario} failed (exit {out.returncode}):\n- "
                    + "\n- ".join(report.get("failures", [])) + "\n--- stderr:\n" + out.stderr[-4000:],
                    pytrace=False)
    return report


# --- media the tests make -----------------------------------------------------------

def wav(seconds=2.0, freq=440.0, rate=22050):
    """A short, real PCM WAV (a sine with a fade) that a browser can play."""
    n = int(seconds * rate)
    frames = bytearray()
    for i in range(n):
        env = min(1.0, i / 2000, (n - i) / 2000)
        frames += struct.pack("<h", int(12000 * env * math.sin(2 * math.pi * freq * i / rate)))
    return (b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", len(frames)) + bytes(frames))


def svg(label, hue, size=600):
    """Square artwork (SVG) with a gradient and a label."""
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 600 600">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
<stop offset="0" stop-color="hsl({hue},80%,55%)"/><stop offset="1" stop-color="hsl({(hue + 60) % 360},70%,25%)"/>
</linearGradient></defs>
<rect width="600" height="600" fill="url(#g)"/>
<circle cx="300" cy="300" r="170" fill="none" stroke="rgba(255,255,255,.35)" stroke-width="18"/>
<circle cx="300" cy="300" r="40" fill="rgba(255,255,255,.8)"/>
<text x="40" y="560" font-family="sans-serif" font-size="44" font-weight="700" fill="#fff">{label}</text>
</svg>""".encode()


def put_image(h, name, data):
    d = h.dir / "docroot" / "img"
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data)
    chown_tree(h.dir / "docroot")
    return f"{h.base_url}/img/{name}"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def seed_track(h, standin, api, acct_id, title, files, **fields):
    """A track and its files, put into the stand-in's Dropbox and registered.
    files: [(category, name, bytes)]; bounces and masters go to bounces/<title>/."""
    t = api.create_track(title=title, **fields)
    out = {}
    folders = {"master": "bounces", "bounce": "bounces", "stem": "stems", "project": "projects"}
    for cat, name, body in files:
        path = f"/PRODUCER-DASHBOARD/{folders[cat]}/{title}/{name}"
        standin.put_file(acct_id, path, content=body)
        out[name] = api.create_file(t["id"], category=cat, name=name, dropbox_path=path,
                                    format=name.rsplit(".", 1)[1], size=len(body))
    return t, out


# --- Done when 1: a visitor plays, downloads, and finds no forbidden button -----------

def test_visitor_plays_downloads_and_sees_no_forbidden_button(dropbox_httpd, standin, browser_env, tmp_path):
    h = dropbox_httpd()
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    api.set_profile(display_name="Nova Beats", avatar_url=put_image(h, "avatar.svg", svg("NB", 200, 120)))
    master = wav(2.0, 440)
    t, files = seed_track(h, standin, api, acct["account_id"], "Night Drive", [
        ("master", "Night Drive.wav", master),
        ("bounce", "Night Drive (radio edit).wav", wav(1.0, 330)),
        ("stem", "Night Drive - Drums.wav", wav(0.5, 110)),
        ("project", "Night Drive.als", b"ableton project"),
    ], bpm=124, key="F# minor", sharing_status="wip",
        artwork_url=put_image(h, "night-drive.svg", svg("Night Drive", 20)))
    share = api.create_share(track_ids=[t["id"]])
    assert share["permissions"] == {"bounces": True, "stems": False, "projects": False}

    stem, project = files["Night Drive - Drums.wav"], files["Night Drive.als"]
    report = run_browser(browser_env, "visitor", {
        "base": h.base_url, "standin": standin.url,
        "visitor": {
            "url": share["url"], "title": "Night Drive",
            "permitted": {"label": "Master", "name": "Night Drive.wav", "sha256": sha256(master)},
            "forbidden": [{"label": "Stem", "id": stem["id"], "name": stem["name"]},
                          {"label": "Project", "id": project["id"], "name": project["name"]}],
            "forbidden_zips": ["stems", "projects"],
            "zip_label": "All bounces",
        },
    }, tmp_path)
    assert report["audio_src"].startswith(standin.url + "/tl/")

    stats = api.get(f"/shares/{share['id']}").json()
    (ARTIFACTS / "visitor-stats.json").write_text(json.dumps(stats, indent=2))
    assert stats["plays"] >= 1, stats
    # the master twice (with and without JavaScript), then the bounces' ZIP once:
    # one download for each file it holds (the master and the radio edit)
    assert stats["downloads_by_type"]["master"] == 3, stats
    assert stats["downloads_by_type"]["bounce"] == 1, stats
    assert stats["downloads"] == 4, stats
    assert stats["downloads_by_type"]["stem"] == 0 and stats["downloads_by_type"]["project"] == 0


# --- Done when 2: the owner connects, shares for 7 days, copies, revokes ---------------

def test_owner_connects_shares_copies_and_revokes(dropbox_httpd, standin, browser_env, tmp_path):
    h = dropbox_httpd()
    acct = standin.account("alice@example.com", "Alice")
    standin.ctl("POST", "next_account", {"account_id": acct["account_id"]})
    api = h.api("alice")
    assert api.get("/dropbox").json()["connected"] is False
    seed_track(h, standin, api, acct["account_id"], "Night Drive",
               [("master", "Night Drive.wav", wav(1.0))], sharing_status="released")
    api.create_track(title="Low Sun", sharing_status="wip")
    before = time.time()
    report = run_browser(browser_env, "owner", {
        "base": h.base_url, "standin": standin.url,
        "owner": {"user": "alice", "email": "alice@example.com", "folder": "/PRODUCER-DASHBOARD",
                  "track_title": "Night Drive", "share_title": "For the label"},
    }, tmp_path)

    d = api.get("/dropbox").json()
    assert d["connected"] is True and d["token_status"] == "ok"
    shares = api.get("/shares").json()["shares"]
    assert len(shares) == 1
    s = shares[0]
    assert s["url"] == report["share_url"]
    assert s["title"] == "For the label" and s["status"] == "revoked"
    assert [t["title"] for t in s["tracks"]] == ["Night Drive"]
    assert abs(iso_to_epoch(s["expires_at"]) - (before + 7 * 86400)) < 300, s["expires_at"]
    assert s["views"] == 1 and s["previews"] == 1, "the browser's view, and one link preview"


# --- Done when 3 and 4: accessibility, console, screenshots -------------------------

@pytest.mark.log_allow(r"PDS00040: download unavailable", r"PDS00050: job .*Dropbox refused",
                       r"PDS00050: job .*will try again")
def test_pages_are_accessible_and_photographed(dropbox_httpd, standin, browser_env, db_of, tmp_path):
    h = dropbox_httpd()
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    api.set_profile(display_name="Nova Beats", avatar_url=put_image(h, "avatar.svg", svg("NB", 200, 120)),
                    header_url=put_image(h, "header.svg", svg("", 260, 600)),
                    theme={"accent": "#ff5a36", "background": "#111318"},
                    profile_url="https://nova.example.com/")
    aid = acct["account_id"]
    night, _ = seed_track(h, standin, api, aid, "Night Drive", [
        ("master", "Night Drive.wav", wav(1.0, 440)),
        ("bounce", "Night Drive (radio edit).wav", wav(1.0, 330)),
        ("stem", "Night Drive - Drums.wav", wav(0.5, 110)),
        ("stem", "Night Drive - Bass.wav", wav(0.5, 55)),
    ], bpm=124, key="F# minor", sharing_status="released", bucket="Summer EP",
        artwork_url=put_image(h, "night-drive.svg", svg("Night Drive", 20)))
    low, _ = seed_track(h, standin, api, aid, "Low Sun", [
        ("master", "Low Sun.wav", wav(1.0, 392)),
        ("stem", "Low Sun - Keys.wav", wav(0.5, 262)),
    ], bpm=98, key="C major", sharing_status="released", bucket="Summer EP",
        artwork_url=put_image(h, "low-sun.svg", svg("Low Sun", 45)))
    glass, _ = seed_track(h, standin, api, aid, "Glass Harbour (Extended Club Mix featuring Maya Vox)", [
        ("bounce", "Glass Harbour.wav", wav(1.0, 349)),
    ], bpm=128, sharing_status="wip", bucket="Summer EP")
    api.create_collaborator(night["id"], name="Maya Vox", role="vocals", email="maya@collab.example",
                            avatar_url=put_image(h, "maya.svg", svg("M", 320, 96)))
    api.create_collaborator(night["id"], name="Theo Keys", role="keys", email="theo@collab.example")
    api.create_collaborator(low["id"], name="Ana Strings", role="strings", email="ana@collab.example")
    api.create_collaborator(low["id"], name="Lee Horns", role="horns", email="bad@collab.example")
    api.create_collaborator(glass["id"], name="Sam Mix", role="mixing", email="sam@collab.example")

    # collaborator sharing: Night Drive all shared, Low Sun partial, Glass Harbour none
    standin.ctl("POST", "invalid_emails", {"emails": ["bad@collab.example"]})
    for t in (night, low):
        assert api.post(f"/tracks/{t['id']}/share-with-collaborators", json={"mode": "folder"}).status_code == 202
    for t, want in ((night, "all"), (low, "partial")):
        deadline = time.time() + 60
        while True:
            st = api.get(f"/tracks/{t['id']}/share-status").json()
            if st["job"] and st["job"]["state"] in ("done", "failed"):
                break
            assert time.time() < deadline, st
            time.sleep(0.2)
        assert st["status"] == want, st

    single = api.create_share(track_ids=[night["id"]], expires_in_days=30)
    playlist = api.create_share(bucket="Summer EP", title="Summer EP — label preview")
    expired = api.create_share(track_ids=[low["id"]], expires_in_days=7)
    disabled = api.create_share(track_ids=[glass["id"]], title="Old link")
    assert api.post(f"/shares/{disabled['id']}/revoke", json={}).status_code == 200
    with db_of(h) as conn:
        conn.execute("UPDATE pds_shares SET expires_at = ? WHERE id = ?", (int(time.time()) - 3600, expired["id"]))
    for path in (f"/s/{single['token']}/play/{night['id']}", f"/s/{playlist['token']}/play/{low['id']}"):
        assert h.public(path).status_code == 302

    # bob: a team account whose Dropbox access was revoked (the warning and the way out)
    bob_acct = standin.account("bob@example.com", "Bob", team={"name": "Harbour Records", "home_path": "/Bob"})
    connect(h, "bob", standin, bob_acct["account_id"])
    bob = h.api("bob")
    bt, bf = seed_track(h, standin, bob, bob_acct["account_id"], "Bob Track",
                        [("bounce", "Bob.wav", wav(0.3))], sharing_status="wip")
    bs = bob.create_share(track_ids=[bt["id"]])
    standin.ctl("POST", "revoke_refresh", {"account_id": bob_acct["account_id"]})
    assert h.public(f"/s/{bs['token']}/files/{bf['Bob.wav']['id']}").status_code == 503
    assert bob.get("/dropbox").json()["token_status"] == "revoked"

    app = h.base_url + "/pd/app/"
    pages = [
        {"name": "share-single", "url": single["url"], "expect": "Night Drive"},
        {"name": "share-playlist", "url": playlist["url"], "expect": "Summer EP — label preview"},
        {"name": "share-expired", "url": expired["url"], "status": 410, "expect": "expired"},
        {"name": "share-disabled", "url": disabled["url"], "status": 410, "expect": "disabled"},
        {"name": "share-unavailable", "url": bs["url"], "expect": "Downloads are unavailable"},
        {"name": "owner-overview", "url": app, "user": "alice", "expect": "Connected (personal)"},
        {"name": "owner-accounts", "url": app + "accounts.html", "user": "alice", "expect": "Personal"},
        {"name": "owner-shares", "url": app + "shares.html", "user": "alice", "expect": "Summer EP — label preview"},
        {"name": "owner-create-share", "url": app + "new-share.html", "user": "alice", "expect": "Low Sun"},
        {"name": "owner-collaborators", "url": app + "collaborators.html", "user": "alice",
         "expect": "Partly shared"},
        {"name": "owner-accounts-revoked", "url": app + "accounts.html", "user": "bob",
         "expect": "Dropbox access was revoked"},
    ]
    report = run_browser(browser_env, "audit", {"base": h.base_url, "standin": standin.url, "pages": pages},
                         tmp_path)
    shots = {Path(p).name for p in report["screenshots"]}
    for name in ("share-single", "share-playlist", "owner-overview", "owner-accounts", "owner-shares",
                 "owner-create-share", "owner-collaborators"):
        for w in (390, 1280):
            assert f"{name}-{w}.png" in shots, f"no screenshot {name}-{w}.png"
            assert (ARTIFACTS / f"{name}-{w}.png").stat().st_size > 5000


@pytest.fixture
def db_of():
    """db_of(httpd) -> the database of a server made by dropbox_httpd."""
    return lambda h: h.db()


def test_share_page_link_preview_tags(dropbox_httpd, standin):
    """OpenGraph and Twitter card: title, artwork, producer (read by link previews,
    so checked in the HTML as served)."""
    import html as htmlmod
    import re
    h = dropbox_httpd()
    api = h.api("alice")
    api.set_profile(display_name="Nova <Beats>", header_url="https://img.example.com/h.png")
    t = api.create_track(title="Night \"Drive\"", artwork_url="https://img.example.com/nd.png", bpm=124)
    u = api.create_track(title="Low Sun")
    single = api.create_share(track_ids=[t["id"]])
    many = api.create_share(track_ids=[t["id"], u["id"]], title="EP")

    def metas(url):
        page = h.public(url.split("/s/", 1)[1]).text
        found = {}
        for m in re.finditer(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', page):
            found.setdefault(m.group(1), []).append(htmlmod.unescape(m.group(2)))
        return found

    m = metas(single["url"])
    assert m["og:title"] == ['Night "Drive"'] and m["twitter:title"] == ['Night "Drive"']
    assert m["og:image"] == ["https://img.example.com/nd.png"] == m["twitter:image"]
    assert m["twitter:card"] == ["summary_large_image"]
    assert "Nova <Beats>" in m["og:description"][0] and m["og:site_name"] == ["Nova <Beats>"]
    assert m["og:url"] == [single["url"]] and m["og:type"] == ["music.song"]
    m = metas(many["url"])
    assert m["og:title"] == ["EP"] and m["og:type"] == ["music.playlist"]
    assert m["og:image"] == ["https://img.example.com/h.png"], "the producer's header stands for a playlist"
