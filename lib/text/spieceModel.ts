/**
 * Minimal reader for SentencePiece `.model` files (a serialized `sentencepiece.ModelProto`,
 * proto2). Reads what transformers' converter (`SentencePieceExtractor`) takes from the file:
 *
 * - `repeated SentencePiece pieces = 1`: `string piece = 1; float score = 2; Type type = 3`;
 * - `TrainerSpec trainer_spec = 2`: `model_type = 3`, `byte_fallback = 35`, `unk_id = 40`,
 *   `bos_id = 41`, `eos_id = 42`, `pad_id = 43`, `unk_piece = 45`;
 * - `NormalizerSpec normalizer_spec = 3`: `name = 1`, `precompiled_charsmap = 2`,
 *   `add_dummy_prefix = 3`, `remove_extra_whitespaces = 4`, `escape_whitespaces = 5`.
 *
 * Unset fields take the proto2 defaults of sentencepiece_model.proto. Everything else is
 * skipped.
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
  /** The float32 score, exactly (as a JS number). */
  score: number;
  type: PieceType;
}

/** The `TrainerSpec` fields the tokenizer conversion looks at. */
export interface SentencePieceTrainerSpec {
  /** 1 = UNIGRAM, 2 = BPE, 3 = WORD, 4 = CHAR. */
  modelType: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkPiece: string;
}

/** The `NormalizerSpec` of the model. */
export interface SentencePieceNormalizerSpec {
  /** Rule name, e.g. 'nmt_nfkc'. */
  name: string;
  /** The compiled normalization rules (see precompiledCharsmap.ts); empty when absent. */
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  pieces: SentencePieceEntry[];
  trainerSpec: SentencePieceTrainerSpec;
  normalizerSpec: SentencePieceNormalizerSpec;
}

class ProtoReader {
  pos: number;
  constructor(private readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint (exact up to 2^53). */
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

  /** An `int32` field: negative values are sent as 10-byte varints; keep the low 32 bits. */
  int32(): number {
    let low = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      if (shift < 32) low |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return low | 0;
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

  /** Calls `onField(field, wireType)` for each field; the callback reads the value or returns false to skip it. */
  fields(onField: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) throw new Error('invalid protobuf field number 0');
      if (!onField(field, wire)) this.skip(wire);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Strict UTF-8 decoding of `buf[start, end)`, done by hand: the vocabulary has ~32k short
 * strings, for which TextDecoder's per-call overhead dominates.
 */
function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  let units: number[] | null = null;
  let i = start;
  while (i < end) {
    const b0 = buf[i];
    let cp: number;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else {
      let need: number;
      let min: number;
      if (b0 >= 0xc2 && b0 < 0xe0) { need = 1; cp = b0 & 0x1f; min = 0x80; }
      else if (b0 >= 0xe0 && b0 < 0xf0) { need = 2; cp = b0 & 0x0f; min = 0x800; }
      else if (b0 >= 0xf0 && b0 < 0xf5) { need = 3; cp = b0 & 0x07; min = 0x10000; }
      else throw new Error('invalid UTF-8 in a string field');
      if (i + need >= end) throw new Error('invalid UTF-8 in a string field');
      for (let k = 1; k <= need; k++) {
        const b = buf[i + k];
        if ((b & 0xc0) !== 0x80) throw new Error('invalid UTF-8 in a string field');
        cp = (cp << 6) | (b & 0x3f);
      }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) throw new Error('invalid UTF-8 in a string field');
      i += need + 1;
    }
    units ??= [];
    if (cp < 0x10000) units.push(cp);
    else units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    if (units.length > 4096) {
      out += String.fromCharCode(...units);
      units = [];
    }
  }
  return units === null ? out : out + String.fromCharCode(...units);
}

function readPiece(buf: Uint8Array, view: DataView, start: number, end: number): SentencePieceEntry {
  const r = new ProtoReader(buf, start, end);
  const entry: SentencePieceEntry = { piece: '', score: 0, type: PieceType.NORMAL };
  while (!r.done) {
    const tag = r.varint();
    if (tag === 0x0a) {
      const len = r.varint();
      if (r.pos + len > end) throw new Error('truncated length-delimited field');
      entry.piece = decodeUtf8(buf, r.pos, r.pos + len);
      r.pos += len;
    } else if (tag === 0x15) {
      if (r.pos + 4 > end) throw new Error('truncated fixed32');
      entry.score = view.getFloat32(r.pos, true);
      r.pos += 4;
    } else if (tag === 0x18) {
      entry.type = r.int32();
    } else {
      if (tag < 8) throw new Error('invalid protobuf field number 0');
      r.skip(tag & 7);
    }
  }
  return entry;
}

function readTrainerSpec(data: Uint8Array, spec: SentencePieceTrainerSpec): void {
  const r = new ProtoReader(data);
  r.fields((f, w) => {
    if (w === 0 && f === 3) spec.modelType = r.int32();
    else if (w === 0 && f === 35) spec.byteFallback = r.varint() !== 0;
    else if (w === 0 && f === 40) spec.unkId = r.int32();
    else if (w === 0 && f === 41) spec.bosId = r.int32();
    else if (w === 0 && f === 42) spec.eosId = r.int32();
    else if (w === 0 && f === 43) spec.padId = r.int32();
    else if (w === 2 && f === 45) spec.unkPiece = utf8.decode(r.bytes());
    else return false;
    return true;
  });
}

function readNormalizerSpec(data: Uint8Array, spec: SentencePieceNormalizerSpec): void {
  const r = new ProtoReader(data);
  r.fields((f, w) => {
    if (w === 2 && f === 1) spec.name = utf8.decode(r.bytes());
    else if (w === 2 && f === 2) spec.precompiledCharsmap = r.bytes();
    else if (w === 0 && f === 3) spec.addDummyPrefix = r.varint() !== 0;
    else if (w === 0 && f === 4) spec.removeExtraWhitespaces = r.varint() !== 0;
    else if (w === 0 && f === 5) spec.escapeWhitespaces = r.varint() !== 0;
    else return false;
    return true;
  });
}

/**
 * Parses a SentencePiece model: vocabulary, trainer spec and normalizer spec (the charsmap
 * is a view into `data`). Throws `Error` on malformed input or an empty vocabulary.
 */
export function readSentencePieceModel(data: Uint8Array): SentencePieceModel {
  const pieces: SentencePieceEntry[] = [];
  // proto2 defaults from sentencepiece_model.proto.
  const trainerSpec: SentencePieceTrainerSpec = {
    modelType: 1, byteFallback: false, unkId: 0, bosId: 1, eosId: 2, padId: -1, unkPiece: '<unk>',
  };
  const normalizerSpec: SentencePieceNormalizerSpec = {
    name: '', precompiledCharsmap: new Uint8Array(0), addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true,
  };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const r = new ProtoReader(data);
  r.fields((field, wire) => {
    if (wire !== 2) return false;
    if (field === 1) {
      const len = r.varint();
      if (r.pos + len > r.end) throw new Error('truncated length-delimited field');
      pieces.push(readPiece(data, view, r.pos, r.pos + len));
      r.pos += len;
    }
    else if (field === 2) readTrainerSpec(r.bytes(), trainerSpec);
    else if (field === 3) readNormalizerSpec(r.bytes(), normalizerSpec);
    else return false;
    return true;
  });
  if (pieces.length === 0) throw new Error('no vocabulary pieces found');
  return { pieces, trainerSpec, normalizerSpec };
}

/** Parses the vocabulary of a SentencePiece model. Throws `Error` on malformed input. */
export function readSentencePieceVocab(data: Uint8Array): SentencePieceEntry[] {
  return readSentencePieceModel(data).pieces;
}
