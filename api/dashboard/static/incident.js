// The incident page: actions, timeline (newest first), every channel behind it, its place.
"use strict";
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
    const named = d.place ? (LANG === "en" && d.place_en) || d.place : null;
    const place = e.kind === "report" && Number.isFinite(d.lat) ? h("span", { class: "place" }, " · ", named || nearestPlace(d.lat, d.lon)) : null;
    // The hub writes its own entries in Indonesian with the English beside them (note_en).
    const note = (LANG === "en" && d.note_en) || e.note || "";
    const text = e.kind === "report" ? h("q", { class: "report-text" }, note) : note;
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
  card.dataset.from = String(Math.round(state.from)); card.dataset.to = String(Math.round(state.to));
  const csvBtn = h("button", { type: "button", class: "secondary", id: "csv" }, t("chart.csv"));
  const shownLabel = h("span", { class: "muted", id: "chart-range" });
  let chart = null;
  const draw = async () => {
    const series = await Promise.all(channels.map(async c => {
      const r = await fetchSeries(c.node, c.channel, state.from, state.to).catch(() => ({ unit: "", points: [] }));
      return { key: `${c.node}/${c.channel}`, label: `${c.node} · ${c.channel}`, unit: r.unit, scale: `${c.channel}${r.unit ? ` (${r.unit})` : ""}`, points: r.points };
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
// Where an incident is, in words: its site's name, or the hub's label of a place that is no
// registry site; an incident citizens reported is named by what the first of them wrote too.
function placeOf(inc) {
  const where = inc.place_label ? (LANG === "en" && inc.place_label_en) || inc.place_label : siteName(inc);
  if (inc.origin !== "report") return where;
  const text = S.reportText.get(inc.id);
  return `${t("tl.report")}${text ? `: “${text.length > 80 ? text.slice(0, 77) + "…" : text}”` : ""}${where ? ` — ${where}` : ""}`;
}

