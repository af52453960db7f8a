"""Public share pages (/s/...): what a visitor sees, the headers, the JSON view,
download routes while Dropbox is not wired, escaping of producer text, and exact
view counting under concurrency."""

import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from pdshare_harness import REPO, assert_error, assert_json, escaped_re, visible_text

CATEGORIES = ("master", "bounce", "stem", "project")
SECRET_DIR = "secret-dropbox-dir-4f7a"


def link_re(path):
    """`path` (e.g. 'files/12') as a link target, not a prefix of a longer id."""
    return re.compile(re.escape(path) + r"(?![A-Za-z0-9_-])")


@pytest.fixture(scope="module")
def page_share(server):
    """alice's profile, one wip track with collaborators and a file per category, shared."""
    alice = server.api("alice")
    profile = alice.set_profile(display_name="DJ Alice Page",
                                avatar_url="https://img.example.com/alice-avatar.png",
                                header_url="https://img.example.com/alice-header.png",
                                theme={"accent": "#ff3366", "background": "#101010"},
                                profile_url="https://alice.example.com/")
    t = alice.create_track(title="Midnight Run", bpm=124, key="A minor",
                           artwork_url="https://img.example.com/midnight-art.png", sharing_status="wip")
    collabs = [
        alice.create_collaborator(t["id"], name="Maya Vox", role="vocals", email="maya.private@example.com",
                                  avatar_url="https://img.example.com/maya-avatar.png"),
        alice.create_collaborator(t["id"], name="Theo Keys", role="keys", email="theo.private@example.com"),
    ]
    names = {"master": "midnight_master.wav", "bounce": "midnight_bounce.mp3",
             "stem": "midnight_drums_stem.wav", "project": "midnight_session.als"}
    files = {c: alice.create_file(t["id"], category=c, name=names[c], format=names[c].rsplit(".", 1)[1],
                                  size=1000 + i, dropbox_path=f"/PRODUCER-DASHBOARD/{SECRET_DIR}/{names[c]}")
             for i, c in enumerate(CATEGORIES)}
    other = alice.create_track(title="Not Shared Track", sharing_status="released")
    other_file = alice.create_file(other["id"], category="bounce", name="not_shared_bounce.wav")
    bob_track = server.api("bob").create_track(title="Bob Track", sharing_status="released")
    bob_file = server.api("bob").create_file(bob_track["id"], category="bounce", name="bob_bounce.wav")
    s = alice.create_share(track_ids=[t["id"]], title="Midnight Run for Label X")
    return {"profile": profile, "track": t, "collabs": collabs, "files": files, "share": s,
            "other": other, "other_file": other_file, "bob_track": bob_track, "bob_file": bob_file}


def test_page_shows_track(public, page_share):
    r = public(f"/s/{page_share['share']['token']}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    page = r.text
    text = visible_text(page)
    for s in ("Midnight Run", "124", "A minor", "Maya Vox", "Theo Keys", "DJ Alice Page",
              "Midnight Run for Label X"):
        assert s in text, f"{s!r} not on the page"
    for url in ("https://img.example.com/midnight-art.png", "https://img.example.com/maya-avatar.png",
                "https://img.example.com/alice-avatar.png", "https://img.example.com/alice-header.png"):
        assert url in page, f"{url} not on the page"
    assert "#ff3366" in page.lower(), "theme accent not on the page"
    assert link_re(f"play/{page_share['track']['id']}").search(page), "no player for the track"


def test_page_offers_only_permitted_categories(public, page_share):
    page = public(f"/s/{page_share['share']['token']}").text
    tid = page_share["track"]["id"]
    assert page_share["share"]["permissions"] == {"bounces": True, "stems": False, "projects": False}
    for c in ("master", "bounce"):
        f = page_share["files"][c]
        assert f["name"] in page, f"permitted {c} file not on the page"
        assert link_re(f"files/{f['id']}").search(page) or link_re(f"zip/{tid}/{c}").search(page), \
            f"no download button for the permitted {c}"
    for c in ("stem", "project"):
        f = page_share["files"][c]
        assert f["name"] not in page, f"{c} file shown although not permitted"
        assert not link_re(f"files/{f['id']}").search(page), f"{c} download link although not permitted"
        assert not link_re(f"zip/{tid}/{c}").search(page), f"{c} zip link although not permitted"


def test_page_keeps_private_things_private(public, page_share):
    token = page_share["share"]["token"]
    for path in (f"/s/{token}", f"/s/{token}.json"):
        body = public(path).text
        assert "private@example.com" not in body, f"collaborator e-mail on {path}"
        assert SECRET_DIR not in body, f"Dropbox path on {path}"
        assert "Not Shared Track" not in body and "not_shared_bounce" not in body
        assert "Bob Track" not in body


def test_json_view(public, page_share):
    j = assert_json(public(f"/s/{page_share['share']['token']}.json"), 200)
    assert j["share"]["title"] == "Midnight Run for Label X"
    assert j["share"]["expires_at"] is None
    prof = page_share["profile"]
    for k in ("display_name", "avatar_url", "header_url", "theme", "profile_url"):
        assert j["producer"][k] == prof[k], k
    assert j["permissions"] == {"bounces": True, "stems": False, "projects": False}
    assert len(j["tracks"]) == 1
    t = j["tracks"][0]
    assert t["id"] == page_share["track"]["id"]
    assert (t["title"], t["bpm"], t["key"], t["artwork_url"]) == \
        ("Midnight Run", 124, "A minor", "https://img.example.com/midnight-art.png")
    collabs = sorted(t["collaborators"], key=lambda c: c["name"])
    assert [(c["name"], c["role"], c["avatar_url"]) for c in collabs] == \
        [("Maya Vox", "vocals", "https://img.example.com/maya-avatar.png"), ("Theo Keys", "keys", None)]
    assert all("email" not in c for c in collabs)
    files = {f["category"]: f for f in t["files"]}
    assert set(files) == {"master", "bounce"}
    for c in ("master", "bounce"):
        want = page_share["files"][c]
        got = files[c]
        assert (got["id"], got["name"], got["format"], got["size"]) == \
            (want["id"], want["name"], want["format"], want["size"])
        assert "dropbox_path" not in got


def test_several_tracks_listed(api, public):
    alice = api("alice")
    ids = [alice.create_track(title=f"List Track {i}", bpm=100 + i)["id"] for i in range(3)]
    s = alice.create_share(track_ids=ids)
    text = visible_text(public(f"/s/{s['token']}").text)
    for i in range(3):
        assert f"List Track {i}" in text
    j = assert_json(public(f"/s/{s['token']}.json"), 200)
    assert sorted(t["id"] for t in j["tracks"]) == sorted(ids)


SECURITY_HEADERS = {
    "Cache-Control": lambda v: "no-store" in v.lower(),
    "Referrer-Policy": lambda v: v.strip().lower() == "no-referrer",
    "X-Content-Type-Options": lambda v: v.strip().lower() == "nosniff",
    "X-Robots-Tag": lambda v: "noindex" in v.lower(),
    "Content-Security-Policy": lambda v: bool(v.strip()),
}


def assert_security_headers(r):
    for name, ok in SECURITY_HEADERS.items():
        assert name in r.headers, f"{r.request.method} {r.url} ({r.status_code}): no {name}"
        assert ok(r.headers[name]), f"{r.url}: {name}: {r.headers[name]!r}"


def test_assets_are_versioned_and_kept_a_year(public, page_share):
    """The page links its styles and script under a version of their bytes; that
    URL may be kept a year, an unversioned or older one an hour; nothing but a
    hex version and a plain name is an asset."""
    page = public(page_share["share"]["token"]).text
    m = re.search(r'<link rel="stylesheet" href="/s/assets/([0-9a-f]{16})/pdshare\.css">', page)
    assert m, page[:600]
    ver = m.group(1)
    assert f'<script src="/s/assets/{ver}/pdshare.js" defer></script>' in page
    css = public(f"assets/{ver}/pdshare.css")
    assert css.status_code == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert css.content == (REPO / "htdocs" / "assets" / "pdshare.css").read_bytes()
    plain = public("assets/pdshare.css")
    assert plain.content == css.content and plain.headers["Cache-Control"] == "public, max-age=3600"
    # A page from before an upgrade asks for an older version: today's bytes, an hour.
    older = "0123456789abcdef" if ver != "0123456789abcdef" else "fedcba9876543210"
    old = public(f"assets/{older}/pdshare.js")
    assert old.status_code == 200 and old.headers["Cache-Control"] == "public, max-age=3600"
    for bad in ["assets/XYZ/pdshare.css", f"assets/{ver.upper()}/pdshare.css",
                "assets/%2e%2e/pdshare.css", f"assets/{ver}/x/pdshare.css",
                "assets/" + "a" * 65 + "/pdshare.css", f"assets/{ver}/.htaccess",
                f"assets/{ver}/missing.css", f"assets/{ver}/"]:
        assert public(bad).status_code == 404, bad


def test_new_assets_get_a_new_version(httpd_factory):
    """Changing a file under htdocs/assets (then a restart, as for any upgrade)
    changes the version in the pages' URLs, and the new URL serves the new bytes."""
    import shutil
    h = httpd_factory(start=False)
    htdocs = h.dir / "htdocs"
    shutil.copytree(REPO / "htdocs", htdocs)
    h.extra = [f"PDShareHtdocs {htdocs}"]
    h.start()
    alice = h.api("alice")
    t = alice.create_track(title="Versioned", sharing_status="released")
    token = alice.create_share(track_ids=[t["id"]])["token"]

    def version():
        m = re.search(r'href="/s/assets/([0-9a-f]{16})/pdshare\.css"', h.public(token).text)
        assert m
        return m.group(1)

    before = version()
    (htdocs / "assets" / "pdshare.css").write_bytes(
        (htdocs / "assets" / "pdshare.css").read_bytes() + b"\n/* v2 */\n")
    h.stop()
    h.start()
    after = version()
    assert after != before
    r = h.public(f"assets/{after}/pdshare.css")
    assert r.content.endswith(b"/* v2 */\n")
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert h.public(f"assets/{before}/pdshare.css").headers["Cache-Control"] == "public, max-age=3600"


def test_headers_on_every_page(api, public, page_share, db):
    token = page_share["share"]["token"]
    tid = page_share["track"]["id"]
    files = page_share["files"]
    alice = api("alice")
    revoked = alice.create_share(track_ids=[tid])
    alice.post(f"/shares/{revoked['id']}/revoke", json={})
    expired = alice.create_share(track_ids=[tid], expires_in_days=1)
    with db() as conn:
        conn.execute("UPDATE pds_shares SET expires_at = ? WHERE id = ?", (int(time.time()) - 60, expired["id"]))
    cases = [
        ("GET", f"/s/{token}", 200),
        ("HEAD", f"/s/{token}", 200),
        ("GET", f"/s/{token}.json", 200),
        ("GET", "/s/no-such-token-0123456789abcdef", 404),
        ("GET", f"/s/{revoked['token']}", 410),
        ("GET", f"/s/{expired['token']}", 410),
        ("GET", f"/s/{token}/files/{files['bounce']['id']}", 503),
        ("GET", f"/s/{token}/files/{files['stem']['id']}", 403),
        ("GET", f"/s/{token}/files/{page_share['other_file']['id']}", 404),
        ("GET", f"/s/{token}/play/{tid}", 503),
        ("GET", f"/s/{token}/zip/{tid}/bounce", 503),
        ("GET", f"/s/{token}/zip/{tid}/project", 403),
    ]
    for method, path, status in cases:
        r = public(path, method=method)
        assert r.status_code == status, f"{method} {path}: want {status}, got {r.status_code}"
        assert_security_headers(r)


def assert_unavailable(r):
    assert r.status_code == 503, f"{r.url}: {r.status_code} {r.text[:300]}"
    assert r.headers.get("Retry-After", "").strip(), f"{r.url}: no Retry-After"
    assert r.headers["Content-Type"].startswith("text/html")
    text = visible_text(r.text).lower()
    assert "not available" in text or "unavailable" in text, text[:500]
    assert "Location" not in r.headers


def test_downloads_are_503_without_dropbox_configured(public, page_share):
    token = page_share["share"]["token"]
    tid = page_share["track"]["id"]
    files = page_share["files"]
    assert_unavailable(public(f"/s/{token}/files/{files['master']['id']}"))
    assert_unavailable(public(f"/s/{token}/files/{files['bounce']['id']}"))
    assert_unavailable(public(f"/s/{token}/zip/{tid}/master"))
    assert_unavailable(public(f"/s/{token}/zip/{tid}/bounce"))
    assert_unavailable(public(f"/s/{token}/play/{tid}"))


def test_not_permitted_is_403(public, page_share):
    token = page_share["share"]["token"]
    tid = page_share["track"]["id"]
    for c in ("stem", "project"):
        assert public(f"/s/{token}/files/{page_share['files'][c]['id']}").status_code == 403, c
        assert public(f"/s/{token}/zip/{tid}/{c}").status_code == 403, c


def test_not_in_share_is_404(public, page_share):
    token = page_share["share"]["token"]
    other, bob = page_share["other"], page_share["bob_track"]
    for path in (f"files/{page_share['other_file']['id']}", f"files/{page_share['bob_file']['id']}",
                 "files/999999999", "files/no-such-file",
                 f"zip/{other['id']}/bounce", f"zip/{bob['id']}/bounce", "zip/999999999/bounce",
                 f"zip/{page_share['track']['id']}/video",
                 f"play/{other['id']}", f"play/{bob['id']}", "play/999999999",
                 "nothing-here"):
        r = public(f"/s/{token}/{path}")
        assert r.status_code == 404, f"{path}: {r.status_code}"


def test_unknown_token_routes_are_404(public, page_share):
    tid = page_share["track"]["id"]
    fid = page_share["files"]["bounce"]["id"]
    for path in (f"files/{fid}", f"play/{tid}", f"zip/{tid}/bounce"):
        assert public(f"/s/no-such-token-0123456789abcdef/{path}").status_code == 404, path


def test_previews_play_without_download_permission(api, public):
    alice = api("alice")
    t = alice.create_track(title="Private Preview", sharing_status="private")
    b = alice.create_file(t["id"], category="bounce", name="preview.mp3")
    s = alice.create_share(track_ids=[t["id"]])
    assert s["permissions"] == {"bounces": False, "stems": False, "projects": False}
    assert_unavailable(public(f"/s/{s['token']}/play/{t['id']}"))
    assert public(f"/s/{s['token']}/files/{b['id']}").status_code == 403
    assert public(f"/s/{s['token']}/zip/{t['id']}/bounce").status_code == 403


def test_failed_downloads_are_not_counted(api, public, page_share):
    token = page_share["share"]["token"]
    tid = page_share["track"]["id"]
    for c in CATEGORIES:
        public(f"/s/{token}/files/{page_share['files'][c]['id']}")
        public(f"/s/{token}/zip/{tid}/{c}")
    public(f"/s/{token}/play/{tid}")
    st = assert_json(api("alice").get(f"/shares/{page_share['share']['id']}"), 200)
    assert st["plays"] == 0 and st["downloads"] == 0
    assert st["downloads_by_type"] == {c: 0 for c in CATEGORIES}


def test_views_exact_under_concurrency(api, server):
    alice = api("alice")
    t = alice.create_track(title="Crowd")
    s = alice.create_share(track_ids=[t["id"]])
    url = f"{server.base_url}/s/{s['token']}"
    n = 200
    barrier = threading.Barrier(n)

    def visit(_):
        barrier.wait(timeout=60)
        try:
            return requests.get(url, timeout=60).status_code
        except requests.RequestException as e:
            return repr(e)

    with ThreadPoolExecutor(max_workers=n) as ex:
        codes = list(ex.map(visit, range(n)))
    failed = [c for c in codes if c != 200]
    assert not failed, f"{len(failed)} of {n} visits failed: {failed[:10]}"
    st = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    assert st["views"] == n


def test_other_methods_are_refused_and_not_counted(api, public):
    alice = api("alice")
    t = alice.create_track(title="Post Count")
    s = alice.create_share(track_ids=[t["id"]])
    for method in ("POST", "PUT", "DELETE"):
        r = public(f"/s/{s['token']}", method=method, data=b"x")
        assert r.status_code == 405, f"{method}: {r.status_code}"
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["views"] == 0


def test_tokens_never_logged(httpd_factory):
    h = httpd_factory(extra=["LogLevel info pdshare:trace8"])
    alice = h.api("alice")
    t = alice.create_track(title="Logged?", sharing_status="released")
    f = alice.create_file(t["id"], category="bounce", name="b.wav")
    s = alice.create_share(track_ids=[t["id"]])
    token = s["token"]
    for path in (f"/s/{token}", f"/s/{token}.json", f"/s/{token}/play/{t['id']}", f"/s/{token}/files/{f['id']}",
                 f"/s/{token}/zip/{t['id']}/stem", f"/s/{token}/files/999999999"):
        h.public(path)
    alice.post(f"/shares/{s['id']}/revoke", json={})
    h.public(f"/s/{token}")
    h.public(f"/s/{token[:-1]}")
    assert token not in h.read_error_log()
    assert token[:-1] not in h.read_error_log()


def test_head_and_json_do_not_count(api, public):
    alice = api("alice")
    t = alice.create_track(title="Head Count")
    s = alice.create_share(track_ids=[t["id"]])
    assert public(f"/s/{s['token']}").status_code == 200
    for _ in range(3):
        h = public(f"/s/{s['token']}", method="HEAD")
        assert h.status_code == 200 and h.content == b""
        assert public(f"/s/{s['token']}.json").status_code == 200
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["views"] == 1


# --- escaping ------------------------------------------------------------------------

PAYLOADS = {
    "alice": "<script>alert(1)</script>",
    "bob": '"><img src=x onerror=alert(1)>',
    "carol": "' onmouseover='x",
}


def test_producer_text_is_escaped(httpd_factory):
    h = httpd_factory()
    for user, p in PAYLOADS.items():
        client = h.api(user)
        no_slash = p.replace("/", "")
        v = {
            "display_name": p + "D", "title": p + "T", "key": p + "K", "bucket": p + "B", "group_id": p + "G",
            "collab_name": p + "N", "collab_role": p + "R", "file_name": no_slash + "F", "file_format": p[:15] + "X",
            "share_title": p + "S",
        }
        assert len(v["key"]) <= 32
        assert_error(client.post("/tracks", json={"title": "t", "alias": p}), 400, "invalid_field", "alias")

        client.set_profile(display_name=v["display_name"])
        t = client.create_track(title=v["title"], key=v["key"], bucket=v["bucket"], group_id=v["group_id"],
                                bpm=99, sharing_status="released")
        client.create_collaborator(t["id"], name=v["collab_name"], role=v["collab_role"])
        # a module may keep `format` to letters and digits: then the payload is refused
        r = client.post(f"/tracks/{t['id']}/files",
                        json={"category": "bounce", "name": "probe.wav", "dropbox_path": "/a/probe.wav",
                              "format": v["file_format"]})
        if r.status_code == 400:
            assert_error(r, 400, "invalid_field", "format")
            v["file_format"] = "wav"
        else:
            assert r.status_code == 201, r.text
            v["probe_name"] = "probe.wav"
        client.create_file(t["id"], category="bounce", name=v["file_name"], format=v["file_format"])
        s = client.create_share(track_ids=[t["id"]], title=v["share_title"],
                                permissions={"bounces": True, "stems": True, "projects": True})

        r = h.public(f"/s/{s['token']}")
        assert r.status_code == 200
        page = r.text
        assert p not in page, f"raw payload {p!r} ({user}) on the page"
        for field, value in v.items():
            assert value not in page, f"raw {field} {value!r} on the page"
        for field in ("display_name", "title", "key", "collab_name", "file_name", "share_title"):
            assert escaped_re(v[field]).search(page), f"{field} {v[field]!r} not shown escaped"

        j = assert_json(h.public(f"/s/{s['token']}.json"), 200)
        assert j["producer"]["display_name"] == v["display_name"]
        assert j["share"]["title"] == v["share_title"]
        tr = j["tracks"][0]
        assert (tr["title"], tr["key"]) == (v["title"], v["key"])
        assert (tr["collaborators"][0]["name"], tr["collaborators"][0]["role"]) == \
            (v["collab_name"], v["collab_role"])
        mine = [f for f in tr["files"] if f["name"] == v["file_name"]]
        assert len(mine) == 1 and mine[0]["format"] == v["file_format"]

        # the notice pages that carry the producer's branding escape it too
        for path in (f"files/{tr['files'][0]['id']}", "files/999999999", f"play/{t['id']}",
                     f"zip/{t['id']}/bounce"):
            r = h.public(f"/s/{s['token']}/{path}")
            assert r.status_code in (404, 503), f"{path}: {r.status_code}"
            assert p not in r.text, f"raw payload on the {r.status_code} page of {path}"

        # the owner API gives the text back as it was sent
        got = assert_json(client.get(f"/tracks/{t['id']}"), 200)
        assert (got["title"], got["bucket"], got["group_id"]) == (v["title"], v["bucket"], v["group_id"])

        # nor does an error page repeat what a visitor puts in the URL
        r = h.public("/s/" + urllib.parse.quote(p, safe=""))
        assert r.status_code == 404
        assert p not in r.text
        r = h.public("/s/" + p)
        assert r.status_code == 404
        assert p not in r.text
