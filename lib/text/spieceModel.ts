/**
 * Minimal reader for SentencePiece `.model` files (a serialized `sentencepiece.ModelProto`).
 * Only the vocabulary is read: `repeated SentencePiece pieces = 1`, each with
 * `string piece = 1; float score = 2; Type type = 3`. Everything else is skipped.
 */

/** `SentencePiece.Type` values. */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type PieceType = number;

export interface SentencePieceEntry {
  piece: string;
  score: number;
  type: PieceType;
}

class ProtoReader {
  pos: number;
  constructor(private readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  float32(): number {
    if (this.pos + 4 > this.end) throw new Error('truncated fixed32');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; break;
      case 2: this.bytes(); return;
      case 5: this.pos += 4; break;
      default: throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses the vocabulary of a SentencePiece model. Throws `Error` on malformed input. */
export function readSentencePieceVocab(data: Uint8Array): SentencePieceEntry[] {
  const r = new ProtoReader(data);
  const pieces: SentencePieceEntry[] = [];
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1 && wire === 2) {
      const sub = r.bytes();
      const pr = new ProtoReader(sub);
      const entry: SentencePieceEntry = { piece: '', score: 0, type: PieceType.NORMAL };
      while (!pr.done) {
        const t = pr.varint();
        const f = Math.floor(t / 8);
        const w = t % 8;
        if (f === 1 && w === 2) entry.piece = utf8.decode(pr.bytes());
        else if (f === 2 && w === 5) entry.score = pr.float32();
        else if (f === 3 && w === 0) entry.type = pr.varint();
        else pr.skip(w);
      }
      pieces.push(entry);
    } else {
      if (field === 0) throw new Error('invalid protobuf field number 0');
      r.skip(wire);
    }
  }
  if (pieces.length === 0) throw new Error('no vocabulary pieces found');
  return pieces;
}
