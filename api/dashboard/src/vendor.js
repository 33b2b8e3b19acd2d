// Third-party browser code the dashboard uses, bundled into one file and exposed as globals
// for the page's own scripts (which are plain scripts, not modules).
import L from "leaflet";
import { PMTiles, TileType, leafletRasterLayer } from "pmtiles";
import { leafletLayer as protomapsLayer } from "protomaps-leaflet";
import uPlot from "uplot";

window.L = L;  // protomaps-leaflet extends L.GridLayer from the global when a layer is made
window.SiagaVendor = { L, PMTiles, TileType, leafletRasterLayer, protomapsLayer, uPlot };
