// The dataset half's entry point: an upload (Roboflow COCO zip, folder, or one COCO json with its
// images) → a CountingDataset of counting questions with exact answers, statistics and every
// problem found. Never throws for bad input: problems are DatasetIssue entries. Runs in a browser
// worker and in Node (no DOM, no Node built-ins).

import type { CountingDataset, DatasetImage, DatasetIssue, DatasetSource, LoadOptions, SplitName } from './types.ts';
import { openUpload, UploadError, type Upload, type UploadFile } from './upload.ts';
import { findAnnotationFiles, indexFiles, resolveImageFile } from './layout.ts';
import { parseCocoFile, type CocoAnnotation, type CocoFile, type CocoImage } from './coco-file.ts';
import { buildQuestion, formatAnswer, resolveQuestionTemplate } from './question.ts';
import { datasetStats } from './stats.ts';
import { checkImageFiles, DEFAULT_IMAGE_CHECK, reportExifOrientations } from './image-checks.ts';
import { isQuarterTurn } from './image-header.ts';
import { buildImageObjects } from './image-objects.ts';
import { SPLIT_NAMES } from './splits.ts';

export { buildQuestion, formatAnswer, DEFAULT_QUESTION_TEMPLATE } from './question.ts';

export function hasErrors(dataset: CountingDataset): boolean {
  return dataset.issues.some((issue) => issue.severity === 'error');
}

export async function loadDataset(source: DatasetSource, options: LoadOptions = {}): Promise<CountingDataset> {
  const issues: DatasetIssue[] = [];
  const question = resolveQuestionTemplate(options.question);
  const empty = (): CountingDataset => ({ name: source.name, classes: [], images: [], stats: datasetStats([], 0), issues, question });
  const progress = options.onProgress ?? (() => {});

  progress({ stage: 'unzipping', done: 0, total: 1 });
  let upload: Upload;
  try {
    upload = await openUpload(source);
  } catch (cause) {
    if (!(cause instanceof UploadError)) throw cause;
    issues.push({ severity: 'error', code: cause.code, message: cause.message, file: source.name });
    return empty();
  }
  progress({ stage: 'unzipping', done: 1, total: 1 });

  const refs = findAnnotationFiles(upload.files.values(), upload.name, issues, { loneFileSplit: options.split }).filter(
    (ref) => options.split === undefined || ref.split === options.split,
  );
  const jsonBytes = await upload.read(refs.map((ref) => ref.file.sourcePath));
  const cocoFiles: CocoFile[] = [];
  for (const [done, ref] of refs.entries()) {
    progress({ stage: 'parsing', done, total: refs.length });
    const bytes = jsonBytes.get(ref.file.sourcePath);
    if (!bytes) {
      issues.push({ severity: 'error', code: 'unreadable-file', file: ref.file.path, split: ref.split, message: `${ref.file.path}: could not be read from the upload; add it again.` });
      continue;
    }
    const coco = parseCocoFile(bytes, ref.file.path, ref.split, issues);
    if (coco) cocoFiles.push(coco);
  }
  progress({ stage: 'parsing', done: refs.length, total: refs.length });
  if (cocoFiles.length === 0) return empty();

  // Classes come from the first split present (train, then val, then test) in category-id order;
  // every other split must name the same classes. Ids may differ: objects are matched by name.
  const reference = cocoFiles[0];
  // Categories sharing a name are one class (the first id names it).
  const classes = reference.classes.filter((entry, index, all) => all.findIndex((other) => other.name === entry.name) === index).map(({ id, name }) => ({ id, name }));
  const classNames = classes.map((entry) => entry.name);
  const usable = cocoFiles.filter((coco) => classesAgree(reference, coco, issues));

  const fileIndex = indexFiles(upload.files);
  const listed: { entry: CocoImage; coco: CocoFile; file: UploadFile | undefined }[] = [];
  for (const coco of usable) {
    for (const entry of coco.images) listed.push({ entry, coco, file: resolveImageFile(entry.fileName, coco.path, fileIndex) });
  }
  const checked = await checkImageFiles(
    listed.map(({ entry, coco, file }) => ({ fileName: entry.fileName, split: coco.split, jsonPath: coco.path, file })),
    upload,
    options.imageCheck ?? DEFAULT_IMAGE_CHECK,
    issues,
    progress,
  );

  // Boxes are judged against the image as it really is (decoded above), not the size the json
  // lists: the model sees the real pixels.
  const present: DatasetImage[] = [];
  const oriented: { path: string; orientation: number; listedTurned: boolean }[] = [];
  const perFile = new Map(
    usable.map((coco) => [
      coco,
      {
        annotationsByImage: groupByImage(coco.annotations),
        classIndexById: new Map(coco.classes.map((category) => [category.id, classNames.indexOf(category.name)])),
      },
    ]),
  );
  for (const [index, { entry, coco, file }] of listed.entries()) {
    const real = checked[index];
    if (!real || !file) continue;
    // A size listed turned a quarter is the size a viewer shows for an EXIF-rotated photo.
    const listedTurned = real.orientation !== undefined && isQuarterTurn(real.orientation) && entry.width === real.height && entry.height === real.width;
    if (entry.width !== real.width || entry.height !== real.height) reportSizeMismatch(entry, real, listedTurned, coco, issues);
    if (real.orientation !== undefined) oriented.push({ path: file.path, orientation: real.orientation, listedTurned });
    const { annotationsByImage, classIndexById } = perFile.get(coco)!;
    const image = { ...entry, width: real.width, height: real.height };
    const objects = buildImageObjects(image, annotationsByImage.get(entry.id) ?? [], classIndexById, classNames, coco, issues);
    present.push({ split: coco.split, fileName: entry.fileName, path: file.sourcePath, width: real.width, height: real.height, objects, question: '', answer: '' });
  }
  reportExifOrientations(oriented, issues);

  progress({ stage: 'building questions', done: 0, total: present.length });
  const questionText = buildQuestion(classNames, question);
  for (const image of present) {
    const counts = new Array<number>(classNames.length).fill(0);
    for (const object of image.objects) counts[object.classIndex]++;
    image.question = questionText;
    image.answer = formatAnswer(classNames, counts);
  }
  progress({ stage: 'building questions', done: present.length, total: present.length });

  reportSplitCoverage(new Set(refs.map((ref) => ref.split)), usable, present, issues, options.split === undefined);
  return { name: source.name, classes, images: present, stats: datasetStats(present, classes.length), issues, question };
}

function groupByImage(annotations: CocoAnnotation[]): Map<number, CocoAnnotation[]> {
  const byImage = new Map<number, CocoAnnotation[]>();
  for (const annotation of annotations) {
    const group = byImage.get(annotation.imageId);
    if (group) group.push(annotation);
    else byImage.set(annotation.imageId, [annotation]);
  }
  return byImage;
}

function reportSizeMismatch(entry: CocoImage, real: { width: number; height: number }, listedTurned: boolean, coco: CocoFile, issues: DatasetIssue[]): void {
  const why = listedTurned
    ? 'its width and height are swapped, so it was likely labelled as a viewer shows its EXIF orientation (see the exif-orientation warning)'
    : 'if it was resized after labelling, its boxes no longer fit it — re-export the dataset';
  issues.push({
    severity: 'warning',
    code: 'image-size-mismatch',
    file: coco.path,
    split: coco.split,
    message: `${coco.path}: image "${entry.fileName}" is ${real.width}×${real.height} but listed as ${entry.width}×${entry.height}; its boxes are checked against its real ${real.width}×${real.height} pixels (${why}).`,
  });
}

function classesAgree(reference: CocoFile, other: CocoFile, issues: DatasetIssue[]): boolean {
  if (other === reference) return true;
  const referenceNames = new Set(reference.classes.map((entry) => entry.name));
  const otherNames = new Set(other.classes.map((entry) => entry.name));
  const missing = [...referenceNames].filter((name) => !otherNames.has(name));
  const extra = [...otherNames].filter((name) => !referenceNames.has(name));
  if (missing.length === 0 && extra.length === 0) return true;
  const parts = [
    missing.length > 0 ? `lacks ${missing.map((name) => `"${name}"`).join(', ')}` : '',
    extra.length > 0 ? `adds ${extra.map((name) => `"${name}"`).join(', ')}` : '',
  ].filter(Boolean);
  issues.push({
    severity: 'error',
    code: 'class-mismatch',
    file: other.path,
    split: other.split,
    message: `${other.path}: its classes differ from those of ${reference.path} (it ${parts.join(' and ')}); every split must have the same classes — export all splits from the same dataset version.`,
  });
  return false;
}

/**
 * Splits left without images, and missing splits. `found` holds every split that has an
 * annotation file, readable or not: a train json that failed to parse is reported as such, not
 * again as a missing train split.
 */
function reportSplitCoverage(found: Set<SplitName>, files: CocoFile[], images: DatasetImage[], issues: DatasetIssue[], wholeDataset: boolean): void {
  const splitsWithImages = new Set<SplitName>(images.map((image) => image.split));
  for (const coco of files) {
    if (splitsWithImages.has(coco.split)) continue;
    const reason = coco.images.length === 0 ? 'lists no images' : 'has no usable images (see the warnings above)';
    // Without training images there is nothing to fine-tune; an empty val or test split only
    // leaves one measurement out.
    const isTrain = coco.split === 'train';
    issues.push({
      severity: isTrain ? 'error' : 'warning',
      code: 'empty-split',
      file: coco.path,
      split: coco.split,
      message: `${coco.path}: the ${coco.split} split ${reason}; ${isTrain ? 'add its images' : 'it is left out — add its images or remove it'}.`,
    });
  }
  if (!wholeDataset) return; // one split asked for: the others are not missing
  if (found.size > 0 && !found.has('train')) {
    issues.push({ severity: 'error', code: 'no-train-split', message: 'there is no train split to fine-tune on; add a train/ folder with its _annotations.coco.json.' });
  }
  if (found.has('train') && !splitsWithImages.has('val') && !splitsWithImages.has('test')) {
    issues.push({ severity: 'warning', code: 'no-evaluation-split', message: 'there is no valid or test split, so accuracy can only be measured on training images; add a valid/ or test/ folder for an honest measurement.' });
  }
}

/** Uploads opened for reading images back, one per source (a nested zip is unpacked once). */
const openedUploads = new WeakMap<DatasetSource, Promise<Upload>>();

/** The bytes of one image of a loaded dataset (its `path` inside the upload). */
export async function readImageBytes(source: DatasetSource, image: DatasetImage): Promise<Uint8Array> {
  let opened = openedUploads.get(source);
  if (!opened) {
    opened = openUpload(source);
    openedUploads.set(source, opened);
  }
  const upload = await opened.catch(() => undefined);
  const found = upload && (await upload.read([image.path])).get(image.path);
  if (found) return found;
  throw new Error(`${source.name}: ${image.path} is not in the upload any more; load the dataset again.`);
}

export { SPLIT_NAMES };
