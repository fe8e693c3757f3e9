// Mean cross-entropy over labelled positions, fused with its gradient (spec §11.1: labels on the
// answer tokens only, loss = mean over them). Targets are i32; −100 (PyTorch's ignore_index), or
// any id outside [0, V), marks a position without a label. With no labelled position at all the
// loss and the gradient are 0 (PyTorch would give NaN), so an empty batch cannot poison training.
//
// The loss is Σ_r w_r·ℓ_r over rows r with weights w_r: by default 1/count on every labelled row
// (the mean); a batch of sequences passes its own, 1/(B·n_b) on the n_b labelled rows of
// sequence b, so the loss is the mean over sequences of each sequence's mean (spec §11.1).
//
// No host round trip: one workgroup writes the default weights (it counts the labels); one
// invocation per row computes the max-subtracted logsumexp in f32, w_r·ℓ_r and
// dLogits = w_r·(softmax − onehot); one workgroup sums the weighted row losses.
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import { scaleInPlace } from './clip.ts';

export const IGNORE_INDEX = -100;

const WORKGROUP = 256;
/** Rows per workgroup of the row kernel (one invocation each). */
const ROWS_PER_WORKGROUP = 64;

const LABEL_COUNT_PARAMS = /* wgsl */ `
struct Params { rows: u32, vocab: u32 }
`;

/**
 * The default weights: 1/count on labelled rows (targets in [0, V)), 0 elsewhere. One workgroup.
 * Bindings: 0 targets [T] i32 (read), 1 weights [T] f32 (write), 2 params (uniform).
 */
export const CROSS_ENTROPY_WEIGHTS_WGSL = /* wgsl */ `
${LABEL_COUNT_PARAMS}
@group(0) @binding(0) var<storage, read> targets: array<i32>;
@group(0) @binding(1) var<storage, read_write> weights: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn labelled(row: u32) -> bool {
  let targetId = targets[row];
  return targetId >= 0 && u32(targetId) < params.vocab;
}

override WORKGROUP: u32 = 256u;
var<workgroup> partial: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(local_invocation_index) lane: u32) {
  var count = 0.0;
  for (var row = lane; row < params.rows; row += WORKGROUP) {
    if (labelled(row)) { count += 1.0; }
  }
  partial[lane] = count;
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
  }
  workgroupBarrier();
  let weight = select(0.0, 1.0 / partial[0], partial[0] > 0.0);
  for (var row = lane; row < params.rows; row += WORKGROUP) { weights[row] = select(0.0, weight, labelled(row)); }
}
`;

/**
 * One invocation per row (a workgroup per row spends its time in barriers on CPU-emulated GPUs;
 * three passes over V are a short loop for one invocation): logsumexp (max-subtracted, f32),
 * rowLoss = w·(logsumexp − logit[target]) (0 when unlabelled), gradLogits = w·(softmax − onehot)
 * (0 rows when unlabelled).
 * Bindings: 0 logits [T, V] (read), 1 targets [T] i32 (read), 2 weights [T] (read),
 * 3 gradLogits [T, V] (write), 4 rowLoss [T] (write), 5 params (uniform).
 */
export const CROSS_ENTROPY_ROW_WGSL = /* wgsl */ `
${LABEL_COUNT_PARAMS}
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradLogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let row = elementIndex(group, groups, local);
  if (row >= params.rows) { return; }
  let base = row * params.vocab;
  let targetId = targets[row];
  let labelled = targetId >= 0 && u32(targetId) < params.vocab;

  var rowMax = -3.0e38;
  for (var column = 0u; column < params.vocab; column++) { rowMax = max(rowMax, logits[base + column]); }
  var sum = 0.0;
  for (var column = 0u; column < params.vocab; column++) { sum += exp(logits[base + column] - rowMax); }

  // An unlabelled row contributes nothing, whatever its weight.
  let weight = select(0.0, weights[row], labelled);
  let inverseSum = 1.0 / sum;
  for (var column = 0u; column < params.vocab; column++) {
    let probability = exp(logits[base + column] - rowMax) * inverseSum;
    let onehot = select(0.0, 1.0, labelled && column == u32(targetId));
    gradLogits[base + column] = (probability - onehot) * weight;
  }
  rowLoss[row] = weight * select(0.0, rowMax + log(sum) - logits[base + u32(max(targetId, 0))], labelled);
}
`;

/**
 * loss[0] = Σ rowLoss (the weighted row losses). One workgroup.
 * Bindings: 0 rowLoss [T] (read), 1 loss [1] (write), 2 params (uniform).
 */
export const CROSS_ENTROPY_SUM_WGSL = /* wgsl */ `
${LABEL_COUNT_PARAMS}
@group(0) @binding(0) var<storage, read> rowLoss: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP: u32 = 256u;
var<workgroup> partial: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(local_invocation_index) lane: u32) {
  var sum = 0.0;
  for (var row = lane; row < params.rows; row += WORKGROUP) { sum += rowLoss[row]; }
  partial[lane] = sum;
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
  }
  if (lane == 0u) { loss[0] = partial[0]; }
}
`;

/**
 * Mean cross-entropy of logits [T, V] against targets [T] (i32, −100 = no label), or the sum
 * weighted by `rowWeights` [T] f32 when given. Returns loss [1] and gradLogits [T, V] = d(loss)/d(logits).
 */
export function crossEntropy(engine: Engine, logits: Tensor, targets: Tensor, rowWeights?: Tensor): { loss: Tensor; gradLogits: Tensor } {
  if (logits.dtype !== 'f32' || logits.shape.length !== 2) {
    throw new Error(`crossEntropy: logits must be a 2-D f32 tensor [T, V], got ${logits}`);
  }
  const [rows, vocab] = logits.shape;
  if (targets.dtype !== 'i32' || targets.shape.length !== 1 || targets.shape[0] !== rows) {
    throw new Error(`crossEntropy: targets must be i32 [${rows}] (one label per logits row, ${IGNORE_INDEX} = none), got ${targets}`);
  }
  if (rowWeights && (rowWeights.dtype !== 'f32' || rowWeights.size !== rows)) {
    throw new Error(`crossEntropy: rowWeights must be f32 [${rows}] (one weight per logits row), got ${rowWeights}`);
  }
  const params = new Uint32Array([rows, vocab]);
  const constants = { WORKGROUP };
  const weights = rowWeights ?? engine.empty([rows], 'f32', 'crossEntropy.weights');
  const rowLoss = engine.empty([rows], 'f32', 'crossEntropy.rowLoss');
  const gradLogits = engine.empty([rows, vocab], 'f32', 'crossEntropy.gradLogits');
  const loss = engine.empty([1], 'f32', 'crossEntropy.loss');
  if (!rowWeights) engine.dispatch(engine.pipeline(CROSS_ENTROPY_WEIGHTS_WGSL, 'main', constants), [targets, weights], [1], { params, label: 'crossEntropy.weights' });
  engine.dispatch(
    engine.pipeline(CROSS_ENTROPY_ROW_WGSL, 'main', { WORKGROUP_SIZE: ROWS_PER_WORKGROUP }),
    [logits, targets, weights, gradLogits, rowLoss],
    elementGrid(engine, rows, ROWS_PER_WORKGROUP),
    { params, label: 'crossEntropy.rows' },
  );
  engine.dispatch(engine.pipeline(CROSS_ENTROPY_SUM_WGSL, 'main', constants), [rowLoss, loss], [1], { params, label: 'crossEntropy.sum' });
  if (!rowWeights) weights.dispose();
  rowLoss.dispose();
  return { loss, gradLogits };
}

/**
 * Mean cross-entropy as a differentiable op: inputs [logits, targets, rowWeights?], output the loss [1]. Its
 * gradient is computed in the forward (fused) for dLoss = 1; when the loss is part of a larger one
 * (a sum of losses), the backward scales it by dLoss/dOutput in place.
 */
export const crossEntropyOp: DifferentiableOp = {
  name: 'crossEntropy',
  saves: {},
  forward: (engine, [logits, targets, rowWeights]) => {
    const { loss, gradLogits } = crossEntropy(engine, logits!, targets!, rowWeights);
    return { output: loss, intermediates: [gradLogits] };
  },
  backward: (engine, gradOut, { output, intermediates: [gradLogits], tape }) => {
    if (!tape.isRoot(output)) scaleInPlace(engine, gradLogits, gradOut);
    return [gradLogits, undefined, undefined];
  },
};

/** CPU reference in float64: the mean loss over labelled rows (or the sum weighted by `weights`) and its gradient. */
export function crossEntropyReference(
  logits: Float64Array | Float32Array | number[],
  targets: Int32Array | number[],
  vocab: number,
  weights?: ArrayLike<number>,
): { loss: number; gradLogits: Float64Array } {
  const rows = targets.length;
  const gradLogits = new Float64Array(rows * vocab);
  const labelled = (row: number) => targets[row] >= 0 && targets[row] < vocab;
  let count = 0;
  for (let row = 0; row < rows; row++) if (labelled(row)) count++;
  if (count === 0) return { loss: 0, gradLogits };
  let total = 0;
  for (let row = 0; row < rows; row++) {
    if (!labelled(row)) continue;
    const weight = weights ? weights[row] : 1 / count;
    let max = -Infinity;
    for (let column = 0; column < vocab; column++) max = Math.max(max, logits[row * vocab + column]);
    let sum = 0;
    for (let column = 0; column < vocab; column++) sum += Math.exp(logits[row * vocab + column] - max);
    total += weight * (max + Math.log(sum) - logits[row * vocab + targets[row]]);
    for (let column = 0; column < vocab; column++) {
      const probability = Math.exp(logits[row * vocab + column] - max) / sum;
      gradLogits[row * vocab + column] = weight * (probability - (column === targets[row] ? 1 : 0));
    }
  }
  return { loss: total, gradLogits };
}
