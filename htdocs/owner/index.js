// Overview: the Dropbox connection and the share links at a glance.
import { api, el, showError, dot, plural } from "./app.js";

async function main() {
  const dbx = document.getElementById("ov-dropbox-state");
  const sh = document.getElementById("ov-shares-state");
  try {
    const d = await api("/dropbox");
    if (!d.configured) dbx.replaceChildren(dot("off", "Not set up on this server"));
    else if (!d.connected) dbx.replaceChildren(dot("off", "Not connected"));
    else if (d.token_status === "expired" || d.token_status === "revoked")
      dbx.replaceChildren(dot("expired", "Needs reconnecting"));
    else dbx.replaceChildren(dot("ok", d.account_type === "team" ? `Connected (team ${d.team_name || ""})` : "Connected (personal)"));
    dbx.classList.remove("muted");
  } catch (e) {
    dbx.textContent = "Unknown";
    showError(e);
  }
  try {
    const { shares } = await api("/shares");
    const active = shares.filter((s) => s.status === "active").length;
    const views = shares.reduce((n, s) => n + (s.views || 0), 0);
    sh.replaceChildren(el("span", {}, `${plural(active, "active link")} of ${shares.length}; ${plural(views, "view")} in all.`));
    sh.classList.remove("muted");
  } catch (e) {
    sh.textContent = "Unknown";
    showError(e);
  }
}
main();
