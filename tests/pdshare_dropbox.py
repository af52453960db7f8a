"""The Dropbox stand-in and memcached as real processes on loopback, and helpers
to run mod_pdshare against them: config lines, connecting a producer through
the real OAuth flow, and reading httpd's children's memory.

Only processes started here are ever signalled, and only by their pid."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from pdshare_harness import free_port, is_root

TESTS = Path(__file__).resolve().parent
APP_KEY = "pdsharetestkey"
APP_SECRET = "pdsharetestsecret"


def _wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class StandIn:
    """`python3 -m dropbox_standin` as a child process, with its control API."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pdshare-standin-"))
        self.port_file = self.dir / "port"
        self.log = open(self.dir / "standin.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dropbox_standin", "--host", "127.0.0.1", "--port", "0",
             "--port-file", str(self.port_file)],
            cwd=str(TESTS), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("the Dropbox stand-in did not start: "
                                     + (self.dir / "standin.log").read_text())
            time.sleep(0.05)
        self.port = int(self.port_file.read_text().strip())
        self.url = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- control API --------------------------------------------------------------
    def ctl(self, method, endpoint, body=None, **params):
        r = self.session.request(method, f"{self.url}/__control/{endpoint}", params=params or None,
                                 data=None if body is None else json.dumps(body),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code < 300, f"stand-in control {method} {endpoint}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def reset(self):
        self.ctl("POST", "reset")
        self.ctl("POST", "apps", {"client_id": APP_KEY, "client_secret": APP_SECRET})

    def account(self, email, name, team=None):
        acct = self.ctl("POST", "accounts", {"email": email, "display_name": name, "team": team})
        return acct

    def calls(self):
        """{"files/get_temporary_link": n, ...}"""
        return self.ctl("GET", "calls")

    def call_log(self, route=None):
        out = self.ctl("GET", "calls/log", **({"route": route} if route else {}))
        return out.get("calls", [])

    def fault(self, route, kind, count=1, **kw):
        body = {"route": route, "kind": kind, "count": count}
        body.update(kw)
        return self.ctl("POST", "faults", body)

    def put_file(self, account_id, path, content=None, size=None, seed=None):
        import base64
        body = {"account_id": account_id, "path": path}
        if content is not None:
            body["content_b64"] = base64.b64encode(content).decode()
        else:
            body["size"] = size
            body["seed"] = seed if seed is not None else path
        return self.ctl("POST", "files", body)

    def tokens(self):
        return self.ctl("GET", "tokens")

    def live_tokens(self, account_id):
        """{"refresh_tokens": [...], "access_tokens": [...]} still usable at "Dropbox"."""
        return self.ctl("GET", "tokens/live", account_id=account_id)


class Memcached:
    def __init__(self):
        self.port = free_port()
        args = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        if is_root():
            args += ["-u", "nobody"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port):
            self.stop()
            raise AssertionError("memcached did not start on loopback")
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def dropbox_lines(httpd_dir, standin, timeout="2 6", extra=()):
    """The directives that point mod_pdshare at the stand-in."""
    d = Path(httpd_dir)
    (d / "data.key").write_bytes(os.urandom(32))
    (d / "app.secret").write_text(APP_SECRET + "\n")
    os.chmod(d / "data.key", 0o400)
    return [
        f"PDShareDataKeyFile {d}/data.key",
        f"PDShareDropboxAppKey {APP_KEY}",
        f"PDShareDropboxAppSecretFile {d}/app.secret",
        f"PDShareDropboxAPIURL {standin.url}",
        f"PDShareDropboxContentURL {standin.url}",
        f"PDShareDropboxAuthorizeURL {standin.url}/oauth2/authorize",
        f"PDShareHTTPTimeout {timeout}",
    ] + list(extra)


def start_connect(httpd, user, standin, account_id, return_to=None):
    """The first half of the OAuth flow, as the owner page walks it: POST
    /dropbox/connect for the authorize URL, then the stand-in's 302 back. The callback is not
    delivered. Answers (authorize URL, its query as a dict of lists, callback URL)."""
    standin.ctl("POST", "next_account", {"account_id": account_id})
    body = {"return_to": return_to} if return_to else {}
    r = httpd.api(user).post("/dropbox/connect", json=body, allow_redirects=False)
    assert r.status_code == 200, r.text
    assert "Location" not in r.headers
    authorize = r.json()["authorize_url"]
    assert authorize.startswith(standin.url + "/oauth2/authorize?"), authorize
    q = parse_qs(urlsplit(authorize).query)
    assert q["code_challenge_method"] == ["S256"] and q["token_access_type"] == ["offline"]
    assert q["client_id"] == [APP_KEY] and q["response_type"] == ["code"]
    r = requests.get(authorize, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    callback = r.headers["Location"]
    assert callback.startswith(httpd.base_url + "/pd/api/dropbox/callback?"), callback
    return authorize, q, callback


def connect(httpd, user, standin, account_id, return_to=None):
    """Walk the OAuth flow as a browser would: connect -> authorize -> callback.
    Answers the final redirect's Location."""
    _, _, callback = start_connect(httpd, user, standin, account_id, return_to)
    api = httpd.api(user)
    r = api.session.get(callback, auth=api.auth, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def child_pids(parent_pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent_pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
