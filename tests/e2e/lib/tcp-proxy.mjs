// A TCP relay that the tests can switch on and off: the page is pointed at its port, so the API
// "goes away" and "comes back" without touching the service.

import net from 'node:net';

/** Relay 127.0.0.1:listenPort to 127.0.0.1:targetPort until close(), which also cuts open connections. */
export async function startProxy(listenPort, targetPort) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', resolve);
  });
  return {
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
