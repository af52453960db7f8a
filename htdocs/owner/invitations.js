// Invitations to you from other producers (issue 11): accept or decline.
// Nothing is added to your Dropbox before you accept. What another producer
// wrote (their display name, the track's title, the folder's name) is shown
// as text through el() (text nodes, never HTML), isolated with <bdi>, with its
// bidirectional formatting characters shown as U+FFFD so that a title cannot
// show "3pm.exe" as "exe.mp3"; no link is ever made from it. The sender is
// named by their username.
import { api, el, announce, showError, setBusy, fmtDate } from "./app.js";

const box = document.getElementById("invitations");
const STATUS = { pending: "Waiting for your answer", accepted: "Accepted", declined: "Declined" };
const MOUNT = {
  pending: "Adding the folder to your Dropbox…",
  mounted: "The folder is in your Dropbox.",
  not_needed: "Accept the invitation Dropbox sent to your address to get the folder.",
  failed: "The folder could not be added to your Dropbox.",
};

const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
function text(s) { return el("bdi", {}, String(s).replace(BIDI, "\ufffd")); }

function item(inv) {
  const who = el("span", {}, "From ", el("strong", {}, "@", text(inv.from.username)),
    inv.from.display_name ? [" (name they chose: ", text(inv.from.display_name), ")"] : null);
  const li = el("li", { class: "invitation" },
    el("div", { class: "who" },
      el("strong", {}, text(inv.track_title)),
      el("small", {}, who),
      inv.folder_name ? el("small", {}, "Shared folder: ", text(inv.folder_name)) : null,
      el("small", {}, `${STATUS[inv.status] || inv.status} · ${fmtDate(inv.created_at)}`),
      inv.status === "accepted" && inv.mount_status ? el("small", {}, MOUNT[inv.mount_status] || inv.mount_status) : null));
  if (inv.status === "pending") {
    const actions = el("div", { class: "actions" });
    for (const [what, label] of [["accept", "Accept"], ["decline", "Decline"]]) {
      const b = el("button", { type: "button", class: what === "accept" ? "btn small primary" : "btn small",
                               "aria-label": `${label} the invitation from @${inv.from.username}: ${String(inv.track_title).replace(BIDI, "\ufffd")}` }, label);
      b.addEventListener("click", () => answer(inv, what, b));
      actions.append(b);
    }
    li.append(actions);
  }
  return li;
}

async function answer(inv, what, btn) {
  setBusy(btn, true);
  try {
    await api(`/invitations/${encodeURIComponent(inv.id)}/${what}`, { method: "POST", body: {} });
    announce(what === "accept" ? "Invitation accepted." : "Invitation declined.");
    await load();
  } catch (e) {
    setBusy(btn, false);
    showError(e);
  }
}

async function load() {
  const list = document.getElementById("invitation-list");
  try {
    const { invitations } = await api("/invitations");
    list.replaceChildren(...(invitations.length ? invitations.map(item)
      : [el("li", {}, el("span", { class: "muted" }, "No invitations from other producers."))]));
  } catch (e) {
    showError(e);
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

if (box) load();
