// Street (街道) outlines under the ticket's point when no base map is configured: the districts alone are too
// large to show anything around a point at street zoom. Fetched once per page (every ticket's map reuses it).
import type { Api } from "@/shared/api";
import { L } from "@/shared/map";

let streets: Promise<unknown | null> | null = null;

/** The streets' outlines, the ticket's own (`own`, a street code) drawn stronger. */
export function addStreets(map: L.Map, api: Api, own?: string | null): Promise<L.GeoJSON | null> {
  streets ??= api.get("/areas", { level: "street", simplify_m: 20 }).catch(() => {
    streets = null; // try again with the next map
    return null;
  });
  return streets.then((data) => {
    if (!data) return null;
    return L.geoJSON(data as never, {
      interactive: false,
      style: (f) => (own && f?.properties?.code === own
        ? { color: "#1f5fa8", weight: 2.5, fill: true, fillColor: "#1f5fa8", fillOpacity: 0.06 }
        : { color: "#7f93ad", weight: 1, dashArray: "4 3", fill: false }),
    }).addTo(map);
  });
}
