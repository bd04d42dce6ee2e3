/**
 * Turning a diffusers scheduler_config.json object into a scheduler's resolved init arguments,
 * following diffusers' `ConfigMixin.extract_init_dict`: keys the class does not take are
 * ignored (configs are routinely shared between scheduler classes), `_`-prefixed bookkeeping
 * keys are dropped, and keys listed in `_use_default_values` fall back to the class default.
 * Values are validated here so that errors surface at construction, not mid-denoising.
 */
import { PixArtError } from '../errors.js';
import type { SchedulerConfig } from './types.js';
import { show } from '../util/args.js';

export type Check = (value: unknown, key: string, cls: string) => unknown;

export interface OptionSpec {
  def: unknown;
  check: Check;
}

export type ConfigSpec = Record<string, OptionSpec>;

export function invalid(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INVALID_ARGUMENT', message);
}

export function unsupported(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_UNSUPPORTED', message);
}

/** The largest integer option a scheduler config may hold (steps, offsets, orders). */
export const MAX_CONFIG_INT = 100_000;

/** Builders for the value checks used by the per-class specs. */
export const opt = {
  /**
   * An integer in [min, max]. The upper bound keeps a config from asking for tables the
   * process cannot hold (num_train_timesteps 1e9 would be gigabytes of betas); diffusers' real
   * configs stay far below it.
   */
  int(def: number, min = 0, max = MAX_CONFIG_INT): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
          throw invalid(`${c}: ${k} must be an integer between ${min} and ${max}, got ${show(v)}`);
        }
        return v;
      },
    };
  },
  num(def: number | null, nullable = false): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        if (v === null && nullable) return null;
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw invalid(`${c}: ${k} must be a finite number, got ${show(v)}`);
        }
        return v;
      },
    };
  },
  /** A float that may be +-Infinity; the JSON spelling "-Infinity" is accepted too. */
  extendedNum(def: number): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        if (v === '-Infinity') return -Infinity;
        if (v === 'Infinity') return Infinity;
        if (typeof v !== 'number' || Number.isNaN(v)) {
          throw invalid(`${c}: ${k} must be a number, got ${show(v)}`);
        }
        return v;
      },
    };
  },
  bool(def: boolean): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        // diffusers types some flags `bool | None`; None behaves as False.
        if (v === null) return false;
        if (typeof v !== 'boolean') throw invalid(`${c}: ${k} must be a boolean, got ${show(v)}`);
        return v;
      },
    };
  },
  oneOf<T>(def: T, values: readonly T[]): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        if (!values.includes(v as T)) {
          throw invalid(`${c}: ${k} must be one of ${values.map(show).join(', ')}, got ${show(v)}`);
        }
        return v;
      },
    };
  },
  /** An option diffusers has but this port implements only at the listed values. */
  limited<T>(def: T, supported: readonly T[], why: string): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        if (!supported.includes(v as T)) throw unsupported(`${c}: ${k}=${show(v)} is not supported (${why})`);
        return v;
      },
    };
  },
  betas(): OptionSpec {
    return {
      def: null,
      check: (v, k, c) => {
        if (v === null) return null;
        if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
          throw invalid(`${c}: ${k} must be null or a non-empty array of numbers`);
        }
        return [...v];
      },
    };
  },
  intList(def: number[]): OptionSpec {
    return {
      def,
      check: (v, k, c) => {
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x))) {
          throw invalid(`${c}: ${k} must be an array of integers`);
        }
        return [...v];
      },
    };
  },
};

/** Options every diffusers noise-schedule scheduler takes. */
export function betaOptions(defaults: { beta_start: number; beta_end: number; beta_schedule: string }, extraSchedules: string[] = []): ConfigSpec {
  return {
    num_train_timesteps: opt.int(1000, 1),
    beta_start: opt.num(defaults.beta_start),
    beta_end: opt.num(defaults.beta_end),
    beta_schedule: opt.oneOf(defaults.beta_schedule, ['linear', 'scaled_linear', 'squaredcos_cap_v2', ...extraSchedules]),
    trained_betas: opt.betas(),
  };
}

export const SPACINGS = ['linspace', 'leading', 'trailing'] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Resolves `source` (a scheduler_config.json object) plus `overrides` against a class spec.
 * Unknown keys in `source` are ignored like diffusers does; unknown keys in `overrides` are an
 * error, since they can only be a caller's mistake.
 */
export function resolveConfig(cls: string, spec: ConfigSpec, source: unknown, overrides?: unknown): SchedulerConfig {
  if (!isPlainObject(source)) throw invalid(`${cls}.fromConfig: config must be an object`);
  if (overrides !== undefined && !isPlainObject(overrides)) throw invalid(`${cls}: options (fromConfig overrides) must be an object`);
  const usedDefaults = Array.isArray(source._use_default_values) ? new Set(source._use_default_values) : new Set();
  const out: SchedulerConfig = {};
  for (const [key, s] of Object.entries(spec)) out[key] = s.def;
  for (const [key, value] of Object.entries(source)) {
    if (key.startsWith('_') || usedDefaults.has(key) || !(key in spec)) continue;
    out[key] = value;
  }
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (!(key in spec)) throw invalid(`${cls}: unknown option ${JSON.stringify(key)}`);
    out[key] = value;
  }
  for (const [key, s] of Object.entries(spec)) out[key] = s.check(out[key], key, cls);
  return out;
}

/** diffusers allows at most one of the alternative sigma spacings. */
export function checkOneSigmaSpacing(cls: string, cfg: SchedulerConfig): void {
  const on = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'].filter((k) => cfg[k] === true);
  if (on.length > 1) throw invalid(`${cls}: only one of ${on.join(', ')} can be used`);
}

/** Options that exist only for flow-matching models; PixArt-alpha is not one. */
export const FLOW_OPTIONS: ConfigSpec = {
  use_flow_sigmas: opt.limited(false, [false, null], 'flow-matching sigmas are not implemented'),
  flow_shift: opt.num(1.0),
};

export const DYNAMIC_SHIFT_OPTIONS: ConfigSpec = {
  use_dynamic_shifting: opt.limited(false, [false, null], 'dynamic shifting is a flow-matching feature'),
  time_shift_type: opt.oneOf('exponential', ['exponential']),
};

export const VARIANCE_TYPE = opt.limited<string | null>(null, [null], 'learned-variance channels must be dropped before step(), as the PixArt pipeline does');

/** prediction_type: the listed kinds work; flow matching is recognised but not implemented. */
export function predictionType(def: string, supported: readonly string[]): OptionSpec {
  return {
    def,
    check: (v, k, c) => {
      if (v === 'flow_prediction') throw unsupported(`${c}: ${k}="flow_prediction" is not supported (flow-matching models only)`);
      if (!supported.includes(v as string)) {
        throw invalid(`${c}: ${k} must be one of ${supported.map(show).join(', ')}, got ${show(v)}`);
      }
      return v;
    },
  };
}
