// The sensor page: every node with its health and a sparkline per channel, every gateway.
"use strict";
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

