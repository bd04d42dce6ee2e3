/**
 * SA-Solver (arXiv 2309.05019) integration weights: the stochastic Adams schemes integrate a
 * Lagrange polynomial through past model outputs against exp(-(1+tau^2) lambda)-type kernels.
 * The closed forms below are evaluated on float32 scalars in diffusers' operation order.
 */
import { expF32, f32 } from './npmath.js';

/** Coefficients of the Lagrange basis polynomials through `lambdas` (highest power first). */
export function lagrangeCoefficients(lambdas: number[]): number[][] {
  if (lambdas.length === 1) return [[1]];
  return lambdas.map((li, i) => {
    const o = lambdas.filter((_, k) => k !== i);
    let d = f32(li - o[0]);
    for (let k = 1; k < o.length; k++) d = f32(d * f32(li - o[k]));
    const row = [f32(1 / d)];
    let sum = -o[0];
    for (let k = 1; k < o.length; k++) sum = f32(sum - o[k]);
    row.push(f32(sum / d));
    if (o.length >= 2) {
      let pairs = f32(o[0] * o[1]);
      if (o.length === 3) pairs = f32(f32(pairs + f32(o[0] * o[2])) + f32(o[1] * o[2]));
      row.push(f32(pairs / d));
    }
    if (o.length === 3) row.push(f32(f32(f32(-o[0] * o[1]) * o[2]) / d));
    return row;
  });
}

const sq = (x: number) => f32(x * x);
const cube = (x: number) => f32(sq(x) * x);

/** integral of exp(-lambda) * lambda^k over [start, end], times exp(-end) bookkeeping (noise prediction). */
function expNegative(order: number, start: number, end: number): number {
  const e = expF32(f32(end - start));
  const poly = (x: number) => {
    if (order === 0) return 1;
    if (order === 1) return f32(x + 1);
    if (order === 2) return f32(f32(sq(x) + f32(2 * x)) + 2);
    return f32(f32(f32(cube(x) + f32(3 * sq(x))) + f32(6 * x)) + 6);
  };
  const inner = order === 0 ? f32(e - 1) : f32(f32(poly(start) * e) - poly(end));
  return f32(expF32(-end) * inner);
}

/** The data-prediction kernel with the (1 + tau^2) change of variable. */
function expPositive(order: number, start: number, end: number, tau: number): number {
  const T = 1 + tau * tau;
  const ec = f32(T * end);
  const sc = f32(T * start);
  const e = expF32(-f32(ec - sc));
  const poly = (x: number) => {
    if (order === 1) return f32(x - 1);
    if (order === 2) return f32(f32(sq(x) - f32(2 * x)) + 2);
    return f32(f32(f32(cube(x) - f32(3 * sq(x))) + f32(6 * x)) - 6);
  };
  const inner = order === 0 ? f32(1 - e) : f32(poly(ec) - f32(poly(sc) * e));
  return f32(f32(expF32(ec) * inner) / T ** (order + 1));
}

/** get_coefficients_fn: one weight per past model output. */
export function saCoefficients(lambdas: number[], start: number, end: number, tau: number, predictX0: boolean): number[] {
  const order = lambdas.length;
  const lag = lagrangeCoefficients(lambdas);
  return lag.map((row) => {
    let c = 0;
    for (let j = 0; j < order; j++) {
      const k = predictX0 ? expPositive(order - 1 - j, start, end, tau) : expNegative(order - 1 - j, start, end);
      c = f32(c + f32(row[j] * k));
    }
    return c;
  });
}
