// The command-centre dashboard: plain JS against the hub's own API (/api/v1) and SSE stream.
"use strict";
const siteName = inc => (S.sites.get(inc.site) || {}).name || inc.site || "";
const S = { sites: new Map(), token: sessionStorage.getItem("siaga.token"), me: null, cfg: { timezone: "Asia/Jakarta", tile_url: null },
  incidents: new Map(), es: null, audio: null, timer: null, afterRender: [], reportText: new Map(), triage: [] };
// Work a view can only do once it is in the document (Leaflet and uPlot need a size).
function whenShown(fn) { S.afterRender.push(fn); }
const ACTIVE = new Set(["open", "acknowledged", "dispatched"]);
const $ = (sel, root) => (root || document).querySelector(sel);
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else if (k === "text") el.textContent = v; else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid.nodeType ? kid : String(kid));
  return el;
}

async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  let body = opts.body;
  if (body && typeof body === "object" && !(body instanceof URLSearchParams)) { headers["Content-Type"] = "application/json"; body = JSON.stringify(body); }
  const r = await fetch(path, { method: opts.method || "GET", headers, body });
  if (r.status === 401 && !opts.noAuthRedirect) { signOut(); throw new Error("401"); }
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) { const e = new Error((data && (data.detail || data.title)) || r.statusText); e.status = r.status; throw e; }
  return data;
}

// ---- time and labels -------------------------------------------------------------------
const ms = v => v === null || v === undefined ? null : typeof v === "number" ? (v < 1e12 ? v * 1000 : v) : Date.parse(v);
function fmtTime(v, withDate) {
  const d = ms(v); if (d === null || Number.isNaN(d)) return t("none");
  return new Intl.DateTimeFormat(LANG === "id" ? "id-ID" : "en-GB", { timeZone: S.cfg.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit",
    ...(withDate ? { day: "2-digit", month: "short" } : {}) }).format(new Date(d));
}
function tzLabel() { return { "Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT" }[S.cfg.timezone] || S.cfg.timezone; }
function dur(sec) {
  const s = Math.abs(Math.round(sec)), hh = Math.floor(s / 3600), mm = Math.floor(s % 3600 / 60), ss = s % 60;
  return (sec < 0 ? "-" : "") + (hh ? `${hh}:${String(mm).padStart(2, "0")}` : mm) + ":" + String(ss).padStart(2, "0");
}
const levelOf = inc => Number(inc.level) || 1;
const hz = k => t("hz." + k);
function badge(level) { return h("span", { class: `badge l${level}` }, `${level} · ${t("lv." + level)}`); }
function agenciesOf(inc) {
  const a = (inc.clocks && inc.clocks.length ? inc.clocks : inc.agencies) || [];
  const list = a.map(x => typeof x === "string" ? { agency: x } : x);
  if (!list.length && inc.agency) list.push({ agency: inc.agency });
  return list;
}
// The SLA clock the board shows: the earliest unmet due time over the involved agencies.
function slaOf(inc) {
  let best = null;
  const all = agenciesOf(inc), mine = all.filter(c => S.me && c.agency === S.me.agency);
  for (const c of mine.length ? mine : all) {
    const pairs = [["ack_due_at", c.acknowledged_at, "sla.ack"], ["resolve_due_at", c.resolved_at, "sla.resolve"]];
    for (const [dueKey, doneAt, label] of pairs) {
      const due = ms(c[dueKey]); if (due === null || doneAt) continue;
      if (!best || due < best.due) best = { due, label, agency: c.agency };
    }
  }
  if (!best) {
    const due = ms(inc.ack_due_at) ?? ms(inc.sla_due_at);
    if (due && !inc.acknowledged_at) best = { due, label: "sla.ack", agency: inc.agency };
  }
  return best;
}
function slaNode(inc) {
  const s = slaOf(inc); if (!s) return h("span", { class: "sla" }, t("none"));
  const left = (s.due - Date.now()) / 1000;
  return h("span", { class: "sla" + (left < 0 || inc.escalated ? " late" : ""), "data-due": s.due, title: s.agency },
    `${t(s.label)} ${s.agency || ""}: ${left < 0 ? t("sla.late") + " " + dur(-left) : dur(left)}`);
}

// ---- sign-in ---------------------------------------------------------------------------
async function signIn(username, password) {
  let tok;
  try { tok = await api("/api/v1/auth/token", { method: "POST", body: { username, password }, noAuthRedirect: true }); }
  catch (e) {
    if (e.status !== 422) throw e;  // a hub that takes the OAuth2 form instead of JSON
    tok = await api("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ username, password }), noAuthRedirect: true,
      headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  }
  S.token = tok.access_token || tok.token; sessionStorage.setItem("siaga.token", S.token);
}
function signOut() {
  S.token = null; S.me = null; sessionStorage.removeItem("siaga.token");
  if (S.es) { S.es.close(); S.es = null; }
  $("#nav").hidden = true; $("#signout").hidden = true; $("#who").textContent = ""; $("#live").textContent = "";
  location.hash = "#/login"; render();
}
function loginView(main) {
  main.append(document.getElementById("tpl-login").content.cloneNode(true));
  applyI18n(main);
  $("#login-form", main).addEventListener("submit", async ev => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await signIn(f.get("username"), f.get("password")); await start();
      if (!location.hash || location.hash === "#/login") location.hash = "#/board"; else render();
    }
    catch { $("#login-error").textContent = t("login.failed"); }
  });
  $("input[name=username]", main).focus();
}

// ---- live stream -----------------------------------------------------------------------
function connectStream() {
  if (S.es) S.es.close();
  const es = new EventSource(`/api/v1/stream?access_token=${encodeURIComponent(S.token)}`);
  S.es = es;
  const live = $("#live");
  es.onopen = () => { live.textContent = t("live.on"); live.className = "live on"; };
  es.onerror = () => { live.textContent = t("live.off"); live.className = "live"; };
  // A report waiting for (or decided by) a duty officer of my agency: the queue follows.
  const onReport = async () => {
    await loadTriage().catch(() => null);
    if ((location.hash || "").startsWith("#/reports")) render();
  };
  const onEvent = ev => {
    let data; try { data = JSON.parse(ev.data); } catch { return; }
    if (String(data.type || "").startsWith("report.")) { onReport(); return; }
    // The hub no longer holds every event since our last one (a long outage): fetch afresh.
    if (data.type === "stream.reload") { reloadIncidents(); return; }
    const inc = data.incident; if (!inc || inc.id === undefined) return;
    const isNew = !S.incidents.has(inc.id);
    const prev = S.incidents.get(inc.id);
    S.incidents.set(inc.id, Object.assign({}, prev || {}, inc, { _new: isNew || (prev && prev._new) }));
    if ((isNew || (prev && levelOf(prev) < 3)) && levelOf(inc) >= 3 && ACTIVE.has(inc.status)) cue(inc);
    refreshView(inc.id, isNew || SHOWN_FIELDS.some(k => JSON.stringify(prev[k]) !== JSON.stringify(inc[k])));
    if (isNew) loadReportTexts().then(n => { if (n) refreshView(inc.id, true); });
  };

  es.onmessage = onEvent;
  for (const type of ["incident.opened", "incident.updated", "incident.escalated", "incident.acknowledged",
    "incident.dispatched", "incident.resolved", "incident.reopened", "incident.level_changed", "incident"]) es.addEventListener(type, onEvent);
}
// A sound and a visual cue for a new Siaga/Awas incident: staff may not be looking at the screen.
function cue(inc) {
  const f = $("#flash");
  f.textContent = `${t("new.incident")}: ${hz(inc.hazard)} — ${t("lv." + levelOf(inc))} — ${placeOf(inc)}`;
  f.hidden = false; f.classList.remove("pulse"); void f.offsetWidth; f.classList.add("pulse");
  clearTimeout(cue.timer); cue.timer = setTimeout(() => { f.hidden = true; }, 15000);
  try {
    S.audio = S.audio || new AudioContext();
    const o = S.audio.createOscillator(), g = S.audio.createGain();
    o.type = "square"; o.frequency.value = levelOf(inc) >= 4 ? 880 : 660; g.gain.value = 0.08;
    o.connect(g).connect(S.audio.destination); o.start(); o.stop(S.audio.currentTime + 0.6);
  } catch { /* no audio device: the visual cue stands */ }
  document.body.dataset.lastCue = String(inc.id);
}

// ---- views -----------------------------------------------------------------------------
function sortIncidents(list) {
  return list.sort((a, b) => levelOf(b) - levelOf(a) || ms(a.opened_at) - ms(b.opened_at));
}
// A citizen report's incident is named by what the citizen wrote: fetch it once per incident.
async function loadReportTexts() {
  const missing = [...S.incidents.values()].filter(i => i.origin === "report" && !S.reportText.has(i.id));
  await Promise.all(missing.map(async i => {
    const d = await api(`/api/v1/incidents/${encodeURIComponent(i.id)}`).catch(() => null);
    const first = d && (d.timeline || []).filter(e => e.kind === "report").sort((a, b) => ms(a.ts) - ms(b.ts))[0];
    S.reportText.set(i.id, first ? first.note || "" : "");
  }));
  return missing.length;
}
async function reloadIncidents() {
  const fresh = S.incidents; S.incidents = new Map();
  try { await loadIncidents(); } catch { S.incidents = fresh; return; }
  await loadTriage().catch(() => null);
  await loadReportTexts(); render();
}
async function loadIncidents() {
  const data = await api("/api/v1/incidents?" + new URLSearchParams({ status: "active", limit: "500" }).toString()).catch(async e => {
    if (e.status === 422) return api("/api/v1/incidents?limit=500"); throw e; });
  const items = Array.isArray(data) ? data : data.items || data.incidents || [];
  for (const inc of items) S.incidents.set(inc.id, Object.assign({}, S.incidents.get(inc.id) || {}, inc));
}
function boardView(main) {
  const list = sortIncidents([...S.incidents.values()].filter(i => ACTIVE.has(i.status)));
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("board.title"), ` (${list.length})`)));
  if (!list.length) { main.append(h("p", { class: "empty" }, t("board.empty"))); return; }
  const board = h("div", { class: "board", id: "board" });
  for (const inc of list) {
    const lv = levelOf(inc);
    const card = h("article", { class: `card inc l${lv}${inc._new ? " new" : ""}`, tabindex: "0", "data-id": inc.id, "data-level": lv,
      "aria-label": `${hz(inc.hazard)} ${t("lv." + lv)} ${placeOf(inc)}`,
      onclick: () => { location.hash = `#/incident/${inc.id}`; },
      onkeydown: ev => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); location.hash = `#/incident/${inc.id}`; } } },
      h("div", {}, badge(lv), " ", h("strong", {}, hz(inc.hazard))),
      h("h3", {}, placeOf(inc)),
      h("div", { class: "meta" },
        h("span", {}, `${t("status")}: ${t("status." + inc.status)}`),
        h("span", {}, agenciesOf(inc).map(a => a.agency).join(" + ")),
        h("span", {}, `${inc.alert_count ?? 0} ${t("alerts")}`),
        h("span", {}, `${t("opened")} ${fmtTime(inc.opened_at)} ${tzLabel()}`),
        inc.unconfirmed ? h("span", {}, t("unconfirmed")) : null),
      slaNode(inc));
    board.append(card);
  }
  main.append(board);
}

async function loadRegistry() {
  const pick = d => Array.isArray(d) ? d : d.items || d.nodes || d.gateways || d.sites || [];
  const [nodes, gateways, sites] = await Promise.all(["nodes", "gateways", "sites"].map(k => api(`/api/v1/registry/${k}`).then(pick).catch(() => [])));
  const siteById = new Map(sites.map(s => [s.id, s]));
  for (const n of nodes) { const s = siteById.get(n.site); if (s && !Number.isFinite(n.lat)) { n.lat = s.lat; n.lon = s.lon; } }
  return { nodes, gateways, sites };
}

// ---- routing ---------------------------------------------------------------------------
// Views build into a detached element that replaces the page only if no newer render began
// meanwhile: a live event and a click can both re-render while a view still awaits the API.
let renderSeq = 0;
async function render() {
  const mine = ++renderSeq;
  const main = h("div", { class: "view" });
  const [, page, arg] = (location.hash || "#/board").split("/");
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${page || "board"}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const note = $("#note"), draft = note ? note.value : null;  // a note being typed survives live updates
  S.afterRender = [];
  if (!S.token || !S.me) { $("#main").replaceChildren(main); return loginView(main); }
  try {
    if (page === "incident" && arg) await incidentView(main, decodeURIComponent(arg));
    else if (page === "map") await mapView(main);
    else if (page === "reports") await reportsView(main);
    else if (page === "sensors") await sensorsView(main);
    else if (page === "rapor") await raporView(main);
    else if (page === "admin") await adminView(main, arg);
    else boardView(main);
  } catch (e) { if (e.message !== "401") main.append(h("p", { class: "error" }, `${t("error.generic")}: ${e.message}`)); }
  if (mine !== renderSeq) return;
  // A map page rebuilt by a live update keeps its view; one opened from another page (whose
  // S.mapView is the incident's or the registry editor's map) opens on the whole area.
  const keep = S.mapView && page === "map" && document.body.dataset.page === "map"
    ? { center: S.mapView.map.getCenter(), zoom: S.mapView.map.getZoom() } : null;
  if (S.mapView) { S.mapView.map.remove(); S.mapView = null; }
  $("#main").replaceChildren(main);
  S.mapKeep = keep;
  const after = S.afterRender; S.afterRender = [];
  for (const fn of after) await fn();
  const newNote = $("#note");
  if (newNote && draft) newNote.value = draft;
  document.body.dataset.page = page || "board";
}
// What an update must change for the map or an incident page to be rebuilt (both fetch and
// draw a lot; the board is cheap and always follows).
const SHOWN_FIELDS = ["level", "status", "alert_count", "report_count", "escalated", "clocks", "agencies", "lat", "lon"];
function refreshView(id, changed = true) {
  const [, page, arg] = (location.hash || "#/board").split("/");
  if (!page || page === "board") render();
  else if (changed && (page === "map" || (page === "incident" && String(arg) === String(id)))) render();
}
async function start() {
  S.me = await api("/api/v1/me");
  S.cfg = Object.assign(S.cfg, await api("/api/v1/dashboard/config").catch(() => ({})));
  const reg = await loadRegistry();
  S.reg = reg;
  S.sites = new Map(reg.sites.map(x => [x.id, x]));
  await loadIncidents();
  await loadReportTexts();
  await loadTriage().catch(() => null);
  // The menu appears only once the data is in: a page opened from it earlier rendered
  // without the registry and was then rendered again by the sign-in, wiping a form being filled.
  $("#nav").hidden = false; $("#signout").hidden = false;
  $("#nav-admin").hidden = S.me.role !== "admin";  // a convenience: the API refuses non-admins
  $("#who").textContent = `${S.me.name || S.me.username} (${S.me.username}) · ${S.me.agency} · ${S.me.role}`;
  connectStream();
  clearInterval(S.timer);
  S.timer = setInterval(() => {  // the SLA clocks and the wall clock tick every second
    $("#clock").textContent = `${fmtTime(Date.now())} ${tzLabel()}`;
    for (const el of document.querySelectorAll(".sla[data-due]")) {
      const left = (Number(el.dataset.due) - Date.now()) / 1000;
      el.classList.toggle("late", left < 0);
      el.textContent = el.textContent.replace(/:\s.*$/, `: ${left < 0 ? t("sla.late") + " " + dur(-left) : dur(left)}`);
    }
  }, 1000);
}
window.addEventListener("hashchange", render);
document.addEventListener("DOMContentLoaded", async () => {
  $("#lang").value = LANG;
  $("#lang").addEventListener("change", ev => { LANG = ev.target.value; localStorage.setItem("siaga.lang", LANG); applyI18n(); render(); });
  $("#signout").addEventListener("click", signOut);
  applyI18n();
  if (S.token) { try { await start(); } catch { S.token = null; sessionStorage.removeItem("siaga.token"); } }
  render();
});
