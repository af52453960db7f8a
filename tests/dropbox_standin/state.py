"""Everything the stand-in remembers: apps, accounts, teams, namespaces and their
files, OAuth codes and tokens, temporary links, cursors, faults, calls and the clock;
for sharing, shared folders, jobs, the invitation log and side-effect counts (the
shared-folder model itself is in sharing.py).

One State per server; every route runs with State.lock held (except streaming bodies
and hangs), so the model needs no finer locking.
"""

import collections
import itertools
import random
import secrets
import string
import threading
import time
import weakref

from . import blobs, uploads

ALL_SCOPES = [
    "account_info.read", "account_info.write",
    "files.metadata.read", "files.metadata.write",
    "files.content.read", "files.content.write",
    "sharing.read", "sharing.write",
    "file_requests.read", "file_requests.write",
    "contacts.read", "contacts.write",
]

DEFAULT_SETTINGS = {
    "token_ttl": 14400,          # expires_in of access tokens, seconds
    "link_ttl": 14400,           # temporary link lifetime, seconds
    "code_ttl": 600,             # authorization code lifetime, seconds
    "zip_max_bytes": 20 * 10**9 - 1,       # download_zip: total file bytes allowed
    "zip_max_file_bytes": 4 * 10**9 - 1,   # download_zip: largest single file allowed
    "zip_max_entries": 9999,     # download_zip: entries allowed (files + folders + top)
    "list_folder_default_limit": 2000,
    "list_folder_page_max": 2000,    # entries per page at most (limit is approximate)
    "list_folder_members_page_max": 1000,   # sharing/list_folder_members: entries per page
    # temporary links: the Content-Disposition they answer with, which Dropbox does
    # not document: 0 inline, 1 attachment with the file name, 2 none at all
    "templink_disposition": 0,
    # sharing (dropbox-api.md §4.10-§4.15)
    "share_always_async": 0,     # 1: every share_folder answers async_job_id
    "share_async_polls": 2,      # check_share_job_status answers in_progress this often
    "remove_polls": 2,           # remove_folder_member jobs: in_progress polls
    "copy_max_entries": 10000,   # copy_v2: entries allowed (inclusive), else too_many_files
    "folder_member_limit": 1000,     # members + invitees per folder: too_many_members
    "pending_invite_limit": 1000,    # invitees per folder: too_many_pending_invites
    "daily_invite_limit": 1000,      # invitations per inviter per 24 h: rate_limit
    "email_pattern_400": 1,      # 1: an email failing common.EmailAddress is a 400 (Stone);
                                 # 0: it is a 409 bad_member/invalid_email instead
    # uploads (dropbox-api.md §4.8, §4.9)
    "upload_max_request_bytes": 150 << 20,  # body of one upload call: payload_too_large
    "upload_max_file_bytes": (1 << 41) - (1 << 22),     # session total: too_large
    "upload_session_ttl": 7 * 86400,        # seconds a session lives: then not_found
}

ALNUM = string.ascii_letters + string.digits


def rand_str(n, alphabet=ALNUM):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# ---------------------------------------------------------------- file system

class Node:
    """A file or folder inside one namespace. A folder may mount another namespace
    (team member home inside the team root, later shared folders)."""

    def __init__(self, st, ns, name, parent, is_dir, content=None, client_modified=None):
        self.id = "id:" + rand_str(22)
        self.ns = ns
        self.name = name
        self.parent = parent
        self.is_dir = is_dir
        self.children = {} if is_dir else None
        self.mount = None
        self.deleted = False
        self.content = content
        now = st.now()
        self.server_modified = now
        self.client_modified = client_modified if client_modified is not None else now
        self.rev = None
        if not is_dir:
            self.rev = st.new_rev(self)
        st.nodes_by_id[self.id] = self

    @property
    def size(self):
        return self.content.size if self.content is not None else 0

    def dir(self):
        """The folder whose children this node shows (the mounted root for a mount)."""
        return self.mount.root if self.mount is not None else self

    def child(self, name):
        return self.dir().children.get(name.lower())


class Namespace:
    def __init__(self, st, ns_id, kind, owner=None):
        self.id = ns_id
        self.kind = kind            # "home" | "team_root" | "shared"
        self.owner = owner
        self.root = Node(st, self, "", None, True)
        self.mount_points = []      # folder nodes (in other namespaces) mounting this one


# ---------------------------------------------------------------- accounts & auth

class App:
    def __init__(self, client_id, client_secret, redirect_uris=None, require_pkce=False,
                 scopes=None):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = redirect_uris      # None: any redirect_uri is accepted
        self.require_pkce = require_pkce
        self.scopes = list(scopes or ALL_SCOPES)

    def to_json(self):
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "redirect_uris": self.redirect_uris, "require_pkce": self.require_pkce,
                "scopes": self.scopes}


class Team:
    def __init__(self, st, name):
        self.id = "dbtid:" + rand_str(40, ALNUM + "-_")
        self.name = name
        self.root_ns = st.new_namespace("team_root", owner=self)
        self.members = []


class Account:
    def __init__(self, st, email, display_name, team=None, home_path=None,
                 account_type=None, email_verified=True, team_admin=False,
                 country="US", locale="en"):
        self.account_id = "dbid:" + rand_str(40, ALNUM + "-_")
        self.uid = str(next(st.uid_counter))
        self.email = email
        self.display_name = display_name
        self.email_verified = email_verified
        self.country = country
        self.locale = locale
        self.disabled = False
        self.team = team
        self.team_admin = team_admin
        self.team_member_id = None
        self.home_ns = st.new_namespace("home", owner=self)
        self.shared_ns = {}         # id -> Namespace of the shared folders it is a member of
        self.mount_mode = "normal"  # normal | must_automount | automount | not_mountable
        self.can_share = True       # False: share_folder answers no_permission
        self.home_path = None
        self.home_mount = None
        self.team_space = True      # False: a team without a team space (root_info user)
        if team is not None:
            self.team_member_id = "dbmid:" + rand_str(40, ALNUM + "-_")
            self.account_type = account_type or "business"
            self.home_path = home_path or ("/" + display_name)
            team.members.append(self)
            self.home_mount = st.mount_at(team.root_ns, self.home_path, self.home_ns)
        else:
            self.account_type = account_type or "basic"

    @property
    def root_ns(self):
        return self.team.root_ns if self.team is not None and self.team_space else self.home_ns

    def root_info(self):
        if self.team is not None and self.team_space:
            return {".tag": "team", "root_namespace_id": self.team.root_ns.id,
                    "home_namespace_id": self.home_ns.id, "home_path": self.home_path}
        return {".tag": "user", "root_namespace_id": self.home_ns.id,
                "home_namespace_id": self.home_ns.id}

    def accessible_namespaces(self):
        out = {self.home_ns.id: self.home_ns}
        if self.team is not None:
            out[self.team.root_ns.id] = self.team.root_ns
        out.update(self.shared_ns)
        return out

    def name_json(self):
        parts = self.display_name.split()
        given = parts[0] if parts else ""
        surname = " ".join(parts[1:])
        abbrev = "".join(p[0] for p in parts[:2]).upper()
        return {"given_name": given, "surname": surname, "familiar_name": given,
                "display_name": self.display_name, "abbreviated_name": abbrev}

    def to_json(self):
        d = {"account_id": self.account_id, "uid": self.uid, "email": self.email,
             "display_name": self.display_name, "account_type": self.account_type,
             "home_namespace_id": self.home_ns.id, "root_namespace_id": self.root_ns.id,
             "email_verified": self.email_verified, "team": None,
             "mount_mode": self.mount_mode, "can_share": self.can_share}
        if self.team is not None:
            d["team"] = {"id": self.team.id, "name": self.team.name,
                         "team_member_id": self.team_member_id,
                         "home_path": self.home_path, "team_admin": self.team_admin}
        return d


class Code:
    def __init__(self, st, app, account, redirect_uri, challenge, method, access_type,
                 scopes):
        self.code = rand_str(43, ALNUM + "-_")
        self.client_id = app.client_id
        self.account_id = account.account_id
        self.redirect_uri = redirect_uri
        self.challenge = challenge
        self.method = method
        self.access_type = access_type
        self.scopes = scopes
        self.created = st.now()
        self.used = False


class RefreshToken:
    def __init__(self, st, client_id, account_id, scopes, pkce):
        self.token = rand_str(64, ALNUM + "-_")
        self.client_id = client_id
        self.account_id = account_id
        self.scopes = scopes
        self.pkce = pkce            # obtained by a PKCE exchange: refresh without secret
        self.revoked = False
        self.issued = st.now()


class AccessToken:
    def __init__(self, st, client_id, account_id, scopes, refresh=None):
        self.token = "sl." + rand_str(140, ALNUM + "-_")
        self.client_id = client_id
        self.account_id = account_id
        self.scopes = scopes
        self.refresh = refresh      # RefreshToken it came from, or None
        self.issued = st.now()
        self.expires_at = self.issued + st.settings["token_ttl"]
        self.revoked = False


class Link:
    def __init__(self, st, node):
        self.id = rand_str(40, ALNUM + "-_")
        self.node_id = node.id
        self.name = node.name
        self.content = node.content     # the bytes at the time the link was made
        self.rev = node.rev
        self.created = st.now()
        self.expires_at = self.created + st.settings["link_ttl"]


class Fault:
    KINDS = ("429", "429_write", "429_text", "500", "503", "hang", "malformed_json",
             "drop", "409_write_contention", "incorrect_offset", "expired_token",
             "cursor_reset", "rate_limit")
    # kinds that only some routes can answer; a "*" fault skips the others
    ONLY_ROUTES = {"incorrect_offset": ("files/upload_session/append_v2",
                                        "files/upload_session/finish"),
                   "cursor_reset": ("files/list_folder/continue",),
                   "rate_limit": ("sharing/add_file_member",)}

    def __init__(self, fid, route, kind, count=1, retry_after=None, hang_seconds=30,
                 match=None, after=0):
        self.id = fid
        self.after = after          # matching calls let through before the fault acts
        self.route = route
        self.kind = kind
        self.count = count
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.match = match
        self.hits = 0

    def to_json(self):
        return {"id": self.id, "route": self.route, "kind": self.kind, "count": self.count,
                "retry_after": self.retry_after, "hang_seconds": self.hang_seconds,
                "match": self.match, "hits": self.hits, "after": self.after}


# ---------------------------------------------------------------- the state

class State:
    def __init__(self, spool_dir=None):
        self.lock = threading.RLock()
        # upload bodies, session data and uploaded files live here, never in memory
        self.spool_dir = uploads.make_spool_dir(spool_dir)
        self.upload_sessions = {}
        self.stored_contents = weakref.WeakSet()
        self.reset()

    def close(self):
        """Remove the spool directory (the server is going away)."""
        with self.lock:
            uploads.discard_all(self)
            uploads.remove_spool_dir(self.spool_dir)

    def reset(self):
        with self.lock:
            self.clock_offset = 0.0
            self.settings = dict(DEFAULT_SETTINGS)
            self.ns_counter = itertools.count(random.randint(1000, 9000) * 1000 + 1)
            self.uid_counter = itertools.count(random.randint(10, 90) * 10**6 + 1)
            self.rev_counter = itertools.count(1)
            self.apps = {}
            self.accounts = {}
            self.teams = {}
            self.namespaces = {}
            self.nodes_by_id = {}
            self.nodes_by_rev = {}
            self.codes = {}
            self.access_tokens = {}
            self.refresh_tokens = {}
            self.refresh_grants = 0     # access tokens issued by the refresh_token grant
            self.links = {}
            self.cursors = {}
            self.change_seq = 0
            self.changes = []           # (seq, node)
            self.change_audience = {}   # seq -> account_id, for changes only it sees
            self.next_account_id = None
            self.deny_next = None
            self.fault_ids = itertools.count(1)
            self.faults = []
            old = getattr(self, "hang_release", None)
            if old is not None:
                old.set()
            self.hang_release = threading.Event()
            self.call_counts = collections.Counter()
            self.call_log = collections.deque(maxlen=2000)
            self.call_seq = itertools.count(1)
            # sharing
            self.shared_folders = {}    # shared_folder_id (= namespace id) -> SharedFolder
            self.jobs = {}              # async_job_id -> Job
            self.invitations = []       # every invitation sent, oldest first
            self.invalid_emails = set()     # lower-case emails answered invalid_email
            self.fail_next_job = {}     # "share" | "remove" -> error union for the next job
            self.sharing_cursors = {}
            self.file_members = {}      # file node id -> lower-case email -> FileMember
            self.side_effects = collections.Counter()
            self.side_effect_log = collections.deque(maxlen=5000)
            self.side_effect_seq = itertools.count(1)
            # uploads
            uploads.discard_all(self)
            self.upload_sessions = {}   # session_id -> uploads.UploadSession
            self.uploaded_files = []    # every commit of files/upload and finish
            self.upload_seq = itertools.count(1)
            self.add_app("pdshare-test-app", "pdshare-test-secret")

    # ---- clock
    def now(self):
        return time.time() + self.clock_offset

    # ---- apps, accounts
    def add_app(self, client_id, client_secret, **kw):
        app = App(client_id, client_secret, **kw)
        self.apps[client_id] = app
        return app

    def new_namespace(self, kind, owner=None):
        ns = Namespace(self, str(next(self.ns_counter)), kind, owner)
        self.namespaces[ns.id] = ns
        return ns

    def add_account(self, email, display_name, team=None, **kw):
        t = None
        home_path = None
        if team:
            name = team.get("name") or "Team"
            t = self.teams.get(name)
            if t is None:
                t = Team(self, name)
                self.teams[name] = t
            home_path = team.get("home_path")
            if "team_admin" in team:
                kw["team_admin"] = bool(team["team_admin"])
        acct = Account(self, email, display_name, team=t, home_path=home_path, **kw)
        if team and team.get("space") is False:
            acct.team_space = False
        self.accounts[acct.account_id] = acct
        return acct

    def approving_account(self):
        if self.next_account_id and self.next_account_id in self.accounts:
            return self.accounts[self.next_account_id]
        for a in self.accounts.values():
            if a.team is None:
                return a
        return next(iter(self.accounts.values()), None)

    # ---- revs and changes
    def new_rev(self, node):
        rev = "%09x%07x" % (next(self.rev_counter), random.randint(0, 0xFFFFFFF))
        self.nodes_by_rev[rev] = node
        return rev

    def record_change(self, node, audience=None):
        """audience: an account_id when only that account's list_folder/continue should
        see the change (a folder's content appearing for the member who mounts it)."""
        self.change_seq += 1
        self.changes.append((self.change_seq, node))
        if audience is not None:
            self.change_audience[self.change_seq] = audience

    # ---- file system primitives (caller holds the lock)
    def mount_at(self, ns, path, mounted):
        """Create folders for `path` in ns (parents too) and mount `mounted` at the last."""
        comps = [c for c in path.split("/") if c]
        cur = ns.root
        for c in comps[:-1]:
            nxt = cur.child(c)
            if nxt is None:
                nxt = self.make_child(cur.dir(), c, True)
            cur = nxt
        node = self.make_child(cur.dir(), comps[-1], True)
        node.mount = mounted
        mounted.mount_points.append(node)
        return node

    def make_child(self, parent_dir, name, is_dir, content=None, client_modified=None):
        node = Node(self, parent_dir.ns, name, parent_dir, is_dir, content, client_modified)
        parent_dir.children[name.lower()] = node
        self.record_change(node)
        return node

    def replace_content(self, node, content, client_modified=None):
        node.content = content
        node.server_modified = self.now()
        node.client_modified = client_modified if client_modified is not None \
            else node.server_modified
        node.rev = self.new_rev(node)
        self.record_change(node)

    def delete_node(self, node):
        def mark(n):
            n.deleted = True
            self.record_change(n)
            if n.is_dir and n.mount is None:
                for c in list(n.children.values()):
                    mark(c)
        parent = node.parent
        parent.children.pop(node.name.lower(), None)
        mark(node)

    def path_in_view(self, node, view_ns, account=None, _depth=0):
        """Display path of node as seen from view_ns ('' for its root), or None when the
        node cannot be reached from there. With an account, mount points it cannot see
        (another team member's home) are skipped, so a shared folder mounted by two
        members of one team shows each member their own mount."""
        if _depth > 32:
            return None
        if node.parent is None:
            if node.ns is view_ns:
                return ""
            for mp in node.ns.mount_points:
                if mp.deleted or (account is not None and not self.visible(mp, account)):
                    continue
                p = self.path_in_view(mp, view_ns, account, _depth + 1)
                if p is not None:
                    return p
            return None
        base = self.path_in_view(node.parent, view_ns, account, _depth + 1)
        if base is None:
            return None
        return base + "/" + node.name

    @staticmethod
    def visible(node, account):
        """Another member's home folder inside a team root is not visible to a member."""
        if account is None or node.mount is None:
            return True
        return not (node.mount.kind == "home" and node.mount.owner is not account)

    def walk(self, start, comps, account=None):
        """Follow names from a folder. Returns (node, index of first missing comp,
        last existing node). node is None when something is missing."""
        cur = start
        for i, c in enumerate(comps):
            if not cur.is_dir:
                return None, i, cur
            nxt = cur.child(c)
            if nxt is None or not self.visible(nxt, account):
                return None, i, cur
            cur = nxt
        return cur, len(comps), cur

    def iter_tree(self, folder, recursive, include_mounted=True, account=None):
        """Pre-order: (node) for everything under folder (not folder itself)."""
        for child in list(folder.dir().children.values()):
            if not self.visible(child, account):
                continue
            yield child
            if recursive and child.is_dir and (child.mount is None or include_mounted):
                yield from self.iter_tree(child, True, include_mounted, account)

    def all_files(self, ns):
        """(path_in_ns, node) of every node of a namespace, following mounts."""
        out = []

        def rec(folder, prefix):
            for child in folder.dir().children.values():
                p = prefix + "/" + child.name
                out.append((p, child))
                if child.is_dir:
                    rec(child, p)
        rec(ns.root, "")
        return out

    def account_by_email(self, email):
        want = email.lower()
        for a in self.accounts.values():
            if a.email.lower() == want:
                return a
        return None

    # ---- side effects (what tests count: no duplicate folder, copy or invitation)
    def note(self, kind, counter=None, n=1, **fields):
        self.side_effects[counter or kind] += n
        entry = {"seq": next(self.side_effect_seq), "time": self.now(), "kind": kind}
        entry.update(fields)
        self.side_effect_log.append(entry)

    # ---- calls
    def record_call(self, entry):
        self.call_counts[entry["route"]] += 1
        entry["seq"] = next(self.call_seq)
        self.call_log.append(entry)

    # ---- faults
    def take_fault(self, route, raw_arg):
        for f in self.faults:
            if f.count == 0:
                continue
            if f.route not in (route, "*"):
                continue
            if route not in Fault.ONLY_ROUTES.get(f.kind, (route,)):
                continue
            if f.match is not None and f.match not in (raw_arg or ""):
                continue
            if f.after > 0:
                f.after -= 1
                continue
            if f.count > 0:
                f.count -= 1
            f.hits += 1
            return f
        return None


def make_content(data=None, size=None, seed=None):
    if data is not None:
        return blobs.Content(data)
    return blobs.GeneratedContent(size, seed if seed is not None else 0)
