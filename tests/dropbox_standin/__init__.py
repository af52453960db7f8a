"""A Dropbox API v2 stand-in for the mod_pdshare tests (loopback, no network).

    from dropbox_standin import StandIn
    s = StandIn(); s.start(); s.url; ...; s.stop()

or as a process:  python3 -m dropbox_standin --port 0 --port-file F
See README.md in this directory for routes and the /__control/ API.
"""

from .blobs import blob_bytes, blob_iter  # noqa: F401
from .server import StandIn, Server  # noqa: F401
from .state import State  # noqa: F401

__all__ = ["StandIn", "Server", "State", "blob_bytes", "blob_iter"]
