// The public report page's map (loaded only when a citizen asks to pick the place on it):
// Leaflet and the PMTiles reader for the hub's offline basemap, exposed as one global.
import L from "leaflet";
import { PMTiles, TileType, leafletRasterLayer } from "pmtiles";

window.L = L;  // protomaps-leaflet (report-vector.js, vector basemaps only) extends the global
window.SiagaReportMap = { L, PMTiles, TileType, leafletRasterLayer };
