import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { PixArtError } from '../errors.js';
import { withFileLock } from './lock.js';
import type { RepoCache } from './cache.js';
import { HttpStatusError, TransientError, abortError, isAbort, isDiskFull, isRetryable, raceAbort, sleep, toPixArtError } from './util.js';

/*
 * The byte transfer of one file into blobs/<etag>. @huggingface/hub 2.x has no resumable,
 * verified download (its downloadFileToCacheDir streams the whole file in one request straight
 * into <etag>.incomplete and renames it, with no Range resume, no hash check, no lock and no
 * progress), so this part is ours, over the runtime's fetch:
 *   - lock blobs/<etag>.lock, so one process/promise downloads a blob and the others wait, then
 *     find it there;
 *   - write blobs/<etag>.incomplete, resuming an existing one with `Range: bytes=<have>-`, and
 *     retrying a cut connection from where it stopped;
 *   - hash while writing (sha256 for LFS files, git's blob sha1 for the small plain files), check
 *     size and hash, fsync, then rename to blobs/<etag>; a file that does not match is deleted;
 *   - ENOSPC/EDQUOT delete the partial file and fail with ERR_PIXART_DISK_FULL.
 */

export interface ProgressEvent {
  /** Repo-relative path of the file, e.g. 'vae/diffusion_pytorch_model.safetensors'. */
  file: string;
  /** Bytes of the file on disk so far (a resumed download starts above 0). */
  downloaded: number;
  total: number;
}

export interface DownloadHooks {
  /** Called before each chunk is written to `file` (the .incomplete path); may throw (tests inject I/O errors). */
  beforeWrite?: (file: string, bytes: number) => void | Promise<void>;
}

export interface FileSpec {
  /** Repo-relative path. */
  path: string;
  /** Blob name: the LFS sha256, or the git blob sha1 for plain files. */
  etag: string;
  size: number;
  /** Expected sha256 (hex) of the content, for LFS files. */
  sha256?: string;
  /** Expected git blob sha1 (hex), for plain files. */
  gitSha1?: string;
}

export interface TransferContext {
  cache: RepoCache;
  /** URL of the file at the pinned commit: <endpoint>/<repo>/resolve/<commit>/<path>. */
  urlOf: (path: string) => string;
  fetch: typeof fetch;
  /** Authorization header value for requests to the endpoint's origin. */
  authorization?: string;
  endpointOrigin: string;
  retries: number;
  retryDelayMs: number;
  signal: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  hooks?: DownloadHooks;
}

/** GET with redirects followed by hand, so the token goes to the Hub only, never to a CDN host. */
async function get(ctx: TransferContext, url: string, range: string | null): Promise<Response> {
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = { 'user-agent': 'pixart-node' };
    if (range) headers.range = range;
    if (ctx.authorization && new URL(current).origin === ctx.endpointOrigin) headers.authorization = ctx.authorization;
    const res = await ctx.fetch(current, { headers, redirect: 'manual', signal: ctx.signal });
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      void res.body?.cancel().catch(() => {});
      current = new URL(res.headers.get('location') as string, current).href;
      continue;
    }
    return res;
  }
  throw new PixArtError('ERR_PIXART_HUB', `${url}: too many redirects`);
}

async function hashExisting(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

function newHash(spec: FileSpec): Hash {
  if (spec.sha256) return createHash('sha256');
  const h = createHash('sha1');
  if (spec.gitSha1) h.update(`blob ${spec.size}\0`);
  return h;
}

function expectedDigest(spec: FileSpec): string | null {
  return spec.sha256 ?? spec.gitSha1 ?? null;
}

/** Parses `bytes a-b/total` into its start. */
function rangeStart(contentRange: string | null): number | null {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(contentRange?.trim() ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * Downloads spec.path into <incomplete>, resuming what is there. Returns when the file holds
 * spec.size bytes whose hash matches, or throws (the caller deletes the partial file where needed).
 */
async function transfer(ctx: TransferContext, spec: FileSpec, incomplete: string): Promise<void> {
  let have = 0;
  try {
    have = (await stat(incomplete)).size;
  } catch {
    have = 0;
  }
  if (have > spec.size) {
    await unlink(incomplete);
    have = 0;
  }
  let hash = newHash(spec);
  if (have > 0) await hashExisting(incomplete, hash);

  const restart = async () => {
    await unlink(incomplete).catch(() => {});
    have = 0;
    hash = newHash(spec);
  };
  // Progress: at the start, every 1% (at least 1 MiB) or 250 ms, and at the end.
  let lastAt = -1;
  let lastTime = 0;
  const emit = (force: boolean) => {
    if (!ctx.onProgress) return;
    const now = Date.now();
    if (force || have - lastAt >= Math.max(1 << 20, Math.floor(spec.size / 100)) || (have > lastAt && now - lastTime >= 250)) {
      lastAt = have;
      lastTime = now;
      ctx.onProgress({ file: spec.path, downloaded: have, total: spec.size });
    }
  };
  emit(true);

  let failures = 0;
  const url = ctx.urlOf(spec.path);
  // A partial file that is already whole (a crash between the last write and the rename) is
  // only verified.
  let done = have > 0 && have === spec.size;
  while (!done) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    const before = have;
    let fh: FileHandle | null = null;
    try {
      const res = await get(ctx, url, have > 0 ? `bytes=${have}-` : null);
      if (res.status === 416) {
        // Nothing past `have` on the server: our partial file is not a prefix of this file.
        void res.body?.cancel().catch(() => {});
        await restart();
        throw new TransientError(`${spec.path}: range not satisfiable, starting over`);
      }
      if (!res.ok) {
        void res.body?.cancel().catch(() => {});
        const err = new HttpStatusError(res.status, url, res.headers.get('x-error-code'), `${spec.path}: HTTP ${res.status}`);
        if (isRetryable(err)) throw new TransientError(err.message, { cause: err });
        throw err;
      }
      if (have > 0 && (res.status !== 206 || rangeStart(res.headers.get('content-range')) !== have)) {
        // The server sent the file from the start (it ignores Range) or another range.
        await restart();
        if (res.status !== 200) {
          void res.body?.cancel().catch(() => {});
          throw new TransientError(`${spec.path}: unexpected Content-Range ${res.headers.get('content-range')}`);
        }
      }
      fh = await open(incomplete, have > 0 ? 'a' : 'w');
      if (res.body) {
        const reader = res.body.getReader();
        // Read until the expected size rather than until the stream says done, and race each
        // read with the abort signal (see raceAbort).
        try {
          while (have < spec.size) {
            const { done: end, value } = await raceAbort(reader.read(), ctx.signal);
            if (end) break;
            if (!value || value.byteLength === 0) continue;
            if (have + value.byteLength > spec.size) {
              throw new PixArtError('ERR_PIXART_CHECKSUM', `${spec.path}: the server sent more than the ${spec.size} bytes the Hub lists for this file; the download was deleted`);
            }
            await ctx.hooks?.beforeWrite?.(incomplete, value.byteLength);
            await fh.write(value);
            hash.update(value);
            have += value.byteLength;
            emit(false);
          }
        } finally {
          reader.cancel().catch(() => {}); // not awaited, for the same reason
        }
      }
      if (have < spec.size) throw new TransientError(`${spec.path}: the connection closed after ${have} of ${spec.size} bytes`);
      await fh.datasync();
      done = true;
    } catch (e) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      if (e instanceof PixArtError || isAbort(e) || isDiskFull(e)) throw e;
      const cause = e instanceof TransientError && e.cause ? e.cause : e;
      if (!isRetryable(e)) throw cause;
      // A try that got bytes does not count against the budget (still bounded: each such try
      // adds bytes to a finite file).
      failures = have > before ? 0 : failures + 1;
      if (failures > ctx.retries) throw cause;
      if (failures > 0) await sleep(Math.min(ctx.retryDelayMs * 2 ** (failures - 1), 10_000), ctx.signal);
    } finally {
      if (fh) await fh.close().catch(() => {});
    }
  }
  if (lastAt !== have) emit(true);

  const want = expectedDigest(spec);
  const got = hash.digest('hex');
  if (want !== null && got !== want) {
    throw new PixArtError(
      'ERR_PIXART_CHECKSUM',
      `${spec.path}: ${spec.sha256 ? 'sha256' : 'git sha1'} ${got} does not match the Hub's ${want}; the download was deleted`,
    );
  }
}

/**
 * Makes sure blobs/<etag> holds the verified file. Safe to call from many processes or promises
 * at once: one downloads under the lock, the others wait and then find the blob.
 */
export async function ensureBlob(ctx: TransferContext, spec: FileSpec): Promise<void> {
  const { cache } = ctx;
  if ((await cache.blobSize(spec.etag)) === spec.size) return;
  await mkdir(cache.blobsDir, { recursive: true });
  const blob = cache.blob(spec.etag);
  const incomplete = `${blob}.incomplete`;
  try {
    await withFileLock(
      `${blob}.lock`,
      async () => {
        if ((await cache.blobSize(spec.etag)) === spec.size) return;
        // A blob of the wrong size (truncated by a crash of another tool) is replaced.
        await unlink(blob).catch(() => {});
        let resumed = false;
        try {
          resumed = (await stat(incomplete)).size > 0;
        } catch {
          resumed = false;
        }
        try {
          await transfer(ctx, spec, incomplete);
        } catch (e) {
          if (e instanceof PixArtError && e.code === 'ERR_PIXART_CHECKSUM' && resumed) {
            // The partial file we resumed may have come from elsewhere: one clean try.
            await unlink(incomplete).catch(() => {});
            await transfer(ctx, spec, incomplete);
          } else {
            throw e;
          }
        }
        await rename(incomplete, blob);
      },
      { signal: ctx.signal },
    );
  } catch (e) {
    const checksum = e instanceof PixArtError && e.code === 'ERR_PIXART_CHECKSUM';
    const full = isDiskFull(e);
    const reason = ctx.signal.aborted ? ctx.signal.reason : undefined;
    const abortedForDisk = reason instanceof PixArtError && reason.code === 'ERR_PIXART_DISK_FULL';
    if (checksum || full || abortedForDisk) await unlink(incomplete).catch(() => {});
    if (isAbort(e) || (ctx.signal.aborted && e === reason)) throw e;
    throw toPixArtError(e, `downloading ${spec.path}`);
  }
}
