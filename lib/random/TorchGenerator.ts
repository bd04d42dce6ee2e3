/**
 * A re-implementation of PyTorch's CPU random generator (`torch.Generator()` on CPU, i.e.
 * at::CPUGeneratorImpl with its mt19937 engine) and of `torch.randn(shape, generator=g)` for
 * float32 CPU tensors.
 *
 * torch samples normals in two different ways, and both are reproduced here:
 *
 * - fewer than 16 elements: one Box-Muller pair per two elements in double precision from two
 *   53-bit uniforms, the second value of a pair being cached in the generator for the next
 *   element (and the next call). Exact.
 * - 16 elements or more (contiguous float32): all uniforms (24-bit) first, then Box-Muller in
 *   blocks of 16 (element j pairs with j+8), and when the size is not a multiple of 16 the last
 *   16 elements are redrawn from 16 fresh uniforms and transformed again. torch's AVX2 kernel
 *   (the one x86-64 machines with AVX2 use) evaluates log/sin/cos with the float32 Cephes
 *   polynomials of avx_mathfun.h, compiled with fused multiply-adds; this file emulates that
 *   arithmetic operation by operation in float32 and matches it bit for bit. The non-AVX2
 *   ("default") kernel uses libm logf/cosf/sinf instead and differs from the AVX2 kernel by a
 *   float32 ulp or two on a few percent of elements.
 */
import { PixArtError } from '../errors.js';
import { fmaf } from '../util/float32.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;

const TWO_POW_64 = 1n << 64n;
const MIN_SIGNED_64 = -(1n << 63n);

/** A plain, JSON-serialisable snapshot of a {@link TorchGenerator}. */
export interface TorchGeneratorState {
  /** The seed last given to manualSeed (uint64, as a decimal string). */
  seed: string;
  /** mt19937 bookkeeping, as in torch's mt19937_data_pod. */
  left: number;
  next: number;
  /** The 624 words of mt19937 state (uint32). */
  state: number[];
  /** The cached second value of the last double-precision Box-Muller pair, if any. */
  nextDoubleNormal: number | null;
}

function invalid(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INVALID_ARGUMENT', message);
}

/**
 * Normalises a seed as torch's `Generator.manual_seed` does: integers in [0, 2^64) are used as
 * they are, negative integers down to -2^63 are reinterpreted as their two's complement uint64.
 */
export function normalizeSeed(seed: number | bigint): bigint {
  let s: bigint;
  if (typeof seed === 'bigint') {
    s = seed;
  } else if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw invalid(`seed must be an integer (use a bigint beyond 2^53), got ${seed}`);
    }
    s = BigInt(seed);
  } else {
    throw invalid(`seed must be a number or bigint, got ${typeof seed}`);
  }
  if (s < MIN_SIGNED_64 || s >= TWO_POW_64) {
    throw invalid(`seed ${s} is out of range: torch accepts integers in [-2^63, 2^64)`);
  }
  return s < 0n ? s + TWO_POW_64 : s;
}

function validateShape(shape: readonly number[]): number {
  if (!Array.isArray(shape)) throw invalid('shape must be an array of non-negative integers');
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalid(`shape must contain non-negative integers, got [${shape.join(', ')}]`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n) || n > 0x7fffffff) {
    throw invalid(`shape [${shape.join(', ')}] has too many elements`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// float32 arithmetic helpers

const fr = Math.fround;
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);


// Constants of avx_mathfun.h (Cephes single precision), as float32.
const SQRTHF = fr(0.707106781186547524);
const LOG_P0 = fr(7.0376836292e-2);
const LOG_P1 = fr(-1.1514610310e-1);
const LOG_P2 = fr(1.1676998740e-1);
const LOG_P3 = fr(-1.2420140846e-1);
const LOG_P4 = fr(1.4249322787e-1);
const LOG_P5 = fr(-1.6668057665e-1);
const LOG_P6 = fr(2.0000714765e-1);
const LOG_P7 = fr(-2.4999993993e-1);
const LOG_P8 = fr(3.3333331174e-1);
const LOG_Q1 = fr(-2.12194440e-4);
const LOG_Q2 = fr(0.693359375);
const MINUS_DP1 = fr(-0.78515625);
const MINUS_DP2 = fr(-2.4187564849853515625e-4);
const MINUS_DP3 = fr(-3.77489497744594108e-8);
const SIN_P0 = fr(-1.9515295891e-4);
const SIN_P1 = fr(8.3321608736e-3);
const SIN_P2 = fr(-1.6666654611e-1);
const COS_P0 = fr(2.443315711809948e-5);
const COS_P1 = fr(-1.388731625493765e-3);
const COS_P2 = fr(4.166664568298827e-2);
const FOUR_OVER_PI = fr(1.27323954473516);
const TWO_PI_F32 = fr(2 * Math.PI);

/** log256_ps of avx_mathfun.h for one lane, x > 0 (normal), with GCC's FMA contractions. */
function logAvx(v: number): number {
  f32Scratch[0] = v;
  const bits = u32Scratch[0];
  let e = fr((bits >>> 23) - 127 + 1);
  u32Scratch[0] = (bits & ~0x7f800000) | 0x3f000000; // mantissa in [0.5, 1)
  let x = f32Scratch[0];
  if (x < SQRTHF) {
    e = fr(e - 1);
    x = fr(fr(x - 1) + x);
  } else {
    x = fr(x - 1);
  }
  const z = fr(x * x);
  let y = fmaf(LOG_P0, x, LOG_P1);
  y = fmaf(y, x, LOG_P2);
  y = fmaf(y, x, LOG_P3);
  y = fmaf(y, x, LOG_P4);
  y = fmaf(y, x, LOG_P5);
  y = fmaf(y, x, LOG_P6);
  y = fmaf(y, x, LOG_P7);
  y = fmaf(y, x, LOG_P8);
  y = fr(y * x);
  y = fmaf(y, z, fr(e * LOG_Q1));
  y = fr(y - z * 0.5); // z*0.5 is exact
  x = fr(x + y);
  return fmaf(e, LOG_Q2, x);
}

let sinOut = 0;
let cosOut = 0;

/** sincos256_ps of avx_mathfun.h for one lane, x >= 0 (< 8192), with GCC's FMA contractions. */
function sincosAvx(xIn: number): void {
  let x = xIn;
  let j = Math.trunc(fr(x * FOUR_OVER_PI));
  j = (j + 1) & ~1;
  const y = j;
  const sinNeg = (j & 4) !== 0;
  const cosNeg = ((j - 2) & 4) === 0;
  const sinPoly = (j & 2) === 0;
  x = fmaf(y, MINUS_DP1, x);
  x = fmaf(y, MINUS_DP2, x);
  x = fmaf(y, MINUS_DP3, x);
  const z = fr(x * x);
  let c = fmaf(COS_P0, z, COS_P1);
  c = fmaf(c, z, COS_P2);
  c = fr(c * z);
  c = fmaf(c, z, -(z * 0.5));
  c = fr(c + 1);
  let s = fmaf(SIN_P0, z, SIN_P1);
  s = fmaf(s, z, SIN_P2);
  s = fr(s * z);
  s = fmaf(s, x, x);
  let sv = sinPoly ? s : c;
  let cv = sinPoly ? c : s;
  // The kernel adds +0 to the selected lane, which turns -0 into +0.
  sv += 0;
  cv += 0;
  sinOut = sinNeg ? -sv : sv;
  cosOut = cosNeg ? -cv : cv;
}

/** normal_fill_16_AVX2 with mean 0, std 1: Box-Muller on data[o..o+16) (uniforms in place). */
function normalFill16Avx2(data: Float32Array, o: number): void {
  for (let k = 0; k < 8; k++) {
    const u1 = fr(1 - data[o + k]);
    const u2 = data[o + k + 8];
    const radius = fr(Math.sqrt(fr(-2 * logAvx(u1))));
    sincosAvx(fr(TWO_PI_F32 * u2));
    // fmadd(n, std=1, mean=0)
    data[o + k] = fr(radius * cosOut) + 0;
    data[o + k + 8] = fr(radius * sinOut) + 0;
  }
}

// ---------------------------------------------------------------------------------------------

/** torch's CPU generator: mt19937 plus the cached Box-Muller value of the double sampler. */
export class TorchGenerator {
  private seed_: bigint = 0n;
  private readonly mt = new Uint32Array(N);
  private left = 1;
  private next = 0;
  private nextDoubleNormal: number | null = null;

  constructor(seed: number | bigint = 67280421310721n) {
    // torch.Generator() starts from default_rng_seed_val = 67280421310721.
    this.manualSeed(seed);
  }

  /** torch.Generator.manual_seed: reseeds the engine and drops the cached normal value. */
  manualSeed(seed: number | bigint): this {
    const s = normalizeSeed(seed);
    this.seed_ = s;
    const mt = this.mt;
    let x = Number(s & 0xffffffffn) >>> 0;
    mt[0] = x;
    for (let j = 1; j < N; j++) {
      x = (Math.imul(1812433253, x ^ (x >>> 30)) + j) >>> 0;
      mt[j] = x;
    }
    this.left = 1;
    this.next = 0;
    this.nextDoubleNormal = null;
    return this;
  }

  /** torch.Generator.initial_seed(): the uint64 seed last set. */
  get initialSeed(): bigint {
    return this.seed_;
  }

  private twist(): void {
    const mt = this.mt;
    let k = 0;
    for (; k < N - M; k++) {
      const y = (mt[k] & UPPER) | (mt[k + 1] & LOWER);
      mt[k] = mt[k + M] ^ (y >>> 1) ^ (mt[k + 1] & 1 ? MATRIX_A : 0);
    }
    for (; k < N - 1; k++) {
      const y = (mt[k] & UPPER) | (mt[k + 1] & LOWER);
      mt[k] = mt[k + M - N] ^ (y >>> 1) ^ (mt[k + 1] & 1 ? MATRIX_A : 0);
    }
    const y = (mt[N - 1] & UPPER) | (mt[0] & LOWER);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (mt[0] & 1 ? MATRIX_A : 0);
    this.left = N;
    this.next = 0;
  }

  /** The next 32-bit output of the engine (CPUGeneratorImpl::random). */
  nextUint32(): number {
    if (--this.left === 0) this.twist();
    let y = this.mt[this.next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** uniform_real_distribution<float>(0, 1): 24 random bits times 2^-24. */
  private uniformFloat(): number {
    return (this.nextUint32() & 0xffffff) * 5.9604644775390625e-8;
  }

  /** uniform_real_distribution<double>(0, 1): the low 53 bits of random64() times 2^-53. */
  private uniformDouble(): number {
    const hi = this.nextUint32();
    const lo = this.nextUint32();
    return ((hi & 0x1fffff) * 4294967296 + lo) * 1.1102230246251565e-16;
  }

  /** at::normal_distribution<double>(0, 1) with the generator's cached second value. */
  private normalDouble(): number {
    const cached = this.nextDoubleNormal;
    if (cached !== null) {
      this.nextDoubleNormal = null;
      return cached * 1 + 0;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta) * 1 + 0;
  }

  /** torch.randn(shape, generator=this) on CPU in float32 (row-major data). */
  randn(shape: readonly number[]): Float32Array {
    const n = validateShape(shape);
    const out = new Float32Array(n);
    this.fillRandn(out);
    return out;
  }

  /** Fills `out` as torch.randn(out.length) would (contiguous float32). */
  fillRandn(out: Float32Array): Float32Array {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16Avx2(out, i);
    if (n % 16 !== 0) {
      const o = n - 16;
      for (let i = 0; i < 16; i++) out[o + i] = this.uniformFloat();
      normalFill16Avx2(out, o);
    }
    return out;
  }

  /** A plain, JSON-serialisable copy of the generator state (torch's get_state, as an object). */
  getState(): TorchGeneratorState {
    return {
      seed: this.seed_.toString(),
      left: this.left,
      next: this.next,
      state: Array.from(this.mt),
      nextDoubleNormal: this.nextDoubleNormal,
    };
  }

  /** Restores a state produced by {@link getState}. */
  setState(state: TorchGeneratorState): this {
    if (state === null || typeof state !== 'object') throw invalid('generator state must be an object');
    const { seed, left, next, state: words, nextDoubleNormal } = state;
    let s: bigint;
    try {
      s = BigInt(seed);
    } catch (cause) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `generator state has an invalid seed ${String(seed)}`, { cause });
    }
    if (typeof seed !== 'string' || s < 0n || s >= TWO_POW_64) {
      throw invalid(`generator state has an invalid seed ${String(seed)}`);
    }
    if (!Number.isInteger(left) || left < 1 || left > N || !Number.isInteger(next) || next < 0 || next > N) {
      throw invalid('generator state has invalid mt19937 counters');
    }
    if (!Array.isArray(words) || words.length !== N
      || !words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw invalid(`generator state must hold ${N} uint32 words`);
    }
    if (nextDoubleNormal !== null && typeof nextDoubleNormal !== 'number') {
      throw invalid('generator state nextDoubleNormal must be a number or null');
    }
    this.seed_ = s;
    this.left = left;
    this.next = next;
    this.mt.set(words);
    this.nextDoubleNormal = nextDoubleNormal;
    return this;
  }

  /** An independent generator with the same state (torch's clone_state). */
  clone(): TorchGenerator {
    return new TorchGenerator(0).setState(this.getState());
  }
}
