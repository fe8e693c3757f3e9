// The readable dataset report of the CLI: per-split counts, the class histogram, the
// objects-per-image histogram and every issue (grouped, so thousands of warnings stay readable).

import type { CountingDataset, DatasetIssue, SplitName } from './types.ts';
import { SPLIT_NAMES } from './splits.ts';

/** Messages shown per issue code before the rest are summarised. */
const MESSAGES_PER_CODE = 5;

export function formatDatasetReport(dataset: CountingDataset, splits: readonly SplitName[] = SPLIT_NAMES): string {
  const lines: string[] = [];
  const shown = splits.filter((split) => dataset.stats[split].images > 0);
  lines.push(`Dataset ${dataset.name}: ${dataset.classes.length} classes (${dataset.classes.map((entry) => entry.name).join(', ')})`);
  lines.push('');
  if (shown.length === 0) return [...lines, 'No usable images.', '', ...formatIssues(dataset.issues)].join('\n');
  lines.push(table(['split', 'images', 'objects', 'objects/image'], shown.map((split) => {
    const stats = dataset.stats[split];
    return [split, String(stats.images), String(stats.objects), (stats.objects / stats.images).toFixed(2)];
  })));

  lines.push('', 'Objects per class');
  lines.push(table(['class', ...shown], dataset.classes.map((entry, index) => [entry.name, ...shown.map((split) => String(dataset.stats[split].objectsPerClass[index]))])));

  lines.push('', 'Images by number of objects');
  const maxObjects = Math.max(0, ...shown.map((split) => dataset.stats[split].imagesWithObjectCount.length - 1));
  const rows: string[][] = [];
  for (let count = 0; count <= maxObjects; count++) {
    rows.push([String(count), ...shown.map((split) => String(dataset.stats[split].imagesWithObjectCount[count] ?? 0))]);
  }
  lines.push(table(['objects', ...shown], rows));

  lines.push('', ...formatIssues(dataset.issues));
  return lines.join('\n');
}

export function formatIssues(issues: DatasetIssue[]): string[] {
  if (issues.length === 0) return ['No problems found.'];
  const errors = issues.filter((issue) => issue.severity === 'error').length;
  const lines = [`${errors} error(s), ${issues.length - errors} warning(s)`];
  const byCode = new Map<string, DatasetIssue[]>();
  for (const issue of issues) {
    const group = byCode.get(issue.code);
    if (group) group.push(issue);
    else byCode.set(issue.code, [issue]);
  }
  for (const [code, group] of byCode) {
    lines.push(`  ${group[0].severity} ${code} (${group.length})`);
    for (const issue of group.slice(0, MESSAGES_PER_CODE)) lines.push(`    ${issue.message}`);
    if (group.length > MESSAGES_PER_CODE) lines.push(`    … and ${group.length - MESSAGES_PER_CODE} more`);
  }
  return lines;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const format = (row: string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ').trimEnd();
  return [format(header), ...rows.map(format)].map((line) => `  ${line}`).join('\n');
}
