export type PixArtErrorCode = string;
export class PixArtError extends Error {
  readonly code: PixArtErrorCode;
  constructor(code: PixArtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PixArtError';
    this.code = code;
  }
}
