// Admin pages: staff accounts, gateway tokens and what ingest refused of each gateway, the
// registry (positions picked on a map) and the audit log. Hidden from non-admins, but the API
// is what refuses them (403).
"use strict";
const ADMIN_TABS = ["users", "gateways", "registry", "audit"];

async function adminView(main, tab) {
  if (!S.me || S.me.role !== "admin") {
    main.append(h("div", { class: "card", id: "admin-denied" }, h("h1", {}, t("admin.title")), h("p", {}, t("admin.denied"))));
    return;
  }
  tab = ADMIN_TABS.includes(tab) ? tab : "users";
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("admin.title")),
    h("nav", { class: "tabs", "aria-label": t("admin.title") }, ADMIN_TABS.map(x =>
      h("a", { href: `#/admin/${x}`, "aria-current": x === tab ? "page" : null }, t("admin." + x))))));
  const msg = h("p", { role: "status", id: "admin-msg", class: "muted" });
  main.append(msg);
  const say = text => { msg.textContent = text; };
  const guard = fn => async (...args) => {
    try { await fn(...args); } catch (e) { say(`${t("error.generic")}: ${e.message}`); }
  };
  if (tab === "users") await usersTab(main, say, guard);
  else if (tab === "gateways") await gatewaysTab(main, say, guard);
  else if (tab === "registry") await registryTab(main, say, guard);
  else await auditTab(main);
}

const agencySelect = (value, attrs = {}) => h("select", attrs,
  Object.entries(S.cfg.agencies || {}).map(([code, name]) => h("option", { value: code, selected: code === value, title: name }, code)));
const roleSelect = (value, attrs = {}) => h("select", attrs,
  ["viewer", "responder", "admin"].map(r => h("option", { value: r, selected: r === value }, t("role." + r))));
const field = (label, input) => h("label", { class: "field" }, h("span", {}, label), input);

async function usersTab(main, say, guard) {
  const users = await api("/api/v1/admin/users");
  const tbl = h("table", { id: "users" }, h("tr", {}, ...["login.user", "admin.name", "agency", "admin.role", "status", ""].map(k => h("th", {}, k ? t(k) : ""))));
  for (const u of users) {
    const self = u.username === S.me.username;
    const patch = guard(async body => {
      await api(`/api/v1/admin/users/${encodeURIComponent(u.username)}`, { method: "PATCH", body });
      await render(); say(t("action.done"));
    });
    const pw = h("input", { type: "password", placeholder: t("admin.newpass"), autocomplete: "new-password", "aria-label": `${t("admin.newpass")} ${u.username}` });
    tbl.append(h("tr", { "data-user": u.username, class: u.disabled ? "disabled" : "" },
      h("td", {}, u.username), h("td", {}, u.name),
      h("td", {}, agencySelect(u.agency, { "aria-label": `${t("agency")} ${u.username}`, onchange: ev => patch({ agency: ev.target.value }) })),
      h("td", {}, roleSelect(u.role, { "aria-label": `${t("admin.role")} ${u.username}`, disabled: self, onchange: ev => patch({ role: ev.target.value }) })),
      h("td", {}, u.disabled ? t("admin.disabled") : t("admin.active")),
      h("td", { class: "row" },
        h("button", { type: "button", class: "secondary", disabled: self, "data-act": "toggle", onclick: () => patch({ disabled: !u.disabled }) }, u.disabled ? t("admin.enable") : t("admin.disable")),
        pw, h("button", { type: "button", class: "secondary", "data-act": "password", onclick: guard(async () => {
          await api(`/api/v1/admin/users/${encodeURIComponent(u.username)}/password`, { method: "POST", body: { password: pw.value } });
          pw.value = ""; say(`${t("admin.passdone")}: ${u.username}`);
        }) }, t("admin.resetpass")))));
  }
  const f = { username: h("input", { name: "new-username", required: true, autocomplete: "off" }), name: h("input", { name: "new-name" }),
    agency: agencySelect(S.me.agency, { name: "new-agency" }), role: roleSelect("responder", { name: "new-role" }),
    password: h("input", { name: "new-password", type: "password", autocomplete: "new-password", required: true }) };
  const form = h("form", { class: "card form-grid", id: "user-form" }, h("h2", {}, t("admin.newuser")),
    field(t("login.user"), f.username), field(t("admin.name"), f.name), field(t("agency"), f.agency), field(t("admin.role"), f.role),
    field(t("login.pass"), f.password), h("button", { type: "submit" }, t("admin.create")));
  form.addEventListener("submit", guard(async ev => {
    ev.preventDefault();
    await api("/api/v1/admin/users", { method: "POST", body: { username: f.username.value.trim(), name: f.name.value.trim(),
      agency: f.agency.value, role: f.role.value, password: f.password.value } });
    await render(); say(`${t("admin.created")}: ${f.username.value.trim()}`);
  }));
  main.append(h("div", { class: "card scroll-x" }, tbl), form);
}

async function gatewaysTab(main, say, guard) {
  const list = await api("/api/v1/admin/gateway-tokens");
  const shown = h("div", { id: "token-shown", class: "card", hidden: true });
  const tbl = h("table", { id: "gateway-tokens" }, h("tr", {}, ...["sensors.gateways", "admin.token", ""].map(k => h("th", {}, k ? t(k) : ""))));
  for (const g of list) {
    const issue = guard(async () => {
      const r = await api(`/api/v1/admin/gateway-tokens/${encodeURIComponent(g.gateway)}`, { method: "POST" });
      await render();
      const box = $("#token-shown");
      box.hidden = false;
      box.replaceChildren(h("h2", {}, `${t("admin.token")}: ${r.gateway}`), h("p", {}, t("admin.tokenonce")), h("code", { class: "token" }, r.token));
    });
    tbl.append(h("tr", { "data-gateway": g.gateway }, h("td", {}, g.gateway, h("br"), h("small", {}, g.name)),
      h("td", {}, g.issued_at ? `${t("admin.issued")} ${fmtDay(ms(g.issued_at))} ${fmtTime(g.issued_at)}` : t("admin.notoken")),
      h("td", { class: "row" }, h("button", { type: "button", "data-act": "issue", onclick: issue }, g.issued_at ? t("admin.rotate") : t("admin.issue")),
        g.issued_at ? h("button", { type: "button", class: "secondary", "data-act": "revoke", onclick: guard(async () => {
          await api(`/api/v1/admin/gateway-tokens/${encodeURIComponent(g.gateway)}`, { method: "DELETE" });
          await render(); say(`${t("admin.revoked")}: ${g.gateway}`);
        }) }, t("admin.revoke")) : null)));
  }
  main.append(shown, h("div", { class: "card scroll-x" }, tbl), await refusalsCard());
}

// What ingest refused of each gateway (a stolen or misconfigured gateway shows up here).
async function refusalsCard() {
  const rows = await api("/api/v1/admin/ingest-refusals");
  const tbl = h("table", { id: "ingest-refusals" }, h("tr", {}, ...["sensors.gateways", "admin.reason", "admin.count", "admin.last", "admin.example"].map(k => h("th", {}, t(k)))));
  for (const r of rows) {
    const x = r.example;
    tbl.append(h("tr", { "data-gateway": r.gateway, "data-reason": r.reason },
      h("td", {}, r.gateway), h("td", {}, t("refusal." + r.reason)), h("td", {}, String(r.count)),
      h("td", {}, `${fmtDay(ms(r.last_at))} ${fmtTime(r.last_at)}`),
      h("td", {}, h("code", {}, `${x.kind} ${x.node}${x.site ? " @ " + x.site : ""} (${x.batch} #${x.index})`), h("br"), h("small", {}, x.reason))));
  }
  if (!rows.length) tbl.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, t("none"))));
  return h("div", { class: "card scroll-x" }, h("h2", {}, t("admin.refusals")), h("p", { class: "muted" }, t("admin.refusals.note")), tbl);
}

// Sites, gateways and nodes: a form per kind; clicking the map sets the form's position.
async function registryTab(main, say, guard) {
  const reg = await loadRegistry();
  const kind = h("select", { id: "reg-kind" }, ["site", "gateway", "node"].map(k => h("option", { value: k }, t("admin.kind." + k))));
  const id = h("input", { id: "reg-id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._-]{0,63}" });
  const name = h("input", { id: "reg-name" });
  const lat = h("input", { id: "reg-lat", inputmode: "decimal" }), lon = h("input", { id: "reg-lon", inputmode: "decimal" });
  const site = h("select", { id: "reg-site" }, reg.sites.map(s => h("option", { value: s.id }, `${s.id} — ${s.name}`)));
  const gateway = h("select", { id: "reg-gateway" }, h("option", { value: "" }, t("none")), reg.gateways.map(g => h("option", { value: g.id }, g.id)));
  const desa = h("input", { id: "reg-desa" }), kec = h("input", { id: "reg-kecamatan" }), skind = h("input", { id: "reg-sitekind", placeholder: "slope, market, river…" });
  const channels = h("input", { id: "reg-channels", placeholder: "vwc, rain, tilt, batt" });
  const only = (k, el) => { el.dataset.kinds = k; return el; };
  const form = h("form", { class: "card form-grid", id: "registry-form" }, h("h2", {}, t("admin.registry")),
    field(t("admin.kind"), kind), field("ID", id), field(t("admin.name"), name),
    only("gateway node", field(t("site"), site)), only("node", field(t("sensors.gateways"), gateway)),
    only("site", field("Desa", desa)), only("site", field("Kecamatan", kec)), only("site", field(t("admin.sitekind"), skind)),
    only("node", field(t("admin.channels"), channels)),
    field("Lat", lat), field("Lon", lon), h("p", { class: "muted" }, t("admin.pick")), h("button", { type: "submit" }, t("admin.save")));
  const sync = () => { for (const el of form.querySelectorAll("[data-kinds]")) el.hidden = !el.dataset.kinds.split(" ").includes(kind.value); };
  kind.addEventListener("change", sync); sync();
  form.addEventListener("submit", guard(async ev => {
    ev.preventDefault();
    const pos = lat.value && lon.value ? { lat: Number(lat.value), lon: Number(lon.value) } : {};
    const body = kind.value === "site" ? { name: name.value, desa: desa.value, kecamatan: kec.value, kind: skind.value, ...pos }
      : kind.value === "gateway" ? { name: name.value, site: site.value || null, ...pos }
      : { name: name.value, site: site.value, gateway: gateway.value || null, channels: channels.value.split(/[,\s]+/).filter(Boolean), ...pos };
    await api(`/api/v1/registry/${kind.value}s/${encodeURIComponent(id.value.trim())}`, { method: "PUT", body });
    const reloaded = await loadRegistry(); S.reg = reloaded; S.sites = new Map(reloaded.sites.map(x => [x.id, x]));
    await render(); say(`${t("action.done")} ${kind.value} ${id.value.trim()}`);
  }));
  const box = h("div", { class: "map-box small", id: "registry-map" });
  whenShown(async () => {
    S.mapView = await siagaMap(box, { sites: reg.sites, nodes: reg.nodes, gateways: reg.gateways, incidents: [] });
    let pin = null;
    S.mapView.map.on("click", e => {
      lat.value = e.latlng.lat.toFixed(6); lon.value = e.latlng.lng.toFixed(6);
      if (pin) pin.setLatLng(e.latlng); else pin = L.marker(e.latlng, { title: t("admin.picked") }).addTo(S.mapView.map);
    });
  });
  const rows = [...reg.sites.map(s => ["site", s.id, s.name, s]), ...reg.gateways.map(g => ["gateway", g.id, g.name, g]), ...reg.nodes.map(n => ["node", n.node, n.name, n])];
  // "Ubah" loads an entry into the form: change what is needed, pick a new place, save.
  const edit = (k, ident, e) => {
    kind.value = k; sync(); id.value = ident; name.value = e.name || "";
    lat.value = Number.isFinite(e.lat) ? e.lat : ""; lon.value = Number.isFinite(e.lon) ? e.lon : "";
    if (k === "site") { desa.value = e.desa || ""; kec.value = e.kecamatan || ""; skind.value = e.kind || ""; }
    if (k !== "site" && e.site) site.value = e.site;
    if (k === "node") { gateway.value = e.gateway || ""; channels.value = (e.channels || []).join(", "); }
    form.scrollIntoView({ block: "nearest" }); name.focus();
  };
  const tbl = h("table", { id: "registry" }, h("tr", {}, ...["admin.kind", "ID", "admin.name", ""].map(k => h("th", {}, k === "ID" ? k : k ? t(k) : ""))));
  for (const [k, ident, label, entry] of rows) tbl.append(h("tr", { "data-entry": `${k}:${ident}` }, h("td", {}, t("admin.kind." + k)), h("td", {}, ident), h("td", {}, label || ""),
    h("td", { class: "row" }, h("button", { type: "button", class: "secondary", "data-act": "edit", onclick: () => edit(k, ident, entry) }, t("admin.edit")), h("button", { type: "button", class: "secondary", onclick: guard(async () => {
      if (!confirm(`${t("admin.delete")} ${ident}?`)) return;
      await api(`/api/v1/registry/${k}s/${encodeURIComponent(ident)}`, { method: "DELETE" });
      await render(); say(`${t("admin.deleted")}: ${ident}`);
    }) }, t("admin.delete")))));
  main.append(h("div", { class: "grid2" }, form, h("div", { class: "card" }, box)), h("div", { class: "card scroll-x" }, tbl));
}

async function auditTab(main) {
  const entries = await api("/api/v1/admin/audit?limit=500");
  const tbl = h("table", { id: "audit" }, h("tr", {}, ...["admin.when", "admin.who", "admin.what", "admin.target", "admin.detail"].map(k => h("th", {}, t(k)))));
  for (const e of entries) tbl.append(h("tr", {}, h("td", {}, `${fmtDay(ms(e.ts))} ${fmtTime(e.ts)}`), h("td", {}, e.actor),
    h("td", {}, e.action), h("td", {}, e.target), h("td", {}, h("code", {}, Object.keys(e.detail).length ? JSON.stringify(e.detail) : ""))));
  if (!entries.length) tbl.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, t("none"))));
  main.append(h("div", { class: "card scroll-x" }, tbl));
}
