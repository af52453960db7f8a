"""The route registry of /2/<namespace>/<route>.

To add a route: write one function in a module of this package and decorate it:

    @route("files/get_metadata", scope="files.metadata.read")
    def get_metadata(ctx, arg): ...          # arg: the decoded JSON argument
        return {...}                         # the JSON result (200)
        raise route_error({...})             # 409, or any errors.HttpError

style "rpc" (JSON body in, JSON out), "download" (Dropbox-API-Arg in, bytes out, the
function returns a Download), "upload" (Dropbox-API-Arg + octet-stream body in, JSON
out; the body is ctx.body, an uploads.RequestBody spooled to disk). void=True for
Void arguments. Then import the module at the bottom of this file.
"""

from ..errors import bad_request

ROUTES = {}


class RouteDef:
    def __init__(self, name, fn, style, scope, void, auth, write_contention, path_root,
                 route_faults=()):
        self.name = name
        self.fn = fn
        self.style = style
        self.scope = scope
        self.void = void
        self.auth = auth
        self.write_contention = write_contention
        self.path_root = path_root
        self.route_faults = tuple(route_faults)


def route(name, style="rpc", scope=None, void=False, auth="user",
          write_contention=None, path_root=True, route_faults=()):
    """write_contention: the 409 body used by the fault '409_write_contention' (the
    route's own union member); None = {'.tag':'too_many_write_operations'}.
    route_faults: fault kinds the route answers itself (it finds the kind in
    ctx.fault) instead of the generic answer, e.g. 'incorrect_offset'."""
    def deco(fn):
        ROUTES[name] = RouteDef(name, fn, style, scope, void, auth, write_contention,
                                path_root, route_faults)
        return fn
    return deco


class Download:
    """Result of a download-style route."""

    def __init__(self, result, body, length, content_type="application/octet-stream",
                 headers=None):
        self.result = result
        self.body = body            # bytes or an iterable of bytes
        self.length = length
        self.content_type = content_type
        self.headers = headers or {}


class Ctx:
    """What a route function gets besides its argument."""

    def __init__(self, state, route, handler):
        self.state = state
        self.route = route
        self.handler = handler
        self.account = None
        self.token = None
        self.view = None            # Namespace paths are relative to (path root)
        self.body = b""             # upload style: an uploads.RequestBody (spooled)
        self.fault = None           # a fault kind in the route's route_faults, if one hit
        self.base_url = handler.base_url()

    def bad(self, reason):
        return bad_request(self.route, reason)


# Register the routes (modules import this one, so this comes last).
from . import auth as _auth_routes, users as _users_routes, files as _files_routes  # noqa: E402
from . import sharing as _sharing_routes, uploads as _upload_routes  # noqa: E402
from . import sharing_files as _sharing_file_routes  # noqa: E402

MODULES = (_auth_routes, _users_routes, _files_routes, _sharing_routes, _upload_routes,
           _sharing_file_routes)
