/**
 * Parsers for proving who listens on a port: /proc/net/tcp and /proc/net/tcp6 (one socket a
 * line, addresses in hex, the socket's inode) and the targets of /proc/PID/fd links
 * (`socket:[INODE]`). Pure: the shell (port-owner.ts) reads the files.
 */

/** TCP_LISTEN in the kernel's tcp_states.h, as the `st` column writes it. */
const LISTEN = 0x0a;

export interface TcpSocket {
  /** Local port. */
  port: number;
  /** Socket state (0x0A: listening). */
  state: number;
  inode: number;
}

/** Every socket line of a /proc/net/tcp or tcp6 file; the header and malformed lines are skipped. */
export function parseNetTcp(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0]!)) continue;
    const local = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{4})$/.exec(f[1]!);
    if (!local || !/^[0-9A-Fa-f]{2}$/.test(f[3]!) || !/^\d+$/.test(f[9]!)) continue;
    out.push({ port: parseInt(local[1]!, 16), state: parseInt(f[3]!, 16), inode: Number(f[9]) });
  }
  return out;
}

/** Inodes of the sockets listening on a port (any address), from the text of tcp and tcp6. */
export function listeningInodes(texts: readonly string[], port: number): Set<number> {
  const out = new Set<number>();
  for (const t of texts) for (const s of parseNetTcp(t)) if (s.state === LISTEN && s.port === port && s.inode > 0) out.add(s.inode);
  return out;
}

/** The inode a /proc/PID/fd link names when it is a socket (`socket:[123]`), else null. */
export function socketInode(linkTarget: string): number | null {
  const m = /^socket:\[(\d+)\]$/.exec(linkTarget);
  return m ? Number(m[1]) : null;
}
