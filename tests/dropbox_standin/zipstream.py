"""A ZIP writer that streams: ZIP_STORED entries, total length known before the first
byte, constant memory whatever the folder size.

Entries whose CRC-32 is already known (real-bytes files, folders) carry it in the local
header. Entries whose CRC is not known yet (generated blobs) set general-purpose flag
bit 3: the CRC is computed while streaming and written in a data descriptor (with
signature) after the data and in the central directory; their local header still
carries the real sizes (CRC 0), so sequential readers can find the end of the data.
Zip64 records are added when offsets or the entry count need them (a single entry is
always below 4 GiB: download_zip refuses larger files).
"""

import struct
import time
import zlib

FLAG_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800
U32 = 0xFFFFFFFF


def dos_datetime(ts):
    t = time.gmtime(ts)
    year = max(1980, t.tm_year)
    d = ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    tm = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return tm, d


class Entry:
    """name: path inside the zip ('Folder/' for directories); content: a blobs.Content
    or None for a directory; mtime: POSIX seconds."""

    def __init__(self, name, content, mtime):
        self.name = name
        self.content = content
        self.mtime = mtime
        self.bname = name.encode("utf-8")
        self.is_dir = content is None
        self.size = 0 if content is None else content.size
        if self.is_dir:
            self.crc = 0
        else:
            # Deterministic layout: generated blobs always stream their CRC.
            self.crc = None if content.generated else content.digests().crc32
        self.descriptor = self.crc is None
        self.flags = (FLAG_DESCRIPTOR if self.descriptor else 0) | \
            (0 if self.name.isascii() else FLAG_UTF8)
        self.offset = 0


def _cd_extra(e):
    if e.offset >= U32:
        return struct.pack("<HHQ", 0x0001, 8, e.offset)
    return b""


class ZipStream:
    def __init__(self, entries):
        self.entries = entries
        off = 0
        for e in entries:
            e.offset = off
            off += 30 + len(e.bname) + e.size + (16 if e.descriptor else 0)
        self.cd_offset = off
        self.cd_size = sum(46 + len(e.bname) + len(_cd_extra(e)) for e in entries)
        self.zip64 = (len(entries) >= 0xFFFF or self.cd_offset >= U32 or
                      self.cd_size >= U32 or any(e.offset >= U32 for e in entries))
        self.length = self.cd_offset + self.cd_size + (56 + 20 if self.zip64 else 0) + 22

    def _version(self, e):
        return 45 if (self.zip64 and e.offset >= U32) else 20

    def __iter__(self):
        for e in self.entries:
            tm, d = dos_datetime(e.mtime)
            crc = 0 if e.descriptor else e.crc
            yield struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, e.flags, 0, tm, d,
                              crc, e.size, e.size, len(e.bname), 0) + e.bname
            if e.is_dir:
                continue
            running = 0
            sent = 0
            for chunk in e.content.iter():
                if e.descriptor:
                    running = zlib.crc32(chunk, running)
                sent += len(chunk)
                yield chunk
            if sent != e.size:
                raise RuntimeError(f"content of {e.name} changed size while streaming")
            if e.descriptor:
                e.crc = running & U32
                yield struct.pack("<IIII", 0x08074B50, e.crc, e.size, e.size)
        cd = []
        for e in self.entries:
            tm, d = dos_datetime(e.mtime)
            extra = _cd_extra(e)
            attr = ((0o40755 << 16) | 0x10) if e.is_dir else (0o100644 << 16)
            ver = self._version(e)
            cd.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | ver, ver,
                                  e.flags, 0, tm, d, e.crc, e.size, e.size, len(e.bname),
                                  len(extra), 0, 0, 0, attr, min(e.offset, U32))
                      + e.bname + extra)
        cd = b"".join(cd)
        tail = b""
        n = len(self.entries)
        if self.zip64:
            z64_off = self.cd_offset + len(cd)
            tail += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 45, 45, 0, 0,
                                n, n, len(cd), self.cd_offset)
            tail += struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1)
        tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                            min(len(cd), U32), min(self.cd_offset, U32), 0)
        yield cd + tail
