"""Issue 11, items 5 and 6: counts count people, and failures say what failed.

HEAD never counts; a local download counts exactly when its answer carries
byte 0 (Range parsed as RFC 9110 says); link-preview fetchers are counted as
`previews`; a file gone from Dropbox is a 404 page, not an outage; a
producer's refused token is logged at info only; the .json route answers its
errors as JSON; "/s/{token}/" redirects to the page."""

import re
import time

import pytest
import requests

from pdshare_dropbox import connect
from pdshare_harness import assert_error, visible_text

BOT_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko)"
          " Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0")
PERSON_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
             " Chrome/120.0.0.0 Safari/537.36")


def seed_dropbox(h, standin, user="alice"):
    """A connected producer, a released track with a master and a stem in Dropbox, a share."""
    acct = standin.account(f"{user}@example.com", user.title())
    connect(h, user, standin, acct["account_id"])
    api = h.api(user)
    t = api.create_track(title="Counted", sharing_status="released")
    files = {}
    for cat, folder, name, body in [("master", "bounces", "Counted.wav", b"RIFF-master" * 50),
                                    ("stem", "stems", "Drums.wav", b"RIFF-drums" * 50)]:
        path = f"/PRODUCER-DASHBOARD/{folder}/Counted/{name}"
        standin.put_file(acct["account_id"], path, content=body)
        files[cat] = api.create_file(t["id"], category=cat, name=name, dropbox_path=path,
                                     format="wav", size=len(body))
        files[cat]["body"] = body
    share = api.create_share(track_ids=[t["id"]])
    return acct, api, t, files, share, share["token"]


def counts(api, share_id):
    st = api.get(f"/shares/{share_id}").json()
    return {k: st[k] for k in ("views", "previews", "plays", "downloads")}


def log_lines(h, pattern):
    return [line for line in h.read_error_log().splitlines() if re.search(pattern, line)]


# --- item 5: HEAD ---------------------------------------------------------------------

def test_head_never_counts(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed_dropbox(h, standin)
    for path in (token, f"{token}.json", f"{token}/play/{t['id']}",
                 f"{token}/files/{files['stem']['id']}"):
        r = h.public(path, method="HEAD")
        assert r.status_code in (200, 302), f"HEAD {path}: {r.status_code}"
        assert r.content == b""
    assert counts(api, share["id"]) == {"views": 0, "previews": 0, "plays": 0, "downloads": 0}
    # The same GETs count, once each.
    h.public(token)
    h.public(f"{token}/play/{t['id']}")
    h.public(f"{token}/files/{files['stem']['id']}")
    assert counts(api, share["id"]) == {"views": 1, "previews": 0, "plays": 1, "downloads": 1}


# --- item 5: Range on local files -------------------------------------------------------

def storage_lines(h):
    d = h.dir / "storage"
    d.mkdir(exist_ok=True)
    return [f"PDShareStorageDir {d}"]


@pytest.fixture
def local_file(httpd_factory):
    """An uploaded stem kept locally (no Dropbox), 102400 bytes, shared."""
    h = httpd_factory(start=False)
    h.extra = storage_lines(h)
    h.start()
    api = h.api("alice")
    t = api.create_track(title="Local", sharing_status="released")
    data = bytes(range(256)) * 400
    r = api.put(f"/tracks/{t['id']}/upload/stem/Local Drums.wav", data=data,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    share = api.create_share(track_ids=[t["id"]])
    return h, api, share, f"{share['token']}/files/{r.json()['id']}", data


def multipart_parts(r):
    """The (first, last) byte positions of a multipart/byteranges answer."""
    return [(int(a), int(b)) for a, b in
            re.findall(rb"Content-range: bytes (\d+)-(\d+)/\d+", r.content, re.I)]


# (request headers, status, what the visitor gets, counted)
N = 102400
RANGE_CASES = [
    ({}, 200, (0, N - 1), True),
    ({"Range": "bytes=0-"}, 206, (0, N - 1), True),
    ({"Range": "bytes=00-"}, 206, (0, N - 1), True),
    ({"Range": "BYTES=0-"}, 206, (0, N - 1), True),
    ({"Range": "bytes=000-9"}, 206, (0, 9), True),
    ({"Range": "bytes=-8"}, 206, (N - 8, N - 1), False),
    ({"Range": f"bytes=-{N}"}, 206, (0, N - 1), True),
    ({"Range": "bytes=-999999"}, 206, (0, N - 1), True),
    ({"Range": "bytes=1-,0-0"}, 206, (0, N - 1), True),
    ({"Range": "bytes=1-"}, 206, (1, N - 1), False),
    ({"Range": "bytes=100-199"}, 206, (100, 199), False),
    ({"Range": "bytes=abc"}, 200, (0, N - 1), True),
    ({"Range": "bytes=9-5"}, 200, (0, N - 1), True),
    ({"Range": "bytes=+100-"}, 200, (0, N - 1), True),
    ({"Range": "items=100-"}, 200, (0, N - 1), True),
    ({"Range": f"bytes={N}-"}, 416, None, False),
    ({"Request-Range": "bytes=100-"}, 206, (100, N - 1), False),
    ({"Range": "bytes=100-", "If-Range": '"not-the-etag"'}, 200, (0, N - 1), True),
    ({"Range": "bytes=100-", "If-Range": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200, (0, N - 1), True),
]


@pytest.mark.parametrize("headers,status,got,counted", RANGE_CASES,
                         ids=[repr(c[0]) for c in RANGE_CASES])
def test_local_download_counts_when_byte_0_is_sent(local_file, headers, status, got, counted):
    h, api, share, path, data = local_file
    r = h.public(path, headers=headers)
    assert r.status_code == status, r.text[:300]
    if got is not None:
        assert r.content == data[got[0]:got[1] + 1]
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == (1 if counted else 0)


def test_local_download_multipart_and_if_range(local_file):
    h, api, share, path, data = local_file
    # Several ranges, one of them covering byte 0 (written "00"): counted once.
    r = h.public(path, headers={"Range": "bytes=500-599, 00-9"})
    assert r.status_code == 206
    assert multipart_parts(r) == [(0, 9), (500, 599)]
    assert data[:10] in r.content and data[500:600] in r.content
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 1
    # Several ranges past byte 0: a continuation, not counted.
    r = h.public(path, headers={"Range": "bytes=10-19,500-599"})
    assert r.status_code == 206 and multipart_parts(r) == [(10, 19), (500, 599)]
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 1
    # If-Range that matches: the range is served, and it is past byte 0. (httpd
    # makes a file's ETag strong only once it is more than a second old.)
    time.sleep(1.5)
    etag = h.public(path, method="HEAD").headers["ETag"]
    assert not etag.startswith("W/")
    r = h.public(path, headers={"Range": "bytes=100-", "If-Range": etag})
    assert r.status_code == 206 and r.content == data[100:]
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 1
    # HEAD never counts.
    assert h.public(path, method="HEAD").status_code == 200
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 1


def test_redirected_play_or_download_counts_only_from_byte_0(dropbox_httpd, standin):
    """A browser seeking in a track (or resuming a download) that is served by a
    302 to Dropbox asks the share link again with a Range past byte 0: that is
    the same play or download, and is not counted again (SPEC §6)."""
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed_dropbox(h, standin)
    play, stem = f"{token}/play/{t['id']}", f"{token}/files/{files['stem']['id']}"
    for hdrs in ({"Range": "bytes=100-"}, {"Range": "bytes=200-299"}, {"Range": "bytes=-10"},
                 {"Range": "bytes=100-", "If-Range": '"some-etag"'}):
        for path in (play, stem):
            r = h.public(path, headers=hdrs)
            assert r.status_code == 302, (path, hdrs, r.status_code)
    assert counts(api, share["id"]) == {"views": 0, "previews": 0, "plays": 0, "downloads": 0}
    # What starts at byte 0 (or has no Range, or a Range that is not valid) counts.
    for hdrs in ({"Range": "bytes=0-"}, {"Range": "bytes=100-,0-9"}, {"Range": "bytes=-100000"},
                 {}, {"Range": "bytes=9-5"}):
        for path in (play, stem):
            assert h.public(path, headers=hdrs).status_code == 302
    assert counts(api, share["id"]) == {"views": 0, "previews": 0, "plays": 5, "downloads": 5}
    # The Range still reaches Dropbox unchanged: the seek gets the bytes it asked for.
    r = h.public(stem, headers={"Range": "bytes=100-"})
    got = requests.get(r.headers["Location"], headers={"Range": "bytes=100-"}, timeout=30)
    assert got.status_code == 206 and got.content == files["stem"]["body"][100:]


# --- item 5: link previews ---------------------------------------------------------------

def test_link_preview_fetchers_count_as_previews(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed_dropbox(h, standin)
    for ua in (BOT_UA, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"):
        r = h.public(token, headers={"User-Agent": ua})
        assert r.status_code == 200 and "Counted" in r.text
    r = h.public(f"{token}.json", headers={"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0)"})
    assert r.status_code == 200 and r.json()["tracks"][0]["title"] == "Counted"
    # What a fetcher plays or downloads is served but not counted.
    r = h.public(f"{token}/play/{t['id']}", headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    assert r.status_code == 302
    r = h.public(f"{token}/files/{files['stem']['id']}", headers={"User-Agent": "WhatsApp/2.23.20.0 A"})
    assert r.status_code == 302
    assert requests.get(r.headers["Location"], timeout=30).content == files["stem"]["body"]
    # A HEAD by a fetcher counts nothing either.
    assert h.public(token, method="HEAD", headers={"User-Agent": BOT_UA}).status_code == 200
    # People: a view and its JSON (which counts nothing).
    assert h.public(token, headers={"User-Agent": PERSON_UA}).status_code == 200
    assert h.public(f"{token}.json", headers={"User-Agent": PERSON_UA}).status_code == 200
    want = {"views": 1, "previews": 3, "plays": 0, "downloads": 0}
    assert counts(api, share["id"]) == want
    listed = [s for s in api.get("/shares").json()["shares"] if s["id"] == share["id"]]
    assert {k: listed[0][k] for k in want} == want


# --- item 6: a file gone from Dropbox ---------------------------------------------------

def test_file_deleted_from_dropbox_is_404_not_an_outage(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed_dropbox(h, standin)
    stem = files["stem"]
    path = "/PRODUCER-DASHBOARD/stems/Counted/Drums.wav"
    standin.ctl("POST", "files/delete", {"account_id": acct["account_id"], "path": path})
    standin.ctl("POST", "calls/reset")
    for _ in range(2):
        r = h.public(f"{token}/files/{stem['id']}")
        assert r.status_code == 404, r.text[:300]
        assert r.headers["Content-Type"].startswith("text/html")
        assert "Retry-After" not in r.headers and "Location" not in r.headers
        assert "no longer available" in visible_text(r.text).lower()
    assert standin.calls().get("files/get_temporary_link") == 2, "a 404 is not cached"
    assert counts(api, share["id"])["downloads"] == 0
    assert log_lines(h, r"\[pdshare:info\].*PDS00110: file .* is no longer in the Dropbox")
    assert not log_lines(h, r"PDS00073"), "a deleted file is not a Dropbox outage"
    assert not log_lines(h, r"PDS00040"), "nor a download unavailable"
    # The producer puts the file back: it serves again at once.
    standin.put_file(acct["account_id"], path, content=stem["body"])
    r = h.public(f"{token}/files/{stem['id']}")
    assert r.status_code == 302
    assert requests.get(r.headers["Location"], timeout=30).content == stem["body"]
    assert counts(api, share["id"])["downloads"] == 1
    # The page itself still renders.
    assert h.public(token).status_code == 200


def test_refused_token_is_logged_at_info_only_and_answers_503(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed_dropbox(h, standin)
    standin.ctl("POST", "revoke_refresh", {"account_id": acct["account_id"]})
    # The stored access token is refused, and so is its refresh (invalid_grant);
    # then the connection is known to be revoked.
    for path in (f"{token}/files/{files['stem']['id']}", f"{token}/play/{t['id']}"):
        r = h.public(path)
        assert r.status_code == 503, r.text[:300]
        assert int(r.headers["Retry-After"]) > 0
        assert "unavailable" in visible_text(r.text).lower()
    assert api.get("/dropbox").json()["token_status"] == "revoked"
    assert not log_lines(h, r"PDS00073"), "one producer's token is not a Dropbox outage"
    lines = log_lines(h, r"PDS00040: download unavailable")
    assert len(lines) == 2 and all("[pdshare:info]" in line for line in lines), lines
    assert counts(api, share["id"]) == {"views": 0, "previews": 0, "plays": 0, "downloads": 0}


# --- item 6: .json errors and the trailing slash ----------------------------------------

def test_json_errors_are_json(httpd_factory):
    h = httpd_factory()
    alice = h.api("alice")
    t = alice.create_track(title="Json Errors", sharing_status="released")
    expiring = alice.create_share(track_ids=[t["id"]], expires_in_days=7)
    revoked = alice.create_share(track_ids=[t["id"]])
    assert h.public(f"{expiring['token']}.json").status_code == 200
    alice.post(f"/shares/{revoked['id']}/revoke", json={})
    with h.db() as conn:
        conn.execute("UPDATE pds_shares SET expires_at = ? WHERE id = ?",
                     (int(time.time()) - 3600, expiring["id"]))

    err = assert_error(h.public("no-such-token-0123456789abcdef.json"), 404, "not_found")
    assert "<" not in err["message"]
    assert_error(h.public(f"{expiring['token']}.json"), 410, "expired")
    assert_error(h.public(f"{revoked['token']}.json"), 410, "revoked")
    r = h.public("no-such-token-0123456789abcdef.json", method="HEAD")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
    # The page itself still answers HTML.
    r = h.public(f"{revoked['token']}")
    assert r.status_code == 410 and r.headers["Content-Type"].startswith("text/html")


def test_trailing_slash_redirects_to_the_page(httpd_factory):
    h = httpd_factory()
    alice = h.api("alice")
    t = alice.create_track(title="Slash", sharing_status="released")
    s = alice.create_share(track_ids=[t["id"]])
    token = s["token"]
    r = h.public(f"{token}/")
    assert r.status_code == 301 and r.headers["Location"] == f"/s/{token}"
    r = h.public(f"{token}.json/")
    assert r.status_code == 301 and r.headers["Location"] == f"/s/{token}.json"
    r = requests.get(f"{h.base_url}/s/{token}/", timeout=30)
    assert r.status_code == 200 and "Slash" in r.text and r.url == f"{h.base_url}/s/{token}"
    assert alice.get(f"/shares/{s['id']}").json()["views"] == 1, "the redirect is not a view"
    # Nothing but a well-formed token goes into Location.
    for bad in ("%0d%0aSet-Cookie:%20x=1/", "a%20b/", "..%2f/", f"{token}/play/"):
        r = h.public(bad)
        assert r.status_code == 404, f"{bad}: {r.status_code}"
        assert "Location" not in r.headers and "Set-Cookie" not in r.headers
