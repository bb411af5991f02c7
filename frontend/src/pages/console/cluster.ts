// Leaflet.markercluster is a UMD script that extends the global `L`: Leaflet is imported (it sets window.L)
// before the plugin, in this order.
import L from "leaflet";
import "leaflet.markercluster";
import "leaflet.markercluster/dist/MarkerCluster.css";

export { L };
