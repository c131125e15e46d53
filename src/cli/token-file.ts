import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../shared/errors.js';

/**
 * The api's token kept in a file: read when it is there, made once (0600, created
 * exclusively, so two apis starting together agree on one) when it is not. The token is
 * never printed: whoever may call the api reads the file.
 */
export function tokenFromFile(path: string): { token: string; created: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new InputError(`--token-file ${path}: cannot read it (${code ?? (err as Error).message})`);
    const made = create(path);
    if (made) return { token: made, created: true };
    text = readFileSync(path, 'utf8'); // another api made it between our read and create
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077)
    throw new InputError(`--token-file ${path}: readable by others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`);
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new InputError(`--token-file ${path}: the token must be one line of at least 16 characters without spaces`);
  return { token, created: false };
}

function create(path: string): string | null {
  mkdirSync(dirname(path), { recursive: true });
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw new InputError(`--token-file ${path}: cannot create it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const token = randomBytes(24).toString('hex');
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return token;
}
