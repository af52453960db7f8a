"""Owner API: GET/PUT /profile."""

import pytest

from pdshare_harness import assert_error, assert_json

PROFILE_FIELDS = {"display_name", "avatar_url", "header_url", "theme", "profile_url"}


def test_default_profile(api):
    # carol never writes her profile in this module
    p = assert_json(api("carol").get("/profile"), 200)
    assert PROFILE_FIELDS <= set(p), f"missing: {PROFILE_FIELDS - set(p)}"
    assert p["display_name"] == "carol"
    assert p["avatar_url"] is None and p["header_url"] is None and p["profile_url"] is None
    assert isinstance(p["theme"], dict) and {"accent", "background"} <= set(p["theme"]), p


def test_put_full_profile_and_read_back(api):
    alice = api("alice")
    body = {
        "display_name": "DJ Alice",
        "avatar_url": "https://img.example.com/alice.png",
        "header_url": "http://img.example.com/alice-header.jpg",
        "theme": {"accent": "#ff3366", "background": "#000"},
        "profile_url": "https://alice.example.com/",
    }
    p = assert_json(alice.put("/profile", json=body), 200)
    for k, v in body.items():
        assert p[k] == v, f"{k}: sent {v!r}, got {p[k]!r}"
    assert assert_json(alice.get("/profile"), 200) == p


def test_put_replaces_only_given_fields(api):
    bob = api("bob")
    bob.set_profile(display_name="Bob B", avatar_url="https://img.example.com/bob.png",
                    theme={"accent": "#123456", "background": "#abcdef"})
    p = assert_json(bob.put("/profile", json={"display_name": "Bobby"}), 200)
    assert p["display_name"] == "Bobby"
    assert p["avatar_url"] == "https://img.example.com/bob.png"
    assert p["theme"] == {"accent": "#123456", "background": "#abcdef"}
    assert assert_json(bob.get("/profile"), 200) == p


def test_put_null_clears_url(api):
    bob = api("bob")
    bob.set_profile(header_url="https://img.example.com/h.png")
    p = assert_json(bob.put("/profile", json={"header_url": None}), 200)
    assert p["header_url"] is None
    assert assert_json(bob.get("/profile"), 200)["header_url"] is None


def test_profiles_are_per_user(api):
    api("alice").set_profile(display_name="Alice Here")
    api("bob").set_profile(display_name="Bob Here")
    assert assert_json(api("alice").get("/profile"), 200)["display_name"] == "Alice Here"
    assert assert_json(api("bob").get("/profile"), 200)["display_name"] == "Bob Here"


@pytest.mark.parametrize("colour", ["#abc", "#A1B2C3", "#000000", "#FFF"])
def test_valid_theme_colours(api, colour):
    p = assert_json(api("alice").put("/profile", json={"theme": {"accent": colour, "background": colour}}), 200)
    assert p["theme"]["accent"].lower() == colour.lower()
    assert p["theme"]["background"].lower() == colour.lower()


INVALID = [
    ({"theme": {"accent": "red", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "#12", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "#1234", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "#gggggg", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "123456", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "#1234567", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "#fff;}body{x", "background": "#000"}}, "accent"),
    ({"theme": {"accent": "#fff", "background": "url(javascript:x)"}}, "background"),
    ({"theme": {"accent": "#fff", "background": "#fff\"><script>"}}, "background"),
    ({"theme": "dark"}, "theme"),
    ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
    ({"avatar_url": "ftp://img.example.com/a.png"}, "avatar_url"),
    ({"header_url": "data:text/html,<script>alert(1)</script>"}, "header_url"),
    ({"header_url": "/relative.png"}, "header_url"),
    ({"profile_url": "javascript:alert(document.cookie)"}, "profile_url"),
    ({"profile_url": "example.com"}, "profile_url"),
    ({"display_name": 5}, "display_name"),
    ({"display_name": "bad\x01name"}, "display_name"),
]


@pytest.mark.parametrize("body,field", INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_profile_field(api, body, field):
    carol = api("carol")
    before = assert_json(carol.get("/profile"), 200)
    assert_error(carol.put("/profile", json=body), 400, "invalid_field", field)
    assert assert_json(carol.get("/profile"), 200) == before
