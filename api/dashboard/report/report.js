// The public citizen report page (/lapor/): no login, Bahasa Indonesia with an English switch.
// It loads a few kilobytes; the map (Leaflet + the hub's offline PMTiles basemap) is fetched
// only when someone asks to pick the place on it, so GPS users on a slow link never pay for it.
// No inline script or event handler anywhere (the hub's Content-Security-Policy forbids them).
"use strict";
(() => {
  const TEXT = {
    id: {
      title: "Lapor bahaya", urgent: "Nyawa terancam? Telepon 112 sekarang.",
      "q.hazard": "Apa yang terjadi?", "q.where": "Di mana?", "q.text": "Ceritakan singkat apa yang Anda lihat",
      "q.contact": "Nomor HP atau email (boleh dikosongkan)", "contact.why": "Hanya untuk petugas yang memeriksa laporan Anda.",
      "hz.landslide": "Tanah longsor", "hz.flood": "Banjir", "hz.fire": "Kebakaran", "hz.crowd": "Kepadatan massa",
      gps: "Pakai lokasi saya (GPS)", pick: "Pilih di peta", send: "Kirim laporan", sending: "Mengirim…",
      "where.none": "Lokasi belum dipilih.", "where.gps": "Mencari lokasi Anda…", "where.tap": "Ketuk peta di tempat kejadian.",
      "where.set": "Lokasi: {lat}, {lon}", "where.accuracy": " (±{m} m)", "map.loading": "Memuat peta…",
      "map.failed": "Peta tidak dapat dimuat. Pakai GPS, atau coba lagi.",
      "gps.denied": "Izin lokasi ditolak. Izinkan di pengaturan browser, atau pilih di peta.",
      "gps.failed": "Lokasi tidak ditemukan. Coba lagi di tempat terbuka, atau pilih di peta.",
      "gps.none": "Perangkat ini tidak punya GPS. Pilih di peta.",
      "need.hazard": "Pilih jenis bahaya.", "need.place": "Tentukan lokasinya: GPS atau ketuk peta.", "need.text": "Tulis apa yang Anda lihat.",
      "err.429": "Terlalu banyak laporan dari perangkat atau nomor ini. Coba lagi dalam {n} menit. Dalam keadaan darurat, telepon 112.",
      "err.413": "Laporan terlalu panjang. Persingkat ceritanya lalu kirim lagi.",
      "err.422": "Ada isian yang belum benar: {what}.", "err.server": "Server sedang sibuk. Laporan belum terkirim; coba lagi sebentar lagi.",
      "err.network": "Tidak ada koneksi. Laporan belum terkirim; isian Anda tetap di sini, coba kirim lagi.",
      "f.lat": "lokasi", "f.lon": "lokasi", "f.hazard": "jenis bahaya", "f.text": "cerita (1–1000 huruf)", "f.contact": "kontak (paling banyak 200 huruf)",
      "done.title": "Terima kasih, laporan Anda diterima.",
      "done.triage": "Laporan nomor {id} menunggu pemeriksaan petugas {agency}.",
      "done.joined": "Laporan nomor {id} digabungkan dengan kejadian yang sudah ditangani petugas.",
      "done.confirmed": "Laporan nomor {id} bersama laporan warga lain di sekitar Anda membuka penanganan oleh petugas.",
      "done.place": "Tempat: {place}", again: "Kirim laporan lain",
    },
    en: {
      title: "Report a hazard", urgent: "Lives in danger? Call 112 now.",
      "q.hazard": "What is happening?", "q.where": "Where?", "q.text": "Tell briefly what you see",
      "q.contact": "Phone or email (optional)", "contact.why": "Only for the officers who check your report.",
      "hz.landslide": "Landslide", "hz.flood": "Flood", "hz.fire": "Fire", "hz.crowd": "Dangerous crowd",
      gps: "Use my location (GPS)", pick: "Pick on the map", send: "Send report", sending: "Sending…",
      "where.none": "No place chosen yet.", "where.gps": "Finding your location…", "where.tap": "Tap the map where it is happening.",
      "where.set": "Place: {lat}, {lon}", "where.accuracy": " (±{m} m)", "map.loading": "Loading the map…",
      "map.failed": "The map could not be loaded. Use GPS, or try again.",
      "gps.denied": "Location permission denied. Allow it in the browser settings, or pick on the map.",
      "gps.failed": "Location not found. Try again in the open, or pick on the map.",
      "gps.none": "This device has no GPS. Pick on the map.",
      "need.hazard": "Choose the kind of hazard.", "need.place": "Give the place: GPS or tap the map.", "need.text": "Write what you see.",
      "err.429": "Too many reports from this device or number. Try again in {n} minutes. In an emergency, call 112.",
      "err.413": "The report is too long. Shorten it and send again.",
      "err.422": "Something is not filled in right: {what}.", "err.server": "The server is busy. Not sent yet; try again in a moment.",
      "err.network": "No connection. Not sent yet; what you wrote is kept here, try sending again.",
      "f.lat": "place", "f.lon": "place", "f.hazard": "kind of hazard", "f.text": "text (1–1000 characters)", "f.contact": "contact (at most 200 characters)",
      "done.title": "Thank you, your report was received.",
      "done.triage": "Report number {id} is waiting for an officer of {agency} to check it.",
      "done.joined": "Report number {id} was added to an incident officers are already handling.",
      "done.confirmed": "Report number {id}, with other reports near you, has started a response by officers.",
      "done.place": "Place: {place}", again: "Send another report",
    },
  };
  let lang = localStorage.getItem("siaga.lang") === "en" ? "en" : "id";
  const $ = id => document.getElementById(id);
  const t = (key, vars) => (TEXT[lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => String((vars || {})[k] ?? ""));
  const form = $("report"), msg = $("msg"), where = $("where");
  const state = { lat: null, lon: null, map: null, marker: null, cfg: null, whereKey: "where.none", whereVars: null };

  function applyLang() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    const other = lang === "id" ? "en" : "id";
    $("lang").textContent = other.toUpperCase();
    $("lang").setAttribute("lang", other);
    $("lang").setAttribute("aria-label", other === "en" ? "English" : "Bahasa Indonesia");
    showWhere(state.whereKey, state.whereVars);
  }
  function showWhere(key, vars) { state.whereKey = key; state.whereVars = vars; where.textContent = t(key, vars); }
  function setPlace(lat, lon, accuracy) {
    state.lat = Math.round(lat * 1e6) / 1e6; state.lon = Math.round(lon * 1e6) / 1e6;
    const vars = { lat: state.lat.toFixed(5), lon: state.lon.toFixed(5) };
    showWhere("where.set", vars);
    if (accuracy) where.textContent += t("where.accuracy", { m: Math.round(accuracy) });
    if (state.map) {
      const at = [state.lat, state.lon];
      if (state.marker) state.marker.setLatLng(at);
      else state.marker = window.L.marker(at, { icon: window.L.divIcon({ className: "pin", iconSize: [24, 24] }), keyboard: false }).addTo(state.map);
    }
    if (msg.dataset.key === "need.place") say("");
  }
  function say(key, vars) { msg.dataset.key = key; msg.textContent = key ? t(key, vars) : ""; }

  async function config() {
    if (!state.cfg) state.cfg = await fetch("config.json").then(r => r.json());
    return state.cfg;
  }
  function load(tag, attrs) {
    return new Promise((resolve, reject) => {
      const el = document.createElement(tag);
      Object.assign(el, attrs);
      el.onload = resolve; el.onerror = reject;
      document.head.append(el);
    });
  }
  // The map's code comes from the hub only when asked for (hashed file names, cached forever).
  async function openMap() {
    const box = $("map");
    if (state.map) { box.scrollIntoView({ block: "center" }); return; }
    box.hidden = false;
    showWhere("map.loading");
    try {
      const cfg = await config();
      await Promise.all([load("script", { src: box.dataset.js }), load("link", { rel: "stylesheet", href: box.dataset.css })]);
      const V = window.SiagaReportMap, L = V.L;
      const map = L.map(box, { zoomControl: true, attributionControl: true, tap: true });
      if (cfg.basemap_url) {
        const archive = new V.PMTiles(new URL(cfg.basemap_url, location.href).href);
        const head = await archive.getHeader();
        if (head.tileType === V.TileType.Mvt) {
          await load("script", { src: box.dataset.vector });
          window.SiagaReportVector.leafletLayer({ url: archive, flavor: "light", lang: lang, maxDataZoom: head.maxZoom, attribution: cfg.attribution || "" }).addTo(map);
        } else {
          V.leafletRasterLayer(archive, { attribution: cfg.attribution || "", maxNativeZoom: head.maxZoom, maxZoom: 19 }).addTo(map);
        }
        box.dataset.basemap = head.tileType === V.TileType.Mvt ? "vector" : "raster";
      }
      const a = cfg.area;
      if (state.lat !== null) map.setView([state.lat, state.lon], 16);
      else if (a) map.fitBounds([[a[0], a[1]], [a[2], a[3]]]);
      else map.setView([-2.5, 118], 5);
      map.on("click", ev => setPlace(ev.latlng.lat, ev.latlng.lng));
      state.map = map;
      if (state.lat !== null) setPlace(state.lat, state.lon); else showWhere("where.tap");
      box.dataset.ready = "1";
    } catch {
      box.hidden = true; showWhere("map.failed");
    }
  }
  function locate() {
    if (!navigator.geolocation) { say("gps.none"); return; }
    showWhere("where.gps");
    navigator.geolocation.getCurrentPosition(
      pos => { setPlace(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy); if (state.map) state.map.setView([state.lat, state.lon], 16); },
      err => { showWhere("where.none"); say(err.code === 1 ? "gps.denied" : "gps.failed"); },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

  function problem(status, body, retryAfter) {
    if (status === 429) return ["err.429", { n: Math.max(1, Math.ceil(Number(retryAfter || 60) / 60)) }];
    if (status === 413) return ["err.413"];
    if (status === 422) {
      const fields = new Set(((body && body.errors) || []).map(e => String((e.loc || e.field || []).slice(-1)[0] ?? e.field ?? "")));
      const what = [...fields].map(f => TEXT[lang]["f." + f]).filter(Boolean);
      return ["err.422", { what: [...new Set(what)].join(", ") || (body && body.detail) || "?" }];
    }
    return ["err.server"];
  }
  async function send(ev) {
    ev.preventDefault();
    const data = new FormData(form);
    const hazard = data.get("hazard"), text = String(data.get("text") || "").trim(), contact = String(data.get("contact") || "").trim();
    if (!hazard) return say("need.hazard");
    if (state.lat === null) return say("need.place");
    if (!text) { $("text").focus(); return say("need.text"); }
    const button = $("send");
    button.disabled = true; button.textContent = t("sending"); say("");
    try {
      const body = { hazard, lat: state.lat, lon: state.lon, text };
      if (contact) body.contact = contact;
      const r = await fetch("/api/v1/reports", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
      const answer = await r.json().catch(() => null);
      if (!r.ok) { const [key, vars] = problem(r.status, answer, r.headers.get("Retry-After")); say(key, vars); return; }
      done(answer);
    } catch {
      say("err.network");
    } finally {
      button.disabled = false; button.textContent = t("send");
    }
  }
  function done(answer) {
    const agencies = (state.cfg && state.cfg.agencies) || {};
    const key = { joined: "done.joined", confirmed: "done.confirmed" }[answer.status] || "done.triage";
    const agency = ((answer.agencies || []).map(a => agencies[a] || a)).join(", ") || "BPBD";
    $("done-text").textContent = t(key, { id: answer.report_id, agency });
    const place = answer.place ? (lang === "en" ? answer.place.name_en : answer.place.name) : "";
    $("done-place").textContent = place ? t("done.place", { place }) : "";
    $("done").dataset.status = answer.status;
    form.hidden = true; $("done").hidden = false; $("done").focus();
  }
  function again() {
    $("text").value = ""; $("count").textContent = "0/1000";
    $("done").hidden = true; form.hidden = false; say("");
  }

  $("lang").addEventListener("click", () => { lang = lang === "id" ? "en" : "id"; localStorage.setItem("siaga.lang", lang); applyLang(); });
  $("gps").addEventListener("click", locate);
  $("pick").addEventListener("click", openMap);
  $("text").addEventListener("input", () => { $("count").textContent = `${$("text").value.length}/1000`; });
  $("again").addEventListener("click", again);
  form.addEventListener("submit", send);
  config().catch(() => null);
  applyLang();
})();
