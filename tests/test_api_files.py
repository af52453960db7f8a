"""Owner API: POST/GET /tracks/{id}/files (registering files already in Dropbox)."""

import pytest

from pdshare_harness import assert_error, assert_json, is_iso

FILE_FIELDS = {"id", "track_id", "category", "dropbox_path", "name", "format", "size", "imported", "created_at"}


@pytest.fixture
def track(api):
    return api("alice").create_track(title="Files Track")


@pytest.mark.parametrize("category", ["master", "bounce", "stem", "project"])
def test_register_file(api, track, category):
    body = {"category": category, "dropbox_path": f"/PRODUCER-DASHBOARD/{category}s/Files Track/a b.wav",
            "name": "a b.wav", "format": "wav", "size": 123456789}
    f = assert_json(api("alice").post(f"/tracks/{track['id']}/files", json=body), 201)
    assert FILE_FIELDS <= set(f), f"missing: {FILE_FIELDS - set(f)}"
    for k, v in body.items():
        assert f[k] == v, f"{k}: sent {v!r}, got {f[k]!r}"
    assert str(f["track_id"]) == str(track["id"])
    assert f["imported"] is True
    assert is_iso(f["created_at"])
    assert f["id"] not in (None, "")


def test_register_file_minimal(api, track):
    f = assert_json(api("alice").post(f"/tracks/{track['id']}/files",
                                      json={"category": "stem", "dropbox_path": "/x/kick.wav",
                                            "name": "kick.wav"}), 201)
    assert f["name"] == "kick.wav" and f["category"] == "stem"


def test_size_zero_is_valid(api, track):
    f = assert_json(api("alice").post(f"/tracks/{track['id']}/files",
                                      json={"category": "stem", "dropbox_path": "/x/empty.wav",
                                            "name": "empty.wav", "size": 0}), 201)
    assert f["size"] == 0


def test_list_files(api, track):
    alice = api("alice")
    made = [alice.create_file(track["id"], category=c, name=f"{c}.wav") for c in ("master", "stem")]
    body = assert_json(alice.get(f"/tracks/{track['id']}/files"), 200)
    assert isinstance(body.get("files"), list), body
    got = {f["id"]: f for f in body["files"]}
    assert set(got) == {f["id"] for f in made}
    for f in made:
        assert got[f["id"]]["name"] == f["name"]
        assert got[f["id"]]["category"] == f["category"]
        assert got[f["id"]]["imported"] is True


def test_files_are_per_track(api):
    alice = api("alice")
    t1 = alice.create_track(title="one")
    t2 = alice.create_track(title="two")
    f1 = alice.create_file(t1["id"], name="one.wav")
    ids2 = {f["id"] for f in assert_json(alice.get(f"/tracks/{t2['id']}/files"), 200)["files"]}
    assert f1["id"] not in ids2


INVALID = [
    ({"category": "video"}, "category"),
    ({"category": "Master"}, "category"),
    ({"category": None}, "category"),
    ({"category": "__missing__"}, "category"),
    ({"dropbox_path": "relative/a.wav"}, "dropbox_path"),
    ({"dropbox_path": ""}, "dropbox_path"),
    ({"dropbox_path": "/a/../b.wav"}, "dropbox_path"),
    ({"dropbox_path": "/../b.wav"}, "dropbox_path"),
    ({"dropbox_path": "/a/.."}, "dropbox_path"),
    ({"dropbox_path": "/a/\x01b.wav"}, "dropbox_path"),
    ({"dropbox_path": "/a/b\n.wav"}, "dropbox_path"),
    ({"dropbox_path": "__missing__"}, "dropbox_path"),
    ({"name": "__missing__"}, "name"),
    ({"name": ""}, "name"),
    ({"name": "a/b.wav"}, "name"),
    ({"name": "bad\x01.wav"}, "name"),
    ({"name": 7}, "name"),
    ({"size": -1}, "size"),
    ({"size": 1.5}, "size"),
    ({"size": "10"}, "size"),
]


@pytest.mark.parametrize("change,field", INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_file_field(api, track, change, field):
    body = {"category": "bounce", "dropbox_path": "/PRODUCER-DASHBOARD/bounces/a.wav", "name": "a.wav",
            "format": "wav", "size": 10}
    for k, v in change.items():
        if v == "__missing__":
            del body[k]
        else:
            body[k] = v
    alice = api("alice")
    assert_error(alice.post(f"/tracks/{track['id']}/files", json=body), 400, "invalid_field", field)
    assert assert_json(alice.get(f"/tracks/{track['id']}/files"), 200)["files"] == []


def test_dots_inside_a_name_are_fine(api, track):
    f = assert_json(api("alice").post(f"/tracks/{track['id']}/files",
                                      json={"category": "project", "dropbox_path": "/a/my..song.als",
                                            "name": "my..song.als"}), 201)
    assert f["dropbox_path"] == "/a/my..song.als"


def test_unknown_track(api):
    alice = api("alice")
    body = {"category": "stem", "dropbox_path": "/a.wav", "name": "a.wav"}
    assert_error(alice.post("/tracks/999999999/files", json=body), 404, "not_found")
    assert_error(alice.get("/tracks/999999999/files"), 404, "not_found")


def test_other_producers_track(api, track):
    alice, bob = api("alice"), api("bob")
    f = alice.create_file(track["id"], name="secret.wav")
    body = {"category": "stem", "dropbox_path": "/a.wav", "name": "planted.wav"}
    assert_error(bob.post(f"/tracks/{track['id']}/files", json=body), 404, "not_found")
    assert_error(bob.get(f"/tracks/{track['id']}/files"), 404, "not_found")
    files = assert_json(alice.get(f"/tracks/{track['id']}/files"), 200)["files"]
    assert [x["id"] for x in files] == [f["id"]]
