// Distinct box colours per class, dark enough for white label text, told apart by colour-blind
// readers too (the Okabe–Ito hues, darkened where white text would not read on them).
const PALETTE = ['#D55E00', '#0072B2', '#009E73', '#CC79A7', '#B07800', '#3A8DC4', '#7F3C8D', '#333333'];

export function classColor(classIndex: number): string {
  return PALETTE[classIndex % PALETTE.length];
}
