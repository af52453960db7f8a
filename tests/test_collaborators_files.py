"""Issue 14: sharing a track with its collaborators as individual files
(mode "files"): each file in Dropbox gets the collaborators as members through
sharing/add_file_member, per-member results, status per collaborator and per
file, retry after a refused address or Dropbox's invitation limit, reset,
bulk, removal, idempotence, a child killed mid-job; and the one mail to a
collaborator who is not a producer here (both modes)."""

import pytest

from pdshare_dropbox import connect
from pdshare_harness import kill_child
from smtp_sink import SMTPSink
from test_browser import browser_env, run_browser  # noqa: F401 (a fixture)
from test_uploads import put as upload, storage_lines
from test_collaborators_sharing import (LEASE, invitations, producer_with_track, side_effects,
                                        status, wait_for, wait_job)

EMAILS = ["c0@collab.example", "c1@collab.example", "c2@collab.example"]
FILES = ["master.wav", "bounce.mp3", "drums.wav"]


@pytest.fixture
def h(dropbox_httpd):
    return dropbox_httpd(extra=[f"PDShareJobLease {LEASE}"])


def file_members(standin):
    """{file name: sorted member emails} of every file with explicit members."""
    return {f["path"].rsplit("/", 1)[1]: sorted(m["email"] for m in f["members"])
            for f in standin.ctl("GET", "file_members")["files"]}


def share_files(api, t, **body):
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators", json=dict(mode="files", **body))
    assert r.status_code == 202, r.text
    return r.json()


def done_with(api, t, overall):
    return wait_for(lambda: (lambda s: s if s["job"]["state"] == "done" and s["status"] == overall
                             else None)(status(api, t["id"])), what=f"status {overall}")


def uploading(dropbox_httpd, extra=()):
    """An httpd that keeps uploads and exports only final ones to Dropbox."""
    h = dropbox_httpd(start=False)
    h.extra += storage_lines(h, ["PDShareExportByStatus final"] + list(extra))
    h.start()
    return h


def upload_local(api, t, name):
    """A stem uploaded here and (not final) never exported: not in Dropbox."""
    r = upload(api, t["id"], "stem", name, b"take " * 100)
    assert r.status_code == 201, r.text
    return r.json()


def test_files_mode_shares_each_file_and_reports_each(dropbox_httpd, standin):
    h = uploading(dropbox_httpd)
    acct, api, t, cs = producer_with_track(h, standin)
    local = upload_local(api, t, "vocals.wav")
    first = share_files(api, t)
    assert first["mode"] == "files"
    s = wait_job(api, t["id"])
    assert s["job"]["state"] == "done", s
    assert s["status"] == "all"
    assert [c["status"] for c in s["collaborators"]] == ["shared"] * 3
    assert s["folder_path"] is None and s["shared_folder_id"] is None
    by_name = {f["name"]: f for f in s["files"]}
    assert sorted(by_name) == sorted(FILES + ["vocals.wav"])
    for name in FILES:
        f = by_name[name]
        assert f["in_dropbox"] and f["status"] == "all"
        assert [c["status"] for c in f["collaborators"]] == ["shared"] * 3
        assert f["web_url"].startswith("https://www.dropbox.com/home/PRODUCER-DASHBOARD/")
        assert f["web_url"].endswith("?preview=" + name)
    # The file only uploaded here is skipped, and says so.
    v = by_name["vocals.wav"]
    assert v["id"] == local["id"] and v["status"] == "skipped" and not v["in_dropbox"]
    assert v["web_url"] is None and "not in Dropbox" in v["reason"]
    assert {c["status"] for c in v["collaborators"]} == {"not_shared"}
    # In Dropbox: each file has the three as members, and no folder was shared.
    assert file_members(standin) == {n: EMAILS for n in FILES}
    assert standin.ctl("GET", "shared_folders")["shared_folders"] == []
    fx = side_effects(standin)
    assert fx["file_members_added"] == 9 and fx["folders_shared"] == 0
    assert all(i["access_level"] == "editor" for i in invitations(standin))

    # Run it again: every file is listed, nobody is added twice.
    adds = standin.calls().get("sharing/add_file_member")
    share_files(api, t)
    done_with(api, t, "all")
    assert standin.calls().get("sharing/add_file_member") == adds
    assert side_effects(standin)["file_members_added"] == 9
    # Reset forgets what was recorded; Dropbox's members stay, still added once.
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators/reset", json={}).status_code == 202
    s = done_with(api, t, "all")
    assert s["mode"] == "files"
    assert side_effects(standin)["file_members_added"] == 9


def test_only_chosen_files_are_shared(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=1)
    files = {f["name"]: f for f in api.get(f"/tracks/{t['id']}/files").json()["files"]}
    share_files(api, t, file_ids=[files["drums.wav"]["id"]])
    s = done_with(api, t, "all")
    assert [f["name"] for f in s["files"]] == ["drums.wav"]
    assert file_members(standin) == {"drums.wav": ["c0@collab.example"]}


@pytest.mark.log_allow(r"PDS00050: job .*")
def test_a_refused_address_fails_only_itself_then_retry(h, standin):
    acct, api, t, cs = producer_with_track(h, standin)
    standin.ctl("POST", "invalid_emails", {"emails": ["c1@collab.example"]})
    share_files(api, t)
    s = wait_job(api, t["id"])
    assert s["status"] == "partial"
    by_email = {c["email"]: c for c in s["collaborators"]}
    assert by_email["c1@collab.example"]["status"] == "failed"
    assert "invalid_member" in by_email["c1@collab.example"]["error"]
    assert by_email["c0@collab.example"]["status"] == "shared"
    assert by_email["c2@collab.example"]["status"] == "shared"
    assert {f["status"] for f in s["files"]} == {"partial"}
    assert file_members(standin) == {n: ["c0@collab.example", "c2@collab.example"] for n in FILES}

    r = api.patch(f"/tracks/{t['id']}/collaborators/{cs[1]['id']}", json={"email": "c1@fixed.example"})
    assert r.status_code == 200
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators/retry", json={}).status_code == 202
    s = done_with(api, t, "all")
    assert {f["status"] for f in s["files"]} == {"all"}
    assert file_members(standin) == {
        n: ["c0@collab.example", "c1@fixed.example", "c2@collab.example"] for n in FILES}
    assert side_effects(standin)["file_members_added"] == 9


@pytest.mark.log_allow(r"PDS00050: job .*")
def test_dropbox_invitation_limit_is_later_not_never(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=2)
    standin.fault("sharing/add_file_member", "rate_limit", count=1)
    share_files(api, t)
    s = wait_for(lambda: (lambda x: x if x["job"]["state"] == "pending" and x["job"]["last_error"]
                          else None)(status(api, t["id"])), what="the job waiting")
    assert "rate_limit" in s["job"]["last_error"]
    assert {c["status"] for c in s["collaborators"]} == {"pending"}
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators/retry", json={}).status_code == 202
    done_with(api, t, "all")
    assert side_effects(standin)["file_members_added"] == 6


def test_bulk_share_in_files_mode(h, standin):
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    ids = []
    for i in range(3):
        t = api.create_track(title=f"Song {i}", sharing_status="released")
        path = f"/PRODUCER-DASHBOARD/bounces/Song {i}/mix.wav"
        standin.put_file(acct["account_id"], path, content=b"mix %d" % i)
        api.create_file(t["id"], category="bounce", name="mix.wav", dropbox_path=path)
        if i:
            api.create_collaborator(t["id"], name="Guest", email=f"guest{i}@collab.example")
        ids.append(t["id"])
    r = api.post("/share-with-collaborators", json={"track_ids": ids, "mode": "files"})
    assert r.status_code == 202, r.text
    assert [s["track_id"] for s in r.json()["skipped"]] == [ids[0]]
    for q in r.json()["queued"]:
        s = wait_job(api, q["track_id"])
        assert s["mode"] == "files" and s["status"] == "all"
    assert standin.ctl("GET", "shared_folders")["shared_folders"] == []
    assert side_effects(standin)["file_members_added"] == 2
    r = api.post("/share-with-collaborators", json={"track_ids": ids, "mode": "zip"})
    assert r.status_code == 400


def test_removing_a_collaborator_takes_them_off_each_file(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=2)
    share_files(api, t)
    done_with(api, t, "all")
    assert api.delete(f"/tracks/{t['id']}/collaborators/{cs[0]['id']}").status_code == 204
    s = wait_for(lambda: (lambda x: x if x["removed"] and x["removed"][0]["status"] == "removed"
                          else None)(status(api, t["id"])), what="the removal")
    assert [c["email"] for c in s["collaborators"]] == ["c1@collab.example"]
    assert s["status"] == "all"
    assert all([c["id"] for c in f["collaborators"]] == [cs[1]["id"]] for f in s["files"])
    assert file_members(standin) == {n: ["c1@collab.example"] for n in FILES}
    assert standin.calls().get("sharing/remove_file_member_2") == 3
    assert standin.calls().get("sharing/remove_folder_member", 0) == 0


@pytest.mark.log_allow(r"PDS00050: job .*")
def test_a_collaborator_failed_on_one_file_still_loses_the_others(h, standin):
    acct, api, t, cs = producer_with_track(h, standin, collabs=2)
    # A file the track names but Dropbox does not have: it fails for everyone.
    api.create_file(t["id"], category="stem", name="ghost.wav",
                    dropbox_path="/PRODUCER-DASHBOARD/stems/Night Drive/ghost.wav")
    share_files(api, t)
    s = wait_job(api, t["id"])
    assert {c["status"] for c in s["collaborators"]} == {"failed"}
    assert "invalid_file" in s["collaborators"][0]["error"]
    assert {f["name"]: f["status"] for f in s["files"]} == {
        "master.wav": "all", "bounce.mp3": "all", "drums.wav": "all", "ghost.wav": "none"}
    assert api.delete(f"/tracks/{t['id']}/collaborators/{cs[0]['id']}").status_code == 204
    wait_for(lambda: (lambda x: x if x["removed"] and x["removed"][0]["status"] == "removed"
                      else None)(status(api, t["id"])), what="the removal")
    assert file_members(standin) == {n: ["c1@collab.example"] for n in FILES}


@pytest.mark.log_allow(r"PDS00050")
def test_child_killed_mid_files_job_adds_nobody_twice(h, standin):
    acct, api, t, cs = producer_with_track(h, standin)
    standin.fault("sharing/add_file_member", "hang", count=1, hang_seconds=8)
    share_files(api, t)
    wait_for(lambda: status(api, t["id"])["job"]["state"] == "running", what="the job to run")
    with h.db() as conn:
        owner = conn.execute("SELECT lease_owner FROM pds_jobs WHERE track_id = ?",
                             (t["id"],)).fetchone()[0]
    wait_for(lambda: standin.calls().get("sharing/add_file_member", 0) >= 1, what="the first add")
    kill_child(int(owner.split(":")[1]), api)
    s = wait_job(api, t["id"], timeout=90)
    assert s["job"]["state"] == "done" and s["status"] == "all", s
    assert s["job"]["attempts"] >= 2
    assert side_effects(standin)["file_members_added"] == 9
    assert file_members(standin) == {n: EMAILS for n in FILES}


def test_files_mode_requests_are_scoped_and_validated(dropbox_httpd, standin):
    h = uploading(dropbox_httpd)
    acct, api, t, cs = producer_with_track(h, standin, collabs=1)
    other = api.create_track(title="Other")
    f_other = api.create_file(other["id"], category="stem", name="x.wav")
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators",
                 json={"mode": "files", "file_ids": [f_other["id"]]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    r = api.post(f"/tracks/{t['id']}/share-with-collaborators",
                 json={"mode": "files", "file_ids": ["../../etc", "<b>"]})
    assert r.status_code == 400
    # Another producer can neither share this track nor see its files' status.
    bob = h.api("bob")
    assert bob.post(f"/tracks/{t['id']}/share-with-collaborators",
                    json={"mode": "files"}).status_code == 404
    bt = bob.create_track(title="Bob's")
    r = bob.post(f"/tracks/{bt['id']}/share-with-collaborators",
                 json={"mode": "files", "file_ids": [f_other["id"]]})
    assert r.status_code == 400
    assert standin.calls().get("sharing/add_file_member", 0) == 0
    # A track none of whose files is in Dropbox: nothing to share, and it says so.
    lone = api.create_track(title="Lone")
    upload_local(api, lone, "only-here.wav")
    api.create_collaborator(lone["id"], name="Guest", email="g@collab.example")
    share_files(api, lone)
    s = wait_job(api, lone["id"])
    assert s["status"] == "none"
    assert s["collaborators"][0]["status"] == "failed"
    assert "in Dropbox" in s["collaborators"][0]["error"]
    assert [f["status"] for f in s["files"]] == ["skipped"]


def mails_to(smtp, addr):
    return [m for m in smtp.messages if m["to"] == [f"<{addr}>"]]


def headers_of(msg):
    head = msg["data"].split("\r\n\r\n", 1)[0]
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in (" ", "\t")]


def test_non_producer_collaborators_get_one_mail_per_track(dropbox_httpd, standin):
    smtp = SMTPSink()
    try:
        h = dropbox_httpd(extra=[f"PDShareJobLease {LEASE}", f"PDShareSMTP smtp://127.0.0.1:{smtp.port}",
                                 "PDShareMailFrom shares@pdshare.example"])
        bob_acct = standin.account("bob@producer.example", "Bob")
        connect(h, "bob", standin, bob_acct["account_id"])
        title = "Night <b>Drive</b>\u2028Bcc: evil@attacker.example"
        acct, api, t, cs = producer_with_track(
            h, standin, title=title,
            emails=["c0@collab.example", "c1@collab.example", "bob@producer.example"])
        api.patch(f"/tracks/{t['id']}/collaborators/{cs[2]['id']}", json={"username": "bob"})
        api.set_profile(display_name="Alice A. <i>x</i>\u2029Cc: y@evil.example")
        # CR/LF never reach a header: refused where they would come in.
        for bad in ({"name": "X", "email": "x@collab.example\r\nBcc: evil@attacker.example"},
                    {"name": "X\r\nBcc: evil@attacker.example", "email": "x@collab.example"}):
            assert api.post(f"/tracks/{t['id']}/collaborators", json=bad).status_code == 400
        assert api.patch(f"/tracks/{t['id']}", json={"title": "T\r\nBcc: e@x.example"}).status_code == 400
        share_files(api, t)
        done_with(api, t, "all")
        wait_for(lambda: len(smtp.messages) >= 3, timeout=20, what="the mails")
        for addr in ("c0@collab.example", "c1@collab.example"):
            (m,) = mails_to(smtp, addr)
            data = m["data"]
            assert "Subject: A track was shared with you through Dropbox\r\n" in data
            assert "Content-Type: text/plain" in data
            assert "From (username): alice" in data
            assert "Display name they chose: Alice A. <i>x</i>?Cc: y@evil.example" in data
            assert "Night <b>Drive</b>?Bcc: evil@attacker.example" in data    # as text, one line
            assert "3 files: " in data and "master.wav" in data
            assert "accept the invitation" in data
            assert "bcc" not in headers_of(m) and "cc" not in headers_of(m)
            assert sorted(headers_of(m)) == sorted(["date", "from", "to", "subject", "mime-version",
                                                    "content-type", "content-transfer-encoding"])
        # The producer gets issue 11's invitation mail, not this one.
        (bm,) = mails_to(smtp, "bob@producer.example")
        assert "You have an invitation on PD Share" in bm["data"]
        assert len(smtp.messages) == 3

        # Retry, reset, a re-share, bulk, the other mode: no second mail.
        api.post(f"/tracks/{t['id']}/share-with-collaborators/retry", json={})
        done_with(api, t, "all")
        api.post(f"/tracks/{t['id']}/share-with-collaborators/reset", json={})
        done_with(api, t, "all")
        assert api.post("/share-with-collaborators", json={"track_ids": [t["id"]]}).status_code == 202
        done_with(api, t, "all")
        assert len(smtp.messages) == 3

        # Folder mode: a new collaborator gets one mail naming the folder.
        api.create_collaborator(t["id"], name="New", email="c3@collab.example")
        api.post(f"/tracks/{t['id']}/share-with-collaborators", json={"mode": "folder"})
        done_with(api, t, "all")
        wait_for(lambda: mails_to(smtp, "c3@collab.example"), timeout=20, what="the folder mail")
        (m3,) = mails_to(smtp, "c3@collab.example")
        assert 'the folder "Night' in m3["data"]
        assert len(smtp.messages) == 4
    finally:
        smtp.stop()


def test_owner_page_shares_as_files_and_shows_each_file(dropbox_httpd, standin, browser_env, tmp_path):
    """The Collaborators page: choose "Individual files", share, and see each
    file's state (the one only uploaded here skipped), hostile names as text,
    axe-clean at 1280 and 390 px."""
    h = uploading(dropbox_httpd)
    acct = standin.account("alice@example.com", "Alice")
    connect(h, "alice", standin, acct["account_id"])
    api = h.api("alice")
    title = '<img src=x onerror="window.__pwned=1"> Night'
    name = '<img src=x onerror=window.__pwned=1>mix.wav'
    t = api.create_track(title=title, sharing_status="released")
    path = f"/PRODUCER-DASHBOARD/bounces/Night/{name}"
    standin.put_file(acct["account_id"], path, content=b"mix")
    api.create_file(t["id"], category="bounce", name=name, dropbox_path=path)
    upload_local(api, t, "vocals.wav")
    api.create_collaborator(t["id"], name='<b onmouseover="x">Guest</b>', email="g@collab.example")
    try:
        run_browser(browser_env, "collab_files", {
            "base": h.base_url, "standin": standin.url,
            "collab_files": {"user": "alice", "track_title": title, "file_name": name,
                             "local_name": "vocals.wav"},
        }, tmp_path)
    except BaseException:
        print("share status after the browser:", status(api, t["id"]))
        raise
    s = status(api, t["id"])
    assert s["mode"] == "files" and s["status"] == "all"
    assert file_members(standin) == {name: ["g@collab.example"]}
