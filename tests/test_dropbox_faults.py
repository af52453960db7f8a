"""Stand-in faults get the contracted answer within the configured timeout:
never a 500, the share page still renders, and every log line about them
carries a PDS tag."""

import re
import time

import pytest
import requests

from test_dropbox_downloads import seed

TIMEOUT = 6          # PDShareHTTPTimeout 2 6
LINK = "files/get_temporary_link"


def fetch(h, path):
    t0 = time.monotonic()
    r = requests.get(h.base_url + path, allow_redirects=False, timeout=60)
    return r, time.monotonic() - t0


def assert_tagged_log(h):
    for line in h.read_error_log().splitlines():
        if re.search(r"\[[a-z_]*:(warn|error|crit|alert|emerg)\]", line):
            assert "PDS" in line, f"an untagged log line about a fault: {line}"


@pytest.fixture
def setup(dropbox_httpd, standin):
    h = dropbox_httpd(timeout=f"2 {TIMEOUT}")
    acct, api, t, files, share, token = seed(h, standin)
    return h, standin, files, token


def test_429_with_short_retry_after_is_retried(setup):
    h, standin, files, token = setup
    standin.fault(LINK, "429", count=1, retry_after=1)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 302
    assert 1 <= took < TIMEOUT
    assert standin.calls()[LINK] == 2
    assert_tagged_log(h)


@pytest.mark.log_allow(r"PDS00040")
def test_429_with_retry_after_past_the_timeout_is_503(setup):
    h, standin, files, token = setup
    standin.fault(LINK, "429", count=-1, retry_after=300)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) == 300
    assert took < TIMEOUT
    assert h.public(token).status_code == 200
    assert_tagged_log(h)


@pytest.mark.log_allow(r"PDS00040")
@pytest.mark.parametrize("kind", ["503", "500", "429_text"])
def test_server_errors_retried_then_503(setup, kind):
    h, standin, files, token = setup
    standin.fault(LINK, kind, count=-1, retry_after=1)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
    assert took < TIMEOUT + 1
    assert standin.calls()[LINK] >= 2, "a server error is retried"
    assert "unavailable" in r.text.lower()
    assert_tagged_log(h)


def test_one_503_then_success(setup):
    h, standin, files, token = setup
    standin.fault(LINK, "503", count=1)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 302
    assert_tagged_log(h)


@pytest.mark.log_allow(r"PDS00040")
def test_hang_longer_than_the_timeout(setup):
    h, standin, files, token = setup
    standin.fault(LINK, "hang", count=1, hang_seconds=TIMEOUT + 10)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert took < TIMEOUT + 1.5, f"the visitor waited {took:.1f} s"
    assert h.public(token).status_code == 200
    assert_tagged_log(h)


@pytest.mark.log_allow(r"PDS00040")
def test_malformed_json(setup):
    h, standin, files, token = setup
    standin.fault(LINK, "malformed_json", count=-1)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert took < TIMEOUT
    assert_tagged_log(h)


@pytest.mark.log_allow(r"PDS00040")
def test_dropped_connection(setup):
    h, standin, files, token = setup
    standin.fault(LINK, "drop", count=-1)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert took < TIMEOUT + 1
    assert_tagged_log(h)


@pytest.mark.log_allow(r"PDS00040")
def test_faults_on_the_token_endpoint_during_refresh(setup):
    h, standin, files, token = setup
    accounts = standin.ctl("GET", "accounts")["accounts"]
    standin.ctl("POST", "expire_access", {"account_id": accounts[0]["account_id"]})
    standin.fault("oauth2/token", "503", count=-1, retry_after=1)
    r, took = fetch(h, f"/s/{token}/files/{files['stem']['id']}")
    assert r.status_code == 503
    assert took < TIMEOUT + 1
    assert h.api("alice").get("/dropbox").json()["token_status"] != "revoked"
    assert_tagged_log(h)
