// @tsgrad/llama, the Node entry: the whole API, with files read and written through fs.

import { setFileSource } from './file-source.js';
import { fsFileSource } from './node/fs-source.js';

setFileSource(fsFileSource);

export * from './api.js';
export { fsFileSource, writeFileAtomic } from './node/fs-source.js';
