import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { InputError, oneLine } from '../shared/errors.js';
import { fromEcosystem, isEcosystem, withEnvironment } from './pm2-ecosystem.js';

export interface ApplyFile {
  entries: unknown[];
  /** Keys of a PM2 ecosystem file reapq does not honour, one line each. */
  warnings: string[];
}

/**
 * What a file holds: JSON, YAML (by its .yaml/.yml name), or a JavaScript module (.js,
 * .cjs, .mjs) as PM2's ecosystem.config.js is, loaded the way PM2 loads it: by running it.
 */
async function load(file: string): Promise<unknown> {
  const abs = resolve(file);
  if (/\.[cm]?js$/i.test(file)) {
    try {
      const mod: unknown = createRequire(import.meta.url)(abs);
      return (mod as { default?: unknown } | null)?.default ?? mod;
    } catch (err) {
      // An ES module with top-level await cannot be required; anything else is the file's own error.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
      const mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
      return mod.default ?? mod;
    }
  }
  const text = readFileSync(abs, 'utf8');
  return /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
}

/**
 * An apply file: reapq's own, `{"services": {"NAME": {...}}}` or
 * `{"services": [{"service": "NAME", ...}]}`, each entry a deploy request (start spec,
 * strategy, replicas, timeoutMs); or PM2's ecosystem file, `{"apps": [...]}`. A relative
 * cwd is relative to the file, and so is an absent one. `envName` lays each entry's
 * env_NAME over its env, as `pm2 start ecosystem.config.js --env NAME` does.
 */
export async function readApplyFile(file: string, envName?: string): Promise<ApplyFile> {
  let raw: unknown;
  try {
    raw = await load(file);
  } catch (err) {
    throw new InputError(`invalid apply file ${file}: ${oneLine(err)}`);
  }
  const dir = dirname(resolve(file));
  if (isEcosystem(raw)) {
    try {
      return fromEcosystem(raw, { dir, envName, cpus: cpus().length });
    } catch (err) {
      throw err instanceof InputError ? new InputError(`invalid ecosystem file ${file}: ${err.message}`) : err;
    }
  }
  const services = (raw as { services?: unknown } | null)?.services;
  const list: unknown[] = Array.isArray(services)
    ? services
    : services && typeof services === 'object'
      ? Object.entries(services).map(([service, spec]) => ({ ...(spec as object), service }))
      : [];
  if (list.length === 0) throw new InputError(`invalid apply file ${file}: needs "services", an object of NAME: spec (or PM2's "apps")`);
  const entries = list.map((e) =>
    e && typeof e === 'object' ? { ...e, cwd: resolve(dir, String((e as { cwd?: unknown }).cwd ?? '.')) } : e,
  );
  try {
    return { entries: withEnvironment(entries, envName), warnings: [] };
  } catch (err) {
    throw err instanceof InputError ? new InputError(`invalid apply file ${file}: ${err.message}`) : err;
  }
}
