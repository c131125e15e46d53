import { isIP } from 'node:net';
import { InputError } from '../../shared/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPv6]:PORT`, or a bare port (loopback). Port 0 picks a free one. */
export function parseListen(listen: string): ListenAddress {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(listen) ?? /^([A-Za-z0-9_.-]+):(\d{1,5})$/.exec(listen) ?? /^()(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535 || (listen.startsWith('[') && isIP(m[1]!) !== 6)) {
    throw new InputError(`invalid --listen ${JSON.stringify(listen)}: must look like HOST:PORT (127.0.0.1:8080, [::1]:8080)`);
  }
  return { host: m[1] || '127.0.0.1', port };
}

/** Only these stay on this machine; any other address (0.0.0.0, ::, a hostname) is reachable from outside. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
