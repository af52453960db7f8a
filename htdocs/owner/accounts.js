// Connected accounts: the Dropbox connection (GET/DELETE /dropbox, connect).
import { api, el, announce, showError, confirmDialog, setBusy, dot, pagePath } from "./app.js";

const body = document.getElementById("dropbox-body");
const section = document.getElementById("dropbox");

const REASONS = {
  access_denied: "You did not allow access in Dropbox.",
  invalid_state: "The connection attempt was too old or was started elsewhere. Please try again.",
  expired_state: "The connection attempt took too long. Please try again.",
  invalid_grant: "Dropbox did not accept the authorization. Please try again.",
};

// Connecting is a JSON POST (another site can make a browser GET or post a form,
// never this): it answers the Dropbox page to go to, and we go there.
function connectButton(label, cls, id) {
  const b = el("button", { type: "button", class: cls, id }, label);
  b.addEventListener("click", async () => {
    setBusy(b, true, "Opening Dropbox…");
    try {
      const r = await api("/dropbox/connect", { method: "POST", body: { return_to: pagePath("accounts.html") } });
      const to = new URL(r.authorize_url);
      if (to.protocol !== "https:" && to.protocol !== "http:") throw new Error("The server answered an unusable Dropbox address.");
      location.assign(to.href);
    } catch (e) {
      setBusy(b, false);
      showError(e);
    }
  });
  return b;
}

function tokenStatus(d) {
  switch (d.token_status) {
    case "ok": return dot("ok", "Working");
    case "refreshing": return dot("pending", "Refreshing");
    case "expired": return dot("expired", "Expired");
    case "revoked": return dot("failed", "Revoked");
    default: return dot("off", d.token_status || "Unknown");
  }
}

function render(d) {
  const out = [];
  if (!d.configured) {
    out.push(el("p", {}, dot("off", "Not available")),
      el("p", { class: "muted" }, "Dropbox is not set up on this server yet. Ask the site’s administrator to configure the Dropbox app."));
    body.replaceChildren(...out);
    return;
  }
  if (!d.connected) {
    out.push(el("p", { id: "dropbox-state" }, dot("off", "Not connected")),
      el("p", { class: "muted" }, "Connect your Dropbox so share pages can play and download your files. A folder for your bounces, stems and projects is created in it."),
      el("div", { class: "actions" },
        connectButton("Connect Dropbox", "btn primary", "connect")));
    body.replaceChildren(...out);
    return;
  }
  const broken = d.token_status === "expired" || d.token_status === "revoked";
  if (broken) {
    out.push(el("div", { class: "warning", role: "alert" },
      el("strong", {}, d.token_status === "revoked" ? "Dropbox access was revoked" : "Dropbox access has expired"),
      "Share pages cannot offer previews or downloads until you reconnect. Your links, files and folders are kept. ",
      connectButton("Reconnect Dropbox", "btn small primary", "reconnect-alert")));
  }
  out.push(el("p", { id: "dropbox-state" }, dot(broken ? "warn" : "ok", broken ? "Connected, needs attention" : "Connected")));
  const kv = el("dl", { class: "kv" });
  const row = (k, v) => kv.append(el("dt", {}, k), el("dd", {}, v));
  row("Account", d.account_type === "team" ? `Team: ${d.team_name || "team account"}` : "Personal");
  if (d.email) row("Email", d.email);
  row("Folder", d.folder_path || "—");
  row("Access", tokenStatus(d));
  out.push(kv);
  const disconnect = el("button", { type: "button", class: "btn danger", id: "disconnect" }, "Disconnect");
  disconnect.addEventListener("click", async () => {
    const yes = await confirmDialog({
      title: "Disconnect Dropbox?",
      message: "Share pages will stop offering previews and downloads until you connect again. Your folders and files stay in Dropbox.",
      confirm: "Disconnect",
    });
    if (!yes) return;
    setBusy(disconnect, true, "Disconnecting…");
    try {
      const r = await api("/dropbox", { method: "DELETE" });
      announce(r && r.revoked_at_dropbox === false
        ? "Disconnected. Dropbox could not be told; remove the app in your Dropbox settings too."
        : "Dropbox disconnected.");
      await load();
    } catch (e) {
      setBusy(disconnect, false);
      showError(e);
    }
  });
  out.push(el("div", { class: "actions" },
    connectButton(broken ? "Reconnect Dropbox" : "Connect another account", broken ? "btn primary" : "btn", "connect"),
    disconnect));
  body.replaceChildren(...out);
}

async function load() {
  section.setAttribute("aria-busy", "true");
  try {
    render(await api("/dropbox"));
    showError(null);
  } catch (e) {
    body.replaceChildren(el("p", { class: "muted" }, "The connection state cannot be read right now."));
    showError(e);
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

// Coming back from Dropbox: ?dropbox=connected or ?dropbox=error&reason=CODE.
const q = new URLSearchParams(location.search);
if (q.get("dropbox") === "connected") {
  announce("Dropbox connected.");
} else if (q.get("dropbox") === "error") {
  const reason = q.get("reason") || "";
  showError(new Error("Dropbox was not connected: " + (REASONS[reason] || reason || "unknown reason")));
}
if (q.has("dropbox")) history.replaceState(null, "", location.pathname);

load();
