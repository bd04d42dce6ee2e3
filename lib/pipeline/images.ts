import sharp from 'sharp';
import { PixArtError } from '../errors.js';
import type { HostRgb8, HostTensor } from '../native/AddonTypes.js';
import { optionsArg, stringArg } from '../util/args.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** An 8-bit RGB image. Encoding goes through sharp (libvips). */
export class PixArtImage {
  readonly width: number;
  readonly height: number;
  /** RGB, row-major, 3 bytes per pixel */
  readonly data: Uint8Array;

  constructor(width: number, height: number, data: Uint8Array) {
    if (data.length !== width * height * 3) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `RGB data has ${data.length} bytes, expected ${width * height * 3}`);
    }
    this.width = width;
    this.height = height;
    this.data = data;
  }

  async encode(format: ImageFormat = 'png', options: { quality?: number } = {}): Promise<Buffer> {
    options = optionsArg('PixArtImage.encode options', options);
    const img = sharp(Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength), {
      raw: { width: this.width, height: this.height, channels: 3 },
    });
    switch (format) {
      case 'png': return img.png().toBuffer();
      case 'jpeg': return img.jpeg({ quality: options.quality ?? 90 }).toBuffer();
      case 'webp': return img.webp({ quality: options.quality ?? 90 }).toBuffer();
      default: throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `unknown image format ${String(format)}; use png, jpeg or webp`);
    }
  }

  toPNG(): Promise<Buffer> {
    return this.encode('png');
  }

  /** Writes the image; the format follows the extension (.png, .jpg/.jpeg, .webp). */
  async save(path: string): Promise<void> {
    stringArg('PixArtImage.save path', path);
    const ext = path.toLowerCase().split('.').pop();
    const format: ImageFormat | undefined = ext === 'png' ? 'png' : ext === 'jpg' || ext === 'jpeg' ? 'jpeg' : ext === 'webp' ? 'webp' : undefined;
    if (!format) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `cannot tell the image format from ${path}; use .png, .jpg or .webp`);
    const { writeFile, rename } = await import('node:fs/promises');
    const buf = await this.encode(format);
    // write then rename, so a failed write never leaves a half-written image behind
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, buf);
    await rename(tmp, path);
  }
}

/**
 * diffusers' postprocess for output_type 'np': (x / 2 + 0.5).clamp(0, 1), NCHW -> NHWC, float32.
 */
export function toFloatNHWC(decoded: HostTensor): HostTensor {
  const [b, c, h, w] = decoded.shape;
  const out = new Float32Array(b * h * w * c);
  const src = decoded.data;
  for (let n = 0; n < b; n++)
    for (let ch = 0; ch < c; ch++) {
      const plane = (n * c + ch) * h * w;
      for (let i = 0; i < h * w; i++) {
        const v = Math.fround(Math.fround(src[plane + i] / 2) + 0.5);
        out[(n * h * w + i) * c + ch] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  return { data: out, shape: [b, h, w, c] };
}

/** diffusers' numpy_to_pil: (x * 255).round() as uint8, one image per batch item. */
export function toImages(nhwc: HostTensor): PixArtImage[] {
  const bytes = new Uint8Array(nhwc.data.length);
  // numpy rounds half to even; Math.round rounds half up. Match numpy.
  for (let i = 0; i < bytes.length; i++) bytes[i] = roundHalfEven(Math.fround(nhwc.data[i] * 255));
  return rgbToImages({ data: bytes, shape: nhwc.shape });
}

/**
 * 8-bit NHWC bytes made by the engine (AutoencoderKL.decodeToRgb, the same arithmetic as
 * toImages(toFloatNHWC(...))) as one image per batch item.
 */
export function rgbToImages(rgb: Pick<HostRgb8, 'data' | 'shape'>): PixArtImage[] {
  const [b, h, w, c] = rgb.shape;
  if (c !== 3) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `expected 3 channels, got ${c}`);
  const n = h * w * 3;
  if (b === 1) return [new PixArtImage(w, h, rgb.data)];
  const images: PixArtImage[] = [];
  for (let i = 0; i < b; i++) images.push(new PixArtImage(w, h, rgb.data.slice(i * n, (i + 1) * n)));
  return images;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
