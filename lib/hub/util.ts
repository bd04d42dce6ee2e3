import { PixArtError } from '../errors.js';

export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new PixArtError('ERR_PIXART_CANCELLED', 'the download was aborted');
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal as AbortSignal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `p`, or the signal's abort reason as soon as it aborts. Node 20's fetch can leave a body read
 * pending forever when the request is aborted after its last byte arrived; racing keeps an
 * abort from hanging the caller.
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** An HTTP answer worth trying again (5xx, 429, 408) or a dropped connection. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** A status code from our own requests, mapped like the library's HubApiError. */
export class HttpStatusError extends Error {
  readonly status: number;
  readonly url: string;
  readonly errorCode: string | null;
  constructor(status: number, url: string, errorCode: string | null, message: string) {
    super(message);
    this.status = status;
    this.url = url;
    this.errorCode = errorCode;
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH',
  'EHOSTUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function errnoOf(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isAbort(e: unknown): boolean {
  return (e as { name?: unknown })?.name === 'AbortError';
}

/** fetch's own failures: "fetch failed" (connect), "terminated" (body cut), socket errors. */
export function isNetworkError(e: unknown): boolean {
  if (e instanceof TransientError) return true;
  if (e instanceof PixArtError || isAbort(e)) return false;
  const code = errnoOf(e);
  if (code && NETWORK_CODES.has(code)) return true;
  return e instanceof TypeError && /fetch failed|terminated|other side closed|socket/i.test(String(e.message));
}

/** @huggingface/hub's HubApiError (checked by shape, so this module does not load the client). */
interface HubApiErrorLike extends Error {
  statusCode: number;
  url: string;
}
function isHubApiError(e: unknown): e is HubApiErrorLike {
  return e instanceof Error && typeof (e as HubApiErrorLike).statusCode === 'number' && typeof (e as HubApiErrorLike).url === 'string';
}

function statusOf(e: unknown): number | undefined {
  if (e instanceof HttpStatusError) return e.status;
  if (isHubApiError(e)) return e.statusCode;
  return undefined;
}

export function isRetryable(e: unknown): boolean {
  const s = statusOf(e);
  if (s !== undefined) return s >= 500 || s === 429 || s === 408;
  return isNetworkError(e);
}

export function isDiskFull(e: unknown): boolean {
  const code = errnoOf(e);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Maps whatever a Hub call threw to a PixArtError. `what` names the request, `errorCodes` holds
 * the Hub's X-Error-Code headers seen per URL (the library's HubApiError does not keep headers).
 */
export function toPixArtError(e: unknown, what: string, errorCodes?: Map<string, string>): unknown {
  if (e instanceof PixArtError) return e;
  if (isAbort(e)) return e;
  if (isDiskFull(e)) {
    return new PixArtError('ERR_PIXART_DISK_FULL', `${what}: no space left on the device holding the Hugging Face cache (set HF_HUB_CACHE to a bigger disk)`, { cause: e });
  }
  const status = statusOf(e);
  if (status !== undefined) {
    const url = e instanceof HttpStatusError ? e.url : (e as HubApiErrorLike).url;
    const hubCode = e instanceof HttpStatusError ? e.errorCode : (errorCodes?.get(url) ?? null);
    const detail = !(e instanceof HttpStatusError) && (e as Error).message ? ` (${(e as Error).message})` : '';
    if (status === 401 || status === 403) {
      return new PixArtError(
        'ERR_PIXART_HUB_AUTH',
        `${what}: the Hub answered ${status}${hubCode ? ` ${hubCode}` : ''}. The repository may be private or gated, ` +
          'or not exist (the Hub answers 401 for those too): set HF_TOKEN (or pass token) to an access token that can read it, ' +
          'and accept the model\'s terms on its Hub page if it is gated.' + detail,
        { cause: e },
      );
    }
    if (status === 404) {
      const kind = hubCode === 'RevisionNotFound' ? 'revision not found' : hubCode === 'EntryNotFound' ? 'file not found' : hubCode === 'RepoNotFound' ? 'repository not found' : 'not found';
      return new PixArtError('ERR_PIXART_MODEL_NOT_FOUND', `${what}: ${kind} on the Hub (404)${detail}`, { cause: e });
    }
    return new PixArtError('ERR_PIXART_HUB', `${what}: the Hub answered ${status}${detail}`, { cause: e });
  }
  if (isNetworkError(e)) {
    const code = errnoOf(e);
    return new PixArtError('ERR_PIXART_HUB', `${what}: network error${code ? ` ${code}` : ''}: ${(e as Error).message}${(e as Error).cause ? ` (${String((e as Error & { cause: unknown }).cause)})` : ''}`, { cause: e });
  }
  const code = errnoOf(e);
  if (code && /^E[A-Z]+$/.test(code)) {
    return new PixArtError('ERR_PIXART_HUB', `${what}: cannot use the Hugging Face cache: ${(e as Error).message}`, { cause: e });
  }
  return new PixArtError('ERR_PIXART_HUB', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
