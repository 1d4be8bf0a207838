// @tsgrad/llama, the browser entry: the same API, with files fetched by URL (fromPretrained(url)).

import { fetchFileSource, setFileSource } from './file-source.js';

if (typeof globalThis.fetch === 'function') setFileSource(fetchFileSource());

export * from './api.js';
