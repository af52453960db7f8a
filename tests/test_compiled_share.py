"""A visitor never sees stale data (SPEC §8, "the visitor path").

Everything a visitor request needs about a share (the page, its JSON, the file
index with permissions and preview choice, the ZIP contents) is to be compiled
once per httpd child and kept, keyed by the share and the producer's data version
that every owner write bumps. These tests guard that cache: each one first warms
it (the page, the JSON and the download routes, several times and concurrently on
each of two httpd nodes sharing one database, so that every child has served the
share), then makes one kind of owner write through one node and asserts that the
very next visitor request on each node, and the requests after it, show the
change. On the current code, which builds everything per request, they pass; a
cache that serves a compiled share past a write makes them fail.

Kinds of write covered: track metadata; files added (registered, uploaded) and
removed (with their track: the API has no route that removes a single file);
versions in a group; the profile; collaborators; the Dropbox connection;
uploads and their export to Dropbox; revocation; expiry.

Not covered: changing a share itself. SPEC §4 lists `PATCH /shares/{id}` and
`POST /shares/{id}/extend`, but this build answers only GET on /shares/{id}
(405 otherwise; README: shares are created, read and revoked), so a share's
permissions, title, file list and expiry cannot be changed through the API.
When PATCH or extend arrive, a test belongs here: warm, PATCH permissions
(e.g. stems off), then the next JSON's `permissions` and files, and /files of
a stem (403), on both nodes."""

import io
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from pdshare_dropbox import connect
from pdshare_harness import assert_json, visible_text
from test_api_shares import expire
from test_dropbox_downloads import follow, seed
from test_public_page import link_re
from test_uploads import put, storage_lines, wait_for

# Concurrent requests per route and node when warming (and after each first
# check): the nodes run 2 children each, and concurrent requests reach both.
SPREAD = 6


@pytest.fixture
def nodes(dropbox_httpd, standin):
    """Two httpd nodes, A and B, on one database, one data key and one storage
    directory, wired to the Dropbox stand-in; alice connected, with the released
    track "Night Drive" (master, bounce, stem in Dropbox) shared (`seed`)."""
    a = dropbox_httpd(start=False, timeout="2 20")
    a.extra += storage_lines(a)
    a.start()
    acct, api, t, files, share, token = seed(a, standin)
    b = dropbox_httpd(start=False)
    b.extra = list(a.extra) + [a.dbd_params()]
    b.start()
    a.label, b.label = "node A", "node B"
    return SimpleNamespace(a=a, b=b, both=(a, b), acct=acct, api_a=api, api_b=b.api("alice"),
                           t=t, files=files, share=share, token=token, standin=standin)


# --- what a visitor gets ------------------------------------------------------------

def parallel(fn, n):
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: fn(), range(n)))


def observe(hosts, fetch, check):
    """On each node in turn: one request (the very next one there), checked, then
    SPREAD concurrent ones, each checked. `fetch(h)` makes the request(s),
    `check(answer, where)` asserts on what came back."""
    for h in hosts:
        check(fetch(h), f"{h.label}, next request")
        for i, got in enumerate(parallel(lambda: fetch(h), SPREAD)):
            check(got, f"{h.label}, request {i + 2}")


def views(token):
    """fetch(): the page and its JSON, both 200."""
    def fetch(h):
        page, js = h.public(token), h.public(token + ".json")
        assert page.status_code == 200, f"{h.label}: page {page.status_code}"
        return page.text, assert_json(js, 200)
    return fetch


def route(path):
    """fetch(): GET /s/<path> as is (no redirect followed)."""
    return lambda h: h.public(path)


def see(hosts, token, check):
    """The page and JSON on each node, as observe() does."""
    observe(hosts, views(token), lambda got, where: check(got[0], got[1], where))


def track_of(j, track_id):
    found = [t for t in j["tracks"] if t["id"] == track_id]
    assert len(found) == 1, f"track {track_id} not once in {[t['id'] for t in j['tracks']]}"
    return found[0]


def page_titles(page):
    """The track titles the page shows (its <h3 class="title">, without the number)."""
    return [re.sub(r"^\d+\.\s*", "", visible_text(m).strip())
            for m in re.findall(r'<h3 class="title">(.*?)</h3>', page, re.S)]


def zip_names(r):
    assert r.status_code == 200, f"{r.url}: {r.status_code} {r.text[:300]}"
    return sorted(zipfile.ZipFile(io.BytesIO(r.content)).namelist())


def zip_entries(r):
    assert r.status_code == 200, f"{r.url}: {r.status_code} {r.text[:300]}"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    return {n: z.read(n) for n in z.namelist()}


def zip_holds(want):
    """check(): a 200 ZIP whose entries are exactly `want` ({name: bytes}), or
    whose names are exactly `want` (a list)."""
    def check(r, where):
        if isinstance(want, dict):
            got = zip_entries(r)
            assert got == want, f"{where}: ZIP holds {sorted(got)}, want {sorted(want)}"
        else:
            got = zip_names(r)
            assert got == sorted(want), f"{where}: ZIP holds {got}, want {sorted(want)}"
    return check


def answers(*codes):
    def check(r, where):
        assert r.status_code in codes, f"{where}: {r.url}: {r.status_code}"
    return check


def redirects_to(content):
    def check(r, where):
        assert r.status_code == 302, f"{where}: {r.url}: {r.status_code} {r.text[:300]}"
        assert follow(r.headers["Location"]).content == content, f"{where}: other bytes"
    return check


def status_is(code, says=None):
    def check(r, where):
        assert r.status_code == code, f"{where}: {r.url}: want {code}, got {r.status_code}"
        if says:
            assert says in visible_text(r.text).lower(), f"{where}: page does not say {says!r}"
    return check


def register(nodes, api, track_id, folder, name, body, category="stem"):
    """A file put in alice's Dropbox, then registered on the track (an owner write)."""
    path = f"/PRODUCER-DASHBOARD/{folder}/{name}"
    nodes.standin.put_file(nodes.acct["account_id"], path, content=body)
    return api.create_file(track_id, category=category, name=name, dropbox_path=path,
                           format=name.rsplit(".", 1)[1], size=len(body))


# --- 1. track metadata ----------------------------------------------------------------

def test_track_metadata_is_fresh_on_both_nodes(nodes):
    """A PATCH of title, BPM, key and artwork (through A, then through B) shows on
    the next page, JSON and ZIP of both nodes, and nothing of the old values stays."""
    n, tid = nodes, nodes.t["id"]

    def zip_folder(title, hosts=n.both):
        """"Download all" holds the track's files in a folder named after its title."""
        observe(hosts, route(f"{n.token}/zip"),
                zip_holds([f"{title}/{f}" for f in ("Night Drive.wav", "Night Drive (bounce).mp3",
                                                    "Drums.wav")]))

    def before(page, j, where):
        t = track_of(j, tid)
        assert (t["title"], t["bpm"], t["key"], t["artwork_url"]) == ("Night Drive", 124, None, None), where
        assert page_titles(page) == ["Night Drive"], where
        assert "124 BPM" in visible_text(page), where

    see(n.both, n.token, before)
    zip_folder("Night Drive")

    r = n.api_a.patch(f"/tracks/{tid}", json={"title": "Midnight Cruise", "bpm": 128, "key": "F# minor",
                                             "artwork_url": "https://img.example.com/cruise.png"})
    assert_json(r, 200)

    def after(page, j, where):
        t = track_of(j, tid)
        assert (t["title"], t["bpm"], t["key"], t["artwork_url"]) == \
            ("Midnight Cruise", 128, "F# minor", "https://img.example.com/cruise.png"), f"{where}: {t}"
        assert page_titles(page) == ["Midnight Cruise"], f"{where}: {page_titles(page)}"
        text = visible_text(page)
        assert "128 BPM" in text and "124 BPM" not in text, where
        assert "F# minor" in text, where
        assert 'src="https://img.example.com/cruise.png"' in page, f"{where}: no artwork"
        assert "<title>Midnight Cruise" in page, f"{where}: page title"

    see((n.b, n.a), n.token, after)
    zip_folder("Midnight Cruise", (n.b, n.a))
    r = n.b.public(f"{n.token}/zip/{tid}/bounces")
    assert "Midnight Cruise - bounces.zip" in r.headers.get("Content-Disposition", ""), r.headers

    # And back through the other node: artwork cleared, key changed.
    assert_json(n.api_b.patch(f"/tracks/{tid}", json={"title": "Dawn Cruise", "key": "A minor",
                                                     "artwork_url": None}), 200)

    def again(page, j, where):
        t = track_of(j, tid)
        assert (t["title"], t["bpm"], t["key"], t["artwork_url"]) == \
            ("Dawn Cruise", 128, "A minor", None), f"{where}: {t}"
        assert page_titles(page) == ["Dawn Cruise"], where
        assert "F# minor" not in visible_text(page), where
        assert "cruise.png" not in page, f"{where}: the cleared artwork is still shown"

    see((n.a, n.b), n.token, again)
    zip_folder("Dawn Cruise", (n.a, n.b))


# --- 2. files added and removed ---------------------------------------------------------

def test_files_added_and_removed_are_fresh_on_both_nodes(nodes):
    """A stem registered on a shared track (through A) is offered by the next JSON
    and page, downloads, and is in the stems ZIP, on both nodes; when the share's
    other track is deleted (through B: the API removes files only with their track),
    its files leave the JSON, the page and the ZIPs, and its file, play and ZIP
    routes answer 404 on the next request of both nodes."""
    n, tid = nodes, nodes.t["id"]
    other = n.api_a.create_track(title="Second Song", sharing_status="released")
    gone = register(n, n.api_a, other["id"], "bounces/Second Song", "Second Song.wav",
                    b"RIFF-second" * 50, category="bounce")
    share = n.api_a.create_share(track_ids=[tid, other["id"]])
    token = share["token"]

    def files_of(j, track_id):
        return {f["name"]: f["id"] for f in track_of(j, track_id)["files"]}

    def before(page, j, where):
        assert files_of(j, tid) == {"Night Drive.wav": n.files["master"]["id"],
                                    "Night Drive (bounce).mp3": n.files["bounce"]["id"],
                                    "Drums.wav": n.files["stem"]["id"]}, where
        assert files_of(j, other["id"]) == {"Second Song.wav": gone["id"]}, where
        assert "Bass.wav" not in page, where

    see(n.both, token, before)
    observe(n.both, route(f"{token}/zip/{tid}/stems"), zip_holds(["Drums.wav"]))
    observe(n.both, route(f"{token}/files/{gone['id']}"), redirects_to(b"RIFF-second" * 50))
    observe(n.both, route(f"{token}/play/{other['id']}"), redirects_to(b"RIFF-second" * 50))

    # Added: a stem registered through node A.
    bass = register(n, n.api_a, tid, "stems/Night Drive", "Bass.wav", b"RIFF-bass" * 70)

    def added(page, j, where):
        assert files_of(j, tid).get("Bass.wav") == bass["id"], f"{where}: {files_of(j, tid)}"
        assert link_re(f"files/{bass['id']}").search(page), f"{where}: no download link for Bass.wav"
        assert "Bass.wav" in visible_text(page), where

    see((n.b, n.a), token, added)
    observe((n.b, n.a), route(f"{token}/files/{bass['id']}"), redirects_to(b"RIFF-bass" * 70))
    observe((n.b, n.a), route(f"{token}/zip/{tid}/stems"),
            zip_holds({"Drums.wav": b"RIFF-drums" * 100, "Bass.wav": b"RIFF-bass" * 70}))

    # Removed: the share's second track deleted, with its file, through node B.
    assert n.api_b.delete(f"/tracks/{other['id']}").status_code == 204

    def removed(page, j, where):
        assert [t["id"] for t in j["tracks"]] == [tid], f"{where}: {[t['title'] for t in j['tracks']]}"
        assert "Second Song" not in page, f"{where}: the deleted track is still on the page"
        assert not link_re(f"files/{gone['id']}").search(page), where

    see((n.a, n.b), token, removed)
    observe((n.a, n.b), route(f"{token}/files/{gone['id']}"), status_is(404))
    observe((n.a, n.b), route(f"{token}/play/{other['id']}"), status_is(404))
    observe((n.a, n.b), route(f"{token}/zip/{other['id']}/bounces"), status_is(404))
    observe((n.a, n.b), route(f"{token}/zip"),
            zip_holds([f"Night Drive/{f}" for f in ("Night Drive.wav", "Night Drive (bounce).mp3",
                                                    "Drums.wav", "Bass.wav")]))


# --- 3. versions in a group ---------------------------------------------------------------

def test_new_version_in_group_is_fresh_on_both_nodes(nodes):
    """A share of version 1 of a song shows the group's latest version: a version 2
    created (through A) replaces it on the next page and JSON of both nodes, its
    file is offered and previewed through the old link's play route; raising
    version 1 above it (through B) brings version 1 back at once."""
    n = nodes
    group = "sunrise-song"
    v1 = n.api_a.create_track(title="Sunrise (v1 rough)", group_id=group, version=1,
                              sharing_status="released")
    v1_bounce = register(n, n.api_a, v1["id"], "bounces/Sunrise", "Sunrise v1.mp3", b"ID3-v1" * 80,
                         category="bounce")
    token = n.api_a.create_share(track_ids=[v1["id"]])["token"]
    play = route(f"{token}/play/{v1['id']}")

    def shows(title, track_id, file_name):
        def check(page, j, where):
            assert [(t["id"], t["title"]) for t in j["tracks"]] == [(track_id, title)], \
                f"{where}: {[(t['id'], t['title']) for t in j['tracks']]}"
            assert [f["name"] for f in j["tracks"][0]["files"]] == ([file_name] if file_name else []), where
            assert page_titles(page) == [title], f"{where}: {page_titles(page)}"
        return check

    see(n.both, token, shows("Sunrise (v1 rough)", v1["id"], "Sunrise v1.mp3"))
    observe(n.both, play, redirects_to(b"ID3-v1" * 80))
    observe(n.both, route(f"{token}/files/{v1_bounce['id']}"), redirects_to(b"ID3-v1" * 80))

    v2 = n.api_a.create_track(title="Sunrise (v2 final)", group_id=group, version=2,
                              sharing_status="released")
    see((n.b, n.a), token, shows("Sunrise (v2 final)", v2["id"], None))
    observe((n.b, n.a), route(f"{token}/files/{v1_bounce['id']}"), status_is(404))

    v2_bounce = register(n, n.api_a, v2["id"], "bounces/Sunrise", "Sunrise v2.mp3", b"ID3-v2" * 90,
                         category="bounce")
    see((n.b, n.a), token, shows("Sunrise (v2 final)", v2["id"], "Sunrise v2.mp3"))
    observe((n.b, n.a), play, redirects_to(b"ID3-v2" * 90))
    observe((n.b, n.a), route(f"{token}/files/{v2_bounce['id']}"), redirects_to(b"ID3-v2" * 90))

    assert_json(n.api_b.patch(f"/tracks/{v1['id']}", json={"version": 3}), 200)
    see((n.a, n.b), token, shows("Sunrise (v1 rough)", v1["id"], "Sunrise v1.mp3"))
    observe((n.a, n.b), play, redirects_to(b"ID3-v1" * 80))
    observe((n.a, n.b), route(f"{token}/files/{v2_bounce['id']}"), status_is(404))


# --- 4. profile ---------------------------------------------------------------------------

def test_profile_is_fresh_on_both_nodes(nodes):
    """PUT /profile (through A, then B) changes the producer's name, theme, avatar
    and header on the next page and JSON of both nodes."""
    n = nodes
    n.api_a.set_profile(display_name="DJ Alice", theme={"accent": "#ff3366", "background": "#101010"})

    def shows(name, accent, background, avatar, gone=()):
        def check(page, j, where):
            p = j["producer"]
            assert (p["display_name"], p["theme"], p["avatar_url"]) == \
                (name, {"accent": accent, "background": background}, avatar), f"{where}: {p}"
            assert f"Shared by {name}" in visible_text(page), f"{where}: producer name"
            low = page.lower()
            assert accent in low and background in low, f"{where}: theme not on the page"
            if avatar:
                assert f'src="{avatar}"' in page, f"{where}: avatar"
            for old in gone:
                assert old not in low, f"{where}: {old!r} still on the page"
        return check

    see(n.both, n.token, shows("DJ Alice", "#ff3366", "#101010", None))
    n.api_a.set_profile(display_name="DJ Nova", theme={"accent": "#22aa44", "background": "#fafafa"},
                        avatar_url="https://img.example.com/nova.png",
                        header_url="https://img.example.com/nova-header.png")
    see((n.b, n.a), n.token, shows("DJ Nova", "#22aa44", "#fafafa", "https://img.example.com/nova.png",
                                   gone=("dj alice", "#ff3366", "#101010")))
    assert all('src="https://img.example.com/nova-header.png"' in h.public(n.token).text for h in n.both)

    n.api_b.set_profile(display_name="Nova Beats", theme={"accent": "#0000ff", "background": "#000000"},
                        avatar_url=None)
    see((n.a, n.b), n.token, shows("Nova Beats", "#0000ff", "#000000", None,
                                   gone=("dj nova", "#22aa44", "nova.png")))


# --- 5. collaborators -----------------------------------------------------------------------

def test_collaborators_are_fresh_on_both_nodes(nodes):
    """A collaborator added (through A), renamed (through B) and removed (through A)
    on a shared track shows, changes and disappears on the next page and JSON of
    both nodes."""
    n, tid = nodes, nodes.t["id"]

    def collabs(want, gone=()):
        def check(page, j, where):
            got = [(c["name"], c["role"], c["avatar_url"]) for c in track_of(j, tid)["collaborators"]]
            assert got == want, f"{where}: {got}"
            text = visible_text(page)
            for name, role, avatar in want:
                assert name in text and f"({role})" in text, f"{where}: {name} not on the page"
                if avatar:
                    assert f'src="{avatar}"' in page, where
            for old in gone:
                assert old not in page, f"{where}: {old!r} still on the page"
        return check

    see(n.both, n.token, collabs([]))
    c = n.api_a.create_collaborator(tid, name="Maya Vox", role="vocals",
                                    avatar_url="https://img.example.com/maya.png")
    see((n.b, n.a), n.token, collabs([("Maya Vox", "vocals", "https://img.example.com/maya.png")]))

    assert_json(n.api_b.patch(f"/tracks/{tid}/collaborators/{c['id']}",
                              json={"name": "Maya V.", "role": "topline", "avatar_url": None}), 200)
    see((n.a, n.b), n.token, collabs([("Maya V.", "topline", None)],
                                     gone=("Maya Vox", "vocals", "maya.png")))

    assert n.api_a.delete(f"/tracks/{tid}/collaborators/{c['id']}").status_code == 204
    see((n.b, n.a), n.token, collabs([], gone=("Maya V.", "topline")))


# --- 6. the share itself: not changeable in this build (see the module docstring) ---------


# --- 7. the Dropbox connection ----------------------------------------------------------------

@pytest.mark.log_allow(r"PDS00040", r"PDS00130")
def test_dropbox_connection_state_is_fresh_on_both_nodes(nodes):
    """DELETE /dropbox (through A) makes the next page of both nodes say downloads
    are unavailable, the JSON `downloads_available` false and downloads 503;
    connecting again (through B) turns them back on at the next request."""
    n = nodes
    stem = n.files["stem"]["id"]

    def available(yes):
        def check(page, j, where):
            assert j["downloads_available"] is yes, f"{where}: downloads_available {j['downloads_available']}"
            assert ("Downloads are unavailable" in page) is (not yes), f"{where}: page notice"
            assert page_titles(page) == ["Night Drive"], where
        return check

    def unavailable_503(r, where):
        assert r.status_code == 503, f"{where}: {r.url}: {r.status_code}"
        assert int(r.headers["Retry-After"]) > 0, where
        assert "Location" not in r.headers, where

    see(n.both, n.token, available(True))
    observe(n.both, route(f"{n.token}/files/{stem}"), redirects_to(b"RIFF-drums" * 100))

    r = assert_json(n.api_a.delete("/dropbox"), 200)
    assert r["connected"] is False
    see((n.b, n.a), n.token, available(False))
    observe((n.b, n.a), route(f"{n.token}/files/{stem}"), unavailable_503)
    observe((n.b, n.a), route(f"{n.token}/play/{n.t['id']}"), unavailable_503)

    connect(n.b, "alice", n.standin, n.acct["account_id"])
    see((n.a, n.b), n.token, available(True))
    observe((n.a, n.b), route(f"{n.token}/files/{stem}"), redirects_to(b"RIFF-drums" * 100))


# --- 8. uploads and their export ------------------------------------------------------------

def test_uploads_and_export_are_fresh_on_both_nodes(nodes):
    """An uploaded master (final: kept here, not exported by the default policy)
    shows on the next page and JSON of both nodes and downloads from local
    storage; an uploaded stem (exported) shows and downloads from local storage
    while its export is held, and once the export is done (a job's write, not the
    owner's) the next download on both nodes goes through Dropbox, same bytes."""
    n, tid = nodes, nodes.t["id"]

    def names(page, j):
        return [f["name"] for f in track_of(j, tid)["files"]]

    def local(body):
        def check(r, where):
            assert r.status_code == 200, f"{where}: {r.url}: {r.status_code} {r.text[:200]}"
            assert r.content == body, f"{where}: other bytes"
            assert "attachment" in r.headers.get("Content-Disposition", ""), where
        return check

    def without(name):
        def check(page, j, where):
            assert name not in names(page, j) and name not in page, where
        return check

    see(n.both, n.token, without("Night Drive (club master).wav"))

    master_body = b"RIFF-club-master" * 300
    r = put(n.api_a, tid, "master", "Night Drive (club master).wav", master_body)
    assert r.status_code == 201, r.text
    master = r.json()
    # A master is final by its category (SPEC §7): not exported by the default policy.
    assert master["uploaded"] is True and master["export"] == "none", master

    def has(name, file_id):
        def check(page, j, where):
            assert name in names(page, j), f"{where}: {names(page, j)}"
            assert link_re(f"files/{file_id}").search(page) and name in visible_text(page), \
                f"{where}: {name} not offered on the page"
        return check

    see((n.b, n.a), n.token, has("Night Drive (club master).wav", master["id"]))
    observe((n.b, n.a), route(f"{n.token}/files/{master['id']}"), local(master_body))

    # A stem is exported (policy non-final): hold the export at Dropbox's door.
    n.standin.fault("files/upload", "hang", count=1, hang_seconds=15)
    stem_body = b"RIFF-vox-stem" * 400
    r = put(n.api_b, tid, "stem", "Vox.wav", stem_body)
    assert r.status_code == 201, r.text
    vox = r.json()
    wait_for(lambda: any(c.get("fault") == "hang" for c in n.standin.call_log("files/upload")),
             timeout=30, what="the export held at files/upload")
    see((n.a, n.b), n.token, has("Vox.wav", vox["id"]))
    observe((n.a, n.b), route(f"{n.token}/files/{vox['id']}"), local(stem_body))

    n.standin.ctl("DELETE", "faults")
    wait_for(lambda: {f["name"]: f.get("export") for f in
                      n.api_a.get(f"/tracks/{tid}/files").json()["files"]}.get("Vox.wav") == "done",
             timeout=30, what="the export of Vox.wav")
    observe((n.b, n.a), route(f"{n.token}/files/{vox['id']}"), redirects_to(stem_body))
    observe((n.b, n.a), route(f"{n.token}/zip/{tid}/stems"),
            zip_holds({"Drums.wav": b"RIFF-drums" * 100, "Vox.wav": stem_body}))
    # The master stays local.
    observe((n.b, n.a), route(f"{n.token}/files/{master['id']}"), local(master_body))


# --- 9. revocation ---------------------------------------------------------------------------

def test_revocation_holds_on_the_next_request_of_both_nodes(nodes):
    """After warming every route on both nodes, POST /shares/{id}/revoke (through A):
    the next page, JSON, file, play and ZIP request on each node answers 410, the
    page saying the share has been disabled."""
    n, tid = nodes, nodes.t["id"]
    paths = [f"{n.token}/files/{n.files['stem']['id']}", f"{n.token}/play/{tid}",
             f"{n.token}/zip/{tid}/stems", f"{n.token}/zip"]
    see(n.both, n.token, lambda page, j, where: track_of(j, tid))
    for p in paths:
        observe(n.both, route(p), answers(200, 302))

    assert_json(n.api_a.post(f"/shares/{n.share['id']}/revoke", json={}), 200)

    def json_revoked(r, where):
        assert r.status_code == 410, f"{where}: {r.status_code}"
        assert r.json()["error"]["code"] == "revoked", where

    observe((n.b, n.a), route(n.token), status_is(410, "disabled"))
    observe((n.b, n.a), route(n.token + ".json"), json_revoked)
    for p in paths:
        observe((n.b, n.a), route(p), status_is(410))


# --- 10. expiry --------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["clock", "expires_at-rewritten"])
def test_expiry_holds_on_the_next_request_of_both_nodes(nodes, how):
    """A share that expires answers 410 (page: the link has expired; JSON code
    `expired`; downloads too) on the next request of both nodes after warming:
    `clock`: its expiry (set a few seconds ahead before warming) passes with no
    write at all; `expires_at-rewritten`: its expires_at is moved into the past in
    the database (as test_api_shares does) after warming."""
    n, tid = nodes, nodes.t["id"]
    share = n.api_a.create_share(track_ids=[tid], expires_in_days=7)
    token = share["token"]
    deadline = None
    if how == "clock":
        deadline = int(time.time()) + 5
        with n.a.db() as conn:
            conn.execute("UPDATE pds_shares SET expires_at = ? WHERE id = ?", (deadline, share["id"]))
    downloads = {f"{token}/files/{n.files['bounce']['id']}": b"ID3-bounce" * 100,
                 f"{token}/play/{tid}": b"RIFF-master" * 100}
    see(n.both, token, lambda page, j, where: track_of(j, tid))
    for p, body in downloads.items():
        observe(n.both, route(p), redirects_to(body))

    if how == "clock":
        assert time.time() < deadline, "warming took longer than the share's life: no test"
        while time.time() < deadline + 0.2:    # the clock passing, not an assertion
            time.sleep(0.1)
    else:
        expire(n.a.db, share["id"])

    def json_expired(r, where):
        assert r.status_code == 410, f"{where}: {r.status_code}"
        assert r.json()["error"]["code"] == "expired", where

    observe((n.b, n.a), route(token), status_is(410, "expired"))
    observe((n.b, n.a), route(token + ".json"), json_expired)
    for p in downloads:
        observe((n.b, n.a), route(p), status_is(410))
