/**
 * The dashboard's browser code: helpers both pages use (elements, formatting, the
 * authorised fetch, the SSE reader). Compiled by tsc with the rest and served as ES
 * modules from /assets/ (see dashboard.ts); it may import only other browser modules and
 * the import-free shared modules, which the dependency rules check.
 *
 * Rules it keeps: every value from the api goes into the page with textContent or as an
 * attribute property, never as HTML; the token (when the api has one) is asked for once,
 * kept in sessionStorage and sent as a bearer header; live updates come from the SSE
 * routes read with fetch() (EventSource cannot send a header), and while a stream is down
 * the page polls every 2 s instead.
 */
import { humanMs } from '../../../shared/duration.js';

export const POLL_MS = 2000;
const TOKEN_KEY = 'reapqToken';
let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let tokenWaiters: Array<() => void> = [];

/** The element with this id; the pages are static shells, so a missing one is a bug. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`dashboard: no element #${id}`);
  return e as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: unknown, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

export function cell(value: unknown, cls?: string): HTMLTableCellElement {
  return el('td', value === undefined || value === null || value === '' ? '-' : value, cls);
}

export function linkCell(href: string, text: string): HTMLTableCellElement {
  const td = el('td');
  const a = el('a', text);
  a.href = href;
  td.appendChild(a);
  return td;
}

export const processHref = (id: string): string => '/processes/' + encodeURIComponent(id);
export const apiPath = (id: string): string => '/v1/processes/' + encodeURIComponent(id);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function since(iso: string | null | undefined): string {
  return iso ? humanMs(Date.now() - Date.parse(iso)) : '-';
}

export function when(at: string | number | null | undefined): string {
  if (at === null || at === undefined) return '-';
  const d = new Date(at);
  return isNaN(d.getTime()) ? '-' : d.toLocaleString();
}

/** argv as a shell would read it back: plain words bare, anything else single-quoted. */
export function commandLine(argv: readonly string[] | null | undefined): string {
  return (argv ?? []).map((a) => (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(a) ? a : "'" + a.replace(/'/g, "'\\''") + "'")).join(' ');
}

interface SpecFields {
  command: string[];
  name: string | null;
  cwd: string | null;
  port: number | 'auto' | null;
  restart: string;
  host: string | null;
  env?: Record<string, string>;
}

/** One line for an event: its fields but type/v/at; a start's env shows names only. */
export function summary(e: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, raw] of Object.entries(e)) {
    if (k === 'v' || k === 'at' || k === 'type' || raw === null || raw === undefined) continue;
    if (k === 'spec') {
      const v = raw as SpecFields;
      parts.push('command=' + commandLine(v.command));
      if (v.name !== null) parts.push('name=' + v.name);
      if (v.cwd !== null) parts.push('cwd=' + v.cwd);
      if (v.port !== null) parts.push('port=' + v.port);
      parts.push('restart=' + v.restart);
      if (v.host !== null) parts.push('host=' + v.host);
      const names = Object.keys(v.env ?? {});
      if (names.length) parts.push('env=' + names.join(','));
      continue;
    }
    let v: unknown = raw;
    if (Array.isArray(v)) {
      if (!v.length) continue;
      v = v.join(',');
    } else if (typeof v === 'object') v = JSON.stringify(v);
    parts.push(k + '=' + String(v));
  }
  return parts.join(' ');
}

export function showError(e: unknown): void {
  $('err').textContent = e ? (e instanceof Error ? e.message : String(e)) : '';
}

export function setLive(on: boolean): void {
  const s = $('live');
  s.textContent = on ? 'live' : 'polling every 2 s';
  s.className = 'status ' + (on ? 'on' : 'off');
}

/** Resolves once the token form is submitted; concurrent callers share one prompt. */
function askToken(refused: boolean): Promise<void> {
  $('auth-msg').textContent = refused ? 'That token was refused.' : 'This api needs its token.';
  $('auth').hidden = false;
  $('token').focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

$('auth').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('token');
  token = input.value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = '';
  $('auth').hidden = true;
  const waiting = tokenWaiters;
  tokenWaiters = [];
  for (const f of waiting) f();
});

function headers(extra: Record<string, string>): Record<string, string> {
  const h = { ...extra };
  if (token) h.authorization = 'Bearer ' + token;
  return h;
}

/** An api answer other than 2xx, with its status. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** GET path from the api as JSON. Asks for the token on a 401 and retries. */
export function api<T>(path: string): Promise<T> {
  return request(path, 'application/json').then((res) => res.json() as Promise<T>);
}

/** POST to the api (an operator's action), with a JSON body when it takes one; the answer as JSON. */
export function apiPost<T>(path: string, body?: unknown): Promise<T> {
  return request(path, 'application/json', 'POST', body).then((res) => res.json() as Promise<T>);
}

/** GET path from the api as text. */
export function apiText(path: string): Promise<string> {
  return request(path, 'text/plain').then((res) => res.text());
}

async function request(path: string, accept: string, method = 'GET', body?: unknown): Promise<Response> {
  const json = body === undefined ? {} : { body: JSON.stringify(body) };
  const type: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  for (;;) {
    const res = await fetch(path, { method, headers: headers({ accept, ...type }), cache: 'no-store', ...json });
    if (res.status === 401) {
      await askToken(Boolean(token));
      continue;
    }
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try {
        msg = ((await res.json()) as { error?: string }).error ?? msg;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(msg, res.status);
    }
    return res;
  }
}

export const canStream = typeof ReadableStream !== 'undefined' && typeof TextDecoderStream !== 'undefined';

export interface FollowHandlers<T> {
  /** A stream is up. */
  onOpen(): void;
  onEvent(data: T, id: string | null): void;
  /** The stream is down; it is retried after POLL_MS. */
  onDown(): void;
}

/** Follows an SSE route with fetch(), reconnecting after 2 s with Last-Event-ID. */
export function follow<T>(path: string, on: FollowHandlers<T>): { close(): void } {
  let lastId: string | null = null;
  let closed = false;
  const ac = new AbortController();
  void (async () => {
    while (!closed) {
      try {
        const h = headers({ accept: 'text/event-stream' });
        if (lastId !== null) h['last-event-id'] = lastId;
        const res = await fetch(path, { headers: h, cache: 'no-store', signal: ac.signal });
        if (res.status === 401) {
          on.onDown();
          await askToken(Boolean(token));
          continue;
        }
        if (!res.ok || !res.body) throw new Error('event stream answered ' + res.status);
        on.onOpen();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          buf += r.value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = parseBlock(block);
            if (!ev) continue;
            if (ev.type === 'error') throw new Error((ev.data as { error?: string }).error ?? 'event stream failed');
            if (ev.id !== null) lastId = ev.id;
            on.onEvent(ev.data as T, ev.id);
          }
        }
      } catch (e) {
        if (closed) return;
        showError(e);
      }
      on.onDown();
      await sleep(POLL_MS);
    }
  })();
  return {
    close() {
      closed = true;
      ac.abort();
    },
  };
}

/** One SSE block (the lines before a blank line): its id, type and JSON data; null when it has no usable data. */
function parseBlock(block: string): { id: string | null; type: string; data: unknown } | null {
  let id: string | null = null;
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line[0] === ':') continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return { id, type, data: JSON.parse(data.join('\n')) as unknown };
  } catch {
    return null;
  }
}
