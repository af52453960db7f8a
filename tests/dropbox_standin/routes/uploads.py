"""files/upload and the upload sessions (dropbox-api.md §4.8, §4.9; §6 items 2, 7, 9,
11): upload style, content host, scope files.content.write.

ctx.body is an uploads.RequestBody (the spooled request body), never bytes in memory.
The state lock is released while bytes are hashed or copied (see uploads.py).
"""

import calendar
import contextlib
import json
import os
import posixpath
import time

from . import route
from .files import (RELOCATION_PATH, autorename, check_name, check_path_arg,
                    check_write_permission, digests, ensure_parents, file_metadata,
                    start_of, write_error)
from ..errors import Args, HttpError, route_error
from .. import uploads

R = Args.REQUIRED
SCOPE = "files.content.write"
REV = r"[0-9a-f]+"
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

COMMIT_FIELDS = {
    "path": ("str", R), "mode": ("union", None), "autorename": ("bool", False),
    "client_modified": ("str", None), "mute": ("bool", False),
    "property_groups": ("list", None), "strict_conflict": ("bool", False),
}


# ---------------------------------------------------------------- arguments

def _args(ctx):
    where = 'HTTP header "Dropbox-API-Arg"' \
        if ctx.handler.headers.get("Dropbox-API-Arg") is not None else 'URL parameter "arg"'
    return Args(ctx.route, where=where)


def _sub(a, name):
    return Args(a.route, where=f"{a.where}: {name}")


def _check_commit(a, info):
    """CommitInfo: returns it with mode in object form and client_modified as a
    timestamp (client_modified_ts)."""
    check_path_arg(None, a, "path", info["path"], RELOCATION_PATH)
    mode = info["mode"] or {".tag": "add"}
    t = mode[".tag"]
    if t not in ("add", "overwrite", "update"):
        a.fail(f"mode: unknown tag '{t}'")
    if t == "update":
        rev = mode.get("update")
        if not isinstance(rev, str):
            a.fail("mode: update: expected string, got " +
                   ("null" if rev is None else type(rev).__name__))
        if len(rev) < 9:
            a.fail(f"mode: update: '{rev}' must be at least 9 characters, got {len(rev)}")
        a.pattern("mode: update", rev, REV)
    elif set(mode) - {".tag"}:
        a.fail(f"mode: {t}: unexpected value")
    info["mode"] = mode
    info["client_modified_ts"] = None
    if info["client_modified"] is not None:
        try:
            info["client_modified_ts"] = calendar.timegm(
                time.strptime(info["client_modified"], TS_FORMAT))
        except ValueError:
            a.fail(f"client_modified: '{info['client_modified']}' did not match format "
                   f"'{TS_FORMAT}'")
    return info


def _check_hash(a, value):
    if value is None:
        return None
    if len(value) < 64:
        a.fail(f"content_hash: '{value}' must be at least 64 characters, got {len(value)}")
    if len(value) > 64:
        a.fail(f"content_hash: '{value}' must be at most 64 characters, got {len(value)}")
    return value.lower()


def _check_cursor(a, value):
    c = _sub(a, "cursor")
    cur = c.check(value, {"session_id": ("str", R), "offset": ("int", R)})
    c.int_range("offset", cur["offset"], 0, 2**64 - 1)
    return cur


# ---------------------------------------------------------------- locks

@contextlib.contextmanager
def _unlocked(st):
    """Run a block with the state lock released (the route holds it once)."""
    st.lock.release()
    try:
        yield
    finally:
        st.lock.acquire()


@contextlib.contextmanager
def _session(ctx, session_id, wrap):
    """Hold the session's lock, with the state lock released: yields the live session
    of the caller, or raises 409 wrap(not_found)."""
    st = ctx.state
    uploads.sweep(st)
    s = st.upload_sessions.get(session_id)
    if s is None or s.account_id != ctx.account.account_id or not s.live():
        raise route_error(wrap({".tag": "not_found"}))
    with _unlocked(st):
        with s.lock:
            try:
                with st.lock:
                    if s.live() and s.due(st):
                        s.expired = st.now()
                        s.delete_file()
                if not s.live():
                    raise route_error(wrap({".tag": "not_found"}))
                yield s
            finally:
                if s.discarded and s.path is not None:
                    s.delete_file()


def _top(e):
    return e


def _lookup_failed(e):
    return {".tag": "lookup_failed", "lookup_failed": e}


def _incorrect_offset(n):
    return {".tag": "incorrect_offset", "correct_offset": n}


def _too_large_request(ctx, body):
    if body.size > ctx.state.settings["upload_max_request_bytes"]:
        raise route_error({".tag": "payload_too_large"})


def _check_content_hash(body, want):
    if want is not None and body.digests().content_hash != want:
        raise route_error({".tag": "content_hash_mismatch"})


# ---------------------------------------------------------------- commit

class WriteFail(Exception):
    def __init__(self, err):
        super().__init__(err)
        self.err = err          # a WriteError value


def _write_error_of(e):
    """The WriteError inside a 409 {".tag":"path","path":W} of the shared helpers."""
    try:
        err = json.loads(e.body)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    if e.status == 409 and isinstance(err, dict) and err.get(".tag") == "path":
        return err.get("path")
    return None


def _conflicted_copy(parent_dir, name):
    base, ext = posixpath.splitext(name)
    if not base:
        base, ext = name, ""
    cand = f"{base} (conflicted copy){ext}"
    n = 2
    while cand.lower() in parent_dir.children:
        cand = f"{base} (conflicted copy {n}){ext}"
        n += 1
    return cand


def _commit(ctx, info, new_digests, size, make_content):
    """Write a file by CommitInfo (state lock held). Returns (node, written). Raises
    WriteFail(WriteError). make_content() is called only when something is written."""
    st = ctx.state
    try:
        try:
            start, comps = start_of(ctx, info["path"], err=write_error)
        except HttpError as e:
            if b'"not_found"' in e.body:        # WriteError has no not_found
                raise route_error(write_error("no_write_permission"))
            raise
        if comps:
            parent = ensure_parents(ctx, start, comps)
            name = comps[-1]
            existing = parent.children.get(name.lower())
            if existing is not None and not st.visible(existing, ctx.account):
                raise route_error(write_error("no_write_permission"))
        else:                                   # id:… or ns:<id> naming the target
            if start.parent is None:
                raise route_error(write_error("conflict", conflict={".tag": "folder"}))
            parent, name, existing = start.parent, start.name, start
        check_name(name)
        check_write_permission(ctx, parent)
        mode = info["mode"][".tag"]
        strict = info["strict_conflict"]
        cm = info["client_modified_ts"]
        conflict = None
        if existing is None:
            if mode == "update" and strict:
                conflict = "file"
        elif existing.is_dir:
            conflict = "folder"
        else:
            same = not strict and existing.size == size and \
                digests(ctx, existing.content).content_hash == new_digests.content_hash
            if same:
                return existing, False          # identical content: nothing written
            if mode == "overwrite" or (mode == "update" and
                                       existing.rev == info["mode"]["update"]):
                st.replace_content(existing, make_content(), cm)
                return existing, True
            conflict = "file"
        if conflict is not None:
            if not info["autorename"]:
                raise route_error(write_error("conflict", conflict={".tag": conflict}))
            name = _conflicted_copy(parent, name) if mode == "update" \
                else autorename(parent, name, False)
        node = st.make_child(parent, name, False, make_content(), cm)
        return node, True
    except HttpError as e:
        w = _write_error_of(e)
        if w is None:
            raise
        raise WriteFail(w)


def _record(ctx, route_name, node, written, dg, session=None):
    st = ctx.state
    st.uploaded_files.append({
        "seq": next(st.upload_seq), "time": st.now(), "route": route_name,
        "account_id": ctx.account.account_id,
        "session_id": session.id if session is not None else None,
        "path": st.path_in_view(node, ctx.view, ctx.account),
        "home_path": st.path_in_view(node, ctx.account.home_ns, ctx.account),
        "namespace_id": node.ns.id, "id": node.id, "rev": node.rev,
        "size": node.size, "sha256": dg.sha256, "content_hash": dg.content_hash,
        "written": written})


def _new_session(ctx, session_type="sequential"):
    st = ctx.state
    s = uploads.UploadSession(st, ctx.account.account_id, session_type)
    st.upload_sessions[s.id] = s
    return s


# ---------------------------------------------------------------- files/upload

@route("files/upload", style="upload", scope=SCOPE,
       route_faults=("409_write_contention",))
def upload(ctx, arg):
    a = _args(ctx)
    fields = dict(COMMIT_FIELDS, content_hash=("str", None))
    arg = _check_commit(a, a.check(arg, fields))
    want = _check_hash(a, arg["content_hash"])
    st = ctx.state
    body = ctx.body
    _too_large_request(ctx, body)
    with _unlocked(st):
        dg = body.digests()
    if want is not None and dg.content_hash != want:
        raise route_error({".tag": "content_hash_mismatch"})

    def make_content():
        path = body.take(uploads.stored_path(st.spool_dir))
        return uploads.file_content(st, path, dg, body.size)

    try:
        if ctx.fault == "409_write_contention":
            raise WriteFail({".tag": "too_many_write_operations"})
        node, written = _commit(ctx, arg, dg, body.size, make_content)
    except WriteFail as f:
        # UploadWriteFailed: the data stays in a session, for upload_session/finish
        s = _new_session(ctx)
        s.origin = "files/upload"
        with _unlocked(st), s.lock:
            s.append(body)
        raise route_error({".tag": "path", "reason": f.err, "upload_session_id": s.id})
    _record(ctx, "files/upload", node, written, dg)
    return file_metadata(ctx, node, tagged=False)


# ---------------------------------------------------------------- sessions

@route("files/upload_session/start", style="upload", scope=SCOPE)
def upload_session_start(ctx, arg):
    a = _args(ctx)
    arg = a.check(arg, {"close": ("bool", False), "session_type": ("union", None),
                        "content_hash": ("str", None)})
    want = _check_hash(a, arg["content_hash"])
    stype = (arg["session_type"] or {".tag": "sequential"})[".tag"]
    if stype not in ("sequential", "concurrent"):
        a.fail(f"session_type: unknown tag '{stype}'")
    st = ctx.state
    body = ctx.body
    if stype == "concurrent":
        if body.size:
            raise route_error({".tag": "concurrent_session_data_not_allowed"})
        if arg["close"]:
            raise route_error({".tag": "concurrent_session_close_not_allowed"})
    _too_large_request(ctx, body)
    uploads.sweep(st)
    with _unlocked(st):
        _check_content_hash(body, want)
    s = _new_session(ctx, stype)
    with _unlocked(st), s.lock:
        s.append(body)
        s.closed = arg["close"]
    return {"session_id": s.id}


def _append_checks(ctx, s, cur, body, close, wrap, finishing=False):
    """Offset, closed and size checks of append_v2 and finish (session lock held).
    A closed session takes no more appends; finish takes it with an empty body."""
    limit = ctx.state.settings["upload_max_file_bytes"]
    if s.session_type == "concurrent":
        off = cur["offset"]
        if ctx.fault == "incorrect_offset":
            raise route_error(wrap(_incorrect_offset(s.offset)))
        if off % uploads.HASH_BLOCK:
            raise route_error(wrap({".tag": "concurrent_session_invalid_offset"}))
        if body.size % uploads.HASH_BLOCK and not close:
            raise route_error(wrap({".tag": "concurrent_session_invalid_data_size"}))
        if s.closed:
            raise route_error(wrap({".tag": "closed"}))
        if off + body.size > limit:
            raise route_error(wrap({".tag": "too_large"}))
        return off
    if ctx.fault == "incorrect_offset" or cur["offset"] != s.offset:
        raise route_error(wrap(_incorrect_offset(s.offset)))
    if s.closed and (body.size or not finishing):
        raise route_error(wrap({".tag": "closed"}))
    if s.offset + body.size > limit:
        raise route_error(wrap({".tag": "too_large"}))
    return None


@route("files/upload_session/append_v2", style="upload", scope=SCOPE,
       route_faults=("incorrect_offset",))
def upload_session_append_v2(ctx, arg):
    a = _args(ctx)
    arg = a.check(arg, {"cursor": ("struct", R), "close": ("bool", False),
                        "content_hash": ("str", None)})
    cur = _check_cursor(a, arg["cursor"])
    want = _check_hash(a, arg["content_hash"])
    body = ctx.body
    _too_large_request(ctx, body)
    with _session(ctx, cur["session_id"], _top) as s:
        at = _append_checks(ctx, s, cur, body, arg["close"], _top)
        _check_content_hash(body, want)
        s.append(body, at)
        if arg["close"]:
            s.closed = True
            if at is not None:
                s.end = at + body.size
    return None


@route("files/upload_session/finish", style="upload", scope=SCOPE,
       route_faults=("incorrect_offset",),
       write_contention={".tag": "path", "path": {".tag": "too_many_write_operations"}})
def upload_session_finish(ctx, arg):
    a = _args(ctx)
    arg = a.check(arg, {"cursor": ("struct", R), "commit": ("struct", R),
                        "content_hash": ("str", None)})
    cur = _check_cursor(a, arg["cursor"])
    c = _sub(a, "commit")
    info = _check_commit(c, c.check(arg["commit"], COMMIT_FIELDS))
    want = _check_hash(a, arg["content_hash"])
    st = ctx.state
    body = ctx.body
    _too_large_request(ctx, body)
    with _session(ctx, cur["session_id"], _lookup_failed) as s:
        if s.session_type == "concurrent":
            if body.size:
                raise route_error({".tag": "concurrent_session_data_not_allowed"})
            if not s.closed:
                raise route_error({".tag": "concurrent_session_not_closed"})
            complete, end = s.concurrent_complete()
            if not complete:
                raise route_error({".tag": "concurrent_session_missing_data"})
            if ctx.fault == "incorrect_offset" or cur["offset"] != end:
                raise route_error(_lookup_failed(_incorrect_offset(end)))
            size = end
        else:
            _append_checks(ctx, s, cur, body, False, _lookup_failed, finishing=True)
            _check_content_hash(body, want)
            s.append(body)
            size = s.offset
        dg = s.digests()

        def make_content():
            path = uploads.stored_path(st.spool_dir)
            with open(s.path, "r+b") as f:
                f.truncate(size)
            os.replace(s.path, path)
            s.path = None
            return uploads.file_content(st, path, dg, size)

        with st.lock:
            if not s.live():
                raise route_error(_lookup_failed({".tag": "not_found"}))
            try:
                node, written = _commit(ctx, info, dg, size, make_content)
            except WriteFail as f:
                raise route_error({".tag": "path", "path": f.err})
            s.finished = st.now()
            s.committed = {"path": st.path_in_view(node, ctx.view, ctx.account),
                           "id": node.id, "rev": node.rev}
            if s.path is not None:      # nothing written: the bytes are not needed
                s.delete_file()
            _record(ctx, "files/upload_session/finish", node, written, dg, s)
            result = file_metadata(ctx, node, tagged=False)
    return result
