"""Fixtures: one httpd per test module (`server`), fresh ones on demand
(`httpd_factory`), and start-up failures (`start_fail`). After every test the new
lines of the error log are checked for warnings and errors nobody expected."""

import re

import pytest

from pdshare_harness import BuildMissing, Httpd, module_path


@pytest.fixture(scope="session")
def module_so():
    try:
        return module_path()
    except BuildMissing as e:
        pytest.fail(str(e), pytrace=False)


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:40]


def _allowed(request):
    return [p for m in request.node.iter_markers("log_allow") for p in m.args]


@pytest.fixture(scope="module")
def server(module_so, request):
    """One httpd for the whole test module; a module may set HTTPD_EXTRA = [lines].

    Its error log is checked after every test (see _error_log_check) and once more
    after it stopped."""
    extra = getattr(request.module, "HTTPD_EXTRA", [])
    h = Httpd(extra=extra, name=_safe(request.module.__name__))
    try:
        h.start()
        yield h
        h.stop()
        bad = h.unexpected_log_lines()
        if bad:
            pytest.fail("unexpected error log lines at shutdown:\n" + "\n".join(bad), pytrace=False)
    finally:
        h.cleanup()


@pytest.fixture(autouse=True)
def _error_log_check(request):
    """Fail a test after which the shared server logged warn/error/crit/alert/emerg
    lines that no @pytest.mark.log_allow(pattern) of the test expects."""
    srv = request.getfixturevalue("server") if "server" in request.fixturenames else None
    yield
    if srv is not None:
        bad = srv.unexpected_log_lines(_allowed(request))
        if bad:
            pytest.fail("unexpected error log lines:\n" + "\n".join(bad), pytrace=False)


@pytest.fixture
def api(server):
    """api(user) -> client of /pd/api authenticated as that user."""
    return server.api


@pytest.fixture
def noauth(server):
    """Client of /pd/noauth, a pdshare-api location without authentication."""
    return server.noauth()


@pytest.fixture
def public(server):
    """public(path, method='GET') -> response of /s/<path>."""
    return server.public


@pytest.fixture
def db(server):
    """db() -> context manager giving a sqlite3 connection to the module's database."""
    return server.db


@pytest.fixture
def httpd_factory(module_so, request):
    """make(extra=[lines], start=True, base_url=True) -> an Httpd of its own (started
    unless start=False; without PDShareBaseURL if base_url=False); its whole error
    log is checked at the end."""
    made = []

    def make(extra=(), start=True, base_url=True):
        h = Httpd(extra=extra, name=_safe(request.node.name), base_url=base_url)
        made.append(h)
        if start:
            h.start()
        return h

    yield make
    problems = []
    for h in made:
        was_started = h.started
        h.stop()
        if was_started:
            bad = h.all_unexpected_log_lines(_allowed(request))
            if bad:
                problems.append(f"{h.dir}:\n" + "\n".join(bad))
        h.cleanup()
    if problems:
        pytest.fail("unexpected error log lines:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def start_fail(module_so, request):
    """start_fail(extra=[lines], prepare=fn(httpd)) -> (exit code, stdout+stderr, error.log).

    httpd must refuse to start with that configuration."""
    made = []

    def run(extra=(), prepare=None):
        h = Httpd(name=_safe(request.node.name))
        made.append(h)
        if prepare is not None:
            extra = prepare(h, list(extra)) or extra
        h.extra = list(extra)
        return h.start_expect_fail()

    yield run
    for h in made:
        h.cleanup()


@pytest.fixture(scope="session")
def standin_proc():
    """The Dropbox stand-in, one process for the session (reset per test)."""
    from pdshare_dropbox import StandIn
    s = StandIn()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def standin(standin_proc):
    standin_proc.reset()
    return standin_proc


@pytest.fixture
def memcached():
    """A memcached of the test's own on loopback."""
    from pdshare_dropbox import Memcached
    m = Memcached()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def dropbox_httpd(httpd_factory, standin):
    """make(extra=[...], timeout="2 6") -> a started httpd wired to the stand-in."""
    from pdshare_dropbox import dropbox_lines

    def make(extra=(), timeout="2 6", start=True):
        h = httpd_factory(start=False)
        h.extra = dropbox_lines(h.dir, standin, timeout=timeout, extra=extra)
        if start:
            h.start()
        return h
    return make


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: about the SQLite file itself; not run on pgsql")
    config.addinivalue_line("markers", "pgsql_only: about the PostgreSQL server itself (the test "
                            "starts its own); run in the pgsql pass only")


def pytest_collection_modifyitems(config, items):
    from pdshare_harness import DB_KIND
    other = "sqlite_only" if DB_KIND == "pgsql" else "pgsql_only"
    keep = [i for i in items if not i.get_closest_marker(other)]
    gone = [i for i in items if i.get_closest_marker(other)]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = keep
