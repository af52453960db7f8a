"""scripts/demo.sh, the README's quick start, run as a user runs it: start on free
ports with its state in a directory of the test's own, the printed share URL
answers, `scripts/demo.sh stop` stops both servers. And on a machine without
apache2, the install step runs before anything looks for it.

The module must be built (PDSHARE_SKIP_BUILD=1: the test does not rebuild the
tree under the other tests' feet); the install step runs for real (on a machine
with every package of scripts/deps.txt it only checks)."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import requests

from pdshare_harness import REPO, free_port, httpd_bin, port_answers

DEMO = REPO / "scripts" / "demo.sh"


def run_demo(env, *args, timeout=600):
    return subprocess.run([str(DEMO), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=str(REPO))


def demo_env(state_dir, **extra):
    env = dict(os.environ)
    env.update(PDSHARE_PORT=str(free_port()), PDSHARE_DROPBOX_PORT=str(free_port()),
               PDSHARE_DEMO_DIR=str(state_dir), PDSHARE_SKIP_BUILD="1")
    env.update(extra)
    return env


def test_demo_runs_end_to_end_and_stops(module_so):
    state = Path(tempfile.mkdtemp(prefix="pdshare-demo-")) / "demo-run"
    # As a checkout is: others may pass through (as root, httpd's children are www-data).
    os.chmod(state.parent, 0o755)
    env = demo_env(state)
    port, dbx_port = int(env["PDSHARE_PORT"]), int(env["PDSHARE_DROPBOX_PORT"])
    try:
        out = run_demo(env)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text[-4000:]
        # The install step ran first (and found everything, or installed it).
        assert re.search(r"^install-deps: ", text, re.M), text[:2000]
        m = re.search(r"^  Share page: +(http://127\.0\.0\.1:(\d+)/s/([A-Za-z0-9_-]{22,}))$",
                      out.stdout, re.M)
        assert m, out.stdout[-3000:]
        url, token = m.group(1), m.group(3)
        assert int(m.group(2)) == port
        r = requests.get(url, timeout=30)
        assert r.status_code == 200
        assert "Demo EP" in r.text and "Night Drive" in r.text
        assert (state / "httpd.pid").exists() and (state / "standin.pid").exists()
        if os.geteuid() == 0:
            # Started as root: the children (www-data) own what they write.
            assert (state / "pdshare.db").owner() == "www-data"
            assert (state / "run").owner() == "www-data"

        # The shipped demo config is hardened too: TRACE is off, and the
        # access log holds neither the share token nor the OAuth code in full.
        assert requests.request("TRACE", f"http://127.0.0.1:{port}/", timeout=10).status_code == 405
        codes = [c["code"] for c in requests.get(
            f"http://127.0.0.1:{dbx_port}/__control/tokens", timeout=10).json()["codes"]]
        assert codes
        access = (state / "access.log").read_text()
        assert f"/s/{token[:6]}" in access, access[-2000:]
        assert "/pd/api/dropbox/callback?code=" in access
        for secret in [token] + codes:
            assert secret not in access, "a share token or an OAuth code is in the access log"

        # mod_reqtimeout is in what the demo's httpd loads.
        mods = subprocess.run([httpd_bin(), "-f", str(state / "httpd.conf"), "-M"],
                              capture_output=True, text=True, timeout=60)
        assert "reqtimeout_module" in mods.stdout, mods.stdout + mods.stderr

        stop = run_demo(env, "stop", timeout=120)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert "demo: stopped" in stop.stdout
        assert not port_answers(port) and not port_answers(dbx_port)
        assert not (state / "httpd.pid").exists() and not (state / "standin.pid").exists()
    finally:
        run_demo(env, "stop", timeout=120)
        shutil.rmtree(state.parent, ignore_errors=True)


def test_demo_installs_what_is_missing_before_looking_for_apache2(tmp_path):
    """A fresh Debian 12 has no apache2: demo.sh must run the install step before
    it checks for one. Here apache2 is "missing" through PDSHARE_HTTPD and the
    install step is given a package list that is already satisfied, so it runs
    and changes nothing; the check after it then reports what is still missing."""
    deps = tmp_path / "deps.txt"
    deps.write_text("# what this test's install step checks\nbash\n")
    missing = tmp_path / "no-apache" / "apache2"
    port = str(free_port())
    # Two equal ports: a script that checks before installing stops at once on them,
    # and so does one whose install step does not stop it reaching its checks.
    env = demo_env(tmp_path / "state", PDSHARE_HTTPD=str(missing), PDSHARE_DEPS_FILE=str(deps),
                   PDSHARE_PORT=port, PDSHARE_DROPBOX_PORT=port)
    # One stream for stdout and stderr, so the order of the lines is the script's.
    out = subprocess.run([str(DEMO)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=120, cwd=str(REPO))
    text = out.stdout
    assert out.returncode != 0, text
    lines = [l for l in text.splitlines() if l.startswith(("install-deps:", "demo:"))]
    installed = [i for i, l in enumerate(lines) if l.startswith("install-deps: all 1 packages")]
    not_found = [i for i, l in enumerate(lines) if f"{missing} not found" in l]
    assert installed and not_found and installed[0] < not_found[0], text
    assert not (tmp_path / "state").exists(), "demo.sh wrote state before its checks"
    # Supplement: in the script text, the install step comes before the check.
    script = DEMO.read_text()
    body = script[script.index("start_demo() {"):]
    assert body.index("install-deps.sh") < body.index('[ -x "$httpd" ]')
