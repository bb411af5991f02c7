// Maps on every page: Leaflet with the configured base map (settings.tile_url), or, with none configured (the
// default: no third-party tiles), a light background with the district polygons and their names, so the map
// reads as a map rather than dark shapes. Coordinates are WGS-84 throughout (the API's convention).
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import iconUrl from "leaflet/dist/images/marker-icon.png";
import iconRetinaUrl from "leaflet/dist/images/marker-icon-2x.png";
import shadowUrl from "leaflet/dist/images/marker-shadow.png";
import type { BootSettings } from "./boot";
import type { Api } from "./api";

// Leaflet finds its marker images by a CSS trick that bundling breaks; give it the bundled files.
L.Icon.Default.mergeOptions({ iconUrl, iconRetinaUrl, shadowUrl });
delete (L.Icon.Default.prototype as unknown as { _getIconUrl?: unknown })._getIconUrl;

export const CITY_CENTRE: [number, number] = [43.8171, 125.3235]; // Changchun (demo data)

export function makeMap(el: HTMLElement, settings: BootSettings, options: L.MapOptions = {}): L.Map {
  const map = L.map(el, { zoomControl: true, attributionControl: true, preferCanvas: true, ...options });
  map.setView(CITY_CENTRE, 11);
  if (settings.tile_url) {
    L.tileLayer(settings.tile_url, { attribution: settings.tile_attribution || "", maxZoom: 19 }).addTo(map);
  } else {
    el.classList.add("map-no-tiles");
  }
  return map;
}

type FeatureCollection = { type: "FeatureCollection"; features: Array<{ properties: Record<string, unknown> }> };

/** District outlines with their names (staff pages: the areas API needs a staff token). */
export async function addDistricts(map: L.Map, api: Api, fit = true): Promise<L.GeoJSON | null> {
  let data: FeatureCollection;
  try {
    data = await api.get<FeatureCollection>("/areas", { level: "district", simplify_m: 30 });
  } catch {
    return null; // the map still works without outlines
  }
  const layer = L.geoJSON(data as never, {
    style: () => ({ color: "#5b7aa8", weight: 1.2, fillColor: "#dfe8f5", fillOpacity: 0.35 }),
    onEachFeature: (feature, l) => {
      const name = String((feature.properties as Record<string, unknown>)?.name ?? "");
      // A text node, not a string: Leaflet puts string content in as HTML, and area names are loaded data.
      if (name) l.bindTooltip(document.createTextNode(name) as unknown as HTMLElement,
        { permanent: true, direction: "center", className: "district-label" });
    },
  }).addTo(map);
  if (fit && data.features.length) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
  return layer;
}

export { L };
