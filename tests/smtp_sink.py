"""A minimal SMTP server on loopback that keeps what it receives, for tests.
It speaks just enough of RFC 5321 for libcurl: EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT."""

import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        sink = self.server.sink
        self.send("220 pdshare-test-smtp ready")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            cmd = line[:4].upper()
            if cmd in ("EHLO", "HELO"):
                self.send("250 pdshare-test-smtp")
            elif cmd == "MAIL":
                mail_from, rcpts = line.split(":", 1)[1].strip(), []
                self.send("250 OK")
            elif cmd == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip())
                self.send("250 OK")
            elif cmd == "DATA":
                self.send("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    l = self.rfile.readline(65536)
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    lines.append(l.decode("utf-8", "replace"))
                with sink.lock:
                    sink.messages.append({"from": mail_from, "to": list(rcpts), "data": "".join(lines)})
                self.send("250 OK queued")
            elif cmd in ("RSET", "NOOP"):
                self.send("250 OK")
            elif cmd == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 not implemented")


class SMTPSink:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
