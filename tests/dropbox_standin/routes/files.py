"""files namespace (dropbox-api.md §4.2-§4.7, §4.10): paths, metadata, folders, listing,
temporary links, download, download_zip and copy_v2."""

import json

import posixpath
from urllib.parse import quote

from . import route, Download
from ..errors import (Args, HttpError, lookup, route_error, READ_PATH, WRITE_PATH,
                      LIST_PATH)
from ..state import iso, rand_str, Link
from .. import sharing as model
from ..zipstream import Entry, ZipStream

R = Args.REQUIRED
ROOT_SLASH = 'Specify the root folder as an empty string rather than as "/".'
IGNORED_NAMES = {"desktop.ini", "thumbs.db", ".ds_store", "icon\r", ".dropbox",
                 ".dropbox.attr"}


# ---------------------------------------------------------------- metadata

def folder_metadata(ctx, node, tagged):
    d = {".tag": "folder"} if tagged else {}
    d["name"] = node.name
    vpath = ctx.state.path_in_view(node, ctx.view, ctx.account)
    if vpath is not None:
        d["path_lower"] = vpath.lower()
        d["path_display"] = vpath
    d["id"] = node.id
    sharing_info(ctx, node, d, folder=True)
    return d


def sharing_info(ctx, node, d, folder):
    """sharing_info (and the deprecated top-level ids) of a shared folder's mount point
    and of everything inside a shared folder (files.stone FolderSharingInfo,
    FileSharingInfo)."""
    st = ctx.state
    ns_root = folder and node.parent is None and node.ns.kind == "shared"
    if ns_root or (folder and node.mount is not None and node.mount.kind == "shared"):
        sf = st.shared_folders.get(node.ns.id if ns_root else node.mount.id)
        if sf is None:
            return
        if ns_root:                     # "ns:<shared_folder_id>" names the folder itself
            d["id"] = sf.folder_id
        d["shared_folder_id"] = sf.id
        d["sharing_info"] = {"read_only": _read_only(ctx, sf), "shared_folder_id": sf.id,
                             "traverse_only": False, "no_access": False}
        return
    sf = model.shared_folder_of_ns(st, node.ns)
    if sf is None:
        return
    d["parent_shared_folder_id"] = sf.id
    info = {"read_only": _read_only(ctx, sf), "parent_shared_folder_id": sf.id}
    if folder:
        info.update(traverse_only=False, no_access=False)
    d["sharing_info"] = info


def _read_only(ctx, sf):
    _, level = sf.level_of(ctx.account)
    return level not in model.WRITE_LEVELS


def file_metadata(ctx, node, tagged, hash_now=True):
    """hash_now=False (files/download): a generated blob not hashed yet goes without
    content_hash (optional in FileMetadata), so streaming many GiB does not first wait
    for a full hashing pass."""
    d = {".tag": "file"} if tagged else {}
    d["name"] = node.name
    vpath = ctx.state.path_in_view(node, ctx.view, ctx.account)
    if vpath is not None:
        d["path_lower"] = vpath.lower()
        d["path_display"] = vpath
    d["id"] = node.id
    d["client_modified"] = iso(node.client_modified)
    d["server_modified"] = iso(node.server_modified)
    d["rev"] = node.rev
    d["size"] = node.size
    d["is_downloadable"] = True
    if hash_now or not node.content.generated or node.content.digests_if_known():
        d["content_hash"] = digests(ctx, node.content).content_hash
    sharing_info(ctx, node, d, folder=False)
    return d


def digests(ctx, content):
    """Digests of a content; a generated blob's first hashing (seconds per GiB) runs
    with the state lock released so other requests go on meanwhile."""
    if content.generated and content.digests_if_known() is None:
        lock = ctx.state.lock
        try:
            lock.release()
        except RuntimeError:
            return content.digests()
        try:
            return content.digests()
        finally:
            lock.acquire()
    return content.digests()


def deleted_metadata(ctx, node):
    d = {".tag": "deleted", "name": node.name}
    vpath = ctx.state.path_in_view(node, ctx.view, ctx.account)
    if vpath is not None:
        d["path_lower"] = vpath.lower()
        d["path_display"] = vpath
    return d


def metadata(ctx, node, tagged=True):
    if node.deleted:
        return deleted_metadata(ctx, node)
    if node.is_dir:
        return folder_metadata(ctx, node, tagged)
    return file_metadata(ctx, node, tagged)


# ---------------------------------------------------------------- paths

class PathError(Exception):
    pass


def check_path_arg(ctx, args, name, value, pattern):
    if value == "/":
        args.fail(f"{name}: {ROOT_SLASH}")
    args.pattern(name, value, pattern)


def split_components(rest, err=lookup):
    """'/a/b' -> ['a', 'b']; '' -> []; malformed -> 409 malformed_path."""
    if rest == "":
        return []
    comps = rest[1:].split("/")
    for c in comps:
        if c in ("", ".", ".."):
            raise route_error(err("malformed_path"))
    return comps


def start_of(ctx, path, err=lookup):
    """(start folder node, components) of a path argument. `err(tag)` builds the 409
    body for not_found (LookupError by default)."""
    st = ctx.state
    acct = ctx.account
    if path.startswith("id:"):
        ident, sep, rest = path.partition("/")
        node = st.nodes_by_id.get(ident)
        if node is not None and node.mount is not None and node.mount.kind == "shared":
            # every mount point of a shared folder has its id: take the caller's own
            for mp in node.mount.mount_points:
                if not mp.deleted and mp.ns.id in acct.accessible_namespaces() and \
                        st.visible(mp, acct):
                    node = mp
                    break
        if node is None or node.deleted or node.ns.id not in acct.accessible_namespaces():
            raise route_error(err("not_found"))
        return node, split_components(sep + rest, err)
    if path.startswith("ns:"):
        ident, sep, rest = path[3:].partition("/")
        ns = acct.accessible_namespaces().get(ident)
        if ns is None:
            raise route_error(err("not_found"))
        return ns.root, split_components(sep + rest, err)
    if path.startswith("rev:"):
        node = st.nodes_by_rev.get(path[4:])
        if node is None or node.deleted or node.rev != path[4:] or \
                node.ns.id not in acct.accessible_namespaces():
            raise route_error(err("not_found"))
        return node, []
    return ctx.view.root, split_components(path, err)


def resolve(ctx, path, err=lookup):
    """The existing node at path, or 409 path/not_found."""
    start, comps = start_of(ctx, path, err)
    node, _, _ = ctx.state.walk(start, comps, ctx.account)
    if node is None:
        raise route_error(err("not_found"))
    return node


def can_write(ctx, parent_dir):
    """Top level of a team root: only team admins write there (team policy
    top_level_content_policy admin_only). Inside a shared folder: owners and editors."""
    if parent_dir.ns.kind == "team_root" and parent_dir.parent is None and \
            not ctx.account.team_admin:
        return False
    sf = model.shared_folder_of_ns(ctx.state, parent_dir.ns)
    if sf is not None and sf.level_of(ctx.account)[1] not in model.WRITE_LEVELS:
        return False
    return True


def check_write_permission(ctx, parent_dir):
    if not can_write(ctx, parent_dir):
        raise route_error({".tag": "path", "path": {".tag": "no_write_permission"}})


def write_error(tag, **extra):
    inner = {".tag": tag}
    inner.update(extra)
    return {".tag": "path", "path": inner}


def conflict(kind):
    return write_error("conflict", conflict={".tag": kind})


def autorename(parent_dir, name, is_dir):
    base, ext = (name, "") if is_dir else posixpath.splitext(name)
    if not base:
        base, ext = name, ""
    n = 1
    while True:
        cand = f"{base} ({n}){ext}"
        if cand.lower() not in parent_dir.children:
            return cand
        n += 1


def ensure_parents(ctx, start, comps):
    """Walk/create the folders comps[:-1] below start; return the parent folder (its
    .dir()). Raises conflict/file_ancestor when a file is in the way."""
    st = ctx.state
    cur = start
    if not cur.is_dir:
        raise route_error(conflict("file_ancestor"))
    for c in comps[:-1]:
        nxt = cur.child(c)
        if nxt is not None and not st.visible(nxt, ctx.account):
            raise route_error(write_error("no_write_permission"))
        if nxt is None:
            check_name(c)
            check_write_permission(ctx, cur.dir())
            nxt = st.make_child(cur.dir(), c, True)
        elif not nxt.is_dir:
            raise route_error(conflict("file_ancestor"))
        cur = nxt
    return cur.dir()


def check_name(name):
    if name.lower() in IGNORED_NAMES:
        raise route_error(write_error("disallowed_name"))


# ---------------------------------------------------------------- create_folder_v2

@route("files/create_folder_v2", scope="files.content.write",
       write_contention=write_error("too_many_write_operations"))
def create_folder_v2(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"path": ("str", R), "autorename": ("bool", False)})
    check_path_arg(ctx, a, "path", arg["path"], WRITE_PATH)
    try:
        start, comps = start_of(ctx, arg["path"], err=write_error)
    except HttpError as e:
        # WriteError has malformed_path too; not_found of an ns: path is no_write_permission
        if b"not_found" in e.body:
            raise route_error(write_error("no_write_permission"))
        raise
    st = ctx.state
    if not comps:
        raise route_error(conflict("folder" if start.is_dir else "file"))
    parent = ensure_parents(ctx, start, comps)
    name = comps[-1]
    existing = parent.children.get(name.lower())
    if existing is not None:
        if not arg["autorename"]:
            raise route_error(conflict("folder" if existing.is_dir else "file"))
        name = autorename(parent, name, True)
    check_name(name)
    check_write_permission(ctx, parent)
    node = st.make_child(parent, name, True)
    st.note("folder_created", "folders_created_by_create_folder_v2",
            route="files/create_folder_v2", account_id=ctx.account.account_id,
            path=st.path_in_view(node, ctx.view, ctx.account))
    return {"metadata": folder_metadata(ctx, node, tagged=False)}


# ---------------------------------------------------------------- get_metadata

@route("files/get_metadata", scope="files.metadata.read")
def get_metadata(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"path": ("str", R), "include_media_info": ("bool", False),
                        "include_deleted": ("bool", False),
                        "include_has_explicit_shared_members": ("bool", False),
                        "include_property_groups": ("any", None)})
    if arg["path"] == "":
        a.fail("path: The root folder is unsupported.")
    check_path_arg(ctx, a, "path", arg["path"], READ_PATH)
    try:
        node = resolve(ctx, arg["path"])
    except HttpError:
        if arg["include_deleted"]:
            gone = find_deleted(ctx, arg["path"])
            if gone is not None:
                return deleted_metadata(ctx, gone)
        raise
    if node.parent is None and node.ns is ctx.view:
        a.fail("path: The root folder is unsupported.")
    return metadata(ctx, node)


def find_deleted(ctx, path):
    if not path.startswith("/"):
        return None
    want = path.lower()
    for _, node in reversed(ctx.state.changes):
        if node.deleted:
            p = ctx.state.path_in_view(node, ctx.view, ctx.account)
            if p is not None and p.lower() == want:
                return node
    return None


# ---------------------------------------------------------------- list_folder

LIST_FIELDS = {
    "path": ("str", R), "recursive": ("bool", False), "include_media_info": ("bool", False),
    "include_deleted": ("bool", False),
    "include_has_explicit_shared_members": ("bool", False),
    "include_mounted_folders": ("bool", True), "limit": ("int", None),
    "shared_link": ("struct", None), "include_property_groups": ("any", None),
    "include_non_downloadable_files": ("bool", True),
    "include_restorable_info": ("bool", False),
}


class Snapshot:
    def __init__(self, nodes):
        self.nodes = nodes


def _cursor(ctx, rec):
    cid = "AAE" + rand_str(60)
    rec["account_id"] = ctx.account.account_id
    ctx.state.cursors[cid] = rec
    return cid


@route("files/list_folder", scope="files.metadata.read")
def list_folder(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, LIST_FIELDS)
    check_path_arg(ctx, a, "path", arg["path"], LIST_PATH)
    a.int_range("limit", arg["limit"], 1, 2000)
    if arg["shared_link"] is not None:
        raise route_error(lookup("not_found"))
    st = ctx.state
    folder = resolve(ctx, arg["path"])
    if not folder.is_dir:
        raise route_error(lookup("not_folder"))
    nodes = []
    is_root = folder.parent is None and folder.ns is ctx.view
    if arg["recursive"] and not is_root:
        nodes.append(folder)
    nodes.extend(st.iter_tree(folder, arg["recursive"], arg["include_mounted_folders"],
                              ctx.account))
    if arg["include_deleted"]:
        nodes.extend(_deleted_under(ctx, folder, arg["recursive"]))
    rec = {"view": ctx.view.id, "folder": folder.id, "recursive": arg["recursive"],
           "include_deleted": arg["include_deleted"],
           "include_mounted": arg["include_mounted_folders"],
           "limit": min(arg["limit"] or st.settings["list_folder_default_limit"],
                        st.settings["list_folder_page_max"]),
           "seq": st.change_seq, "snapshot": Snapshot(nodes), "pos": 0}
    return _page(ctx, rec)


def _mine(ctx, node):
    return node.ns.id in ctx.account.accessible_namespaces() and \
        ctx.state.visible(node, ctx.account)


def _deleted_under(ctx, folder, recursive):
    """Deleted nodes in the listed scope whose path holds nothing now, latest first."""
    st = ctx.state
    fpath = (st.path_in_view(folder, ctx.view, ctx.account) or "").lower()
    seen = set()
    out = []
    for _, node in reversed(st.changes):
        if not node.deleted or node.id in seen:
            continue
        seen.add(node.id)
        if not _mine(ctx, node):
            continue
        p = st.path_in_view(node, ctx.view, ctx.account)
        if p is None:
            continue
        pl = p.lower()
        if pl in seen:
            continue
        seen.add(pl)
        in_scope = pl.startswith(fpath + "/") if recursive else pl.rsplit("/", 1)[0] == fpath
        if in_scope and st.walk(ctx.view.root, pl[1:].split("/"), ctx.account)[0] is None:
            out.append(node)
    return out


def _page(ctx, rec):
    st = ctx.state
    limit = rec["limit"]
    entries = []
    snap = rec["snapshot"]
    if snap is not None:
        pos = rec["pos"]
        while pos < len(snap.nodes) and len(entries) < limit:
            n = snap.nodes[pos]
            pos += 1
            if n.deleted and not rec["include_deleted"]:
                continue        # gone since the listing began; reported as a change
            entries.append(metadata(ctx, n))
        nrec = dict(rec)
        if pos < len(snap.nodes):
            nrec["pos"] = pos
            return {"entries": entries, "cursor": _cursor(ctx, nrec), "has_more": True}
        nrec["snapshot"] = None
        nrec["pos"] = 0
        return {"entries": entries, "cursor": _cursor(ctx, nrec), "has_more": False}
    # Changes since rec["seq"], within the listed folder, each node once at its last
    # change, oldest first.
    folder = st.nodes_by_id.get(rec["folder"])
    if folder is None or folder.deleted:
        raise route_error(lookup("not_found"))
    fpath = st.path_in_view(folder, ctx.view, ctx.account)
    if fpath is None:
        raise route_error({".tag": "reset"})
    flow = fpath.lower()
    last = {}
    me = ctx.account.account_id
    for seq, node in st.changes:
        if seq > rec["seq"] and st.change_audience.get(seq, me) == me:
            last[id(node)] = (seq, node)     # mount points share one id
    ordered = sorted(last.values(), key=lambda x: x[0])
    new_seq = rec["seq"]
    for seq, node in ordered:
        if len(entries) >= limit:
            break
        new_seq = seq
        if not _mine(ctx, node):
            continue
        p = st.path_in_view(node, ctx.view, ctx.account)
        if p is None or node is folder:
            continue
        pl = p.lower()
        if rec["recursive"]:
            if not pl.startswith(flow + "/"):
                continue
        elif pl.rsplit("/", 1)[0] != flow:
            continue
        entries.append(deleted_metadata(ctx, node) if node.deleted else metadata(ctx, node))
    more = any(seq > new_seq for seq, _ in ordered)
    if not more and ordered:
        new_seq = max(new_seq, ordered[-1][0])
    nrec = dict(rec)
    nrec["seq"] = new_seq
    return {"entries": entries, "cursor": _cursor(ctx, nrec), "has_more": more}


@route("files/list_folder/continue", scope="files.metadata.read")
def list_folder_continue(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"cursor": ("str", R)})
    cur = arg["cursor"]
    if not cur.startswith("AAE") or len(cur) != 63:
        a.fail("cursor: Invalid cursor")
    rec = ctx.state.cursors.get(cur)
    if rec is None or rec["account_id"] != ctx.account.account_id:
        raise route_error({".tag": "reset"})
    # The cursor remembers its path root; the header of this call does not matter.
    ns = ctx.state.namespaces.get(rec["view"])
    if ns is None:
        raise route_error({".tag": "reset"})
    ctx.view = ns
    return _page(ctx, rec)


# ---------------------------------------------------------------- get_temporary_link

@route("files/get_temporary_link", scope="files.content.read")
def get_temporary_link(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"path": ("str", R)})
    check_path_arg(ctx, a, "path", arg["path"], READ_PATH)
    node = resolve(ctx, arg["path"])
    if node.is_dir:
        raise route_error(lookup("not_file"))
    link = Link(ctx.state, node)
    ctx.state.links[link.id] = link
    return {"metadata": file_metadata(ctx, node, tagged=False),
            "link": f"{ctx.base_url}/tl/{link.id}/{_quote_name(node.name)}"}


def _quote_name(name):
    return quote(name, safe="")


# ---------------------------------------------------------------- download

@route("files/download", style="download", scope="files.content.read")
def download(ctx, arg):
    """dropbox-api.md §1: the bytes in the body, FileMetadata (untagged) in the
    Dropbox-API-Result header; errors (409 path/not_found, path/not_file) as JSON in
    the body. Generated blobs stream without being held in memory."""
    a = Args(ctx.route, where='HTTP header "Dropbox-API-Arg"')
    arg = a.check(arg, {"path": ("str", R), "rev": ("str", None)})
    check_path_arg(ctx, a, "path", arg["path"], READ_PATH)
    node = resolve(ctx, arg["path"])
    if node.is_dir:
        raise route_error(lookup("not_file"))
    if arg["rev"] is not None and arg["rev"] != node.rev:
        raise route_error(lookup("not_found"))
    meta = file_metadata(ctx, node, tagged=False, hash_now=False)
    return Download(meta, node.content.iter(), node.size)


# ---------------------------------------------------------------- download_zip

@route("files/download_zip", style="download", scope="files.content.read")
def download_zip(ctx, arg):
    a = Args(ctx.route, where='HTTP header "Dropbox-API-Arg"')
    arg = a.check(arg, {"path": ("str", R)})
    check_path_arg(ctx, a, "path", arg["path"], READ_PATH)
    st = ctx.state
    folder = resolve(ctx, arg["path"])
    if not folder.is_dir:
        raise route_error(lookup("not_folder"))
    top = folder.name if folder.parent is not None else ""
    now = st.now()
    entries = [Entry(top + "/", None, now)]
    total = 0
    biggest = 0
    fpath = st.path_in_view(folder, ctx.view, ctx.account) or ""
    for node in st.iter_tree(folder, True, True, ctx.account):
        rel = st.path_in_view(node, ctx.view, ctx.account)
        rel = rel[len(fpath) + 1:] if rel is not None else node.name
        if node.is_dir:
            entries.append((top + "/" + rel + "/", None, now))
        else:
            entries.append((top + "/" + rel, node.content, node.client_modified))
            total += node.size
            biggest = max(biggest, node.size)
    s = st.settings
    if len(entries) > s["zip_max_entries"]:
        raise route_error({".tag": "too_many_files"})
    if total > s["zip_max_bytes"] or biggest > s["zip_max_file_bytes"]:
        raise route_error({".tag": "too_large"})
    entries = [entries[0]] + [Entry(*e) for e in entries[1:]]
    z = ZipStream(entries)
    return Download({"metadata": folder_metadata(ctx, folder, tagged=False)}, z,
                    z.length, "application/zip")


# ---------------------------------------------------------------- copy_v2

RELOCATION_PATH = r"(/(.|[\r\n])*)|(ns:[0-9_]+(/(.|[\r\n])*)?)|(id:.*)"    # WritePathOrId


def _relocation(tag):
    """err(tag) for start_of: a LookupError/WriteError member under from_lookup or to."""
    return lambda inner: {".tag": tag, tag: {".tag": inner}}


def _rewrap(e, tag):
    """A 409 {".tag":"path","path":X} from the shared helpers, as {".tag":tag, tag:X}."""
    try:
        err = json.loads(e.body)["error"]
    except (ValueError, KeyError, TypeError):
        return e
    if e.status != 409 or not isinstance(err, dict) or err.get(".tag") != "path":
        return e
    return route_error({".tag": tag, tag: err["path"]})


def _has_shared_mount(node):
    for child in node.dir().children.values():
        if child.mount is not None:
            return True
        if child.is_dir and _has_shared_mount(child):
            return True
    return False


def _count_entries(node, limit):
    n = 1
    if node.is_dir:
        for child in node.dir().children.values():
            if child.mount is None:
                n += _count_entries(child, limit - n)
            if n > limit:
                break
    return n


@route("files/copy_v2", scope="files.content.write",
       write_contention={".tag": "to", "to": {".tag": "too_many_write_operations"}})
def copy_v2(ctx, arg):
    a = Args(ctx.route)
    arg = a.check(arg, {"from_path": ("str", R), "to_path": ("str", R),
                        "allow_shared_folder": ("bool", False), "autorename": ("bool", False),
                        "allow_ownership_transfer": ("bool", False)})
    for name in ("from_path", "to_path"):
        check_path_arg(ctx, a, name, arg[name], RELOCATION_PATH)
    st = ctx.state
    src = resolve(ctx, arg["from_path"], err=_relocation("from_lookup"))
    if src.parent is None or (src.mount is not None and src.mount.kind == "shared"):
        raise route_error({".tag": "cant_copy_shared_folder"})
    try:
        start, comps = start_of(ctx, arg["to_path"], err=_relocation("to"))
    except HttpError as e:
        if b'"not_found"' in e.body:
            raise route_error({".tag": "to", "to": {".tag": "no_write_permission"}})
        raise
    if not comps:
        raise route_error({".tag": "to", "to": {".tag": "conflict", "conflict": {
            ".tag": "folder" if start.is_dir else "file"}}})
    src_path = (st.path_in_view(src, ctx.view, ctx.account) or "").lower()
    base = st.path_in_view(start, ctx.view, ctx.account)
    dst_path = ((base or "") + "/" + "/".join(comps)).lower()
    if src.is_dir and base is not None and dst_path.startswith(src_path + "/"):
        raise route_error({".tag": "cant_move_folder_into_itself"})
    limit = st.settings["copy_max_entries"]
    if _count_entries(src, limit) > limit:
        raise route_error({".tag": "too_many_files"})
    if src.is_dir and _has_shared_mount(src):
        nested = model.shared_folder_of_ns(st, start.dir().ns) is not None
        raise route_error({".tag": "cant_nest_shared_folder" if nested
                           else "cant_copy_shared_folder"})
    try:
        parent = ensure_parents(ctx, start, comps)
        name = comps[-1]
        existing = parent.children.get(name.lower())
        if existing is not None:
            if not arg["autorename"]:
                raise route_error(conflict("folder" if existing.is_dir else "file"))
            name = autorename(parent, name, src.is_dir)
        check_name(name)
        check_write_permission(ctx, parent)
    except HttpError as e:
        raise _rewrap(e, "to")
    counts = {"files": 0, "folders": 0}
    new = model.copy_tree(st, src, parent, name, counts)
    st.note("copy", "copies", account_id=ctx.account.account_id,
            from_path=st.path_in_view(src, ctx.view, ctx.account),
            to_path=st.path_in_view(new, ctx.view, ctx.account), **counts)
    st.side_effects["files_copied"] += counts["files"]
    st.side_effects["folders_copied"] += counts["folders"]
    return {"metadata": metadata(ctx, new)}
