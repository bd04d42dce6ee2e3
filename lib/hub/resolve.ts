import { statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { PathInfo } from '@huggingface/hub';
import { PixArtError } from '../errors.js';
import { RepoCache } from './cache.js';
import { ensureBlob, type DownloadHooks, type FileSpec, type ProgressEvent, type TransferContext } from './download.js';
import { COMMIT_HASH, checkComponentName, checkRepoId, checkRevision, isSafeBlobName } from './names.js';
import { checkVariant, componentsOf, filesByFolder, hasVariantFiles, planComponent, shardsOf, type ComponentPlan } from './select.js';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken, type Env } from './settings.js';
import { abortError, isRetryable, raceAbort, sleep, toPixArtError } from './util.js';

/*
 * Why this split. @huggingface/hub (the Hub's own JS client, kept in step with the Hub API) does
 * the talking to the Hub API: modelInfo (revision -> commit sha and the file list) and pathsInfo
 * (sizes, git oids and LFS sha256 for the files we want, in one request), with its typed
 * HubApiError and hubUrl / custom fetch plumbing. Its downloadFileToCacheDir / snapshotDownload
 * do write the Python cache layout, but they download a whole repo or one file in a single pass:
 * no Range resume, no sha256 check, no lock against a second process, no progress, no offline
 * mode, refs written only by snapshotDownload, and tokens must start with `hf_`. So the file
 * transfer and the cache bookkeeping are ours (download.ts, cache.ts, lock.ts), in the same
 * layout, so Python's huggingface_hub/diffusers and this package share one cache.
 */

export interface ResolveModelOptions {
  /** Branch, tag or commit hash (default 'main'). */
  revision?: string;
  /** diffusers' `variant`, e.g. 'fp16': `diffusion_pytorch_model.fp16.safetensors`, ... */
  variant?: string;
  /** Component folders to fetch (default: all in model_index.json), e.g. ['transformer', 'vae']. */
  components?: string[];
  /** Hub cache folder (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Access token (default: $HF_TOKEN, else the token file of `hf auth login`). */
  token?: string;
  /** Hub URL (default: $HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Use the cache only (default: $HF_HUB_OFFLINE). */
  offline?: boolean;
  /**
   * Ask the Hub for the revision's current commit even when the cache already holds a complete
   * snapshot for it. By default a branch or tag found complete in the cache (refs/<revision>)
   * is used without any request.
   */
  refresh?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Environment to read HF_* variables from (default: process.env). */
  env?: Env;
  /** fetch to use (default: the global one), e.g. for a proxy. */
  fetch?: typeof fetch;
  /** Tries after a failed request that got no bytes (default 5); a cut download resumes regardless. */
  retries?: number;
  /** First wait before a retry, doubling each time (ms, default 1000). */
  retryDelayMs?: number;
  /** Files downloaded at once (default 4). */
  concurrency?: number;
  /** Test hooks (inject I/O errors). */
  hooks?: DownloadHooks;
}

export type { ProgressEvent, DownloadHooks };

function looksLikePath(s: string): boolean {
  return isAbsolute(s) || s.startsWith('./') || s.startsWith('../') || s.startsWith('~') || s.includes('\\') || /^[A-Za-z]:/.test(s);
}

async function withRetries<T>(fn: () => Promise<T>, retries: number, delayMs: number, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted) throw abortError(signal);
      if (!isRetryable(e) || attempt >= retries) throw e;
      await sleep(Math.min(delayMs * 2 ** attempt, 10_000), signal);
    }
  }
}

async function readJson(path: string, shown: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${shown}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${shown}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** The name diffusers' _add_variant gives `name` (before the last extension). */
function withVariant(name: string, variant: string): string {
  const parts = name.split('.');
  return [...parts.slice(0, -1), variant, parts[parts.length - 1]].join('.');
}

/**
 * For a component that has no `variant` weights on the Hub, the variant names diffusers would
 * have looked for; recorded as `.no_exist/<commit>/<path>` (huggingface_hub's marker for a file
 * known not to exist at a commit) so a later cache-only call knows the fallback is the Hub's.
 */
function missingVariantNames(plan: ComponentPlan, variant: string): string[] {
  const out: string[] = [];
  if (plan.index) out.push(withVariant(plan.index, variant));
  for (const w of plan.weights) if (!/-\d{5}-of-\d{5}\.safetensors$/.test(w)) out.push(withVariant(w, variant));
  return out;
}

interface LocalCheck {
  ok: boolean;
  missing: string[];
}

/**
 * Is everything the request needs in snapshots/<commit>? A component with plain weights where a
 * variant was asked for counts only when the Hub said it has no variant (.no_exist markers), or,
 * cache-only (`offline`), when the snapshot holds variant files of other components (diffusers'
 * fallback over the files it has).
 */
async function checkLocal(
  cache: RepoCache,
  commit: string,
  components: string[] | undefined,
  variant: string | undefined,
  offline: boolean,
): Promise<LocalCheck> {
  const { files, dangling } = await cache.listSnapshot(commit);
  if (!files.has('model_index.json')) return { ok: false, missing: ['model_index.json'] };
  const snap = cache.snapshot(commit);
  const listed = componentsOf(await readJson(join(snap, 'model_index.json'), 'model_index.json'), snap);
  const byFolder = filesByFolder(files);
  const missing: string[] = [];
  const snapshotHasVariant = variant !== undefined && hasVariantFiles(files, variant);
  for (const c of components ?? listed) {
    const names = byFolder.get(c);
    if (!names) {
      if (listed.includes(c)) missing.push(`${c}/`);
      continue;
    }
    for (const d of dangling) if (d.startsWith(`${c}/`)) missing.push(`${d} (its blob is gone)`);
    const plan = planComponent(c, names, variant, snap);
    if (plan.variantFallback && variant !== undefined && !(offline && snapshotHasVariant)) {
      for (const n of missingVariantNames(plan, variant)) {
        try {
          statSync(join(cache.root, '.no_exist', commit, ...n.split('/')));
        } catch {
          missing.push(n);
        }
      }
    }
    if (plan.index) {
      for (const s of shardsOf(await readJson(join(snap, plan.index), plan.index), plan.index)) if (!files.has(s)) missing.push(s);
    }
    if (!plan.index && plan.weights.length === 0 && plan.configs.length === 0) missing.push(`${c}/ (no files)`);
  }
  return { ok: missing.length === 0, missing };
}

function specOf(info: PathInfo | undefined, path: string, where: string): FileSpec {
  if (!info || info.type !== 'file') {
    throw new PixArtError('ERR_PIXART_MODEL_NOT_FOUND', `${where}: ${path} is not on the Hub`);
  }
  const lfs = info.lfs;
  if (lfs && isSafeBlobName(lfs.oid)) {
    const size = typeof lfs.size === 'number' ? lfs.size : info.size;
    return { path, etag: lfs.oid, size, sha256: /^[0-9a-f]{64}$/.test(lfs.oid) ? lfs.oid : undefined };
  }
  if (!lfs && isSafeBlobName(info.oid)) {
    return { path, etag: info.oid, size: info.size, gitSha1: /^[0-9a-f]{40}$/.test(info.oid) ? info.oid : undefined };
  }
  throw new PixArtError('ERR_PIXART_HUB', `${where}: the Hub gave no usable hash for ${path}`);
}

async function runPool<T>(items: T[], n: number, fn: (item: T) => Promise<void>, inner: AbortController): Promise<void> {
  let next = 0;
  let failed = false;
  let first: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        if (!failed) {
          failed = true;
          first = e;
          inner.abort(e);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed) throw first;
}

interface Resolved {
  repoId: string;
  revision: string;
  variant: string | undefined;
  components: string[] | undefined;
  cache: RepoCache;
  endpoint: string;
  token: string | undefined;
  offline: boolean;
}

async function resolveOnline(r: Resolved, options: ResolveModelOptions, inner: AbortController): Promise<string> {
  // Loaded here, so local folders and cache hits never load the client.
  const { modelInfo, pathsInfo } = await import('@huggingface/hub');
  const where = `${r.repoId}@${r.revision}`;
  const retries = options.retries ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const endpointOrigin = new URL(r.endpoint).origin;
  const authorization = r.token ? `Bearer ${r.token}` : undefined;
  const errorCodes = new Map<string, string>();
  // The token goes in here rather than as the library's accessToken (which insists on an `hf_`
  // prefix), and only to the endpoint's origin.
  const hubFetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    if (authorization && new URL(url).origin === endpointOrigin && !headers.has('authorization')) headers.set('authorization', authorization);
    const res = await baseFetch(input, { ...init, headers, signal: inner.signal });
    const code = res.headers.get('x-error-code');
    if (!res.ok && code) errorCodes.set(res.url || url, code);
    return res;
  }) as typeof fetch;
  const api = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await raceAbort(withRetries(fn, retries, retryDelayMs, inner.signal), inner.signal);
    } catch (e) {
      if (inner.signal.aborted) throw abortError(inner.signal);
      throw toPixArtError(e, `${what} (${where})`, errorCodes);
    }
  };

  const info = await api('reading the model info', () =>
    modelInfo({ name: r.repoId, revision: r.revision, hubUrl: r.endpoint, additionalFields: ['sha', 'filePaths'], fetch: hubFetch }),
  );
  const commit = info.sha;
  if (typeof commit !== 'string' || !COMMIT_HASH.test(commit)) {
    throw new PixArtError('ERR_PIXART_HUB', `${where}: the Hub gave no commit hash for this revision`);
  }
  const filePaths = new Set(Array.isArray(info.filePaths) ? info.filePaths : []);
  if (!filePaths.has('model_index.json')) {
    throw new PixArtError('ERR_PIXART_MODEL_NOT_FOUND', `${where} has no model_index.json: not a diffusers pipeline repository`);
  }
  const byFolder = filesByFolder(filePaths);
  const candidates = ['model_index.json'];
  for (const [folder, names] of byFolder) {
    for (const n of names) if (/\.(json|model|safetensors)$/.test(n)) candidates.push(`${folder}/${n}`);
  }
  const byPath = new Map<string, PathInfo>();
  for (let i = 0; i < candidates.length; i += 100) {
    const batch = candidates.slice(i, i + 100);
    const infos = await api('reading file metadata', () => pathsInfo({ repo: r.repoId, paths: batch, revision: commit, hubUrl: r.endpoint, fetch: hubFetch }));
    for (const info of infos) byPath.set(info.path, info);
  }

  const ctx: TransferContext = {
    cache: r.cache,
    urlOf: (p) => `${r.endpoint}/${r.repoId}/resolve/${commit}/${p.split('/').map(encodeURIComponent).join('/')}`,
    fetch: baseFetch,
    authorization,
    endpointOrigin,
    retries,
    retryDelayMs,
    signal: inner.signal,
    onProgress: options.onProgress,
    hooks: options.hooks,
  };
  const specs = new Map<string, FileSpec>();
  const spec = (p: string) => {
    let s = specs.get(p);
    if (!s) {
      s = specOf(byPath.get(p), p, where);
      specs.set(p, s);
    }
    return s;
  };
  const fetchAll = (paths: string[]) => runPool(paths, options.concurrency ?? 4, (p) => ensureBlob(ctx, spec(p)), inner);

  // 1. model_index.json, to know the components.
  await fetchAll(['model_index.json']);
  const modelIndex = await readJson(r.cache.blob(spec('model_index.json').etag), `${where}/model_index.json`);
  const listed = componentsOf(modelIndex, where);
  // A requested component model_index.json does not list, with no folder, is left out (the
  // pipeline will not load it either); one it lists without a folder is an error.
  const comps = (r.components ?? listed).filter((c) => byFolder.has(c) || listed.includes(c));

  // 2. Plan every component from the file list (nothing else downloaded yet).
  const plans = comps.map((c) => {
    const names = byFolder.get(c);
    if (!names) throw new PixArtError('ERR_PIXART_MODEL_NOT_FOUND', `${where}: model_index.json lists ${c}, but the repository has no ${c}/ folder`);
    return planComponent(c, names, r.variant, where);
  });
  // As diffusers: a variant no file of the repository has is an error; components without it
  // fall back to their plain weights.
  if (r.variant !== undefined && !hasVariantFiles(filePaths, r.variant)) {
    throw new PixArtError(
      'ERR_PIXART_MODEL_NOT_FOUND',
      `${where}: no ${r.variant} variant files in this repository (e.g. diffusion_pytorch_model.${r.variant}.safetensors); leave out variant to load the plain weights`,
    );
  }

  // 3. Weight indexes, then the shards they name (checked before any weight is fetched).
  const indexes = plans.flatMap((p) => (p.index ? [p.index] : []));
  await fetchAll(indexes);
  const shardsByPlan = new Map<ComponentPlan, string[]>();
  for (const p of plans) {
    if (!p.index) continue;
    const shards = shardsOf(await readJson(r.cache.blob(spec(p.index).etag), `${where}/${p.index}`), p.index);
    for (const s of shards) {
      if (!filePaths.has(s)) throw new PixArtError('ERR_PIXART_MODEL_NOT_FOUND', `${where}: ${p.index} names ${s}, which is not in the repository`);
    }
    shardsByPlan.set(p, shards);
  }
  for (const p of plans) for (const f of [...p.configs, ...p.weights, ...(shardsByPlan.get(p) ?? [])]) spec(f);

  // 4. Everything else: small config files first, then the weights.
  const configs = plans.flatMap((p) => p.configs);
  const weights = plans.flatMap((p) => [...p.weights, ...(shardsByPlan.get(p) ?? [])]).sort((a, b) => spec(a).size - spec(b).size);
  await fetchAll([...configs, ...weights]);

  // 5. The snapshot links: per component weights, then index, then configs; model_index.json last.
  // A cache-only call trusts a snapshot by these links, so their order keeps an interrupted run
  // from looking complete.
  try {
    for (const p of plans) {
      for (const f of [...p.weights, ...(shardsByPlan.get(p) ?? []), ...(p.index ? [p.index] : []), ...p.configs]) {
        await r.cache.link(commit, f, spec(f).etag);
      }
      if (p.variantFallback && r.variant !== undefined) {
        for (const n of missingVariantNames(p, r.variant)) {
          const marker = join(r.cache.root, '.no_exist', commit, ...n.split('/'));
          await mkdir(dirname(marker), { recursive: true });
          await writeFile(marker, '');
        }
      }
    }
    await r.cache.link(commit, 'model_index.json', spec('model_index.json').etag);
    await r.cache.writeRef(r.revision, commit);
  } catch (e) {
    throw toPixArtError(e, `writing the snapshot of ${where}`);
  }
  return r.cache.snapshot(commit);
}

/**
 * A local folder (returned unchanged) or a Hub model id (`org/name`), resolved to a local
 * snapshot folder in the Hugging Face cache, downloading only what the requested components need.
 */
export async function resolveModel(pathOrRepoId: string, options: ResolveModelOptions = {}): Promise<string> {
  if (typeof pathOrRepoId !== 'string' || pathOrRepoId.length === 0) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'expected a model folder or a Hugging Face Hub model id');
  }
  let st;
  try {
    st = statSync(pathOrRepoId);
  } catch {
    st = null;
  }
  if (st?.isDirectory()) return pathOrRepoId;
  if (st) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `${pathOrRepoId} is a file; expected a model folder or a Hub model id`);
  if (looksLikePath(pathOrRepoId)) {
    throw new PixArtError('ERR_PIXART_MODEL_NOT_FOUND', `${pathOrRepoId}: no such model folder`);
  }
  checkRepoId(pathOrRepoId);
  const revision = options.revision ?? 'main';
  checkRevision(revision);
  checkVariant(options.variant);
  let components: string[] | undefined;
  if (options.components !== undefined) {
    if (!Array.isArray(options.components)) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'components must be an array of folder names');
    options.components.forEach(checkComponentName);
    components = [...new Set(options.components)];
  }
  const env = options.env ?? process.env;
  const cache = new RepoCache(hubCacheDir(env, options.cacheDir), pathOrRepoId);
  const offline = hubOffline(env, options.offline);
  const r: Resolved = {
    repoId: pathOrRepoId,
    revision,
    variant: options.variant,
    components,
    cache,
    endpoint: offline ? '' : hubEndpoint(env, options.endpoint),
    token: offline ? undefined : hubToken(env, options.token),
    offline,
  };
  const where = `${r.repoId}@${revision}`;

  const fromCache = async (cacheOnly: boolean): Promise<{ path: string | null; missing: string[] }> => {
    const commit = COMMIT_HASH.test(revision) ? revision : await cache.readRef(revision);
    if (!commit) return { path: null, missing: [`refs/${revision}`] };
    const check = await checkLocal(cache, commit, components, options.variant, cacheOnly);
    return { path: check.ok ? cache.snapshot(commit) : null, missing: check.missing };
  };

  if (offline) {
    const hit = await fromCache(true);
    if (hit.path) return hit.path;
    throw new PixArtError(
      'ERR_PIXART_OFFLINE',
      `${where} is not in the Hugging Face cache at ${cache.root} (missing: ${hit.missing.slice(0, 8).join(', ')}` +
        `${hit.missing.length > 8 ? ', ...' : ''}) and offline mode is on (HF_HUB_OFFLINE or offline: true); ` +
        'run once online to download it, or unset HF_HUB_OFFLINE',
    );
  }
  if (!options.refresh) {
    // Whatever is wrong with the cached copy, the Hub has the last word.
    const hit = await fromCache(false).catch(() => ({ path: null }));
    if (hit.path) return hit.path;
  }

  const inner = new AbortController();
  const onAbort = () => inner.abort(abortError(options.signal as AbortSignal));
  if (options.signal?.aborted) throw abortError(options.signal);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await resolveOnline(r, options, inner);
  } catch (e) {
    if (options.signal?.aborted) throw abortError(options.signal);
    // Hub unreachable while refreshing: a complete cached snapshot still serves (as Python does).
    if (options.refresh && e instanceof PixArtError && e.code === 'ERR_PIXART_HUB') {
      const hit = await fromCache(false).catch(() => ({ path: null }));
      if (hit.path) return hit.path;
    }
    throw e;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
