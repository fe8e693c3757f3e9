// A fingerprint of the data a run trains and is evaluated on, stored in every checkpoint so that a
// run is never resumed on another dataset (or the same one with other questions). It hashes the
// class names and, per image, split, path, size, question and answer: everything the trainer
// reads except the pixels, which would mean hashing every image file for each resume.
import type { CountingDataset } from '../dataset/types.ts';

/** Hex SHA-256 of the dataset's canonical description (WebCrypto: browsers, workers, Node ≥ 20). */
export async function datasetFingerprint(dataset: Pick<CountingDataset, 'classes' | 'images'>): Promise<string> {
  const canonical = JSON.stringify({
    classes: dataset.classes.map((datasetClass) => datasetClass.name),
    images: dataset.images.map((image) => [image.split, image.path, image.width, image.height, image.question, image.answer]),
  });
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
