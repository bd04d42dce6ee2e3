// Stands in for sharp in the GPU bench bundle (bench/gpu/pack_node.sh): the GPU machine gets
// raw RGB bytes only, never encoded images, so libvips is not carried there.
export default function sharp(): never {
  throw new Error('sharp is not part of the GPU bench bundle (raw RGB only)');
}
