import { customAlphabet } from 'nanoid';

const lowerAlnum = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/**
 * A generated record id (`p-…` for a process, `d-…` for a deploy): lower case, so it reads
 * the same in a shell, a URL and a BullMQ job id; 36^12 values, so two producers that never
 * talk do not collide.
 */
export function newId(kind: 'p' | 'd'): string {
  return `${kind}-${lowerAlnum()}`;
}
