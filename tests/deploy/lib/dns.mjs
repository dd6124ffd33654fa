// A minimal DNS server on 127.0.0.1 for the load balancer test: it plays Docker's embedded DNS,
// answering A queries for one name with one record per replica, as Docker does for a scaled
// service. Other names get NXDOMAIN, other query types an empty answer.

import dgram from 'node:dgram';

/** Parse the question of a query: { id, name, type, questionEnd } (no compression in questions). */
function parseQuery(msg) {
  const id = msg.readUInt16BE(0);
  let off = 12;
  const labels = [];
  while (msg[off] !== 0) {
    const len = msg[off];
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
    off += 1 + len;
  }
  off += 1;
  const type = msg.readUInt16BE(off);
  return { id, name: labels.join('.').toLowerCase(), type, questionEnd: off + 4 };
}

/**
 * Start the server. `records` maps a name to its IPv4 addresses and may be changed while the
 * server runs (replicas come and go). Returns { port, queries, records, close() }; `queries`
 * counts the A queries answered per name.
 */
export async function startDns(records) {
  const socket = dgram.createSocket('udp4');
  const state = { port: 0, queries: {}, records };
  socket.on('message', (msg, rinfo) => {
    let q;
    try {
      q = parseQuery(msg);
    } catch {
      return;
    }
    const addrs = q.type === 1 ? state.records[q.name] : undefined;
    const known = q.name in state.records;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.id, 0);
    // QR=1, opcode 0, AA=1, RD copied, RA=1; RCODE 3 (NXDOMAIN) for an unknown name.
    header.writeUInt16BE(0x8480 | (msg.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addrs ? addrs.length : 0, 6);
    const answers = (addrs ?? []).map((ip) => {
      const a = Buffer.alloc(16);
      a.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      a.writeUInt16BE(1, 2); // A
      a.writeUInt16BE(1, 4); // IN
      a.writeUInt32BE(5, 6); // TTL, seconds
      a.writeUInt16BE(4, 10);
      ip.split('.').forEach((b, i) => a.writeUInt8(Number(b), 12 + i));
      return a;
    });
    if (addrs) state.queries[q.name] = (state.queries[q.name] ?? 0) + 1;
    socket.send(Buffer.concat([header, msg.subarray(12, q.questionEnd), ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', resolve);
  });
  state.port = socket.address().port;
  state.close = () => new Promise((resolve) => socket.close(resolve));
  return state;
}
