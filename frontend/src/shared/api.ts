// The JSON API (contract §4) from the pages: bearer token from the boot document, errors as ApiError with the
// server's code (translated by the pages: errors.<code>), uploads with progress. A network failure is an
// ApiError with code "network" and status 0, so callers can tell "the server said no" from "no connection".
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string,
              readonly fields: Record<string, string> = {}, readonly body: unknown = null) {
    super(message);
  }
  get offline(): boolean {
    return this.status === 0;
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: a proxy's page */
  }
  const e = (body as { error?: { code?: string; message?: string; fields?: Record<string, string> } })?.error;
  const code = e?.code || (response.status === 429 ? "too_many_requests" : `http_${response.status}`);
  return new ApiError(response.status, code, e?.message || response.statusText, e?.fields || {}, body);
}

export class Api {
  constructor(private token: string | null, private readonly base = "/api/v1",
              private readonly onUnauthenticated?: () => void) {}

  setToken(token: string | null): void {
    this.token = token;
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { Accept: "application/json" };
    if (json) h["Content-Type"] = "application/json";
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    let response: Response;
    try {
      response = await fetch(withQuery(this.base + path, query), {
        method, headers: this.headers(body !== undefined), credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", String(err));
    }
    if (!response.ok) {
      const err = await errorFrom(response);
      if (response.status === 401 && this.onUnauthenticated) this.onUnauthenticated();
      throw err;
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** multipart/form-data with upload progress (0..1), which fetch cannot report. */
  upload<T>(path: string, form: FormData, onProgress?: (share: number) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.base + path);
      xhr.setRequestHeader("Accept", "application/json");
      if (this.token) xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError(0, "network", "network error"));
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        if (xhr.status >= 200 && xhr.status < 300) return resolve(body as T);
        const e = (body as { error?: { code?: string; message?: string; fields?: Record<string, string> } })?.error;
        if (xhr.status === 401 && this.onUnauthenticated) this.onUnauthenticated();
        reject(new ApiError(xhr.status, e?.code || `http_${xhr.status}`, e?.message || xhr.statusText, e?.fields || {}, body));
      };
      xhr.send(form);
    });
  }
}

/** A sentence for a person: the code's translation, then which fields (translated where known). */
export function explain(err: unknown, t: (key: string, named?: Record<string, unknown>) => string,
                        te: (key: string) => boolean): string {
  if (!(err instanceof ApiError)) return t("errors.unknown", { code: String(err) });
  const head = te(`errors.${err.code}`) ? t(`errors.${err.code}`) : t("errors.unknown", { code: err.code });
  const names = Object.keys(err.fields || {}).map((f) => (te(`fields.${f}`) ? t(`fields.${f}`) : f));
  return names.length ? `${head}：${names.join("、")}` : head;
}
