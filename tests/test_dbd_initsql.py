"""Issue 11, item 8: the admin's own mod_dbd settings cannot break the module.

A DBDInitSQL statement that mod_dbd counts as failed (on sqlite3, a PRAGMA that
returns a row; on PostgreSQL, the same line copied over, an error) makes mod_dbd skip the post_connect hooks
of every module, ours included: the connection comes without our schema setup
and prepared statements. The module then prepares them itself on first use, and
says once, naming DBDInitSQL, what happened."""

import re

import pytest

# On sqlite3 the pragma answers a row, which apr_dbd_query counts as a failure;
# on PostgreSQL it is a syntax error (an admin copying the SQLite line).
INIT_SQL = "PRAGMA busy_timeout=5000"
NOTICE = r"PDS00150: .*DBDInitSQL"


@pytest.mark.log_allow(NOTICE, r"AH00\d+: .*[Ii]nit", r"DBD\[")
def test_failing_dbdinitsql_leaves_the_module_working(httpd_factory):
    h = httpd_factory(extra=[f'DBDInitSQL "{INIT_SQL}"'])
    api = h.api("alice")
    t = api.create_track(title="Night Drive", bpm=120)
    api.create_file(t["id"], category="bounce", name="mix.wav", size=10)
    share = api.create_share(track_ids=[t["id"]])
    token = share["token"]
    for _ in range(6):                       # several requests: several connections
        r = h.public(f"/s/{token}")
        assert r.status_code == 200, r.text[:300]
        assert "Night Drive" in r.text
    r = api.get(f"/shares/{share['id']}")
    assert r.status_code == 200 and r.json()["views"] == 6, r.text
    log = h.read_error_log()
    assert "is not prepared on this connection" not in log
    notices = re.findall(NOTICE, log)
    assert len(notices) == 1, log[-3000:]
    # What the admin reads: what happened and what to change.
    line = next(l for l in log.splitlines() if "PDS00150" in l)
    assert "post_connect" in line or "post-connect" in line
    assert "DBDInitSQL" in line
