// Where the annotation files are and which split each one is: Roboflow's
// `<split>/_annotations.coco.json`, or any other COCO json named by its folder or its file name
// (`val/labels.json`, `instances_val2017.json`), or a single json that is the whole dataset.

import type { DatasetIssue, SplitName } from './types.ts';
import type { UploadFile } from './upload.ts';
import { splitFromFileName, splitFromFolderName } from './splits.ts';

export const ROBOFLOW_ANNOTATION_FILE = '_annotations.coco.json';

export interface AnnotationFileRef {
  split: SplitName;
  file: UploadFile;
  /** Folder of the json ('' at the root, else ending in '/'): image file names are relative to it. */
  folder: string;
}

const folderOf = (path: string) => path.slice(0, path.lastIndexOf('/') + 1);
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

export function findAnnotationFiles(files: Iterable<UploadFile>, uploadName: string, issues: DatasetIssue[]): AnnotationFileRef[] {
  const jsonFiles = [...files].filter((file) => /\.json$/i.test(file.path));
  const roboflowFiles = jsonFiles.filter((file) => baseName(file.path) === ROBOFLOW_ANNOTATION_FILE);
  // In a Roboflow export other json files (e.g. a README.dataset.json) are not annotations.
  const candidates = roboflowFiles.length > 0 ? roboflowFiles : jsonFiles;
  if (candidates.length === 0) {
    issues.push({
      severity: 'error',
      code: 'no-annotation-file',
      message: `${uploadName}: no COCO annotation file found; expected train/${ROBOFLOW_ANNOTATION_FILE} (a Roboflow "COCO" export) or a COCO .json next to its images.`,
    });
    return [];
  }
  const refs: AnnotationFileRef[] = [];
  for (const file of candidates.sort((a, b) => a.path.localeCompare(b.path))) {
    const folderName = folderOf(file.path).split('/').filter(Boolean).pop() ?? '';
    const split =
      splitFromFolderName(folderName) ?? splitFromFileName(baseName(file.path)) ?? (candidates.length === 1 ? 'train' : undefined);
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
    refs.push({ split, file, folder: folderOf(file.path) });
  }
  const order: SplitName[] = ['train', 'val', 'test'];
  return refs.sort((a, b) => order.indexOf(a.split) - order.indexOf(b.split));
}

/**
 * The upload file an image entry refers to: next to its json (Roboflow), in an `images/` folder
 * beside it (classic COCO), from the root, or else the one file below the json's folder with
 * that base name.
 */
export function resolveImageFile(
  fileName: string,
  folder: string,
  files: Map<string, UploadFile>,
  byBaseName: Map<string, UploadFile[]>,
): UploadFile | undefined {
  const name = fileName.replaceAll('\\', '/').replace(/^(\.\/|\/)+/, '');
  for (const candidate of [folder + name, folder + 'images/' + name, name]) {
    const file = files.get(candidate);
    if (file) return file;
  }
  // Only below the json's own folder: another split may hold a file of the same name.
  const sameBase = (byBaseName.get(baseName(name)) ?? []).filter((file) => file.path.startsWith(folder));
  return sameBase.length === 1 ? sameBase[0] : undefined;
}

export function indexByBaseName(files: Iterable<UploadFile>): Map<string, UploadFile[]> {
  const index = new Map<string, UploadFile[]>();
  for (const file of files) {
    const base = baseName(file.path);
    const group = index.get(base);
    if (group) group.push(file);
    else index.set(base, [file]);
  }
  return index;
}
