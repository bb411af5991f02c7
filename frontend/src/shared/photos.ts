// Photos picked on a page are made small in the browser before they are sent: a phone's 14 MB, 4000×3000
// picture becomes a JPEG of at most PHOTO_MAX_SIDE px on its longest side (~1 MB), so uploads are quick on a
// weak connection and never hit the server's byte limit. The arithmetic is pure (fitWithin, needsResize,
// jpegName); the canvas step (resizePhoto) decodes with the EXIF orientation applied. A file the browser
// cannot decode (e.g. HEIC on some browsers) is passed on unchanged: the server then says what is wrong.
export const PHOTO_MAX_SIDE = 2560;
export const PHOTO_QUALITY = 0.85;
/** A JPEG already within the side limit and below this size is sent as it is (no re-encoding loss). */
export const PHOTO_KEEP_BYTES = 1_500_000;

export interface ResizeOptions {
  maxSide?: number;
  quality?: number;
  keepBelowBytes?: number;
}

export interface Size {
  width: number;
  height: number;
}

/** The size an image of width×height takes when its longest side is at most maxSide (never enlarged). */
export function fitWithin(width: number, height: number, maxSide: number = PHOTO_MAX_SIDE): Size & { scaled: boolean } {
  const w = Math.max(1, Math.round(width));
  const h = Math.max(1, Math.round(height));
  const longest = Math.max(w, h);
  if (longest <= maxSide) return { width: w, height: h, scaled: false };
  const k = maxSide / longest;
  return { width: Math.max(1, Math.round(w * k)), height: Math.max(1, Math.round(h * k)), scaled: true };
}

/** Whether a photo of this type, byte size and pixel size must be re-encoded before upload. */
export function needsResize(type: string, bytes: number, size: Size, options: ResizeOptions = {}): boolean {
  const maxSide = options.maxSide ?? PHOTO_MAX_SIDE;
  const keep = options.keepBelowBytes ?? PHOTO_KEEP_BYTES;
  if (Math.max(size.width, size.height) > maxSide) return true;
  if (type !== "image/jpeg") return true; // PNG/WebP/HEIC screenshots and photos: JPEG is smaller and accepted
  return bytes > keep;
}

/** "IMG_0001.HEIC" → "IMG_0001.jpg" (the name the re-encoded file is sent under). */
export function jpegName(name: string | undefined | null): string {
  const base = (name || "photo").replace(/\.[A-Za-z0-9]{1,5}$/, "");
  return `${base || "photo"}.jpg`;
}

/** The share of a whole job done, for one progress bar over "prepare photos" then "send them". */
export function overallProgress(prepared: number, total: number, uploaded: number, prepareShare = 0.3): number {
  if (total <= 0) return uploaded;
  const p = Math.min(1, Math.max(0, prepared / total));
  return Math.min(1, prepareShare * p + (1 - prepareShare) * Math.min(1, Math.max(0, uploaded)));
}

type Decoded = { source: CanvasImageSource; width: number; height: number; close(): void };

async function decode(file: Blob): Promise<Decoded> {
  if (typeof createImageBitmap === "function") {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    return { source: bitmap, width: bitmap.width, height: bitmap.height, close: () => bitmap.close() };
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.decoding = "async";
    img.src = url;
    await img.decode();
    return { source: img, width: img.naturalWidth, height: img.naturalHeight, close: () => undefined };
  } finally {
    URL.revokeObjectURL(url);
  }
}

function encode(canvas: HTMLCanvasElement, quality: number): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("encode failed"))), "image/jpeg", quality));
}

/** One photo ready to send: re-encoded as JPEG within maxSide, or the file itself when that is not needed or
 *  not possible in this browser. */
export async function resizePhoto(file: File, options: ResizeOptions = {}): Promise<File> {
  const maxSide = options.maxSide ?? PHOTO_MAX_SIDE;
  const quality = options.quality ?? PHOTO_QUALITY;
  let decoded: Decoded;
  try {
    decoded = await decode(file);
  } catch {
    return file; // not decodable here: the server's check explains it
  }
  try {
    const size = { width: decoded.width, height: decoded.height };
    if (!needsResize(file.type, file.size, size, options)) return file;
    const target = fitWithin(size.width, size.height, maxSide);
    const canvas = document.createElement("canvas");
    canvas.width = target.width;
    canvas.height = target.height;
    const ctx = canvas.getContext("2d");
    if (!ctx) return file;
    ctx.fillStyle = "#fff"; // transparent PNG areas become white, not black
    ctx.fillRect(0, 0, target.width, target.height);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(decoded.source, 0, 0, target.width, target.height);
    const blob = await encode(canvas, quality);
    if (blob.size >= file.size && file.type === "image/jpeg" && !target.scaled) return file;
    return new File([blob], jpegName(file.name), { type: "image/jpeg", lastModified: file.lastModified });
  } catch {
    return file;
  } finally {
    decoded.close();
  }
}

/** Every picked photo, one after another (a phone has little memory for several 12-megapixel canvases);
 *  onEach(done, total) after each. */
export async function resizePhotos(files: Iterable<File>, options: ResizeOptions = {},
                                   onEach?: (done: number, total: number) => void): Promise<File[]> {
  const list = Array.from(files);
  const out: File[] = [];
  for (const f of list) {
    out.push(await resizePhoto(f, options));
    onEach?.(out.length, list.length);
  }
  return out;
}

/** The multipart body of POST /api/v1/media and POST /api/v1/reports: every photo in the field `photos`. */
export function photoForm(files: File[], form: FormData = new FormData(), field = "photos"): FormData {
  for (const f of files) form.append(field, f, f.name);
  return form;
}
