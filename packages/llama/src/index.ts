/**
 * LLaMA on tsgrad: the model (`LlamaForCausalLM`, with Hugging Face parameter names), its config
 * and presets, `fromPretrained` / `savePretrained` for Hugging Face folders, sampling, and the
 * byte-level tokenizer. This is the Node entry, reading and writing files through fs; the browser
 * entry has the same API and fetches files by URL.
 * @module @tsgrad/llama
 */

import { setFileSource } from './file-source.js';
import { fsFileSource } from './node/fs-source.js';

// this entry's explicit choice: fromPretrained / savePretrained read and write through fs
setFileSource(fsFileSource);

export * from './api.js';
export { fsFileSource, writeFileAtomic } from './node/fs-source.js';
