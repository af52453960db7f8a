"""Compiled shares stay within PDShareShareCache (issue 13): with more shares
than fit, each child keeps at most the bound, pushes the least recently used
out, and visitors still get every page right; and the directive refuses
values that cannot work."""

import re

import pytest

from test_dropbox_downloads import seed

STAT = re.compile(r"PDS00172: share (\S+) compiled at version (\d+): (\d+) bytes; this child's"
                  r" compiled shares: (\d+) of (\d+) bytes, (\d+) pushed out so far")


def test_more_shares_than_fit_stay_under_the_bound(dropbox_httpd, standin):
    bound = 64 * 1024
    h = dropbox_httpd(extra=["PDShareShareCache 64K", "LogLevel info pdshare:debug"])
    acct, api, t, files, share, token = seed(h, standin)
    tokens = [token]
    for n in range(24):
        s = api.create_share(track_ids=[t["id"]], title=f"Mix for label {n}")
        tokens.append(s["url"].rsplit("/", 1)[1])
    # Twice round: the second round finds most shares pushed out again.
    for _ in range(2):
        for n, tok in enumerate(tokens):
            page = h.public(tok)
            assert page.status_code == 200
            assert "Night Drive" in page.text
            if n:
                assert f"Mix for label {n - 1}" in page.text
            assert h.public(f"{tok}/files/{files['stem']['id']}").status_code == 302
    stats = [STAT.search(line) for line in h.read_error_log().splitlines()]
    stats = [m for m in stats if m]
    assert len(stats) >= len(tokens), "every share was compiled at least once"
    sizes = {int(m.group(3)) for m in stats}
    assert max(sizes) * len(tokens) > bound, "the test must hold more shares than fit"
    for m in stats:
        held, limit = int(m.group(4)), int(m.group(5))
        assert limit == bound
        assert held <= bound, m.group(0)
    assert max(int(m.group(6)) for m in stats) > 0, "shares were pushed out"


def test_a_share_compiled_once_is_served_from_memory(dropbox_httpd, standin):
    h = dropbox_httpd(extra=["LogLevel info pdshare:debug"])
    acct, api, t, files, share, token = seed(h, standin)
    for _ in range(40):
        assert h.public(token).status_code == 200
    compiled = [m for m in map(STAT.search, h.read_error_log().splitlines()) if m]
    # At most one compile per child (the harness runs a few), not one per request.
    assert 1 <= len(compiled) <= 8, len(compiled)
    api.patch(f"/tracks/{t['id']}", json={"title": "Night Drive (final)"})
    assert "Night Drive (final)" in h.public(token).text
    after = [m for m in map(STAT.search, h.read_error_log().splitlines()) if m]
    assert int(after[-1].group(2)) > int(compiled[-1].group(2)), "a new version was compiled"


def test_made_up_host_names_do_not_fill_the_cache(dropbox_httpd, standin):
    """Without PDShareBaseURL the page's URLs come from the Host header: a
    Host this server is not named for is compiled for that request only, so
    a visitor cycling through invented names cannot push real shares out."""
    h = dropbox_httpd(extra=["LogLevel info pdshare:debug"], start=False)
    h.with_base_url = False
    h.start()
    acct, api, t, files, share, token = seed(h, standin)

    def compiles():
        return [m for m in map(STAT.search, h.read_error_log().splitlines()) if m]

    for _ in range(10):
        assert h.public(token).status_code == 200
    before = compiles()
    assert before, "the share was compiled and kept"
    for n in range(30):
        host = f"made-up-{n}.example"
        r = h.public(token, headers={"Host": host})
        assert r.status_code == 200
        assert f"http://{host}/s/" in r.text, "the page links to the host it was asked for"
    assert len(compiles()) == len(before), "made-up hosts were not kept"
    assert compiles()[-1].group(4) == before[-1].group(4), "the cache did not grow"
    assert h.public(token).status_code == 200
    assert len(compiles()) == len(before), "the real share was still in memory"


@pytest.mark.parametrize("value,err", [
    ("lots", "must be a size in bytes"),
    ("10K", "is below 64K"),
    ("5G", "at most 4G"),
    ("1099511627775G", "at most 4G"),          # n * unit would overflow
    ("-1", "must be a size in bytes"),
])
def test_share_cache_directive_refuses_what_cannot_work(httpd_factory, value, err):
    h = httpd_factory(start=False)
    h.extra = [f"PDShareShareCache {value}"]
    code, out, log = h.start_expect_fail()
    assert code != 0
    assert "PDShareShareCache" in out + log and err in out + log, out + log
