"""Owner API: shares (POST/GET /shares, GET/PATCH /shares/{id}, revoke), permissions,
group resolution, expiry and revocation as visitors see them."""

import time
import uuid

import pytest

from pdshare_harness import (TOKEN_RE, assert_error, assert_json, is_iso, iso_to_epoch,
                             visible_text)

SHARE_FIELDS = {"id", "token", "url", "title", "status", "created_at", "expires_at", "revoked_at",
                "permissions", "tracks", "file_ids", "bucket"}
CATEGORIES = ("master", "bounce", "stem", "project")
NO_DOWNLOADS = {"master": 0, "bounce": 0, "stem": 0, "project": 0}


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def perms(b, s, p):
    return {"bounces": b, "stems": s, "projects": p}


def track_with_files(client, **fields):
    t = client.create_track(**fields)
    files = {c: client.create_file(t["id"], category=c, name=f"{t['title']}-{c}.wav",
                                   dropbox_path=f"/PRODUCER-DASHBOARD/{c}s/{t['id']}/{c}.wav")
             for c in CATEGORIES}
    return t, files


# --- creation ------------------------------------------------------------------------

def test_create_by_track_ids(api, server):
    alice = api("alice")
    t = alice.create_track(title="Shared One", sharing_status="released")
    before = time.time()
    s = assert_json(alice.post("/shares", json={"track_ids": [t["id"]], "title": "For the label"}), 201)
    assert SHARE_FIELDS <= set(s), f"missing: {SHARE_FIELDS - set(s)}"
    assert s["id"] not in (None, "")
    assert TOKEN_RE.match(s["token"]), s["token"]
    assert s["url"] == f"{server.base_url}/s/{s['token']}"
    assert s["title"] == "For the label"
    assert s["status"] == "active"
    assert is_iso(s["created_at"]) and abs(iso_to_epoch(s["created_at"]) - before) < 120
    assert s["expires_at"] is None and s["revoked_at"] is None
    assert s["permissions"] == perms(True, True, False)
    assert [x["id"] for x in s["tracks"]] == [t["id"]]
    assert s["tracks"][0]["title"] == "Shared One"
    assert s["file_ids"] is None
    assert s["bucket"] is None


def test_tokens_are_unique_and_url_safe(api):
    alice = api("alice")
    t = alice.create_track(title="Many Links")
    tokens = [alice.create_share(track_ids=[t["id"]])["token"] for _ in range(20)]
    assert len(set(tokens)) == 20
    assert all(TOKEN_RE.match(x) for x in tokens), tokens


def test_create_several_tracks_keeps_them_all(api):
    alice = api("alice")
    ids = [alice.create_track(title=f"multi {i}")["id"] for i in range(3)]
    s = alice.create_share(track_ids=ids)
    assert sorted(x["id"] for x in s["tracks"]) == sorted(ids)


def test_create_by_bucket(api):
    alice = api("alice")
    bucket = uniq("Beat Tape / Vol 2")
    ids = {alice.create_track(title=f"bt {i}", bucket=bucket, sharing_status="wip")["id"] for i in range(3)}
    alice.create_track(title="not in bucket", bucket=uniq("other"))
    s = assert_json(alice.post("/shares", json={"bucket": bucket}), 201)
    assert s["bucket"] == bucket
    assert {x["id"] for x in s["tracks"]} == ids
    assert s["permissions"] == perms(True, False, False)


def test_bucket_of_other_producer_is_404(api):
    bucket = uniq("bobs-bucket")
    api("bob").create_track(title="bob in bucket", bucket=bucket)
    assert_error(api("alice").post("/shares", json={"bucket": bucket}), 404, "not_found")


def test_empty_bucket_is_404(api):
    assert_error(api("alice").post("/shares", json={"bucket": uniq("empty")}), 404, "not_found")


def test_track_ids_and_bucket_together_is_400(api):
    alice = api("alice")
    bucket = uniq("both")
    t = alice.create_track(title="both", bucket=bucket)
    assert_error(alice.post("/shares", json={"track_ids": [t["id"]], "bucket": bucket}), 400, "invalid_field")


def test_neither_track_ids_nor_bucket_is_400(api):
    assert_error(api("alice").post("/shares", json={"title": "nothing"}), 400, "invalid_field")


@pytest.mark.parametrize("body", [{"track_ids": []}, {"track_ids": "1"}, {"track_ids": [None]},
                                  {"track_ids": [{"id": 1}]}, {"bucket": ""}, {"bucket": 5}],
                         ids=["empty-list", "not-a-list", "null-id", "object-id", "empty-bucket-name",
                              "bucket-number"])
def test_bad_selection_is_400(api, body):
    assert_error(api("alice").post("/shares", json=body), 400, "invalid_field")


def test_unknown_track_id_is_404(api):
    alice = api("alice")
    t = alice.create_track(title="known")
    assert_error(alice.post("/shares", json={"track_ids": [t["id"], "999999999"]}), 404, "not_found")


def test_other_producers_track_is_404(api):
    b = api("bob").create_track(title="Bob's secret", sharing_status="released")
    a = api("alice").create_track(title="Alice's")
    assert_error(api("alice").post("/shares", json={"track_ids": [b["id"]]}), 404, "not_found")
    assert_error(api("alice").post("/shares", json={"track_ids": [a["id"], b["id"]]}), 404, "not_found")


@pytest.mark.parametrize("days", [0, 3651, -1, "7", 1.5, True, [7]])
def test_invalid_expires_in_days(api, days):
    alice = api("alice")
    t = alice.create_track(title="expiry")
    assert_error(alice.post("/shares", json={"track_ids": [t["id"]], "expires_in_days": days}),
                 400, "invalid_field", "expires_in_days")


@pytest.mark.parametrize("days", [1, 7, 30, 90, 3650])
def test_expires_in_days(api, days):
    alice = api("alice")
    t = alice.create_track(title="expiry")
    now = time.time()
    s = assert_json(alice.post("/shares", json={"track_ids": [t["id"]], "expires_in_days": days}), 201)
    assert is_iso(s["expires_at"]), s["expires_at"]
    assert abs(iso_to_epoch(s["expires_at"]) - (now + days * 86400)) < 120
    assert s["status"] == "active"


def test_expires_in_days_null_never_expires(api):
    alice = api("alice")
    t = alice.create_track(title="forever")
    s = assert_json(alice.post("/shares", json={"track_ids": [t["id"]], "expires_in_days": None}), 201)
    assert s["expires_at"] is None


@pytest.mark.parametrize("p", [{"bounces": "yes", "stems": False, "projects": False},
                               {"bounces": 1, "stems": False, "projects": False},
                               {"bounces": True, "stems": None, "projects": False},
                               "all", [True]],
                         ids=["string", "number", "null", "not-object-str", "not-object-list"])
def test_invalid_permissions(api, p):
    alice = api("alice")
    t = alice.create_track(title="perm")
    assert_error(alice.post("/shares", json={"track_ids": [t["id"]], "permissions": p}),
                 400, "invalid_field", "permissions" if not isinstance(p, dict) else None)


@pytest.mark.parametrize("title", ["x" * 201, "bad\x01", 5])
def test_invalid_share_title(api, title):
    alice = api("alice")
    t = alice.create_track(title="share title")
    assert_error(alice.post("/shares", json={"track_ids": [t["id"]], "title": title}), 400, "invalid_field", "title")


def test_max_tracks_default_50(api):
    alice = api("alice")
    bucket = uniq("fifty-one")
    ids = [alice.create_track(title=f"n{i}", bucket=bucket)["id"] for i in range(51)]
    before = len(assert_json(alice.get("/shares"), 200)["shares"])
    assert_error(alice.post("/shares", json={"track_ids": ids}), 400, "too_many_tracks")
    assert_error(alice.post("/shares", json={"bucket": bucket}), 400, "too_many_tracks")
    assert len(assert_json(alice.get("/shares"), 200)["shares"]) == before
    s = assert_json(alice.post("/shares", json={"track_ids": ids[:50]}), 201)
    assert len(s["tracks"]) == 50


def test_duplicate_track_ids_count_once(api):
    # A repeated id collapses to one track, in the place of its first mention,
    # and the share reads back the same (as the unit test test_api_share_by_track_ids).
    alice = api("alice")
    t = alice.create_track(title="dupe")
    u = alice.create_track(title="dupe two")
    s = assert_json(alice.post("/shares", json={"track_ids": [t["id"], t["id"]]}), 201)
    assert [x["id"] for x in s["tracks"]] == [t["id"]]
    s = assert_json(alice.post("/shares", json={"track_ids": [t["id"], u["id"], t["id"]]}), 201)
    assert [x["id"] for x in s["tracks"]] == [t["id"], u["id"]]
    read = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    assert [x["id"] for x in read["tracks"]] == [t["id"], u["id"]]

    # Nor does a duplicate count against PDShareMaxTracks (50): 50 tracks and
    # one of them again is a share of 50.
    bucket = uniq("fifty-and-a-dupe")
    ids = [alice.create_track(title=f"d{i}", bucket=bucket)["id"] for i in range(50)]
    s = assert_json(alice.post("/shares", json={"track_ids": ids + [ids[0]]}), 201)
    assert [x["id"] for x in s["tracks"]] == ids


# --- permissions ---------------------------------------------------------------------

@pytest.mark.parametrize("statuses,expected", [
    (["private"], perms(False, False, False)),
    (["wip"], perms(True, False, False)),
    (["released"], perms(True, True, False)),
    (["released", "wip"], perms(True, False, False)),
    (["released", "private"], perms(False, False, False)),
    (["wip", "private", "released"], perms(False, False, False)),
    (["released", "released"], perms(True, True, False)),
], ids=["private", "wip", "released", "released+wip", "released+private", "all-three", "released*2"])
def test_default_permissions(api, public, statuses, expected):
    alice = api("alice")
    ids = [alice.create_track(title=f"p{i}", sharing_status=st)["id"] for i, st in enumerate(statuses)]
    s = alice.create_share(track_ids=ids)
    assert s["permissions"] == expected
    page = assert_json(public(f"/s/{s['token']}.json"), 200)
    assert page["permissions"] == expected


def test_explicit_permissions_win(api):
    alice = api("alice")
    t = alice.create_track(title="explicit", sharing_status="private")
    s = alice.create_share(track_ids=[t["id"]], permissions=perms(True, True, True))
    assert s["permissions"] == perms(True, True, True)
    t2 = alice.create_track(title="explicit2", sharing_status="released")
    s2 = alice.create_share(track_ids=[t2["id"]], permissions=perms(False, False, False))
    assert s2["permissions"] == perms(False, False, False)


def test_projects_only_when_asked(api):
    alice = api("alice")
    t = alice.create_track(title="projects", sharing_status="released")
    assert alice.create_share(track_ids=[t["id"]])["permissions"]["projects"] is False
    s = alice.create_share(track_ids=[t["id"]], permissions=perms(True, True, True))
    assert s["permissions"]["projects"] is True


def test_default_permissions_fixed_at_creation(api, public):
    alice = api("alice")
    t = alice.create_track(title="later private", sharing_status="released")
    s = alice.create_share(track_ids=[t["id"]])
    assert_json(alice.patch(f"/tracks/{t['id']}", json={"sharing_status": "private"}), 200)
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["permissions"] == perms(True, True, False)
    assert assert_json(public(f"/s/{s['token']}.json"), 200)["permissions"] == perms(True, True, False)


@pytest.mark.parametrize("status,offered", [
    ("private", set()),
    ("wip", {"master", "bounce"}),
    ("released", {"master", "bounce", "stem"}),
])
def test_files_offered_follow_permissions(api, public, status, offered):
    alice = api("alice")
    t, files = track_with_files(alice, title=f"offered {status}", sharing_status=status)
    s = alice.create_share(track_ids=[t["id"]])
    page = assert_json(public(f"/s/{s['token']}.json"), 200)
    got = {f["category"] for f in page["tracks"][0]["files"]}
    assert got == offered
    ids = {f["id"] for f in page["tracks"][0]["files"]}
    assert ids == {files[c]["id"] for c in offered}


def test_all_categories_when_all_permitted(api, public):
    alice = api("alice")
    t, files = track_with_files(alice, title="everything", sharing_status="private")
    s = alice.create_share(track_ids=[t["id"]], permissions=perms(True, True, True))
    page = assert_json(public(f"/s/{s['token']}.json"), 200)
    assert {f["id"] for f in page["tracks"][0]["files"]} == {f["id"] for f in files.values()}


def test_file_ids_limit_the_files_offered(api, public):
    alice = api("alice")
    t = alice.create_track(title="chosen files", sharing_status="released")
    keep = alice.create_file(t["id"], category="bounce", name="keep.wav")
    drop = alice.create_file(t["id"], category="bounce", name="drop.wav")
    s = assert_json(alice.post("/shares", json={"track_ids": [t["id"]], "file_ids": [keep["id"]]}), 201)
    assert [str(x) for x in s["file_ids"]] == [str(keep["id"])]
    page = assert_json(public(f"/s/{s['token']}.json"), 200)
    assert [f["id"] for f in page["tracks"][0]["files"]] == [keep["id"]]
    r = public(f"/s/{s['token']}/files/{drop['id']}")
    assert r.status_code in (403, 404), r.status_code


def test_file_ids_of_another_producer_never_offered(api, public):
    alice, bob = api("alice"), api("bob")
    at = alice.create_track(title="alice file owner")
    af = alice.create_file(at["id"], category="bounce", name="alice-private-bounce.wav")
    bt = bob.create_track(title="bob sharer", sharing_status="released")
    r = bob.post("/shares", json={"track_ids": [bt["id"]], "file_ids": [af["id"]]})
    if r.status_code == 201:
        token = r.json()["token"]
        page = public(f"/s/{token}.json")
        assert "alice-private-bounce.wav" not in page.text
        assert public(f"/s/{token}/files/{af['id']}").status_code == 404
    else:
        assert r.status_code in (400, 404), r.text


# --- reading shares and stats ---------------------------------------------------------

def test_list_shares(api):
    alice = api("alice")
    t = alice.create_track(title="listed share")
    s = alice.create_share(track_ids=[t["id"]])
    body = assert_json(alice.get("/shares"), 200)
    assert isinstance(body.get("shares"), list)
    mine = [x for x in body["shares"] if x["id"] == s["id"]]
    assert len(mine) == 1
    assert mine[0]["token"] == s["token"] and mine[0]["status"] == "active"


def test_share_stats_start_at_zero(api):
    alice = api("alice")
    t1 = alice.create_track(title="stats 1")
    t2 = alice.create_track(title="stats 2")
    s = alice.create_share(track_ids=[t1["id"], t2["id"]])
    got = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    for k in ("id", "token", "url", "status", "permissions", "expires_at"):
        assert got[k] == s[k], k
    assert got["views"] == 0 and got["plays"] == 0 and got["downloads"] == 0
    assert got["downloads_by_type"] == NO_DOWNLOADS
    assert len(got["tracks"]) == 2
    for tr in got["tracks"]:
        assert tr["downloads"] == 0
        assert tr["downloads_by_type"] == NO_DOWNLOADS


def test_views_counted(api, public):
    alice = api("alice")
    t = alice.create_track(title="viewed")
    s = alice.create_share(track_ids=[t["id"]])
    for _ in range(3):
        assert public(f"/s/{s['token']}").status_code == 200
    assert public(f"/s/{s['token']}", method="HEAD").status_code == 200
    assert public(f"/s/{s['token']}.json").status_code == 200
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["views"] == 3
    # README: GET /shares lists each share with its views too.
    listed = [x for x in assert_json(alice.get("/shares"), 200)["shares"] if x["id"] == s["id"]]
    assert len(listed) == 1, listed
    assert listed[0]["views"] == 3


def test_views_are_per_share(api, public):
    alice = api("alice")
    t = alice.create_track(title="two links")
    s1 = alice.create_share(track_ids=[t["id"]])
    s2 = alice.create_share(track_ids=[t["id"]])
    public(f"/s/{s1['token']}")
    assert assert_json(alice.get(f"/shares/{s1['id']}"), 200)["views"] == 1
    assert assert_json(alice.get(f"/shares/{s2['id']}"), 200)["views"] == 0


@pytest.mark.parametrize("sid", ["999999999", "no-such-share"])
def test_unknown_share_is_404(api, sid):
    assert_error(api("alice").get(f"/shares/{sid}"), 404, "not_found")
    assert_error(api("alice").post(f"/shares/{sid}/revoke", json={}), 404, "not_found")


def test_other_producers_share_is_404(api, public):
    alice, bob = api("alice"), api("bob")
    t = alice.create_track(title="alice share")
    s = alice.create_share(track_ids=[t["id"]])
    assert_error(bob.get(f"/shares/{s['id']}"), 404, "not_found")
    assert_error(bob.post(f"/shares/{s['id']}/revoke", json={}), 404, "not_found")
    assert s["id"] not in [x["id"] for x in assert_json(bob.get("/shares"), 200)["shares"]]
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["status"] == "active"
    assert public(f"/s/{s['token']}").status_code == 200


# --- revoke and expiry ----------------------------------------------------------------

def test_revoke(api, public):
    alice = api("alice")
    t, files = track_with_files(alice, title="to revoke", sharing_status="released")
    s = alice.create_share(track_ids=[t["id"]])
    assert public(f"/s/{s['token']}").status_code == 200

    r = assert_json(alice.post(f"/shares/{s['id']}/revoke", json={}), 200)
    assert r["id"] == s["id"] and r["status"] == "revoked"
    assert is_iso(r["revoked_at"])

    page = public(f"/s/{s['token']}")
    assert page.status_code == 410
    assert page.headers["Content-Type"].startswith("text/html")
    assert "disabled" in visible_text(page.text).lower()
    assert public(f"/s/{s['token']}.json").status_code == 410
    assert public(f"/s/{s['token']}/play/{t['id']}").status_code == 410
    assert public(f"/s/{s['token']}/files/{files['bounce']['id']}").status_code == 410
    assert public(f"/s/{s['token']}/zip/{t['id']}/bounce").status_code == 410

    got = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    assert got["status"] == "revoked" and got["revoked_at"] == r["revoked_at"]
    listed = [x for x in assert_json(alice.get("/shares"), 200)["shares"] if x["id"] == s["id"]]
    assert listed[0]["status"] == "revoked"


def test_revoke_is_idempotent(api):
    alice = api("alice")
    t = alice.create_track(title="revoke twice")
    s = alice.create_share(track_ids=[t["id"]])
    first = assert_json(alice.post(f"/shares/{s['id']}/revoke", json={}), 200)
    second = assert_json(alice.post(f"/shares/{s['id']}/revoke", json={}), 200)
    assert second["status"] == "revoked"
    assert second["revoked_at"] == first["revoked_at"]


def test_revoke_needs_json_content_type(api, public):
    alice = api("alice")
    t = alice.create_track(title="revoke 415")
    s = alice.create_share(track_ids=[t["id"]])
    assert_error(alice.post(f"/shares/{s['id']}/revoke"), 415, "unsupported_media_type")
    assert public(f"/s/{s['token']}").status_code == 200


def test_revoked_share_views_not_counted(api, public):
    alice = api("alice")
    t = alice.create_track(title="revoked views")
    s = alice.create_share(track_ids=[t["id"]])
    public(f"/s/{s['token']}")
    alice.post(f"/shares/{s['id']}/revoke", json={})
    public(f"/s/{s['token']}")
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["views"] == 1


def expire(db, share_id):
    with db() as conn:
        cur = conn.execute("UPDATE pds_shares SET expires_at = ? WHERE id = ?",
                           (int(time.time()) - 3600, share_id))
        assert cur.rowcount == 1, f"no pds_shares row with id {share_id!r}"


def test_expired_share(api, public, db):
    alice = api("alice")
    t, files = track_with_files(alice, title="to expire", sharing_status="released")
    s = alice.create_share(track_ids=[t["id"]], expires_in_days=7)
    assert public(f"/s/{s['token']}").status_code == 200
    expire(db, s["id"])

    page = public(f"/s/{s['token']}")
    assert page.status_code == 410
    assert page.headers["Content-Type"].startswith("text/html")
    assert "expired" in visible_text(page.text).lower()
    assert public(f"/s/{s['token']}.json").status_code == 410
    assert public(f"/s/{s['token']}/files/{files['bounce']['id']}").status_code == 410
    assert public(f"/s/{s['token']}/play/{t['id']}").status_code == 410
    assert public(f"/s/{s['token']}/zip/{t['id']}/bounce").status_code == 410

    got = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    assert got["status"] == "expired"
    assert is_iso(got["expires_at"]) and iso_to_epoch(got["expires_at"]) < time.time()
    listed = [x for x in assert_json(alice.get("/shares"), 200)["shares"] if x["id"] == s["id"]]
    assert listed[0]["status"] == "expired"


def test_never_expiring_share_expired_in_db(api, public, db):
    alice = api("alice")
    t = alice.create_track(title="null expiry then past")
    s = alice.create_share(track_ids=[t["id"]])
    expire(db, s["id"])
    assert public(f"/s/{s['token']}").status_code == 410


# --- PATCH: rename, expiry again -------------------------------------------------------

def test_patch_title_renames_for_owner_and_visitors(api, public):
    alice = api("alice")
    t = alice.create_track(title="rename me")
    s = alice.create_share(track_ids=[t["id"]], title="Old name")
    assert "Old name" in visible_text(public(f"/s/{s['token']}").text)
    r = assert_json(alice.patch(f"/shares/{s['id']}", json={"title": "New <name>"}), 200)
    assert r["id"] == s["id"] and r["title"] == "New <name>" and r["token"] == s["token"]
    assert r["expires_at"] == s["expires_at"] and r["status"] == "active"
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["title"] == "New <name>"
    page = public(f"/s/{s['token']}")            # the compiled page is rebuilt
    assert page.status_code == 200
    assert "New <name>" in visible_text(page.text) and "Old name" not in page.text
    assert "New <name>" not in page.text          # escaped in the HTML
    assert public(f"/s/{s['token']}.json").json()["share"]["title"] == "New <name>"
    for cleared in (None, ""):
        r = assert_json(alice.patch(f"/shares/{s['id']}", json={"title": cleared}), 200)
        assert r["title"] is None


def test_patch_expiry_sets_it_again_from_now(api, public, db):
    alice = api("alice")
    t = alice.create_track(title="expiry again")
    s = alice.create_share(track_ids=[t["id"]], expires_in_days=7, title="Kept")
    now = time.time()
    r = assert_json(alice.patch(f"/shares/{s['id']}", json={"expires_in_days": 90}), 200)
    assert abs(iso_to_epoch(r["expires_at"]) - (now + 90 * 86400)) < 120
    assert r["title"] == "Kept"                   # what is not given is kept
    r = assert_json(alice.patch(f"/shares/{s['id']}", json={"expires_in_days": None}), 200)
    assert r["expires_at"] is None and r["status"] == "active"
    # An expired link given a new expiry serves again, from the next request.
    expire(db, s["id"])
    assert public(f"/s/{s['token']}").status_code == 410
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["status"] == "expired"
    r = assert_json(alice.patch(f"/shares/{s['id']}", json={"expires_in_days": 1}), 200)
    assert r["status"] == "active"
    assert public(f"/s/{s['token']}").status_code == 200
    assert assert_json(alice.patch(f"/shares/{s['id']}", json={}), 200)["expires_at"] == r["expires_at"]


def test_patch_does_not_undo_a_revocation(api, public):
    alice = api("alice")
    t = alice.create_track(title="stay revoked")
    s = alice.create_share(track_ids=[t["id"]])
    alice.post(f"/shares/{s['id']}/revoke", json={})
    r = assert_json(alice.patch(f"/shares/{s['id']}", json={"expires_in_days": 30, "title": "x"}), 200)
    assert r["status"] == "revoked" and r["title"] == "x"
    assert public(f"/s/{s['token']}").status_code == 410


@pytest.mark.parametrize("body", [
    {"password": "secret"}, {"download_limit": 3}, {"download_limits": {"stems": 1}},
    {"comments": True}, {"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, {"owner": "bob"},
    {"revoked_at": None}, {"permissions": {"projects": True}}, {"track_ids": []},
    {"title": "x" * 201}, {"title": "bad\x01"}, {"title": "bidi\u202etxt"}, {"title": 5},
    {"title": ["x"]}, {"expires_in_days": 0}, {"expires_in_days": 3651}, {"expires_in_days": "7"},
    {"expires_in_days": 1.5}, {"expires_in_days": True},
], ids=lambda b: ",".join(f"{k}={v!r}"[:40] for k, v in b.items()))
def test_patch_refuses_what_it_does_not_take(api, public, body):
    alice = api("alice")
    t = alice.create_track(title="patch refused")
    s = alice.create_share(track_ids=[t["id"]], title="Unchanged", expires_in_days=7)
    field = next(iter(body))
    code = "invalid_field" if field in ("title", "expires_in_days") else "unknown_field"
    assert_error(alice.patch(f"/shares/{s['id']}", json=body), 400, code, field)
    got = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    assert (got["title"], got["expires_at"], got["status"]) == ("Unchanged", s["expires_at"], "active")
    assert public(f"/s/{s['token']}").status_code == 200


def test_patch_needs_a_json_object(api):
    alice = api("alice")
    t = alice.create_track(title="patch body")
    s = alice.create_share(track_ids=[t["id"]], title="Body")
    assert_error(alice.patch(f"/shares/{s['id']}", data=b'{"title": "x"}'), 415,
                 "unsupported_media_type")
    for body in ([{"title": "x"}], "x", 5):
        assert alice.patch(f"/shares/{s['id']}", json=body).status_code == 400
    assert assert_json(alice.get(f"/shares/{s['id']}"), 200)["title"] == "Body"


def test_patch_another_producers_share_is_404(api, public):
    alice, bob = api("alice"), api("bob")
    t = alice.create_track(title="not bob's")
    s = alice.create_share(track_ids=[t["id"]], title="Alice's", expires_in_days=7)
    for body in ({"title": "Bob was here"}, {"expires_in_days": None}, {}):
        assert_error(bob.patch(f"/shares/{s['id']}", json=body), 404, "not_found")
    assert_error(bob.patch("/shares/%E2%80%AEx", json={"title": "x"}), 404, "not_found")
    assert_error(bob.patch("/shares/%FF", json={"title": "x"}), 400, "invalid_field")
    got = assert_json(alice.get(f"/shares/{s['id']}"), 200)
    assert got["title"] == "Alice's" and got["expires_at"] == s["expires_at"]
    assert public(f"/s/{s['token']}").status_code == 200


def test_unknown_token_is_404(public):
    for token in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", "no-such-token-1234567890"]:
        r = public(f"/s/{token}")
        assert r.status_code == 404, token
        assert r.headers["Content-Type"].startswith("text/html")
        assert public(f"/s/{token}.json").status_code == 404


# --- group resolution -----------------------------------------------------------------

def test_share_shows_latest_version_of_group(api, public):
    alice, bob = api("alice"), api("bob")
    group = uniq("song")
    v1 = alice.create_track(title="Sunrise (v1 rough mix)", group_id=group, version=1, sharing_status="released")
    s = alice.create_share(track_ids=[v1["id"]])
    assert "v1 rough mix" in public(f"/s/{s['token']}").text

    alice.create_track(title="Sunrise (v2 final mix)", group_id=group, version=2, sharing_status="released")
    alice.create_track(title="Sunrise (other song)", group_id=uniq("song"), version=9)
    bob.create_track(title="Sunrise (bob v9)", group_id=group, version=9, sharing_status="released")

    page = public(f"/s/{s['token']}")
    assert page.status_code == 200
    assert "v2 final mix" in page.text
    assert "v1 rough mix" not in page.text
    assert "bob v9" not in page.text and "other song" not in page.text
    j = assert_json(public(f"/s/{s['token']}.json"), 200)
    assert [x["title"] for x in j["tracks"]] == ["Sunrise (v2 final mix)"]


def test_group_version_raised_by_patch(api, public):
    alice = api("alice")
    group = uniq("song")
    a = alice.create_track(title="Take A", group_id=group, version=1)
    alice.create_track(title="Take B", group_id=group, version=2)
    s = alice.create_share(track_ids=[a["id"]])
    assert assert_json(public(f"/s/{s['token']}.json"), 200)["tracks"][0]["title"] == "Take B"
    alice.patch(f"/tracks/{a['id']}", json={"version": 3})
    assert assert_json(public(f"/s/{s['token']}.json"), 200)["tracks"][0]["title"] == "Take A"


def test_track_without_group_is_itself(api, public):
    alice = api("alice")
    a = alice.create_track(title="Lonely One", version=1)
    alice.create_track(title="Lonely Two", version=5)
    s = alice.create_share(track_ids=[a["id"]])
    assert [x["title"] for x in assert_json(public(f"/s/{s['token']}.json"), 200)["tracks"]] == ["Lonely One"]
