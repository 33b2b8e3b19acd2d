// The triage queue: citizen reports waiting for a duty officer of the viewer's agency. A report
// opens no incident (and starts no clock) until someone verifies it here; rejecting needs a
// reason. The API decides who may (staff of another agency get 404, viewers 403).
"use strict";
async function loadTriage() {
  S.triage = await api("/api/v1/reports/triage");
  const badge = $("#triage-count");
  if (badge) { badge.textContent = String(S.triage.length); badge.hidden = !S.triage.length; }
  return S.triage;
}
const placeName = p => (p && ((LANG === "en" && p.name_en) || p.name)) || "";
async function reportsView(main) {
  await loadTriage();
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("reports.title"), ` (${S.triage.length})`)));
  if (!S.triage.length) { main.append(h("p", { class: "empty" }, t("reports.empty"))); return; }
  const canAct = S.me && ["responder", "admin"].includes(S.me.role);
  const list = h("div", { class: "board", id: "triage" });
  for (const r of S.triage) {
    const msg = h("p", { class: "msg", role: "status" });
    const reason = h("input", { name: "reason", maxlength: "500", "aria-label": t("reports.reason"), placeholder: t("reports.reason") });
    const decide = async what => {
      if (what === "reject" && !reason.value.trim()) { msg.textContent = t("reports.needreason"); reason.focus(); return; }
      try {
        const out = await api(`/api/v1/reports/${encodeURIComponent(r.id)}/${what}`,
          { method: "POST", body: what === "reject" ? { reason: reason.value.trim() } : {} });
        if (what === "verify" && out.incident_id) { await loadIncidents(); location.hash = `#/incident/${out.incident_id}`; return; }
        msg.textContent = t("reports.rejected");
        await loadTriage(); render();
      } catch (e) { msg.textContent = `${t("error.generic")}: ${e.message}`; }
    };
    list.append(h("article", { class: "card report-card", "data-id": r.id },
      h("div", {}, h("strong", {}, hz(r.hazard)), " · ", placeName(r.place)),
      h("q", { class: "report-text" }, r.text),
      h("div", { class: "meta" },
        h("span", {}, `${t("reports.received")} ${fmtTime(r.received_at, true)} ${tzLabel()}`),
        r.contact ? h("span", {}, `${t("reports.contact")}: ${r.contact}`) : null,
        h("span", {}, `${t("reports.for")}: ${(r.agencies || []).join(" + ")}`)),
      canAct ? h("div", { class: "decide" },
        h("button", { type: "button", class: "verify", onclick: () => decide("verify") }, t("reports.verify")),
        reason,
        h("button", { type: "button", class: "secondary reject", onclick: () => decide("reject") }, t("reports.reject"))) : null,
      msg));
  }
  main.append(list);
}
