"""Owner API: errors common to every route (401, 415, 400 invalid_json, 404, 405)."""

import json

import pytest

from pdshare_harness import assert_error, assert_json


@pytest.fixture(scope="module")
def objects(server):
    """A track of alice's with a file, a collaborator and a share, for route templates."""
    alice = server.api("alice")
    t = alice.create_track(title="Error Routes", sharing_status="released")
    f = alice.create_file(t["id"], category="bounce", name="err.wav")
    c = alice.create_collaborator(t["id"], name="Err Collab")
    s = alice.create_share(track_ids=[t["id"]])
    return {"tid": t["id"], "fid": f["id"], "cid": c["id"], "sid": s["id"]}


# Every write route with a body that would be accepted.
WRITES = [
    ("POST", "/tracks", {"title": "x"}),
    ("PATCH", "/tracks/{tid}", {"bpm": 100}),
    ("PUT", "/profile", {"display_name": "x"}),
    ("POST", "/tracks/{tid}/files", {"category": "stem", "dropbox_path": "/a/b.wav", "name": "b.wav"}),
    ("POST", "/tracks/{tid}/collaborators", {"name": "x"}),
    ("POST", "/shares", {"track_ids": ["{tid}"]}),
    ("POST", "/shares/{sid}/revoke", {}),
]


def fill(path, objects):
    return path.format(**objects)


def fill_body(body, objects):
    if isinstance(body, dict):
        return {k: fill_body(v, objects) for k, v in body.items()}
    if isinstance(body, list):
        return [fill_body(v, objects) for v in body]
    if isinstance(body, str):
        return body.format(**objects)
    return body


@pytest.mark.parametrize("method,path,body", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
@pytest.mark.parametrize("ctype", ["text/plain", None, "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx"])
def test_write_without_json_content_type_is_415(api, objects, method, path, body, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = api("alice").request(method, fill(path, objects),
                             data=json.dumps(fill_body(body, objects)).encode(), headers=headers)
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("method,path,body", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_json_with_charset_is_accepted(api, objects, method, path, body):
    r = api("alice").request(method, fill(path, objects),
                             data=json.dumps(fill_body(body, objects)).encode(),
                             headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text}"


@pytest.mark.parametrize("method,path,body", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
@pytest.mark.parametrize("raw", [b"not json", b"{", b'{"title": "x",}', b"[1, 2, 3]", b'"a string"',
                                 b"42", b"null", b"", b"\xff\xfe{}"],
                         ids=["text", "truncated", "trailing-comma", "array", "string", "number",
                              "null", "empty", "bad-utf8"])
def test_body_not_a_json_object_is_400(api, objects, method, path, body, raw):
    r = api("alice").request(method, fill(path, objects), data=raw,
                             headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")


ROUTES_NOAUTH = [
    ("GET", "/tracks", None),
    ("POST", "/tracks", {"title": "x"}),
    ("GET", "/tracks/1", None),
    ("PATCH", "/tracks/1", {"bpm": 100}),
    ("DELETE", "/tracks/1", None),
    ("GET", "/profile", None),
    ("PUT", "/profile", {"display_name": "x"}),
    ("GET", "/tracks/1/files", None),
    ("POST", "/tracks/1/collaborators", {"name": "x"}),
    ("GET", "/shares", None),
    ("POST", "/shares", {"track_ids": ["1"]}),
    ("GET", "/shares/1", None),
    ("POST", "/shares/1/revoke", {}),
]


@pytest.mark.parametrize("method,path,body", ROUTES_NOAUTH, ids=[f"{m} {p}" for m, p, _ in ROUTES_NOAUTH])
def test_no_user_is_401(noauth, method, path, body):
    kw = {"json": body} if body is not None else {}
    assert_error(noauth.request(method, path, **kw), 401, "unauthorized")


def test_no_user_cannot_create(noauth, db):
    # Without a user the create is refused with 401, and no track is stored for
    # anybody: the database's track table is the same before and after.
    def tracks():
        with db() as conn:
            return sorted(conn.execute("SELECT id, owner, title FROM pds_tracks").fetchall())

    before = tracks()
    assert_error(noauth.post("/tracks", json={"title": "anonymous create"}), 401, "unauthorized")
    after = tracks()
    assert after == before
    assert not [row for row in after if row[2] == "anonymous create"], after


WRONG_METHODS = [
    ("PUT", "/tracks"),
    ("DELETE", "/tracks"),
    ("PATCH", "/tracks"),
    ("POST", "/tracks/{tid}"),
    ("PUT", "/tracks/{tid}"),
    ("POST", "/profile"),
    ("DELETE", "/profile"),
    ("PATCH", "/profile"),
    ("PUT", "/tracks/{tid}/files"),
    ("DELETE", "/tracks/{tid}/files"),
    ("PUT", "/tracks/{tid}/collaborators"),
    ("DELETE", "/tracks/{tid}/collaborators"),
    ("GET", "/tracks/{tid}/collaborators/{cid}"),
    ("PUT", "/shares"),
    ("DELETE", "/shares"),
    ("PUT", "/shares/{sid}"),
    ("DELETE", "/shares/{sid}"),
    ("POST", "/shares/{sid}"),
    ("GET", "/shares/{sid}/revoke"),
    ("DELETE", "/shares/{sid}/revoke"),
]


@pytest.mark.parametrize("method,path", WRONG_METHODS, ids=[f"{m} {p}" for m, p in WRONG_METHODS])
def test_wrong_method_is_405(api, objects, method, path):
    kw = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    assert_error(api("alice").request(method, fill(path, objects), **kw), 405, "method_not_allowed")


def test_wrong_method_changes_nothing(api, objects):
    alice = api("alice")
    before = assert_json(alice.get(f"/tracks/{objects['tid']}"), 200)
    alice.put(f"/tracks/{objects['tid']}", json={"title": "put is not patch"})
    alice.post(f"/tracks/{objects['tid']}", json={"title": "post is not patch"})
    assert assert_json(alice.get(f"/tracks/{objects['tid']}"), 200) == before


UNKNOWN = [
    ("GET", "/"),
    ("GET", "/nothing"),
    ("GET", "/tracks/{tid}/nothing"),
    ("GET", "/tracks/{tid}/files/{fid}/nothing"),
    ("GET", "/shares/{sid}/nothing"),
    ("GET", "/tracks/999999999"),
    ("GET", "/tracks/no-such-id"),
    ("GET", "/tracks/999999999/files"),
    ("POST", "/tracks/999999999/files"),
    ("GET", "/tracks/999999999/collaborators"),
    ("POST", "/tracks/999999999/collaborators"),
    ("DELETE", "/tracks/{tid}/collaborators/999999999"),
    ("DELETE", "/tracks/999999999/collaborators/{cid}"),
    ("GET", "/shares/999999999"),
    ("GET", "/shares/no-such-share"),
    ("PATCH", "/shares/999999999"),
    ("POST", "/shares/999999999/revoke"),
]


@pytest.mark.parametrize("method,path", UNKNOWN, ids=[f"{m} {p}" for m, p in UNKNOWN])
def test_unknown_route_or_id_is_404(api, objects, method, path):
    body = {"category": "stem", "dropbox_path": "/a.wav", "name": "a.wav"} if path.endswith("/files") \
        else {"name": "x"} if path.endswith("/collaborators") else {}
    kw = {"json": body} if method in ("POST", "PUT", "PATCH") else {}
    assert_error(api("alice").request(method, fill(path, objects), **kw), 404, "not_found")


# README: "413 payload_too_large: a JSON body over 256 KiB".
JSON_BODY_LIMIT = 256 * 1024


def padded_body(fields, size):
    """A JSON object of exactly `size` bytes: `fields` padded with JSON whitespace."""
    text = json.dumps(fields).encode()
    assert len(text) <= size
    return text[:-1] + b" " * (size - len(text)) + b"}"


def test_body_too_large_is_413(api, db):
    # Two valid JSON objects that differ by one byte of whitespace: the one of
    # exactly 256 KiB is accepted, the one a byte over is refused with 413 and
    # nothing of it is stored. So the refusal is about the size, not the content.
    alice = api("alice")
    at_limit = padded_body({"title": "Body At The Limit"}, JSON_BODY_LIMIT)
    over = padded_body({"title": "Body Over The Limit"}, JSON_BODY_LIMIT + 1)
    assert len(at_limit) == JSON_BODY_LIMIT and len(over) == JSON_BODY_LIMIT + 1

    created = assert_json(alice.post("/tracks", data=at_limit,
                                     headers={"Content-Type": "application/json"}), 201)
    assert created["title"] == "Body At The Limit"

    err = assert_error(alice.post("/tracks", data=over, headers={"Content-Type": "application/json"}),
                       413, "payload_too_large")
    assert str(JSON_BODY_LIMIT) in err["message"], err

    # Sent chunked (no Content-Length), the same body is refused the same way.
    def chunks(data, size=64 * 1024):
        for i in range(0, len(data), size):
            yield data[i:i + size]

    assert_error(alice.post("/tracks", data=chunks(over), headers={"Content-Type": "application/json"}),
                 413, "payload_too_large")

    with db() as conn:
        titles = [row[0] for row in conn.execute("SELECT title FROM pds_tracks").fetchall()]
    assert "Body Over The Limit" not in titles
    assert titles.count("Body At The Limit") == 1
