"""Issue 11 item 2: nothing acts in a producer's Dropbox without that producer.

A producer (alice) who names another producer (bob) as a collaborator and
shares the track makes an invitation in bob's app, not a mount in bob's
Dropbox. Only bob's acceptance mounts the folder (team accounts), with bob's
own token, as a durable job; a decline or a withdrawal does nothing there.
Nobody else (carol, or alice herself) can see or answer bob's invitation, and
what alice wrote comes back as plain data."""

import pytest

from pdshare_dropbox import connect
from smtp_sink import SMTPSink
from test_browser import browser_env, run_browser  # noqa: F401 (a fixture)
from test_collaborators_sharing import LEASE, producer_with_track, wait_for, wait_job

BIDI = "\u202e"


@pytest.fixture
def h(dropbox_httpd):
    return dropbox_httpd(extra=[f"PDShareJobLease {LEASE}"])


def bob_connected(h, standin, team=True):
    acct = standin.account("bob@team.example", "Bob Team",
                           team={"name": "Bob Records", "home_path": "/Bob Team"} if team else None)
    connect(h, "bob", standin, acct["account_id"])
    return acct


def alice_shares_with_bob(h, standin, name="Bob", title=None):
    """alice's track, bob named by username (and his address), shared; answers
    (alice's api, the track, bob's collaborator record) once the job is done.
    title: the track's title, set before the share."""
    acct, api, t, cs = producer_with_track(h, standin, collabs=0, emails=["bob@team.example"])
    if title is not None:
        assert api.patch(f"/tracks/{t['id']}", json={"title": title}).status_code == 200
    r = api.patch(f"/tracks/{t['id']}/collaborators/{cs[0]['id']}",
                  json={"username": "bob", "name": name})
    assert r.status_code == 200, r.text
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators", json={}).status_code == 202
    assert wait_job(api, t["id"])["status"] == "all"
    return api, t, cs[0]


def invitations_of(h, user):
    r = h.api(user).get("/invitations")
    assert r.status_code == 200, r.text
    return r.json()["invitations"]


def bob_home(standin, bob_acct):
    return {f["path_display"] for f in standin.ctl("GET", "files", account_id=bob_acct["account_id"],
                                                    hashes="0")["files"]}


def mounted_accounts(standin):
    return {m.get("account_id") for sf in standin.ctl("GET", "shared_folders")["shared_folders"]
            for m in sf["mounts"]}


def answer(h, user, inv_id, what, body=None):
    return h.api(user).post(f"/invitations/{inv_id}/{what}", json={} if body is None else body)


def test_sharing_with_a_producer_asks_first_and_mounts_only_on_accept(h, standin):
    bob = bob_connected(h, standin)
    before = bob_home(standin, bob)
    api, t, c = alice_shares_with_bob(h, standin)
    api.set_profile(display_name="Alice A.")

    # Nothing was done with bob's account: no mount, nothing new in his Dropbox.
    assert standin.calls().get("sharing/mount_folder", 0) == 0
    assert bob["account_id"] not in mounted_accounts(standin)
    assert bob_home(standin, bob) == before

    # bob is asked, and told who asks.
    invs = invitations_of(h, "bob")
    assert len(invs) == 1
    inv = invs[0]
    assert inv["status"] == "pending" and inv["mount_status"] is None
    assert inv["from"] == {"username": "alice", "display_name": "Alice A."}
    assert inv["track_title"] == "Night Drive"
    assert inv["folder_path"] == f"/PRODUCER-DASHBOARD/projects/Night Drive [{t['id']}]"
    assert inv["folder_name"] == f"Night Drive [{t['id']}]"
    assert inv["created_at"]
    notes = h.api("bob").get("/notifications").json()["notifications"]
    assert [n["kind"] for n in notes] == ["invitation"]
    assert notes[0]["data"]["invitation_id"] == inv["id"]
    assert notes[0]["data"]["from_username"] == "alice"
    assert notes[0]["data"]["track_title"] == "Night Drive"
    assert invitations_of(h, "alice") == [] and invitations_of(h, "carol") == []

    # bob accepts: the mount is a job run with bob's account.
    r = answer(h, "bob", inv["id"], "accept")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["mount_status"] == "pending"
    done = wait_for(lambda: (lambda i: i if i["mount_status"] == "mounted" else None)(
        invitations_of(h, "bob")[0]), what="the mount")
    assert done["status"] == "accepted" and done["mount_error"] is None
    assert standin.calls().get("sharing/mount_folder") == 1
    assert bob["account_id"] in mounted_accounts(standin)
    assert f"/Night Drive [{t['id']}]" in bob_home(standin, bob)

    # Accepting again is idempotent (200, nothing redone); declining now is 409.
    r = answer(h, "bob", inv["id"], "accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    r = answer(h, "bob", inv["id"], "decline")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_accepted"
    with h.db() as conn:
        assert conn.execute("SELECT COUNT(*) FROM pds_jobs WHERE owner = 'bob'").fetchone()[0] == 1
    assert standin.calls().get("sharing/mount_folder") == 1


def test_decline_does_nothing_in_dropbox(h, standin):
    bob = bob_connected(h, standin)
    before = bob_home(standin, bob)
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    r = answer(h, "bob", inv["id"], "decline")
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert r.json()["mount_status"] is None
    # Declining again is idempotent; accepting after a decline is 409.
    assert answer(h, "bob", inv["id"], "decline").json()["status"] == "declined"
    r = answer(h, "bob", inv["id"], "accept")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_declined"
    with h.db() as conn:
        assert conn.execute("SELECT COUNT(*) FROM pds_jobs WHERE owner = 'bob'").fetchone()[0] == 0

    # alice shares again: bob's answer stands, and he is not asked (or told) twice.
    assert api.post(f"/tracks/{t['id']}/share-with-collaborators", json={}).status_code == 202
    wait_job(api, t["id"])
    assert [i["status"] for i in invitations_of(h, "bob")] == ["declined"]
    assert len(h.api("bob").get("/notifications").json()["notifications"]) == 1
    assert standin.calls().get("sharing/mount_folder", 0) == 0
    assert bob["account_id"] not in mounted_accounts(standin)
    assert bob_home(standin, bob) == before


def test_a_personal_account_is_not_mounted(h, standin):
    bob = bob_connected(h, standin, team=False)
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    assert answer(h, "bob", inv["id"], "accept").status_code == 200
    done = wait_for(lambda: (lambda i: i if i["mount_status"] != "pending" else None)(
        invitations_of(h, "bob")[0]), what="the mount job")
    assert done["mount_status"] == "not_needed"
    assert standin.calls().get("sharing/mount_folder", 0) == 0
    assert bob["account_id"] not in mounted_accounts(standin)


@pytest.mark.log_allow(r"PDS00050: job .*mount_folder")
def test_a_mount_dropbox_refuses_fails_with_its_reason(h, standin):
    bob = bob_connected(h, standin)
    standin.ctl("POST", f"accounts/{bob['account_id']}/mount_mode", {"mode": "not_mountable"})
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    assert answer(h, "bob", inv["id"], "accept").status_code == 200
    done = wait_for(lambda: (lambda i: i if i["mount_status"] == "failed" else None)(
        invitations_of(h, "bob")[0]), what="the failed mount")
    assert "mount_folder" in done["mount_error"] and done["status"] == "accepted"
    assert bob["account_id"] not in mounted_accounts(standin)


def test_nobody_else_can_see_or_answer_an_invitation(h, standin):
    bob_connected(h, standin)
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    for user in ("carol", "alice"):
        assert invitations_of(h, user) == []
        for what in ("accept", "decline"):
            r = answer(h, user, inv["id"], what)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (user, what)
    for bad in ("nope", "i" + "0" * 40, "..", "%2e%2e"):
        assert answer(h, "bob", bad, "accept").status_code == 404
    bob_api = h.api("bob")
    # The route's rules, like every write: JSON, no unknown fields, POST only.
    r = bob_api.post(f"/invitations/{inv['id']}/accept", data="{}",
                     headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = answer(h, "bob", inv["id"], "accept", body={"status": "accepted", "username": "carol"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_field"
    assert bob_api.get(f"/invitations/{inv['id']}/accept").status_code == 405
    assert bob_api.delete("/invitations").status_code == 405
    assert h.api(None).get("/invitations").status_code == 401
    assert invitations_of(h, "bob")[0]["status"] == "pending"
    assert standin.calls().get("sharing/mount_folder", 0) == 0
    with h.db() as conn:
        assert conn.execute("SELECT COUNT(*) FROM pds_jobs WHERE kind = 'mount_folder'").fetchone()[0] == 0


def test_removing_the_collaborator_withdraws_the_invitation(h, standin):
    bob_connected(h, standin)
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    assert api.delete(f"/tracks/{t['id']}/collaborators/{c['id']}").status_code == 204
    assert invitations_of(h, "bob") == []
    assert h.api("bob").get("/notifications").json()["notifications"] == []
    assert answer(h, "bob", inv["id"], "accept").status_code == 404
    assert standin.calls().get("sharing/mount_folder", 0) == 0


def test_renaming_the_collaborator_to_someone_else_withdraws_it(h, standin):
    bob_connected(h, standin)
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    assert api.patch(f"/tracks/{t['id']}/collaborators/{c['id']}",
                     json={"username": "carol"}).status_code == 200
    assert invitations_of(h, "bob") == []
    assert h.api("bob").get("/notifications").json()["notifications"] == []
    assert answer(h, "bob", inv["id"], "accept").status_code == 404


def test_deleting_the_track_withdraws_the_invitation_and_its_notice(h, standin):
    bob_connected(h, standin)
    api, t, c = alice_shares_with_bob(h, standin)
    inv = invitations_of(h, "bob")[0]
    assert h.api("bob").get("/notifications").json()["notifications"] != []
    assert api.delete(f"/tracks/{t['id']}").status_code == 204
    assert invitations_of(h, "bob") == []
    assert h.api("bob").get("/notifications").json()["notifications"] == []
    assert answer(h, "bob", inv["id"], "accept").status_code == 404
    with h.db() as conn:
        assert conn.execute("SELECT COUNT(*) FROM pds_invitations").fetchone()[0] == 0


# Bidi controls are refused at input since issue 11 item 4 (asserted below), so
# the hostile words that can be stored are markup, a URL and look-alike text.
HOSTILE_TITLE = '<img src=x onerror=alert(1)> evil.exe https://phish.example/login'
HOSTILE_NAME = '<script>alert("x")</script> Dropbox Support https://phish.example'


def test_hostile_text_is_plain_data_in_api_notice_and_mail(dropbox_httpd, standin):
    smtp = SMTPSink()
    try:
        h = dropbox_httpd(extra=[f"PDShareJobLease {LEASE}", f"PDShareSMTP smtp://127.0.0.1:{smtp.port}",
                                 "PDShareMailFrom shares@pdshare.example"])
        bob_connected(h, standin)
        # A line break cannot get into a title or a name in the first place.
        alice = h.api("alice")
        assert alice.post("/tracks", json={"title": "a\r\nBcc: victim@example.com"}).status_code == 400
        assert alice.put("/profile", json={"display_name": "x\r\nSubject: hi"}).status_code == 400
        assert alice.put("/profile", json={"display_name": HOSTILE_NAME + BIDI}).status_code == 400
        assert alice.post("/tracks", json={"title": BIDI + HOSTILE_TITLE}).status_code == 400
        alice.set_profile(display_name=HOSTILE_NAME)
        api, t, c = alice_shares_with_bob(h, standin, title=HOSTILE_TITLE, name=HOSTILE_NAME)

        inv = invitations_of(h, "bob")[0]
        assert inv["track_title"] == HOSTILE_TITLE
        assert inv["from"] == {"username": "alice", "display_name": HOSTILE_NAME}
        note = h.api("bob").get("/notifications").json()["notifications"][0]
        # The notice's sentence is the module's own; what alice wrote is data.
        assert note["message"] == "A producer invited you to collaborate on a track."
        assert note["data"]["track_title"] == HOSTILE_TITLE

        msgs = wait_for(lambda: list(smtp.messages), timeout=20, what="the mail")
        assert len(msgs) == 1 and msgs[0]["to"] == ["<bob@team.example>"]
        head, _, body = msgs[0]["data"].partition("\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.split("\r\n"))
        assert set(headers) == {"Date", "From", "To", "Subject", "MIME-Version", "Content-Type",
                                "Content-Transfer-Encoding"}
        assert headers["Subject"] == "You have an invitation on PD Share"
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        # The body names the sender by username and shows the words as text.
        assert "From (username): alice" in body
        assert "<img src=x onerror=alert(1)> evil.exe https://phish.example/login" in body
        assert BIDI not in body
        assert "Nothing has been added to your Dropbox" in body
    finally:
        smtp.stop()


def test_owner_page_shows_invitations_as_text_and_accepts(dropbox_httpd, standin, browser_env, tmp_path):
    """bob's collaborators page lists alice's invitation: her hostile display
    name and title appear as text (no element, no script), the page is
    axe-clean, and its Accept button accepts (the mount follows)."""
    h = dropbox_httpd(extra=[f"PDShareJobLease {LEASE}"])
    bob_connected(h, standin)
    name = '<script>window.__pwned=1</script>Dropbox Support'
    title = '<img src=x onerror="window.__pwned=1"> 3pm.exe https://phish.example'
    h.api("alice").set_profile(display_name=name)
    alice_shares_with_bob(h, standin, title=title)
    run_browser(browser_env, "invitations", {
        "base": h.base_url, "standin": standin.url,
        "invitations": {"user": "bob", "from": "alice", "display_name": name, "track_title": title},
    }, tmp_path)
    inv = invitations_of(h, "bob")[0]
    assert inv["status"] == "accepted"
    wait_for(lambda: invitations_of(h, "bob")[0]["mount_status"] == "mounted", what="the mount")
