// One training run per model_dir. Two runs in one folder would overwrite each other's checkpoints
// and interleave metrics.jsonl, so a run holds `train.lock` (created atomically with O_EXCL, holding
// pid, host and start time) for as long as it runs. A second run refuses and names the holder; a
// lock left by a process that no longer exists on this host (killed with SIGKILL, power loss) is
// taken over with a message. A lock from another host is never judged stale: we cannot see its pid.

import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Name of the lock file inside model_dir. */
export const LOCK_FILE = 'train.lock';

/** What a lock file holds. */
export interface LockHolder {
  /** Process id of the run holding the lock. */
  pid: number;
  /** Host name of the machine it runs on. */
  host: string;
  /** When it started (ISO 8601). */
  started: string;
}

/** A held lock; release() removes the file if it is still ours (idempotent). */
export interface RunLock {
  /** The lock file's path. */
  path: string;
  /** Removes the lock file (only if it still holds this run's record). */
  release(): void;
}

function readHolder(path: string): LockHolder | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.started !== 'string') return null;
    return parsed as LockHolder;
  } catch {
    return null; // missing (released meanwhile) or torn (its writer died between create and write)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  return !isZombie(pid);
}

// A killed process whose parent has not reaped it yet (or whose new parent never will, as a bare
// container's pid 1) still answers signal 0, but it is dead: Linux shows state Z in /proc.
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false; // no /proc (not Linux), or gone meanwhile: signal 0 said it exists
  }
}

// A lock file is empty for the instant between its creation and the write of its record: give a
// competing run's write a second before calling an unreadable lock torn.
function readHolderPatiently(path: string): LockHolder | null {
  for (let i = 0; i < 10; i++) {
    const holder = readHolder(path);
    if (holder) return holder;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  return null;
}

const describe = (h: LockHolder) => `pid ${h.pid} on ${h.host}, started ${h.started}`;

/**
 * Takes model_dir's run lock or throws naming its holder. A stale lock (its pid is gone on this
 * host) is taken over, and `log` says so. The lock is also released when the process exits.
 */
export function acquireRunLock(modelDir: string, log: (line: string) => void): RunLock {
  const path = join(modelDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const text = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolderPatiently(path);
      if (holder && (holder.host !== me.host || isAlive(holder.pid))) {
        throw new Error(`train: ${modelDir} is in use by another run (${describe(holder)}; lock file ${path}). Wait for it to finish, stop it, or use another --model_dir${holder.host !== me.host ? `; if that run is gone, delete ${path}` : ''}.`);
      }
      takeOverStaleLock(path, holder, log);
      continue;
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      const now = readHolder(path);
      if (now && now.pid === me.pid && now.started === me.started && now.host === me.host) unlinkSync(path);
    };
    process.on('exit', release);
    return { path, release };
  }
  throw new Error(`train: could not take the lock ${path}: other runs keep taking it over; try again`);
}

// Moves the stale lock aside under a name of our own (an atomic rename), then checks that what we
// moved is the stale record and not a lock a competing run created meanwhile; if it is not, it is
// put back (link fails rather than overwrite a lock taken in between).
function takeOverStaleLock(path: string, seen: LockHolder | null, log: (line: string) => void): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // released meanwhile: retry
    throw err;
  }
  const moved = readHolder(aside);
  const same = seen === null ? moved === null : moved !== null && moved.pid === seen.pid && moved.started === seen.started;
  if (!same) {
    try {
      linkSync(aside, path);
    } catch {
      // someone took the lock in between; theirs stands and ours will be refused on retry
    }
    unlinkSync(aside);
    return;
  }
  unlinkSync(aside);
  log(seen
    ? `taking over the lock ${path}: its holder (${describe(seen)}) is no longer running`
    : `taking over the lock ${path}: it was unreadable (its writer died while creating it)`);
}
