// Builds small Roboflow-layout COCO zips in memory for the e2e tests: split folders (train/,
// valid/, test/), each with _annotations.coco.json (with Roboflow's class-group placeholder
// category) and real PNG images whose sizes match the annotation file.
import { zipSync } from 'fflate';
import { encode } from 'fast-png';

export interface TestObject {
  className: string;
  /** COCO [x, y, width, height] in pixels. */
  bbox: [number, number, number, number];
}

export interface TestImage {
  fileName: string;
  width: number;
  height: number;
  objects: TestObject[];
}

/** Roboflow folder name → images. */
export type TestSplits = Partial<Record<'train' | 'valid' | 'test', TestImage[]>>;

/** A flat grey PNG with a darker square where each object is, so boxes are visible. */
function pngFor(image: TestImage): Uint8Array {
  const data = new Uint8Array(image.width * image.height * 3).fill(200);
  for (const { bbox } of image.objects) {
    const [x, y, width, height] = bbox.map(Math.round);
    for (let row = y; row < Math.min(y + height, image.height); row++) {
      for (let column = x; column < Math.min(x + width, image.width); column++) {
        data.fill(90, (row * image.width + column) * 3, (row * image.width + column) * 3 + 3);
      }
    }
  }
  return encode({ width: image.width, height: image.height, data, channels: 3, depth: 8 });
}

function annotationFile(classNames: string[], images: TestImage[]): string {
  const categories = [
    { id: 0, name: 'objects', supercategory: 'none' },
    ...classNames.map((name, index) => ({ id: index + 1, name, supercategory: 'objects' })),
  ];
  let annotationId = 0;
  const annotations = images.flatMap((image, imageId) =>
    image.objects.map(({ className, bbox }) => ({
      id: annotationId++,
      image_id: imageId,
      category_id: classNames.indexOf(className) + 1,
      bbox,
      area: bbox[2] * bbox[3],
      segmentation: [],
      iscrowd: 0,
    })),
  );
  return JSON.stringify({
    info: { description: 'moontune e2e test export' },
    licenses: [],
    categories,
    images: images.map((image, id) => ({ id, license: 1, file_name: image.fileName, width: image.width, height: image.height })),
    annotations,
  });
}

/** The export's files by path ('train/_annotations.coco.json', 'train/a.png', …). */
export function roboflowFiles(classNames: string[], splits: TestSplits): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const [folder, images] of Object.entries(splits)) {
    files[`${folder}/_annotations.coco.json`] = new TextEncoder().encode(annotationFile(classNames, images));
    for (const image of images) files[`${folder}/${image.fileName}`] = pngFor(image);
  }
  return files;
}

export function roboflowZip(classNames: string[], splits: TestSplits): Uint8Array {
  return zipSync(roboflowFiles(classNames, splits));
}

/** A zip with the right layout whose train annotation file is not valid JSON. */
export function zipWithMalformedJson(): Uint8Array {
  return zipSync({ 'train/_annotations.coco.json': new TextEncoder().encode('{"images": [ {"id": 0,, }') });
}
