// Paths and loaders for the moondream-tiny fixture copied into test/fixtures (see its README).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode } from 'fast-png';
import { SafetensorsFile } from '../../src/model/safetensors.ts';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/moondream-tiny/', import.meta.url));

export function fixturePath(name: string): string {
  return FIXTURE_DIR + name;
}

export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(name)));
}

export function fixtureJson(name: string): unknown {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8'));
}

let golden: SafetensorsFile | undefined;
export function goldenFile(): SafetensorsFile {
  golden ??= new SafetensorsFile(fixtureBytes('golden.safetensors'));
  return golden;
}

export function weightsFile(name = 'model.safetensors'): SafetensorsFile {
  return new SafetensorsFile(fixtureBytes(name));
}

/** The fixture image as RGB8 [100, 150, 3]. */
export function fixtureImage(): { width: number; height: number; pixels: Uint8Array } {
  const png = decode(fixtureBytes('image.png'));
  if (png.channels !== 3 || png.depth !== 8) throw new Error(`image.png: expected RGB8, got ${png.channels} channels at ${png.depth} bits`);
  return { width: png.width, height: png.height, pixels: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
}
