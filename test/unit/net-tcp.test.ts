import { describe, expect, it } from 'vitest';
import { listeningInodes, parseNetTcp, socketInode } from '../../src/worker/proc/net-tcp.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 9777 1 0000000083a5a095 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 467673 1 00000000ae29cb46 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 467700 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5706 1 00000000ba387f61 100 0 0 10 0
   1: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4053 1 000000005f0f7b17 100 0 0 10 0
`;

describe('/proc/net/tcp', () => {
  it('reads port, state and inode of every socket line, IPv4 and IPv6, and skips the header and junk', () => {
    expect(parseNetTcp(TCP)).toEqual([
      { port: 3306, state: 0x0a, inode: 9777 },
      { port: 8080, state: 0x0a, inode: 467673 },
      { port: 8080, state: 0x01, inode: 467700 },
      { port: 8081, state: 0x0a, inode: 0 },
    ]);
    expect(parseNetTcp(TCP6).map((s) => [s.port, s.inode])).toEqual([
      [8080, 5706],
      [6379, 4053],
    ]);
    expect(parseNetTcp('garbage\n   7: zz:1F90 0 0A a b c d e f\n\n')).toEqual([]);
  });

  it('the listening sockets of one port: established ones and inode 0 (a socket being torn down) are not', () => {
    expect(listeningInodes([TCP, TCP6], 8080)).toEqual(new Set([467673, 5706]));
    expect(listeningInodes([TCP], 8081)).toEqual(new Set());
    expect(listeningInodes([TCP], 9999)).toEqual(new Set());
  });

  it('a /proc/PID/fd link names a socket inode, or something else', () => {
    expect(socketInode('socket:[467673]')).toBe(467673);
    expect(socketInode('pipe:[12]')).toBeNull();
    expect(socketInode('/dev/null')).toBeNull();
    expect(socketInode('anon_inode:[eventpoll]')).toBeNull();
  });
});
