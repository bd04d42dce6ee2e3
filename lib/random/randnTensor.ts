/**
 * diffusers' `randn_tensor` for CPU generators: one torch.randn over the whole shape for a single
 * generator, or, for a list, one draw of shape (1, ...shape[1:]) per batch item from its own
 * generator, concatenated along the batch dimension.
 */
import { PixArtError } from '../errors.js';
import { TorchGenerator } from './TorchGenerator.js';

function invalid(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INVALID_ARGUMENT', message);
}

export function randnTensor(
  shape: readonly number[],
  generator: TorchGenerator | readonly TorchGenerator[],
): Float32Array {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw invalid('randnTensor needs a shape with a batch dimension');
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalid(`shape must contain non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  let gen: TorchGenerator | readonly TorchGenerator[] = generator;
  if (Array.isArray(gen)) {
    // diffusers reads generator[0] first, so an empty list fails; a list of one acts as a single generator.
    if (gen.length === 0) throw invalid('randnTensor got an empty list of generators');
    if (gen.length === 1) gen = gen[0] as TorchGenerator;
  }
  if (!Array.isArray(gen)) {
    if (!(gen instanceof TorchGenerator)) throw invalid('randnTensor expects a TorchGenerator or a list of them');
    return gen.randn(shape);
  }
  const list = gen as readonly TorchGenerator[];
  const batch = shape[0];
  // diffusers draws with generator[i] for i < batch: a shorter list fails, extra generators stay unused.
  if (list.length < batch) {
    throw invalid(`got a list of ${list.length} generators for a batch of ${batch}`);
  }
  const itemShape = [1, ...shape.slice(1)];
  let per = 1;
  for (const d of itemShape) per *= d;
  const out = new Float32Array(per * batch);
  for (let i = 0; i < batch; i++) {
    const g = list[i];
    if (!(g instanceof TorchGenerator)) throw invalid(`generator ${i} is not a TorchGenerator`);
    out.set(g.randn(itemShape), i * per);
  }
  return out;
}
