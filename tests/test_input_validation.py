"""Issue 11, items 4 and 10: text is valid UTF-8 or refused, titles and names
hold no bidi controls, and a field a route does not know is refused rather
than ignored. Each request here is what an attacker (or a mistaken client)
sends; each answer is what they see, and the store is checked for what was
left behind."""

import time
import uuid

import pytest

from pdshare_dropbox import connect
from pdshare_harness import assert_error, assert_json

RLO = "\u202e"                      # RIGHT-TO-LEFT OVERRIDE
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]

# Percent-encoded byte strings that are not UTF-8.
NOT_UTF8 = {
    "stray bytes": "%FF%FE",
    "overlong slash": "%C0%AF",
    "overlong three-byte": "%E0%80%AF",
    "surrogate": "%ED%A0%80",
    "above U+10FFFF": "%F4%90%80%80",
    "cut off": "mix%E6%97",
}


def field_error(r, status, code, field):
    """The error names the field first: "<field>: ..."."""
    err = assert_error(r, status, code, field)
    assert err["message"].startswith(field + ":"), err
    return err


def count(h, table):
    with h.db() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def stored_files(h):
    return [p for p in (h.dir / "storage").rglob("*") if p.is_file()]


# --- item 4: UTF-8 in paths and query values ----------------------------------------

def test_upload_name_not_utf8_is_refused_and_nothing_is_stored_or_exported(dropbox_httpd,
                                                                            standin):
    h = dropbox_httpd(start=False)
    (h.dir / "storage").mkdir(exist_ok=True)
    h.extra += [f"PDShareStorageDir {h.dir / 'storage'}", "PDShareExportByStatus all"]
    h.start()
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    t = api.create_track(title="Song", alias="song", sharing_status="released")
    jobs_before = count(h, "pds_jobs")
    for what, enc in NOT_UTF8.items():
        r = api.put(f"/tracks/{t['id']}/upload/bounce/{enc}.wav", data=b"RIFF" * 100,
                    headers={"Content-Type": "application/octet-stream"})
        field_error(r, 400, "invalid_field", "name")
    # Bidi controls in an upload name: "evil<RLO>vaw.exe" shows as "evilexe.wav".
    r = api.put(f"/tracks/{t['id']}/upload/bounce/evil%E2%80%AEvaw.exe", data=b"MZ" * 100,
                headers={"Content-Type": "application/octet-stream"})
    field_error(r, 400, "invalid_field", "name")
    assert stored_files(h) == []
    assert count(h, "pds_files") == 0
    assert count(h, "pds_jobs") == jobs_before
    assert api.get(f"/tracks/{t['id']}/files").json()["files"] == []
    # The same upload with a good name is stored and queued for export: the
    # refusals above are the names, not the set-up.
    r = api.put(f"/tracks/{t['id']}/upload/bounce/Caf%C3%A9%20mix.wav", data=b"RIFF" * 100,
                headers={"Content-Type": "application/octet-stream"})
    f = assert_json(r, 201)
    assert f["name"] == "Café mix.wav" and f["export"] == "pending"
    assert len(stored_files(h)) == 1
    assert count(h, "pds_jobs") == jobs_before + 1


@pytest.mark.parametrize("what", list(NOT_UTF8))
def test_path_segments_not_utf8_are_refused(api, what):
    alice = api("alice")
    enc = NOT_UTF8[what]
    t = alice.create_track(title="Seg")
    field_error(alice.get(f"/tracks/{enc}"), 400, "invalid_field", "track_id")
    field_error(alice.patch(f"/tracks/{enc}", json={"title": "x"}), 400, "invalid_field",
                "track_id")
    field_error(alice.get(f"/shares/{enc}"), 400, "invalid_field", "share_id")
    field_error(alice.post(f"/shares/{enc}/revoke", json={}), 400, "invalid_field", "share_id")
    field_error(alice.delete(f"/tracks/{t['id']}/collaborators/{enc}"), 400, "invalid_field",
                "collaborator_id")
    field_error(alice.put(f"/tracks/{t['id']}/upload/{enc}/a.wav", data=b"x"), 400,
                "invalid_field", "category")
    field_error(alice.get(f"/{enc}"), 400, "invalid_field", "path")
    # The track is untouched.
    assert alice.get(f"/tracks/{t['id']}").json()["title"] == "Seg"


@pytest.mark.parametrize("what", list(NOT_UTF8))
def test_query_values_not_utf8_are_refused(api, what):
    alice = api("alice")
    enc = NOT_UTF8[what]
    bucket = "EP " + uuid.uuid4().hex[:8]
    alice.create_track(title="Q", bucket=bucket)
    field_error(alice.get(f"/tracks?bucket={enc}"), 400, "invalid_field", "bucket")
    field_error(alice.get(f"/shares?page={enc}"), 400, "invalid_field", "page")
    # A good value still works.
    r = alice.get("/tracks", params={"bucket": bucket})
    assert [x["title"] for x in assert_json(r, 200)["tracks"]] == ["Q"]


def test_public_links_not_utf8_are_refused(api, public):
    alice = api("alice")
    t = alice.create_track(title="Pub", sharing_status="released")
    s = alice.create_share(track_ids=[t["id"]])
    for enc in NOT_UTF8.values():
        for path in (f"/s/{enc}", f"/s/{s['token']}/files/{enc}", f"/s/{s['token']}/play/{enc}"):
            r = public(path)
            assert r.status_code == 400, (path, r.status_code)
            assert r.headers["Content-Type"].startswith("text/html")
        # The page's JSON answers its errors in the error shape (item 6).
        r = public(f"/s/{enc}.json")
        assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/json")
        assert r.json()["error"]["code"] == "invalid_field"
    assert public(f"/s/{s['token']}").status_code == 200


# --- item 4: bidi controls in titles and names ---------------------------------------

@pytest.mark.parametrize("ch", BIDI, ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_bidi_controls_refused_in_titles_and_names(api, ch):
    alice = api("alice")
    t = alice.create_track(title="Clean")
    c = alice.create_collaborator(t["id"], name="Sam")
    text = f"evil{ch}vaw.exe"
    tracks_before = len(alice.get("/tracks").json()["tracks"])
    shares_before = len(alice.get("/shares").json()["shares"])

    field_error(alice.post("/tracks", json={"title": text}), 400, "invalid_field", "title")
    field_error(alice.patch(f"/tracks/{t['id']}", json={"title": text}), 400, "invalid_field",
                "title")
    field_error(alice.post("/shares", json={"track_ids": [t["id"]], "title": text}), 400,
                "invalid_field", "title")
    field_error(alice.post(f"/tracks/{t['id']}/collaborators", json={"name": text}), 400,
                "invalid_field", "name")
    field_error(alice.patch(f"/tracks/{t['id']}/collaborators/{c['id']}", json={"name": text}),
                400, "invalid_field", "name")
    field_error(alice.put("/profile", json={"display_name": text}), 400, "invalid_field",
                "display_name")
    field_error(alice.post(f"/tracks/{t['id']}/files",
                           json={"category": "bounce", "name": text,
                                 "dropbox_path": "/PRODUCER-DASHBOARD/bounces/x.wav"}),
                400, "invalid_field", "name")

    assert len(alice.get("/tracks").json()["tracks"]) == tracks_before
    assert len(alice.get("/shares").json()["shares"]) == shares_before
    assert alice.get(f"/tracks/{t['id']}").json()["title"] == "Clean"
    collabs = alice.get(f"/tracks/{t['id']}/collaborators").json()["collaborators"]
    assert [x["name"] for x in collabs] == ["Sam"]
    assert alice.get(f"/tracks/{t['id']}/files").json()["files"] == []
    assert alice.get("/profile").json().get("display_name") != text


@pytest.mark.parametrize("ch", ["\u202e", "\u2067"], ids=["U+202E", "U+2067"])
def test_bidi_controls_refused_in_role_and_key(api, public, ch):
    """A collaborator's role and a track's key are shown on the public share
    page beside the names: they refuse bidi controls like the names do."""
    alice = api("alice")
    t = alice.create_track(title="Keyed", key="F#m", sharing_status="released")
    c = alice.create_collaborator(t["id"], name="Sam", role="Vocals")
    text = f"Mix{ch}gnirts"
    field_error(alice.post(f"/tracks/{t['id']}/collaborators", json={"name": "Kim", "role": text}),
                400, "invalid_field", "role")
    field_error(alice.patch(f"/tracks/{t['id']}/collaborators/{c['id']}", json={"role": text}),
                400, "invalid_field", "role")
    field_error(alice.patch(f"/tracks/{t['id']}", json={"key": text}), 400, "invalid_field", "key")
    field_error(alice.post("/tracks", json={"title": "Other", "key": text}), 400, "invalid_field",
                "key")
    collabs = alice.get(f"/tracks/{t['id']}/collaborators").json()["collaborators"]
    assert [(x["name"], x["role"]) for x in collabs] == [("Sam", "Vocals")]
    assert alice.get(f"/tracks/{t['id']}").json()["key"] == "F#m"
    page = public(f"/s/{alice.create_share(track_ids=[t['id']])['token']}")
    assert page.status_code == 200 and ch not in page.text


def test_ordinary_unicode_still_accepted(api):
    alice = api("alice")
    t = alice.create_track(title="Café — 日本語 😀")
    assert t["title"] == "Café — 日本語 😀"
    assert alice.set_profile(display_name="Zoë")["display_name"] == "Zoë"
    assert alice.create_collaborator(t["id"], name="José")["name"] == "José"


# --- item 10: unknown fields are refused ---------------------------------------------

@pytest.mark.parametrize("field,value", [("password", "hunter2"), ("download_limit", 3),
                                         ("download_limits", {"bounces": 1}),
                                         ("comments", True)])
def test_share_with_unimplemented_protection_is_refused(api, field, value):
    alice = api("alice")
    t = alice.create_track(title="Protected?", sharing_status="released")
    before = len(alice.get("/shares").json()["shares"])
    r = alice.post("/shares", json={"track_ids": [t["id"]], field: value})
    field_error(r, 400, "unknown_field", field)
    assert len(alice.get("/shares").json()["shares"]) == before


def test_nested_unknown_fields_are_refused(api):
    alice = api("alice")
    t = alice.create_track(title="Nested", sharing_status="released")
    before = len(alice.get("/shares").json()["shares"])
    r = alice.post("/shares", json={"track_ids": [t["id"]], "permissions": {"everything": True}})
    field_error(r, 400, "unknown_field", "permissions.everything")
    assert len(alice.get("/shares").json()["shares"]) == before
    profile = alice.get("/profile").json()
    r = alice.put("/profile", json={"display_name": "New", "theme": {"accent": "#123456",
                                                                      "font": "Comic Sans"}})
    field_error(r, 400, "unknown_field", "theme.font")
    assert alice.get("/profile").json() == profile


def write_routes(alice):
    """(method, path, a body the route accepts) for every write route of the owner API."""
    t = alice.create_track(title="Routes", sharing_status="released")
    c = alice.create_collaborator(t["id"], name="Kim", email="kim@example.com")
    s = alice.create_share(track_ids=[t["id"]])
    return [
        ("PUT", "/profile", {"display_name": "D"}),
        ("POST", "/tracks", {"title": "T"}),
        ("PATCH", f"/tracks/{t['id']}", {"title": "T2"}),
        ("POST", f"/tracks/{t['id']}/files", {"category": "bounce", "name": "a.wav",
                                              "dropbox_path": "/PRODUCER-DASHBOARD/a.wav"}),
        ("POST", f"/tracks/{t['id']}/collaborators", {"name": "N"}),
        ("PATCH", f"/tracks/{t['id']}/collaborators/{c['id']}", {"name": "N2"}),
        ("POST", f"/tracks/{t['id']}/share-with-collaborators", {"mode": "folder"}),
        ("POST", f"/tracks/{t['id']}/share-with-collaborators/retry", {}),
        ("POST", f"/tracks/{t['id']}/share-with-collaborators/reset", {}),
        ("POST", "/share-with-collaborators", {"track_ids": [t["id"]]}),
        ("POST", "/shares", {"track_ids": [t["id"]]}),
        ("PATCH", f"/shares/{s['id']}", {"title": "Renamed"}),
        ("POST", f"/shares/{s['id']}/revoke", {}),
    ], t, s


def test_unknown_field_on_every_write_route_is_refused(api):
    alice = api("alice")
    routes, t, s = write_routes(alice)
    snapshot = lambda: (alice.get("/profile").json(), alice.get("/tracks").json(),  # noqa: E731
                        alice.get(f"/tracks/{t['id']}/files").json()["files"],
                        alice.get(f"/tracks/{t['id']}/collaborators").json(),
                        alice.get("/shares").json())
    before = snapshot()
    for method, path, body in routes:
        for stranger in ("colour", "is_admin", "owner"):
            r = alice.request(method, path, json=dict(body, **{stranger: "x"}))
            field_error(r, 400, "unknown_field", stranger)
    assert snapshot() == before
    assert alice.get(f"/shares/{s['id']}").json()["status"] == "active"


# --- a name stored before names were checked ------------------------------------------

@pytest.mark.sqlite_only        # PostgreSQL cannot even store such a name (UTF8 encoding)
@pytest.mark.log_allow(r"PDS00050")
def test_export_of_a_legacy_name_not_utf8_fails_cleanly(dropbox_httpd, standin):
    """A file row whose name is not UTF-8 (stored by the code before issue 11):
    its export job ends with a clear error, instead of reading a Dropbox result
    that was never filled (the call could not be encoded)."""
    h = dropbox_httpd(start=False)
    (h.dir / "storage").mkdir(exist_ok=True)
    h.extra += [f"PDShareStorageDir {h.dir / 'storage'}", "PDShareExportByStatus final",
                "PDShareJobLease 5"]
    h.start()
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    t = api.create_track(title="Legacy", alias="legacy", sharing_status="released")
    r = api.put(f"/tracks/{t['id']}/upload/bounce/legacy.wav", data=b"RIFF" * 100,
                headers={"Content-Type": "application/octet-stream"})
    f = assert_json(r, 201)
    assert f["export"] == "none"            # not final: not exported, no job
    with h.db() as conn:
        conn.execute("UPDATE pds_files SET name = CAST(X'6D6978FFFE2E776176' AS TEXT),"
                     " export_state = 'pending' WHERE id = ?", (f["id"],))
        conn.execute("INSERT INTO pds_jobs (id, kind, owner, track_id, payload, state, attempts,"
                     " run_after, created_at, updated_at) VALUES ('j_legacy', 'export_file',"
                     " 'alice', ?, ?, 'pending', 0, 0, 0, 0)",
                     (t["id"], '{"file_id": "%s"}' % f["id"]))
    deadline = time.time() + 60
    while time.time() < deadline:
        with h.db() as conn:
            state, err = conn.execute("SELECT state, last_error FROM pds_jobs"
                                      " WHERE id = 'j_legacy'").fetchone()
        if state in ("done", "failed"):
            break
        time.sleep(0.2)
    assert state == "failed", (state, err)
    assert "not valid UTF-8" in err, err
    files = standin.ctl("GET", "files", account_id=acct["account_id"])["files"]
    assert not [x for x in files if x[".tag"] == "file"], files
    assert assert_json(api.get("/tracks"), 200)["tracks"]
