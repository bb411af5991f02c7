// What the server hands every page at load (web/assets.py renders it into <script id="yunguan-boot">): who is
// logged in, their API token, the vocabulary (dispatch/vocabulary.py) and the settings a page needs. Pages
// read it once; nothing here is fetched.
import type { VocabularyDocument } from "./vocabulary";

export interface BootUser {
  username: string;
  role: string;
  unit: string | null;
  unit_name?: string | null;
}

export interface BootSettings {
  timezone: string; // the city's IANA time zone: every time on every page is shown in it
  tile_url: string; // optional base map ({z}/{x}/{y}); empty: district polygons only
  tile_attribution: string;
  lang: string; // the language the server chose (cookie yunguan_lang, else zh-CN)
  max_upload_bytes?: number;
}

export interface Boot {
  page: string;
  user: BootUser | null;
  token: string | null;
  csrf: string | null;
  settings: BootSettings;
  vocabulary: VocabularyDocument;
  extra?: Record<string, unknown>;
}

let cached: Boot | null = null;

export function readBoot(doc: Document = document): Boot {
  if (cached) return cached;
  const el = doc.getElementById("yunguan-boot");
  if (!el || !el.textContent) throw new Error("page has no boot document");
  cached = JSON.parse(el.textContent) as Boot;
  return cached;
}

/** Tests set the boot document directly. */
export function setBoot(boot: Boot | null): void {
  cached = boot;
}
