// What the tools fetch once per page: the taxonomy (it changes with a deploy, not during a shift).
import type { Api } from "@/shared/api";
import type { Category } from "./logic";

let categories: Promise<Category[]> | null = null;

export function categoriesOnce(api: Api): Promise<Category[]> {
  if (!categories) {
    categories = api.get<Category[]>("/categories");
    categories.catch(() => (categories = null)); // a failed fetch is tried again next time
  }
  return categories;
}

/** Tests start from an empty cache. */
export function forgetCategories(): void {
  categories = null;
}

interface RouteAnswer { area: import("./logic").Area; assignee: { code: string; name: string } | null }

/** Where a point lies and which unit routing would give it (GET /route): shown when a point is clicked. */
export async function routeOf(api: Api, lon: number, lat: number, category?: string | null): Promise<RouteAnswer | null> {
  try {
    return await api.get<RouteAnswer>("/route", { lon: lon.toFixed(6), lat: lat.toFixed(6), category: category || undefined });
  } catch {
    return null; // a hint only
  }
}
