import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { abortError, sleep } from './util.js';

/*
 * A lock file per blob (blobs/<etag>.lock), created with O_EXCL so exactly one downloader
 * (process or promise) writes blobs/<etag>.incomplete at a time. The file holds the owner's pid
 * and host; the owner refreshes its mtime while it works. A lock is stale when its owner is a dead
 * process on this host, or when its mtime has not moved for `staleMs` (a crashed owner on another
 * host, or a lock file from another tool). Stale locks are renamed away (atomic) and removed.
 *
 * If a lock is ever broken (two writers on one .incomplete, e.g. on a filesystem without working
 * O_EXCL), the sha256 check before the final rename still keeps a bad blob out of the cache.
 *
 * Written here rather than with `proper-lockfile`: that package (mkdir locks, last release 2021)
 * has the same mtime/stale design; the few lines below add pid liveness for same-host owners,
 * which makes a crashed download's lock go away at once instead of after the stale period.
 */

export interface LockOptions {
  /** A lock whose mtime is older than this is stale (ms). */
  staleMs?: number;
  /** First wait between tries (ms); grows to 1 s. */
  pollMs?: number;
  signal?: AbortSignal;
}

const HOST = hostname();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  let st;
  try {
    st = await stat(lockPath);
  } catch {
    return false; // gone: just try again
  }
  try {
    const owner = JSON.parse(await readFile(lockPath, 'utf8')) as { pid?: unknown; host?: unknown };
    if (owner.host === HOST && typeof owner.pid === 'number' && Number.isInteger(owner.pid) && owner.pid > 0) {
      if (!pidAlive(owner.pid)) return true;
    }
  } catch {
    // Not ours, or being written right now: judge by age alone.
  }
  return Date.now() - st.mtimeMs > staleMs;
}

async function removeStale(lockPath: string): Promise<void> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else removed it first
  }
  await unlink(aside).catch(() => {});
}

/** Runs `fn` holding the lock file `lockPath`; waits (polling) while another owner holds it. */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  let wait = options.pollMs ?? 50;
  for (;;) {
    if (options.signal?.aborted) throw abortError(options.signal);
    let handle;
    try {
      handle = await open(lockPath, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await isStale(lockPath, staleMs)) {
        await removeStale(lockPath);
        continue;
      }
      await sleep(wait, options.signal);
      wait = Math.min(wait * 2, 1000);
      continue;
    }
    try {
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: HOST, since: new Date().toISOString() }));
    } catch (e) {
      await handle.close().catch(() => {});
      await unlink(lockPath).catch(() => {});
      throw e;
    }
    await handle.close();
    const beat = setInterval(() => {
      const now = new Date();
      utimes(lockPath, now, now).catch(() => {});
    }, Math.max(250, Math.floor(staleMs / 4)));
    beat.unref();
    try {
      return await fn();
    } finally {
      clearInterval(beat);
      await unlink(lockPath).catch(() => {});
    }
  }
}
