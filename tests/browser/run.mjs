// Browser scenarios of mod_pdshare, run by tests/test_browser.py against the
// httpd and Dropbox stand-in that pytest started:
//
//   node tests/browser/run.mjs SCENARIO CONFIG.json
//
// SCENARIO is visitor, owner or audit (see below). CONFIG holds the URLs,
// credentials and seeded ids. Debian's chromium (/usr/bin/chromium, or
// PDSHARE_CHROMIUM) is driven by playwright-core; no browser is downloaded.
// The last line of stdout is a JSON report; the exit status is 0 when every
// check passed, 1 when one failed, 2 when the run could not start.

import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let chromium, axeSource;
try {
  ({ chromium } = require("playwright-core"));
  axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
} catch (e) {
  console.log(JSON.stringify({ ok: false, failures: [`node modules missing (run npm ci at the top of the repo): ${e.message}`] }));
  process.exit(2);
}

const CHROMIUM = process.env.PDSHARE_CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", "--mute-audio"];
const WIDTHS = [390, 1280];
const STATUS_TEXT = { 403: "Forbidden", 404: "Not Found", 410: "Gone", 503: "Service Unavailable" };

const [scenario, cfgPath] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
const failures = [];
const report = { scenario, ok: false, failures, steps: [], screenshots: [], axe: {}, console: [] };

function step(msg) {
  report.steps.push(msg);
  process.stderr.write(`browser: ${msg}\n`);
}

function check(cond, msg) {
  if (!cond) failures.push(msg);
  return !!cond;
}

// Everything a page logs as an error, and every uncaught exception. Chromium
// logs a document answered 4xx as a failed load; for the pages whose status is
// the point (410 expired / disabled) pass that status as docStatus.
function watchConsole(page, label, docStatus = null) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (docStatus && m.location().url === page.url()
        && m.text() === `Failed to load resource: the server responded with a status of ${docStatus} (${STATUS_TEXT[docStatus]})`) return;
    report.console.push(`${label}: console error: ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => report.console.push(`${label}: uncaught: ${e.message}`));
  page.on("response", (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) return; // goto checks it
    if (r.status() >= 400) report.console.push(`${label}: ${r.status()} for ${r.url()}`);
  });
}

// user: log in to the owner pages as this user (password from cfg.users).
async function newContext(browser, { width = 1280, user = null, js = true } = {}) {
  return browser.newContext({
    viewport: { width, height: width < 600 ? 844 : 900 },
    deviceScaleFactor: 1,
    isMobile: false,
    hasTouch: width < 600,
    javaScriptEnabled: js,
    acceptDownloads: true,
    locale: "en-US",
    timezoneId: "UTC",
    httpCredentials: user ? { username: user, password: cfg.users[user] } : undefined,
  });
}

// axe-core in the page (evaluated through the DevTools protocol, so the page's
// CSP stays in force); serious and critical violations fail.
async function axe(page, label) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
    }));
  });
  report.axe[label] = res;
  for (const v of res) {
    if (v.impact === "serious" || v.impact === "critical") {
      failures.push(`${label}: axe ${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target).join(", ")}`);
    }
  }
  return res;
}

async function shot(page, name) {
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  const file = path.join(cfg.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  report.screenshots.push(file);
  return file;
}

async function noSideScroll(page, label) {
  const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(sw <= iw, `${label}: the page scrolls sideways (${sw}px wide in a ${iw}px window)`);
}

function sha256(file) {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

// Wait until an owner page has loaded its data (no aria-busy="true" left).
async function settled(page) {
  await page.waitForLoadState("networkidle");
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: 15000 });
}

// --- visitor: plays a track, downloads a permitted file, sees no forbidden button
async function visitor(browser) {
  const v = cfg.visitor;
  const ctx = await newContext(browser, { width: 390 });
  const page = await ctx.newPage();
  watchConsole(page, "visitor");
  const resp = await page.goto(v.url);
  check(resp.status() === 200, `share page answered ${resp.status()}`);

  // The player: a native <audio controls> named after the track, reached and
  // started from the keyboard.
  const audio = page.locator("audio.player");
  check(await audio.count() === 1, "not exactly one player on a single-track page");
  check(await audio.getAttribute("aria-label") === `Preview of ${v.title}`, "the player is not named after the track");
  const media = [];
  page.on("response", (r) => {
    if (r.url().startsWith(cfg.standin + "/tl/") && [200, 206].includes(r.status())
        && (r.headers()["content-type"] || "").startsWith("audio/")) media.push(r.url());
  });
  await page.evaluate(() => {
    window.__events = [];
    for (const a of document.querySelectorAll("audio")) {
      for (const ev of ["play", "playing", "error", "ended"]) {
        a.addEventListener(ev, () => window.__events.push(ev + (ev === "error" && a.error ? ":" + a.error.code : "")));
      }
    }
  });
  let reached = null;
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    const tag = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
    if (tag === "AUDIO") { reached = i + 1; break; }
  }
  check(reached !== null, "the player cannot be reached with Tab");
  step(`player focused after ${reached} Tab presses`);
  await page.keyboard.press("Space");
  try {
    await page.waitForFunction(() => window.__events.includes("playing"), null, { timeout: 15000 });
    await page.waitForFunction(() => document.querySelector("audio").currentTime > 0.2, null, { timeout: 10000 });
    step("audio reached playing and advanced");
  } catch (e) {
    const ev = await page.evaluate(() => window.__events);
    failures.push(`audio never reached playing after Space (events: ${ev.join(",") || "none"})`);
  }
  check(media.length > 0, "the player fetched nothing from the stand-in's temporary link");
  report.audio_src = media[0] || null;
  await page.evaluate(() => document.querySelector("audio").pause());

  // A permitted file: its button is a link with an accessible name, and the
  // browser downloads the real bytes.
  const link = page.getByRole("link", { name: new RegExp(`^Download ${v.permitted.label}: ${escapeRe(v.permitted.name)}`) });
  check(await link.count() === 1, `no download button for the permitted ${v.permitted.name}`);
  await fetchThrough(page, link, "visitor", v.permitted.sha256);

  // Forbidden types: no button, no link, not even the name.
  for (const f of v.forbidden) {
    check(await page.getByRole("link", { name: new RegExp(`Download ${f.label}`, "i") }).count() === 0,
      `a "Download ${f.label}" button although ${f.label.toLowerCase()}s are not allowed`);
    check(await page.locator(`a[href*="/files/${f.id}"]`).count() === 0, `a link to forbidden file ${f.name}`);
    check(!(await page.content()).includes(f.name), `forbidden file ${f.name} named on the page`);
  }
  for (const z of v.forbidden_zips) {
    check(await page.locator(`a[href*="/zip/"][href$="/${z}"]`).count() === 0, `a ZIP button for ${z}`);
  }
  await shot(page, "visitor-after-play-390");
  await ctx.close();

  // Without JavaScript: the download and ZIP buttons still download.
  const nojs = await newContext(browser, { width: 1280, js: false });
  const p2 = await nojs.newPage();
  watchConsole(p2, "visitor-nojs");
  await p2.goto(v.url);
  await fetchThrough(p2, p2.getByRole("link", { name: new RegExp(`^Download ${v.permitted.label}: ${escapeRe(v.permitted.name)}`) }),
    "nojs", v.permitted.sha256);
  if (v.zip_label) {
    const zipLink = p2.getByRole("link", { name: `${v.zip_label} (ZIP)` });
    check(await zipLink.count() === 1, `no "${v.zip_label} (ZIP)" button`);
    const [dz] = await Promise.all([p2.waitForEvent("download", { timeout: 20000 }), zipLink.click()]);
    const savedZip = path.join(cfg.artifacts, "downloads", "nojs-" + (dz.suggestedFilename() || "files.zip"));
    await dz.saveAs(savedZip);
    const head = fs.readFileSync(savedZip).subarray(0, 2).toString("latin1");
    check(head === "PK", `the ZIP download is not a zip (starts with ${JSON.stringify(head)})`);
    step(`ZIP without JavaScript: ${fs.statSync(savedZip).size} bytes`);
  }
  await nojs.close();
}

function cfg_standin_origin() { return cfg.standin; }

// Click a download button and check the bytes the browser got. The button
// leads to /s/{token}/files/{id}, which redirects to the Dropbox temporary
// link: a cross-origin redirect, so the `download` attribute no longer
// applies and the link's own Content-Disposition decides. `attachment` gives a
// download; `inline` (the stand-in's answer) opens an audio file in the
// browser's player. Both deliver the file; report.downloads says which.
async function fetchThrough(page, link, label, wantSha) {
  const download = page.waitForEvent("download", { timeout: 15000 }).then((d) => ({ kind: "download", d }));
  const inline = page.waitForResponse((r) => r.url().startsWith(cfg.standin + "/tl/")
      && r.request().isNavigationRequest() && r.request().frame() === page.mainFrame(), { timeout: 15000 })
    .then((r) => ({ kind: "inline", r }));
  download.catch(() => {});
  inline.catch(() => {});
  const back = page.url();
  await link.click();
  const got = await Promise.race([download, inline]);
  let bytes;
  if (got.kind === "download") {
    const saved = path.join(cfg.artifacts, "downloads", `${label}-${got.d.suggestedFilename() || "file"}`);
    fs.mkdirSync(path.dirname(saved), { recursive: true });
    await got.d.saveAs(saved);
    bytes = fs.readFileSync(saved);
  } else {
    check([200, 206].includes(got.r.status()), `${label}: the temporary link answered ${got.r.status()}`);
    // the browser's media viewer took the body over: read the same link again
    bytes = Buffer.from(await (await fetch(got.r.url())).arrayBuffer());
    // Back to the share page, once the navigation to the link has committed
    // (a response can come before it does, and a goto then would be
    // interrupted by it). Not goBack(): the page is no-store, so going back
    // re-fetches it, and goBack() can return before that page has loaded.
    await page.waitForURL((u) => u.href.startsWith(cfg.standin + "/tl/"),
      { waitUntil: "commit", timeout: 15000 });
    await page.goto(back, { waitUntil: "load" });
  }
  report.downloads = (report.downloads || []).concat([`${label}: ${got.kind}`]);
  const sha = crypto.createHash("sha256").update(bytes).digest("hex");
  check(sha === wantSha, `${label}: the browser got other bytes than the file in Dropbox`);
  step(`${label}: permitted file received by ${got.kind} (${bytes.length} bytes)`);
}
function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// --- owner: connect Dropbox, create a 7-day share, copy its URL, revoke it -------
async function owner(browser) {
  const o = cfg.owner;
  const ctx = await newContext(browser, { width: 1280, user: o.user });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: cfg.base });
  const page = await ctx.newPage();
  watchConsole(page, "owner");

  await page.goto(cfg.base + "/pd/app/accounts.html");
  await settled(page);
  const connect = page.getByRole("button", { name: "Connect Dropbox" });
  check(await connect.count() === 1, "Connected accounts: no Connect Dropbox button while not connected");
  const connects = [];
  page.on("request", (q) => { if (new URL(q.url()).pathname.endsWith("/dropbox/connect")) connects.push(q.method()); });
  // The round trip: POST, Dropbox's page, the callback, back here with ?dropbox=.
  await Promise.all([page.waitForURL(/accounts\.html\?dropbox=/, { waitUntil: "load", timeout: 20000 }), connect.click()]);
  check(connects.join(",") === "POST", `the page started the connection with ${connects.join(",") || "no request"}, not one POST`);
  await settled(page);
  check(await page.locator("#live").innerText() === "Dropbox connected.", "no 'Dropbox connected.' after the OAuth round trip");
  const panel = await page.locator("#dropbox").innerText();
  for (const want of ["Connected", "Personal", o.folder, "Working", o.email]) {
    check(panel.includes(want), `Connected accounts does not show ${JSON.stringify(want)}: ${panel}`);
  }
  check(!page.url().includes("dropbox="), "the ?dropbox= marker stays in the address bar");
  step("Dropbox connected through the owner page");

  await page.goto(cfg.base + "/pd/app/new-share.html");
  await settled(page);
  await page.getByRole("checkbox", { name: new RegExp(`^${escapeRe(o.track_title)}`) }).check();
  await page.getByRole("radio", { name: "In 7 days" }).check();
  await page.getByLabel("Title").fill(o.share_title);
  await page.getByRole("button", { name: "Create share link" }).click();
  await page.getByRole("heading", { name: "Share link created" }).waitFor({ timeout: 10000 });
  const url = await page.locator("#new-url").inputValue();
  check(/\/s\/[A-Za-z0-9_-]{22,}$/.test(url), `the new share's URL looks wrong: ${url}`);
  await page.getByRole("button", { name: "Copy link" }).click();
  await page.locator("#live", { hasText: "Link copied." }).waitFor({ timeout: 5000 });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === url, `clipboard holds ${JSON.stringify(copied)}, not the share URL ${url}`);
  report.share_url = copied;
  step(`share created and copied: ${copied.replace(/[^/]{16}$/, "…")}`);

  // The visitor's page works before revoking.
  const visitorCtx = await newContext(browser, { width: 390 });
  const vp = await visitorCtx.newPage();
  watchConsole(vp, "owner-visitor", 410);
  let r = await vp.goto(copied);
  check(r.status() === 200, `the new share answers ${r.status()}`);
  check((await vp.locator("main").innerText()).includes(o.track_title), "the new share does not show the track");

  // A chat app unfurls the link: a link preview, shown beside the views.
  r = await fetch(copied, { headers: { "User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)" } });
  check(r.status === 200, `the link preview fetch answers ${r.status}`);

  await page.goto(cfg.base + "/pd/app/shares.html");
  await settled(page);
  const card = page.locator("li.share", { has: page.locator(`input[value="${copied}"]`) });
  check(await card.count() === 1, "Share links does not list the new share");
  const stat = (label) => card.locator(".stats div", { has: page.locator("dt", { hasText: new RegExp(`^${label}$`) }) }).locator("dd").innerText();
  check(await stat("Views") === "1" && await stat("Link previews") === "1",
        `Share links shows views ${await stat("Views")} and link previews ${await stat("Link previews")}, not 1 and 1`);
  check((await card.locator(".badge").innerText()) === "Active", "the new share is not Active");
  const copyBtn = card.getByRole("button", { name: `Copy link of ${o.share_title}` });
  await page.evaluate(() => navigator.clipboard.writeText(""));
  await copyBtn.click();
  check(await page.evaluate(() => navigator.clipboard.readText()) === copied, "Share links: Copy link did not copy the URL");
  await card.getByRole("button", { name: `Revoke ${o.share_title}` }).click();
  const dialog = page.getByRole("dialog", { name: "Revoke this link?" });
  await dialog.waitFor({ timeout: 5000 });
  await shot(page, "owner-revoke-confirm-1280");
  await dialog.getByRole("button", { name: "Revoke link" }).click();
  const revoked = page.locator("li.share", { has: page.locator(`input[value="${copied}"]`) });
  await revoked.locator(".badge", { hasText: "Revoked" }).waitFor({ timeout: 10000 });
  check(await revoked.getByRole("button", { name: /^Revoke/ }).count() === 0, "a revoked share still has a Revoke button");
  step("share revoked on the Share links page");

  r = await vp.goto(copied);
  check(r.status() === 410, `the revoked share answers ${r.status()}, not 410`);
  const text = await vp.locator("body").innerText();
  check(/share has been disabled/i.test(text), `the visitor's page does not say the share is disabled: ${text}`);
  await shot(vp, "owner-visitor-disabled-390");
  step("the visitor's page says the share is disabled");
  await visitorCtx.close();
  await ctx.close();
}

// --- audit: axe, console errors, sideways scrolling and screenshots ------------
async function audit(browser) {
  const users = [...new Set(cfg.pages.map((p) => p.user || null))];
  for (const width of WIDTHS) {
    for (const user of users) {
      const pages = cfg.pages.filter((p) => (p.user || null) === user);
      const ctx = await newContext(browser, { width, user });
      for (const p of pages) {
        const label = `${p.name}-${width}`;
        const page = await ctx.newPage();
        watchConsole(page, label, p.status && p.status !== 200 ? p.status : null);
        const resp = await page.goto(p.url);
        check(resp.status() === (p.status || 200), `${label}: answered ${resp.status()}, want ${p.status || 200}`);
        if (p.user) await settled(page);
        else await page.waitForLoadState("networkidle");
        if (p.expect) {
          const text = await page.locator("body").innerText();
          check(text.includes(p.expect), `${label}: does not say ${JSON.stringify(p.expect)}`);
        }
        await page.evaluate(() => document.fonts && document.fonts.ready);
        await noSideScroll(page, label);
        await axe(page, label);
        await shot(page, label);
        await page.close();
      }
      await ctx.close();
    }
  }
}

// --- invitations (issue 11): another producer's words shown as text; accept -------
async function invitations(browser) {
  const o = cfg.invitations;
  const ctx = await newContext(browser, { width: 1280, user: o.user });
  const page = await ctx.newPage();
  watchConsole(page, "invitations");
  await page.goto(cfg.base + "/pd/app/collaborators.html");
  await settled(page);
  const list = page.locator("#invitation-list");
  const txt = await list.innerText();
  // Bidirectional formatting characters are shown as U+FFFD, in logical order.
  const shown = (t) => t.replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "\ufffd");
  check(!/[\u202a-\u202e\u2066-\u2069]/.test(txt), "a bidirectional override reached the page");
  for (const want of [shown(o.track_title), shown(o.display_name), "@" + o.from, "Waiting for your answer"]) {
    check(txt.includes(want), `the invitation does not show ${JSON.stringify(want)} as text: ${txt}`);
  }
  check(await list.locator("script, img, a, iframe, svg").count() === 0,
    "another producer's text became markup in the invitation list");
  check(await page.evaluate(() => window.__pwned === undefined), "another producer's text ran as script");
  await noSideScroll(page, "owner-invitations-1280");
  await axe(page, "owner-invitations-1280");
  await shot(page, "owner-invitations-1280");
  await page.getByRole("button", { name: new RegExp(`^Accept the invitation from @${escapeRe(o.from)}:`) }).click();
  await page.locator("#live", { hasText: "Invitation accepted." }).waitFor({ timeout: 10000 });
  await list.getByText("Accepted", { exact: false }).first().waitFor({ timeout: 10000 });
  check(await list.getByRole("button", { name: /^Accept/ }).count() === 0, "Accept is still offered after accepting");
  await axe(page, "owner-invitations-accepted-1280");
  step("invitation shown as text and accepted");
  await ctx.close();
}

// --- collab_files (issue 14): share a track as individual files; per-file state ---
async function collabFiles(browser) {
  const o = cfg.collab_files;
  for (const width of [1280, 390]) {
    const ctx = await newContext(browser, { width, user: o.user });
    const page = await ctx.newPage();
    watchConsole(page, `collab-files-${width}`);
    await page.goto(cfg.base + "/pd/app/collaborators.html");
    await settled(page);
    const card = page.locator("section.track-card", { has: page.getByRole("heading", { name: o.track_title, exact: true }) });
    check(await card.count() === 1, `collab-files-${width}: the track's card, titled as text, is missing`);
    if (width === 1280) {
      await card.getByRole("radio", { name: "Individual files" }).check();
      await card.getByRole("button", { name: /^Share with collaborators/ }).click();
      await page.locator("#live", { hasText: "Sharing started." }).waitFor({ timeout: 10000 });
    }
    const files = page.locator("section.track-card .files-status");
    await files.waitFor({ timeout: 20000 });
    await page.locator("section.track-card .overall", { hasText: "Shared with everyone" }).waitFor({ timeout: 60000 });
    await settled(page);
    const txt = await files.innerText();
    for (const want of [o.file_name, o.local_name, "Skipped: not in Dropbox yet", "Shared with everyone"]) {
      check(txt.includes(want), `collab-files-${width}: the file list does not show ${JSON.stringify(want)}: ${txt}`);
    }
    check(await page.getByRole("radio", { name: "Individual files" }).isChecked(),
      `collab-files-${width}: the page does not say the track was shared as files`);
    check(await files.locator("script, img, iframe, svg").count() === 0,
      `collab-files-${width}: a file name or title became markup`);
    check(await files.locator("a[href^='https://www.dropbox.com/home/']").count() === 1,
      `collab-files-${width}: the shared file has no link to dropbox.com`);
    check(await page.evaluate(() => window.__pwned === undefined), `collab-files-${width}: hostile text ran as script`);
    await noSideScroll(page, `owner-collab-files-${width}`);
    await axe(page, `owner-collab-files-${width}`);
    await shot(page, `owner-collab-files-${width}`);
    await ctx.close();
  }
  step("track shared as files; per-file state shown as text");
}

const SCENARIOS = { visitor, owner, audit, invitations, collab_files: collabFiles };

async function main() {
  if (!SCENARIOS[scenario]) {
    console.log(JSON.stringify({ ok: false, failures: [`unknown scenario ${scenario}`] }));
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.log(JSON.stringify({ ok: false, failures: [`${CHROMIUM} is missing: apt-get install chromium (scripts/deps.txt)`] }));
    process.exit(2);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 60000 });
  try {
    await SCENARIOS[scenario](browser);
  } catch (e) {
    failures.push(`${scenario}: ${e.stack || e}`);
  } finally {
    await browser.close();
  }
  for (const c of report.console) failures.push(c);
  report.ok = failures.length === 0;
  console.log(JSON.stringify(report));
  process.exit(report.ok ? 0 : 1);
}

main();
