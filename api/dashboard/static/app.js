// The command-centre dashboard: plain JS against the hub's own API (/api/v1) and SSE stream.
"use strict";
const siteName = inc => (S.sites.get(inc.site) || {}).name || inc.site || "";
const S = { sites: new Map(), token: sessionStorage.getItem("siaga.token"), me: null, cfg: { timezone: "Asia/Jakarta", tile_url: null },
  incidents: new Map(), es: null, audio: null, timer: null, afterRender: [], reportText: new Map() };
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
  const onEvent = ev => {
    let data; try { data = JSON.parse(ev.data); } catch { return; }
    const inc = data.incident; if (!inc || inc.id === undefined) return;
    const isNew = !S.incidents.has(inc.id);
    const prev = S.incidents.get(inc.id);
    S.incidents.set(inc.id, Object.assign({}, prev || {}, inc, { _new: isNew || (prev && prev._new) }));
    if ((isNew || (prev && levelOf(prev) < 3)) && levelOf(inc) >= 3 && ACTIVE.has(inc.status)) cue(inc);
    refreshView(inc.id);
    if (isNew) loadReportTexts().then(n => { if (n) refreshView(inc.id); });
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
  const missing = [...S.incidents.values()].filter(i => String(i.site || "").startsWith("report:") && !S.reportText.has(i.id));
  await Promise.all(missing.map(async i => {
    const d = await api(`/api/v1/incidents/${encodeURIComponent(i.id)}`).catch(() => null);
    const first = d && (d.timeline || []).filter(e => e.kind === "report").sort((a, b) => ms(a.ts) - ms(b.ts))[0];
    S.reportText.set(i.id, first ? first.note || "" : "");
  }));
  return missing.length;
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

async function incidentView(main, id) {
  main.append(h("p", {}, h("a", { href: "#/board" }, t("detail.back"))));
  let inc;
  try { inc = await api(`/api/v1/incidents/${encodeURIComponent(id)}`); } catch (e) { main.append(h("p", { class: "error" }, `${t("error.generic")}: ${e.message}`)); return; }
  S.incidents.set(inc.id, Object.assign({}, S.incidents.get(inc.id) || {}, inc, { _new: false }));
  const lv = levelOf(inc);
  main.append(h("div", { class: "toolbar" }, h("h1", { id: "incident-title" }, badge(lv), " ", hz(inc.hazard), " — ", placeOf(inc)),
    h("span", {}, `${t("status")}: `, h("strong", { id: "incident-status" }, t("status." + inc.status)))));
  // Actions come first in the page (and so on top on a phone): they are what staff come for.
  const right = h("div", { class: "actions card", id: "actions" }), left = h("div", { class: "card timeline-card" });
  right.append(h("h2", {}, t("detail.actions")));
  const note = h("textarea", { id: "note", "aria-label": t("detail.note"), placeholder: t("detail.note") });
  const msg = h("p", { role: "status", id: "action-msg" });
  const mine = agenciesOf(inc).find(a => S.me && a.agency === S.me.agency);
  const st = (mine && (mine.stage || mine.status)) || inc.status;
  const act = async verb => {
    try { await api(`/api/v1/incidents/${encodeURIComponent(inc.id)}/${verb}`, { method: "POST", body: { note: note.value || null } });
      note.value = ""; msg.textContent = t("action.done"); await render(); const m = $("#action-msg"); if (m) m.textContent = t("action.done"); }
    catch (e) { msg.textContent = `${t("error.generic")}: ${e.message}`; }
  };
  const canAct = S.me && S.me.role !== "viewer";
  right.append(slaNode(inc), note, h("div", { class: "row" },
    h("button", { type: "button", id: "btn-ack", disabled: !canAct || st !== "open", onclick: () => act("ack") }, t("ack")),
    h("button", { type: "button", id: "btn-dispatch", disabled: !canAct || !["open", "acknowledged"].includes(st), onclick: () => act("dispatch") }, t("dispatch")),
    h("button", { type: "button", id: "btn-resolve", class: "secondary", disabled: !canAct || st === "resolved", onclick: () => act("resolve") }, t("resolve"))), msg);
  const clocks = h("table", { id: "clocks" }, h("tr", {}, h("th", {}, t("agency")), h("th", {}, t("status")), h("th", {}, t("sla.ack")), h("th", {}, t("sla.resolve"))));
  for (const a of agenciesOf(inc)) clocks.append(h("tr", { class: S.me && a.agency === S.me.agency ? "mine" : "" }, h("td", {}, a.agency), h("td", {}, t("status." + (a.stage || a.status || inc.status))),
    h("td", {}, a.acknowledged_at ? fmtTime(a.acknowledged_at) : fmtTime(a.ack_due_at)), h("td", {}, a.resolved_at ? fmtTime(a.resolved_at) : fmtTime(a.resolve_due_at))));
  right.append(h("div", { class: "scroll-x" }, clocks));
  if (inc.confidence !== undefined) right.append(h("p", {}, `${t("confidence")}: ${Math.round(inc.confidence * 100)}%`));
  left.append(h("h2", {}, t("detail.timeline"), " ", h("small", {}, t("detail.newest"))));
  const tl = h("ol", { class: "timeline", id: "timeline" });
  for (const e of (inc.timeline || []).slice().sort((a, b) => ms(b.ts) - ms(a.ts) || b.id - a.id)) {
    const d = e.data || {};
    const place = e.kind === "report" && Number.isFinite(d.lat) ? h("span", { class: "place" }, " · ", nearestPlace(d.lat, d.lon)) : null;
    const text = e.kind === "report" ? h("q", { class: "report-text" }, e.note || "") : e.note || "";
    tl.append(h("li", { class: `tl-${e.kind}` }, h("time", {}, fmtTime(e.ts, true)), h("strong", {}, t("tl." + e.kind)), " ",
      e.level ? badge(e.level) : null, " ", text, place, d.node ? ` [${d.node}${d.channel ? "/" + d.channel : ""}]` : "",
      e.agency ? ` [${e.agency}]` : "", e.actor ? ` — ${e.actor}` : "",
      e.late ? h("span", { class: "late-tag" }, ` (${t("late")})`) : null));
  }
  left.append(tl);
  main.append(h("div", { class: "incident-grid" }, right, left));
  main.append(incidentCharts(inc));
  if (Number.isFinite(inc.lat) && Number.isFinite(inc.lon)) {
    const box = h("div", { class: "map-box small", id: "incident-map" });
    main.append(h("div", { class: "card" }, h("h2", {}, t("detail.location")), box));
    const reg = S.reg || { sites: [], nodes: [], gateways: [] };
    whenShown(async () => {
      S.mapView = await siagaMap(box, { sites: reg.sites, nodes: reg.nodes, gateways: reg.gateways, incidents: [inc] },
        { center: [inc.lat, inc.lon], zoom: 16 });
    });
  }
}
// Every channel behind the incident: the channels its alerts name and the other measuring
// channels of the nodes that alerted (a landslide: rain, soil moisture, extensometer, tilt).
const HOUSEKEEPING = new Set(["batt", "rssi", "snr", "uptime"]);
function incidentChannels(inc) {
  const out = new Map(), thresholds = [];
  const nodeInfo = n => ((S.reg && S.reg.nodes) || []).find(x => x.node === n);
  for (const e of inc.timeline || []) {
    const d = e.data || {};
    if (e.kind !== "alert" || !d.node) continue;
    if (d.channel) out.set(`${d.node}/${d.channel}`, { node: d.node, channel: d.channel });
    for (const c of (nodeInfo(d.node) || {}).channels || []) if (!HOUSEKEEPING.has(c)) out.set(`${d.node}/${c}`, { node: d.node, channel: c });
    for (const [k, v] of Object.entries(d.thresholds || {})) if (d.channel && Number.isFinite(v))
      thresholds.push({ key: `${d.node}/${d.channel}`, value: v, label: k, level: /awas/i.test(k) ? 4 : /siaga/i.test(k) ? 3 : 2 });
  }
  const seen = new Set();
  return { channels: [...out.values()], thresholds: thresholds.filter(x => !seen.has(x.key + x.label) && seen.add(x.key + x.label)) };
}
function incidentCharts(inc) {
  const card = h("div", { class: "card", id: "readings" }, h("h2", {}, t("detail.readings")));
  const { channels, thresholds } = incidentChannels(inc);
  if (!channels.length) { card.append(h("p", { class: "empty" }, t("chart.nodata"))); return card; }
  const opened = ms(inc.opened_at) || Date.now();
  let state = S.chartRange || { name: "6h", to: Date.now(), from: Math.min(opened - 3600e3, Date.now() - 6 * 3600e3) };
  const body = h("div", { class: "chart-body" });
  const csvBtn = h("button", { type: "button", class: "secondary", id: "csv" }, t("chart.csv"));
  const shownLabel = h("span", { class: "muted", id: "chart-range" });
  let chart = null;
  const draw = async () => {
    const series = await Promise.all(channels.map(async c => {
      const r = await fetchSeries(c.node, c.channel, state.from, state.to).catch(() => ({ unit: "", points: [] }));
      return { key: `${c.node}/${c.channel}`, label: `${c.node} · ${c.channel}`, unit: r.unit, points: r.points };
    }));
    chart = timeChart(series, { thresholds, title: t("detail.readings"), onZoom: (from, to) => { state = { name: "custom", from, to }; S.chartRange = state; redraw(); } });
    body.replaceChildren(chart.el);
    shownLabel.textContent = `${fmtTime(state.from, true)} – ${fmtTime(state.to, true)} ${tzLabel()}`;
    card.dataset.from = String(Math.round(state.from)); card.dataset.to = String(Math.round(state.to));
    card.dataset.channels = series.filter(s => s.points.length).map(s => s.key).join(" ");
    if (body.isConnected) chart.mount();
  };
  const picker = () => rangePicker(state, next => { state = next; S.chartRange = next; redraw(); });
  let pickerEl = picker();
  // the picker shows the new range once its data is drawn (tests wait on aria-pressed)
  const redraw = async () => { await draw(); const p = picker(); pickerEl.replaceWith(p); pickerEl = p; };
  csvBtn.onclick = () => { if (chart && chart.csv) download(`siaga-insiden-${inc.id}.csv`, chart.csv()); };
  card.append(h("div", { class: "toolbar" }, pickerEl, csvBtn), shownLabel, body);
  whenShown(draw);
  return card;
}
// "Laporan warga dekat Pasar Besar Batu (120 m)": the nearest registry site to a point.
function nearestPlace(lat, lon) {
  let best = null;
  for (const s of S.sites.values()) {
    const d = haversineM(lat, lon, s.lat, s.lon);
    if (!best || d < best.d) best = { d, s };
  }
  const where = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
  return best && best.d < 5000 ? `${t("near")} ${best.s.name} (${Math.round(best.d)} m) · ${where}` : where;
}
function haversineM(a, b, c, d) {
  const r = Math.PI / 180, x = Math.sin((c - a) * r / 2) ** 2 + Math.cos(a * r) * Math.cos(c * r) * Math.sin((d - b) * r / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(x));
}
// Where an incident is, in words: its site's name, or for a citizen report the nearest site.
function placeOf(inc) {
  if (!String(inc.site || "").startsWith("report:")) return siteName(inc);
  const text = S.reportText.get(inc.id);
  const where = Number.isFinite(inc.lat) ? nearestPlace(inc.lat, inc.lon).split(" · ")[0] : "";
  return `${t("tl.report")}${text ? `: “${text.length > 80 ? text.slice(0, 77) + "…" : text}”` : ""}${where ? ` — ${where}` : ""}`;
}

async function mapView(main) {
  const reg = await loadRegistry();
  const [health, latest] = await Promise.all([
    api("/api/v1/dashboard/gateways").catch(() => []),
    Promise.all(reg.nodes.map(n => api(`/api/v1/nodes/${encodeURIComponent(n.node)}/latest`).then(l => [n.node, l]).catch(() => [n.node, null]))),
  ]);
  const latestBy = {};
  for (const [node, l] of latest) if (l && (l.channels || []).length) {
    const ts = Math.max(...l.channels.map(c => ms(c.ts)));
    latestBy[node] = { channels: l.channels, ts, silent: Date.now() - ts > 10 * 60e3 };
  }
  const active = sortIncidents([...S.incidents.values()].filter(i => ACTIVE.has(i.status)));
  const box = h("div", { class: "map-box", id: "map", role: "region", "aria-label": t("map.title") });
  const list = h("ol", { class: "map-list", id: "map-incidents" });
  const fitBtn = h("button", { type: "button", class: "secondary", id: "map-fit" }, t("map.fit"));
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("map.title")), fitBtn),
    h("div", { class: "map-layout" }, h("div", { class: "card map-card" }, box, mapLegend()),
      h("div", { class: "card" }, h("h2", {}, t("map.incidents")), list)));
  // Leaflet needs the element in the document with a size: build after the view is shown.
  whenShown(async () => {
    const keep = S.mapKeep;
    const m = await siagaMap(box, { sites: reg.sites, nodes: reg.nodes, gateways: reg.gateways, incidents: active,
      health: Object.fromEntries(health.map(g => [g.gateway, g])), latest: latestBy }, keep ? { center: keep.center, zoom: keep.zoom } : {});
    S.mapView = m;
    fitBtn.onclick = () => { S.follow = null; m.fit(); };
    if (S.follow && S.incidents.has(S.follow)) m.follow(S.incidents.get(S.follow));
  });
  if (!active.length) list.append(h("li", { class: "empty" }, t("board.empty")));
  for (const inc of active) {
    const lv = levelOf(inc);
    list.append(h("li", {}, badge(lv), " ", h("button", { type: "button", class: "link", "data-follow": inc.id,
      onclick: () => { S.follow = inc.id; if (S.mapView) S.mapView.follow(inc); } }, `${hz(inc.hazard)} — ${placeOf(inc)}`)));
  }
}
function mapLegend() {
  return h("div", { class: "legend" },
    [1, 2, 3, 4].map(l => h("span", { class: "legend-item" }, h("span", { class: "legend-shape", "aria-hidden": "true" }, ...levelSvg(l)), t("lv." + l))),
    h("span", { class: "legend-item" }, h("span", { class: "node-dot ok" }), t("map.nodes")),
    h("span", { class: "legend-item" }, h("span", { class: "gw-square" }, "GW"), t("map.gateways")),
    h("span", { class: "legend-item" }, h("span", { class: "report-pin" }, "!"), t("map.reports")),
    h("span", { class: "legend-item" }, h("span", { class: "zone-swatch" }), t("map.zones")));
}
function levelSvg(level) {
  const tpl = document.createElement("template"); tpl.innerHTML = levelMark(level); return [...tpl.content.childNodes];
}
async function loadRegistry() {
  const pick = d => Array.isArray(d) ? d : d.items || d.nodes || d.gateways || d.sites || [];
  const [nodes, gateways, sites] = await Promise.all(["nodes", "gateways", "sites"].map(k => api(`/api/v1/registry/${k}`).then(pick).catch(() => [])));
  const siteById = new Map(sites.map(s => [s.id, s]));
  for (const n of nodes) { const s = siteById.get(n.site); if (s && !Number.isFinite(n.lat)) { n.lat = s.lat; n.lon = s.lon; } }
  return { nodes, gateways, sites };
}

async function sensorsView(main) {
  const state = S.sparkRange || { name: "1h", to: Date.now(), from: Date.now() - 3600e3 };
  if (state.name !== "custom") { const span = state.to - state.from; state.to = Date.now(); state.from = state.to - span; }
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("sensors.title")),
    rangePicker(state, next => { S.sparkRange = next; render(); })));
  const reg = await loadRegistry();
  const tbl = h("table", { id: "nodes" }, h("tr", {}, ...["sensors.node", "site", "sensors.lastseen", "sensors.battery", "sensors.signal", "sensors.health", "detail.readings"].map(k => h("th", {}, t(k)))));
  const rows = await Promise.all(reg.nodes.map(async n => {
    const latest = await api(`/api/v1/nodes/${encodeURIComponent(n.node)}/latest`).catch(() => ({ channels: [] }));
    const byCh = new Map((latest.channels || []).map(c => [c.channel, c]));
    const charts = await Promise.all((n.channels || []).filter(ch => byCh.has(ch)).map(async ch => {
      // The bucket follows the range (about 60 per sparkline), so a short history still draws.
      const r = await fetchSeries(n.node, ch, state.from, state.to, 60).catch(() => ({ points: [] }));
      const last = byCh.get(ch), spark = sparkline(r.points, `${n.node} ${ch}`);
      whenShown(spark.mount);
      return h("span", { class: "spark-cell", "data-points": r.points.length }, spark.el, ` ${ch} ${(+last.value.toFixed(2))} ${last.unit}`);
    }));
    return { n, byCh, charts };
  }));
  for (const { n, byCh, charts } of rows) {
    const lastSeen = Math.max(0, ...[...byCh.values()].map(c => c.ts));
    const silent = !lastSeen || Date.now() - lastSeen > 10 * 60e3;
    const val = (ch, unit) => byCh.has(ch) ? `${(+byCh.get(ch).value.toFixed(2))} ${unit}` : t("none");
    const lowBatt = byCh.has("batt") && byCh.get("batt").value < 3.4;
    tbl.append(h("tr", { "data-node": n.node }, h("td", {}, n.node, h("br"), h("small", {}, n.name || "")), h("td", {}, n.site_name || n.site || ""),
      h("td", {}, lastSeen ? fmtTime(lastSeen, true) : t("none")), h("td", { class: lowBatt ? "health-bad" : "" }, val("batt", "V")), h("td", {}, val("rssi", "dBm")),
      h("td", { class: silent || lowBatt ? "health-bad" : "health-ok" }, t(silent ? "health.silent" : lowBatt ? "health.fault" : "health.ok")),
      h("td", {}, h("div", { class: "sparks" }, charts))));
  }
  main.append(h("div", { class: "card scroll-x" }, tbl));
  const gws = await api("/api/v1/dashboard/gateways").catch(() => reg.gateways.map(g => ({ gateway: g.id })));
  const gtbl = h("table", { id: "gateways" }, h("tr", {}, ...["sensors.gateways", "sensors.heartbeat", "sensors.buffer", "sensors.health"].map(k => h("th", {}, t(k)))));
  for (const g of gws) gtbl.append(h("tr", {}, h("td", {}, g.gateway, g.name ? h("br") : null, g.name ? h("small", {}, g.name) : null),
    h("td", {}, g.last_heartbeat ? fmtTime(g.last_heartbeat, true) : t("none")), h("td", {}, g.buffer_depth ?? t("none")),
    h("td", { class: g.silent ? "health-bad" : "health-ok" }, g.last_heartbeat ? t(g.silent ? "health.silent" : "health.ok") : t("none"))));
  main.append(h("div", { class: "card scroll-x" }, h("h2", {}, t("sensors.gateways")), gtbl));
}

// ---- rapor kota: every agency side by side, week by week ------------------------------------
// Dates are typed and shown as dd/mm/yyyy whatever the browser's locale; a day is the hub's.
const DAY = 86400e3;
function fmtDay(v) {
  return new Intl.DateTimeFormat("id-ID", { timeZone: S.cfg.timezone, day: "2-digit", month: "2-digit", year: "numeric" }).format(new Date(v)).replace(/\./g, "/");
}
function parseDay(text) {  // "dd/mm/yyyy" -> midnight of that day in the hub's zone (ms)
  const m = /^\s*(\d{1,2})\/(\d{1,2})\/(\d{4})\s*$/.exec(text || ""); if (!m) return null;
  const iso = `${m[3]}-${m[2].padStart(2, "0")}-${m[1].padStart(2, "0")}T00:00`;
  const v = fromLocalInput(iso); return Number.isFinite(v) && fmtDay(v) === `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}` ? v : null;
}
const pct = v => v === null || v === undefined ? t("none") : `${Math.round(v * 100)}%`;
const mins = v => v === null || v === undefined ? t("none") : v < 60 ? `${Math.round(v)} s` : `${(v / 60).toFixed(1)} min`;
async function scorecard(from, to) {
  const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  const d = await api(`/api/v1/agencies/scorecard?${q}`);
  return Array.isArray(d) ? d : d.agencies || [];
}
async function raporView(main) {
  const todayEnd = parseDay(fmtDay(Date.now())) + DAY;
  const saved = JSON.parse(sessionStorage.getItem("siaga.rapor") || "null");
  const from = h("input", { id: "rapor-from", inputmode: "numeric", placeholder: "dd/mm/yyyy", size: 10, value: saved ? saved.from : fmtDay(todayEnd - 8 * 7 * DAY) });
  const to = h("input", { id: "rapor-to", inputmode: "numeric", placeholder: "dd/mm/yyyy", size: 10, value: saved ? saved.to : fmtDay(todayEnd - DAY) });
  const out = h("div", { id: "rapor-out" }), err = h("p", { class: "error", role: "alert" });
  const csvBtn = h("button", { type: "button", class: "secondary", id: "rapor-csv" }, t("chart.csv"));
  const printBtn = h("button", { type: "button", class: "secondary", id: "rapor-print", onclick: () => window.print() }, t("rapor.print"));
  let csvText = "";
  csvBtn.onclick = () => download(`siaga-rapor-${from.value.replace(/\//g, "")}-${to.value.replace(/\//g, "")}.csv`, csvText);
  const show = async () => {
    const start = parseDay(from.value), endDay = parseDay(to.value);
    if (start === null || endDay === null || endDay < start) { err.textContent = t("rapor.baddate"); return; }
    err.textContent = "";
    sessionStorage.setItem("siaga.rapor", JSON.stringify({ from: from.value, to: to.value }));
    const end = endDay + DAY;
    // whole weeks back from the end date; the first may be shorter
    const weeks = [];
    for (let w = end; w > start; w -= 7 * DAY) weeks.unshift([Math.max(start, w - 7 * DAY), w]);
    const [total, ...weekly] = await Promise.all([scorecard(start, end), ...weeks.map(([a, b]) => scorecard(a, b))]);
    out.replaceChildren(...raporTables(total, weeks, weekly, start, end));
    csvText = raporCsv(total, weeks, weekly);
  };
  main.append(h("div", { class: "toolbar no-print" }, h("h1", {}, t("rapor.title")),
    h("label", {}, t("rapor.from"), " ", from), h("label", {}, t("rapor.to"), " ", to),
    h("button", { type: "button", id: "rapor-show", onclick: show }, t("rapor.show")), csvBtn, printBtn), err, out);
  main.append(h("p", { class: "print-only" }, `${t("rapor.title")}: ${from.value} – ${to.value}`));
  await show();
}
function raporTables(total, weeks, weekly, start, end) {
  const card = h("div", { class: "card scroll-x", id: "scorecard" });
  const tbl = h("table", {}, h("tr", {}, ...["agency", "rapor.handled", "rapor.ackontime", "rapor.resontime", "rapor.ackmedian", "rapor.ackp90", "rapor.resmedian", ""].map(k => h("th", {}, k ? t(k) : ""))));
  const drill = h("div", { class: "card", id: "rapor-late", hidden: true });
  for (const r of total) {
    const red = r.red_flag ?? r.rapor_merah;
    tbl.append(h("tr", { class: red ? "red" : "", "data-agency": r.agency },
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => lateIncidents(drill, r.agency, start, end) }, r.agency)),
      h("td", { class: "handled" }, r.handled ?? 0),
      h("td", {}, pct(r.ack_on_time_share)), h("td", {}, pct(r.resolve_on_time_share)),
      h("td", {}, mins(r.ack_median_s)), h("td", {}, mins(r.ack_p90_s)), h("td", {}, mins(r.resolve_median_s)),
      h("td", { class: red ? "redflag" : "" }, red ? `⚑ ${t("rapor.red")}` : t("rapor.ok"))));
  }
  card.append(tbl, h("p", { class: "muted" }, t("rapor.drill")));
  // week by week: on-time share and median/p90 time to acknowledge, one line per agency
  const agencies = total.map(r => r.agency);
  const weekTbl = h("table", { id: "rapor-weeks" }, h("tr", {}, h("th", {}, t("rapor.week")), ...agencies.map(a => h("th", {}, a))));
  weeks.forEach(([a], i) => {
    const by = new Map(weekly[i].map(r => [r.agency, r]));
    weekTbl.append(h("tr", {}, h("td", {}, fmtDay(a)), ...agencies.map(ag => {
      const r = by.get(ag) || {};
      return h("td", { class: r.rapor_merah ? "redflag" : "" }, r.handled ? `${pct(r.ack_on_time_share)} · ${mins(r.ack_median_s)} / ${mins(r.ack_p90_s)}${r.rapor_merah ? " ⚑" : ""}` : t("none"));
    })));
  });
  const series = (field, scale) => agencies.map((ag, n) => ({ key: ag, label: ag, unit: "", colour: CHART_COLOURS[n % CHART_COLOURS.length], points: weeks.map(([a, b], i) => {
    const r = weekly[i].find(x => x.agency === ag) || {}; const v = r[field];
    return [(a + b) / 2, v === null || v === undefined ? null : v * scale];  // empty weeks keep the axis whole
  }) }));
  const shareChart = timeChart(series("ack_on_time_share", 100).map(s => ({ ...s, unit: "%" })), { height: 220, title: t("rapor.chart.share"), sameScale: true });
  const timeChartP90 = timeChart([...series("ack_median_s", 1 / 60).map(s => ({ ...s, key: s.key + " median", label: `${s.label} median`, unit: "min" })),
    ...series("ack_p90_s", 1 / 60).map(s => ({ ...s, key: s.key + " p90", label: `${s.label} p90`, unit: "min", dash: true }))], { height: 220, title: t("rapor.chart.time"), sameScale: true });
  whenShownOrNow(shareChart.mount); whenShownOrNow(timeChartP90.mount);
  return [card, drill,
    h("div", { class: "card" }, h("h2", {}, t("rapor.chart.share")), shareChart.el),
    h("div", { class: "card" }, h("h2", {}, t("rapor.chart.time")), timeChartP90.el),
    h("div", { class: "card scroll-x" }, h("h2", {}, t("rapor.weekly")), weekTbl)];
}
// Mount now if the view is already on screen (a re-query), else once it is.
function whenShownOrNow(fn) { if ($("#rapor-out")) setTimeout(fn, 0); else whenShown(fn); }
async function lateIncidents(box, agency, start, end) {
  box.hidden = false;
  box.replaceChildren(h("h2", {}, `${t("rapor.late")} — ${agency}`));
  const q = new URLSearchParams({ agency, from: new Date(start).toISOString(), to: new Date(end).toISOString(), limit: "1000" });
  const list = await api(`/api/v1/incidents?${q}`).catch(() => []);
  const late = (Array.isArray(list) ? list : list.items || []).filter(i => (i.clocks || []).some(c => c.agency === agency &&
    (c.ack_escalated || c.resolve_escalated || (c.acknowledged_at && c.ack_due_at && ms(c.acknowledged_at) > ms(c.ack_due_at)) ||
     (c.resolved_at && c.resolve_due_at && ms(c.resolved_at) > ms(c.resolve_due_at)))));
  if (!late.length) { box.append(h("p", { class: "empty" }, t("rapor.nolate"))); return; }
  const ol = h("ul", { class: "late-list" });
  for (const i of late) ol.append(h("li", {}, badge(levelOf(i)), " ", h("a", { href: `#/incident/${i.id}` }, `${hz(i.hazard)} — ${placeOf(i)}`), ` · ${fmtDay(ms(i.opened_at))} ${fmtTime(i.opened_at)}`));
  box.append(ol);
  box.scrollIntoView({ block: "nearest" });
}
function raporCsv(total, weeks, weekly) {
  const cols = ["agency", "handled", "ack_on_time_share", "resolve_on_time_share", "ack_median_s", "ack_p90_s", "resolve_median_s", "resolve_p90_s", "rapor_merah"];
  const rows = [["period", ...cols].join(",")];
  for (const r of total) rows.push(["total", ...cols.map(c => r[c] ?? "")].map(csvCell).join(","));
  weeks.forEach(([a], i) => { for (const r of weekly[i]) rows.push([`week ${fmtDay(a)}`, ...cols.map(c => r[c] ?? "")].map(csvCell).join(",")); });
  return rows.join("\r\n") + "\r\n";
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
    else if (page === "sensors") await sensorsView(main);
    else if (page === "rapor") await raporView(main);
    else boardView(main);
  } catch (e) { if (e.message !== "401") main.append(h("p", { class: "error" }, `${t("error.generic")}: ${e.message}`)); }
  if (mine !== renderSeq) return;
  const keep = S.mapView && page === "map" ? { center: S.mapView.map.getCenter(), zoom: S.mapView.map.getZoom() } : null;
  if (S.mapView) { S.mapView.map.remove(); S.mapView = null; }
  $("#main").replaceChildren(main);
  S.mapKeep = keep;
  const after = S.afterRender; S.afterRender = [];
  for (const fn of after) await fn();
  const newNote = $("#note");
  if (newNote && draft) newNote.value = draft;
  document.body.dataset.page = page || "board";
}
function refreshView(id) {
  const [, page, arg] = (location.hash || "#/board").split("/");
  if (!page || page === "board" || page === "map") render();
  else if (page === "incident" && String(arg) === String(id)) render();
}
async function start() {
  S.me = await api("/api/v1/me");
  S.cfg = Object.assign(S.cfg, await api("/api/v1/dashboard/config").catch(() => ({})));
  $("#nav").hidden = false; $("#signout").hidden = false;
  $("#who").textContent = `${S.me.name || S.me.username} (${S.me.username}) · ${S.me.agency} · ${S.me.role}`;
  const reg = await loadRegistry();
  S.reg = reg;
  S.sites = new Map(reg.sites.map(x => [x.id, x]));
  await loadIncidents();
  await loadReportTexts();
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
