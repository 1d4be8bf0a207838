/**
 * LLaMA on tsgrad: the model (`LlamaForCausalLM`, with Hugging Face parameter names), its config
 * and presets, `fromPretrained` / `savePretrained` for Hugging Face folders, sampling, and the
 * byte-level tokenizer. This is the Node entry; the browser entry has the same API.
 * @module @tsgrad/llama
 */
// @tsgrad/llama, the Node entry: the whole API, with files read and written through fs.

import { setFileSource } from './file-source.js';
import { fsFileSource } from './node/fs-source.js';

setFileSource(fsFileSource);

export * from './api.js';
export { fsFileSource, writeFileAtomic } from './node/fs-source.js';
