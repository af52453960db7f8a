"""What we ship is hardened: httpd started with the shipped configuration files
as they are (conf/pdshare.conf as Debian's a2enmod enables it, and the
source-httpd sample conf/httpd-pdshare.conf.sample), plus only what the test
machine needs (its database, password file and the stand-in's URLs): the access
log holds no full share token, OAuth code or state; TRACE is refused; slow
clients are cut by mod_reqtimeout while others are served. The demo's
configuration is tested by test_demo.py."""

import os
import re
import socket
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pdshare_dropbox import dropbox_lines, start_connect
from pdshare_harness import REPO, Httpd, libexecdir, module_path

# Debian's apache2.conf defines these and its default site logs with "combined".
DEBIAN_LOG = [
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
    "CustomLog access.log combined",
]
# httpd's own httpd.conf: "common" to logs/access_log.
SOURCE_LOG = [
    'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
    "CustomLog access.log common",
]


# Modules a fresh Debian apache2 has enabled already (mods-enabled), which
# conf/pdshare.conf uses when they are there.
DEBIAN_DEFAULT_MODULES = ["filter", "deflate"]


def debian_depends():
    """The modules `a2enmod pdshare` enables with it: the Depends line of conf/pdshare.load."""
    for line in (REPO / "conf" / "pdshare.load").read_text().splitlines():
        if line.startswith("# Depends:"):
            return line.split(":", 1)[1].split()
    return []


class ShippedHttpd(Httpd):
    """The harness's httpd with a shipped configuration file included as it is.

    "debian": conf/pdshare.conf after the modules a2enmod pdshare enables (the
    Depends line of conf/pdshare.load). "sample":
    conf/httpd-pdshare.conf.sample in place of the harness's LoadModule line, with
    the modules it loads (ServerRoot-relative) linked into modules/."""

    def __init__(self, kind):
        super().__init__(name=f"shipped-{kind}")
        self.kind = kind
        if kind == "sample":
            (self.dir / "modules").mkdir()
            os.symlink(module_path(), self.dir / "modules" / "mod_pdshare.so")
            for m in ("reqtimeout", "filter", "deflate"):
                os.symlink(os.path.join(libexecdir(), f"mod_{m}.so"),
                           self.dir / "modules" / f"mod_{m}.so")
            (self.dir / "conf").mkdir()
            (self.dir / "conf" / "pdshare.htpasswd").write_bytes(self.htpasswd.read_bytes())

    def owner_app_lines(self):
        return []       # the shipped file has its own /pd/app

    def config_text(self, module=None, extra=None):
        text = super().config_text(module, extra)
        load = f"LoadModule pdshare_module {module or module_path()}"
        assert load in text
        if self.kind == "sample":
            return text.replace(load, f"Include {REPO}/conf/httpd-pdshare.conf.sample")
        return text.replace(load, "\n".join([load] + [
            f"LoadModule {m}_module {libexecdir()}/mod_{m}.so"
            for m in debian_depends() + DEBIAN_DEFAULT_MODULES
            if f"LoadModule {m}_module " not in text] + [f"Include {REPO}/conf/pdshare.conf"]))

    def shipped_overrides(self):
        """What differs on the test machine: the database, and for Debian's file
        the password file (its path is under /etc/apache2)."""
        lines = list(self.dbd_lines())
        if self.kind == "debian":
            lines += ["<Location /pd/api>", f"  AuthUserFile {self.dir}/htpasswd", "</Location>"]
        return lines + (DEBIAN_LOG if self.kind == "debian" else SOURCE_LOG)


@pytest.fixture
def shipped(request, standin):
    made = []

    def make(kind, extra=()):
        h = ShippedHttpd(kind)
        made.append(h)
        h.extra = h.shipped_overrides() + dropbox_lines(h.dir, standin) + list(extra)
        h.start()
        return h

    yield make
    problems = []
    for h in made:
        h.stop()
        bad = h.all_unexpected_log_lines()
        if bad:
            problems.append("\n".join(bad))
        h.cleanup()
    if problems:
        pytest.fail("unexpected error log lines:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("kind", ["debian", "sample"])
def test_access_log_masks_share_tokens_and_oauth_secrets(shipped, standin, kind):
    h = shipped(kind)
    acct = standin.account("alice@example.com", "Alice Producer")
    # The OAuth round trip, its callback carrying a code and a state.
    _, _, callback = start_connect(h, "alice", standin, acct["account_id"])
    q = parse_qs(urlsplit(callback).query)
    code, state = q["code"][0], q["state"][0]
    api = h.api("alice")
    r = api.session.get(callback, auth=api.auth, allow_redirects=False, timeout=30)
    assert r.status_code == 302 and r.headers["Location"].endswith("dropbox=connected")

    t = api.create_track(title="Night Drive", sharing_status="released")
    path = "/PRODUCER-DASHBOARD/bounces/Night Drive/Night Drive.wav"
    standin.put_file(acct["account_id"], path, content=b"RIFF" * 100)
    f = api.create_file(t["id"], category="master", name="Night Drive.wav", dropbox_path=path,
                        format="wav", size=400)
    token = api.create_share(track_ids=[t["id"]])["url"].rsplit("/", 1)[1]
    share_url = f"{h.base_url}/s/{token}"

    assert h.public(token).status_code == 200
    assert h.public(f"{token}.json").status_code == 200
    assert h.public(f"{token}/play/{t['id']}").status_code == 302
    assert h.public(f"{token}/files/{f['id']}").status_code == 302
    # A token in a query and in a Referer (a client that ignores Referrer-Policy).
    assert h.public(f"{token}?token={token}").status_code == 200
    assert h.public("assets/pdshare.css", headers={"Referer": share_url}).status_code == 200
    h.stop()

    log = (h.dir / "access.log").read_text()
    lines = log.splitlines()
    assert len(lines) >= 8, log
    for secret, what in [(token, "share token"), (code, "OAuth code"), (state, "OAuth state")]:
        assert secret not in log, f"the {what} is in the access log"
    # Masked, not dropped: the requests are there, the token's first 6 characters kept.
    for want in [f"GET /s/{token[:6]}... ", f"GET /s/{token[:6]}....json ",
                 f"GET /s/{token[:6]}.../play/{t['id']} ",
                 f"GET /s/{token[:6]}.../files/{f['id']} ",
                 f"GET /s/{token[:6]}...?token={token[:6]}... ",
                 "GET /pd/api/dropbox/callback?code=" + code[:6] + "...&state=" + state[:6] + "... "]:
        assert any(want in l for l in lines), f"{want!r} not in\n{log}"
    if kind == "debian":
        assert any(f'"{share_url[:-len(token)]}{token[:6]}..."' in l for l in lines), log


@pytest.mark.parametrize("kind", ["debian", "sample"])
def test_trace_is_refused(shipped, standin, kind):
    h = shipped(kind)
    r = requests.request("TRACE", h.base_url + "/s/x", headers={"X-Secret": "s3cret"}, timeout=10)
    assert r.status_code == 405
    assert "s3cret" not in r.text


def slow_body(port, auth_header, results, i):
    """POST a JSON body that promises 40 bytes and sends one every 0.3 s (12 s in
    all). Records whether the server ended the request before the body was whole."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        s.sendall((f"POST /pd/api/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_header}"
                   "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n").encode())
        body = b'{"title": "' + b"x" * 27 + b'"}'
        assert len(body) == 40
        for b in body:
            try:
                s.sendall(bytes([b]))
            except OSError:
                break                   # the server closed the connection
            sent += 1
            s.settimeout(0.3)
            try:
                if s.recv(4096, socket.MSG_PEEK):
                    break               # the server answered already
            except socket.timeout:
                pass
            except OSError:
                break
        s.settimeout(30)
        try:
            answer = s.recv(4096)
        except OSError:
            answer = b""
    finally:
        s.close()
    results[i] = (sent, answer.split(b"\r\n", 1)[0].decode(errors="replace"))


@pytest.mark.parametrize("kind", ["debian", "sample"])
def test_slow_request_bodies_are_cut_while_others_are_served(shipped, standin, kind):
    """5 clients trickle their bodies; with a short RequestReadTimeout (the test's
    override of the shipped one, same module and mechanism) each is ended before
    its body is whole, and a share page is served meanwhile."""
    import base64
    h = shipped(kind, extra=["RequestReadTimeout header=5 body=2"])
    api = h.api("alice")
    t = api.create_track(title="Song", sharing_status="released")
    token = api.create_share(track_ids=[t["id"]])["url"].rsplit("/", 1)[1]
    auth = "Authorization: Basic " + base64.b64encode(b"alice:alicepw").decode() + "\r\n"
    results = [None] * 5
    threads = [threading.Thread(target=slow_body, args=(h.port, auth, results, i))
               for i in range(5)]
    for th in threads:
        th.start()
    try:
        assert h.public(token).status_code == 200
    finally:
        for th in threads:
            th.join(60)
    for sent, status in results:
        assert sent < 40, f"the server waited for a whole slow body ({status})"
        assert status == "" or status.split(" ")[1] in ("400", "408"), status
    assert "AH01382" in h.read_error_log()      # mod_reqtimeout's "Request body read timeout"


@pytest.mark.parametrize("kind", ["debian", "sample"])
def test_pages_and_assets_come_compressed_but_not_the_owner_api(shipped, standin, kind):
    """With the shipped configuration a browser that accepts gzip gets the share
    page, its JSON, styles and script compressed (a page is about 12 KiB); the
    owner API's JSON (share tokens beside other people's text) is not."""
    import gzip
    h = shipped(kind)
    api = h.api("alice")
    t = api.create_track(title="Compressed Mix", sharing_status="released")
    share = api.create_share(track_ids=[t["id"]])
    token = share["token"]
    gz = {"Accept-Encoding": "gzip"}
    page = h.public(token, headers=gz, stream=True)
    raw = page.raw.read(decode_content=False)
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers.get("Vary", "")
    html = gzip.decompress(raw).decode()
    assert len(raw) < len(html) / 2 and "Compressed Mix" in html
    # The same page to a client that does not ask for gzip: as it is.
    plain = h.public(token, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.text.count("Compressed Mix") == html.count("Compressed Mix") > 0
    ver = re.search(r'/s/assets/([0-9a-f]{16})/pdshare\.css', html).group(1)
    for path, ctype in [(f"{token}.json", "application/json"),
                        (f"assets/{ver}/pdshare.css", "text/css"),
                        (f"assets/{ver}/pdshare.js", "text/javascript")]:
        r = h.public(path, headers=gz)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype), path
        assert r.headers.get("Content-Encoding") == "gzip", path
    r = requests.get(h.base_url + "/pd/api/shares", auth=api.auth, headers=gz, timeout=30,
                     stream=True)
    assert r.status_code == 200 and "Content-Encoding" not in r.headers
    assert token in r.text
