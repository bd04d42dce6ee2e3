import { copyFile, mkdir, readFile, readdir, rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { repoFolderName } from './names.js';

/*
 * The Hugging Face cache layout, shared with Python's huggingface_hub:
 *   <cache>/models--org--name/blobs/<etag>            file bytes; etag = sha256 (LFS) or git sha1
 *   <cache>/models--org--name/snapshots/<commit>/<p>  relative symlink to ../../blobs/<etag>
 *   <cache>/models--org--name/refs/<revision>         the commit hash, no newline
 * Our own extras live beside the blobs and go away when done: <etag>.incomplete (the partial
 * download, resumable) and <etag>.lock.
 */
export class RepoCache {
  readonly root: string;
  constructor(cacheDir: string, repoId: string) {
    this.root = join(cacheDir, repoFolderName(repoId));
  }
  get blobsDir(): string {
    return join(this.root, 'blobs');
  }
  blob(etag: string): string {
    return join(this.root, 'blobs', etag);
  }
  snapshot(commit: string): string {
    return join(this.root, 'snapshots', commit);
  }
  pointer(commit: string, repoPath: string): string {
    return join(this.root, 'snapshots', commit, ...repoPath.split('/'));
  }
  ref(revision: string): string {
    return join(this.root, 'refs', ...revision.split('/'));
  }

  async readRef(revision: string): Promise<string | null> {
    try {
      const v = (await readFile(this.ref(revision), 'utf8')).trim();
      return /^[0-9a-f]{40}$/.test(v) ? v : null;
    } catch {
      return null;
    }
  }

  /** Writes refs/<revision> atomically (temp file + rename), only when it changes. */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit || (await this.readRef(revision)) === commit) return;
    const path = this.ref(revision);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, commit);
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /**
   * Points snapshots/<commit>/<repoPath> at blobs/<etag> with a relative symlink (made under a
   * temporary name, then renamed over, so readers never see a missing or half link). Where
   * symlinks are not allowed (Windows without developer mode), the blob is copied, as Python does.
   */
  async link(commit: string, repoPath: string, etag: string): Promise<void> {
    const dst = this.pointer(commit, repoPath);
    const src = this.blob(etag);
    await mkdir(dirname(dst), { recursive: true });
    const target = relative(dirname(dst), src);
    const tmp = `${dst}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await symlink(target, tmp);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EINVAL') throw e;
      await copyFile(src, tmp);
    }
    try {
      await rename(tmp, dst);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /** Size of blobs/<etag>, or -1 when it is not there. */
  async blobSize(etag: string): Promise<number> {
    try {
      const st = await stat(this.blob(etag));
      return st.isFile() ? st.size : -1;
    } catch {
      return -1;
    }
  }

  /**
   * Repo-relative paths in a snapshot, two folder levels deep at most (diffusers layouts are
   * flat: model_index.json and <component>/<file>): `files` whose blob is there, and `dangling`
   * links whose blob is gone (a file the snapshot needs but no longer has).
   */
  async listSnapshot(commit: string): Promise<{ files: Set<string>; dangling: Set<string> }> {
    const root = this.snapshot(commit);
    const files = new Set<string>();
    const dangling = new Set<string>();
    const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (name.endsWith('.tmp')) continue;
        const full = join(dir, name);
        let st;
        try {
          st = await stat(full); // follows the link
        } catch {
          dangling.add(prefix + name);
          continue;
        }
        if (st.isFile()) files.add(prefix + name);
        else if (st.isDirectory() && depth < 2) await walk(full, `${prefix}${name}/`, depth + 1);
      }
    };
    await walk(root, '', 0);
    return { files, dangling };
  }
}
