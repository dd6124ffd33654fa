// Where things are: the repository the suites test, its scripts, and the binary under test.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVICES_SH = path.join(REPO_ROOT, 'scripts', 'services.sh');

/** Absolute path of a file of the repository. */
export function repoPath(...parts) {
  return path.join(REPO_ROOT, ...parts);
}

/** The text of a file of the repository. */
export function readRepoFile(...parts) {
  return fs.readFileSync(repoPath(...parts), 'utf8');
}

/** Absolute path of the binary under test: $CACHEME_BIN (relative to cwd, else repo) or build/cacheme. */
export function cachemeBin() {
  const bin = process.env.CACHEME_BIN || 'build/cacheme';
  if (path.isAbsolute(bin)) return bin;
  const fromCwd = path.resolve(process.cwd(), bin);
  return fs.existsSync(fromCwd) ? fromCwd : path.resolve(REPO_ROOT, bin);
}
