import { PixArtError } from '../errors.js';

/**
 * A Hub model id: `name` or `org/name`, each part of `[A-Za-z0-9._-]`, starting and ending with a
 * letter, digit or `_`, the name at most 96 characters, no `--` or `..`, not ending in `.git`.
 * These are huggingface_hub's `validate_repo_id` rules, so an id accepted here maps to the same
 * cache folder (`models--org--name`) that Python uses.
 */
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;

export function isRepoId(s: unknown): s is string {
  if (typeof s !== 'string' || s.length === 0) return false;
  const parts = s.split('/');
  if (parts.length > 2) return false;
  if (!parts.every((p) => PART.test(p))) return false;
  if (parts[parts.length - 1].length > 96 || parts[0].length > 96) return false;
  if (s.includes('--') || s.includes('..') || s.endsWith('.git')) return false;
  return true;
}

export function checkRepoId(s: string): void {
  if (!isRepoId(s)) {
    throw new PixArtError(
      'ERR_PIXART_INVALID_ARGUMENT',
      `${JSON.stringify(s)} is neither an existing local folder nor a valid Hugging Face Hub model id ` +
        "(expected 'name' or 'org/name' using letters, digits, '.', '_' and '-', not starting or ending " +
        "with '.' or '-', without '--' or '..', name at most 96 characters)",
    );
  }
}

/** The cache folder name Python's huggingface_hub uses: models--org--name. */
export function repoFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/**
 * A branch, tag or commit. Refs may hold `/` (`refs/pr/1`, `v1/beta`); they become nested files
 * under refs/ as in Python, so anything that could leave that folder is refused.
 */
export function checkRevision(revision: string): void {
  const bad =
    typeof revision !== 'string' ||
    revision.length === 0 ||
    revision.length > 255 ||
    /[\\\0:*?"<>|\s]/.test(revision) ||
    revision.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
  if (bad) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `invalid revision ${JSON.stringify(revision)}: expected a branch, tag or commit hash`);
}

/** A component folder name as in model_index.json (text_encoder, vae, ...). */
export function checkComponentName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `invalid component name ${JSON.stringify(name)}: expected a folder name such as 'vae' or 'text_encoder'`);
  }
}

/**
 * True when `rel` is a relative path that stays inside its folder: no absolute or drive paths, no
 * backslashes, no empty, `.` or `..` segments.
 */
export function isSafeRelativePath(rel: unknown): rel is string {
  if (typeof rel !== 'string' || rel.length === 0 || rel.length > 1024) return false;
  if (rel.includes('\\') || rel.includes('\0') || rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return false;
  return rel.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** A blob name (etag) safe to use as a file name. */
export function isSafeBlobName(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(name) && !name.includes('..');
}
