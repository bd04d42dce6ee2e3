/**
 * Models from the Hugging Face Hub: `resolveModel('PixArt-alpha/PixArt-XL-2-1024-MS')` downloads
 * what the requested components need into the Hugging Face cache (the layout Python's
 * huggingface_hub uses, so both share downloads) and returns the snapshot folder; a local folder
 * is returned unchanged.
 */
export { resolveModel, type ResolveModelOptions, type ProgressEvent, type DownloadHooks } from './resolve.js';
export { isRepoId, repoFolderName } from './names.js';
export { findWeights } from './select.js';
export { hubCacheDir } from './settings.js';
