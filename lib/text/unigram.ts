/**
 * The Unigram model of Hugging Face `tokenizers` (models/unigram/model.rs,
 * `encode_optimized`), as transformers 5 runs it for T5. Written from the behaviour of
 * that library: a Viterbi search over the pieces of the vocabulary.
 *
 * - Scores are float64 sums of the (float32) piece scores.
 * - Start positions are visited left to right, code point by code point; at each position
 *   the vocabulary pieces that prefix the rest of the word are tried shortest first, and a
 *   candidate replaces the best path ending at the same position only when its score is
 *   strictly higher. So on a tie the path found first wins, which puts the longer piece
 *   last: "????" -> "?" + "???" when both splits score the same.
 * - Every piece of the vocabulary can match, control pieces and `<extra_id_N>` included.
 * - A code point that starts no single-code-point piece gets an unknown node scored
 *   `min(score) - 10`. Consecutive unknown nodes (the `<unk>` piece included) are fused:
 *   their text is looked up as a whole, and is the unknown id unless it is a piece.
 */

const K_UNK_PENALTY = 10;

/** Hash of the trie edge (node, code unit). */
function edgeHash(node: number, c: number): number {
  let h = Math.imul(node, 0x9e3779b1) ^ c;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca77);
  return h ^ (h >>> 13);
}

/** Entry layout of the edge table: parent node, code unit, child node, piece id of the child (or -1). */
const E_PARENT = 0;
const E_UNIT = 1;
const E_CHILD = 2;
const E_VALUE = 3;
const E_STRIDE = 4;

export class UnigramModel {
  /**
   * Trie of the pieces over UTF-16 code units. Nodes are numbered from 1 (0 = none). The
   * root's edges are direct tables indexed by code unit; the other edges live in an
   * open-addressing hash table keyed by (parent node, code unit) whose entries also hold
   * the child's piece id, so a step of the walk touches one cache line.
   */
  private readonly rootChild: Int32Array;
  private readonly rootValue: Int32Array;
  private readonly edges: Int32Array;
  private readonly edgeMask: number;
  private readonly scores: Float64Array;
  /** piece -> id (the last id for duplicated strings, as tokenizers' token_to_ids). */
  private readonly ids: Map<string, number>;
  private readonly unkScore: number;

  // Viterbi buffers, grown on demand.
  private bestScore = new Float64Array(64);
  private bestStart = new Int32Array(64);
  private bestId = new Int32Array(64);

  /**
   * @param pieces the vocabulary in id order (piece string and score).
   * @param unkId the unknown id (tokenizers' `unk_id`).
   */
  constructor(pieces: readonly { piece: string; score: number }[], readonly unkId: number) {
    if (pieces.length === 0) throw new Error('the vocabulary is empty');
    if (!Number.isInteger(unkId) || unkId < 0 || unkId >= pieces.length) throw new Error(`unk id ${unkId} is not in the vocabulary`);
    const n = pieces.length;
    const scores = new Float64Array(n);
    const ids = new Map<string, number>();
    let minScore = Infinity;
    let totalUnits = 0;
    for (let i = 0; i < n; i++) {
      const { piece, score } = pieces[i];
      scores[i] = score;
      ids.set(piece, i);
      if (score < minScore) minScore = score;
      totalUnits += piece.length;
    }
    this.scores = scores;
    this.ids = ids;
    this.unkScore = minScore - K_UNK_PENALTY;

    // At most totalUnits - (number of pieces) edges below the root.
    let cap = 1024;
    while (cap < 1.5 * Math.max(0, totalUnits - n)) cap *= 2;
    const mask = cap - 1;
    const edges = new Int32Array(cap * E_STRIDE);
    const rootChild = new Int32Array(0x10000);
    const rootValue = new Int32Array(0x10000).fill(-1);
    let nodes = 0;
    // In id order, so that a duplicated piece ends on its last id, like token_to_ids.
    for (let id = 0; id < n; id++) {
      const piece = pieces[id].piece;
      const len = piece.length;
      if (len === 0) continue;
      const c0 = piece.charCodeAt(0);
      let node = rootChild[c0];
      if (node === 0) node = rootChild[c0] = ++nodes;
      if (len === 1) {
        rootValue[c0] = id;
        continue;
      }
      for (let k = 1; k < len; k++) {
        const c = piece.charCodeAt(k);
        let h = edgeHash(node, c) & mask;
        let e = h * E_STRIDE;
        while (edges[e + E_CHILD] !== 0 && (edges[e + E_PARENT] !== node || edges[e + E_UNIT] !== c)) {
          h = (h + 1) & mask;
          e = h * E_STRIDE;
        }
        if (edges[e + E_CHILD] === 0) {
          edges[e + E_PARENT] = node;
          edges[e + E_UNIT] = c;
          edges[e + E_CHILD] = ++nodes;
          edges[e + E_VALUE] = -1;
        }
        node = edges[e + E_CHILD];
        if (k === len - 1) edges[e + E_VALUE] = id;
      }
    }
    this.edgeMask = mask;
    this.edges = edges;
    this.rootChild = rootChild;
    this.rootValue = rootValue;
  }

  /** Id of a piece string, or undefined. */
  pieceId(piece: string): number | undefined {
    return this.ids.get(piece);
  }

  /** Offset of the edge (node, c) in the edge table, or -1. */
  private edge(node: number, c: number): number {
    const edges = this.edges;
    const mask = this.edgeMask;
    for (let h = edgeHash(node, c) & mask; ; h = (h + 1) & mask) {
      const e = h * E_STRIDE;
      if (edges[e + E_CHILD] === 0) return -1;
      if (edges[e + E_PARENT] === node && edges[e + E_UNIT] === c) return e;
    }
  }

  /** Appends the ids of one pre-tokenized word (e.g. "▁hello") to `out`. */
  encode(word: string, out: number[]): void {
    const size = word.length;
    if (size === 0) return;
    if (this.bestScore.length < size + 1) {
      const cap = Math.max(size + 1, this.bestScore.length * 2);
      this.bestScore = new Float64Array(cap);
      this.bestStart = new Int32Array(cap);
      this.bestId = new Int32Array(cap);
    }
    const bestScore = this.bestScore;
    const bestStart = this.bestStart;
    const bestId = this.bestId;
    bestStart.fill(-1, 0, size + 1);
    bestScore[0] = 0;
    const edges = this.edges;
    const scores = this.scores;
    for (let start = 0; start < size; ) {
      const base = bestScore[start];
      const c0 = word.charCodeAt(start);
      const mblen = c0 >= 0xd800 && c0 < 0xdc00 && start + 1 < size ? 2 : 1;
      let hasSingle = false;
      let node = this.rootChild[c0];
      let id = this.rootValue[c0];
      for (let end = start + 1; node !== 0; ) {
        if (id >= 0) {
          const cand = scores[id] + base;
          if (bestStart[end] < 0 || cand > bestScore[end]) {
            bestScore[end] = cand;
            bestStart[end] = start;
            bestId[end] = id;
          }
          if (end - start === mblen) hasSingle = true;
        }
        if (end >= size) break;
        const e = this.edge(node, word.charCodeAt(end));
        if (e < 0) break;
        node = edges[e + E_CHILD];
        id = edges[e + E_VALUE];
        end++;
      }
      if (!hasSingle) {
        const end = start + mblen;
        const cand = this.unkScore + base;
        if (bestStart[end] < 0 || cand > bestScore[end]) {
          bestScore[end] = cand;
          bestStart[end] = start;
          bestId[end] = this.unkId;
        }
      }
      start += mblen;
    }
    // Backtrack, fusing runs of unknown nodes.
    const first = out.length;
    let end = size;
    while (end > 0) {
      const start = bestStart[end];
      const id = bestId[end];
      if (id === this.unkId) {
        let s = start;
        let runs = 1;
        while (s > 0 && bestId[s] === this.unkId) {
          s = bestStart[s];
          runs++;
        }
        out.push(runs === 1 ? id : this.ids.get(word.slice(s, end)) ?? this.unkId);
        end = s;
      } else {
        out.push(id);
        end = start;
      }
    }
    // Reverse the appended part in place.
    for (let a = first, b = out.length - 1; a < b; a++, b--) {
      const t = out[a];
      out[a] = out[b];
      out[b] = t;
    }
  }
}
