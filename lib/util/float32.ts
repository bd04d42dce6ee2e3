const fr = Math.fround;

/**
 * fma(a, b, c) for float32 a, b, c, rounded once to float32, as the fused multiply-adds in
 * torch's compiled kernels do. a*b is exact in double; the sum is rounded to double first,
 * which can only mislead the final rounding when it lands exactly on a float32 midpoint, so
 * that case is resolved from the exact rounding error of the sum.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = fr(s);
  if (r === s) return r;
  const bv = s - p;
  const err = (p - (s - bv)) + (c - bv);
  if (err === 0) return r;
  const d = s - r;
  const other = r + 2 * d;
  if (fr(other) !== other) return r; // s was not a midpoint: r is correctly rounded
  return (err > 0) === (d > 0) ? other : r;
}
