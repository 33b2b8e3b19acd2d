// Builds the dashboard into build/ (git-ignored; deploy/setup.sh runs it):
//   build/assets/<name>-<hash>.<ext>  every script, style and image, named by content hash so
//                                     the hub can serve them with an immutable cache header;
//   build/index.html                  the page, pointing at those names (served no-cache);
//   build/manifest.json               logical name -> hashed path, read by the hub (/docs);
//   build/assets/*.{js,css}.gz        gzip copies the hub serves to clients that accept them.
// Third-party code comes only from node_modules (package-lock.json pins it): nothing is fetched
// from the internet when the page runs.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "build");
const assets = join(out, "assets");
const manifest = {};

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

function record(meta) {
  for (const [file, info] of Object.entries(meta.outputs)) {
    if (!info.entryPoint) continue;
    const rel = file.slice(file.indexOf("assets/"));
    manifest[basename(info.entryPoint)] = rel;
  }
}

// Third-party code: bundled and minified; Leaflet's CSS images become hashed files too.
record((await esbuild.build({
  entryPoints: [join(here, "src/vendor.js"), join(here, "src/vendor.css")],
  bundle: true, minify: true, sourcemap: false, target: ["es2020"],
  outdir: out, entryNames: "assets/[name]-[hash]", assetNames: "assets/[name]-[hash]",
  loader: { ".png": "file", ".svg": "file" }, metafile: true, logLevel: "warning",
})).metafile);

// The dashboard's own scripts stay classic scripts sharing one global scope (not bundled), so
// each is only hashed and whitespace-minified.
const own = readdirSync(join(here, "static")).filter(f => /\.(js|css)$/.test(f)).map(f => join(here, "static", f));
record((await esbuild.build({
  entryPoints: own, bundle: false, minifyWhitespace: true, target: ["es2020"],
  outdir: out, entryNames: "assets/[name]-[hash]", metafile: true, logLevel: "warning",
})).metafile);

// The public report page (/lapor/): its own small script and style, and the map it loads only
// on demand (Leaflet + PMTiles; protomaps-leaflet only for a vector basemap), kept apart from
// the dashboard's bundle so a phone on a slow link loads a few kilobytes.
record((await esbuild.build({
  entryPoints: [join(here, "src/report-map.js"), join(here, "src/report-map.css"), join(here, "src/report-vector.js")],
  bundle: true, minify: true, sourcemap: false, target: ["es2020"],
  outdir: out, entryNames: "assets/[name]-[hash]", assetNames: "assets/[name]-[hash]",
  loader: { ".png": "file", ".svg": "file" }, metafile: true, logLevel: "warning",
})).metafile);
record((await esbuild.build({
  entryPoints: [join(here, "report/report.js"), join(here, "report/report.css")],
  bundle: false, minify: true, target: ["es2020"],
  outdir: out, entryNames: "assets/[name]-[hash]", metafile: true, logLevel: "warning",
})).metafile);

// Swagger UI for /docs: copied as published, renamed by hash.
for (const f of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  const src = join(here, "node_modules/swagger-ui-dist", f);
  const hash = createHash("sha256").update(readFileSync(src)).digest("hex").slice(0, 10);
  const name = `assets/${basename(f, extname(f))}-${hash}${extname(f)}`;
  copyFileSync(src, join(out, name));
  manifest[f] = name;
}

// A gzip copy of every text asset, served to clients that accept it (api/routes/dashboard.py).
for (const rel of Object.values(manifest)) {
  if (/\.(js|css)$/.test(rel)) writeFileSync(join(out, rel + ".gz"), gzipSync(readFileSync(join(out, rel)), { level: 9 }));
}

// A page's references to the logical names become the hashed paths (prefix: where the page
// is served from, relative to /dashboard/).
function page(source, target, prefix) {
  const html = readFileSync(join(here, source), "utf8").replace(/(src|href|data-\w+)="([\w.-]+\.(?:js|css))"/g, (whole, attr, name) => {
    if (!manifest[name]) throw new Error(`${source} names ${name}, which the build did not produce`);
    return `${attr}="${prefix}${manifest[name]}"`;
  });
  writeFileSync(join(out, target), html);
}
page("static/index.html", "index.html", "");
page("report/index.html", "report.html", "/dashboard/");
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`dashboard built: ${Object.keys(manifest).length} assets in ${out}`);
