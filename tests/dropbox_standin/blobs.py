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
import threading
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


def digest_iter(chunks):
    sha = hashlib.sha256()
    blocks = hashlib.sha256()
    cur = hashlib.sha256()
    cur_len = 0
    crc = 0
    for c in chunks:
        sha.update(c)
        crc = zlib.crc32(c, crc)
        mv = memoryview(c)
        while len(mv):
            take = min(len(mv), HASH_BLOCK - cur_len)
            cur.update(mv[:take])
            cur_len += take
            mv = mv[take:]
            if cur_len == HASH_BLOCK:
                blocks.update(cur.digest())
                cur = hashlib.sha256()
                cur_len = 0
    if cur_len:
        blocks.update(cur.digest())
    return Digests(sha.hexdigest(), blocks.hexdigest(), crc & 0xFFFFFFFF)


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
