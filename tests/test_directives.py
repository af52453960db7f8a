"""Directives: a value that cannot work stops httpd at start-up with a line naming
the directive; a complete valid configuration starts and serves."""

import os

import pytest
import requests

from pdshare_harness import REPO, assert_error, assert_json, start_memcached, stop_process
import pdshare_harness as harness


def valid_directives(h, memcache_port=11211):
    """Every mod_pdshare directive with a working value, as an ordered dict."""
    key = h.dir / "data.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o600)
    secret = h.dir / "dropbox-app.secret"
    secret.write_text("app-secret-for-tests\n")
    os.chmod(secret, 0o600)
    (h.dir / "storage").mkdir(exist_ok=True)
    return {
        "PDShareBaseURL": h.base_url,
        "PDShareHtdocs": str(REPO / "htdocs"),
        "PDShareDataKeyFile": str(key),
        "PDShareDropboxAppKey": "testappkey123",
        "PDShareDropboxAppSecretFile": str(secret),
        "PDShareDropboxRedirectURI": f"{h.base_url}/pd/api/dropbox/callback",
        "PDShareDropboxAPIURL": "http://127.0.0.1:9",
        "PDShareDropboxContentURL": "http://127.0.0.1:9",
        "PDShareDropboxAuthorizeURL": "https://www.dropbox.com/oauth2/authorize",
        "PDShareDropboxRoot": "/PRODUCER-DASHBOARD",
        "PDShareHTTPTimeout": "5 30",
        "PDShareMemcache": f"127.0.0.1:{memcache_port}",
        "PDShareTempLinkTTL": "12600",
        "PDShareMaxTracks": "50",
        "PDShareStorageDir": str(h.dir / "storage"),
        "PDShareExportSingleFolder": "Off",
        "PDShareExportByStatus": "non-final",
        "PDShareSMTP": "smtp://127.0.0.1:2525",
        "PDShareMailFrom": "pdshare@example.com",
        "PDShareSharePath": "/s",
    }


def as_lines(directives):
    return [f"{k} {v}" for k, v in directives.items() if v is not None]


def test_every_directive_valid_starts(httpd_factory):
    mc, mc_port = start_memcached()
    try:
        h = httpd_factory(start=False)
        # the module's own log at its most verbose: no secret may show there
        h.extra = as_lines(valid_directives(h, mc_port)) + ["LogLevel info pdshare:trace8"]
        h.start()
        alice = h.api("alice")
        assert assert_json(alice.get("/profile"), 200)["display_name"] == "alice"
        t = alice.create_track(title="Configured", sharing_status="released")
        s = alice.create_share(track_ids=[t["id"]])
        assert s["url"] == f"{h.base_url}/s/{s['token']}"
        assert h.public(f"/s/{s['token']}").status_code == 200
        h.stop()
        log = h.read_error_log()
        assert "app-secret-for-tests" not in log
        assert s["token"] not in log
        key = (h.dir / "data.key").read_bytes()
        assert key.hex() not in log.lower()
    finally:
        stop_process(mc)


def test_base_url_from_request(httpd_factory):
    h = httpd_factory(base_url=False)
    alice = h.api("alice")
    t = alice.create_track(title="No Base")
    s = alice.create_share(track_ids=[t["id"]])
    assert s["url"] == f"{h.base_url}/s/{s['token']}"
    assert h.public(f"/s/{s['token']}").status_code == 200


def test_several_memcache_servers(httpd_factory):
    mc1, p1 = start_memcached()
    mc2, p2 = start_memcached()
    try:
        h = httpd_factory(extra=[f"PDShareMemcache 127.0.0.1:{p1} localhost:{p2}"])
        assert h.api("alice").get("/profile").status_code == 200
    finally:
        stop_process(mc1)
        stop_process(mc2)


INVALID = [
    ("PDShareBaseURL", "ftp://x"),
    ("PDShareBaseURL", "not-a-url"),
    ("PDShareBaseURL", "javascript:alert(1)"),
    ("PDShareHtdocs", "/nonexistent/pdshare-htdocs"),
    ("PDShareDataKeyFile", "{tmp}/no-such.key"),
    ("PDShareDataKeyFile", "{tmp}/short.key"),
    ("PDShareDataKeyFile", "{tmp}/long.key"),
    ("PDShareDropboxAppKey", '""'),
    ("PDShareDropboxAppKey", '"a b"'),
    ("PDShareDropboxAppSecretFile", "{tmp}/no-such.secret"),
    ("PDShareDropboxAppSecretFile", "{tmp}/empty.secret"),
    ("PDShareDropboxRedirectURI", "ftp://127.0.0.1/callback"),
    ("PDShareDropboxRedirectURI", "127.0.0.1/callback"),
    ("PDShareDropboxAPIURL", "ftp://127.0.0.1"),
    ("PDShareDropboxAPIURL", "api.dropboxapi.com"),
    ("PDShareDropboxContentURL", "file:///etc/passwd"),
    ("PDShareDropboxContentURL", "content.dropboxapi.com"),
    ("PDShareDropboxAuthorizeURL", "gopher://127.0.0.1/"),
    ("PDShareDropboxAuthorizeURL", "www.dropbox.com/oauth2/authorize"),
    ("PDShareDropboxRoot", "PRODUCER-DASHBOARD"),
    ("PDShareDropboxRoot", "/a/../b"),
    ("PDShareDropboxRoot", "/.."),
    ("PDShareHTTPTimeout", "0 5"),
    ("PDShareHTTPTimeout", "10 5"),
    ("PDShareHTTPTimeout", "5 0"),
    ("PDShareHTTPTimeout", "abc"),
    ("PDShareHTTPTimeout", "abc 30"),
    ("PDShareHTTPTimeout", "5 -1"),
    ("PDShareMemcache", "127.0.0.1"),
    ("PDShareMemcache", "127.0.0.1:99999"),
    ("PDShareMemcache", "127.0.0.1:0"),
    ("PDShareMemcache", "127.0.0.1:abc"),
    ("PDShareMemcache", ":11211"),
    ("PDShareTempLinkTTL", "14400"),
    ("PDShareTempLinkTTL", "20000"),
    ("PDShareTempLinkTTL", "0"),
    ("PDShareTempLinkTTL", "-5"),
    ("PDShareTempLinkTTL", "abc"),
    ("PDShareTempLinkTTL", "100x"),
    ("PDShareMaxTracks", "0"),
    ("PDShareMaxTracks", "-1"),
    ("PDShareMaxTracks", "abc"),
    ("PDShareMaxTracks", "5x"),
    ("PDShareStorageDir", "relative/storage"),
    ("PDShareStorageDir", "/nonexistent/pdshare-storage"),
    ("PDShareStorageDir", "{tmp}/a-file-not-a-dir"),
    ("PDShareExportSingleFolder", "maybe"),
    ("PDShareExportByStatus", "bogus"),
    ("PDShareExportByStatus", "Final"),
    ("PDShareSMTP", "http://127.0.0.1:25"),
    ("PDShareSMTP", "not-a-url"),
    ("PDShareMailFrom", "no-at-sign"),
    ("PDShareSharePath", "s"),
]


def prepare_files(h):
    (h.dir / "short.key").write_bytes(os.urandom(5))
    (h.dir / "long.key").write_bytes(os.urandom(64))
    (h.dir / "empty.secret").write_bytes(b"")
    (h.dir / "a-file-not-a-dir").write_text("x")


def assert_refused(result, directive, tmp):
    code, out, log = result
    text = (out + "\n" + log).replace(str(tmp), "<tmp>")
    assert code != 0, f"httpd exited with 0:\n{text}"
    assert "Invalid command" not in text, f"{directive} is not a known directive:\n{text}"
    naming = [line for line in text.splitlines() if directive in line]
    assert naming, f"no line names {directive}:\n{text}"


@pytest.mark.parametrize("directive,value", INVALID, ids=[f"{d}={v}" for d, v in INVALID])
def test_invalid_value_refused(start_fail, directive, value):
    holder = {}

    def prepare(h, extra):
        holder["tmp"] = h.dir
        prepare_files(h)
        d = valid_directives(h)
        d[directive] = value.replace("{tmp}", str(h.dir))
        return as_lines(d)

    assert_refused(start_fail(prepare=prepare), directive, holder["tmp"])


def test_dropbox_without_key_file_refused(start_fail):
    holder = {}

    def prepare(h, extra):
        holder["tmp"] = h.dir
        d = valid_directives(h)
        d["PDShareDataKeyFile"] = None
        return as_lines(d)

    assert_refused(start_fail(prepare=prepare), "PDShareDataKeyFile", holder["tmp"])


@pytest.mark.parametrize("directive,value", [("PDShareMaxTracks", "5"), ("PDShareTempLinkTTL", "600"),
                                             ("PDShareBaseURL", "http://127.0.0.1")])
def test_server_directive_in_location_refused(start_fail, directive, value):
    holder = {}

    def prepare(h, extra):
        holder["tmp"] = h.dir
        return ["<Location /elsewhere>", f"  {directive} {value}", "</Location>"]

    assert_refused(start_fail(prepare=prepare), directive, holder["tmp"])


# --- directives that change behaviour --------------------------------------------------

def test_max_tracks(httpd_factory):
    h = httpd_factory(extra=["PDShareMaxTracks 5"])
    alice = h.api("alice")
    ids = [alice.create_track(title=f"m{i}", bucket="five")["id"] for i in range(6)]
    assert_error(alice.post("/shares", json={"track_ids": ids}), 400, "too_many_tracks")
    assert_error(alice.post("/shares", json={"bucket": "five"}), 400, "too_many_tracks")
    s = assert_json(alice.post("/shares", json={"track_ids": ids[:5]}), 201)
    assert len(s["tracks"]) == 5


def test_share_path_and_base_url(httpd_factory):
    h = httpd_factory(start=False)
    h.extra = [
        "PDShareSharePath /share",
        f"PDShareBaseURL http://share.example.test:{h.port}",
        "<Location /share>",
        "  SetHandler pdshare",
        "</Location>",
    ]
    h.start()
    alice = h.api("alice")
    t = alice.create_track(title="Elsewhere")
    s = alice.create_share(track_ids=[t["id"]])
    assert s["url"] == f"http://share.example.test:{h.port}/share/{s['token']}"
    r = requests.get(f"{h.base_url}/share/{s['token']}", timeout=30)
    assert r.status_code == 200
    assert "Elsewhere" in r.text
    assert requests.get(f"{h.base_url}/share/{s['token']}.json", timeout=30).json()["tracks"][0]["title"] == "Elsewhere"


@pytest.mark.log_allow(r"plain/\.htaccess: Invalid command 'ThisIsNotADirective'",
                       r"AH01630: client denied by server configuration: pdshare:pdshare",
                       r"PDS00180: the filesystem walk was skipped for handler pdshare, but"
                       r" handler elsewhere")
def test_share_and_api_urls_skip_the_filesystem_walk(httpd_factory):
    """The module's URLs name no file: httpd does not walk the document root for
    them (no stat of each component, no .htaccess read), while other URLs keep
    their walk. An .htaccess that httpd cannot parse shows which were walked."""
    h = httpd_factory(start=False)
    docroot = h.dir / "docroot"
    for d in ["s", "pd", "plain"]:
        (docroot / d).mkdir(parents=True, exist_ok=True)
        (docroot / d / ".htaccess").write_text("ThisIsNotADirective on\n")
    (docroot / "plain" / "x.txt").write_text("plain\n")
    (docroot / "ok").mkdir()
    (docroot / "ok" / "y.txt").write_text("ok\n")
    h.extra = [
        f"LoadModule setenvif_module {harness.libexecdir()}/mod_setenvif.so",
        f"<Directory {docroot}>", "  AllowOverride All", "</Directory>",
        # A <Location> merged once for the URLs that keep their walk.
        "<Location /ok>", "  Header add X-Once a", "</Location>",
        # Denied: httpd logs the request's file name, which must not be the URL.
        '<LocationMatch "^/s/[^/]+/zip">', "  Require ip 192.0.2.1", "</LocationMatch>",
        # A handler that changes after the walk was skipped is refused.
        "<Location /s/evade>", "  SetEnvIf Request_URI evade H=elsewhere",
        '  SetHandler "%{reqenv:H}pdshare"', "</Location>",
        "AddLanguage fr .fr",
        # Our own <Location> is merged once too, and an <If> in it leaves the
        # routes below the <Location>.
        "<Location /s>", "  Header add X-Once s",
        "  <If \"%{REQUEST_METHOD} in {'GET', 'HEAD'}\">", "    Header add X-If i", "  </If>",
        "</Location>",
    ]
    h.start()
    alice = h.api("alice")                       # /pd/api: the owner API answers
    t = alice.create_track(title="No walk")
    s = alice.create_share(track_ids=[t["id"]])
    r = requests.get(f"{h.base_url}/s/{s['token']}", timeout=30)
    assert r.status_code == 200 and "No walk" in r.text
    assert (r.headers.get("X-Once"), r.headers.get("X-If")) == ("s", "i")
    assert requests.get(f"{h.base_url}/s/{s['token']}.json", timeout=30).status_code == 200
    r = requests.get(f"{h.base_url}/s/not-a-token.fr", timeout=30)
    assert r.status_code == 404 and "Content-Language" not in r.headers   # no suffix read
    # The rest of the document root is walked, .htaccess included, and its
    # <Location> applies once.
    assert requests.get(f"{h.base_url}/plain/x.txt", timeout=30).status_code == 500
    assert "ThisIsNotADirective" in h.read_error_log()
    r = requests.get(f"{h.base_url}/ok/y.txt", timeout=30)
    assert r.status_code == 200 and r.headers.get("X-Once") == "a"
    # A denied share URL is logged by its handler, never by its token.
    assert requests.get(f"{h.base_url}/s/{s['token']}/zip", timeout=30).status_code == 403
    log = h.read_error_log()
    assert "AH01630" in log and s["token"] not in log and s["token"][:12] not in log
    r = requests.get(f"{h.base_url}/s/evade", timeout=30)
    assert r.status_code == 404 and "PDS00180" in h.read_error_log()
