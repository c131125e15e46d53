import { open } from 'node:fs/promises';

const CHUNK = 64 * 1024;
/** Never read more than this from the end of a log, however many lines are asked for. */
const MAX_BYTES = 16 * 1024 * 1024;

/**
 * The last `lines` lines of a file, read backwards from its end so a large log costs only
 * what is returned. Rejects with ENOENT when the file does not exist.
 */
export async function tailLines(file: string, lines: number): Promise<string[]> {
  const fh = await open(file, 'r');
  try {
    if (lines === 0) return [];
    const { size } = await fh.stat();
    const chunks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    let read = 0;
    // One newline more than asked for marks the start of the first wanted line (plus the trailing one).
    while (pos > 0 && newlines <= lines && read < MAX_BYTES) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      chunks.unshift(buf);
      read += len;
      for (const b of buf) if (b === 0x0a) newlines++;
    }
    const all = Buffer.concat(chunks).toString('utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    // Reading stopped mid-file: the first piece is a partial line.
    if (pos > 0) all.shift();
    return all.slice(Math.max(0, all.length - lines));
  } finally {
    await fh.close();
  }
}
