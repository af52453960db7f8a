"""Error shapes of Dropbox API v2 (dropbox-api.md §3) and Stone argument checking."""

import json
import random
import re


class HttpError(Exception):
    """A finished error response: status, body (bytes/str/JSON-able), headers."""

    def __init__(self, status, body, content_type=None, headers=None):
        super().__init__(f"{status}")
        self.status = status
        if isinstance(body, (dict, list)) or body is None:
            self.body = json.dumps(body).encode()
            self.content_type = content_type or "application/json"
        elif isinstance(body, str):
            self.body = body.encode()
            self.content_type = content_type or "text/plain; charset=utf-8"
        else:
            self.body = body
            self.content_type = content_type or "application/octet-stream"
        self.headers = dict(headers or {})


def summary_tags(value):
    """The chain of tags of a Stone union value, for error_summary."""
    tags = []
    v = value
    while v is not None:
        if isinstance(v, str):
            tags.append(v)
            break
        if not isinstance(v, dict):
            break
        tag = v.get(".tag")
        nxt = None
        if tag is not None:
            tags.append(tag)
            sub = v.get(tag)
            if isinstance(sub, (dict, str)) and (isinstance(sub, str) or ".tag" in sub):
                nxt = sub if isinstance(sub, dict) else None
        if nxt is None:
            for k, sub in v.items():
                if k not in (".tag", tag) and isinstance(sub, dict) and ".tag" in sub:
                    nxt = sub
                    break
        v = nxt
    return tags


def error_summary(value, tags=None):
    """'path/not_found/' + 0-3 dots: clients must never depend on the dots."""
    tags = tags if tags is not None else summary_tags(value)
    return "/".join(tags) + "/" + "." * random.randint(0, 3)


def api_error(status, error, headers=None, user_message=None, tags=None):
    """tags: the error_summary chain when the value holds struct subtypes (RootInfo),
    whose .tag is no union tag."""
    body = {"error_summary": error_summary(error, tags), "error": error}
    if user_message:
        body["user_message"] = {"text": user_message, "locale": "en"}
    return HttpError(status, body, headers=headers)


def route_error(error, user_message=None):
    """409 endpoint-specific error."""
    return api_error(409, error, user_message=user_message)


def auth_error(tag, **fields):
    err = {".tag": tag}
    err.update(fields)
    return api_error(401, err, headers={"WWW-Authenticate": 'Bearer realm="Dropbox-API"'})


def bad_request(route, reason):
    """400 text/plain, the shape of every 'bad input' answer."""
    return HttpError(400, f'Error in call to API function "{route}": {reason}')


def lookup(tag, **extra):
    """{".tag":"path","path":{".tag":tag}} for LookupError members."""
    inner = {".tag": tag}
    inner.update(extra)
    return {".tag": "path", "path": inner}


def tag(value):
    return {".tag": value}


# ---------------------------------------------------------------- Stone arguments

class Args:
    """Checks a JSON struct argument against declared fields, with Stone-ish 400 texts.

    fields: name -> (kind, default); kind is 'str', 'bool', 'int', 'union', 'any',
    'struct', 'list'; default REQUIRED makes the field required."""

    REQUIRED = object()

    def __init__(self, route, where="request body"):
        self.route = route
        self.where = where

    def fail(self, reason):
        raise bad_request(self.route, f"{self.where}: {reason}")

    def check(self, value, fields):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.fail("expected object, got " + _jtype(value))
        out = {}
        for k in value:
            if k not in fields:
                self.fail(f"unknown field '{k}'")
        for name, (kind, default) in fields.items():
            if name not in value or value[name] is None:
                if default is Args.REQUIRED:
                    self.fail(f"missing required field '{name}'")
                out[name] = default
                continue
            v = value[name]
            if kind == "str" and not isinstance(v, str):
                self.fail(f"{name}: expected string, got {_jtype(v)}")
            if kind == "bool" and not isinstance(v, bool):
                self.fail(f"{name}: expected boolean, got {_jtype(v)}")
            if kind == "int" and (isinstance(v, bool) or not isinstance(v, int)):
                self.fail(f"{name}: expected integer, got {_jtype(v)}")
            if kind == "list" and not isinstance(v, list):
                self.fail(f"{name}: expected list, got {_jtype(v)}")
            if kind == "struct" and not isinstance(v, dict):
                self.fail(f"{name}: expected object, got {_jtype(v)}")
            if kind == "union":
                v = self.union(name, v)
            out[name] = v
        return out

    def union(self, name, v):
        """Accept the compact "add" form and {".tag":"add"}; return the object form."""
        if isinstance(v, str):
            return {".tag": v}
        if isinstance(v, dict) and isinstance(v.get(".tag"), str):
            return v
        self.fail(f"{name}: expected union, got {_jtype(v)}")

    def int_range(self, name, v, lo, hi):
        if v is not None and not (lo <= v <= hi):
            self.fail(f"{name}: {v} is not within range [{lo}, {hi}]")

    def pattern(self, name, v, pattern):
        if not re.fullmatch(pattern, v, re.S):
            self.fail(f"{name}: '{v}' did not match pattern '{pattern}'")


def _jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


# Path patterns from files.stone (aliases ReadPath, WritePath, ListFolder path...).
READ_PATH = r"(/(.|[\r\n])*|id:.*)|(rev:[0-9a-f]{9,})|(ns:[0-9_]+(/.*)?)"
WRITE_PATH = r"(/(.|[\r\n])*)|(ns:[0-9_]+(/.*)?)"
LIST_PATH = r"(/(.|[\r\n])*)?|id:.*|(ns:[0-9_]+(/.*)?)"
