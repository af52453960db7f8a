"""sharing namespace, single files (dropbox-api.md §4.16, sharing_files.stone):
add_file_member, list_file_members (+ /continue) and remove_file_member_2.

A file's explicit members live in State.file_members[node id]: lower-case email ->
FileMember. An address that names an account (its main email) makes that account a
member directly; any other address is an invitee. Members of a shared folder above
the file are inherited members (listed with include_inherited, never removable here).
add_file_member answers one result per member: an address in State.invalid_emails (the
control POST /__control/invalid_emails) or a malformed one gets a member_error, and
the others are added all the same. The daily invitation limit (setting
daily_invite_limit, counted with folder invitations) and the route fault "rate_limit"
answer the route error rate_limit."""

from . import route
from .files import can_write, resolve
from .sharing import _email_ok, _user_info
from .. import sharing as model
from ..errors import Args, route_error
from ..state import rand_str

R = Args.REQUIRED
PATH_OR_ID = r"((/|id:).*|nspath:[^:]*:[^:]*)"
MEMBER_ACTIONS = ("leave_a_copy", "make_editor", "make_owner", "make_viewer",
                  "make_viewer_no_comment", "remove")


class FileMember:
    def __init__(self, email, account, access_level, time):
        self.email = email
        self.account = account      # None: an invitee (no account has that email)
        self.access_level = access_level
        self.time = time


def _access(tag):
    return route_error({".tag": "access_error", "access_error": {".tag": tag}})


def _file(ctx, path, for_write):
    """The file node a PathOrId names, or the route's access_error."""
    node = resolve(ctx, path, err=lambda tag: {".tag": "access_error",
                                               "access_error": {".tag": "invalid_file"}})
    if node.is_dir:
        raise _access("is_folder")
    if for_write and not can_write(ctx, node.parent.dir() if node.parent else node):
        raise _access("no_permission")
    return node


def _selector(a, where, value):
    """MemberSelector -> (tag, value, the selector as given); a malformed email is
    left to the per-member result (invalid_member)."""
    if value is None:
        a.fail(f"missing required field '{where}'")
    sel = a.union(where, value)
    t = sel[".tag"]
    if t not in ("email", "dropbox_id"):
        a.fail(f'{where}: unknown tag "{t}"')
    v = sel.get(t)
    if not isinstance(v, str) or not v:
        a.fail(f"{where}: missing required field '{t}'" if v is None
               else f"{where}.{t}: expected a non-empty string")
    return t, v, {".tag": t, t: v}


def _members(st, node):
    return st.file_members.setdefault(node.id, {})


def _check_rpc_user(ctx):
    if not ctx.account.email_verified:
        raise route_error({".tag": "user_error", "user_error": {".tag": "email_unverified"}})


@route("sharing/add_file_member", scope="sharing.write", route_faults=("rate_limit",))
def add_file_member(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"file": ("str", R), "members": ("list", R),
                        "custom_message": ("str", None), "quiet": ("bool", False),
                        "access_level": ("union", None),
                        "add_message_as_comment": ("bool", False)})
    a.pattern("file", arg["file"], PATH_OR_ID)
    sels = [_selector(a, f"members[{i}]", m) for i, m in enumerate(arg["members"])]
    level = "viewer"
    if arg["access_level"] is not None:
        level = a.union("access_level", arg["access_level"])[".tag"]
        if level not in model.ACCESS_LEVELS:
            a.fail(f'access_level: unknown tag "{level}"')
    st = ctx.state
    acct = ctx.account
    _check_rpc_user(ctx)
    node = _file(ctx, arg["file"], True)
    if ctx.fault == "rate_limit":
        raise route_error({".tag": "rate_limit"})
    members = _members(st, node)
    plans = []
    for kind, value, given in sels:
        if kind == "email":
            if not _email_ok(value) or value.lower() in st.invalid_emails:
                plans.append((given, "invalid_member", None, None))
                continue
            target, email = st.account_by_email(value), value
        else:
            target = st.accounts.get(value)
            if target is None:
                plans.append((given, "invalid_member", None, None))
                continue
            email = target.email
        if target is acct or email.lower() in members:
            plans.append((given, None, None, None))          # has access already
        else:
            plans.append((given, None, email, target))
    new = {p[2].lower() for p in plans if p[2] is not None}
    since = st.now() - 86400
    recent = sum(1 for inv in st.invitations
                 if inv["inviter"] == acct.account_id and inv["time"] > since)
    if new and recent + len(new) > st.settings["daily_invite_limit"]:
        raise route_error({".tag": "rate_limit"})
    out = []
    for given, err, email, target in plans:
        if err is not None:
            out.append({"member": given, "result": {".tag": "member_error",
                                                    "member_error": {".tag": err}}})
            continue
        if email is not None and email.lower() not in members:
            now = st.now()
            members[email.lower()] = FileMember(email, target, level, now)
            st.invitations.append({
                "seq": len(st.invitations) + 1, "shared_folder_id": None,
                "file_id": node.id, "email": email,
                "account_id": target.account_id if target is not None else None,
                "access_level": level, "quiet": arg["quiet"],
                "custom_message": arg["custom_message"], "time": now,
                "inviter": acct.account_id})
            st.note("file_member_added", "file_members_added", file_id=node.id,
                    email=email, access_level=level, inviter=acct.account_id)
        out.append({"member": given, "result": {".tag": "success"}})
    return out


def _entries(ctx, node, include_inherited):
    st = ctx.state
    owner = node.ns.owner if node.ns.owner is not None else ctx.account
    items = [("users", {"access_type": {".tag": "owner"}, "user": _user_info(ctx, owner),
                        "is_inherited": False})]
    seen = {owner.email.lower()}
    for m in sorted(_members(st, node).values(), key=lambda m: m.time):
        seen.add(m.email.lower())
        d = {"access_type": {".tag": m.access_level}, "is_inherited": False}
        if m.account is not None:
            d["user"] = _user_info(ctx, m.account)
            items.append(("users", d))
        else:
            d["invitee"] = {".tag": "email", "email": m.email}
            items.append(("invitees", d))
    sf = model.shared_folder_of_ns(st, node.ns)
    if include_inherited and sf is not None:
        for m in sf.members.values():
            if m.account.email.lower() not in seen:
                items.append(("users", {"access_type": {".tag": m.access_level},
                                        "user": _user_info(ctx, m.account),
                                        "is_inherited": True}))
        for inv in sf.invitees.values():
            if inv.email.lower() not in seen:
                items.append(("invitees", {"access_type": {".tag": inv.access_level},
                                           "invitee": {".tag": "email", "email": inv.email},
                                           "is_inherited": True}))
    return items


def _page(ctx, node, items, limit):
    out = {"users": [], "groups": [], "invitees": []}
    for where, d in items[:limit]:
        out[where].append(d)
    if len(items) > limit:
        cid = "ZtkX" + rand_str(56)
        ctx.state.sharing_cursors[cid] = {"kind": "file_members", "file_id": node.id,
                                          "items": items[limit:], "limit": limit,
                                          "account_id": ctx.account.account_id}
        out["cursor"] = cid
    return out


@route("sharing/list_file_members", scope="sharing.read")
def list_file_members(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"file": ("str", R), "actions": ("list", None),
                        "include_inherited": ("bool", True), "limit": ("int", 100)})
    a.pattern("file", arg["file"], PATH_OR_ID)
    a.int_range("limit", arg["limit"], 1, 300)
    for i, v in enumerate(arg["actions"] or []):
        if a.union(f"actions[{i}]", v)[".tag"] not in MEMBER_ACTIONS:
            a.fail(f'actions[{i}]: unknown tag "{a.union(f"actions[{i}]", v)[".tag"]}"')
    _check_rpc_user(ctx)
    node = _file(ctx, arg["file"], False)
    return _page(ctx, node, _entries(ctx, node, arg["include_inherited"]), arg["limit"])


@route("sharing/list_file_members/continue", scope="sharing.read")
def list_file_members_continue(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"cursor": ("str", R)})
    rec = ctx.state.sharing_cursors.get(arg["cursor"])
    if rec is None or rec["kind"] != "file_members" or \
            rec["account_id"] != ctx.account.account_id:
        raise route_error({".tag": "invalid_cursor"})
    node = ctx.state.nodes_by_id.get(rec["file_id"])
    if node is None or node.deleted:
        raise _access("invalid_file")
    return _page(ctx, node, rec["items"], rec["limit"])


@route("sharing/remove_file_member_2", scope="sharing.write")
def remove_file_member_2(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"file": ("str", R), "member": ("union", R)})
    a.pattern("file", arg["file"], PATH_OR_ID)
    kind, value, _ = _selector(a, "member", arg["member"])
    st = ctx.state
    _check_rpc_user(ctx)
    node = _file(ctx, arg["file"], True)
    members = _members(st, node)
    if kind == "dropbox_id":
        target = st.accounts.get(value)
        email = target.email if target is not None else None
    else:
        email = value
    key = email.lower() if email else None
    if key is None or key not in members:
        sf = model.shared_folder_of_ns(st, node.ns)
        inherited = sf is not None and email is not None and (
            sf.member_by_email(email) is not None or key in sf.invitees)
        if inherited:
            m = sf.member_by_email(email)
            level = m.access_level if m is not None else sf.invitees[key].access_level
            raise route_error({".tag": "no_explicit_access",
                               "no_explicit_access": {"access_level": {".tag": level}}})
        return {".tag": "member_error", "member_error": {".tag": "invalid_member"}}
    m = members.pop(key)
    st.note("file_member_removed", "file_members_removed", file_id=node.id, email=m.email)
    return {".tag": "success", "success": {}}


def control_json(st):
    """What GET /__control/file_members shows: every file with explicit members."""
    out = []
    for fid, members in st.file_members.items():
        node = st.nodes_by_id.get(fid)
        if node is None or not members:
            continue
        out.append({"file_id": fid, "path": st.path_in_view(node, node.ns),
                    "members": [{"email": m.email, "access_level": m.access_level,
                                 "account_id": m.account.account_id if m.account else None,
                                 "time": m.time} for m in members.values()]})
    return out

