// What both CLIs do when run as a program: call main with the arguments, exit with its code, and
// print an error's message (not its stack) when it throws; fs errors become sentences naming the path.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../node/fs-errors.js';

/** Runs main(argv) and exits, if the module at moduleUrl is the program node was started with. */
export function runIfMain(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  if (!isProgram(process.argv[1], moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(errorMessage(err));
      process.exit(1);
    },
  );
}

// An installed bin (node_modules/.bin/tsgrad-train) is a symbolic link to the module, so both
// sides are compared as real paths.
function isProgram(argv1: string | undefined, moduleUrl: string): boolean {
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
