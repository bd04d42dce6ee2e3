/**
 * Helpers for checking the arguments of public functions called from plain JavaScript, where
 * the TypeScript types are not enforced: a value of any type is described safely in a message
 * (symbols and bigints cannot go through a template string or JSON.stringify), and an options
 * object left out is {} while null, a number or an array is an error that names the argument.
 */
import { PixArtError } from '../errors.js';

/** A short, never-throwing description of any value for an error message. */
export function show(v: unknown): string {
  switch (typeof v) {
    case 'string': return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
    case 'bigint': return `${v.toString()}n`;
    case 'symbol': return v.toString();
    case 'function': return 'a function';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return `an array of ${v.length}`;
      if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
      return 'an object';
    default: return String(v);
  }
}

/** An options argument: undefined is {}, anything but a plain object is ERR_PIXART_INVALID_ARGUMENT. */
export function optionsArg<T extends object>(what: string, v: T | undefined): T {
  if (v === undefined) return {} as T;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `${what} must be an options object, got ${show(v)}`);
  }
  return v;
}

/** A string argument (a path, a name). */
export function stringArg(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `${what} must be a non-empty string, got ${show(v)}`);
  }
  return v;
}
