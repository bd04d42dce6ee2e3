import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { PixArtError } from '../errors.js';

export type Env = Record<string, string | undefined>;

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** huggingface_hub's truthy values for boolean environment variables. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

function expandUser(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (as Python). */
export function hfHome(env: Env): string {
  const home = nonEmpty(env.HF_HOME);
  if (home) return resolve(expandUser(home));
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return resolve(expandUser(xdg ?? join(homedir(), '.cache')), 'huggingface');
}

/** options.cacheDir, else $HF_HUB_CACHE, else legacy $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub. */
export function hubCacheDir(env: Env, cacheDir?: string): string {
  const explicit = nonEmpty(cacheDir) ?? nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  if (explicit) return resolve(expandUser(explicit));
  return join(hfHome(env), 'hub');
}

/** options.endpoint, else $HF_ENDPOINT, else https://huggingface.co; no trailing slash. */
export function hubEndpoint(env: Env, endpoint?: string): string {
  const raw = (nonEmpty(endpoint) ?? nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).trim().replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `invalid Hub endpoint ${JSON.stringify(raw)}: expected an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `invalid Hub endpoint ${JSON.stringify(raw)}: expected an http(s) URL`);
  }
  return raw;
}

/**
 * options.token, else $HF_TOKEN (or the legacy $HUGGING_FACE_HUB_TOKEN), else the token file that
 * `hf auth login` writes ($HF_TOKEN_PATH or $HF_HOME/token). Python's order.
 */
export function hubToken(env: Env, token?: string): string | undefined {
  const t = nonEmpty(token) ?? nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (t) return t.trim();
  if (isTrue(env.HF_HUB_DISABLE_IMPLICIT_TOKEN)) return undefined;
  const path = nonEmpty(env.HF_TOKEN_PATH) ? expandUser(env.HF_TOKEN_PATH as string) : join(hfHome(env), 'token');
  try {
    const fromFile = readFileSync(isAbsolute(path) ? path : resolve(path), 'utf8').trim();
    return fromFile || undefined;
  } catch {
    return undefined;
  }
}

/** options.offline, else $HF_HUB_OFFLINE (or $TRANSFORMERS_OFFLINE, as Python). */
export function hubOffline(env: Env, offline?: boolean): boolean {
  if (offline !== undefined) return offline;
  return isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE);
}
