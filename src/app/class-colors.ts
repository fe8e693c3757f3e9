// Distinct box colours per class, readable on photos (Okabe–Ito palette, colour-blind safe).
const PALETTE = ['#E69F00', '#56B4E9', '#009E73', '#D55E00', '#CC79A7', '#0072B2', '#F0E442', '#000000'];

export function classColor(classIndex: number): string {
  return PALETTE[classIndex % PALETTE.length];
}
