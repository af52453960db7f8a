// Create share: tracks or a bucket, optionally chosen files, permissions,
// expiry (7 / 30 / 90 days / never) -> POST /shares.
import { api, el, announce, showError, copyText, fmtDate, setBusy } from "./app.js";

const form = document.getElementById("form");
const tracksBox = document.getElementById("tracks");
const bucketPick = document.getElementById("bucket-pick");
const tracksPick = document.getElementById("tracks-pick");
const bucketSel = document.getElementById("bucket");
const filesBox = document.getElementById("files");
const result = document.getElementById("result");
const createBtn = document.getElementById("create");
let tracks = [];
const filesCache = new Map();
const STATUS = { private: "private", wip: "work in progress", released: "released" };
const CAT = { master: "Master", bounce: "Bounce", stem: "Stem", project: "Project" };

function value(name) {
  const c = form.querySelector(`input[name="${name}"]:checked`);
  return c ? c.value : null;
}

function selectedTracks() {
  if (value("what") === "bucket") return tracks.filter((t) => t.bucket === bucketSel.value);
  const ids = new Set([...tracksBox.querySelectorAll("input:checked")].map((c) => c.value));
  return tracks.filter((t) => ids.has(String(t.id)));
}

function renderTracks() {
  if (!tracks.length) {
    tracksBox.replaceChildren(el("p", { class: "muted" }, "You have no tracks yet. Add tracks through the owner API first."));
    return;
  }
  tracksBox.replaceChildren(...tracks.map((t) => {
    const id = "t-" + t.id;
    const bits = [t.bpm ? `${t.bpm} BPM` : null, t.key, t.bucket ? `in ${t.bucket}` : null,
                  STATUS[t.sharing_status] || t.sharing_status].filter(Boolean).join(" · ");
    return el("label", { class: "choice", for: id },
      el("input", { type: "checkbox", id, name: "track", value: String(t.id), onchange: refreshFiles }),
      el("span", {}, t.title, el("span", { class: "hint" }, bits)));
  }));
  const buckets = [...new Set(tracks.map((t) => t.bucket).filter(Boolean))].sort();
  bucketSel.replaceChildren(...buckets.map((b) =>
    el("option", { value: b }, `${b} (${tracks.filter((t) => t.bucket === b).length} tracks)`)));
  const bucketRadio = form.querySelector('input[name="what"][value="bucket"]');
  bucketRadio.disabled = !buckets.length;
}

async function filesOf(t) {
  if (!filesCache.has(t.id)) {
    filesCache.set(t.id, api(`/tracks/${encodeURIComponent(t.id)}/files`).then((r) => r.files.filter((f) => f.imported !== false && f.id)));
  }
  return filesCache.get(t.id);
}

async function refreshFiles() {
  if (value("files") !== "some") { filesBox.hidden = true; return; }
  filesBox.hidden = false;
  const chosen = selectedTracks();
  if (!chosen.length) {
    filesBox.replaceChildren(el("p", { class: "muted" }, "Choose tracks first."));
    return;
  }
  const keep = new Set([...filesBox.querySelectorAll("input:checked")].map((c) => c.value));
  try {
    const groups = await Promise.all(chosen.map(async (t) => [t, await filesOf(t)]));
    filesBox.replaceChildren(...groups.flatMap(([t, files]) => [
      el("p", { class: "group" }, t.title),
      ...(files.length ? files.map((f) => {
        const id = "f-" + f.id;
        return el("label", { class: "choice", for: id },
          el("input", { type: "checkbox", id, name: "file", value: String(f.id), checked: keep.has(String(f.id)) }),
          el("span", {}, `${CAT[f.category] || f.category}: ${f.name}`));
      }) : [el("p", { class: "muted" }, "No files registered for this track.")]),
    ]));
  } catch (e) {
    showError(e);
  }
}

function syncControls() {
  const bucket = value("what") === "bucket";
  bucketPick.hidden = !bucket;
  tracksPick.hidden = bucket;
  const custom = value("perm") === "custom";
  form.querySelectorAll('input[name="p"]').forEach((c) => { c.disabled = !custom; });
  refreshFiles();
}

form.addEventListener("change", (ev) => {
  if (["what", "perm", "files"].includes(ev.target.name) || ev.target === bucketSel) syncControls();
});

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  const body = {};
  if (value("what") === "bucket") {
    if (!bucketSel.value) return showError(new Error("Choose a bucket."));
    body.bucket = bucketSel.value;
  } else {
    body.track_ids = selectedTracks().map((t) => t.id);
    if (!body.track_ids.length) {
      showError(new Error("Choose at least one track."));
      tracksBox.querySelector("input")?.focus();
      return;
    }
  }
  if (value("files") === "some") {
    body.file_ids = [...filesBox.querySelectorAll("input:checked")].map((c) => c.value);
    if (!body.file_ids.length) return showError(new Error("Choose at least one file, or share all files."));
  }
  if (value("perm") === "custom") {
    const on = new Set([...form.querySelectorAll('input[name="p"]:checked')].map((c) => c.value));
    body.permissions = { bounces: on.has("bounces"), stems: on.has("stems"), projects: on.has("projects") };
  }
  const exp = value("expires");
  body.expires_in_days = exp === "never" ? null : Number(exp);
  const title = document.getElementById("title").value.trim();
  if (title) body.title = title;

  setBusy(createBtn, true, "Creating…");
  try {
    const s = await api("/shares", { method: "POST", body });
    showResult(s);
  } catch (e) {
    showError(e);
  } finally {
    setBusy(createBtn, false);
  }
});

function showResult(s) {
  const input = el("input", { type: "text", id: "new-url", readonly: true, value: s.url, "aria-label": "Link of the new share" });
  const copy = el("button", { type: "button", class: "btn primary", id: "copy-new" }, "Copy link");
  copy.addEventListener("click", async () => {
    if (await copyText(s.url)) announce("Link copied.");
    else { input.focus(); input.select(); announce("Copy did not work here: the link is selected, press Ctrl+C."); }
  });
  const heading = el("h2", { tabindex: "-1" }, "Share link created");
  result.replaceChildren(el("div", { class: "success" },
    heading,
    el("p", {}, `${s.tracks.length === 1 ? "1 track" : s.tracks.length + " tracks"}; ` +
      (s.expires_at ? `expires ${fmtDate(s.expires_at)}.` : "never expires.")),
    el("div", { class: "actions" }, input, copy,
      el("a", { class: "btn", href: "shares.html" }, "All share links"))));
  result.hidden = false;
  heading.focus();
  announce("Share link created.");
}

async function main() {
  try {
    ({ tracks } = await api("/tracks"));
    tracks.sort((a, b) => String(a.title).localeCompare(String(b.title)));
    renderTracks();
    syncControls();
  } catch (e) {
    tracksBox.replaceChildren();
    showError(e);
  }
}
main();
