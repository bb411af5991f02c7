// The category taxonomy for the phone pages: GET /api/v1/categories (anyone), the leaf categories (小类) only,
// kept in localStorage so the form works offline; a search by name or code.
import type { Api } from "../api";

export interface Category { code: string; name: string; level?: string; parent?: string | null }

const KEY = "yunguan.categories";

export async function loadCategories(api: Api, storage: Pick<Storage, "getItem" | "setItem"> = localStorage): Promise<Category[]> {
  try {
    const all = await api.get<Category[]>("/categories");
    const leaves = all.filter((c) => c.level === "subclass").map(({ code, name, parent }) => ({ code, name, parent }));
    try {
      storage.setItem(KEY, JSON.stringify(leaves));
    } catch {
      /* a convenience */
    }
    return leaves;
  } catch (err) {
    try {
      const kept = JSON.parse(storage.getItem(KEY) || "null");
      if (Array.isArray(kept) && kept.length) return kept as Category[];
    } catch {
      /* nothing kept */
    }
    throw err;
  }
}

/** Categories whose name contains every typed word, or whose code starts with the text; names first. */
export function searchCategories(list: Category[], text: string, limit = 8): Category[] {
  const q = text.trim();
  if (!q) return list.slice(0, limit);
  const words = q.split(/\s+/);
  const byName = list.filter((c) => words.every((w) => c.name.includes(w)));
  const byCode = list.filter((c) => c.code.startsWith(q) && !byName.includes(c));
  return [...byName, ...byCode].slice(0, limit);
}
