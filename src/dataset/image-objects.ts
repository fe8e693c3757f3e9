// One image's annotations → the objects it is counted with, reporting boxes that cannot be an
// object in the image and pairs of boxes that look like labelling mistakes.

import type { DatasetIssue, DatasetObject } from './types.ts';
import type { CocoAnnotation, CocoFile, CocoImage } from './coco-file.ts';
import { boxPlacement, findSuspiciousPairs } from './label-checks.ts';

export function buildImageObjects(
  image: CocoImage,
  annotations: CocoAnnotation[],
  classIndexById: Map<number, number>,
  classNames: string[],
  coco: CocoFile,
  issues: DatasetIssue[],
): DatasetObject[] {
  const warn = (code: string, message: string) =>
    issues.push({ severity: 'warning', code, file: coco.path, split: coco.split, message: `${coco.path}: ${message}` });
  const where = (annotation: CocoAnnotation) => `annotations[${annotation.index}] on "${image.fileName}"`;

  const objects: DatasetObject[] = [];
  const sources: CocoAnnotation[] = [];
  for (const annotation of annotations) {
    const [x, y, width, height] = annotation.bbox;
    const box = { x, y, width, height };
    const placement = boxPlacement(box, image.width, image.height);
    if (placement === 'empty') {
      // A box without area marks nothing visible: most likely a stray click in the labelling tool.
      warn('empty-box', `${where(annotation)} has a box of zero size [${annotation.bbox.join(', ')}]; it is not counted.`);
      continue;
    }
    if (placement === 'outside') {
      warn('box-outside-image', `${where(annotation)} has a box [${annotation.bbox.join(', ')}] entirely outside the ${image.width}×${image.height} image; it is not counted.`);
      continue;
    }
    if (placement === 'crosses-edge') {
      warn('box-crosses-edge', `${where(annotation)} has a box [${annotation.bbox.join(', ')}] reaching past the edge of the ${image.width}×${image.height} image; it is counted.`);
    }
    if (annotation.crowd) {
      warn('crowd-annotation', `${where(annotation)} marks a crowd (iscrowd 1), a group of objects in one box; it is counted as one object, so the count is likely too low.`);
    }
    objects.push({ classIndex: classIndexById.get(annotation.categoryId)!, box });
    sources.push(annotation);
  }

  const { nearDuplicates, conflictingClasses } = findSuspiciousPairs(objects);
  for (const pair of nearDuplicates) {
    warn(
      'near-duplicate-box',
      `${where(sources[pair.first])} and annotations[${sources[pair.second].index}] are two "${classNames[objects[pair.first].classIndex]}" boxes overlapping with IoU ${pair.iou.toFixed(2)}; if they are one object labelled twice, the count is one too high — delete one.`,
    );
  }
  for (const pair of conflictingClasses) {
    warn(
      'conflicting-classes',
      `${where(sources[pair.first])} ("${classNames[objects[pair.first].classIndex]}") and annotations[${sources[pair.second].index}] ("${classNames[objects[pair.second].classIndex]}") mark the same box; one object is counted under two classes — keep the right one.`,
    );
  }
  return objects;
}
