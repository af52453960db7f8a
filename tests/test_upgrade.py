"""A database made by the first schema version is upgraded in place by this build.

tests/data/pdshare-v1.sql is a dump of a database that `pdsharectl migrate 1` made,
with data; it is never edited. The current build must open it, migrate it to the
latest version, and keep serving what it held."""

import re
import subprocess
import sqlite3
from pathlib import Path

import pytest

from pdshare_harness import DB_KIND, REPO

# The kept database is an SQLite file; the PostgreSQL run migrates from empty
# in every test it runs (and from version 5 in the test below).
sqlite_only = pytest.mark.sqlite_only

V1_DUMP = Path(__file__).resolve().parent / "data" / "pdshare-v1.sql"
LATEST = int(re.search(r"#define PDS_SCHEMA_VERSION (\d+)",
                       (REPO / "mod_pdshare" / "pds.h").read_text()).group(1))


def _load_v1(path):
    conn = sqlite3.connect(str(path))
    conn.executescript(V1_DUMP.read_text())
    conn.close()
    conn = sqlite3.connect(str(path))
    assert conn.execute("SELECT version FROM pds_schema_version").fetchone() == (1,)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'pds_notifications'").fetchone() is None
    conn.close()


@sqlite_only
def test_v1_database_is_upgraded_in_place(httpd_factory):
    h = httpd_factory(start=False)
    _load_v1(h.db_path)
    h.start()
    alice = h.api("alice")

    # The data the old schema held is served as before.
    tracks = alice.get("/tracks").json()["tracks"]
    assert [t["title"] for t in tracks] == ["Old Song"]
    assert tracks[0]["bpm"] == 120 and tracks[0]["key"] == "A minor"
    assert alice.get("/profile").json()["display_name"] == "Alice From V1"
    share = alice.get("/shares/s00000000000000v1").json()
    assert share["views"] == 2
    assert share["downloads_by_type"]["master"] == 1
    page = h.public("/s/v1v1v1v1v1AAAAAAAAAAAAAAAAAAAAAA")
    assert page.status_code == 200
    assert "Old Song" in page.text and "Veteran Vocalist" in page.text

    # What the new version added works on the upgraded file.
    assert alice.get("/notifications").json() == {"notifications": []}
    with h.db() as conn:
        assert conn.execute("SELECT version FROM pds_schema_version").fetchall() == [(LATEST,)]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"pds_events_share", "pds_tracks_group", "pds_notifications_user"} <= indexes

    # The view just served was counted on top of the old ones.
    assert alice.get("/shares/s00000000000000v1").json()["views"] == 3


@sqlite_only
def test_pdsharectl_migrates_v1_to_latest(tmp_path):
    import subprocess
    db = tmp_path / "old.db"
    _load_v1(db)
    ctl = str(REPO / "mod_pdshare" / "pdsharectl")
    out = subprocess.run([ctl, "-p", str(db), "migrate"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"schema version {LATEST}" in out.stdout
    out = subprocess.run([ctl, "-p", str(db), "shares", "stats", "alice", "s00000000000000v1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"views": 2' in out.stdout


def _pdsharectl(httpd, *args):
    ctl = [str(REPO / "mod_pdshare" / "pdsharectl")]
    if DB_KIND == "pgsql":
        ctl += ["-d", "pgsql", "-p", httpd.dbd_lines()[1].split(" ", 1)[1].strip('"')]
    else:
        ctl += ["-p", str(httpd.db_path)]
    out = subprocess.run(ctl + list(args), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_v5_database_gets_invitations(httpd_factory):
    """Version 6 (issue 11) on a version 5 database, on both databases: the
    invitations table comes, and a notice written by v5, whose sentence held
    the sender's display name and title, keeps its data but says the module's
    own sentence. No invitation is made up for a share v5 already did."""
    h = httpd_factory(start=False)
    assert "schema version 5" in _pdsharectl(h, "migrate", "5")
    old_msg = 'Mallory <b>Dropbox</b> shared "https://phish.example" with you'
    data = '{"track_id": "t1", "track_title": "https://phish.example", "from": "alice"}'
    with h.db() as conn:
        conn.execute("INSERT INTO pds_tracks (id, owner, title, created_at, updated_at)"
                     " VALUES ('t1', 'alice', 'Old Song', 1, 1)")
        conn.execute("INSERT INTO pds_collaborators (id, track_id, owner, name, email, username,"
                     " created_at) VALUES ('c1', 't1', 'alice', 'Bob', 'bob@example.com', 'bob', 1)")
        conn.execute("INSERT INTO pds_collab_shares (track_id, collaborator_id, owner, email,"
                     " status, updated_at) VALUES ('t1', 'c1', 'alice', 'bob@example.com', 'shared', 1)")
        conn.execute("INSERT INTO pds_notifications (id, username, kind, message, data, created_at,"
                     " dedupe) VALUES ('n1', 'bob', 'track_shared', ?, ?, 1, 'track_shared:t1:c1')",
                     (old_msg, data))
    h.start()
    bob = h.api("bob")
    notes = bob.get("/notifications").json()["notifications"]
    assert [(n["kind"], n["message"]) for n in notes] == [
        ("track_shared", "A producer shared a track with you.")]
    assert notes[0]["data"]["track_id"] == "t1"
    assert bob.get("/invitations").json() == {"invitations": []}
    assert bob.post("/invitations/i1/accept", json={}).status_code == 404
    with h.db() as conn:
        assert conn.execute("SELECT version FROM pds_schema_version").fetchall() == [(LATEST,)]
        assert conn.execute("SELECT COUNT(*) FROM pds_invitations").fetchone()[0] == 0
    assert h.api("alice").get("/tracks/t1/collaborators").json()["collaborators"][0]["username"] == "bob"
