// Rapor kota: the city's report card over a period.
"use strict";
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

