// File-system errors as sentences a user can act on. Node's own messages ("ENOSPC: no space left on
// device, write") omit the path for some calls and read like a stack frame; these name the path
// and say what to do.

/** A Node fs error: an Error with an errno code and usually the path(s) involved. */
type FsError = Error & { code?: string; path?: string; dest?: string; syscall?: string };

/** The sentence for an fs error (EEXIST, EACCES/EPERM, ENOSPC, EROFS, ENOTDIR), or null for anything else. */
export function describeFsError(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as FsError;
  const path = e.path ?? '(unknown path)';
  const target = e.dest ? `${path} → ${e.dest}` : path;
  switch (e.code) {
    case 'ENOSPC':
      return `no space left on the device while writing ${target}; free some space and rerun (checkpoints already saved are intact)`;
    case 'EDQUOT':
      return `disk quota exceeded while writing ${target}; free some space and rerun`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied for ${target} (${e.syscall ?? 'access'}); check the permissions of that folder or choose another location`;
    case 'EROFS':
      return `${target} is on a read-only file system; choose a writable location`;
    case 'EEXIST':
      return `${target} already exists and is in the way (for a folder tsgrad must create, a file of that name blocks it); move it away or choose another location`;
    case 'ENOTDIR':
      return `${target}: a part of that path is a file, not a folder; choose another location`;
    default:
      return null;
  }
}

/** The message to print for any error: fs errors as sentences, others as their message. */
export function errorMessage(err: unknown): string {
  const fs = describeFsError(err);
  if (fs) return `error: ${fs}`;
  return err instanceof Error ? err.message : String(err);
}
