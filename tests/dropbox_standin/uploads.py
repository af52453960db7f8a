"""Upload bodies and upload sessions (dropbox-api.md §4.8, §4.9), kept on disk.

Nothing uploaded is held in memory:

- the body of an upload-style call is spooled to a file in the stand-in's spool
  directory as it arrives (RequestBody), and deleted when the call is answered unless
  the route took the file;
- an upload session appends its chunks to its own file there (UploadSession), hashing
  them on the way (sha256, Dropbox content_hash, CRC-32);
- a committed upload becomes a blobs.FileContent: the file stays on disk and is
  deleted when nothing refers to it any more, or on reset.

Locking: a session has its own lock, taken with the state lock *released* (a 150 MiB
chunk is copied and hashed meanwhile, and other calls go on). The order is always
session lock, then state lock; code holding the state lock only ever tries a session
lock without blocking.
"""

import atexit
import os
import secrets
import shutil
import string
import tempfile
import threading

from .blobs import CHUNK, DigestBuilder, FileContent, digest_iter

HASH_BLOCK = 1 << 22        # concurrent sessions: offsets and chunk sizes are multiples
_ALNUM = string.ascii_letters + string.digits + "-_"


def make_spool_dir(base=None):
    """A fresh directory owned by this stand-in (under `base` or the temp directory),
    removed at exit."""
    if base:
        os.makedirs(base, exist_ok=True)
    d = tempfile.mkdtemp(prefix="dropbox-standin-spool-", dir=base or None)
    atexit.register(shutil.rmtree, d, True)
    return d


def remove_spool_dir(d):
    shutil.rmtree(d, ignore_errors=True)


def spool_counts(d):
    """What the spool directory holds now: {dir, request_bodies, sessions, files,
    bytes}."""
    out = {"dir": d, "request_bodies": 0, "sessions": 0, "files": 0, "bytes": 0}
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        kind = {"req-": "request_bodies", "session-": "sessions", "file-": "files"}.get(
            n[:n.index("-") + 1] if "-" in n else "")
        if kind is None:
            continue
        try:
            out["bytes"] += os.stat(os.path.join(d, n)).st_size
        except OSError:
            continue
        out[kind] += 1
    return out


def _unlink(path):
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


class RequestBody:
    """The body of one upload-style call, spooled to a file. At most `keep` bytes are
    stored; the rest is only counted (such a call is answered payload_too_large)."""

    def __init__(self, spool_dir, keep):
        fd, self.path = tempfile.mkstemp(prefix="req-", dir=spool_dir)
        self.f = os.fdopen(fd, "w+b")
        self.keep = keep
        self.size = 0           # bytes received
        self.stored = 0         # bytes kept in the file
        self.taken = False
        self._digests = None

    def write(self, data):
        n = len(data)
        room = self.keep - self.stored
        if room > 0:
            part = data[:room] if n > room else data
            self.f.write(part)
            self.stored += len(part)
        self.size += n

    def __len__(self):
        return self.size

    def chunks(self, chunk=CHUNK):
        """The stored bytes, from the start."""
        self.f.flush()
        self.f.seek(0)
        while True:
            b = self.f.read(chunk)
            if not b:
                return
            yield b

    def digests(self):
        """Digests of the body (one pass over the spool file, the first time)."""
        if self._digests is None:
            self._digests = digest_iter(self.chunks())
        return self._digests

    def take(self, new_path):
        """The file becomes the caller's, renamed to new_path."""
        self.f.flush()
        self.f.close()
        os.replace(self.path, new_path)
        self.taken = True
        self.path = new_path
        return new_path

    def close(self):
        if not self.taken:
            try:
                self.f.close()
            finally:
                _unlink(self.path)


def stored_path(spool_dir):
    """A new name for an uploaded file's bytes."""
    return os.path.join(spool_dir, "file-" + secrets.token_hex(12))


def file_content(st, path, digests, size):
    """A FileContent for bytes at path, which it owns from now on."""
    c = FileContent(path, size, digests)
    st.stored_contents.add(c)
    return c


class UploadSession:
    def __init__(self, st, account_id, session_type="sequential"):
        self.id = "pid_upload_session:" + "".join(secrets.choice(_ALNUM)
                                                  for _ in range(50))
        self.account_id = account_id
        self.session_type = session_type
        self.created = st.now()
        self.offset = 0             # bytes received (the next offset of a sequential one)
        self.closed = False
        self.finished = None        # time of the finish that committed it
        self.expired = None         # time it was found older than upload_session_ttl
        self.discarded = False      # reset happened
        self.committed = None       # {"path", "id", "rev"} after finish
        self.origin = "upload_session/start"
        self.pieces = {}            # concurrent: offset -> length
        self.end = None             # concurrent: end of the closing piece
        self.lock = threading.Lock()
        fd, self.path = tempfile.mkstemp(prefix="session-", dir=st.spool_dir)
        os.close(fd)
        self.builder = DigestBuilder()      # sequential: over bytes [0, offset)

    def live(self):
        return self.finished is None and self.expired is None and not self.discarded

    def due(self, st):
        return st.now() - self.created > st.settings["upload_session_ttl"]

    def delete_file(self):
        _unlink(self.path)
        self.path = None

    # ---- data (the caller holds self.lock)
    def append(self, body, at=None):
        """Append a request body at the end (sequential) or write it at `at`
        (concurrent)."""
        if body.size == 0:
            if at is not None:
                self.pieces.setdefault(at, 0)
            return
        with open(self.path, "r+b") as f:
            f.seek(self.offset if at is None else at)
            for chunk in body.chunks():
                if at is None:
                    self.builder.update(chunk)
                f.write(chunk)
        if at is None:
            self.offset += body.size
        else:
            self.pieces[at] = body.size
            self.offset = sum(self.pieces.values())

    def concurrent_complete(self):
        """(contiguous from 0, end) of a concurrent session's pieces."""
        pos = 0
        for off in sorted(self.pieces):
            if off > pos:
                return False, pos
            pos = max(pos, off + self.pieces[off])
        end = self.end if self.end is not None else pos
        return pos >= end, end

    def digests(self):
        if self.session_type == "sequential":
            return self.builder.result()
        _, end = self.concurrent_complete()

        def chunks():
            with open(self.path, "rb") as f:
                left = end
                while left:
                    b = f.read(min(CHUNK, left))
                    if not b:
                        return
                    left -= len(b)
                    yield b
        return digest_iter(chunks())

    def to_json(self, st):
        return {"session_id": self.id, "account_id": self.account_id,
                "session_type": self.session_type, "offset": self.offset,
                "closed": self.closed, "created": self.created,
                "expires_at": self.created + st.settings["upload_session_ttl"],
                "finished": self.finished is not None, "finished_at": self.finished,
                "expired": self.expired is not None or
                (self.live() and self.due(st)),
                "origin": self.origin, "committed": self.committed,
                "spooled": self.path is not None}


def sweep(st):
    """Expire sessions older than upload_session_ttl (state lock held): their files
    go. A session busy in another call is left to that call."""
    for s in st.upload_sessions.values():
        if s.live() and s.due(st) and s.lock.acquire(blocking=False):
            try:
                s.expired = st.now()
                s.delete_file()
            finally:
                s.lock.release()


def discard_all(st):
    """Reset: every session's file goes (a busy one's when its call ends) and every
    uploaded file's bytes are deleted."""
    for s in list(getattr(st, "upload_sessions", {}).values()):
        s.discarded = True
        if s.lock.acquire(blocking=False):
            try:
                s.delete_file()
            finally:
                s.lock.release()
    for c in list(getattr(st, "stored_contents", ())):
        c.discard()
