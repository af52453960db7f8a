"""Issue 13 item 2: counting off the request path, without loss.

A request appends its event to its child's spool file and answers; a writer
thread per child commits the spool every 50 ms and replays the files of
children that died. N answered requests are N counted: under 500 concurrent
requests, across a graceful restart, and with a child killed by SIGKILL in the
middle of a load. Counts show in the owner API soon after the answer.

The counts here are read with a deadline and asserted "eventually": never a
timed assertion (the machine is shared)."""

import os
import signal
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from pdshare_harness import spool_pending

N = 500
WORKERS = 64


def seed(h):
    api = h.api("alice")
    t = api.create_track(title="Counted")
    s = api.create_share(track_ids=[t["id"]])
    return api, s


def raw_views(api, share_id):
    """The views as the owner API says now (no wait for the spools)."""
    r = api.session.get(api.url(f"/shares/{share_id}"), auth=api.auth, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["views"]


def eventually_views(api, share_id, want, timeout=15):
    """Poll until the count reaches `want` (or the deadline); the last value."""
    deadline = time.time() + timeout
    while True:
        v = raw_views(api, share_id)
        if v >= want or time.time() > deadline:
            return v
        time.sleep(0.05)


def load(h, token, action=None, at=N // 3, n=N, workers=WORKERS):
    """n page views from `workers` threads, bounded; `action` runs once, in
    its own thread, after `at` answers. Returns the status (or exception
    name) of each request."""
    url = f"{h.base_url}/s/{token}"
    done = {"n": 0}
    lock = threading.Lock()
    actor = threading.Thread(target=action) if action else None

    def visit(_):
        try:
            code = requests.get(url, timeout=60).status_code
        except requests.RequestException as e:
            code = type(e).__name__
        with lock:
            done["n"] += 1
            if actor and done["n"] == at:
                actor.start()
        return code

    with ThreadPoolExecutor(max_workers=workers) as ex:
        codes = list(ex.map(visit, range(n)))
    if actor:
        actor.join(timeout=60)
        assert not actor.is_alive(), "the action did not end"
    return codes


def children(parent):
    """Pids of the processes whose parent is `parent` (httpd's children)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            kids.append(int(d))
    return kids


def test_500_concurrent_views_are_500_counted(httpd_factory):
    h = httpd_factory()
    api, s = seed(h)
    codes = load(h, s["token"])
    answered = sum(1 for c in codes if c == 200)
    assert answered == N, [c for c in codes if c != 200][:10]
    assert eventually_views(api, s["id"], N) == N
    time.sleep(0.3)                     # nothing counted twice either
    assert raw_views(api, s["id"]) == N


def test_counts_show_in_the_owner_api_soon_after_the_answer(httpd_factory):
    """SPEC: within 1 s. Asserted eventually (10 s deadline): a timed
    assertion would fail on a busy machine, not on a slow module."""
    h = httpd_factory()
    api, s = seed(h)
    for i in range(1, 4):
        assert h.public(s["token"]).status_code == 200
        assert eventually_views(api, s["id"], i, timeout=10) == i


# While the old generation finishes its requests, the new one starts: with
# 64 connections in flight on the harness's 100 workers, httpd may say it is
# near MaxRequestWorkers. That is the load, not a fault.
@pytest.mark.log_allow(r"AH10159")
def test_graceful_restart_in_the_middle_of_a_load_loses_no_count(httpd_factory):
    h = httpd_factory()
    api, s = seed(h)

    def graceful():
        before = h.read_error_log().count("resuming normal operations")
        os.kill(h.pid, signal.SIGUSR1)
        deadline = time.time() + 30
        while h.read_error_log().count("resuming normal operations") == before:
            assert time.time() < deadline, "httpd did not come back from the graceful restart"
            time.sleep(0.05)

    codes = load(h, s["token"], graceful)
    answered = sum(1 for c in codes if c == 200)
    assert answered == N, [c for c in codes if c != 200][:10]
    assert eventually_views(api, s["id"], answered) == answered
    time.sleep(0.3)
    assert raw_views(api, s["id"]) == answered


def test_a_child_killed_in_the_middle_of_a_load_loses_no_answered_count(httpd_factory):
    h = httpd_factory()
    api, s = seed(h)
    killed = []

    def kill_one():
        kids = children(h.pid)
        assert kids, "no child of httpd found"
        os.kill(kids[0], signal.SIGKILL)
        killed.append(kids[0])

    codes = load(h, s["token"], kill_one)
    assert killed
    answered = sum(1 for c in codes if c == 200)
    # The requests on the killed child get no answer; the rest are answered.
    assert set(codes) <= {200, "ConnectionError", "ChunkedEncodingError"}, set(codes)
    assert answered > N // 2
    # Every answered view is counted (the killed child's spool is replayed
    # by another child); a request killed after its event was spooled but
    # before its answer may count too: never more than were sent.
    v = eventually_views(api, s["id"], answered)
    assert answered <= v <= N, (answered, v)
    deadline = time.time() + 10
    while spool_pending([h]) and time.time() < deadline:
        time.sleep(0.05)
    assert not spool_pending([h]), "the killed child's spool was not replayed"


def _record(events):
    """A spool record as pds_spool.c writes it (see its header comment)."""
    def s16(v):
        if v is None:
            return struct.pack("<H", 0xFFFF)
        b = v.encode()
        return struct.pack("<H", len(b)) + b
    payload = struct.pack("<BH", 1, len(events))
    for e in events:
        payload += struct.pack("<q", e["created_at"])
        for k in ("id", "share_id", "track_id", "file_id", "kind", "category"):
            payload += s16(e.get(k))
    return b"PDSq" + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_a_replayed_spool_counts_each_event_once(httpd_factory):
    """A dead child's file holding events that were committed already, one
    new event and a torn tail: only the new event is counted."""
    h = httpd_factory()
    api, s = seed(h)
    ev = {"share_id": s["id"], "kind": "view", "created_at": int(time.time())}
    first = _record([dict(ev, id="test-replay.1")])
    path = h.spool_dir / "1-deadchild-1.spool"
    path.write_bytes(first)
    os.chmod(path, 0o666)
    assert eventually_views(api, s["id"], 1) == 1
    again = first + _record([dict(ev, id="test-replay.1"), dict(ev, id="test-replay.2")])[:-3]
    again += _record([dict(ev, id="test-replay.3")]) + b"PDSq\x40\x00"
    path.write_bytes(again)
    os.chmod(path, 0o666)
    # .2 is in a torn record (the child died writing it): the record counts
    # none of its events; .1 was counted before; .3 is new.
    assert eventually_views(api, s["id"], 2) == 2
    deadline = time.time() + 10
    while path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not path.exists(), "the dead child's spool file was not claimed"
    time.sleep(0.3)
    assert raw_views(api, s["id"]) == 2
