// mod_pdshare owner pages: helpers shared by every page (plain ES modules, no
// build step). The pages call the owner API (SetHandler pdshare-api); its
// location comes from <meta name="pdshare-api"> (relative to the page), so a
// site that mounts the API elsewhere edits that one tag.

const meta = document.querySelector('meta[name="pdshare-api"]');
export const API = new URL(meta ? meta.content : "../api", location.href).pathname.replace(/\/+$/, "");

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || "http_" + status;
  }
}

// api("/shares") -> parsed JSON; api("/shares", {method: "POST", body: {...}}).
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (r.status === 204) return null;
  let data = null;
  const text = await r.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(r.status, err.code, err.message || r.statusText);
  }
  return data;
}

// el("a", {href: "x", class: "btn"}, "text", child, ...) -> element. Text is
// always set as text (never HTML); on* attributes take functions.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// A polite announcement for screen readers (and a visible status line).
export function announce(msg) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // a new text node after a tick is announced even when the text repeats
  setTimeout(() => { live.textContent = msg; }, 30);
}

export function showError(err, where) {
  const box = where || document.getElementById("error");
  if (!box) return;
  box.replaceChildren();
  if (!err) { box.hidden = true; return; }
  box.hidden = false;
  let msg = err.message || String(err);
  if (err.code === "unauthorized") msg = "You are not signed in. Reload the page to sign in.";
  box.append(el("p", {}, msg));
}

// confirmDialog({title, message, confirm: "Revoke"}) -> Promise<boolean>, in a
// modal <dialog> (focus moves into it; Escape cancels).
export function confirmDialog({ title, message, confirm = "Confirm", danger = true }) {
  return new Promise((resolve) => {
    const id = "dlg-" + Math.random().toString(36).slice(2);
    const cancelBtn = el("button", { type: "button", class: "btn" }, "Cancel");
    const okBtn = el("button", { type: "button", class: danger ? "btn danger" : "btn primary" }, confirm);
    const dlg = el("dialog", { class: "confirm", "aria-labelledby": id + "-t", "aria-describedby": id + "-m" },
      el("h2", { id: id + "-t" }, title),
      el("p", { id: id + "-m" }, message),
      el("div", { class: "actions" }, cancelBtn, okBtn));
    let answered = false;
    const done = (v) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancelBtn.addEventListener("click", () => done(false));
    okBtn.addEventListener("click", () => done(true));
    dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancelBtn.focus();
  });
}

// Copy text to the clipboard; falls back to selecting it in a hidden field.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) { /* fall through */ }
  }
  const ta = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  ta.remove();
  return ok;
}

export function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : (many || one + "s")}`;
}

// A status dot with its meaning in text (colour is never the only cue).
export function dot(kind, label) {
  return el("span", { class: "dot-wrap" },
    el("span", { class: "dot " + kind, "aria-hidden": "true" }),
    el("span", { class: "dot-label" }, label));
}

export function setBusy(button, busy, busyLabel) {
  if (busy) {
    button.dataset.label = button.textContent;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (busyLabel) button.textContent = busyLabel;
  } else {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (button.dataset.label) button.textContent = button.dataset.label;
  }
}

// The path of an owner page, for return_to (e.g. "/pd/app/accounts.html").
export function pagePath(name) {
  return new URL(name, location.href).pathname;
}

export function shareTitle(s) {
  if (s.title) return s.title;
  if (s.bucket) return s.bucket;
  const titles = (s.tracks || []).map((t) => t.title);
  if (!titles.length) return "Share";
  return titles.length <= 2 ? titles.join(", ") : `${titles[0]} and ${titles.length - 1} more`;
}

// Errors nobody caught are shown on the page too (they still reach the console).
window.addEventListener("unhandledrejection", (ev) => {
  showError(ev.reason instanceof Error ? ev.reason : new Error(String(ev.reason)));
});
