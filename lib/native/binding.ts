import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PixArtError } from '../errors.js';
import type { NativeAddon } from './AddonTypes.js';

const require = createRequire(import.meta.url);
/** Package root: lib/native -> dist/native at run time; both are two levels below it. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: NativeAddon | undefined;

/**
 * Loads the native addon: a prebuilt binary from prebuilds/ when one matches this platform,
 * else a local build (build/Release). Every failure is collected into one message that says
 * what to do.
 */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const errors: string[] = [];
  // A local CMake build (npm run compile:native) wins in a development checkout.
  const dev = join(PACKAGE_ROOT, 'build-cmake', 'Release', 'pixart.node');
  if (existsSync(dev)) {
    try {
      cached = require(dev) as NativeAddon;
      return cached;
    } catch (e) {
      errors.push(`${dev}: ${(e as Error).message}`);
    }
  }
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    cached = nodeGypBuild(PACKAGE_ROOT) as NativeAddon;
  } catch (e) {
    errors.push(`node-gyp-build: ${(e as Error).message}`);
  }
  if (!cached) {
    throw new PixArtError(
      'ERR_PIXART_NATIVE_LOAD',
      `could not load the pixart-node native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}).\n` +
        errors.map((m) => `  - ${m}`).join('\n') +
        '\nReinstall the package, or build from source with `npm run build:native` (needs cmake, a C++17 compiler and libopenblas-dev).',
    );
  }
  return cached;
}

/**
 * Native errors arrive as Error with `.code`; re-create them as PixArtError with the JS
 * caller's stack attached (the native stack is empty).
 */
export function nativeError(e: unknown, context?: string): PixArtError {
  if (e instanceof PixArtError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : 'ERR_PIXART_INTERNAL';
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return new PixArtError(code, context ? `${context}: ${message}` : message, { cause: e });
}

/** Awaits a native promise, rethrowing failures as PixArtError with this call site's stack. */
export async function callNative<T>(p: () => Promise<T>, context?: string): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw nativeError(e, context);
  }
}

/** Where the native addon is (or would be) loaded from: a local build or a prebuilt binary. */
export function nativeAddonPath(): string {
  const dev = join(PACKAGE_ROOT, 'build-cmake', 'Release', 'pixart.node');
  if (existsSync(dev)) return dev;
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  return nodeGypBuild.path(PACKAGE_ROOT);
}
