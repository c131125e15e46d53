import { readFileSync } from 'node:fs';

/**
 * The text of a Lua script in the package's lua/ directory, each with its KEYS and ARGV
 * written down at the top. Resolved from this module's URL, which is two levels below the
 * package root whether it runs from src/shared (tests), dist/shared (tsc) or dist/cli (the
 * CLI bundle, whose import.meta.url is the bundle's).
 */
export function luaScript(name: string): string {
  return readFileSync(new URL(`../../lua/${name}`, import.meta.url), 'utf8');
}
