"""Owner API: tracks (POST/GET/PATCH/DELETE /tracks...)."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from pdshare_harness import assert_error, assert_json, is_iso, iso_to_epoch

TRACK_FIELDS = {"id", "title", "bpm", "key", "artwork_url", "bucket", "alias", "group_id",
                "version", "sharing_status", "created_at", "updated_at"}
OPTIONAL_FIELDS = ["bpm", "key", "artwork_url", "bucket", "alias", "group_id"]


def uniq(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_with_title_only_gives_defaults(api):
    before = time.time()
    t = assert_json(api("alice").post("/tracks", json={"title": "First Light"}), 201)
    assert TRACK_FIELDS <= set(t), f"missing fields: {TRACK_FIELDS - set(t)}"
    assert isinstance(t["id"], str) and t["id"]
    assert t["title"] == "First Light"
    for f in OPTIONAL_FIELDS:
        assert t[f] is None, f"{f} should be null, is {t[f]!r}"
    assert t["version"] == 1
    assert t["sharing_status"] == "private"
    assert is_iso(t["created_at"]) and is_iso(t["updated_at"]), t
    assert abs(iso_to_epoch(t["created_at"]) - before) < 120


def test_create_with_every_field_and_read_back(api):
    fields = {
        "title": "Night Drive",
        "bpm": 128,
        "key": "F# minor",
        "artwork_url": "https://img.example.com/art/night-drive.png",
        "bucket": uniq("Beat Tape"),
        "alias": "night-drive_v1.0",
        "group_id": uniq("song"),
        "version": 3,
        "sharing_status": "wip",
    }
    alice = api("alice")
    t = assert_json(alice.post("/tracks", json=fields), 201)
    for k, v in fields.items():
        assert t[k] == v, f"{k}: sent {v!r}, got {t[k]!r}"
    got = assert_json(alice.get(f"/tracks/{t['id']}"), 200)
    assert got == t


def test_unicode_title_round_trips(api):
    title = "Café ☕ 夜のドライブ — naïve"
    t = api("alice").create_track(title=title)
    got = assert_json(api("alice").get(f"/tracks/{t['id']}"), 200)
    assert got["title"] == title


def test_ids_are_distinct(api):
    a = api("alice").create_track(title="one")
    b = api("alice").create_track(title="two")
    assert a["id"] != b["id"]


def test_concurrent_creates(api):
    bucket = uniq("concurrent")

    def create(i):
        return api("alice").post("/tracks", json={"title": f"c{i}", "bucket": bucket})

    with ThreadPoolExecutor(max_workers=50) as ex:
        answers = list(ex.map(create, range(50)))
    assert [r.status_code for r in answers] == [201] * 50, [r.text for r in answers if r.status_code != 201][:3]
    ids = {r.json()["id"] for r in answers}
    assert len(ids) == 50
    listed = assert_json(api("alice").get("/tracks", params={"bucket": bucket}), 200)["tracks"]
    assert {x["id"] for x in listed} == ids


def test_list_tracks(api):
    alice = api("alice")
    t = alice.create_track(title=uniq("listed"))
    body = assert_json(alice.get("/tracks"), 200)
    assert isinstance(body, dict) and isinstance(body.get("tracks"), list), body
    mine = [x for x in body["tracks"] if x["id"] == t["id"]]
    assert len(mine) == 1
    assert mine[0]["title"] == t["title"]


def test_list_tracks_by_bucket(api):
    alice = api("alice")
    bucket = uniq("Beat Tape Vol. 1 & friends")
    in_bucket = {alice.create_track(title=f"b{i}", bucket=bucket)["id"] for i in range(3)}
    alice.create_track(title="elsewhere", bucket=uniq("other"))
    alice.create_track(title="no bucket")
    body = assert_json(alice.get("/tracks", params={"bucket": bucket}), 200)
    assert {x["id"] for x in body["tracks"]} == in_bucket
    assert all(x["bucket"] == bucket for x in body["tracks"])
    empty = assert_json(alice.get("/tracks", params={"bucket": uniq("nothing here")}), 200)
    assert empty["tracks"] == []


def test_list_shows_only_own_tracks(api):
    b = api("bob").create_track(title=uniq("bobs"))
    a = api("alice").create_track(title=uniq("alices"))
    alice_ids = {x["id"] for x in assert_json(api("alice").get("/tracks"), 200)["tracks"]}
    bob_ids = {x["id"] for x in assert_json(api("bob").get("/tracks"), 200)["tracks"]}
    assert a["id"] in alice_ids and b["id"] not in alice_ids
    assert b["id"] in bob_ids and a["id"] not in bob_ids


def test_patch_changes_only_given_fields(api):
    alice = api("alice")
    t = alice.create_track(title="Patch Me", bpm=100, key="C major", bucket="keep")
    time.sleep(1.1)
    p = assert_json(alice.patch(f"/tracks/{t['id']}", json={"bpm": 120}), 200)
    assert p["bpm"] == 120
    assert p["title"] == "Patch Me" and p["key"] == "C major" and p["bucket"] == "keep"
    assert p["created_at"] == t["created_at"]
    assert is_iso(p["updated_at"]) and iso_to_epoch(p["updated_at"]) > iso_to_epoch(t["updated_at"])
    assert assert_json(alice.get(f"/tracks/{t['id']}"), 200) == p


def test_patch_null_clears_optional_fields(api):
    alice = api("alice")
    t = alice.create_track(title="Clear Me", bpm=90, key="D minor",
                           artwork_url="https://img.example.com/x.png", bucket="b",
                           alias="clear-me", group_id="g")
    p = assert_json(alice.patch(f"/tracks/{t['id']}", json={f: None for f in OPTIONAL_FIELDS}), 200)
    for f in OPTIONAL_FIELDS:
        assert p[f] is None, f"{f} not cleared: {p[f]!r}"
    assert p["title"] == "Clear Me"
    got = assert_json(alice.get(f"/tracks/{t['id']}"), 200)
    for f in OPTIONAL_FIELDS:
        assert got[f] is None


def test_patch_status_version_title(api):
    alice = api("alice")
    t = alice.create_track(title="Status")
    p = assert_json(alice.patch(f"/tracks/{t['id']}",
                                json={"sharing_status": "released", "version": 7, "title": "Renamed"}), 200)
    assert (p["sharing_status"], p["version"], p["title"]) == ("released", 7, "Renamed")


@pytest.mark.parametrize("body", [{"title": None}, {"title": ""}, {"title": "x" * 201},
                                  {"bpm": 0}, {"version": 0}, {"sharing_status": "public"},
                                  {"artwork_url": "javascript:alert(1)"}, {"alias": ".x"}])
def test_patch_invalid_is_refused_and_changes_nothing(api, body):
    alice = api("alice")
    t = alice.create_track(title="Unchanged", bpm=100, version=2, alias="unchanged",
                           artwork_url="https://img.example.com/u.png")
    field = next(iter(body))
    assert_error(alice.patch(f"/tracks/{t['id']}", json=body), 400, "invalid_field", field)
    assert assert_json(alice.get(f"/tracks/{t['id']}"), 200) == t


def test_delete_track(api):
    alice = api("alice")
    t = alice.create_track(title="Delete Me")
    r = alice.delete(f"/tracks/{t['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_error(alice.get(f"/tracks/{t['id']}"), 404, "not_found")
    assert_error(alice.patch(f"/tracks/{t['id']}", json={"bpm": 100}), 404, "not_found")
    assert_error(alice.delete(f"/tracks/{t['id']}"), 404, "not_found")
    ids = {x["id"] for x in assert_json(alice.get("/tracks"), 200)["tracks"]}
    assert t["id"] not in ids


@pytest.mark.parametrize("tid", ["999999999", "no-such-track", "0"])
def test_unknown_track_is_404(api, tid):
    alice = api("alice")
    assert_error(alice.get(f"/tracks/{tid}"), 404, "not_found")
    assert_error(alice.patch(f"/tracks/{tid}", json={"bpm": 100}), 404, "not_found")
    assert_error(alice.delete(f"/tracks/{tid}"), 404, "not_found")


def test_other_producers_track_is_404(api):
    alice, bob = api("alice"), api("bob")
    t = alice.create_track(title="Alice Only", bpm=100)
    assert_error(bob.get(f"/tracks/{t['id']}"), 404, "not_found")
    assert_error(bob.patch(f"/tracks/{t['id']}", json={"title": "stolen"}), 404, "not_found")
    assert_error(bob.delete(f"/tracks/{t['id']}"), 404, "not_found")
    assert assert_json(alice.get(f"/tracks/{t['id']}"), 200) == t


# --- validation ------------------------------------------------------------------

INVALID_CREATE = [
    ({}, "title"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "bad\x01title"}, "title"),
    ({"title": "bad\ntitle"}, "title"),
    ({"title": "bad\x1b[31mtitle"}, "title"),
    ({"title": "bad\x7ftitle"}, "title"),
    ({"title": None}, "title"),
    ({"title": 42}, "title"),
    ({"title": ["a"]}, "title"),
    ({"title": "ok", "bpm": 0}, "bpm"),
    ({"title": "ok", "bpm": 1000}, "bpm"),
    ({"title": "ok", "bpm": -1}, "bpm"),
    ({"title": "ok", "bpm": 0.5}, "bpm"),
    ({"title": "ok", "bpm": "120"}, "bpm"),
    ({"title": "ok", "bpm": True}, "bpm"),
    ({"title": "ok", "key": "k" * 33}, "key"),
    ({"title": "ok", "key": 5}, "key"),
    ({"title": "ok", "artwork_url": "javascript:alert(1)"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "JavaScript:alert(1)"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "data:image/png;base64,AAAA"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "ftp://img.example.com/a.png"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "img.example.com/a.png"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "/img/a.png"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "//img.example.com/a.png"}, "artwork_url"),
    ({"title": "ok", "artwork_url": "https://"}, "artwork_url"),
    ({"title": "ok", "alias": ".hidden"}, "alias"),
    ({"title": "ok", "alias": "a/b"}, "alias"),
    ({"title": "ok", "alias": "a b"}, "alias"),
    ({"title": "ok", "alias": "a" * 65}, "alias"),
    ({"title": "ok", "alias": ""}, "alias"),
    ({"title": "ok", "alias": "über"}, "alias"),
    ({"title": "ok", "alias": ".."}, "alias"),
    ({"title": "ok", "version": 0}, "version"),
    ({"title": "ok", "version": 1000001}, "version"),
    ({"title": "ok", "version": -1}, "version"),
    ({"title": "ok", "version": 1.5}, "version"),
    ({"title": "ok", "version": "2"}, "version"),
    ({"title": "ok", "sharing_status": "public"}, "sharing_status"),
    ({"title": "ok", "sharing_status": "Released"}, "sharing_status"),
    ({"title": "ok", "sharing_status": ""}, "sharing_status"),
    ({"title": "ok", "bucket": "b" * 101}, "bucket"),
    ({"title": "ok", "group_id": "g" * 101}, "group_id"),
]


@pytest.mark.parametrize("body,field", INVALID_CREATE,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID_CREATE)])
def test_create_invalid_field(api, body, field):
    alice = api("alice")
    before = {x["id"] for x in assert_json(alice.get("/tracks"), 200)["tracks"]}
    assert_error(alice.post("/tracks", json=body), 400, "invalid_field", field)
    after = {x["id"] for x in assert_json(alice.get("/tracks"), 200)["tracks"]}
    assert after == before, "a refused create left a track behind"


VALID_EDGES = [
    {"title": "x" * 200},
    {"title": "t", "key": "k" * 32},
    {"title": "t", "bpm": 1},
    {"title": "t", "bpm": 999},
    {"title": "t", "bpm": 92.5},
    {"title": "t", "alias": "a" * 64},
    {"title": "t", "alias": "A.b_c-9"},
    {"title": "t", "alias": "x."},
    {"title": "t", "version": 1000000},
    {"title": "t", "version": 1},
    {"title": "t", "bucket": "b" * 100, "group_id": "g" * 100},
    {"title": "t", "artwork_url": "http://img.example.com/a.png"},
    {"title": "t", "artwork_url": "https://img.example.com:8443/a.png?x=1&y=2"},
    {"title": "t", "sharing_status": "private"},
    {"title": "t", "sharing_status": "released"},
]


@pytest.mark.parametrize("body", VALID_EDGES, ids=[str(i) for i in range(len(VALID_EDGES))])
def test_create_valid_edges(api, body):
    t = assert_json(api("alice").post("/tracks", json=body), 201)
    for k, v in body.items():
        assert t[k] == v, f"{k}: sent {v!r}, got {t[k]!r}"
