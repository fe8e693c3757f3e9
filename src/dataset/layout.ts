// Where the annotation files are, which split each one is, and where their images are, in the
// layouts tools export:
//   Roboflow       train/_annotations.coco.json beside train/*.jpg (and valid/, test/)
//   COCO 2017      annotations/instances_train2017.json with train2017/*.jpg beside annotations/
//   CVAT COCO 1.0  annotations/instances_default.json with images/*.jpg (or images/default/*.jpg)
//   Label Studio   result.json with images/*.jpg, file_name "images\\<id>-name.jpg"
//   FiftyOne       labels.json with data/*.jpg (one export folder per split: train/, validation/)
// or any other COCO json named by its folder or its file name, or a single json that is the
// whole dataset.

import type { DatasetIssue, SplitName } from './types.ts';
import { normalizePath, type UploadFile } from './upload.ts';
import { splitFromFileName, splitFromFolderName } from './splits.ts';

export const ROBOFLOW_ANNOTATION_FILE = '_annotations.coco.json';
/** COCO's and CVAT's (datumaro's) name for detection annotation files: instances_<subset>.json. */
const INSTANCES_FILE = /^instances_(.+)\.json$/i;

export interface AnnotationFileRef {
  split: SplitName;
  file: UploadFile;
}

export interface FindOptions {
  /** The split of a lone annotation file whose name tells none (default train). */
  loneFileSplit?: SplitName;
}

const folderOf = (path: string) => path.slice(0, path.lastIndexOf('/') + 1);
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

export function findAnnotationFiles(files: Iterable<UploadFile>, uploadName: string, issues: DatasetIssue[], options: FindOptions = {}): AnnotationFileRef[] {
  const all = [...files];
  const jsonFiles = all.filter((file) => /\.json$/i.test(file.path));
  const roboflowFiles = jsonFiles.filter((file) => baseName(file.path) === ROBOFLOW_ANNOTATION_FILE);
  const instancesFiles = jsonFiles.filter((file) => INSTANCES_FILE.test(baseName(file.path)));
  // In a Roboflow export other json files (e.g. a README.dataset.json) are not annotations; beside
  // COCO's instances_*.json lie captions_*.json and person_keypoints_*.json, which are not either.
  const candidates = roboflowFiles.length > 0 ? roboflowFiles : instancesFiles.length > 0 ? instancesFiles : jsonFiles;
  if (candidates.length === 0) {
    const zips = all.filter((file) => /\.zip$/i.test(file.path));
    issues.push({
      severity: 'error',
      code: 'no-annotation-file',
      message:
        zips.length > 0
          ? `${uploadName}: no COCO annotation file found, but ${zips.length} zip files (${zips.slice(0, 3).map((file) => file.path).join(', ')}${zips.length > 3 ? ', …' : ''}); unzip it and load the dataset's own zip.`
          : `${uploadName}: no COCO annotation file found; expected train/${ROBOFLOW_ANNOTATION_FILE} (a Roboflow "COCO" export) or a COCO .json next to its images.`,
    });
    return [];
  }
  const refs: AnnotationFileRef[] = [];
  for (const file of candidates.sort((a, b) => a.path.localeCompare(b.path))) {
    const folderName = folderOf(file.path).split('/').filter(Boolean).pop() ?? '';
    const split =
      splitFromFolderName(folderName) ?? splitFromFileName(baseName(file.path)) ?? (candidates.length === 1 ? (options.loneFileSplit ?? 'train') : undefined);
    if (!split) {
      issues.push({
        severity: 'error',
        code: 'unknown-split',
        file: file.path,
        message: `${file.path}: cannot tell which split this annotation file is; put it in a folder named train, valid or test.`,
      });
      continue;
    }
    const clash = refs.find((ref) => ref.split === split);
    if (clash) {
      issues.push({
        severity: 'error',
        code: 'duplicate-split',
        file: file.path,
        split,
        message: `${file.path}: a second annotation file for the ${split} split (the first is ${clash.file.path}); keep one per split.`,
      });
      continue;
    }
    refs.push({ split, file });
  }
  const order: SplitName[] = ['train', 'val', 'test'];
  return refs.sort((a, b) => order.indexOf(a.split) - order.indexOf(b.split));
}

/** The upload's files by path, by lower-case path and by lower-case base name, for image lookups. */
export interface FileIndex {
  byPath: Map<string, UploadFile>;
  byLowerPath: Map<string, UploadFile[]>;
  byLowerBaseName: Map<string, UploadFile[]>;
}

export function indexFiles(files: Map<string, UploadFile>): FileIndex {
  const byLowerPath = new Map<string, UploadFile[]>();
  const byLowerBaseName = new Map<string, UploadFile[]>();
  const add = (index: Map<string, UploadFile[]>, key: string, file: UploadFile) => {
    const group = index.get(key);
    if (group) group.push(file);
    else index.set(key, [file]);
  };
  for (const file of files.values()) {
    add(byLowerPath, file.path.toLowerCase(), file);
    add(byLowerBaseName, baseName(file.path).toLowerCase(), file);
  }
  return { byPath: files, byLowerPath, byLowerBaseName };
}

/**
 * The upload file an image entry refers to. `file_name` is relative to the json's folder, to an
 * images/ or data/ folder beside it, or — for a json inside annotations/ — to the folder above,
 * its images/ folder, images/<subset>/ or <subset>/ (instances_train2017.json → train2017/);
 * else to the root. A name that matches only ignoring case is taken (Windows and macOS find those
 * too), and a name no folder explains (an absolute path, Label Studio's "../../media/upload/…")
 * is the one file of that base name below the json's dataset folder.
 */
export function resolveImageFile(fileName: string, jsonPath: string, index: FileIndex): UploadFile | undefined {
  const name = normalizePath(fileName);
  const folder = folderOf(jsonPath);
  const folderName = folder.split('/').filter(Boolean).pop() ?? '';
  const base = folderName.toLowerCase() === 'annotations' ? folderOf(folder.slice(0, -1)) : folder;
  const subset = INSTANCES_FILE.exec(baseName(jsonPath))?.[1];
  const candidates = [
    folder + name,
    folder + 'images/' + name,
    folder + 'data/' + name,
    base + name,
    base + 'images/' + name,
    ...(subset ? [base + 'images/' + subset + '/' + name, base + subset + '/' + name] : []),
    name,
  ];
  for (const candidate of candidates) {
    const file = index.byPath.get(candidate);
    if (file) return file;
  }
  for (const candidate of candidates) {
    const sameIgnoringCase = index.byLowerPath.get(candidate.toLowerCase());
    if (sameIgnoringCase?.length === 1) return sameIgnoringCase[0];
  }
  // Only below the dataset folder of this json: another split may hold a file of the same name.
  const sameBase = (index.byLowerBaseName.get(baseName(name).toLowerCase()) ?? []).filter((file) => file.path.startsWith(base));
  return sameBase.length === 1 ? sameBase[0] : undefined;
}
