"""The shared-folder model (dropbox-api.md §4.11-§4.15, §6 items 13-17), used by the
sharing routes and the control API. Callers hold State.lock.

A shared folder is a namespace of kind "shared" whose id is also its shared_folder_id.
Sharing a folder moves its children into that namespace and turns the folder itself
into the owner's mount point. Every member who mounts it gets a folder in their home
that mounts the same namespace; all mount points carry the same folder id. Invitees
(pending invitations) are keyed by lower-case email; accepting one (mount_folder, the
control route accept_invite, or the automount mode) makes the account a member.
"""

from .state import ALNUM, rand_str

WRITE_LEVELS = ("owner", "editor")
ACCESS_LEVELS = ("owner", "editor", "viewer", "viewer_no_comment", "traverse", "no_access")


class Member:
    def __init__(self, account, access_level, time):
        self.account = account
        self.access_level = access_level
        self.time = time


class Invitee:
    def __init__(self, email, access_level, time, account=None):
        self.email = email
        self.access_level = access_level
        self.time = time
        self.account = account      # the account with that email, when one exists


class SharedFolder:
    def __init__(self, st, ns, owner, name, folder_id, policy, access_inheritance):
        self.id = ns.id
        self.ns = ns
        self.owner = owner
        self.name = name
        self.folder_id = folder_id  # the id of every mount point of this folder
        self.policy = policy        # {acl_update_policy, shared_link_policy, ...}: tags
        self.access_inheritance = access_inheritance
        self.created = st.now()
        self.preview_url = "https://www.dropbox.com/scl/fo/%s/%s?dl=0" % (
            rand_str(21).lower(), rand_str(25))
        self.members = {}           # account_id -> Member (the owner included)
        self.invitees = {}          # lower-case email -> Invitee
        self.mounts = {}            # account_id -> mount point Node

    def level_of(self, account):
        """(state, access level): state "member", "invitee" or None."""
        m = self.members.get(account.account_id)
        if m is not None:
            return "member", m.access_level
        key = self.invite_key(account)
        if key is not None:
            return "invitee", self.invitees[key].access_level
        return None, None

    def invite_key(self, account):
        for key, inv in self.invitees.items():
            if inv.account is account or key == account.email.lower():
                return key
        return None

    def member_by_email(self, email):
        want = email.lower()
        for m in self.members.values():
            if m.account.email.lower() == want:
                return m
        return None

    def can_manage(self, account):
        """Owner, or editor when the ACL update policy is editors."""
        m = self.members.get(account.account_id)
        if m is None:
            return False
        if m.access_level == "owner":
            return True
        return m.access_level == "editor" and self.policy["acl_update_policy"] == "editors"

    def mount_of(self, account):
        node = self.mounts.get(account.account_id)
        return None if node is None or node.deleted else node


class Job:
    def __init__(self, st, kind, account, polls, shared_folder_id=None, target=None,
                 leave_a_copy=False, error=None):
        self.id = "dbjid:" + rand_str(40, ALNUM + "-_")
        self.kind = kind            # "share" | "remove"
        self.account_id = account.account_id
        self.polls_left = polls
        self.polls = 0
        self.state = "in_progress"  # | "complete" | "failed"
        self.shared_folder_id = shared_folder_id
        self.target = target        # remove: ("email", e) | ("dropbox_id", id)
        self.leave_a_copy = leave_a_copy
        self.error = error          # forced failure (fail_next_job), then the failure
        self.created = st.now()

    def to_json(self):
        return {"async_job_id": self.id, "kind": self.kind, "account_id": self.account_id,
                "state": self.state, "polls": self.polls, "polls_left": self.polls_left,
                "shared_folder_id": self.shared_folder_id, "error": self.error}


def shared_folder_of_ns(st, ns):
    return st.shared_folders.get(ns.id) if ns.kind == "shared" else None


def free_name(parent_dir, name):
    if name.lower() not in parent_dir.children:
        return name
    n = 1
    while f"{name} ({n})".lower() in parent_dir.children:
        n += 1
    return f"{name} ({n})"


def _reparent_ns(node, ns):
    node.ns = ns
    if node.is_dir and node.mount is None:
        for c in node.children.values():
            _reparent_ns(c, ns)


def share(st, account, node, policy, access_inheritance):
    """Turn the folder node into a shared folder owned by account."""
    ns = st.new_namespace("shared", owner=account)
    ns.root.name = node.name
    for key, child in list(node.children.items()):
        child.parent = ns.root
        ns.root.children[key] = child
        _reparent_ns(child, ns)
    node.children = {}
    node.mount = ns
    ns.mount_points.append(node)
    sf = SharedFolder(st, ns, account, node.name, node.id, policy, access_inheritance)
    sf.members[account.account_id] = Member(account, "owner", sf.created)
    sf.mounts[account.account_id] = node
    account.shared_ns[ns.id] = ns
    st.shared_folders[sf.id] = sf
    st.record_change(node)
    st.note("folder_shared", "folders_shared", account_id=account.account_id,
            shared_folder_id=sf.id, path=st.path_in_view(node, account.home_ns, account))
    return sf


def invite(st, sf, inviter, email, account, access_level, quiet, custom_message):
    """Invite email (account: the account it names, if any). False when it already is a
    member or invitee: nothing is sent again."""
    key = email.lower()
    if account is not None and account.account_id in sf.members:
        return False
    if key in sf.invitees or sf.member_by_email(email) is not None:
        return False
    if account is not None and sf.invite_key(account) is not None:
        return False
    now = st.now()
    sf.invitees[key] = Invitee(email, access_level, now, account)
    st.invitations.append({
        "seq": len(st.invitations) + 1, "shared_folder_id": sf.id, "email": email,
        "account_id": account.account_id if account is not None else None,
        "access_level": access_level, "quiet": quiet, "custom_message": custom_message,
        "time": now, "inviter": inviter.account_id})
    st.note("invitation_sent", "invitations_sent", shared_folder_id=sf.id, email=email,
            access_level=access_level, inviter=inviter.account_id)
    if account is not None and account.mount_mode == "automount":
        accept(st, sf, account)
        mount(st, sf, account)
    return True


def accept(st, sf, account):
    """The invitee account becomes a member (not mounted)."""
    key = sf.invite_key(account)
    if key is None:
        return False
    inv = sf.invitees.pop(key)
    sf.members[account.account_id] = Member(account, inv.access_level, inv.time)
    account.shared_ns[sf.ns.id] = sf.ns
    st.note("member_added", "members_added", shared_folder_id=sf.id,
            account_id=account.account_id, email=inv.email)
    return True


def mount(st, sf, account):
    """Mount sf at the top of the account's home, renamed "name (1)" on a clash."""
    home = account.home_ns.root
    name = free_name(home, sf.name)
    node = st.make_child(home, name, True)
    st.nodes_by_id.pop(node.id, None)
    node.id = sf.folder_id          # one folder id for every mount point
    node.mount = sf.ns
    sf.ns.mount_points.append(node)
    sf.mounts[account.account_id] = node
    # For this member everything inside appears now, below the new mount point.
    for child in st.iter_tree(node, True):
        st.record_change(child, audience=account.account_id)
    st.note("mount", "mounts", shared_folder_id=sf.id, account_id=account.account_id,
            path="/" + name)
    return node


def copy_tree(st, src, parent_dir, name, counts):
    """Copy src (a file, or a folder and everything below it, mounts not followed) as
    parent_dir/name. File contents are shared, so generated blobs stay generated."""
    if src.is_dir:
        new = st.make_child(parent_dir, name, True)
        counts["folders"] += 1
        for child in list(src.dir().children.values()):
            if child.mount is None:
                copy_tree(st, child, new, child.name, counts)
        return new
    counts["files"] += 1
    return st.make_child(parent_dir, name, False, src.content, src.client_modified)


def find_target(st, sf, target):
    """The member or invitee a MemberSelector names: ("member", Member) |
    ("invitee", key) | (None, None)."""
    kind, value = target
    if kind == "dropbox_id":
        acct = st.accounts.get(value)
        if acct is None:
            return None, None
        if acct.account_id in sf.members:
            return "member", sf.members[acct.account_id]
        key = sf.invite_key(acct)
        return ("invitee", key) if key is not None else (None, None)
    m = sf.member_by_email(value)
    if m is not None:
        return "member", m
    if value.lower() in sf.invitees:
        return "invitee", value.lower()
    return None, None


def remove(st, sf, target, leave_a_copy):
    """Apply a removal. Returns None, or the RemoveFolderMemberError of a failure."""
    what, who = find_target(st, sf, target)
    if what is None:
        return {".tag": "member_error", "member_error": {".tag": "not_a_member"}}
    if what == "invitee":
        inv = sf.invitees.pop(who)
        st.note("invitee_removed", "invitees_removed", shared_folder_id=sf.id,
                email=inv.email)
        return None
    if who.access_level == "owner":
        return {".tag": "folder_owner"}
    acct = who.account
    del sf.members[acct.account_id]
    acct.shared_ns.pop(sf.ns.id, None)
    node = sf.mounts.pop(acct.account_id, None)
    if node is not None and not node.deleted:
        parent, name = node.parent, node.name
        if node in sf.ns.mount_points:
            sf.ns.mount_points.remove(node)
        st.delete_node(node)
        if leave_a_copy:
            counts = {"files": 0, "folders": 0}
            copy = st.make_child(parent, name, True)
            for child in list(sf.ns.root.children.values()):
                copy_tree(st, child, copy, child.name, counts)
            st.note("copy_left", "copies_left", shared_folder_id=sf.id,
                    account_id=acct.account_id, files=counts["files"])
    st.note("member_removed", "members_removed", shared_folder_id=sf.id,
            account_id=acct.account_id, email=acct.email)
    return None


def control_json(st, sf):
    """What GET /__control/shared_folders shows of a folder."""
    def home_path(node):
        return st.path_in_view(node, node.ns) if node is not None else None
    owner_node = sf.mount_of(sf.owner)
    return {
        "id": sf.id, "shared_folder_id": sf.id, "namespace_id": sf.ns.id, "name": sf.name,
        "folder_id": sf.folder_id, "owner": sf.owner.account_id,
        "path": home_path(owner_node),
        "policy": dict(sf.policy), "access_inheritance": sf.access_inheritance,
        "created": sf.created,
        "members": [{"account_id": m.account.account_id, "email": m.account.email,
                     "access_level": m.access_level, "time": m.time}
                    for m in sf.members.values()],
        "invitees": [{"email": i.email, "access_level": i.access_level, "time": i.time,
                      "account_id": i.account.account_id if i.account else None}
                     for i in sf.invitees.values()],
        "mounts": [{"account_id": aid, "path": home_path(n),
                    "path_lower": home_path(n).lower()}
                   for aid, n in sf.mounts.items() if not n.deleted],
    }
