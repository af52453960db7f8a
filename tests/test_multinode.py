"""Two httpd nodes on one database and two memcached servers: revocation seen
on the other node at the next request, counts exact across nodes, and one
memcached killed under a bounded load without a single 5xx."""

import concurrent.futures
import threading

import pytest
import requests

from pdshare_dropbox import Memcached
from test_dropbox_downloads import seed


@pytest.fixture
def cluster(dropbox_httpd, standin):
    mc1, mc2 = Memcached(), Memcached()
    extra = [f"PDShareMemcache {mc1.addr} {mc2.addr}"]
    h1 = dropbox_httpd(extra=extra)
    data = seed(h1, standin)
    h2 = dropbox_httpd(start=False)
    h2.extra = list(h1.extra) + [h1.dbd_params()]
    h2.start()
    try:
        yield h1, h2, mc1, mc2, data
    finally:
        mc1.stop()
        mc2.stop()


def test_revocation_is_seen_by_the_other_node(cluster):
    h1, h2, mc1, mc2, (acct, api, t, files, share, token) = cluster
    assert h2.public(token).status_code == 200
    assert h1.api("alice").post(f"/shares/{share['id']}/revoke", json={}).status_code == 200
    r = h2.public(token)
    assert r.status_code == 410 and "disabled" in r.text
    assert h2.public(f"{token}/files/{files['stem']['id']}").status_code == 410


def test_counts_are_exact_across_nodes(cluster):
    h1, h2, mc1, mc2, (acct, api, t, files, share, token) = cluster
    urls = [(h1 if i % 2 else h2).base_url + f"/s/{token}" for i in range(200)] + \
           [(h2 if i % 2 else h1).base_url + f"/s/{token}/play/{t['id']}" for i in range(100)] + \
           [(h1 if i % 3 else h2).base_url + f"/s/{token}/files/{files['stem']['id']}" for i in range(150)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(lambda u: requests.get(u, allow_redirects=False, timeout=60).status_code, urls))
    assert codes.count(200) == 200 and codes.count(302) == 250
    stats = api.get(f"/shares/{share['id']}").json()
    assert (stats["views"], stats["plays"], stats["downloads"]) == (200, 100, 150)
    assert stats["downloads_by_type"]["stem"] == 150


@pytest.mark.log_allow(r"PDS00041: the link cache")
def test_one_memcached_killed_under_load(cluster, standin):
    h1, h2, mc1, mc2, (acct, api, t, files, share, token) = cluster
    ids = [files["master"]["id"], files["bounce"]["id"], files["stem"]["id"]]
    # Enough files that their links are spread over both memcached servers.
    for n in range(12):
        path = f"/PRODUCER-DASHBOARD/stems/Night Drive/Stem {n}.wav"
        standin.put_file(acct["account_id"], path, content=b"RIFF-stem" * 10)
        ids.append(api.create_file(t["id"], category="stem", name=f"Stem {n}.wav",
                                   dropbox_path=path, format="wav")["id"])
    urls = [(h1 if i % 2 else h2).base_url + f"/s/{token}/files/{ids[i % len(ids)]}"
            for i in range(600)]
    done = [0]
    lock = threading.Lock()

    def get(u):
        r = requests.get(u, allow_redirects=False, timeout=60)
        with lock:
            done[0] += 1
            if done[0] == 200:
                mc1.stop()                  # halfway through the load
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        codes = list(pool.map(get, urls))
    assert mc1.proc.poll() is not None, "memcached was not stopped during the load"
    assert [c for c in codes if c >= 500] == [], "no 5xx while a memcached is down"
    assert codes.count(302) == 600
    assert api.get(f"/shares/{share['id']}").json()["downloads"] == 600
    # The survivors' misses went to Dropbox, not to an error page.
    assert standin.calls().get("files/get_temporary_link", 0) >= 1
    # Each node says so once, not once per request.
    for h in (h1, h2):
        down = [line for line in h.read_error_log().splitlines() if "PDS00041:" in line]
        assert len(down) <= 1, down
    assert any("PDS00041:" in h.read_error_log() for h in (h1, h2)), "nobody noticed the outage"
