"""GET/HEAD /tl/<id>[/<name>]: the bytes behind a temporary link (dropbox-api.md §4.6).

410 Gone once the link's TTL has passed (stand-in clock); single byte ranges answer
206; Content-Type follows the file's extension."""

from urllib.parse import quote
import posixpath
import re

from .errors import HttpError

MIME = {
    ".wav": "audio/wav", ".wave": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac",
    ".aif": "audio/aiff", ".aiff": "audio/aiff", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".mid": "audio/midi",
    ".midi": "audio/midi", ".zip": "application/zip", ".pdf": "application/pdf",
    ".txt": "text/plain", ".json": "application/json", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
    ".mp4": "video/mp4", ".mov": "video/quicktime",
}
RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


def mime_type(name):
    return MIME.get(posixpath.splitext(name)[1].lower(), "application/octet-stream")


def serve(st, handler, method, rest):
    from .server import Response
    if method not in ("GET", "HEAD"):
        raise HttpError(405, "Method Not Allowed", headers={"Allow": "GET, HEAD"})
    link_id = rest.split("/", 1)[0]
    with st.lock:
        link = st.links.get(link_id)
        now = st.now()
    if link is None:
        raise HttpError(404, "Not Found")
    if now >= link.expires_at:
        raise HttpError(410, "Gone: this temporary link has expired.")
    content = link.content
    size = content.size
    headers = {"Accept-Ranges": "bytes", "ETag": '"%s"' % link.rev}
    disposition = st.settings.get("templink_disposition", 0)
    if disposition == 0:
        headers["Content-Disposition"] = "inline"
    elif disposition == 1:
        headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(link.name)
    ctype = mime_type(link.name)
    rng = handler.headers.get("Range")
    if rng:
        m = RANGE_RE.fullmatch(rng.strip())
        if m and (m.group(1) or m.group(2)):
            a, b = m.group(1), m.group(2)
            if a == "":
                n = int(b)
                start, end = max(0, size - n), size - 1
                ok = n > 0 and size > 0
            else:
                start = int(a)
                end = min(int(b), size - 1) if b else size - 1
                ok = start < size and start <= end
            if not ok:
                headers["Content-Range"] = f"bytes */{size}"
                raise HttpError(416, "Requested Range Not Satisfiable", headers=headers)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(206, content.iter(start, end + 1), ctype, headers,
                            end + 1 - start)
        # unparsable or multiple ranges: the whole file
    return Response(200, content.iter(), ctype, headers, size)
