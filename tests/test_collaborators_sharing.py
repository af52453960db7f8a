"""Sharing tracks with collaborators through shared Dropbox folders, on the
durable job worker: status, invitations, failures and retries, bulk sharing,
removal, producer-to-producer invitations (in-app and mail) and the team
mount that follows an acceptance, a child killed mid-job, and two nodes on one
database."""

import subprocess
import time

import pytest

from pdshare_dropbox import child_pids, connect
from pdshare_harness import DB_KIND, REPO, kill_child
from smtp_sink import SMTPSink

LEASE = 5


def wait_for(fn, timeout=60, every=0.2, what="the condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def status(api, track_id):
    r = api.get(f"/tracks/{track_id}/share-status")
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(api, track_id, states=("done", "failed"), timeout=60):
    return wait_for(lambda: (lambda s: s if s["job"] and s["job"]["state"] in states else None)(
        status(api, track_id)), timeout=timeout, what=f"job of {track_id} in {states}")


def side_effects(standin):
    return standin.ctl("GET", "side_effects")


def invitations(standin):
    return standin.ctl("GET", "invitations")["invitations"]


def producer_with_track(h, standin, user="alice", email="alice@example.com", collabs=3,
                        title="Night Drive", emails=None):
    acct = standin.account(email, user.title())
    connect(h, user, standin, acct["account_id"])
    api = h.api(user)
    t = api.create_track(title=title, sharing_status="released")
    for cat, name in [("master", "master.wav"), ("bounce", "bounce.mp3"), ("stem", "drums.wav")]:
        path = f"/PRODUCER-DASHBOARD/{'stems' if cat == 'stem' else 'bounces'}/{title}/{name}"
        standin.put_file(acct["account_id"], path, content=f"{title}-{name}".encode())
        api.create_file(t["id"], category=cat, name=name, dropbox_path=path, format=name[-3:])
    emails = emails or [f"c{i}@collab.example" for i in range(collabs)]
    cs = [api.create_collaborator(t["id"], name=f"Collaborator {i}", email=e, role="vocals")
          for i, e in enumerate(emails)]
    return acct, api, t, cs


@pytest.fixture
def h(dropbox_httpd):
    return dropbox_httpd(extra=[f"PDShareJobLease {LEASE}"])


def test_share_with_three_collaborators(h, standin):
    acct, api, t, cs = producer_with_track(h, standin)
    assert status(api, t["id"])["status"] == "none"
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators", json={"mode": "folder"})
    assert r.status_code == 202, r.text
    first = r.json()
    assert {c["status"] for c in first["collaborators"]} <= {"pending", "shared"}
    assert first["job"]["state"] in ("pending", "running", "done")

    done = wait_job(api, t["id"])
    assert done["job"]["state"] == "done", done
    assert done["status"] == "all"
    assert [c["status"] for c in done["collaborators"]] == ["shared"] * 3
    folder = f"/PRODUCER-DASHBOARD/projects/Night Drive [{t['id']}]"
    assert done["folder_path"] == folder
    assert done["web_url"].startswith("https://www.dropbox.com/home/")
    fx = side_effects(standin)
    assert fx["folders_shared"] == 1
    assert fx["files_copied"] == 3
    inv = invitations(standin)
    assert sorted(i["email"] for i in inv) == ["c0@collab.example", "c1@collab.example", "c2@collab.example"]
    assert all(i["access_level"] == "editor" for i in inv)
    files = {f["path_display"] for f in standin.ctl("GET", "files", account_id=acct["account_id"],
                                                     hashes="0")["files"]}
    assert {f"{folder}/master.wav", f"{folder}/bounce.mp3", f"{folder}/drums.wav"} <= files


@pytest.mark.log_allow(r"PDS00050: job .*Dropbox refused|PDS00050: job .*will try again")
def test_invalid_email_gives_partial_then_retry_gives_all(h, standin):
    acct, api, t, cs = producer_with_track(h, standin)
    standin.ctl("POST", "invalid_emails", {"emails": ["c1@collab.example"]})
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators", json={}).status_code == 202
    s = wait_job(api, t["id"])
    assert s["status"] == "partial"
    by_email = {c["email"]: c for c in s["collaborators"]}
    assert by_email["c1@collab.example"]["status"] == "failed"
    assert by_email["c1@collab.example"]["error"]
    assert by_email["c0@collab.example"]["status"] == "shared"

    # Fix the address, retry: all shared, and nobody invited twice.
    r = api.patch(f"/tracks/{t['id']}/collaborators/{cs[1]['id']}", json={"email": "c1@fixed.example"})
    assert r.status_code == 200 and r.json()["email"] == "c1@fixed.example"
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators/retry", json={}).status_code == 202
    s = wait_for(lambda: (lambda x: x if x["status"] == "all" and x["job"]["state"] == "done" else None)(
        status(api, t["id"])), what="all shared")
    emails = sorted(i["email"] for i in invitations(standin))
    assert emails == ["c0@collab.example", "c1@fixed.example", "c2@collab.example"]
    assert side_effects(standin)["folders_shared"] == 1


def test_bulk_share_skips_tracks_without_collaborators(h, standin):
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    ids, lonely = [], []
    for i in range(20):
        t = api.create_track(title=f"Song {i:02d}", sharing_status="released")
        ids.append(t["id"])
        if i % 4 == 3:
            lonely.append(t["id"])
        else:
            api.create_collaborator(t["id"], name="Guest", email=f"guest{i}@collab.example")
    r = api.post("/share-with-collaborators", json={"track_ids": ids})
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(body["queued"]) == 15
    assert sorted(s["track_id"] for s in body["skipped"]) == sorted(lonely)
    for q in body["queued"]:
        assert wait_job(api, q["track_id"])["status"] == "all"
    assert side_effects(standin)["folders_shared"] == 15
    assert len(invitations(standin)) == 15


def test_removing_a_collaborator_removes_their_access(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=2)
    api.post(f"/tracks/{t['id']}/share-with-collaborators", json={})
    s = wait_job(api, t["id"])
    assert s["status"] == "all"
    assert api.delete(f"/tracks/{t['id']}/collaborators/{cs[0]['id']}").status_code == 204
    s = wait_for(lambda: (lambda x: x if x["removed"] and x["removed"][0]["status"] == "removed" else None)(
        status(api, t["id"])), what="the removal")
    assert [c["email"] for c in s["collaborators"]] == ["c1@collab.example"]
    assert s["status"] == "all"
    folder = [f for f in standin.ctl("GET", "shared_folders")["shared_folders"]][0]
    emails = {m.get("email") for m in folder["invitees"] + folder["members"]}
    assert "c0@collab.example" not in emails and "c1@collab.example" in emails
    assert standin.calls().get("sharing/remove_folder_member") == 1


def test_producer_collaborator_gets_invitation_mail_and_mount_on_accept(dropbox_httpd, standin):
    """Issue 11: a producer named as a collaborator is asked first; the team
    mount follows their acceptance (it used to happen with the share)."""
    smtp = SMTPSink()
    try:
        h = dropbox_httpd(extra=[f"PDShareJobLease {LEASE}", f"PDShareSMTP smtp://127.0.0.1:{smtp.port}",
                                 "PDShareMailFrom shares@pdshare.example"])
        bob_acct = standin.account("bob@team.example", "Bob Team",
                                   team={"name": "Bob Records", "home_path": "/Bob Team"})
        connect(h, "bob", standin, bob_acct["account_id"])
        acct, api, t, cs = producer_with_track(h, standin, collabs=0, emails=["bob@team.example"])
        api.patch(f"/tracks/{t['id']}/collaborators/{cs[0]['id']}", json={"username": "bob"})
        api.set_profile(display_name="Alice A.")
        api.post(f"/tracks/{t['id']}/share-with-collaborators", json={})
        assert wait_job(api, t["id"])["status"] == "all"

        notes = h.api("bob").get("/notifications").json()["notifications"]
        assert len(notes) == 1
        assert notes[0]["kind"] == "invitation"
        assert notes[0]["data"]["from_username"] == "alice"
        assert notes[0]["data"]["from_display_name"] == "Alice A."
        assert notes[0]["data"]["track_title"] == "Night Drive"
        assert h.api("carol").get("/notifications").json()["notifications"] == []

        msgs = wait_for(lambda: list(smtp.messages), timeout=20, what="the mail")
        assert len(msgs) == 1
        assert msgs[0]["to"] == ["<bob@team.example>"]
        assert "Night Drive" in msgs[0]["data"] and "Alice A." in msgs[0]["data"]
        assert standin.calls().get("sharing/mount_folder", 0) == 0

        inv = h.api("bob").get("/invitations").json()["invitations"][0]
        assert h.api("bob").post(f"/invitations/{inv['id']}/accept", json={}).status_code == 200
        wait_for(lambda: h.api("bob").get("/invitations").json()["invitations"][0]["mount_status"]
                 == "mounted", what="the mount")
        assert standin.calls().get("sharing/mount_folder") == 1
        folder = standin.ctl("GET", "shared_folders")["shared_folders"][0]
        assert bob_acct["account_id"] in {m.get("account_id") for m in folder["mounts"]}
    finally:
        smtp.stop()


@pytest.mark.log_allow(r"PDS00050")
def test_child_killed_mid_job_completes_without_duplicates(h, standin):
    acct, api, t, cs = producer_with_track(h, standin)
    # Hold the job inside its first copy long enough to kill its child.
    standin.fault("files/copy_v2", "hang", count=1, hang_seconds=8)
    api.post(f"/tracks/{t['id']}/share-with-collaborators", json={})
    wait_for(lambda: status(api, t["id"])["job"]["state"] == "running", what="the job to run")
    with h.db() as conn:
        owner = conn.execute("SELECT lease_owner FROM pds_jobs WHERE track_id = ?", (t["id"],)).fetchone()[0]
    pid = int(owner.split(":")[1])
    wait_for(lambda: standin.calls().get("files/copy_v2", 0) >= 1, what="the first copy")
    kill_child(pid, api)
    s = wait_job(api, t["id"], timeout=90)
    assert s["job"]["state"] == "done" and s["status"] == "all", s
    assert s["job"]["attempts"] >= 2
    fx = side_effects(standin)
    assert fx["files_copied"] == 3
    assert fx["folders_shared"] == 1
    assert len(invitations(standin)) == 3


def record_job_claims(httpd):
    """Make the database itself note each claim of a job (the claim sets
    lease_owner, "<host>:<pid>:<random>", and a finished job clears it again)
    into test_job_claims(job_id, worker). Done before httpd starts, on a schema
    pdsharectl made: a schema changed under running children costs a few 503s."""
    ctl = [str(REPO / "mod_pdshare" / "pdsharectl")]
    if DB_KIND == "pgsql":
        ctl += ["-d", "pgsql", "-p", httpd.dbd_lines()[1].split(" ", 1)[1].strip('"')]
    else:
        ctl += ["-p", str(httpd.db_path)]
    out = subprocess.run(ctl + ["migrate"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    with httpd.db() as conn:
        conn.execute("CREATE TABLE test_job_claims (job_id TEXT NOT NULL, worker TEXT NOT NULL)")
        if DB_KIND == "pgsql":
            conn.execute("CREATE FUNCTION test_job_claimed() RETURNS trigger LANGUAGE plpgsql AS $$"
                         " BEGIN"
                         "  IF NEW.lease_owner IS NOT NULL"
                         "     AND NEW.lease_owner IS DISTINCT FROM OLD.lease_owner THEN"
                         "   INSERT INTO test_job_claims VALUES (NEW.id, NEW.lease_owner);"
                         "  END IF;"
                         "  RETURN NEW;"
                         " END $$")
            conn.execute("CREATE TRIGGER test_job_claimed AFTER UPDATE ON pds_jobs"
                         " FOR EACH ROW EXECUTE FUNCTION test_job_claimed()")
        else:
            conn.execute("CREATE TRIGGER test_job_claimed AFTER UPDATE ON pds_jobs"
                         " WHEN NEW.lease_owner IS NOT NULL"
                         "  AND NEW.lease_owner IS NOT OLD.lease_owner"
                         " BEGIN INSERT INTO test_job_claims VALUES (NEW.id, NEW.lease_owner); END")


def test_two_nodes_never_run_one_job_twice(dropbox_httpd, standin):
    h1 = dropbox_httpd(extra=[f"PDShareJobLease {LEASE}"], start=False)
    record_job_claims(h1)
    h1.start()
    acct = standin.account("alice@example.com", "Alice")
    connect(h1, "alice", standin, acct["account_id"])
    h2 = dropbox_httpd(start=False)
    h2.extra = list(h1.extra) + [h1.dbd_params()]
    h2.start()
    api = h1.api("alice")
    ids = []
    for i in range(100):
        t = api.create_track(title=f"Track {i:03d}", sharing_status="released")
        api.create_collaborator(t["id"], name="Guest", email=f"g{i}@collab.example")
        ids.append(t["id"])
    # Which node each httpd child belongs to, gathered while the jobs run (a
    # child the MPM starts under load is seen too).
    node_of = {}

    def note_children():
        for node, h in (("node 1", h1), ("node 2", h2)):
            node_of.update({pid: node for pid in child_pids(h.pid)})

    note_children()
    # Each job's share_folder answers after 0.1 s, so the 100 jobs keep the
    # workers busy for seconds. Unslowed they are done in about one second, and
    # the first node's workers, polling back to back, can legitimately take them
    # all before the other node's, which poll every 250 ms when idle, win a claim.
    standin.fault("sharing/share_folder", "hang", count=-1, hang_seconds=0.1)
    r = api.post("/share-with-collaborators", json={"track_ids": ids})
    assert r.status_code == 202 and len(r.json()["queued"]) == 100
    job_ids = {q["job_id"] for q in r.json()["queued"]}

    def all_done():
        note_children()
        with h1.db() as conn:
            rows = conn.execute("SELECT state, COUNT(*) FROM pds_jobs GROUP BY state").fetchall()
        d = dict(rows)
        return d if d.get("done") == 100 else None
    wait_for(all_done, timeout=240, every=1, what="100 jobs done")
    fx = side_effects(standin)
    assert fx["folders_shared"] == 100
    inv = invitations(standin)
    assert len(inv) == 100 and len({i["email"] for i in inv}) == 100
    assert standin.calls().get("sharing/add_folder_member") == 100
    assert standin.calls().get("sharing/share_folder") == 100

    # Both nodes' workers took jobs: every job was claimed, and the claiming
    # children (the pid in lease_owner) belong to both httpds.
    with h1.db() as conn:
        claims = conn.execute("SELECT job_id, worker FROM test_job_claims").fetchall()
    assert {job for job, _ in claims} == job_ids
    by_node = {}
    for job, worker in claims:
        pid = int(worker.rsplit(":", 2)[1])
        assert pid in node_of, f"{worker} claimed {job}; no child of either httpd has pid {pid}"
        by_node.setdefault(node_of[pid], set()).add(job)
    assert set(by_node) == {"node 1", "node 2"}, \
        {node: len(jobs) for node, jobs in by_node.items()}


@pytest.mark.log_allow(r"PDS00050: job .*share_folder")
def test_a_refused_share_fails_the_job_and_its_collaborators(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=2)
    standin.ctl("POST", f"accounts/{acct['account_id']}/flags", {"can_share": False})
    api.post(f"/tracks/{t['id']}/share-with-collaborators", json={})
    s = wait_job(api, t["id"])
    assert s["job"]["state"] == "failed"
    assert "share_folder" in s["job"]["last_error"]
    assert s["status"] == "none"
    assert {c["status"] for c in s["collaborators"]} == {"failed"}
    assert invitations(standin) == []
    # Once the account may share again, a retry completes.
    standin.ctl("POST", f"accounts/{acct['account_id']}/flags", {"can_share": True})
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators/retry", json={}).status_code == 202
    s = wait_for(lambda: (lambda x: x if x["job"]["state"] == "done" else None)(status(api, t["id"])),
                 what="the retried job")
    assert s["status"] == "all"


def test_share_requests_are_validated(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=1)
    other = api.create_track(title="Other")
    f_other = api.create_file(other["id"], category="stem", name="x.wav")
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators", json={"file_ids": [f_other["id"]]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators", json={"mode": "zip"})
    assert r.status_code == 400
    assert h.api("bob").post(f"/tracks/{t['id']}/share-with-collaborators", json={}).status_code == 404
    assert h.api("bob").get(f"/tracks/{t['id']}/share-status").status_code == 404
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators/retry", json={})
    assert r.status_code == 404, "nothing to retry before a first share"
    r = api.post("/share-with-collaborators", json={"track_ids": []})
    assert r.status_code == 400


def producer_rpc(standin, account_id, route, arg):
    """A call the producer makes at Dropbox themselves (in its app), with their token."""
    tok = standin.live_tokens(account_id)["access_tokens"][0]
    r = standin.session.post(f"{standin.url}/2/{route}", json=arg, timeout=30,
                             headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
    return r.json() if r.content else None


def test_a_member_on_the_last_of_many_pages_is_not_invited_twice(h, standin):
    """Issue 14 (lists are whole): the share job reads every page of the folder's
    member list before it invites anyone. The folder already has 61 invitees and
    Dropbox answers one member a page, so the collaborator the producer invited
    themselves is on page 62; the job invites only the collaborator who is new.
    (Before issue 14 the job stopped after 50 pages and invited the first again.)"""
    acct, api, t, cs = producer_with_track(
        h, standin, emails=["present@collab.example", "new@collab.example"])
    folder = f"/PRODUCER-DASHBOARD/projects/Night Drive [{t['id']}]"
    sfid = producer_rpc(standin, acct["account_id"], "sharing/share_folder",
                        {"path": folder})["shared_folder_id"]
    guests = [f"guest{i:02d}@crowd.example" for i in range(60)] + ["present@collab.example"]
    producer_rpc(standin, acct["account_id"], "sharing/add_folder_member", {
        "shared_folder_id": sfid, "quiet": True,
        "members": [{"member": {".tag": "email", "email": e}, "access_level": {".tag": "editor"}}
                    for e in guests]})
    standin.ctl("POST", "settings", {"list_folder_members_page_max": 1})
    standin.ctl("POST", "calls/reset")

    assert api.post(f"/tracks/{t['id']}/share-with-collaborators", json={}).status_code == 202
    s = wait_job(api, t["id"])
    assert s["job"]["state"] == "done", s
    assert s["status"] == "all"
    assert [c["status"] for c in s["collaborators"]] == ["shared", "shared"]
    added = [m["member"]["email"] for c in standin.call_log("sharing/add_folder_member")
             for m in c["arg"]["members"]]
    assert added == ["new@collab.example"]
    assert standin.calls().get("sharing/list_folder_members/continue") == 61   # 62 pages
    inv = [i["email"] for i in invitations(standin)]
    assert inv.count("present@collab.example") == 1 and inv.count("new@collab.example") == 1


def test_a_member_list_longer_to_read_than_the_lease_keeps_the_job(h, standin):
    """Issue 14: reading a long member list is a step like any other, so the job
    renews its lease page by page. 40 pages at 0.25 s each take twice the 5 s
    lease; the job still completes in its first attempt and invites once."""
    acct, api, t, cs = producer_with_track(h, standin, emails=["new@collab.example"])
    folder = f"/PRODUCER-DASHBOARD/projects/Night Drive [{t['id']}]"
    sfid = producer_rpc(standin, acct["account_id"], "sharing/share_folder",
                        {"path": folder})["shared_folder_id"]
    producer_rpc(standin, acct["account_id"], "sharing/add_folder_member", {
        "shared_folder_id": sfid, "quiet": True,
        "members": [{"member": {".tag": "email", "email": f"guest{i:02d}@crowd.example"},
                     "access_level": {".tag": "editor"}} for i in range(39)]})
    standin.ctl("POST", "settings", {"list_folder_members_page_max": 1})
    standin.fault("sharing/list_folder_members/continue", "hang", count=-1, hang_seconds=0.25)
    standin.ctl("POST", "calls/reset")

    assert api.post(f"/tracks/{t['id']}/share-with-collaborators", json={}).status_code == 202
    s = wait_job(api, t["id"], timeout=120)
    assert s["job"]["state"] == "done", s
    assert s["job"]["attempts"] == 1, s["job"]
    assert s["status"] == "all" and [c["status"] for c in s["collaborators"]] == ["shared"]
    assert standin.calls().get("sharing/list_folder_members") == 1
    assert standin.calls().get("sharing/add_folder_member") == 1
