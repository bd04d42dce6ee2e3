/**
 * pixart-node: PixArt-α text-to-image for Node.js on a native engine, matching diffusers'
 * PixArtAlphaPipeline.
 */
export { PixArtError, type PixArtErrorCode } from './errors.js';
export { Engine, type Device, type EngineOptions, type MemoryStats } from './engine/Engine.js';
export { PixArtAlphaPipeline, type PipelineLoadOptions } from './pipeline/PixArtAlphaPipeline.js';
export type {
  EncodePromptOptions, GenerateOptions, GenerateResult, HostTensor, OutputType, PromptEmbeddings, StepInfo,
} from './pipeline/types.js';
export { PixArtImage, type ImageFormat } from './pipeline/images.js';
export { T5EncoderModel, T5_QUANTIZATIONS, type T5Quantization, type T5LoadOptions } from './models/T5EncoderModel.js';
export { PixArtTransformer2DModel } from './models/PixArtTransformer2DModel.js';
export { AutoencoderKL, type LatentDistribution } from './models/AutoencoderKL.js';
export type { HostRgb8, NativeStepStats as StepStats } from './native/AddonTypes.js';
export type { ComponentLoadOptions } from './models/Component.js';
export { T5Tokenizer } from './text/T5Tokenizer.js';
export { cleanCaption, preprocessText } from './text/cleanCaption.js';
export { TorchGenerator } from './random/TorchGenerator.js';
export { randnTensor } from './random/randnTensor.js';
export {
  ASPECT_RATIO_1024_BIN, ASPECT_RATIO_512_BIN, ASPECT_RATIO_256_BIN, binTableForSampleSize, classifyHeightWidthBin,
  resizeAndCropTensor,
} from './sizes/resolutionBins.js';
export * from './schedulers/index.js';
export { nativeAddonPath } from './native/binding.js';
export {
  exportOnnx,
  ONNX_COMPONENTS,
  type ExportOnnxOptions,
  type OnnxComponent,
  type OnnxExportEntry,
  type OnnxExportManifest,
} from './export/exportOnnx.js';
