"""The HTTP side: one ThreadingHTTPServer serving RPC, content, OAuth, temporary-link
and control routes, routed by path (dropbox-api.md §1, §3, §6)."""

import json
import secrets
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import answers, control, links, oauth
from .blobs import CHUNK
from .uploads import RequestBody
from .errors import HttpError, api_error, auth_error, bad_request, error_summary
from .routes import ROUTES, Ctx, Download
from .state import State

MAX_BODY = 200 * 1024 * 1024
RPC_TYPES = ("application/json", "text/plain; charset=dropbox-cors-hack")
RPC_EXPECT = ('"application/json", "application/json; charset=utf-8", '
              '"text/plain; charset=dropbox-cors-hack"')
DOWNLOAD_TYPES = ("", "text/plain", "application/octet-stream")
DOWNLOAD_EXPECT = ('"text/plain", "text/plain; charset=utf-8", "application/octet-stream", '
                   '"application/octet-stream; charset=utf-8"')
UPLOAD_TYPES = ("application/octet-stream", "text/plain; charset=dropbox-cors-hack")
UPLOAD_EXPECT = '"application/octet-stream", "text/plain; charset=dropbox-cors-hack"'
LOGGED_HEADERS = ("Authorization", "Dropbox-API-Path-Root", "Dropbox-API-Arg",
                  "Dropbox-API-Select-User", "Content-Type", "Range", "User-Agent")


class Response:
    def __init__(self, status, body=b"", content_type=None, headers=None, length=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        if isinstance(body, (bytes, bytearray)):
            length = len(body)
        self.length = length
        self.drop = False

    @classmethod
    def from_error(cls, e):
        return cls(e.status, e.body, e.content_type, e.headers)


def json_response(obj, status=200, headers=None):
    return Response(status, json.dumps(obj).encode(), "application/json", headers)


def header_safe_json(obj):
    return json.dumps(obj, ensure_ascii=True).replace("\x7f", "\\u007f")


def media_type(ct):
    """'application/json; charset=UTF-8' -> 'application/json; charset=utf-8'-ish key:
    the bare type, plus the charset parameter when it is the cors hack."""
    if ct is None:
        return None
    parts = [p.strip() for p in ct.split(";")]
    base = parts[0].lower()
    for p in parts[1:]:
        if p.lower().replace(" ", "") == "charset=dropbox-cors-hack":
            return base + "; charset=dropbox-cors-hack"
    return base


def redact_auth(value):
    if not value:
        return value
    scheme, _, tok = value.partition(" ")
    if not tok:
        return value[:6] + "…"
    return f"{scheme} {tok[:9]}…"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dropbox-standin/1"
    sys_version = ""
    timeout = 600       # idle keep-alive connections and stalled readers

    def version_string(self):
        return self.server_version

    # ---------------------------------------------------------------- plumbing
    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("standin: %s - %s\n" % (self.address_string(), fmt % args))

    def base_url(self):
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = f"{h}:{p}"
        return "http://" + host

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:     # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > MAX_BODY:
                    raise OverflowError
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise OverflowError
        return self.rfile.read(n) if n > 0 else b""

    def read_upload_body(self, st):
        """An upload-style body, spooled to a file as it arrives (any size: past
        upload_max_request_bytes it is only counted, for payload_too_large)."""
        with st.lock:
            keep = int(st.settings["upload_max_request_bytes"])
            spool = st.spool_dir
        body = RequestBody(spool, keep)
        buf = memoryview(bytearray(CHUNK))

        def copy(n):
            while n > 0:
                k = self.rfile.readinto(buf[:min(n, CHUNK)])
                if not k:
                    raise ConnectionError("eof in body")
                body.write(buf[:k])
                n -= k
        try:
            te = (self.headers.get("Transfer-Encoding") or "").lower()
            if "chunked" in te:
                while True:
                    line = self.rfile.readline(65537)
                    if not line:
                        raise ConnectionError("eof in chunked body")
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while True:     # trailers
                            t = self.rfile.readline(65537)
                            if t in (b"\r\n", b"\n", b""):
                                break
                        break
                    copy(size)
                    self.rfile.readline(3)
            else:
                copy(int(self.headers.get("Content-Length") or 0))
        except BaseException:
            body.close()
            raise
        return body

    def send(self, resp, method):
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            self.send_response(resp.status)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            chunked = resp.length is None
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(resp.length))
            self.send_header("X-Dropbox-Request-Id", secrets.token_hex(16))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if method == "HEAD":
                return
            body = resp.body
            if isinstance(body, (bytes, bytearray)):
                if body:
                    self.wfile.write(body)
                return
            for chunk in body:
                if not chunk:
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:       # a body iterator failed mid-stream: cut the connection
            import traceback
            traceback.print_exc()
            self.close_connection = True

    # ---------------------------------------------------------------- dispatch
    def dispatch(self, method):
        st = self.server.state
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query, keep_blank_values=True)
        rd = ROUTES.get(path[3:]) if path.startswith("/2/") else None
        try:
            if rd is not None and rd.style == "upload":
                body = self.read_upload_body(st)
            else:
                body = self.read_body()
        except OverflowError:
            self.close_connection = True
            self.send(Response(413, b"Request body too large", "text/plain"), method)
            return
        except (ConnectionError, ValueError, OSError):
            self.close_connection = True
            return
        try:
            self.answer(st, method, path, query, body)
        finally:
            if isinstance(body, RequestBody):
                body.close()

    def answer(self, st, method, path, query, body):
        try:
            if path.startswith("/__control/") or path == "/__control":
                resp = control.handle(self, st, method, path, query, body)
            elif path.startswith("/2/"):
                resp = self.api_call(st, method, path[3:], query, body)
            elif path == "/oauth2/authorize":
                resp = self.routed(st, "oauth2/authorize", method, dict(query), body,
                                   lambda: self.authorize(st, method, query))
            elif path == "/oauth2/token":
                try:
                    shown = oauth.redact_form(oauth.token_params(self, query, body))
                except HttpError:
                    shown = body[:2000].decode("utf-8", "replace")
                resp = self.routed(st, "oauth2/token", method, shown, body,
                                   lambda: self.oauth_token(st, method, query, body))
            elif path.startswith("/tl/"):
                resp = self.routed(st, "tl", method, {"link": path[4:]}, body,
                                   lambda: links.serve(st, self, method, path[4:]))
            else:
                resp = Response(404, b"Not Found", "text/plain")
        except HttpError as e:
            resp = Response.from_error(e)
        except Exception as e:  # a bug in the stand-in: say so loudly
            import traceback
            traceback.print_exc()
            resp = Response(500, f"stand-in internal error: {e!r}".encode(), "text/plain")
        self.send(resp, method)

    def authorize(self, st, method, query):
        if method not in ("GET", "POST"):
            raise HttpError(405, "Method Not Allowed")
        with st.lock:
            oauth.authorize(st, query)

    def oauth_token(self, st, method, query, body):
        if method != "POST":
            raise HttpError(405, "Method Not Allowed", headers={"Allow": "POST"})
        with st.lock:
            d, how = oauth.token(st, self, query, body)
        self._extra_log["client_auth"] = how
        return json_response(d)

    # ---------------------------------------------------------------- faults + calls
    def routed(self, st, route, method, arg, raw, fn, write_contention=None,
               route_faults=()):
        """Count and log the call, apply a fault if one matches, run fn -> Response.
        A fault whose kind is in route_faults is left to the route (ctx.fault)."""
        self._route_fault = None
        hdrs = {}
        for h in LOGGED_HEADERS:
            v = self.headers.get(h)
            if v is not None:
                hdrs[h] = redact_auth(v) if h == "Authorization" else v
        entry = {"time": None, "method": method, "route": route, "status": None,
                 "headers": hdrs, "arg": arg, "fault": None}
        if isinstance(raw, RequestBody):
            raw_text = ""       # never match an upload body, only the argument and URL
        elif isinstance(raw, bytes):
            raw_text = raw.decode("utf-8", "replace")
        else:
            raw_text = str(raw)
        raw_text += " " + (self.headers.get("Dropbox-API-Arg") or "") + " " + self.path
        with st.lock:
            entry["time"] = st.now()
            st.record_call(entry)
            fault = st.take_fault(route, raw_text)
            release = st.hang_release
        if fault is not None and fault.kind in route_faults:
            entry["fault"] = fault.kind
            self._route_fault = fault.kind
        elif fault is not None:
            entry["fault"] = fault.kind
            pre = self.pre_fault(fault, route, write_contention)
            if pre is not None:
                entry["status"] = pre.status
                return pre
            if fault.kind == "hang":
                release.wait(fault.hang_seconds)
        self._extra_log = {}
        try:
            resp = fn()
        except HttpError as e:
            resp = Response.from_error(e)
        entry.update(self._extra_log)
        if fault is not None and fault.kind == "malformed_json":
            resp = self.malform(resp)
        if fault is not None and fault.kind == "drop":
            resp.drop = True
            if not isinstance(resp.body, (bytes, bytearray)):
                close = getattr(resp.body, "close", None)
                if close:
                    close()
        entry["status"] = None if resp.drop else resp.status
        return resp

    def pre_fault(self, f, route, write_contention):
        ra = f.retry_after
        if f.kind == "429":
            ra = 1 if ra is None else ra
            return json_response({"error_summary": error_summary("too_many_requests"),
                                  "error": {"reason": {".tag": "too_many_requests"},
                                            "retry_after": ra}},
                                 429, {"Retry-After": str(ra)})
        if f.kind == "429_write":
            ra = 1 if ra is None else ra
            return json_response({"error_summary":
                                  error_summary("too_many_write_operations"),
                                  "error": {"reason": {".tag": "too_many_write_operations"}}},
                                 429, {"Retry-After": str(ra)})
        if f.kind == "429_text":
            ra = 1 if ra is None else ra
            return Response(429, b"Too Many Requests", "text/plain; charset=utf-8",
                            {"Retry-After": str(ra)})
        if f.kind == "500":
            return Response(500, b"Internal Server Error", "text/plain; charset=utf-8")
        if f.kind == "503":
            h = {"Retry-After": str(ra)} if ra is not None else {}
            return Response(503, b"Service Unavailable", "text/plain; charset=utf-8", h)
        if f.kind == "expired_token":
            return Response.from_error(answers.expire_caller(self, self.server.state))
        if f.kind == "cursor_reset":
            return Response.from_error(answers.cursor_reset())
        if f.kind == "409_write_contention":
            err = write_contention or {".tag": "too_many_write_operations"}
            return Response.from_error(api_error(409, err))
        return None

    @staticmethod
    def malform(resp):
        if "Dropbox-API-Result" in resp.headers:
            resp.headers["Dropbox-API-Result"] = '{"metadata": {"name": "trunc'
            return resp
        body = resp.body if isinstance(resp.body, (bytes, bytearray)) else b""
        bad = body[:max(1, len(body) // 2)] if body else b'{"error_summary": '
        if bad.strip() in (b"", b"n", b"nu", b"nul"):
            bad = b'{"result": nul'
        return Response(200, bytes(bad), "application/json", {})

    # ---------------------------------------------------------------- /2/ API
    def api_call(self, st, method, name, query, body):
        rd = ROUTES.get(name)
        if rd is None:
            return self.routed(st, name, method, None, body,
                               lambda: Response(404, f'Unknown API function: "{name}"'
                                                .encode(), "text/plain; charset=utf-8"))
        # What the log shows as the argument.
        if rd.style == "rpc":
            try:
                shown = json.loads(body) if body.strip() else None
            except ValueError:
                shown = body[:2000].decode("utf-8", "replace")
        else:
            raw = self.headers.get("Dropbox-API-Arg") or (query.get("arg") or [None])[0]
            try:
                shown = json.loads(raw) if raw else None
            except ValueError:
                shown = raw
        return self.routed(st, name, method, shown, body,
                           lambda: self.run_route(st, rd, method, query, body),
                           rd.write_contention, rd.route_faults)

    def run_route(self, st, rd, method, query, body):
        name = rd.name
        ctype = self.headers.get("Content-Type")
        mt = media_type(ctype)
        arg = None
        if rd.style == "rpc":
            if method != "POST":
                raise bad_request(name, f'Bad HTTP method "{method}".  Expecting "POST".')
            empty = not body.strip()
            if mt is None:
                if not (empty and rd.void):
                    raise bad_request(name, f'Bad HTTP "Content-Type" header: "".  '
                                            f'Expecting one of {RPC_EXPECT}.')
            elif mt not in RPC_TYPES:
                raise bad_request(name, f'Bad HTTP "Content-Type" header: "{ctype}".  '
                                        f'Expecting one of {RPC_EXPECT}.')
            if not empty:
                try:
                    arg = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    raise bad_request(name, "request body: could not decode input as JSON")
            elif not rd.void:
                raise bad_request(name, "request body: could not decode input as JSON")
            if rd.void and arg is not None:
                raise bad_request(name, "request body: expected null, got value")
        else:
            if rd.style == "download":
                if method not in ("POST", "GET"):
                    raise bad_request(name, f'Bad HTTP method "{method}".  Expecting '
                                            '"POST" or "GET".')
                if mt not in (None,) + DOWNLOAD_TYPES:
                    raise bad_request(name, f'Bad HTTP "Content-Type" header: "{ctype}".  '
                                            f'Expecting one of {DOWNLOAD_EXPECT}.')
            else:
                if method != "POST":
                    raise bad_request(name, f'Bad HTTP method "{method}".  Expecting "POST".')
                if mt not in UPLOAD_TYPES:
                    raise bad_request(name, f'Bad HTTP "Content-Type" header: "{ctype or ""}".'
                                            f'  Expecting one of {UPLOAD_EXPECT}.')
            header = self.headers.get("Dropbox-API-Arg")
            qarg = query.get("arg")
            if header is not None and qarg:
                raise bad_request(name, 'Provide the argument either in the HTTP header '
                                        '"Dropbox-API-Arg" or the URL parameter "arg", '
                                        'not both.')
            if header is None and not qarg:
                raise bad_request(name, 'Must provide HTTP header "Dropbox-API-Arg" or URL '
                                        'parameter "arg".')
            where = 'HTTP header "Dropbox-API-Arg"' if header is not None \
                else 'URL parameter "arg"'
            raw = header if header is not None else qarg[0]
            if header is not None and (not raw.isascii() or "\x7f" in raw):
                raise bad_request(name, f"{where}: could not decode input as JSON")
            try:
                arg = json.loads(raw)
            except ValueError:
                raise bad_request(name, f"{where}: could not decode input as JSON")

        ctx = Ctx(st, name, self)
        ctx.body = body
        ctx.fault = self._route_fault
        with st.lock:
            self.authenticate(st, rd, ctx, query)
            if rd.path_root:
                self.path_root(st, rd, ctx)
            else:
                ctx.view = ctx.account.home_ns
            result = rd.fn(ctx, arg)
        if rd.style == "download":
            assert isinstance(result, Download)
            h = dict(result.headers)
            h["Dropbox-API-Result"] = header_safe_json(result.result)
            return Response(200, result.body, result.content_type, h, result.length)
        return json_response(result)

    def authenticate(self, st, rd, ctx, query):
        name = rd.name
        value = self.headers.get("Authorization")
        if value is None:
            q = query.get("authorization")
            if not q:
                raise bad_request(name, 'Must provide HTTP header "Authorization" or URL '
                                        'parameter "authorization".')
            value = q[0]
            if not value.lower().startswith("bearer "):
                value = "Bearer " + value
        scheme, _, tok = value.partition(" ")
        tok = tok.strip()
        if scheme.lower() != "bearer" or not tok or " " in tok:
            raise bad_request(name, f'Invalid authorization value in HTTP header '
                                    f'"Authorization": "{value}".  Expecting "Bearer '
                                    f'<oauth2-access-token>".')
        t = st.access_tokens.get(tok)
        if t is None or t.revoked:
            raise auth_error("invalid_access_token")
        if st.now() >= t.expires_at:
            raise auth_error("expired_access_token")
        acct = st.accounts.get(t.account_id)
        if acct is None:
            raise auth_error("invalid_access_token")
        if acct.disabled:
            raise auth_error("user_suspended")
        if rd.scope is not None and rd.scope not in t.scopes:
            raise auth_error("missing_scope", required_scope=rd.scope)
        ctx.token = t
        ctx.account = acct

    def path_root(self, st, rd, ctx):
        acct = ctx.account
        raw = self.headers.get("Dropbox-API-Path-Root")
        ctx.view = acct.home_ns
        if raw is None:
            return
        where = 'HTTP header "Dropbox-API-Path-Root"'
        try:
            v = json.loads(raw)
        except ValueError:
            raise bad_request(rd.name, f"{where}: could not decode input as JSON")
        if isinstance(v, str):
            v = {".tag": v}
        if not isinstance(v, dict) or not isinstance(v.get(".tag"), str):
            raise bad_request(rd.name, f"{where}: expected union, got {type(v).__name__}")
        t = v[".tag"]
        if t == "home":
            return
        if t == "root":
            if not isinstance(v.get("root"), str):
                raise bad_request(rd.name, f"{where}: root: missing required field 'root'")
            if v["root"] != acct.root_ns.id:
                raise api_error(422, {".tag": "invalid_root",
                                      "invalid_root": acct.root_info()},
                                tags=["invalid_root"])
            ctx.view = acct.root_ns
            return
        if t == "namespace_id":
            nid = v.get("namespace_id")
            if not isinstance(nid, str):
                raise bad_request(rd.name, f"{where}: namespace_id: missing required field "
                                           f"'namespace_id'")
            ns = acct.accessible_namespaces().get(nid)
            if ns is None:
                raise api_error(422, {".tag": "no_permission"})
            ctx.view = ns
            return
        raise bad_request(rd.name, f'{where}: unknown tag "{t}"')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, state=None, verbose=False, spool_dir=None):
        self.state = state or State(spool_dir)
        self.verbose = verbose
        super().__init__(addr, Handler)


class StandIn:
    """In-process stand-in: s = StandIn(); s.start(); s.url; ...; s.stop()."""

    def __init__(self, host="127.0.0.1", port=0, verbose=False, spool_dir=None):
        self.server = Server((host, port), verbose=verbose, spool_dir=spool_dir)
        self.state = self.server.state
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"http://{self.server.server_address[0]}:{self.port}"

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.2}, daemon=True,
                                       name="dropbox-standin")
        self.thread.start()
        return self

    def stop(self):
        self.state.hang_release.set()
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)
        self.state.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
