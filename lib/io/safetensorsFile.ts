import { readFileSync } from 'node:fs';

/** A tensor read wholly into JS memory: small files only (fixtures, references, tokenizer data). */
export interface HostTensor {
  dtype: 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'F64';
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, F64: 8 };

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Reads a whole .safetensors file into memory. The engine has its own memory-mapped reader
 * (native/core/safetensors.cpp); this one serves tests and small JS-side data.
 * F16/BF16 are widened to Float32Array.
 */
export function readSafetensorsFile(path: string): Map<string, HostTensor> {
  const buf = readFileSync(path);
  if (buf.length < 8) throw new Error(`${path}: file too short for a safetensors header`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw new Error(`${path}: header length ${n} exceeds file size`);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  const base = 8 + n;
  const out = new Map<string, HostTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = info.dtype as HostTensor['dtype'];
    const [b, e] = info.data_offsets as [number, number];
    const bytes = buf.subarray(base + b, base + e);
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    const ab = copy.buffer;
    let data: HostTensor['data'];
    switch (dtype) {
      case 'F32': data = new Float32Array(ab); break;
      case 'F64': data = new Float64Array(ab); break;
      case 'I64': data = new BigInt64Array(ab); break;
      case 'I32': data = new Int32Array(ab); break;
      case 'U8': data = copy; break;
      case 'F16': {
        const u = new Uint16Array(ab);
        data = Float32Array.from(u, halfToFloat);
        break;
      }
      case 'BF16': {
        const u = new Uint16Array(ab);
        const f = new Float32Array(u.length);
        const u32 = new Uint32Array(f.buffer);
        for (let i = 0; i < u.length; i++) u32[i] = u[i] << 16;
        data = f;
        break;
      }
      default: throw new Error(`${path}: tensor ${name} has unsupported dtype ${dtype}`);
    }
    if (BYTES[dtype] === undefined) throw new Error(`${path}: unknown dtype ${dtype}`);
    out.set(name, { dtype, shape: info.shape as number[], data });
  }
  return out;
}
