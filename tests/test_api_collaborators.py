"""Owner API: POST/GET /tracks/{id}/collaborators, DELETE .../collaborators/{cid}."""

import pytest

from pdshare_harness import assert_error, assert_json

COLLAB_FIELDS = {"id", "track_id", "name", "email", "avatar_url", "role", "username"}


@pytest.fixture
def track(api):
    return api("alice").create_track(title="Collab Track")


def test_add_collaborator(api, track):
    body = {"name": "Maya Vox", "email": "maya@example.com", "avatar_url": "https://img.example.com/maya.png",
            "role": "vocals", "username": "bob"}
    c = assert_json(api("alice").post(f"/tracks/{track['id']}/collaborators", json=body), 201)
    assert COLLAB_FIELDS <= set(c), f"missing: {COLLAB_FIELDS - set(c)}"
    for k, v in body.items():
        assert c[k] == v, f"{k}: sent {v!r}, got {c[k]!r}"
    assert str(c["track_id"]) == str(track["id"])
    assert c["id"] not in (None, "")


def test_add_collaborator_name_only(api, track):
    c = assert_json(api("alice").post(f"/tracks/{track['id']}/collaborators", json={"name": "Solo"}), 201)
    assert c["name"] == "Solo"
    for f in ("email", "avatar_url", "role", "username"):
        assert c[f] is None, f"{f}: {c[f]!r}"


def test_list_and_delete(api, track):
    alice = api("alice")
    a = alice.create_collaborator(track["id"], name="A", role="mix")
    b = alice.create_collaborator(track["id"], name="B", role="keys")
    body = assert_json(alice.get(f"/tracks/{track['id']}/collaborators"), 200)
    assert isinstance(body.get("collaborators"), list), body
    assert {c["id"]: c["name"] for c in body["collaborators"]} == {a["id"]: "A", b["id"]: "B"}

    r = alice.delete(f"/tracks/{track['id']}/collaborators/{a['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    body = assert_json(alice.get(f"/tracks/{track['id']}/collaborators"), 200)
    assert [c["id"] for c in body["collaborators"]] == [b["id"]]
    assert_error(alice.delete(f"/tracks/{track['id']}/collaborators/{a['id']}"), 404, "not_found")


def test_delete_through_another_track_is_404(api, track):
    alice = api("alice")
    other = alice.create_track(title="Other")
    c = alice.create_collaborator(track["id"], name="Stays")
    assert_error(alice.delete(f"/tracks/{other['id']}/collaborators/{c['id']}"), 404, "not_found")
    ids = [x["id"] for x in assert_json(alice.get(f"/tracks/{track['id']}/collaborators"), 200)["collaborators"]]
    assert ids == [c["id"]]


INVALID = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"name": 3}, "name"),
    ({"name": "bad\x01name"}, "name"),
    ({"name": "ok", "avatar_url": "javascript:alert(1)"}, "avatar_url"),
    ({"name": "ok", "avatar_url": "ftp://img.example.com/a.png"}, "avatar_url"),
    ({"name": "ok", "role": 5}, "role"),
]


@pytest.mark.parametrize("body,field", INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_collaborator_field(api, track, body, field):
    alice = api("alice")
    assert_error(alice.post(f"/tracks/{track['id']}/collaborators", json=body), 400, "invalid_field", field)
    assert assert_json(alice.get(f"/tracks/{track['id']}/collaborators"), 200)["collaborators"] == []


def test_other_producers_collaborators(api, track):
    alice, bob = api("alice"), api("bob")
    c = alice.create_collaborator(track["id"], name="Alice's Friend", email="friend@example.com")
    assert_error(bob.get(f"/tracks/{track['id']}/collaborators"), 404, "not_found")
    assert_error(bob.post(f"/tracks/{track['id']}/collaborators", json={"name": "Planted"}), 404, "not_found")
    assert_error(bob.delete(f"/tracks/{track['id']}/collaborators/{c['id']}"), 404, "not_found")
    # bob's own track, alice's collaborator id
    mine = bob.create_track(title="Bob's")
    assert_error(bob.delete(f"/tracks/{mine['id']}/collaborators/{c['id']}"), 404, "not_found")
    got = assert_json(alice.get(f"/tracks/{track['id']}/collaborators"), 200)["collaborators"]
    assert [x["id"] for x in got] == [c["id"]]
    assert got[0]["name"] == "Alice's Friend"


@pytest.mark.parametrize("body", [{"avatar_url": "nope"}, {"email": "not-an-email"},
                                  {"name": ""}, {"username": "a b"}])
def test_patch_with_a_bad_field_is_400_and_harms_nothing(api, body):
    # Found by the json_bodies fuzzer: a PATCH that failed validation freed the
    # collaborator's JSON twice.
    alice = api("alice")
    t = alice.create_track(title="Patch me")
    c = alice.create_collaborator(t["id"], name="Guest", email="g@example.com")
    for _ in range(20):
        r = alice.patch(f"/tracks/{t['id']}/collaborators/{c['id']}", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    got = alice.get(f"/tracks/{t['id']}/collaborators").json()["collaborators"]
    assert [(x["name"], x["email"]) for x in got] == [("Guest", "g@example.com")]
