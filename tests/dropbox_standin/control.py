"""Test control API under /__control/ (JSON in, JSON out). Not part of Dropbox.

See README.md in this package for the full list."""

import base64
import binascii
import json

from . import sharing, uploads
from .routes import sharing_files
from .errors import HttpError
from .state import DEFAULT_SETTINGS, Fault, make_content

MOUNT_MODES = ("normal", "must_automount", "automount", "not_mountable")
SIDE_EFFECT_COUNTS = (
    "folders_created_by_create_folder_v2", "folders_created_by_share_folder", "copies",
    "files_copied", "folders_copied", "folders_shared", "invitations_sent", "members_added",
    "members_removed", "invitees_removed", "copies_left", "mounts",
    "file_members_added", "file_members_removed")


def _bad(msg, status=400):
    return HttpError(status, {"error": msg})


def _json_body(body):
    if not body or not body.strip():
        return {}
    try:
        v = json.loads(body)
    except ValueError:
        raise _bad("body is not JSON")
    if not isinstance(v, dict):
        raise _bad("body must be a JSON object")
    return v


def _q(query, name, default=None):
    v = query.get(name)
    return v[0] if v else default


def _account(st, account_id):
    a = st.accounts.get(account_id or "")
    if a is None:
        raise _bad(f"unknown account_id {account_id!r}", 404)
    return a


def _ns_for(st, acct, spec):
    """The namespace control paths are relative to: home (default), the account's root
    ("root": true) or an explicit namespace_id."""
    if spec.get("namespace_id"):
        ns = st.namespaces.get(str(spec["namespace_id"]))
        if ns is None:
            raise _bad("unknown namespace_id", 404)
        return ns
    if spec.get("root") in (True, "1", "true"):
        return acct.root_ns
    return acct.home_ns


def _comps(path):
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise _bad("path must start with / and name something")
    comps = path[1:].split("/")
    if any(c in ("", ".", "..") for c in comps):
        raise _bad("malformed path")
    return comps


def _find(st, ns, path):
    node, _, _ = st.walk(ns.root, _comps(path))
    if node is None:
        raise _bad(f"no such path {path!r}", 404)
    return node


def handle(handler, st, method, path, query, body):
    from .server import Response, json_response
    sub = path[len("/__control"):].strip("/")
    key = (method, sub)
    data = _json_body(body) if method in ("POST", "PUT", "DELETE") else {}

    if key == ("POST", "reset"):
        st.reset()
        return json_response({"ok": True})

    # ---- apps and accounts
    if key == ("POST", "apps"):
        cid, secret = data.get("client_id"), data.get("client_secret")
        if not cid or not secret:
            raise _bad("client_id and client_secret are required")
        with st.lock:
            app = st.add_app(cid, secret, redirect_uris=data.get("redirect_uris"),
                             require_pkce=bool(data.get("require_pkce", False)),
                             scopes=data.get("scopes"))
        return json_response(app.to_json())
    if key == ("GET", "apps"):
        with st.lock:
            return json_response({"apps": [a.to_json() for a in st.apps.values()]})
    if key == ("POST", "accounts"):
        email, name = data.get("email"), data.get("display_name")
        if not email or not name:
            raise _bad("email and display_name are required")
        team = data.get("team")
        if team is not None and not isinstance(team, dict):
            raise _bad("team must be null or {name, home_path}")
        kw = {}
        for k in ("account_type", "email_verified", "country", "locale"):
            if k in data:
                kw[k] = data[k]
        with st.lock:
            acct = st.add_account(email, name, team=team, **kw)
            return json_response(acct.to_json())
    if key == ("GET", "accounts"):
        with st.lock:
            return json_response({"accounts": [a.to_json() for a in st.accounts.values()]})
    if key == ("POST", "next_account"):
        with st.lock:
            _account(st, data.get("account_id"))
            st.next_account_id = data["account_id"]
        return json_response({"ok": True})
    if key == ("POST", "deny_next"):
        with st.lock:
            st.deny_next = {k: data[k] for k in ("error", "error_description") if k in data}
        return json_response({"ok": True})

    # ---- settings and clock
    if key == ("POST", "settings"):
        with st.lock:
            for k, v in data.items():
                if k not in DEFAULT_SETTINGS:
                    raise _bad(f"unknown setting {k!r}; known: {sorted(DEFAULT_SETTINGS)}")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise _bad(f"{k} must be a non-negative number")
                st.settings[k] = v
            return json_response(dict(st.settings))
    if key == ("GET", "settings"):
        with st.lock:
            return json_response(dict(st.settings))
    if key == ("POST", "clock"):
        adv = data.get("advance", 0)
        if isinstance(adv, bool) or not isinstance(adv, (int, float)):
            raise _bad("advance must be a number of seconds")
        with st.lock:
            st.clock_offset += adv
            return json_response({"now": st.now(), "offset": st.clock_offset})
    if key == ("GET", "clock"):
        return json_response({"now": st.now(), "offset": st.clock_offset})

    # ---- files
    if key == ("POST", "files"):
        return json_response(_put_file(st, data))
    if key == ("POST", "files/delete"):
        with st.lock:
            acct = _account(st, data.get("account_id"))
            node = _find(st, _ns_for(st, acct, data), data.get("path"))
            st.delete_node(node)
        return json_response({"ok": True})
    if key == ("GET", "files"):
        spec = {k: _q(query, k) for k in ("root", "namespace_id")}
        hashes = _q(query, "hashes", "1") not in ("0", "false")
        with st.lock:
            acct = _account(st, _q(query, "account_id"))
            ns = _ns_for(st, acct, spec)
            items = st.all_files(ns)
        out = []
        for p, node in items:       # hashes computed outside the lock
            d = {".tag": "folder" if node.is_dir else "file", "path_display": p,
                 "path_lower": p.lower(), "id": node.id}
            if not node.is_dir:
                d.update(size=node.size, rev=node.rev, **node.content.describe())
                if hashes:
                    dg = node.content.digests()
                    d.update(sha256=dg.sha256, content_hash=dg.content_hash)
            out.append(d)
        return json_response({"namespace_id": ns.id, "files": out})
    if key == ("GET", "file_sha256") or key == ("GET", "file_content"):
        spec = {k: _q(query, k) for k in ("root", "namespace_id")}
        with st.lock:
            acct = _account(st, _q(query, "account_id"))
            node = _find(st, _ns_for(st, acct, spec), _q(query, "path"))
            if node.is_dir:
                raise _bad("that is a folder")
            content = node.content
        if sub == "file_content":
            return Response(200, content.iter(), "application/octet-stream", None,
                            content.size)
        dg = content.digests()
        return json_response({"size": content.size, "sha256": dg.sha256,
                              "content_hash": dg.content_hash, "rev": node.rev,
                              "id": node.id})

    # ---- tokens
    if key == ("GET", "tokens"):
        with st.lock:
            now = st.now()
            acc = [{"token": t.token, "account_id": t.account_id, "client_id": t.client_id,
                    "refresh_token": t.refresh.token if t.refresh else None,
                    "issued": t.issued, "expires_at": t.expires_at, "revoked": t.revoked,
                    "expired": now >= t.expires_at, "scope": " ".join(t.scopes)}
                   for t in st.access_tokens.values()]
            ref = [{"token": r.token, "account_id": r.account_id, "client_id": r.client_id,
                    "revoked": r.revoked, "issued": r.issued, "pkce": r.pkce}
                   for r in st.refresh_tokens.values()]
            codes = [{"code": c.code, "account_id": c.account_id, "client_id": c.client_id,
                      "used": c.used, "redirect_uri": c.redirect_uri}
                     for c in st.codes.values()]
        return json_response({"access_tokens": acc, "refresh_tokens": ref, "codes": codes,
                              "refresh_grants": st.refresh_grants})
    if key == ("GET", "tokens/live"):
        # What is still usable at Dropbox: refresh tokens not revoked, access
        # tokens neither revoked nor expired; for one account or all.
        acct = _q(query, "account_id")
        with st.lock:
            now = st.now()
            ref = [r.token for r in st.refresh_tokens.values()
                   if not r.revoked and acct in (None, r.account_id)]
            acc = [t.token for t in st.access_tokens.values()
                   if not t.revoked and now < t.expires_at and acct in (None, t.account_id)]
        return json_response({"refresh_tokens": ref, "access_tokens": acc})
    if key == ("POST", "revoke_refresh"):
        with st.lock:
            n_ref = n_acc = 0
            rts = []
            if data.get("refresh_token"):
                rt = st.refresh_tokens.get(data["refresh_token"])
                if rt is None:
                    raise _bad("unknown refresh_token", 404)
                rts = [rt]
            elif data.get("account_id"):
                _account(st, data["account_id"])
                rts = [r for r in st.refresh_tokens.values()
                       if r.account_id == data["account_id"]]
                # the user unlinked the app: every token of the account dies
                for t in st.access_tokens.values():
                    if t.account_id == data["account_id"] and not t.revoked:
                        t.revoked = True
                        n_acc += 1
            else:
                raise _bad("refresh_token or account_id is required")
            for r in rts:
                if not r.revoked:
                    r.revoked = True
                    n_ref += 1
                for t in st.access_tokens.values():
                    if t.refresh is r and not t.revoked:
                        t.revoked = True
                        n_acc += 1
        return json_response({"revoked_refresh_tokens": n_ref, "revoked_access_tokens": n_acc})
    if key == ("POST", "expire_access"):
        with st.lock:
            now = st.now()
            n = 0
            for t in st.access_tokens.values():
                if (data.get("account_id") in (None, t.account_id)) and \
                        (data.get("token") in (None, t.token)) and t.expires_at > now:
                    t.expires_at = now
                    n += 1
        return json_response({"expired": n})

    # ---- calls
    if key == ("GET", "calls"):
        with st.lock:
            return json_response(dict(st.call_counts))
    if key == ("GET", "calls/log"):
        route = _q(query, "route")
        limit = int(_q(query, "limit", "200"))
        with st.lock:
            log = [e for e in st.call_log if route in (None, e["route"])]
        return json_response({"calls": log[-limit:] if limit > 0 else []})
    if key == ("POST", "calls/reset"):
        with st.lock:
            st.call_counts.clear()
            st.call_log.clear()
        return json_response({"ok": True})

    # ---- faults
    if key == ("POST", "faults"):
        route, kind = data.get("route"), str(data.get("kind", ""))
        if not route or kind not in Fault.KINDS:
            raise _bad(f"route and kind (one of {', '.join(Fault.KINDS)}) are required")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < -1:
            raise _bad("count must be an integer >= -1")
        only = Fault.ONLY_ROUTES.get(kind)
        if only is not None and route not in only + ("*",):
            raise _bad(f"kind {kind} applies to {', '.join(only)} (or *) only")
        with st.lock:
            after = data.get("after", 0)
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                raise _bad("after must be an integer >= 0")
            f = Fault(next(st.fault_ids), route, kind, count, data.get("retry_after"),
                      data.get("hang_seconds", 30), data.get("match"), after)
            st.faults.append(f)
            return json_response(f.to_json())
    if key == ("GET", "faults"):
        with st.lock:
            return json_response({"faults": [f.to_json() for f in st.faults]})
    if key == ("DELETE", "faults"):
        with st.lock:
            st.faults.clear()
            st.hang_release.set()       # wake requests hanging now
            import threading
            st.hang_release = threading.Event()
        return json_response({"ok": True})

    # ---- uploads
    if key == ("GET", "uploads"):
        aid = _q(query, "account_id")
        every = _q(query, "all", "0") not in ("0", "false")
        with st.lock:
            uploads.sweep(st)
            sessions = [s.to_json(st) for s in st.upload_sessions.values()
                        if aid in (None, s.account_id)]
            files = [dict(f) for f in st.uploaded_files if aid in (None, f["account_id"])
                     and (every or f["written"])]
            spool = uploads.spool_counts(st.spool_dir)
        return json_response({"sessions": sessions, "files": files, "spool": spool})

    # ---- cursors, links
    if key == ("POST", "cursors/reset"):
        with st.lock:
            st.cursors.clear()
        return json_response({"ok": True})
    if key == ("GET", "links"):
        with st.lock:
            now = st.now()
            return json_response({"links": [
                {"id": l.id, "node_id": l.node_id, "name": l.name, "rev": l.rev,
                 "created": l.created, "expires_at": l.expires_at,
                 "expired": now >= l.expires_at} for l in st.links.values()]})

    # ---- sharing
    if method == "POST" and sub.startswith("accounts/") and sub.count("/") == 2:
        _, aid, what = sub.split("/")
        with st.lock:
            acct = _account(st, aid)
            if what == "mount_mode":
                mode = data.get("mode")
                if mode not in MOUNT_MODES:
                    raise _bad(f"mode must be one of {', '.join(MOUNT_MODES)}")
                acct.mount_mode = mode
            elif what == "flags":
                for k in ("email_verified", "can_share"):
                    if k in data:
                        if not isinstance(data[k], bool):
                            raise _bad(f"{k} must be a boolean")
                        setattr(acct, k, data[k])
                unknown = set(data) - {"email_verified", "can_share"}
                if unknown:
                    raise _bad(f"unknown flags {sorted(unknown)}")
            else:
                raise _bad(f"unknown control route {method} /__control/{sub}", 404)
            return json_response(acct.to_json())
    if key == ("POST", "invalid_emails"):
        emails = data.get("emails")
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise _bad("emails must be a list of strings")
        with st.lock:
            st.invalid_emails = {e.lower() for e in emails}
            return json_response({"invalid_emails": sorted(st.invalid_emails)})
    if key == ("POST", "accept_invite"):
        return json_response(_accept_invite(st, data))
    if key == ("POST", "fail_next_job"):
        kind = data.get("kind")
        if kind not in ("share", "remove"):
            raise _bad("kind must be share or remove")
        err = data.get("error") or {".tag": "no_permission"}
        if not isinstance(err, dict) or not isinstance(err.get(".tag"), str):
            raise _bad("error must be a union value like {\".tag\": \"no_permission\"}")
        with st.lock:
            st.fail_next_job[kind] = err
        return json_response({"ok": True})
    if key == ("GET", "shared_folders"):
        with st.lock:
            return json_response({"shared_folders": [
                sharing.control_json(st, sf) for sf in st.shared_folders.values()]})
    if key == ("GET", "invitations"):
        sfid, email = _q(query, "shared_folder_id"), _q(query, "email")
        with st.lock:
            out = [dict(i) for i in st.invitations
                   if sfid in (None, i["shared_folder_id"]) and
                   (email is None or email.lower() == i["email"].lower())]
        return json_response({"invitations": out})
    if key == ("GET", "file_members"):
        with st.lock:
            return json_response({"files": sharing_files.control_json(st)})
    if key == ("GET", "jobs"):
        with st.lock:
            return json_response({"jobs": [j.to_json() for j in st.jobs.values()]})
    if key == ("GET", "side_effects"):
        with st.lock:
            d = {k: st.side_effects.get(k, 0) for k in SIDE_EFFECT_COUNTS}
            d["events"] = list(st.side_effect_log)
        return json_response(d)
    if key == ("POST", "side_effects/reset"):
        with st.lock:
            st.side_effects.clear()
            st.side_effect_log.clear()
        return json_response({"ok": True})

    from . import answers
    resp = answers.handle_control(st, key, data, json_response, _bad, _account)
    if resp is not None:
        return resp
    raise _bad(f"unknown control route {method} /__control/{sub}", 404)


def _put_file(st, data):
    with st.lock:
        acct = _account(st, data.get("account_id"))
        ns = _ns_for(st, acct, data)
        comps = _comps(data.get("path"))
        folder = bool(data.get("folder"))
        content = None
        if not folder:
            if data.get("content_b64") is not None:
                try:
                    raw = base64.b64decode(data["content_b64"], validate=True)
                except (binascii.Error, TypeError):
                    raise _bad("content_b64 is not base64")
                content = make_content(data=raw)
            elif data.get("content") is not None:
                content = make_content(data=str(data["content"]).encode("utf-8"))
            elif data.get("size") is not None:
                size = data["size"]
                if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                    raise _bad("size must be a non-negative integer")
                content = make_content(size=size, seed=data.get("seed", 0))
            else:
                raise _bad("one of content_b64, content, size (+ seed) or folder: true")
        cur = ns.root
        for c in comps[:-1]:
            nxt = cur.child(c)
            if nxt is None:
                nxt = st.make_child(cur.dir(), c, True)
            elif not nxt.is_dir:
                raise _bad(f"{c!r} is a file", 409)
            cur = nxt
        parent = cur.dir()
        name = comps[-1]
        existing = parent.children.get(name.lower())
        cm = data.get("client_modified_ts")
        if existing is not None:
            if existing.is_dir != folder:
                raise _bad("a " + ("folder" if existing.is_dir else "file") +
                           " is already at that path", 409)
            node = existing
            if not folder:
                st.replace_content(node, content, cm)
        else:
            node = st.make_child(parent, name, folder, content, cm)
        p = st.path_in_view(node, ns)
        d = {".tag": "folder" if folder else "file", "id": node.id, "path_display": p,
             "path_lower": p.lower(), "namespace_id": ns.id}
        if not folder:
            d.update(size=node.size, rev=node.rev, **node.content.describe())
            if not node.content.generated:
                d["sha256"] = node.content.digests().sha256
                d["content_hash"] = node.content.digests().content_hash
        return d


def _accept_invite(st, data):
    """Invitees become members, as if they accepted the email; with mount (default: the
    account's mode is automount or must_automount, i.e. the automounter runs) the folder
    is mounted too."""
    with st.lock:
        if data.get("account_id"):
            acct = _account(st, data["account_id"])
        elif data.get("email"):
            acct = st.account_by_email(str(data["email"]))
            if acct is None:
                raise _bad("no account has that email: create one first (POST accounts)")
        else:
            raise _bad("email or account_id is required")
        mount = data.get("mount")
        if mount is None:
            mount = acct.mount_mode in ("automount", "must_automount")
        sfid = data.get("shared_folder_id")
        if sfid is not None and sfid not in st.shared_folders:
            raise _bad("unknown shared_folder_id", 404)
        folders = [st.shared_folders[sfid]] if sfid is not None else \
            list(st.shared_folders.values())
        accepted, mounted = [], []
        for sf in folders:
            if sharing.accept(st, sf, acct):
                accepted.append(sf.id)
                if mount and sf.mount_of(acct) is None:
                    node = sharing.mount(st, sf, acct)
                    mounted.append({"shared_folder_id": sf.id,
                                    "path": st.path_in_view(node, acct.home_ns)})
        if not accepted:
            raise _bad("no pending invitation for that account", 404)
        return {"accepted": accepted, "mounted": mounted}
