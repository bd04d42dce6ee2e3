import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PixArtError } from '../errors.js';
import { isSafeRelativePath } from './names.js';

/*
 * Which files a diffusers component folder needs, following diffusers' naming (read from
 * diffusers' utils/hub_utils.py `_add_variant` and pipelines/pipeline_loading_utils.py
 * `variant_compatible_siblings`, re-expressed here for safetensors only):
 *   plain:   diffusion_pytorch_model.safetensors, model.safetensors,
 *            model-00001-of-00002.safetensors + model.safetensors.index.json
 *   variant: diffusion_pytorch_model.fp16.safetensors,
 *            model.fp16-00001-of-00002.safetensors + model.safetensors.index.fp16.json
 *   legacy variant: model-00001-of-00002.fp16.safetensors + model.safetensors.fp16.index.json
 * A component without variant files falls back to its plain files, as diffusers does; if no
 * requested component has variant files at all, that is an error (diffusers raises too).
 */

const PREFIXES = ['model', 'diffusion_pytorch_model', 'pytorch_model', 'weights'];
const P = PREFIXES.join('|');
const SHARD = String.raw`\d{5}-of-\d{5}`;
const PLAIN_FILE = new RegExp(String.raw`^(${P})(-${SHARD})?\.safetensors$`);
const PLAIN_INDEX = new RegExp(String.raw`^(${P})\.safetensors\.index\.json$`);
const variantFile = (v: string) => new RegExp(String.raw`^(${P})\.(${v}|${v}-${SHARD})\.safetensors$`);
const variantIndex = (v: string) => new RegExp(String.raw`^(${P})\.safetensors\.index\.${v}\.json$`);
const legacyVariantFile = (v: string) => new RegExp(String.raw`^.*-${SHARD}\.${v}\.safetensors$`);
const legacyVariantIndex = (v: string) => new RegExp(String.raw`^(${P})\.safetensors\.${v}\.index\.json$`);
/** Any weight index json (plain or variant, any format): not a config file. */
const ANY_INDEX = /\.(safetensors|bin|msgpack|ckpt|pt|pth|h5)\.(index(\.[A-Za-z0-9_]+)?|[A-Za-z0-9_]+\.index)\.json$/;
/** Weight formats the engine cannot read. */
const OTHER_WEIGHTS = /\.(bin|ckpt|msgpack|onnx|onnx_data|pb|pt|pth|h5|gguf)$/;

export function checkVariant(variant: string | undefined): void {
  if (variant !== undefined && !/^[A-Za-z0-9_]{1,32}$/.test(variant)) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `invalid variant ${JSON.stringify(variant)}: expected a name such as 'fp16'`);
  }
}

/** True when any of these file names is a `variant` weight file or index (diffusers' patterns). */
export function hasVariantFiles(names: Iterable<string>, variant: string): boolean {
  const res = [variantFile(variant), variantIndex(variant), legacyVariantFile(variant), legacyVariantIndex(variant)];
  for (const n of names) {
    const base = n.slice(n.lastIndexOf('/') + 1);
    if (res.some((re) => re.test(base))) return true;
  }
  return false;
}

export interface ComponentPlan {
  component: string;
  /** Repo-relative paths (component/name). */
  configs: string[];
  /** A weight index json to read for the shard list, if the component is sharded. */
  index: string | null;
  /** Weight files known without reading an index. */
  weights: string[];
  /** True when the component has weights, and they are the variant's. */
  variant: boolean;
  /** True when the component has weights but no variant ones while a variant was asked for. */
  variantFallback: boolean;
}

/**
 * Plans one component from the names directly inside its folder (`names` are plain file names).
 * Throws ERR_PIXART_MODEL_LOAD when the folder has weights, none of them safetensors.
 */
export function planComponent(component: string, names: string[], variant: string | undefined, where: string): ComponentPlan {
  const sorted = [...names].sort();
  const configs = sorted.filter((n) => (n.endsWith('.json') && !ANY_INDEX.test(n)) || n.endsWith('.model'));
  let files: string[] = [];
  let indexes: string[] = [];
  let usedVariant = false;
  if (variant !== undefined) {
    files = sorted.filter((n) => variantFile(variant).test(n));
    indexes = sorted.filter((n) => variantIndex(variant).test(n));
    if (files.length === 0 && indexes.length === 0) {
      files = sorted.filter((n) => legacyVariantFile(variant).test(n));
      indexes = sorted.filter((n) => legacyVariantIndex(variant).test(n));
    }
    usedVariant = files.length > 0 || indexes.length > 0;
  }
  if (!usedVariant) {
    files = sorted.filter((n) => PLAIN_FILE.test(n));
    indexes = sorted.filter((n) => PLAIN_INDEX.test(n));
  }
  const hasWeights = files.length > 0 || indexes.length > 0;
  if (!hasWeights && sorted.some((n) => OTHER_WEIGHTS.test(n))) {
    throw new PixArtError(
      'ERR_PIXART_MODEL_LOAD',
      `${where}/${component} has weights only in formats the engine cannot read ` +
        `(${sorted.filter((n) => OTHER_WEIGHTS.test(n)).join(', ')}); it reads .safetensors only. ` +
        'Convert the weights to safetensors (e.g. with diffusers: save_pretrained(..., safe_serialization=True)).',
    );
  }
  const byPrefix = (a: string, b: string) => PREFIXES.indexOf(a.split(/[.-]/)[0]) - PREFIXES.indexOf(b.split(/[.-]/)[0]);
  indexes.sort(byPrefix);
  const index = indexes.length > 0 ? indexes[0] : null;
  // With an index, the shards come from reading it; without, take the single files (or the
  // shards of an index-less sharded checkpoint).
  const weights = index ? [] : files;
  const rel = (n: string) => `${component}/${n}`;
  return {
    component,
    configs: configs.map(rel),
    index: index ? rel(index) : null,
    weights: weights.map(rel),
    variant: usedVariant,
    variantFallback: variant !== undefined && !usedVariant && hasWeights,
  };
}

/** Groups repo-relative paths by their top folder; only files directly inside a folder count. */
export function filesByFolder(paths: Iterable<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of paths) {
    const parts = p.split('/');
    if (parts.length !== 2) continue;
    const list = out.get(parts[0]) ?? [];
    list.push(parts[1]);
    out.set(parts[0], list);
  }
  return out;
}

/** Component folders a model_index.json lists: keys not starting with `_` whose value is [library, class]. */
export function componentsOf(modelIndex: unknown, where: string): string[] {
  if (typeof modelIndex !== 'object' || modelIndex === null || Array.isArray(modelIndex)) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${where}/model_index.json is not a JSON object`);
  }
  return Object.entries(modelIndex as Record<string, unknown>)
    .filter(([k, v]) => !k.startsWith('_') && Array.isArray(v) && v.length === 2 && v[0] !== null && v[1] !== null)
    .map(([k]) => k);
}

/**
 * The shard files a weight index names, as repo-relative paths. Every name must stay inside the
 * component folder (no `..`, absolute or drive paths): otherwise ERR_PIXART_MODEL_LOAD.
 */
export function shardsOf(indexJson: unknown, indexPath: string): string[] {
  const map = (indexJson as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${indexPath}: no weight_map object in this index`);
  }
  const folder = indexPath.slice(0, indexPath.lastIndexOf('/'));
  const shards = new Set<string>();
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>)) {
    if (!isSafeRelativePath(file)) {
      throw new PixArtError(
        'ERR_PIXART_MODEL_LOAD',
        `${indexPath}: tensor ${tensor} points at ${JSON.stringify(file)}, outside the component folder; refusing to download from this index`,
      );
    }
    if (!file.endsWith('.safetensors')) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${indexPath}: tensor ${tensor} is in ${file}; the engine reads .safetensors only`);
    }
    shards.add(folder ? `${folder}/${file}` : file);
  }
  if (shards.size === 0) throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${indexPath}: the weight_map is empty`);
  return [...shards].sort();
}

/**
 * The weights entry point of a local component folder for the engine: the index json (sharded)
 * or the single .safetensors file, honouring `variant` with diffusers' fallback to plain files.
 * Returns null when the folder has no safetensors weights. Useful to load the fp16 variant, whose
 * file names the engine's folder lookup does not know.
 */
export function findWeights(componentFolder: string, variant?: string): string | null {
  checkVariant(variant);
  let names: string[];
  try {
    names = readdirSync(componentFolder).filter((n) => {
      try {
        return statSync(join(componentFolder, n)).isFile();
      } catch {
        return false;
      }
    });
  } catch {
    return null;
  }
  const plan = planComponent('.', names, variant, componentFolder);
  const singles = plan.weights.filter((w) => !new RegExp(`-${SHARD}(\\.[A-Za-z0-9_]+)?\\.safetensors$`).test(w));
  const prefixRank = (w: string) => PREFIXES.indexOf(w.slice(2).split(/[.-]/)[0]);
  singles.sort((a, b) => prefixRank(a) - prefixRank(b));
  const pick = plan.index ?? singles[0] ?? null;
  return pick ? join(componentFolder, pick.slice(2)) : null;
}
