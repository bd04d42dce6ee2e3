/** Text side of the PixArt-α pipeline: caption preprocessing and the T5 tokenizer. */
export { cleanCaption, preprocessText } from './cleanCaption.js';
export {
  T5Tokenizer,
  flattenEncoding,
  type FlatT5Encoding,
  type PaddingStrategy,
  type T5BatchEncoding,
  type T5EncodeOptions,
} from './T5Tokenizer.js';
