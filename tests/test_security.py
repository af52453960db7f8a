"""Security: wrong share tokens learn nothing; every route is scoped to its
producer; OAuth state is single use, bound and expiring; the code exchange
needs the PKCE verifier only the module holds; SQL metacharacters are data;
file names cannot inject headers."""

import base64
import hashlib
import os
import random
import re
import statistics
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from pdshare_dropbox import APP_KEY, APP_SECRET, connect, start_connect

SQL = "x'); DROP TABLE pds_tracks; -- \" ; SELECT * FROM pds_shares WHERE '1'='1"


def make_share(api, **track):
    t = api.create_track(title=track.pop("title", "Secret Song"), sharing_status="released", **track)
    s = api.create_share(track_ids=[t["id"]])
    return t, s, s["url"].rsplit("/", 1)[1]


def test_wrong_tokens_learn_nothing(server, api):
    alice = api("alice")
    t, s, token = make_share(alice)
    revoked_t, revoked_s, revoked_token = make_share(alice, title="Gone")
    alice.post(f"/shares/{revoked_s['id']}/revoke", json={})
    wrong_verifier = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    candidates = {
        "unknown": "Q" * 32,
        "wrong verifier, right selector": wrong_verifier,
        "too short": token[:31],
        "too long": token + "A",
        "bad characters": token[:31] + "*",
        "empty-ish": "-",
    }
    answers = {k: server.public(v) for k, v in candidates.items()}
    statuses = {k: r.status_code for k, r in answers.items()}
    assert set(statuses.values()) == {404}, statuses
    bodies = {r.text for r in answers.values()}
    assert len(bodies) == 1, "every wrong token gets the very same page"
    assert "Secret Song" not in bodies.pop()
    for suffix in ["/files/fabc", "/play/tabc", "/zip/tabc/stems"]:
        assert server.public(wrong_verifier + suffix).status_code == 404
    # A revoked share says so, and nothing more.
    r = server.public(revoked_token)
    assert r.status_code == 410 and "Gone" not in r.text


def test_wrong_tokens_take_the_same_time(server, api, db):
    """Wrong tokens are answered in the same timing class, whatever they share with a
    real one. Three wrong kinds, each one character away from a real token: the last
    character changed (same selector: the share row is found and only the constant-time
    compare of the whole token refuses it), the first changed (another selector: no
    row), the last made '*' (malformed: refused before the database). Beside them a
    revoked and an expired token, which differ in status (410) but not in time.

    No absolute threshold (the machines are shared): the kinds are interleaved in one
    run, ROUNDS rounds in a shuffled order each, on one keep-alive connection, over
    the share page, .json, /files/, /play/ and /zip/ in turn, and the medians are
    compared per route and over all: each kind within FACTOR times plus SLACK of every
    other. It catches what costs a few milliseconds more on one kind only (with answers
    of about 0.6 ms, a 3 ms sleep after the failed compare in pds_share_by_token fails
    it, 1.5 ms does not): a near miss that goes on to build the page model, call
    Dropbox, record an event or sleep as a penalty; a revoked or expired share that
    builds its page before the 410; a malformed token that takes another slow path.
    It cannot see the nanoseconds of a non-constant-time compare (test_ct_streq in
    tests/unit and pds_share_by_token's code are for that)."""
    ROUNDS, WARMUP, FACTOR, SLACK, BUDGET = 200, 10, 1.5, 0.002, 15.0
    alice = api("alice")
    _, _, token = make_share(alice, title="Timed")
    _, gone_s, gone = make_share(alice, title="Timed and gone")
    assert alice.post(f"/shares/{gone_s['id']}/revoke", json={}).status_code == 200
    _, old_s, old = make_share(alice, title="Timed and old")
    with db() as conn:
        conn.execute("UPDATE pds_shares SET expires_at = ? WHERE id = ?",
                     (int(time.time()) - 3600, old_s["id"]))
    other = lambda c: "A" if c != "A" else "B"
    kinds = {
        "last character": (token[:-1] + other(token[-1]), 404),
        "other selector": (other(token[0]) + token[1:], 404),
        "malformed": (token[:-1] + "*", 404),
        "revoked": (gone, 410),
        "expired": (old, 410),
    }
    routes = ["{}", "{}.json", "{}/files/fabc", "{}/play/tabc", "{}/zip/tabc/stems"]
    times = {(route, kind): [] for route in routes for kind in kinds}
    order = list(kinds)
    rng = random.Random(20231114)
    deadline = time.monotonic() + BUDGET
    with requests.Session() as s:
        for i in range(WARMUP + ROUNDS):
            if time.monotonic() > deadline:
                break
            route = routes[i % len(routes)]
            rng.shuffle(order)
            for kind in order:
                tok, want = kinds[kind]
                url = f"{server.base_url}/s/{route.format(tok)}"
                t0 = time.perf_counter()
                r = s.get(url, timeout=30, allow_redirects=False)
                elapsed = time.perf_counter() - t0
                assert r.status_code == want, (kind, url, r.status_code)
                if i >= WARMUP:
                    times[route, kind].append(elapsed)
    assert min(len(v) for v in times.values()) >= 10, "too few rounds within the time budget"

    def medians(samples):
        return {kind: statistics.median(v) for kind, v in samples.items()}

    def same_class(where, med):
        ms = {k: round(v * 1000, 3) for k, v in med.items()}
        for a in med:
            for b in med:
                assert med[a] <= FACTOR * med[b] + SLACK, \
                    f"{where}: {a} is slower than {b} (median ms: {ms})"

    for route in routes:
        same_class(f"/s/{route}", medians({k: times[route, k] for k in kinds}))
    same_class("all routes", medians({k: [t for rt in routes for t in times[rt, k]] for k in kinds}))


def test_sql_metacharacters_are_data(server, api):
    alice = api("alice")
    t = alice.create_track(title=SQL, key="A'm", bucket=SQL[:100], group_id="g';--")
    assert alice.get(f"/tracks/{t['id']}").json()["title"] == SQL
    listed = alice.get("/tracks", params={"bucket": SQL[:100]}).json()["tracks"]
    assert [x["id"] for x in listed] == [t["id"]]
    c = alice.create_collaborator(t["id"], name=SQL[:100], role="r'--")
    assert c["name"] == SQL[:100]
    s = alice.create_share(track_ids=[t["id"]], title=SQL[:200])
    assert alice.get(f"/shares/{s['id']}").json()["title"] == SQL[:200]
    # Ids and tokens made of metacharacters are just unknown.
    assert alice.get("/tracks/' OR '1'='1").status_code == 404
    assert server.public("%27%20OR%201%3D1--").status_code == 404
    assert len(alice.get("/tracks").json()["tracks"]) >= 1


CROSS_ROUTES = [
    ("GET", "/tracks/{t}", None), ("PATCH", "/tracks/{t}", {"title": "x"}),
    ("DELETE", "/tracks/{t}", None), ("GET", "/tracks/{t}/files", None),
    ("POST", "/tracks/{t}/files", {"category": "stem", "name": "a.wav", "dropbox_path": "/a.wav"}),
    ("GET", "/tracks/{t}/collaborators", None),
    ("POST", "/tracks/{t}/collaborators", {"name": "x"}),
    ("PATCH", "/tracks/{t}/collaborators/{c}", {"name": "y"}),
    ("DELETE", "/tracks/{t}/collaborators/{c}", None),
    ("POST", "/tracks/{t}/share-with-collaborators", {}),
    ("GET", "/tracks/{t}/share-status", None),
    ("POST", "/tracks/{t}/share-with-collaborators/retry", {}),
    ("POST", "/tracks/{t}/share-with-collaborators/reset", {}),
    ("POST", "/share-with-collaborators", {"track_ids": ["{t}"]}),
    ("GET", "/shares/{s}", None), ("POST", "/shares/{s}/revoke", {}),
    ("POST", "/shares", {"track_ids": ["{t}"]}),
]


@pytest.mark.parametrize("method,path,body", CROSS_ROUTES, ids=[f"{m} {p}" for m, p, _ in CROSS_ROUTES])
def test_another_producers_objects_are_404(server, api, method, path, body):
    alice = api("alice")
    t = alice.create_track(title="Alice's", sharing_status="released")
    c = alice.create_collaborator(t["id"], name="Guest", email="g@example.com")
    s = alice.create_share(track_ids=[t["id"]])
    fill = lambda v: v.replace("{t}", t["id"]).replace("{c}", c["id"]).replace("{s}", s["id"])
    if isinstance(body, dict):
        body = {k: ([fill(x) for x in v] if isinstance(v, list) else v) for k, v in body.items()}
    r = api("bob").request(method, fill(path), json=body)
    assert r.status_code == 404, (method, path, r.status_code, r.text)
    # Alice's objects are untouched.
    assert alice.get(f"/tracks/{t['id']}").json()["title"] == "Alice's"
    assert alice.get(f"/shares/{s['id']}").json()["status"] == "active"
    assert [x["id"] for x in alice.get(f"/tracks/{t['id']}/collaborators").json()["collaborators"]] == [c["id"]]


def test_oauth_state_expires(dropbox_httpd, standin):
    acct = standin.account("alice@example.com", "Alice")
    h = dropbox_httpd()
    alice = h.api("alice")
    _, _, callback = start_connect(h, "alice", standin, acct["account_id"])
    with h.db() as conn:
        conn.execute("UPDATE pds_oauth_states SET created_at = created_at - 601")
        conn.commit()
    r = alice.get("/dropbox/callback?" + urlsplit(callback).query, allow_redirects=False)
    # The state was valid, so the producer is sent back, told why.
    assert r.status_code == 302
    assert r.headers["Location"].endswith("dropbox=error&reason=expired_state")
    assert alice.get("/dropbox").json()["connected"] is False


def test_oauth_without_state_or_code(dropbox_httpd, standin):
    h = dropbox_httpd()
    alice = h.api("alice")
    for q in ["", "code=abc", "state=", "state=%00", "error=access_denied"]:
        r = alice.get("/dropbox/callback?" + q, allow_redirects=False)
        assert r.status_code == 400, (q, r.status_code)
        assert r.json()["error"]["code"] == "invalid_state"
        assert "Location" not in r.headers


def s256(verifier):
    """The PKCE S256 challenge of a verifier: base64url(sha256), unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()


PKCE_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def state_hash(callback):
    """The key of the module's pds_oauth_states row: the SHA-256 hex of the state."""
    state = parse_qs(urlsplit(callback).query)["state"][0]
    return hashlib.sha256(state.encode()).hexdigest()


def test_intercepted_code_cannot_be_redeemed_without_the_verifier(dropbox_httpd, standin):
    """An authorization code taken off the redirect (a leaked Referer, a browser
    history, a log) is refused at Dropbox's token endpoint without the verifier
    that only the module holds: with the app secret, as a public client, and with
    a made-up verifier, each is 400 invalid_grant and no token is issued. The
    failed attempts do not use the code up (dropbox-api.md says codes are single
    use, and nothing about refused attempts; the stand-in keeps the code), so the
    module's own callback with that code and state then connects, with exactly one
    successful exchange carrying the verifier whose S256 is the authorize URL's
    challenge.

    Fails if the stand-in let a client secret replace the verifier (the first
    attempt would get a token, and the module's callback would then find the code
    used), if the module stopped sending the verifier (its callback would be
    refused: reason=invalid_grant), or sent one that does not match its challenge."""
    acct = standin.account("alice@example.com", "Alice")
    h = dropbox_httpd()
    alice = h.api("alice")
    _, auth, callback = start_connect(h, "alice", standin, acct["account_id"], "/pd/settings")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    stolen = {"grant_type": "authorization_code", "code": code, "client_id": APP_KEY,
              "redirect_uri": auth["redirect_uri"][0]}
    made_up = base64.urlsafe_b64encode(os.urandom(48)).rstrip(b"=").decode()
    for what, form in [("with the app secret", dict(stolen, client_secret=APP_SECRET)),
                       ("as a public client", dict(stolen)),
                       ("with a made-up verifier",
                        dict(stolen, client_secret=APP_SECRET, code_verifier=made_up))]:
        r = requests.post(standin.url + "/oauth2/token", data=form, timeout=30)
        assert r.status_code == 400, (what, r.status_code, r.text)
        assert r.json()["error"] == "invalid_grant", (what, r.text)
        assert "access_token" not in r.json(), what
    assert standin.tokens()["access_tokens"] == []

    r = alice.get("/dropbox/callback?" + urlsplit(callback).query, allow_redirects=False)
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "/pd/settings?dropbox=connected"
    assert alice.get("/dropbox").json()["connected"] is True
    calls = standin.call_log("oauth2/token")
    assert [c["status"] for c in calls] == [400, 400, 400, 200], calls
    mine = calls[-1]["arg"]
    assert mine["code"] == code
    assert s256(mine["code_verifier"]) == auth["code_challenge"][0]
    assert len(standin.tokens()["access_tokens"]) == 1


@pytest.mark.parametrize("damage", ["emptied", "garbage", "another producer's",
                                    "another state's"])
def test_callback_with_a_lost_or_damaged_verifier_fails_cleanly(dropbox_httpd, standin, damage):
    """The state row's sealed PKCE verifier is damaged in the database between the
    connect and the callback. The schema refuses NULL outright ("emptied" tries it,
    then stores ''). A verifier that does not open ('', garbage, or one sealed for
    another producer: the seal is bound to the producer) stops the callback before
    Dropbox is asked: 302 back with reason=unavailable and no token call. One that
    opens but belongs to another of the producer's authorizations is sent as it is
    and Dropbox refuses it: 302 back with reason=invalid_grant, after exactly one
    exchange whose verifier is that other authorization's. In every case the
    producer is not connected, no account row and no token exists, the state is
    used up (the same callback again is 400 invalid_state), the reason is logged at
    info only, neither the code nor the verifier is logged, nothing is logged at
    warn or worse, and connecting again afterwards works.

    Fails if the module sent a verifier other than the one it stored ("another
    state's" checks the sent verifier's S256), sent none or an empty one when the
    seal does not open (a token call would appear), accepted a verifier sealed for
    another producer, stored anything on failure, answered without a redirect, or
    logged the failure as an error."""
    acct = standin.account("alice@example.com", "Alice")
    h = dropbox_httpd()
    alice = h.api("alice")
    _, auth, callback = start_connect(h, "alice", standin, acct["account_id"], "/pd/settings")
    key = state_hash(callback)
    other_challenge = None
    if damage == "emptied":
        with h.db() as conn:
            with pytest.raises(Exception) as refused:
                conn.execute("UPDATE pds_oauth_states SET verifier_sealed = NULL "
                             "WHERE state_hash = ?", (key,))
        assert "null" in str(refused.value).lower(), refused.value
        sealed = ""
    elif damage == "garbage":
        sealed = "v1." + base64.urlsafe_b64encode(os.urandom(90)).rstrip(b"=").decode()
    else:
        who = "bob" if damage == "another producer's" else "alice"
        _, other, other_callback = start_connect(h, who, standin, acct["account_id"],
                                                 "/pd/settings")
        other_challenge = other["code_challenge"][0]
        with h.db() as conn:
            sealed = conn.execute("SELECT verifier_sealed FROM pds_oauth_states "
                                  "WHERE state_hash = ?",
                                  (state_hash(other_callback),)).fetchone()[0]
    with h.db() as conn:
        before = conn.execute("SELECT verifier_sealed FROM pds_oauth_states "
                              "WHERE state_hash = ?", (key,)).fetchone()[0]
        assert before and before != sealed
        conn.execute("UPDATE pds_oauth_states SET verifier_sealed = ? WHERE state_hash = ?",
                     (sealed, key))
    standin.ctl("POST", "calls/reset")
    h.new_log_lines()

    path = "/dropbox/callback?" + urlsplit(callback).query
    r = alice.get(path, allow_redirects=False)
    reason = "invalid_grant" if damage == "another state's" else "unavailable"
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "/pd/settings?dropbox=error&reason=" + reason
    calls = standin.call_log("oauth2/token")
    if damage == "another state's":
        assert [c["status"] for c in calls] == [400], calls
        sent = calls[0]["arg"].get("code_verifier")
        assert sent and s256(sent) == other_challenge != auth["code_challenge"][0]
        secrets = [sent]
    else:
        assert calls == [], "a verifier that does not open must not reach Dropbox"
        secrets = []
    assert alice.get("/dropbox").json()["connected"] is False
    with h.db() as conn:
        assert conn.execute("SELECT COUNT(*) FROM pds_dropbox_accounts").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM pds_oauth_states WHERE state_hash = ?",
                            (key,)).fetchone()[0] == 0
    assert standin.tokens()["access_tokens"] == []
    r = alice.get(path, allow_redirects=False)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"

    lines = h.new_log_lines()
    why = ("oauth2/token: Dropbox answered 400" if damage == "another state's"
           else "the PKCE verifier does not open")
    said = [l for l in lines if "PDS00020: GET /dropbox/callback answered 302: " + why in l]
    assert len(said) == 1 and re.match(r"\[[^\]]*\] \[[^:\]]*:info\]", said[0]), lines
    assert h.unexpected_log_lines(lines=lines) == []
    log = "\n".join(lines)
    for s in secrets + [parse_qs(urlsplit(callback).query)["code"][0]]:
        assert s not in log

    # Nothing is wedged: the producer starts again and connects.
    assert connect(h, "alice", standin, acct["account_id"]) == "/pd/api/dropbox?dropbox=connected"


def test_authorize_url_carries_an_s256_challenge_never_the_verifier(dropbox_httpd, standin):
    """Every authorize URL the module sends the browser to carries exactly one
    code_challenge_method=S256 and one code_challenge of 43 base64url characters
    (an unpadded SHA-256), a fresh one per connect, and no code_verifier. The
    verifier the module later sends to the token endpoint is 43 to 128 characters
    of the PKCE alphabet, its S256 is that connect's challenge, and it appears in
    no authorize URL nor in the callback URL, raw or percent-decoded.

    Fails if the module used the plain method or put the verifier in the URL (the
    challenge would equal the verifier), encoded the challenge otherwise (hex, or
    padded base64: not 43 characters of that alphabet), reused a verifier across
    connects (equal challenges), or sent a verifier that does not hash to the
    challenge."""
    acct = standin.account("alice@example.com", "Alice")
    h = dropbox_httpd()
    started = [start_connect(h, "alice", standin, acct["account_id"], "/pd/settings")
               for _ in range(3)]
    for authorize, q, _ in started:
        assert q["code_challenge_method"] == ["S256"], authorize
        assert len(q["code_challenge"]) == 1 and CHALLENGE_RE.fullmatch(q["code_challenge"][0]), \
            authorize
        assert "code_verifier" not in q, authorize
    assert len({q["code_challenge"][0] for _, q, _ in started}) == 3
    assert len({q["state"][0] for _, q, _ in started}) == 3

    authorize, q, callback = started[-1]
    r = h.api("alice").get("/dropbox/callback?" + urlsplit(callback).query,
                           allow_redirects=False)
    assert r.headers.get("Location") == "/pd/settings?dropbox=connected", (r.status_code, r.text)
    calls = standin.call_log("oauth2/token")
    assert len(calls) == 1 and calls[0]["status"] == 200, calls
    verifier = calls[0]["arg"]["code_verifier"]
    assert PKCE_VERIFIER_RE.fullmatch(verifier), verifier
    assert s256(verifier) == q["code_challenge"][0]
    for url in [a for a, _, _ in started] + [c for _, _, c in started]:
        assert verifier not in url and verifier not in unquote(url)


def test_file_names_cannot_inject_headers(httpd_factory):
    h = httpd_factory(start=False)
    (h.dir / "storage").mkdir()
    h.extra = [f"PDShareStorageDir {h.dir}/storage"]
    h.start()
    alice = h.api("alice")
    t = alice.create_track(title='Evil "title"; filename=x.exe', sharing_status="released")
    name = 'a"; b; filename=evil.exe.wav'
    r = alice.put(f"/tracks/{t['id']}/upload/stem/{name}", data=b"RIFF")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name
    for bad in ["a%0d%0aSet-Cookie: x=1.wav", "a%0aX-Injected: 1.wav"]:
        r = alice.put(f"/tracks/{t['id']}/upload/stem/{bad}", data=b"RIFF")
        assert r.status_code == 400
    files = alice.get(f"/tracks/{t['id']}/files").json()["files"]
    assert len(files) == 1
    s = alice.create_share(track_ids=[t["id"]])
    token = s["url"].rsplit("/", 1)[1]
    for f in files:
        r = h.public(f"{token}/files/{f['id']}")
        assert r.status_code == 200
        cd = r.headers["Content-Disposition"]
        m = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]*)', cd)
        assert m, cd
        assert m.group(1) == "a__ b_ filename=evil.exe.wav"
        assert "Set-Cookie" not in r.headers and "X-Injected" not in r.headers
