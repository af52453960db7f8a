"""Downloads and previews through Dropbox temporary links: minted behind the
redirect, cached (memcached across nodes, or per child), counted exactly; a
token that expires is refreshed unseen; a revoked connection turns downloads
to 503 while the page still renders."""

import concurrent.futures

import pytest
import requests

from pdshare_dropbox import child_pids, connect


def seed(h, standin, user="alice", email="alice@example.com"):
    """A connected producer with a released track, three files in Dropbox, and a share."""
    acct = standin.account(email, user.title())
    connect(h, user, standin, acct["account_id"])
    api = h.api(user)
    t = api.create_track(title="Night Drive", bpm=124, sharing_status="released")
    files = {}
    for cat, name, body in [("master", "Night Drive.wav", b"RIFF-master" * 100),
                            ("bounce", "Night Drive (bounce).mp3", b"ID3-bounce" * 100),
                            ("stem", "Drums.wav", b"RIFF-drums" * 100)]:
        folder = {"master": "bounces", "bounce": "bounces", "stem": "stems"}[cat]
        path = f"/PRODUCER-DASHBOARD/{folder}/Night Drive/{name}"
        standin.put_file(acct["account_id"], path, content=body)
        files[cat] = api.create_file(t["id"], category=cat, name=name, dropbox_path=path,
                                     format=name.rsplit(".", 1)[1], size=len(body))
    share = api.create_share(track_ids=[t["id"]])
    token = share["url"].rsplit("/", 1)[1]
    return acct, api, t, files, share, token


def follow(url):
    """What the visitor's browser gets at the end of the redirect."""
    return requests.get(url, timeout=30)


def test_download_redirects_to_a_temporary_link_and_counts(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    page = h.public(token)
    assert page.status_code == 200
    assert "Downloads are unavailable" not in page.text
    assert "dl.dropbox" not in page.text and standin.url not in page.text, \
        "a temporary link must never be put into HTML"

    r = h.public(f"{token}/files/{files['stem']['id']}")
    assert r.status_code == 302
    assert r.headers["Location"].startswith(standin.url + "/tl/")
    assert follow(r.headers["Location"]).content == b"RIFF-drums" * 100

    r = h.public(f"{token}/play/{t['id']}")
    assert r.status_code == 302
    assert follow(r.headers["Location"]).content == b"RIFF-master" * 100, "the master is the best preview"

    stats = api.get(f"/shares/{share['id']}").json()
    assert stats["downloads"] == 1 and stats["downloads_by_type"]["stem"] == 1
    assert stats["plays"] == 1
    assert stats["tracks"][0]["downloads_by_type"]["stem"] == 1


def test_one_link_call_across_two_nodes_sharing_memcached(dropbox_httpd, standin, memcached):
    extra = [f"PDShareMemcache {memcached.addr}"]
    h1 = dropbox_httpd(extra=extra)
    acct, api, t, files, share, token = seed(h1, standin)
    # A second node on the same database and memcached.
    # A second node: the same data key, database and memcached.
    h2 = dropbox_httpd(start=False)
    h2.extra = list(h1.extra) + [h1.dbd_params()]
    h2.start()
    standin.ctl("POST", "calls/reset")
    path = f"/s/{token}/files/{files['master']['id']}"
    urls = [(h1 if i % 2 else h2).base_url + path for i in range(500)]

    def get(u):
        return requests.get(u, allow_redirects=False, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(get, urls))
    assert [r.status_code for r in answers] == [302] * 500
    assert len({r.headers["Location"] for r in answers}) == 1
    assert standin.calls().get("files/get_temporary_link") == 1
    stats = api.get(f"/shares/{share['id']}").json()
    assert stats["downloads"] == 500
    assert stats["downloads_by_type"]["master"] == 500


def test_without_memcache_at_most_one_link_call_per_child(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    standin.ctl("POST", "calls/reset")
    url = f"{h.base_url}/s/{token}/files/{files['bounce']['id']}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda u: requests.get(u, allow_redirects=False, timeout=60),
                                [url] * 500))
    assert [r.status_code for r in answers] == [302] * 500
    children = len(child_pids(h.pid))
    calls = standin.calls().get("files/get_temporary_link", 0)
    assert 1 <= calls <= children, f"{calls} link calls for {children} children"
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 500


def test_expired_access_token_is_refreshed_unseen(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    standin.ctl("POST", "expire_access", {"account_id": acct["account_id"]})
    before = standin.calls().get("oauth2/token", 0)
    r = h.public(f"{token}/files/{files['stem']['id']}")
    assert r.status_code == 302, r.text
    assert follow(r.headers["Location"]).status_code == 200
    assert standin.calls().get("oauth2/token", 0) == before + 1
    assert api.get("/dropbox").json()["token_status"] == "ok"


@pytest.mark.log_allow(r"PDS00040: download unavailable")
def test_revoked_refresh_token_marks_revoked_and_downloads_503(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    standin.ctl("POST", "revoke_refresh", {"account_id": acct["account_id"]})
    r = h.public(f"{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
    assert "unavailable" in r.text.lower()
    assert api.get("/dropbox").json()["token_status"] == "revoked"
    # The page still renders, and says downloads are unavailable.
    page = h.public(token)
    assert page.status_code == 200 and "Night Drive" in page.text
    assert "Downloads are unavailable right now" in page.text
    assert h.public(token + ".json").json()["downloads_available"] is False
    assert h.public(f"{token}/play/{t['id']}").status_code == 503


def test_track_files_lists_what_is_in_dropbox_but_not_imported(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    standin.put_file(acct["account_id"], "/PRODUCER-DASHBOARD/stems/Night Drive/Bass.wav",
                     content=b"RIFF-bass")
    listing = api.get(f"/tracks/{t['id']}/files").json()
    assert listing["dropbox"] == "ok"
    imported = [f for f in listing["files"] if f["imported"]]
    found = [f for f in listing["files"] if not f["imported"]]
    assert {f["name"] for f in imported} == {"Night Drive.wav", "Night Drive (bounce).mp3", "Drums.wav"}
    assert [(f["name"], f["category"], f["dropbox_path"], f["size"]) for f in found] == \
        [("Bass.wav", "stem", "/PRODUCER-DASHBOARD/stems/Night Drive/Bass.wav", 9)]
    # Another producer's view of the track is still a 404.
    assert h.api("bob").get(f"/tracks/{t['id']}/files").status_code == 404


def test_track_files_without_a_connection(dropbox_httpd, standin):
    h = dropbox_httpd()
    api = h.api("alice")
    t = api.create_track(title="Alone")
    listing = api.get(f"/tracks/{t['id']}/files").json()
    assert listing == {"files": [], "dropbox": "not_connected"}
