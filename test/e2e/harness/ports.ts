// Free TCP ports on this machine's loopback. Booted test hosts share this machine's network, so a
// socket unit inside a host listens here, and two hosts (or a host and this machine) must never
// be given the same port. Ask the kernel for one, then release it for the caller to bind.
import net from 'node:net';

export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Connects, writes `send`, half-closes, and returns everything the peer sent back. */
export async function tcpRoundTrip(port: number, send: string, timeoutMs = 10_000, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ port, host }, () => socket.end(send));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer from ${host}:${port} within ${timeoutMs} ms (got ${JSON.stringify(Buffer.concat(chunks).toString())})`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
  });
}
