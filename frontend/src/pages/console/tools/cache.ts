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
