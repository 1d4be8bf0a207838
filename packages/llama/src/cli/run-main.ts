// What both CLIs do when run as a program: call main with the arguments, exit with its code, and
// print an error's message (not its stack) when it throws; fs errors become sentences naming the path.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../node/fs-errors.js';

/** Runs main(argv) and exits, if the module at moduleUrl is the program node was started with. */
export function runIfMain(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  if (!process.argv[1] || resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(errorMessage(err));
      process.exit(1);
    },
  );
}
