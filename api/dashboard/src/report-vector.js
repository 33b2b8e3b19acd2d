// Vector basemaps for the report page's map (loaded after report-map.js, only for a vector
// PMTiles archive): protomaps-leaflet draws the tiles in the browser.
import { leafletLayer } from "protomaps-leaflet";

window.SiagaReportVector = { leafletLayer };
