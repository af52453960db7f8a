"""An incident is named by what failed, not by the route it failed on: the
database failing while the producer's Dropbox account is read or written, on
the owner API's /dropbox routes or on a visitor's download, is a database
incident (PDS00070, "the database is failing"), not a Dropbox one (PDS00073)
and not an info line only; the answer is 503 with Retry-After.

The faults touch only the account table, so the share, its files and the
job worker go on working:
- GET /dropbox: the account table loses a column the module reads (SQLite
  and PostgreSQL check a prepared statement against the schema when it runs);
- a download whose access token must be refreshed first: the new token
  cannot be stored (SQLite: another process holds the write lock past the
  busy wait; PostgreSQL: a trigger refuses the update)."""

import re
import sqlite3

import pytest

from pdshare_harness import DB_KIND
from test_dropbox_downloads import seed

BROKEN = "folder_path_gone"


def lines(h, pattern):
    return [line for line in h.read_error_log().splitlines() if re.search(pattern, line)]


def assert_database_incident(h, what, statement):
    """One incident, the database's (at error); the request's own line (the
    incident's first, or one counted in it at info) says what failed and the
    database's detail names the statement; nothing is Dropbox's."""
    assert not lines(h, r"PDS0007[3-5]:"), "a database failure is not a Dropbox incident"
    opened = lines(h, r"PDS00070:")
    assert len(opened) == 1, opened
    assert ":error]" in opened[0] and "the database is failing" in opened[0], opened[0]
    said = lines(h, re.escape(what))
    assert said, f"nothing logged {what!r}"
    for line in said:
        assert "PDS00070:" in line or "[pdshare:info]" in line, line
        assert statement in line, "the database's detail stays in the log: " + line


@pytest.mark.log_allow(r"PDS00070:")
def test_database_failure_on_get_dropbox_is_a_database_incident(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    assert api.get("/dropbox").json()["connected"] is True
    with h.db() as conn:
        conn.execute(f"ALTER TABLE pds_dropbox_accounts RENAME COLUMN folder_path TO {BROKEN}")
    r = api.get("/dropbox")
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["error"]["code"] == "unavailable"
    assert_database_incident(h, "PDS00020: GET /dropbox answered 503", "pds_account_get")


def refuse_account_writes(h):
    """Until the returned function is called, writes to the account table fail."""
    if DB_KIND == "pgsql":
        with h.db() as conn:
            conn.execute("CREATE FUNCTION pds_test_refuse() RETURNS trigger LANGUAGE plpgsql"
                         " AS $$ BEGIN RAISE EXCEPTION 'the test refuses this write'; END $$")
            conn.execute("CREATE TRIGGER pds_test_refuse BEFORE UPDATE ON pds_dropbox_accounts"
                         " FOR EACH ROW EXECUTE FUNCTION pds_test_refuse()")

        def undo():
            with h.db() as conn:
                conn.execute("DROP TRIGGER pds_test_refuse ON pds_dropbox_accounts")
        return undo
    # Readers go on (WAL); writers wait for the lock and give up.
    conn = sqlite3.connect(h.dir / "pdshare.db", timeout=30, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")

    def release():
        conn.execute("ROLLBACK")
        conn.close()
    return release


@pytest.mark.log_allow(r"PDS00070:")
def test_database_failure_on_a_download_is_a_database_incident(dropbox_httpd, standin):
    h = dropbox_httpd()
    acct, api, t, files, share, token = seed(h, standin)
    assert h.public(token).status_code == 200
    # The stored access token has expired: the download refreshes it first.
    with h.db() as conn:
        conn.execute("UPDATE pds_dropbox_accounts SET access_expires_at = 1")
    undo = refuse_account_writes(h)
    try:
        for path in (f"{token}/files/{files['stem']['id']}", f"{token}/play/{t['id']}"):
            r = h.public(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:300])
            assert int(r.headers["Retry-After"]) > 0, path
            assert "try again" in r.text.lower(), path
    finally:
        undo()
    assert_database_incident(h, "PDS00040: download unavailable", "pds_account_token")
    stats = api.get(f"/shares/{share['id']}").json()
    assert stats["downloads"] == 0 and stats["plays"] == 0, "a refused download is not counted"
    # The database answers again: the token is refreshed, stored, and the file served.
    r = h.public(f"{token}/files/{files['stem']['id']}")
    assert r.status_code == 302, r.text[:300]
