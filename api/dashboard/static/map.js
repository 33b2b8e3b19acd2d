// The interactive map (Leaflet, from the build's vendor bundle): an offline basemap from the
// hub's PMTiles file (raster or vector), hazard zones, sites, nodes, gateways, incidents and
// citizen reports. Labels never overlap: after every move, lower-priority labels that would
// collide with a placed one are hidden (their marker keeps its tooltip).
"use strict";
const MAP_COLOUR = { 1: "#1f7a3a", 2: "#b08d00", 3: "#d4660f", 4: "#b3141b" };
// Level in shape as well as colour: circle Normal, square Waspada, triangle Siaga, octagon Awas.
const MAP_SHAPE = {
  1: '<circle cx="14" cy="14" r="10"/>',
  2: '<rect x="4" y="4" width="20" height="20" rx="2"/>',
  3: '<path d="M14 2 L26 24 L2 24 Z"/>',
  4: '<path d="M9 2 H19 L26 9 V19 L19 26 H9 L2 19 V9 Z"/>',
};
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function levelMark(level) {
  const lv = MAP_SHAPE[level] ? level : 1;
  return `<svg class="map-shape" viewBox="0 0 28 28" width="28" height="28" aria-hidden="true"><g fill="${MAP_COLOUR[lv]}" stroke="#fff" stroke-width="2">${MAP_SHAPE[lv]}</g>` +
    `<text x="14" y="${lv === 3 ? 21 : 18.5}" text-anchor="middle" font-size="11" font-weight="700" fill="#fff">${lv}</text></svg>`;
}
// A marker whose label is part of its icon, so the label moves with it and can be hidden alone.
function labelledIcon(kind, markHtml, label, priority, size) {
  return L.divIcon({
    className: `map-item map-${kind}`, iconSize: [size, size], iconAnchor: [size / 2, size / 2],
    html: `<span class="map-mark">${markHtml}</span>` + (label ? `<span class="map-label" data-priority="${priority}">${esc(label)}</span>` : ""),
  });
}

async function addBasemap(map, cfg) {
  const V = window.SiagaVendor;
  const attribution = cfg.tile_attribution || "";
  if (cfg.basemap_url) {
    const url = new URL(cfg.basemap_url, location.href).href;
    const archive = new V.PMTiles(url);
    const head = await archive.getHeader();
    const layer = head.tileType === V.TileType.Mvt
      ? V.protomapsLayer({ url: archive, flavor: "light", lang: LANG === "en" ? "en" : "id", maxDataZoom: head.maxZoom, attribution })
      : V.leafletRasterLayer(archive, { attribution, maxNativeZoom: head.maxZoom, maxZoom: 19 });
    layer.addTo(map);
    map.getContainer().dataset.basemap = head.tileType === V.TileType.Mvt ? "vector" : "raster";
    return layer;
  }
  if (cfg.tile_url) {
    map.getContainer().dataset.basemap = "url";
    return L.tileLayer(cfg.tile_url, { attribution, maxZoom: 19 }).addTo(map);
  }
  map.getContainer().dataset.basemap = "none";  // plain background: the registry still draws
  return null;
}

// Hide labels that collide with a higher-priority label or with any marker symbol.
function declutter(map) {
  const root = map.getContainer();
  const labels = [...root.querySelectorAll(".map-label")];
  for (const el of labels) el.classList.remove("hidden-label");
  labels.sort((a, b) => Number(b.dataset.priority) - Number(a.dataset.priority));
  const view = root.getBoundingClientRect();
  const taken = [...root.querySelectorAll(".map-mark")].map(el => el.getBoundingClientRect());
  const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  for (const el of labels) {
    const r = el.getBoundingClientRect();
    const inside = r.left >= view.left && r.right <= view.right && r.top >= view.top && r.bottom <= view.bottom;
    if (!inside || taken.some(t => overlaps(r, t))) el.classList.add("hidden-label");
    else taken.push(r);
  }
}

// Build a map into `el`. data: { sites, nodes, gateways, incidents, latest? }.
// Returns { map, follow(incident) }.
async function siagaMap(el, data, opts = {}) {
  const map = L.map(el, { zoomControl: true, attributionControl: true, minZoom: 3, maxZoom: 19, preferCanvas: false });
  map.attributionControl.setPrefix(false);
  const area = L.latLngBounds([]);
  try { await addBasemap(map, S.cfg); } catch (e) { el.dataset.basemap = "error"; el.dataset.basemapError = String(e.message || e); }

  const zones = L.layerGroup().addTo(map), sites = L.layerGroup().addTo(map), nodes = L.layerGroup().addTo(map);
  const gateways = L.layerGroup().addTo(map), incidents = L.layerGroup().addTo(map), reports = L.layerGroup().addTo(map);
  for (const s of data.sites || []) {
    for (const z of s.zones || []) {
      const poly = L.polygon(z.polygon, { color: z.hazard === "landslide" ? "#8a4b08" : z.hazard === "fire" ? "#b3141b" : "#274690", weight: 2, fillOpacity: 0.15, dashArray: "6 4", className: "map-zone" });
      poly.bindTooltip(`${esc(z.name)}${z.hazard ? " · " + esc(hz(z.hazard)) : ""}`, { sticky: true });
      zones.addLayer(poly); area.extend(poly.getBounds());
    }
    if (Number.isFinite(s.lat)) {
      sites.addLayer(L.marker([s.lat, s.lon], { icon: labelledIcon("site", '<span class="site-dot"></span>', s.name, 1, 10), keyboard: false, zIndexOffset: -200 })
        .bindTooltip(`${esc(s.name)} (${esc(s.desa || s.kecamatan || "")})`));
      area.extend([s.lat, s.lon]);
    }
  }
  for (const n of data.nodes || []) {
    if (!Number.isFinite(n.lat)) continue;
    const last = (data.latest || {})[n.node];
    const state = last ? (last.silent ? "silent" : "ok") : "unknown";
    const tip = `<strong>${esc(n.node)}</strong> ${esc(n.name || "")}<br>${esc(n.site_name || n.site)}` +
      (last ? `<br>${last.channels.map(c => `${esc(c.channel)} ${+Number(c.value).toFixed(2)} ${esc(c.unit || "")}`).join("<br>")}<br>${t("sensors.lastseen")}: ${fmtTime(last.ts, true)}` : "");
    const m = L.marker([n.lat, n.lon], { icon: labelledIcon("node", `<span class="node-dot ${state}"></span>`, n.node, 2, 14), title: n.node, alt: n.node, zIndexOffset: 0 });
    m.bindTooltip(tip); m.bindPopup(tip);  // hover on a PC, tap on a phone
    nodes.addLayer(m); area.extend([n.lat, n.lon]);
  }
  const siteById = new Map((data.sites || []).map(s => [s.id, s]));
  for (const g of data.gateways || []) {
    const s = siteById.get(g.site);
    const lat = Number.isFinite(g.lat) ? g.lat : s && s.lat, lon = Number.isFinite(g.lon) ? g.lon : s && s.lon;
    if (!Number.isFinite(lat)) continue;
    const h = (data.health || {})[g.id] || {};
    const tip = `<strong>${esc(g.id)}</strong> ${esc(g.name || "")}<br>${t("sensors.heartbeat")}: ${h.last_heartbeat ? fmtTime(h.last_heartbeat, true) : t("none")}` +
      `<br>${t("sensors.buffer")}: ${h.buffer_depth ?? t("none")}${h.silent ? `<br><strong>${t("health.silent")}</strong>` : ""}`;
    const m = L.marker([lat, lon], { icon: labelledIcon("gateway", `<span class="gw-square${h.silent ? " silent" : ""}">GW</span>`, g.id, 3, 20), title: g.id, alt: g.id, zIndexOffset: 100 });
    m.bindTooltip(tip); m.bindPopup(tip);
    gateways.addLayer(m); area.extend([lat, lon]);
  }
  const markers = new Map();
  for (const inc of data.incidents || []) {
    if (!Number.isFinite(inc.lat)) continue;
    const lv = levelOf(inc), isReport = inc.origin === "report";
    const label = `${hz(inc.hazard)} · ${t("lv." + lv)}`;
    const mark = isReport ? `<span class="report-pin">!</span>${levelMark(lv)}` : levelMark(lv);
    const m = L.marker([inc.lat, inc.lon], { icon: labelledIcon(`${isReport ? "report" : "incident"} level-${lv}`, mark, label, 10 + lv, 28),
      title: `${label} — ${placeOf(inc)}`, alt: label, zIndexOffset: 1000 + lv * 100, riseOnHover: true });
    m.on("click", () => { location.hash = `#/incident/${inc.id}`; });
    (isReport ? reports : incidents).addLayer(m);
    markers.set(String(inc.id), m);
  }
  L.control.layers(null, { [t("map.zones")]: zones, [t("map.nodes")]: nodes, [t("map.gateways")]: gateways,
    [t("map.incidents")]: incidents, [t("map.reports")]: reports }, { collapsed: true }).addTo(map);
  // The view opens on the agency's configured area, else on the registry's extent (never on
  // incidents or reports, so a far-away report does not zoom the city away).
  const home = S.cfg.area ? L.latLngBounds([S.cfg.area[0], S.cfg.area[1]], [S.cfg.area[2], S.cfg.area[3]]) : area;
  if (opts.center) map.setView(opts.center, opts.zoom || 16);
  else if (home.isValid()) map.fitBounds(S.cfg.area ? home : home.pad(0.08), { maxZoom: 17 });
  else map.setView([-2.5, 118], 5);  // Indonesia, for an empty registry
  const tidy = () => declutter(map);
  map.on("zoomend moveend overlayadd overlayremove", tidy);
  setTimeout(tidy, 0);
  return {
    map, area, markers,
    fit() { if (home.isValid()) map.fitBounds(S.cfg.area ? home : home.pad(0.08), { maxZoom: 17 }); },
    follow(inc) { if (inc && Number.isFinite(inc.lat)) map.setView([inc.lat, inc.lon], Math.max(map.getZoom(), 16)); },
  };
}

// ---- the map page ---------------------------------------------------------------------
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
