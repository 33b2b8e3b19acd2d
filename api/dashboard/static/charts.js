// Time-series charts (uPlot, from the build's vendor bundle): several channels on one time
// axis, drag to zoom, thresholds drawn, a range picker, CSV export of what is shown, sparklines.
"use strict";
const CHART_COLOURS = ["#274690", "#b5520b", "#1f7a3a", "#7b2d8b", "#8a6d00", "#0b7285"];
const THRESHOLD_COLOURS = { 2: "#8a6d00", 3: "#b5520b", 4: "#b3141b" };
const RANGES = [["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 24 * 3600e3], ["7d", 7 * 86400e3]];

// A bucket that gives about `target` points over [from, to), never under a second; when the
// aggregate has fewer than two points (a young node, a short zoom), the raw readings instead.
async function fetchSeries(node, channel, from, to, target = 240) {
  const every = Math.max(1000, Math.floor((to - from) / target));
  const q = new URLSearchParams({ channel, from: String(Math.floor(from)), to: String(Math.ceil(to)), every: `${every}`, agg: "mean" });
  const agg = await api(`/api/v1/nodes/${encodeURIComponent(node)}/readings?${q}`);
  let points = (agg.intervals || []).map(r => [r.ts + every / 2, r.mean]).filter(p => Number.isFinite(p[1]));
  if (points.length < 2) {
    const raw = await api(`/api/v1/nodes/${encodeURIComponent(node)}/readings?` + new URLSearchParams({ channel, from: String(Math.floor(from)), to: String(Math.ceil(to)), limit: "2000" }));
    points = (raw.readings || []).map(r => [r.ts, r.value]);
  }
  return { unit: agg.unit || "", every, points };
}

function rangePicker(state, onChange) {
  const box = h("div", { class: "range-picker", role: "group", "aria-label": t("chart.range") });
  const custom = h("div", { class: "range-custom", hidden: state.name !== "custom" });
  const localInput = (id, v) => h("input", { type: "datetime-local", id, value: toLocalInput(v), step: "60" });
  const fromIn = localInput("range-from", state.from), toIn = localInput("range-to", state.to);
  for (const [name, span] of RANGES) {
    box.append(h("button", { type: "button", class: "secondary", "data-range": name, "aria-pressed": String(state.name === name),
      onclick: () => { const to = Date.now(); onChange({ name, from: to - span, to }); } }, t("range." + name)));
  }
  box.append(h("button", { type: "button", class: "secondary", "data-range": "custom", "aria-pressed": String(state.name === "custom"),
    onclick: () => { custom.hidden = !custom.hidden; } }, t("range.custom")));
  custom.append(h("label", {}, t("rapor.from"), " ", fromIn), h("label", {}, t("rapor.to"), " ", toIn),
    h("button", { type: "button", onclick: () => {
      const from = fromLocalInput(fromIn.value), to = fromLocalInput(toIn.value);
      if (from && to && from < to) onChange({ name: "custom", from, to });
    } }, t("rapor.show")));
  box.append(custom);
  return box;
}
// datetime-local values are wall-clock times in the hub's zone (WIB), not the browser's.
function toLocalInput(ms) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: S.cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms)).map(x => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}
function fromLocalInput(v) {
  if (!v) return null;
  const guess = Date.parse(v + ":00Z");  // as if UTC, then shift by the zone's offset there
  const shown = Date.parse(toLocalInput(guess) + ":00Z");
  return guess - (shown - guess);
}

// series: [{ key, label, unit, points: [[ms, value], ...], scale?, colour?, dash? }]
// opts: { thresholds: [{ key, value, label, level }], height, onZoom(fromMs, toMs), title }
function timeChart(series, opts = {}) {
  const wrap = h("div", { class: "tchart", role: "img", "aria-label": opts.title || series.map(s => s.label).join(", ") });
  const withData = series.filter(s => s.points.some(p => p[1] !== null && p[1] !== undefined));
  if (!withData.length) { wrap.append(h("p", { class: "empty" }, t("chart.nodata"))); return { el: wrap, mount() {} }; }
  const tables = withData.map(s => [s.points.map(p => p[0] / 1000), s.points.map(p => p[1])]);
  const data = window.SiagaVendor.uPlot.join(tables);
  const thresholds = opts.thresholds || [];
  const narrow = window.innerWidth < 700;
  const scales = { x: { time: true } }, axes = [{ stroke: "#555d69", grid: { stroke: "#eceff3" } }], useries = [{ label: t("chart.time") }];
  // One y scale and axis per series, or per `scale` name the series share (the incident page
  // puts one channel of several nodes on one axis, so a threshold sits at one height); sameScale: one.
  const scaleOf = i => opts.sameScale ? "y0" : withData[i].scale || withData[i].key;
  const scaleKeys = [...new Set(withData.map((_, i) => scaleOf(i)))];
  const multi = scaleKeys.length > 1;
  withData.forEach((s, i) => {
    const sk = scaleOf(i), colour = s.colour || CHART_COLOURS[i % CHART_COLOURS.length];
    const sharing = withData.filter((_, j) => scaleOf(j) === sk);
    const ths = thresholds.filter(x => sharing.some(w => w.key === x.key)).map(x => x.value);
    if (!scales[sk]) scales[sk] = { range: (u, min, max) => {
      let lo = Math.min(min ?? 0, ...ths), hi = Math.max(max ?? 1, ...ths);
      if (lo === hi) { lo -= 1; hi += 1; }
      const pad = (hi - lo) * 0.08; return [lo - pad, hi + pad];
    } };
    useries.push({ label: `${s.label}${s.unit ? ` (${s.unit})` : ""}`, scale: sk, stroke: colour, width: 1.6, spanGaps: true, dash: s.dash ? [6, 4] : undefined,
      points: { show: s.points.length < 60 }, value: (u, v) => v === null || v === undefined ? "—" : (+v.toFixed(2)).toString() });
    if (axes.some(a => a.scale === sk)) return;
    // On a phone only the first two axes show (the legend still shows every value).
    const n = scaleKeys.indexOf(sk);
    axes.push({ scale: sk, side: n % 2 ? 1 : 3, stroke: sharing.length > 1 ? "#555d69" : colour, size: 46, grid: { show: n === 0, stroke: "#eceff3" }, show: n < 2 || !narrow,
      label: multi ? s.scale || s.unit || s.label : undefined, labelSize: multi ? 14 : 0,
      values: (u, ticks) => ticks.map(v => (+v.toPrecision(4)).toString()) });
  });
  const draw = u => {
    const ctx = u.ctx; ctx.save();
    for (const th of thresholds) {
      const i = withData.findIndex(s => s.key === th.key); if (i < 0) continue;
      const y = u.valToPos(th.value, scaleOf(i), true);
      if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
      ctx.strokeStyle = THRESHOLD_COLOURS[th.level] || "#777"; ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle; ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`; ctx.textAlign = "right";
      ctx.fillText(`${th.label} ${th.value}`, u.bbox.left + u.bbox.width - 4, y - 4);
    }
    ctx.restore();
  };
  let plot = null;
  const shown = () => { const x = plot ? plot.scales.x : {}; return { from: (x.min ?? data[0][0]) * 1000, to: (x.max ?? data[0][data[0].length - 1]) * 1000 }; };
  const mark = () => { const r = shown(); wrap.dataset.from = String(Math.round(r.from)); wrap.dataset.to = String(Math.round(r.to)); };
  return {
    el: wrap,
    mount() {
      const width = Math.max(240, wrap.clientWidth || 600);
      plot = new window.SiagaVendor.uPlot({
        width, height: opts.height || 260, series: useries, scales, axes, data,
        fmtDate: tpl => window.SiagaVendor.uPlot.fmtDate(dayFirst24h(tpl)),
        tzDate: ts => window.SiagaVendor.uPlot.tzDate(new Date(ts * 1000), S.cfg.timezone),
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { live: true },
        hooks: { draw: [draw], setScale: [(u, key) => { if (key === "x") mark(); }] },
      }, data, wrap);
      mark();
      // A drag selects a time span: on release (before uPlot's own handler on the document
      // clears the selection) zoom to it and tell the page, which re-fetches at a finer bucket.
      plot.over.addEventListener("mouseup", () => {
        const sel = plot.select; if (sel.width < 2) return;
        const from = plot.posToVal(sel.left, "x"), to = plot.posToVal(sel.left + sel.width, "x");
        plot.setScale("x", { min: from, max: to });
        if (opts.onZoom) opts.onZoom(from * 1000, to * 1000);
      });
      const ro = new ResizeObserver(() => { if (wrap.isConnected && wrap.clientWidth) plot.setSize({ width: wrap.clientWidth, height: opts.height || 260 }); });
      ro.observe(wrap);
    },
    // The shown data as CSV: one row per time, one column per channel, only the zoomed range.
    csv() {
      const r = shown(), head = ["time_utc", `time_${tzLabel()}`, ...withData.map(s => `${s.label}${s.unit ? ` (${s.unit})` : ""}`)];
      const rows = [head.map(csvCell).join(",")];
      for (let i = 0; i < data[0].length; i++) {
        const ms = data[0][i] * 1000; if (ms < r.from || ms > r.to) continue;
        rows.push([new Date(ms).toISOString(), fmtTime(ms, true), ...withData.map((s, j) => data[j + 1][i] ?? "")].map(csvCell).join(","));
      }
      return rows.join("\r\n") + "\r\n";
    },
    shown,
  };
}
// uPlot's axis templates are US-style (12 h, month first); ours are 24 h, day first.
const dayFirst24h = tpl => tpl.replace(/\{h\}/g, "{HH}").replace(/\{aa\}/g, "").replace("{M}/{D}/{YY}", "{D}/{M}/{YY}").replace("{M}/{D}", "{D}/{M}");
const csvCell = v => { const s = String(v); return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
function download(name, text, type = "text/csv") {
  const a = h("a", { href: URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` })), download: name });
  document.body.append(a); a.click(); a.remove(); setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

// A sparkline for a table cell: no axes, the shape of the range and nothing else.
function sparkline(points, label) {
  const el = h("span", { class: "spark", role: "img", "aria-label": label, title: label });
  return { el, mount() {
    if (points.length < 2) { el.classList.add("flat"); return; }
    new window.SiagaVendor.uPlot({ width: 120, height: 30, cursor: { show: false }, legend: { show: false }, select: { show: false },
      scales: { x: { time: false } }, axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: "#274690", width: 1.4, points: { show: false } }] },
    [points.map(p => p[0] / 1000), points.map(p => p[1])], el);
  } };
}
