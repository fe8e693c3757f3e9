// An 8-bit RGB image, row-major [height, width, 3]: the form every preprocessing step takes
// (spec §4.2: images are converted to 3-channel RGB before anything else).

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** height·width·3 bytes, R G B per pixel, rows top to bottom. */
  readonly data: Uint8Array;
}

export function rgbImage(width: number, height: number, data: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`Image size ${width}×${height} is not a positive whole number of pixels.`);
  }
  if (data.byteLength !== width * height * 3) {
    throw new Error(`An RGB image of ${width}×${height} needs ${width * height * 3} bytes, got ${data.byteLength}.`);
  }
  return { width, height, data };
}

/**
 * Decoded pixels with 1–4 channels → RGB, as PIL's convert("RGB"): grey is replicated, an alpha
 * channel is dropped without compositing (spec §4.2). 16-bit samples keep their high byte.
 */
export function toRgb(width: number, height: number, channels: number, samples: ArrayLike<number>, bitDepth = 8): RgbImage {
  if (channels < 1 || channels > 4) throw new Error(`Images with ${channels} channels are not supported; use grey, grey+alpha, RGB or RGBA.`);
  const pixels = width * height;
  if (samples.length !== pixels * channels) throw new Error(`Expected ${pixels * channels} samples for ${width}×${height}×${channels}, got ${samples.length}.`);
  const shift = bitDepth > 8 ? bitDepth - 8 : 0;
  const out = new Uint8Array(pixels * 3);
  const colour = channels >= 3;
  for (let p = 0; p < pixels; p++) {
    const base = p * channels;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = samples[base + (colour ? c : 0)] >> shift;
  }
  return rgbImage(width, height, out);
}

/** The window [y0, y0+height) × [x0, x0+width) of an image; it must lie inside the image. */
export function cropRgb(image: RgbImage, y0: number, x0: number, height: number, width: number): RgbImage {
  if (y0 < 0 || x0 < 0 || y0 + height > image.height || x0 + width > image.width) {
    throw new Error(`Crop ${height}×${width} at (${y0}, ${x0}) does not fit a ${image.height}×${image.width} image.`);
  }
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * image.width + x0) * 3;
    out.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}
