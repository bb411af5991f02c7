import { describe, expect, it } from "vitest";
import { fitWithin, jpegName, needsResize, overallProgress, photoForm, PHOTO_MAX_SIDE } from "./photos";

describe("photo sizes", () => {
  it("fits the longest side within the limit, keeping the shape", () => {
    expect(fitWithin(4000, 3000)).toEqual({ width: 2560, height: 1920, scaled: true });
    expect(fitWithin(3000, 4000)).toEqual({ width: 1920, height: 2560, scaled: true });
    expect(fitWithin(8192, 1000, 2560)).toEqual({ width: 2560, height: 313, scaled: true });
    expect(fitWithin(100000, 1)).toMatchObject({ width: PHOTO_MAX_SIDE, height: 1 });
  });
  it("never enlarges", () => {
    expect(fitWithin(1280, 960)).toEqual({ width: 1280, height: 960, scaled: false });
    expect(fitWithin(2560, 2560)).toEqual({ width: 2560, height: 2560, scaled: false });
  });
  it("re-encodes what is large, heavy or not JPEG", () => {
    expect(needsResize("image/jpeg", 14_000_000, { width: 4000, height: 3000 })).toBe(true);
    expect(needsResize("image/jpeg", 3_000_000, { width: 2000, height: 1500 })).toBe(true);
    expect(needsResize("image/png", 100_000, { width: 800, height: 600 })).toBe(true);
    expect(needsResize("image/jpeg", 400_000, { width: 2000, height: 1500 })).toBe(false);
  });
  it("names the result .jpg", () => {
    expect(jpegName("IMG_0001.HEIC")).toBe("IMG_0001.jpg");
    expect(jpegName("现场.png")).toBe("现场.jpg");
    expect(jpegName("")).toBe("photo.jpg");
    expect(jpegName("no-ext")).toBe("no-ext.jpg");
  });
  it("adds preparing and sending into one progress", () => {
    expect(overallProgress(0, 2, 0)).toBe(0);
    expect(overallProgress(2, 2, 0)).toBeCloseTo(0.3);
    expect(overallProgress(2, 2, 0.5)).toBeCloseTo(0.65);
    expect(overallProgress(2, 2, 1)).toBe(1);
  });
  it("puts every photo in the field photos", () => {
    const a = new File(["a"], "a.jpg", { type: "image/jpeg" });
    const b = new File(["b"], "b.jpg", { type: "image/jpeg" });
    expect(photoForm([a, b]).getAll("photos")).toHaveLength(2);
  });
});
