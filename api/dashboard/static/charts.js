// Small SVG line charts and a plain offline map: no third-party code, no network.
const SVGNS = "http://www.w3.org/2000/svg";
function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// points: [[epochMs, value], ...]; thresholds: [{value, label, level}]
function lineChart(points, opts) {
  const W = 600, H = 160, P = { l: 40, r: 8, t: 14, b: 18 };
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "" });
  svg.appendChild(svgEl("text", { x: P.l, y: 11 }, opts.title || ""));
  if (!points.length) { svg.appendChild(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, opts.empty || "—")); return svg; }
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const th = (opts.thresholds || []).map(x => x.value);
  let y0 = Math.min(...ys, ...th), y1 = Math.max(...ys, ...th);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  const X = x => P.l + (x - x0) / (x1 - x0) * (W - P.l - P.r);
  const Y = y => H - P.b - (y - y0) / (y1 - y0) * (H - P.t - P.b);
  for (const v of [y0, (y0 + y1) / 2, y1]) {
    svg.appendChild(svgEl("line", { x1: P.l, x2: W - P.r, y1: Y(v), y2: Y(v), stroke: "#e3e6ea" }));
    svg.appendChild(svgEl("text", { x: 2, y: Y(v) + 3 }, (+v.toFixed(2)).toString()));
  }
  const colours = { 2: "#8a6d00", 3: "#b5520b", 4: "#b3141b" };
  for (const t of opts.thresholds || []) {
    svg.appendChild(svgEl("line", { x1: P.l, x2: W - P.r, y1: Y(t.value), y2: Y(t.value), stroke: colours[t.level] || "#999", "stroke-dasharray": "5 4" }));
    svg.appendChild(svgEl("text", { x: W - P.r - 4, y: Y(t.value) - 3, "text-anchor": "end" }, t.label));
  }
  const d = points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
  svg.appendChild(svgEl("path", { d, fill: "none", stroke: "#274690", "stroke-width": 1.6 }));
  svg.appendChild(svgEl("text", { x: P.l, y: H - 4 }, opts.fmtTime(x0)));
  svg.appendChild(svgEl("text", { x: W - P.r, y: H - 4, "text-anchor": "end" }, opts.fmtTime(x1)));
  return svg;
}

// features: [{lat, lon, label, kind: "node"|"gateway"|"incident", level, href}]
function plainMap(features, opts) {
  const W = 1000, H = 600, pad = 60;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "map", role: "img", "aria-label": opts.title || "" });
  const pts = features.filter(f => Number.isFinite(f.lat) && Number.isFinite(f.lon));
  if (!pts.length) { svg.appendChild(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, opts.empty || "—")); return svg; }
  let la0 = Math.min(...pts.map(p => p.lat)), la1 = Math.max(...pts.map(p => p.lat));
  let lo0 = Math.min(...pts.map(p => p.lon)), lo1 = Math.max(...pts.map(p => p.lon));
  const span = Math.max(la1 - la0, lo1 - lo0, 0.01);
  const cla = (la0 + la1) / 2, clo = (lo0 + lo1) / 2;
  la0 = cla - span / 2; la1 = cla + span / 2; lo0 = clo - span / 2 * W / H; lo1 = clo + span / 2 * W / H;
  const X = lon => pad + (lon - lo0) / (lo1 - lo0) * (W - 2 * pad);
  const Y = lat => H - pad - (lat - la0) / (la1 - la0) * (H - 2 * pad);
  if (opts.tileUrl) drawTiles(svg, opts.tileUrl, la0, la1, lo0, lo1, X, Y);
  for (let i = 0; i <= 4; i++) {  // a plain graticule so the map reads without tiles
    const lat = la0 + (la1 - la0) * i / 4, lon = lo0 + (lo1 - lo0) * i / 4;
    svg.appendChild(svgEl("line", { x1: 0, x2: W, y1: Y(lat), y2: Y(lat), stroke: "#cfd8de" }));
    svg.appendChild(svgEl("line", { y1: 0, y2: H, x1: X(lon), x2: X(lon), stroke: "#cfd8de" }));
    svg.appendChild(svgEl("text", { x: 4, y: Y(lat) - 2 }, lat.toFixed(3)));
  }
  const fill = { 1: "#1f7a3a", 2: "#c9a100", 3: "#e07a1f", 4: "#b3141b" };
  const shape = { node: "circle", gateway: "rect", incident: "path" };
  for (const f of pts) {
    const x = X(f.lon), y = Y(f.lat);
    const g = svgEl("a", f.href ? { href: f.href } : {});
    const title = svgEl("title", {}, f.title || f.label);
    let mark;
    if (shape[f.kind] === "rect") mark = svgEl("rect", { x: x - 7, y: y - 7, width: 14, height: 14, fill: "#274690" });
    else if (shape[f.kind] === "path") mark = svgEl("path", { d: `M${x},${y - 13}L${x + 12},${y + 9}L${x - 12},${y + 9}Z`, fill: fill[f.level] || "#777", stroke: "#000" });
    else mark = svgEl("circle", { cx: x, cy: y, r: 6, fill: fill[f.level] || "#5c6b7a", stroke: "#fff", "stroke-width": 2 });
    mark.appendChild(title);
    g.appendChild(mark);
    g.appendChild(svgEl("text", { x: x + 10, y: y + 4 }, f.label));
    svg.appendChild(g);
  }
  return svg;
}

// Optional tile server ({z}/{x}/{y} URL in the hub config) for deployments that have one.
function drawTiles(svg, url, la0, la1, lo0, lo1, X, Y) {
  const z = 14, n = 2 ** z;
  const tx = lon => Math.floor((lon + 180) / 360 * n);
  const ty = lat => { const r = lat * Math.PI / 180; return Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * n); };
  const lonOf = x => x / n * 360 - 180;
  const latOf = y => { const m = Math.PI - 2 * Math.PI * y / n; return 180 / Math.PI * Math.atan(0.5 * (Math.exp(m) - Math.exp(-m))); };
  for (let x = tx(lo0); x <= tx(lo1) && x - tx(lo0) < 12; x++)
    for (let y = ty(la1); y <= ty(la0) && y - ty(la1) < 12; y++) {
      const x0 = X(lonOf(x)), x1 = X(lonOf(x + 1)), y0 = Y(latOf(y)), y1 = Y(latOf(y + 1));
      svg.appendChild(svgEl("image", { href: url.replace("{z}", z).replace("{x}", x).replace("{y}", y), x: x0, y: y0, width: x1 - x0, height: y1 - y0, preserveAspectRatio: "none" }));
    }
}

// A small chart for a table cell: the shape of the last hours, with the latest value beside it.
function sparkline(points, label) {
  const W = 120, H = 30;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "spark", role: "img", "aria-label": label });
  svg.appendChild(svgEl("title", {}, label));
  if (points.length < 2) { svg.appendChild(svgEl("line", { x1: 0, x2: W, y1: H / 2, y2: H / 2, stroke: "#ccd" })); return svg; }
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const X = x => (x - x0) / ((x1 - x0) || 1) * (W - 2) + 1, Y = y => H - 2 - (y - y0) / ((y1 - y0) || 1) * (H - 4);
  svg.appendChild(svgEl("path", { d: points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(""), fill: "none", stroke: "#274690", "stroke-width": 1.4 }));
  return svg;
}
