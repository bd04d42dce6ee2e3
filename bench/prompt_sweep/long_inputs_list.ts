/** Pathological long prompts shared by long_inputs.ts / long_inputs.py (n = 20000). */
const n = 20000;
export const LONG_INPUTS: Record<string, string> = {
  a: 'a'.repeat(n),
  digits: '1'.repeat(n),
  dots: '.'.repeat(n),
  dashes: '-'.repeat(n),
  dot_words: 'a.'.repeat(n / 2),
  lt: '<'.repeat(n),
  lt_a: '<a '.repeat(n / 3),
  amp_hash: '&#'.repeat(n / 2),
  amp: '&'.repeat(n),
  comment_open: '<!--' + 'x'.repeat(n),
  spaces: ' '.repeat(n) + 'x' + ' '.repeat(n),
  at: '@a'.repeat(n / 2),
  hash1: '#1 '.repeat(n / 3),
  mixed_id: 'a1b2'.repeat(n / 4),
  domain: 'a-'.repeat(n / 2) + '.com',
  words: 'cat '.repeat(n / 4),
  quotes: '"\''.repeat(n / 2),
  pct: '%'.repeat(n),
  pct_hex: '%C3'.repeat(n / 3),
};
