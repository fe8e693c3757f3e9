// Per-split statistics shown in the page and the CLI report.

import type { DatasetImage, SplitName, SplitStats } from './types.ts';
import { SPLIT_NAMES } from './splits.ts';

export function splitStats(images: DatasetImage[], classCount: number): SplitStats {
  const objectsPerClass = new Array<number>(classCount).fill(0);
  const imagesWithObjectCount: number[] = [];
  for (const image of images) {
    for (const object of image.objects) objectsPerClass[object.classIndex]++;
    const count = image.objects.length;
    while (imagesWithObjectCount.length <= count) imagesWithObjectCount.push(0);
    imagesWithObjectCount[count]++;
  }
  const objects = objectsPerClass.reduce((sum, value) => sum + value, 0);
  return { images: images.length, objects, objectsPerClass, imagesWithObjectCount };
}

export function datasetStats(images: DatasetImage[], classCount: number): Record<SplitName, SplitStats> {
  const stats = {} as Record<SplitName, SplitStats>;
  for (const split of SPLIT_NAMES) {
    stats[split] = splitStats(images.filter((image) => image.split === split), classCount);
  }
  return stats;
}
