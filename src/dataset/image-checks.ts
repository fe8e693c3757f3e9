// Checking that every listed image is in the upload and readable, dropping the ones that are not
// (each is a warning; a split left with no images becomes an error later).

import type { DatasetImage, DatasetIssue, LoadProgress } from './types.ts';
import type { Upload, UploadFile } from './upload.ts';
import { decodeImage, looksComplete, readImageSize } from './decode-image.ts';

/** Images read per batch: bounds memory on large uploads while keeping zip passes few. */
const IMAGE_BATCH = 256;

export async function checkImageFiles(
  pending: { image: DatasetImage; file: UploadFile | undefined; jsonPath: string }[],
  upload: Upload,
  mode: 'header' | 'decode',
  issues: DatasetIssue[],
  progress: (progress: LoadProgress) => void,
): Promise<DatasetImage[]> {
  const warn = (code: string, jsonPath: string, image: DatasetImage, message: string) =>
    issues.push({ severity: 'warning', code, file: image.path, split: image.split, message: `${jsonPath}: ${message}` });

  const present: DatasetImage[] = [];
  for (let start = 0; start < pending.length; start += IMAGE_BATCH) {
    progress({ stage: 'checking images', done: start, total: pending.length });
    const batch = pending.slice(start, start + IMAGE_BATCH);
    const bytesByPath = await upload.read(batch.flatMap(({ file }) => (file ? [file.sourcePath] : [])));
    for (const { image, file, jsonPath } of batch) {
      const bytes = file ? bytesByPath.get(file.sourcePath) : undefined;
      if (!bytes) {
        warn('missing-image', jsonPath, image, `image "${image.fileName}" is listed but not in the upload; it is left out. Add the file or remove its entry.`);
        continue;
      }
      const problem = imageProblem(bytes, image.fileName, mode);
      if (typeof problem === 'string') {
        warn('undecodable-image', jsonPath, image, `image "${image.fileName}" cannot be read: ${problem} It is left out.`);
        continue;
      }
      if (problem.width !== image.width || problem.height !== image.height) {
        warn(
          'image-size-mismatch',
          jsonPath,
          image,
          `image "${image.fileName}" is ${problem.width}×${problem.height} but listed as ${image.width}×${image.height}; its boxes may be misplaced (counts are unaffected).`,
        );
      }
      present.push(image);
    }
  }
  progress({ stage: 'checking images', done: pending.length, total: pending.length });
  return present;
}

/** The image's real size, or why it cannot be used. */
function imageProblem(bytes: Uint8Array, fileName: string, mode: 'header' | 'decode'): { width: number; height: number } | string {
  if (mode === 'decode') {
    try {
      const { width, height } = decodeImage(bytes, fileName);
      return { width, height };
    } catch (cause) {
      return `${cause instanceof Error ? cause.message : String(cause)}`;
    }
  }
  const header = readImageSize(bytes);
  if (!header) return 'not a PNG or JPEG file, or its header is damaged.';
  if (!looksComplete(bytes, header.format)) return `the ${header.format.toUpperCase()} file is truncated.`;
  return { width: header.width, height: header.height };
}
