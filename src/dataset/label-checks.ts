// Checks of each image's boxes: geometry that makes an object uncountable, and labelling mistakes
// that silently distort counts (the same object labelled twice, or labelled with two classes).

import type { BoundingBox } from './types.ts';

/** Same-class boxes this similar are almost surely one object labelled twice. */
export const NEAR_DUPLICATE_IOU = 0.9;
/** Boxes of two classes this similar are one object given two classes ("identical" up to rounding). */
export const CONFLICTING_CLASSES_IOU = 0.99;
/** Boxes may overhang the image edge by this many pixels (export rounding) without a warning. */
export const EDGE_TOLERANCE_PX = 1;

export function intersectionOverUnion(a: BoundingBox, b: BoundingBox): number {
  const overlapWidth = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const overlapHeight = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (overlapWidth <= 0 || overlapHeight <= 0) return 0;
  const intersection = overlapWidth * overlapHeight;
  const union = a.width * a.height + b.width * b.height - intersection;
  return union > 0 ? intersection / union : 0;
}

export type BoxPlacement = 'inside' | 'crosses-edge' | 'outside' | 'empty';

/** Where a box lies relative to an image of the given size. */
export function boxPlacement(box: BoundingBox, imageWidth: number, imageHeight: number): BoxPlacement {
  if (!(box.width > 0) || !(box.height > 0)) return 'empty';
  const right = box.x + box.width;
  const bottom = box.y + box.height;
  if (right <= 0 || bottom <= 0 || box.x >= imageWidth || box.y >= imageHeight) return 'outside';
  const tolerance = EDGE_TOLERANCE_PX;
  const inside = box.x >= -tolerance && box.y >= -tolerance && right <= imageWidth + tolerance && bottom <= imageHeight + tolerance;
  return inside ? 'inside' : 'crosses-edge';
}

export interface LabelPair {
  first: number;
  second: number;
  iou: number;
}

/** Pairs of objects (indices into `objects`) that look like labelling mistakes. */
export function findSuspiciousPairs(objects: { classIndex: number; box: BoundingBox }[]): {
  nearDuplicates: LabelPair[];
  conflictingClasses: LabelPair[];
} {
  const nearDuplicates: LabelPair[] = [];
  const conflictingClasses: LabelPair[] = [];
  // Quadratic, but images hold tens of objects, not thousands.
  for (let first = 0; first < objects.length; first++) {
    for (let second = first + 1; second < objects.length; second++) {
      const iou = intersectionOverUnion(objects[first].box, objects[second].box);
      const sameClass = objects[first].classIndex === objects[second].classIndex;
      if (sameClass && iou >= NEAR_DUPLICATE_IOU) nearDuplicates.push({ first, second, iou });
      else if (!sameClass && iou >= CONFLICTING_CLASSES_IOU) conflictingClasses.push({ first, second, iou });
    }
  }
  return { nearDuplicates, conflictingClasses };
}
