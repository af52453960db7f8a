"""sharing namespace (dropbox-api.md §4.11-§4.15): share_folder and its job,
add/list/remove folder members and the remove pollers, mount_folder, list_folders,
list_mountable_folders and get_folder_metadata. The model is in ..sharing."""

import re

from . import route
from .files import RELOCATION_PATH, can_write, check_path_arg, start_of
from .. import sharing as model
from ..errors import Args, api_error, route_error
from ..state import iso, rand_str

R = Args.REQUIRED
SHARED_FOLDER_ID = r"[-_0-9a-zA-Z:]+"                 # common.SharedFolderId
EMAIL_PATTERN = r"^['#&A-Za-z0-9._%+-]+@[A-Za-z0-9-][A-Za-z0-9.-]*\.[A-Za-z]{2,15}$"
ACL_UPDATE = ("owner", "editors")
MEMBER_POLICY = ("team", "anyone", "team_and_approved")
SHARED_LINK = ("anyone", "team", "members")
VIEWER_INFO = ("enabled", "disabled")
INHERITANCE = ("inherit", "no_inherit")
FOLDER_ACTIONS = ("change_options", "disable_viewer_info", "edit_contents",
                  "enable_viewer_info", "invite_editor", "invite_viewer",
                  "invite_viewer_no_comment", "relinquish_membership", "unmount", "unshare",
                  "leave_a_copy", "share_link", "create_link", "create_view_link",
                  "create_edit_link", "set_access_inheritance")
MEMBER_ACTIONS = ("leave_a_copy", "make_editor", "make_owner", "make_viewer",
                  "make_viewer_no_comment", "remove")


# ---------------------------------------------------------------- helpers

def _access(tag, wrap=True):
    inner = {".tag": tag}
    return {".tag": "access_error", "access_error": inner} if wrap else inner


def _folder(ctx, sfid, wrap=True):
    sf = ctx.state.shared_folders.get(sfid)
    if sf is None:
        raise route_error(_access("invalid_id", wrap))
    return sf


def _tag(a, name, value, allowed):
    if value is None:
        return None
    t = a.union(name, value)[".tag"]
    if t not in allowed:
        a.fail(f'{name}: unknown tag "{t}"')
    return t


def _actions(a, name, value, allowed):
    if value is None:
        return None
    return [_tag(a, f"{name}[{i}]", v, allowed) for i, v in enumerate(value)]


def _email_ok(email):
    return len(email) <= 255 and re.fullmatch(EMAIL_PATTERN, email) is not None


def _selector(ctx, a, where, value):
    """MemberSelector -> ("email", e) | ("dropbox_id", id); bad patterns are 400s
    (or, with email_pattern_400 = 0, ("bad_email", e) for a 409 later)."""
    if value is None:
        a.fail(f"missing required field '{where}'")
    sel = a.union(where, value)
    t = sel[".tag"]
    if t not in ("email", "dropbox_id"):
        a.fail(f'{where}: unknown tag "{t}"')
    v = sel.get(t)
    if not isinstance(v, str):
        a.fail(f"{where}: missing required field '{t}'" if v is None
               else f"{where}.{t}: expected string")
    if t == "dropbox_id" and not v:
        a.fail(f"{where}.dropbox_id: '' needs to be at least 1 characters")
    if t == "email" and not _email_ok(v):
        if ctx.state.settings["email_pattern_400"]:
            a.fail(f"{where}.email: '{v}' did not match pattern '{EMAIL_PATTERN}'")
        return ("bad_email", v)
    return (t, v)


def _user_info(ctx, acct):
    me = ctx.account
    same = me.team is not None and me.team is acct.team
    d = {"account_id": acct.account_id, "email": acct.email,
         "display_name": acct.display_name, "same_team": same}
    if same:
        d["team_member_id"] = acct.team_member_id
    return d


def _time_of(sf, acct):
    m = sf.members.get(acct.account_id)
    if m is not None:
        return m.time
    key = sf.invite_key(acct)
    return sf.invitees[key].time if key is not None else sf.created


def folder_json(ctx, sf, actions=None):
    """SharedFolderMetadata as the caller sees it: no path_lower unless mounted."""
    st = ctx.state
    acct = ctx.account
    state, level = sf.level_of(acct)
    d = {"access_type": {".tag": level or "no_access"}, "is_inside_team_folder": False,
         "is_team_folder": False, "owner_display_names": [sf.owner.display_name]}
    if sf.owner.team is not None:
        d["owner_team"] = {"id": sf.owner.team.id, "name": sf.owner.team.name}
    node = sf.mount_of(acct)
    if node is not None:
        p = st.path_in_view(node, ctx.view, acct)
        if p is None:
            p = st.path_in_view(node, acct.home_ns, acct)
        if p is not None:
            d["path_lower"] = p.lower()
            d["path_display"] = p
    d["name"] = node.name if node is not None else sf.name
    if actions is not None:
        d["permissions"] = [{"action": {".tag": act},
                             "allow": _folder_allows(sf, acct, level, node, act)}
                            for act in actions]
    policy = {}
    if sf.owner.team is not None:
        policy["member_policy"] = {".tag": sf.policy["member_policy"]}
        policy["resolved_member_policy"] = {".tag": sf.policy["member_policy"]}
    policy["acl_update_policy"] = {".tag": sf.policy["acl_update_policy"]}
    policy["shared_link_policy"] = {".tag": sf.policy["shared_link_policy"]}
    policy["viewer_info_policy"] = {".tag": sf.policy["viewer_info_policy"]}
    d["policy"] = policy
    d["preview_url"] = sf.preview_url
    d["shared_folder_id"] = sf.id
    d["time_invited"] = iso(_time_of(sf, acct))
    d["access_inheritance"] = {".tag": sf.access_inheritance}
    d["folder_id"] = sf.folder_id
    return d


def _folder_allows(sf, acct, level, node, action):
    owner = level == "owner"
    manage = sf.can_manage(acct)
    if action in ("relinquish_membership", "leave_a_copy"):
        return not owner and level is not None
    if action == "unmount":
        return node is not None
    if action in ("edit_contents", "create_link", "create_view_link", "share_link"):
        return level in model.WRITE_LEVELS or action == "create_view_link"
    if action.startswith("invite_"):
        return manage
    return owner


def _cursor(ctx, kind, rec):
    cid = "ZtkX" + rand_str(56)
    rec.update(kind=kind, account_id=ctx.account.account_id)
    ctx.state.sharing_cursors[cid] = rec
    return cid


def _cursor_rec(ctx, cursor, kind, error):
    rec = ctx.state.sharing_cursors.get(cursor)
    if rec is None or rec["kind"] != kind or rec["account_id"] != ctx.account.account_id:
        raise route_error(error)
    return rec


# ---------------------------------------------------------------- share_folder

def _bad_path(tag, **extra):
    inner = {".tag": tag}
    inner.update(extra)
    return route_error({".tag": "bad_path", "bad_path": inner})


def _has_shared_mount(node):
    for child in node.dir().children.values():
        if child.mount is not None and child.mount.kind == "shared":
            return True
        if child.is_dir and child.mount is None and _has_shared_mount(child):
            return True
    return False


def _find_or_create(ctx, path):
    """The folder to share; missing folders (and parents) are created."""
    st = ctx.state
    acct = ctx.account
    start, comps = start_of(ctx, path, err=lambda t: {
        ".tag": "bad_path", "bad_path": {".tag": "invalid_path"}})
    cur = start
    i = 0
    while i < len(comps):
        if not cur.is_dir:
            raise _bad_path("invalid_path")
        nxt = cur.child(comps[i])
        if nxt is None:
            break
        if not st.visible(nxt, acct):
            raise route_error({".tag": "no_permission"})
        cur = nxt
        i += 1
    if i == len(comps):
        return cur
    if not cur.is_dir:
        raise _bad_path("invalid_path")
    if model.shared_folder_of_ns(st, cur.dir().ns) is not None:
        raise _bad_path("inside_shared_folder")
    for c in comps[i:]:
        if c.lower() in ("desktop.ini", "thumbs.db", ".ds_store", ".dropbox"):
            raise _bad_path("invalid_path")
        if not can_write(ctx, cur.dir()):
            raise route_error({".tag": "no_permission"})
        cur = st.make_child(cur.dir(), c, True)
    st.note("folder_created", "folders_created_by_share_folder", route="sharing/share_folder",
            account_id=acct.account_id, path=st.path_in_view(cur, ctx.view, acct))
    return cur


@route("sharing/share_folder", scope="sharing.write")
def share_folder(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"path": ("str", R), "force_async": ("bool", False),
                        "acl_update_policy": ("union", None), "member_policy": ("union", None),
                        "shared_link_policy": ("union", None),
                        "viewer_info_policy": ("union", None),
                        "access_inheritance": ("union", None), "actions": ("list", None),
                        "link_settings": ("struct", None)})
    check_path_arg(ctx, a, "path", arg["path"], RELOCATION_PATH)
    acl = _tag(a, "acl_update_policy", arg["acl_update_policy"], ACL_UPDATE)
    mp = _tag(a, "member_policy", arg["member_policy"], MEMBER_POLICY)
    slp = _tag(a, "shared_link_policy", arg["shared_link_policy"], SHARED_LINK)
    vip = _tag(a, "viewer_info_policy", arg["viewer_info_policy"], VIEWER_INFO)
    inh = _tag(a, "access_inheritance", arg["access_inheritance"], INHERITANCE) or "inherit"
    actions = _actions(a, "actions", arg["actions"], FOLDER_ACTIONS)
    st = ctx.state
    acct = ctx.account
    if not acct.email_verified:
        raise route_error({".tag": "email_unverified"})
    if not acct.can_share:
        raise route_error({".tag": "no_permission"})
    if acct.team is None and slp in ("members", "team"):
        raise route_error({".tag": "disallowed_shared_link_policy"})
    node = _find_or_create(ctx, arg["path"])
    if node.parent is None:
        raise _bad_path("invalid_path")
    if not node.is_dir:
        raise _bad_path("is_file")
    if node.mount is not None:
        sf = st.shared_folders.get(node.mount.id)
        if sf is None:                          # a team member's home folder
            raise _bad_path("invalid_path")
        err = {".tag": "bad_path", "bad_path": {".tag": "already_shared"}}
        err["bad_path"].update(folder_json(ctx, sf))
        raise api_error(409, err, tags=["bad_path", "already_shared"])
    if model.shared_folder_of_ns(st, node.ns) is not None:
        raise _bad_path("inside_shared_folder")
    if _has_shared_mount(node):
        raise _bad_path("contains_shared_folder")
    policy = {"acl_update_policy": acl or "owner", "shared_link_policy": slp or "anyone",
              "viewer_info_policy": vip or "enabled"}
    if acct.team is not None:
        policy["member_policy"] = mp or "anyone"
    if arg["force_async"] or st.settings["share_always_async"]:
        err = st.fail_next_job.pop("share", None)
        sf = None if err else model.share(st, acct, node, policy, inh)
        job = model.Job(st, "share", acct, int(st.settings["share_async_polls"]),
                        shared_folder_id=sf.id if sf else None, error=err)
        job.actions = actions
        st.jobs[job.id] = job
        return {".tag": "async_job_id", "async_job_id": job.id}
    sf = model.share(st, acct, node, policy, inh)
    out = {".tag": "complete"}
    out.update(folder_json(ctx, sf, actions))
    return out


# ---------------------------------------------------------------- jobs

def _job(ctx, arg, kind):
    a = Args(ctx.route)
    arg = a.check(arg, {"async_job_id": ("str", R)})
    if not arg["async_job_id"]:
        a.fail("async_job_id: '' needs to be at least 1 characters")
    job = ctx.state.jobs.get(arg["async_job_id"])
    if job is None or job.kind != kind or job.account_id != ctx.account.account_id:
        raise route_error({".tag": "invalid_async_job_id"})
    job.polls += 1
    if job.state == "in_progress":
        if job.polls_left > 0:
            job.polls_left -= 1
        else:
            _finish(ctx.state, job)
    return job


def _finish(st, job):
    if job.error is not None:
        job.state = "failed"
        return
    if job.kind == "remove":
        sf = st.shared_folders.get(job.shared_folder_id)
        err = model.remove(st, sf, job.target, job.leave_a_copy) if sf is not None \
            else {".tag": "access_error", "access_error": {".tag": "invalid_id"}}
        if err is not None:
            job.error = err
            job.state = "failed"
            return
    job.state = "complete"


@route("sharing/check_share_job_status", scope="sharing.write")
def check_share_job_status(ctx, arg):
    job = _job(ctx, arg, "share")
    if job.state == "in_progress":
        return {".tag": "in_progress"}
    if job.state == "failed":
        return {".tag": "failed", "failed": job.error}
    out = {".tag": "complete"}
    out.update(folder_json(ctx, ctx.state.shared_folders[job.shared_folder_id],
                           getattr(job, "actions", None)))
    return out


@route("sharing/check_remove_member_job_status", scope="sharing.write")
def check_remove_member_job_status(ctx, arg):
    job = _job(ctx, arg, "remove")
    if job.state == "in_progress":
        return {".tag": "in_progress"}
    if job.state == "failed":
        return {".tag": "failed", "failed": job.error}
    return {".tag": "complete"}         # MemberAccessLevelResult: every field optional


@route("sharing/check_job_status", scope="sharing.write")
def check_job_status(ctx, arg):
    job = _job(ctx, arg, "remove")
    if job.state == "in_progress":
        return {".tag": "in_progress"}
    if job.state == "failed":
        return {".tag": "failed", "failed": {".tag": "remove_folder_member_error",
                                             "remove_folder_member_error": job.error}}
    return {".tag": "complete"}


# ---------------------------------------------------------------- members

@route("sharing/add_folder_member", scope="sharing.write")
def add_folder_member(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"shared_folder_id": ("str", R), "members": ("list", R),
                        "quiet": ("bool", False), "custom_message": ("str", None)})
    a.pattern("shared_folder_id", arg["shared_folder_id"], SHARED_FOLDER_ID)
    if arg["custom_message"] is not None and len(arg["custom_message"]) < 1:
        a.fail("custom_message: '' needs to be at least 1 characters")
    st = ctx.state
    parsed = []
    for i, m in enumerate(arg["members"]):
        where = f"members[{i}]"
        if not isinstance(m, dict):
            a.fail(f"{where}: expected object")
        for k in m:
            if k not in ("member", "access_level"):
                a.fail(f"{where}: unknown field '{k}'")
        if m.get("member") is None:
            a.fail(f"{where}: missing required field 'member'")
        sel = _selector(ctx, a, f"{where}.member", m["member"])
        # The current spec gives access_level no default (the old one said viewer):
        # a client must always send it, so a missing one is refused here.
        if m.get("access_level") is None:
            a.fail(f"{where}: missing required field 'access_level'")
        level = _tag(a, f"{where}.access_level", m["access_level"], model.ACCESS_LEVELS)
        if level == "owner":
            a.fail(f"{where}.access_level: AccessLevel.owner is disallowed")
        parsed.append((sel, level))
    acct = ctx.account
    if not acct.email_verified:
        raise route_error({".tag": "email_unverified"})
    sf = _folder(ctx, arg["shared_folder_id"])
    state, _ = sf.level_of(acct)
    if state != "member":
        raise route_error(_access("not_a_member"))
    if not sf.can_manage(acct):
        raise route_error({".tag": "no_permission"})

    def bad_member(tag, value):
        return route_error({".tag": "bad_member", "bad_member": {".tag": tag, tag: value}})

    resolved = []
    for (kind, value), level in parsed:
        if kind in ("email", "bad_email"):
            if kind == "bad_email" or value.lower() in st.invalid_emails:
                raise bad_member("invalid_email", value)
            target, email = st.account_by_email(value), value
        else:
            target = st.accounts.get(value)
            if target is None:
                raise bad_member("invalid_dropbox_id", value)
            if not target.email_verified:
                raise bad_member("unverified_dropbox_id", value)
            email = target.email
        if sf.policy.get("member_policy") == "team" and \
                (target is None or target.team is not sf.owner.team):
            raise route_error({".tag": "cant_share_outside_team"})
        resolved.append((email, target, level))
    new = []
    seen = set()
    for email, target, level in resolved:
        key = email.lower()
        if key in seen:
            continue
        seen.add(key)
        known = key in sf.invitees or sf.member_by_email(email) is not None or (
            target is not None and (target.account_id in sf.members or
                                    sf.invite_key(target) is not None))
        if not known:
            new.append((email, target, level))
    s = st.settings
    if new:
        if len(sf.members) + len(sf.invitees) + len(new) > s["folder_member_limit"]:
            raise route_error({".tag": "too_many_members",
                               "too_many_members": int(s["folder_member_limit"])})
        if len(sf.invitees) + len(new) > s["pending_invite_limit"]:
            raise route_error({".tag": "too_many_pending_invites",
                               "too_many_pending_invites": int(s["pending_invite_limit"])})
        since = st.now() - 86400
        recent = sum(1 for inv in st.invitations
                     if inv["inviter"] == acct.account_id and inv["time"] > since)
        if recent + len(new) > s["daily_invite_limit"]:
            raise route_error({".tag": "rate_limit"})
    for email, target, level in new:
        model.invite(st, sf, acct, email, target, level, arg["quiet"], arg["custom_message"])
    return None


def _member_entries(ctx, sf, actions):
    acct = ctx.account
    manage = sf.can_manage(acct)

    def perms(level, target_is_me):
        if actions is None:
            return None
        return [{"action": {".tag": act},
                 "allow": manage and level != "owner" and not target_is_me}
                for act in actions]

    def entry(level, me):
        d = {"access_type": {".tag": level}}
        p = perms(level, me)
        if p is not None:
            d["permissions"] = p
        d["is_inherited"] = False
        return d

    items = []
    members = sorted(sf.members.values(), key=lambda m: (m.access_level != "owner", m.time))
    for m in members:
        d = entry(m.access_level, m.account is acct)
        d["user"] = _user_info(ctx, m.account)
        items.append(("users", d))
    for inv in sf.invitees.values():
        d = entry(inv.access_level, False)
        d["invitee"] = {".tag": "email", "email": inv.email}
        target = inv.account or ctx.state.account_by_email(inv.email)
        if target is not None:
            d["user"] = _user_info(ctx, target)
        items.append(("invitees", d))
    return items


def _members_page(ctx, sfid, items, limit):
    out = {"users": [], "groups": [], "invitees": []}
    for where, d in items[:limit]:
        out[where].append(d)
    if len(items) > limit:
        out["cursor"] = _cursor(ctx, "members", {"items": items[limit:], "limit": limit,
                                                 "shared_folder_id": sfid})
    return out


@route("sharing/list_folder_members", scope="sharing.read")
def list_folder_members(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"shared_folder_id": ("str", R), "path": ("str", None),
                        "actions": ("list", None), "limit": ("int", 1000)})
    a.pattern("shared_folder_id", arg["shared_folder_id"], SHARED_FOLDER_ID)
    a.int_range("limit", arg["limit"], 1, 1000)
    actions = _actions(a, "actions", arg["actions"], MEMBER_ACTIONS)
    sf = _folder(ctx, arg["shared_folder_id"], wrap=False)
    if sf.level_of(ctx.account)[0] != "member":
        raise route_error({".tag": "not_a_member"})
    # A page holds at most `limit` entries; Dropbox may send fewer (the setting).
    limit = max(1, int(min(arg["limit"], ctx.state.settings["list_folder_members_page_max"])))
    return _members_page(ctx, sf.id, _member_entries(ctx, sf, actions), limit)


@route("sharing/list_folder_members/continue", scope="sharing.read")
def list_folder_members_continue(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"cursor": ("str", R)})
    rec = _cursor_rec(ctx, arg["cursor"], "members", {".tag": "invalid_cursor"})
    sf = ctx.state.shared_folders.get(rec["shared_folder_id"])
    if sf is None:
        raise route_error(_access("invalid_id"))
    if sf.level_of(ctx.account)[0] != "member":
        raise route_error(_access("not_a_member"))
    return _members_page(ctx, sf.id, rec["items"], rec["limit"])


@route("sharing/remove_folder_member", scope="sharing.write")
def remove_folder_member(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"shared_folder_id": ("str", R), "member": ("union", R),
                        "leave_a_copy": ("bool", R)})
    a.pattern("shared_folder_id", arg["shared_folder_id"], SHARED_FOLDER_ID)
    target = _selector(ctx, a, "member", arg["member"])
    st = ctx.state
    acct = ctx.account
    sf = _folder(ctx, arg["shared_folder_id"])
    if sf.level_of(acct)[0] != "member":
        raise route_error(_access("not_a_member"))
    if not sf.can_manage(acct):
        raise route_error({".tag": "no_permission"})
    if target[0] == "bad_email":
        target = ("email", target[1])
    what, who = model.find_target(st, sf, target)
    if what is None:
        tag = "invalid_dropbox_id" if target[0] == "dropbox_id" and \
            target[1] not in st.accounts else "not_a_member"
        raise route_error({".tag": "member_error", "member_error": {".tag": tag}})
    if what == "member" and who.access_level == "owner":
        raise route_error({".tag": "folder_owner"})
    job = model.Job(st, "remove", acct, int(st.settings["remove_polls"]),
                    shared_folder_id=sf.id, target=target, leave_a_copy=arg["leave_a_copy"],
                    error=st.fail_next_job.pop("remove", None))
    st.jobs[job.id] = job
    return {".tag": "async_job_id", "async_job_id": job.id}


# ---------------------------------------------------------------- mounting, listing

@route("sharing/mount_folder", scope="sharing.write")
def mount_folder(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"shared_folder_id": ("str", R)})
    a.pattern("shared_folder_id", arg["shared_folder_id"], SHARED_FOLDER_ID)
    st = ctx.state
    acct = ctx.account
    sf = _folder(ctx, arg["shared_folder_id"])
    state, _ = sf.level_of(acct)
    if state is None:
        raise route_error(_access("not_a_member"))
    if sf.mount_of(acct) is not None:
        raise route_error({".tag": "already_mounted"})
    if acct.mount_mode in ("must_automount", "automount"):
        raise route_error({".tag": "must_automount"})
    if acct.mount_mode == "not_mountable":
        raise route_error({".tag": "not_mountable"})
    if state == "invitee":
        model.accept(st, sf, acct)
    model.mount(st, sf, acct)
    return folder_json(ctx, sf)


def _folders_page(ctx, kind, items, limit, actions):
    st = ctx.state
    out = []
    for sfid in items[:limit]:
        sf = st.shared_folders.get(sfid)
        if sf is not None and sf.level_of(ctx.account)[0] is not None:
            out.append(folder_json(ctx, sf, actions))
    res = {"entries": out}
    if len(items) > limit:
        res["cursor"] = _cursor(ctx, kind, {"items": items[limit:], "limit": limit,
                                            "actions": actions})
    return res


def _list_folders(ctx, arg, kind):
    a = Args(ctx.route)
    arg = a.check(arg, {"limit": ("int", 1000), "actions": ("list", None)})
    a.int_range("limit", arg["limit"], 1, 1000)
    actions = _actions(a, "actions", arg["actions"], FOLDER_ACTIONS)
    acct = ctx.account
    ids = []
    for sf in ctx.state.shared_folders.values():
        state, level = sf.level_of(acct)
        if kind == "folders" and state == "member":
            ids.append(sf.id)
        elif kind == "mountable" and state is not None and level != "owner":
            ids.append(sf.id)
    return _folders_page(ctx, kind, ids, arg["limit"], actions)


def _list_folders_continue(ctx, arg, kind):
    a = Args(ctx.route)
    arg = a.check(arg, {"cursor": ("str", R)})
    rec = _cursor_rec(ctx, arg["cursor"], kind, {".tag": "invalid_cursor"})
    return _folders_page(ctx, kind, rec["items"], rec["limit"], rec["actions"])


@route("sharing/list_folders", scope="sharing.read")
def list_folders(ctx, arg):
    return _list_folders(ctx, arg, "folders")


@route("sharing/list_folders/continue", scope="sharing.read")
def list_folders_continue(ctx, arg):
    return _list_folders_continue(ctx, arg, "folders")


@route("sharing/list_mountable_folders", scope="sharing.read")
def list_mountable_folders(ctx, arg):
    return _list_folders(ctx, arg, "mountable")


@route("sharing/list_mountable_folders/continue", scope="sharing.read")
def list_mountable_folders_continue(ctx, arg):
    return _list_folders_continue(ctx, arg, "mountable")


@route("sharing/get_folder_metadata", scope="sharing.read")
def get_folder_metadata(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"shared_folder_id": ("str", R), "actions": ("list", None)})
    a.pattern("shared_folder_id", arg["shared_folder_id"], SHARED_FOLDER_ID)
    actions = _actions(a, "actions", arg["actions"], FOLDER_ACTIONS)
    sf = _folder(ctx, arg["shared_folder_id"], wrap=False)
    if sf.level_of(ctx.account)[0] is None:
        raise route_error({".tag": "not_a_member"})
    return folder_json(ctx, sf, actions)

