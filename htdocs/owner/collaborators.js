// Collaborators and share status, per track: who has the track's shared
// Dropbox folder or files (dots; per file in files mode), share as a folder or
// as individual files / retry, add and remove collaborators.
import { api, el, announce, showError, confirmDialog, setBusy, dot, plural } from "./app.js";

const list = document.getElementById("list");
const OVERALL = { all: "Shared with everyone", partial: "Partly shared", none: "Not shared" };
const PERSON = { shared: "Shared", pending: "Invitation pending", not_shared: "Not shared", failed: "Failed" };
const JOB = { pending: "waiting to run", running: "running", done: "done", failed: "failed" };
const FILE = { all: "Shared with everyone", partial: "Partly shared", none: "Not shared",
               skipped: "Skipped: not in Dropbox yet" };
const MODES = [["folder", "A shared Dropbox folder"], ["files", "Individual files"]];
const polls = new Map();

function enc(id) { return encodeURIComponent(id); }

async function loadTrack(t) {
  const [c, st] = await Promise.all([
    api(`/tracks/${enc(t.id)}/collaborators`),
    api(`/tracks/${enc(t.id)}/share-status`),
  ]);
  return { track: t, collaborators: c.collaborators, status: st };
}

function jobBusy(st) {
  return st.job && (st.job.state === "pending" || st.job.state === "running");
}

function renderTrack(data) {
  const { track: t, collaborators, status: st } = data;
  const byId = new Map((st.collaborators || []).map((c) => [String(c.id), c]));
  const sec = el("section", { class: "panel track-card", id: "track-" + t.id, "aria-labelledby": "h-" + t.id });
  const overall = st.status || "none";
  sec.append(el("h2", { id: "h-" + t.id, tabindex: "-1" }, t.title),
    el("p", { class: "overall" }, dot(overall, OVERALL[overall] || overall)));

  if (st.folder_path) {
    sec.append(el("p", { class: "folder" }, "Dropbox folder: ", st.folder_path,
      st.web_url ? [" · ", el("a", { href: st.web_url, target: "_blank", rel: "noopener" }, "open in Dropbox", el("span", { class: "visually-hidden" }, " (new tab)"))] : null));
  }
  if (st.job) {
    const j = st.job;
    sec.append(el("p", { class: j.state === "failed" ? "error" : "folder", role: j.state === "failed" ? "alert" : null },
      `Sharing ${JOB[j.state] || j.state}` + (j.attempts > 1 ? ` (attempt ${j.attempts})` : "") +
      (j.last_error && j.state !== "done" ? `: ${j.last_error}` : "")));
  }

  if (st.mode === "files" && st.files) sec.append(renderFiles(t, st, collaborators));

  const people = el("ul", { class: "people", "aria-label": `Collaborators on ${t.title}` });
  if (!collaborators.length) people.append(el("li", {}, el("span", { class: "muted" }, "No collaborators yet.")));
  for (const c of collaborators) {
    const s = byId.get(String(c.id));
    const state = s ? s.status : "not_shared";
    const remove = el("button", { type: "button", class: "btn small danger", "aria-label": `Remove ${c.name} from ${t.title}` }, "Remove");
    remove.addEventListener("click", async () => {
      const yes = await confirmDialog({
        title: `Remove ${c.name}?`,
        message: `${c.name} loses access to the shared Dropbox folder of “${t.title}”.`,
        confirm: "Remove",
      });
      if (!yes) return;
      setBusy(remove, true, "Removing…");
      try {
        await api(`/tracks/${enc(t.id)}/collaborators/${enc(c.id)}`, { method: "DELETE" });
        announce(`${c.name} removed from ${t.title}.`);
        await refresh(t);
      } catch (e) {
        setBusy(remove, false);
        showError(e);
      }
    });
    people.append(el("li", {},
      el("div", { class: "who" },
        el("strong", {}, c.name), c.role ? ` (${c.role})` : "",
        el("small", {}, c.email || "no email: cannot be invited"),
        el("span", { class: "person-state" }, dot(state, PERSON[state] || state))),
      remove,
      s && s.error ? el("p", { class: "err" }, s.error) : null));
  }
  sec.append(people);

  const withEmail = collaborators.filter((c) => c.email).length;
  const actions = el("div", { class: "actions" });
  const busy = jobBusy(st);
  const shareLabel = overall === "none" ? "Share with collaborators" : "Share again";
  const share = el("button", { type: "button", class: "btn primary", disabled: !withEmail || busy,
                               "aria-label": `${shareLabel}: ${t.title}` }, shareLabel);
  const modes = el("fieldset", { class: "modes" }, el("legend", {}, "Share as"));
  for (const [value, label] of MODES) {
    const id = `mode-${value}-${t.id}`;
    modes.append(el("span", { class: "mode" },
      el("input", { type: "radio", id, name: `mode-${t.id}`, value, checked: (st.mode || "folder") === value }),
      el("label", { for: id }, label)));
  }
  share.addEventListener("click", () => {
    const picked = modes.querySelector("input:checked");
    act(t, share, "", "Sharing started.", picked ? picked.value : "folder");
  });
  sec.append(modes);
  actions.append(share);
  const failed = (st.collaborators || []).some((c) => c.status === "failed") || (st.job && st.job.state === "failed");
  if (failed) {
    const retry = el("button", { type: "button", class: "btn", disabled: busy, "aria-label": `Retry sharing ${t.title}` }, "Retry");
    retry.addEventListener("click", () => act(t, retry, "/retry", "Retrying."));
    actions.append(retry);
  }
  if (busy) actions.append(el("span", { class: "muted" }, "Working…"));
  sec.append(actions);

  // add a collaborator
  const f = el("form", { class: "add-form", "aria-label": `Add a collaborator to ${t.title}` });
  const field = (name, label, type, req) => {
    const id = `${name}-${t.id}`;
    return el("div", { class: "field" }, el("label", { for: id }, label),
      el("input", { type, id, name, required: req, autocomplete: "off", maxlength: 200 }));
  };
  f.append(field("name", "Name", "text", true), field("email", "Email", "email", false),
    field("role", "Role", "text", false),
    el("button", { type: "submit", class: "btn" }, "Add"));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const k of ["name", "email", "role"]) {
      const v = f.elements[k].value.trim();
      if (v) body[k] = v;
    }
    if (!body.name) { f.elements.name.focus(); return showError(new Error("A collaborator needs a name.")); }
    const btn = f.querySelector("button");
    setBusy(btn, true);
    try {
      await api(`/tracks/${enc(t.id)}/collaborators`, { method: "POST", body });
      announce(`${body.name} added to ${t.title}.`);
      await refresh(t);
    } catch (e) {
      setBusy(btn, false);
      showError(e);
    }
  });
  sec.append(el("details", { class: "add" }, el("summary", {}, "Add a collaborator"), f));
  return sec;
}

// Files mode: each file, its state, its page on dropbox.com, and who failed why.
function renderFiles(t, st, collaborators) {
  const names = new Map(collaborators.map((c) => [String(c.id), c.name]));
  const ul = el("ul", { class: "files-status", "aria-label": `Files of ${t.title} in Dropbox` });
  for (const f of st.files) {
    const failed = (f.collaborators || []).filter((c) => c.status === "failed");
    const shared = (f.collaborators || []).filter((c) => c.status === "shared").length;
    ul.append(el("li", {},
      el("strong", {}, f.name), " ",
      el("span", { class: "person-state" }, dot(f.status === "skipped" ? "none" : f.status, FILE[f.status] || f.status)),
      f.status !== "skipped" ? el("small", {}, ` shared with ${shared} of ${(f.collaborators || []).length}`) : null,
      f.web_url ? [" · ", el("a", { href: f.web_url, target: "_blank", rel: "noopener" }, "open in Dropbox",
        el("span", { class: "visually-hidden" }, ` (${f.name}, new tab)`))] : null,
      ...failed.map((c) => el("p", { class: "err" }, `${names.get(String(c.id)) || "A collaborator"}: ${c.error || "failed"}`))));
  }
  return el("div", { class: "files" }, el("h3", {}, "Files"), ul);
}

async function act(t, btn, suffix, msg, mode = "folder") {
  setBusy(btn, true, "Working…");
  try {
    await api(`/tracks/${enc(t.id)}/share-with-collaborators${suffix}`, { method: "POST", body: suffix ? {} : { mode } });
    announce(msg);
    await refresh(t);
  } catch (e) {
    setBusy(btn, false);
    showError(e.code === "conflict" || e.status === 409 ? new Error("Sharing is already running for this track.") : e);
  }
}

async function refresh(t) {
  const data = await loadTrack(t);
  const old = document.getElementById("track-" + t.id);
  const fresh = renderTrack(data);
  if (old) old.replaceWith(fresh);
  if (jobBusy(data.status)) poll(t);
  return data;
}

function poll(t) {
  if (polls.has(t.id)) return;
  let left = 60;
  const tick = async () => {
    polls.delete(t.id);
    if (--left < 0) return;
    try {
      const data = await refresh(t);
      if (!jobBusy(data.status)) {
        announce(`${t.title}: ${OVERALL[data.status.status] || data.status.status}.`);
        return;
      }
    } catch (e) {
      showError(e);
      return;
    }
  };
  polls.set(t.id, setTimeout(tick, 1500));
}

async function main() {
  try {
    const { tracks } = await api("/tracks");
    if (!tracks.length) {
      list.replaceChildren(el("p", { class: "panel empty" }, "You have no tracks yet."));
      return;
    }
    tracks.sort((a, b) => String(a.title).localeCompare(String(b.title)));
    const all = await Promise.all(tracks.map(loadTrack));
    list.replaceChildren(el("p", { class: "muted" }, plural(tracks.length, "track")), ...all.map(renderTrack));
    for (const d of all) if (jobBusy(d.status)) poll(d.track);
  } catch (e) {
    list.replaceChildren();
    showError(e);
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}
main();
