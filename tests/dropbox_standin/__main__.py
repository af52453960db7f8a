"""python3 -m dropbox_standin [--host H] [--port P] [--port-file F] [--verbose]
                             [--spool-dir D]

Serves until SIGTERM/SIGINT. The bound port is written to --port-file (atomically,
via a temporary file and rename) once the socket listens."""

import argparse
import os
import signal
import sys
import threading

from .server import Server


def main(argv=None):
    ap = argparse.ArgumentParser(prog="dropbox_standin")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--spool-dir", help="where upload bodies, sessions and uploaded "
                    "files are kept (a fresh directory is made inside; default: the "
                    "temporary directory)")
    args = ap.parse_args(argv)

    srv = Server((args.host, args.port), verbose=args.verbose, spool_dir=args.spool_dir)
    port = srv.server_address[1]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True)
    t.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    sys.stderr.write(f"dropbox-standin listening on http://{args.host}:{port}\n")
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    srv.state.hang_release.set()
    srv.shutdown()
    srv.server_close()
    srv.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
