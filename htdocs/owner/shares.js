// Share links: every share with its status and counts; copy the URL; revoke.
import { api, el, announce, showError, confirmDialog, copyText, fmtDate, setBusy, shareTitle, dot } from "./app.js";

const list = document.getElementById("list");
const TYPES = [["master", "masters"], ["bounce", "bounces"], ["stem", "stems"], ["project", "projects"]];
const STATUS = { active: "Active", expired: "Expired", revoked: "Revoked" };

function statusLine(s) {
  if (s.status === "revoked") return `Revoked ${fmtDate(s.revoked_at)}`;
  if (s.status === "expired") return `Expired ${fmtDate(s.expires_at)}`;
  return s.expires_at ? `Expires ${fmtDate(s.expires_at)}` : "Never expires";
}

function perms(p) {
  const on = [];
  if (p.bounces) on.push("bounces");
  if (p.stems) on.push("stems");
  if (p.projects) on.push("projects");
  return on.length ? "Downloads: " + on.join(", ") : "Previews only";
}

function card(s) {
  const title = shareTitle(s);
  const hid = "share-" + s.id;
  const urlId = "url-" + s.id;
  const urlInput = el("input", { type: "text", id: urlId, readonly: true, value: s.url,
                                 "aria-label": `Link of ${title}` });
  urlInput.addEventListener("focus", () => urlInput.select());
  const copy = el("button", { type: "button", class: "btn small copy", "aria-label": `Copy link of ${title}` }, "Copy link");
  copy.addEventListener("click", async () => {
    const ok = await copyText(s.url);
    if (ok) {
      announce(`Link of ${title} copied.`);
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = "Copy link"; }, 2000);
    } else {
      urlInput.focus();
      announce("Copy did not work here: the link is selected, press Ctrl+C.");
    }
  });
  const side = el("div", { class: "side" },
    el("span", { class: "badge " + s.status }, STATUS[s.status] || s.status));
  if (s.status === "active") {
    const revoke = el("button", { type: "button", class: "btn small danger revoke", "aria-label": `Revoke ${title}` }, "Revoke");
    revoke.addEventListener("click", async () => {
      const yes = await confirmDialog({
        title: "Revoke this link?",
        message: `“${title}” stops working at once for everyone who has it. This cannot be undone; you can make a new link later.`,
        confirm: "Revoke link",
      });
      if (!yes) return;
      setBusy(revoke, true, "Revoking…");
      try {
        const updated = await api(`/shares/${encodeURIComponent(s.id)}/revoke`, { method: "POST", body: {} });
        const fresh = card(Object.assign({}, s, updated));
        li.replaceWith(fresh);
        announce(`“${title}” revoked.`);
        fresh.querySelector("h2").focus();
      } catch (e) {
        setBusy(revoke, false);
        showError(e);
      }
    });
    side.append(revoke);
  }
  const by = s.downloads_by_type || {};
  const stats = el("dl", { class: "stats" },
    ...[["Views", s.views], ["Link previews", s.previews], ["Plays", s.plays],
      ["Downloads", s.downloads]].map(([k, v]) =>
      el("div", {}, el("dt", {}, k), el("dd", {}, String(v || 0)))));
  const li = el("li", { class: "share " + s.status, id: hid, dataset: { id: s.id } },
    el("div", {},
      el("h2", { tabindex: "-1" }, title),
      el("p", { class: "sub" },
        `${(s.tracks || []).length === 1 ? "1 track" : (s.tracks || []).length + " tracks"} · ${perms(s.permissions || {})} · Created ${fmtDate(s.created_at)} · ${statusLine(s)}`)),
    side,
    el("div", { class: "url-row" }, urlInput, copy,
      el("a", { class: "btn small", href: s.url, target: "_blank", rel: "noopener" }, "Open", el("span", { class: "visually-hidden" }, ` ${title} (new tab)`))),
    stats,
    el("p", { class: "bytype" }, "Downloads by type: " +
      TYPES.map(([k, label]) => `${label} ${by[k] || 0}`).join(" · ")));
  return li;
}

async function load() {
  try {
    const { shares } = await api("/shares");
    if (!shares.length) {
      list.replaceChildren(el("div", { class: "panel empty" },
        el("p", {}, "No share links yet."),
        el("a", { class: "btn primary", href: "new-share.html" }, "Create your first share")));
    } else {
      shares.sort((a, b) => (b.status === "active") - (a.status === "active")
        || String(b.created_at || "").localeCompare(String(a.created_at || "")));
      list.replaceChildren(el("ul", { class: "shares", "aria-label": "Share links" }, ...shares.map(card)));
    }
    showError(null);
  } catch (e) {
    list.replaceChildren();
    showError(e);
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

load();
