"""File contents held by the stand-in: real bytes, or a deterministic generated blob.

A generated blob is defined by (size, seed) alone, so a test can "store" a 1.2 GiB
file instantly and the stand-in streams it without ever holding it in memory.

Generator (public, so tests can recompute the bytes themselves):
  pool(seed)   = SHAKE-256("dropbox-standin-blob/v1:" + str(seed)), 1 MiB long
  rotation(k)  = int.from_bytes(SHA-256(str(seed) + ":" + str(k))[:8], "big") % 1 MiB
  block k      = pool[rotation(k):] + pool[:rotation(k)]       (1 MiB each)
  content      = block 0 + block 1 + ... truncated to `size` bytes
Every 1 MiB block of a file is a different rotation of the pool, so a misplaced,
repeated or dropped chunk changes the SHA-256 of the whole.
"""

import hashlib
import os
import threading
import weakref
import zlib
from collections import OrderedDict

BLOCK = 1 << 20          # generator block (1 MiB)
HASH_BLOCK = 4 << 20     # Dropbox content_hash block (4 MiB)
CHUNK = 1 << 20          # streaming chunk

_pool_lock = threading.Lock()
_pools = OrderedDict()   # seed -> bytes (1 MiB), a few kept


def _pool(seed):
    key = str(seed)
    with _pool_lock:
        p = _pools.get(key)
        if p is not None:
            _pools.move_to_end(key)
            return p
    p = hashlib.shake_256(b"dropbox-standin-blob/v1:" + key.encode()).digest(BLOCK)
    with _pool_lock:
        _pools[key] = p
        while len(_pools) > 16:
            _pools.popitem(last=False)
    return p


def _rotation(seed, k):
    h = hashlib.sha256(f"{seed}:{k}".encode()).digest()
    return int.from_bytes(h[:8], "big") % BLOCK


def _block(seed, k):
    pool = _pool(seed)
    r = _rotation(seed, k)
    return pool[r:] + pool[:r]


def blob_iter(size, seed, start=0, end=None, chunk=CHUNK):
    """Yield the bytes [start, end) of the generated blob, in pieces of <= chunk."""
    if end is None or end > size:
        end = size
    pos = start
    while pos < end:
        k, off = divmod(pos, BLOCK)
        blk = _block(seed, k)
        n = min(BLOCK - off, end - pos, chunk)
        yield blk[off:off + n]
        pos += n


def blob_bytes(size, seed, start=0, end=None):
    return b"".join(blob_iter(size, seed, start, end))


class Digests:
    """sha256 (hex), Dropbox content_hash (hex) and CRC-32 of a content."""

    def __init__(self, sha256, content_hash, crc32):
        self.sha256 = sha256
        self.content_hash = content_hash
        self.crc32 = crc32


class DigestBuilder:
    """Incremental sha256, Dropbox content_hash (SHA-256 of the concatenated SHA-256 of
    each 4 MiB block) and CRC-32: feed bytes in any pieces with update()."""

    def __init__(self):
        self.sha = hashlib.sha256()
        self.blocks = hashlib.sha256()
        self.cur = hashlib.sha256()
        self.cur_len = 0
        self.crc = 0
        self.size = 0

    def update(self, c):
        self.sha.update(c)
        self.crc = zlib.crc32(c, self.crc)
        self.size += len(c)
        mv = memoryview(c)
        while len(mv):
            take = min(len(mv), HASH_BLOCK - self.cur_len)
            self.cur.update(mv[:take])
            self.cur_len += take
            mv = mv[take:]
            if self.cur_len == HASH_BLOCK:
                self.blocks.update(self.cur.digest())
                self.cur = hashlib.sha256()
                self.cur_len = 0

    def result(self):
        """The Digests of everything fed so far (the builder can go on afterwards)."""
        blocks = self.blocks.copy()
        if self.cur_len:
            blocks.update(self.cur.digest())
        return Digests(self.sha.hexdigest(), blocks.hexdigest(), self.crc & 0xFFFFFFFF)


def digest_iter(chunks):
    b = DigestBuilder()
    for c in chunks:
        b.update(c)
    return b.result()


def content_hash_of(data):
    """Dropbox content_hash of bytes: SHA-256 of the SHA-256s of each 4 MiB block."""
    return digest_iter([data]).content_hash


class Content:
    """Immutable file content."""

    generated = False

    def __init__(self, data):
        self.data = bytes(data)
        self.size = len(self.data)
        self._d = digest_iter([self.data])

    def digests(self):
        return self._d

    def iter(self, start=0, end=None, chunk=CHUNK):
        if end is None or end > self.size:
            end = self.size
        pos = start
        while pos < end:
            n = min(chunk, end - pos)
            yield self.data[pos:pos + n]
            pos += n

    def describe(self):
        return {"generated": False}


_digest_cache = {}
_digest_locks = {}
_digest_guard = threading.Lock()


class GeneratedContent(Content):
    """size + seed -> bytes; digests computed on first use (one pass) and cached."""

    generated = True

    def __init__(self, size, seed):
        self.size = int(size)
        self.seed = seed
        self.key = (self.size, str(seed))

    def digests(self):
        d = _digest_cache.get(self.key)
        if d is not None:
            return d
        with _digest_guard:
            lock = _digest_locks.setdefault(self.key, threading.Lock())
        with lock:
            d = _digest_cache.get(self.key)
            if d is None:
                d = digest_iter(blob_iter(self.size, self.seed))
                _digest_cache[self.key] = d
        return d

    def digests_if_known(self):
        return _digest_cache.get(self.key)

    def iter(self, start=0, end=None, chunk=CHUNK):
        return blob_iter(self.size, self.seed, start, end, chunk)

    def describe(self):
        return {"generated": True, "seed": self.seed}


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class FileContent(Content):
    """Real bytes kept in a file on disk (what uploads store), so a file of hundreds of
    MiB costs no memory. The file is never changed; it is deleted when the content is
    garbage (no node, link or copy holds it any more) or discard() is called (reset)."""

    generated = False

    def __init__(self, path, size, digests):
        self.path = path
        self.size = int(size)
        self._d = digests
        self._finalizer = weakref.finalize(self, _unlink, path)

    def discard(self):
        self._finalizer()

    def iter(self, start=0, end=None, chunk=CHUNK):
        if end is None or end > self.size:
            end = self.size
        if start >= end:
            return
        with open(self.path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                b = f.read(min(chunk, end - pos))
                if not b:
                    raise IOError(f"{self.path}: short file")
                yield b
                pos += len(b)

    def describe(self):
        return {"generated": False}
