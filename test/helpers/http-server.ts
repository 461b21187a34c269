// A static file server on a random free loopback port, for serving an apt repository to apt-get
// (on this machine, and inside a booted test host, which shares this machine's loopback). It sends
// Last-Modified (apt keeps it as the file's mtime) but never answers 304: mtimes have one-second
// resolution here, and a test that publishes twice within a second must not be told "unchanged".
// It records every request, so a test can see what apt fetched (InRelease, by-hash paths...).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
}

export interface StaticServer {
  /** http://127.0.0.1:PORT/ (with the trailing slash). */
  url: string;
  port: number;
  requests: ServedRequest[];
  close(): Promise<void>;
}

export async function serveDirectory(root: string, host = '127.0.0.1'): Promise<StaticServer> {
  const base = path.resolve(root);
  const requests: ServedRequest[] = [];
  const server = http.createServer((req, res) => {
    const answer = (status: number, headers: Record<string, string | number> = {}, body?: fs.ReadStream) => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', status });
      res.writeHead(status, headers);
      if (body && req.method === 'GET') body.pipe(res);
      else {
        body?.destroy();
        res.end();
      }
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405);
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return answer(400);
    }
    const file = path.join(base, rel);
    // No escape from the root, and no dot files (the publish lock, temporary files).
    if (!file.startsWith(`${base}${path.sep}`) || rel.split('/').some((s) => s.startsWith('.'))) return answer(404);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return answer(404);
    }
    if (!st.isFile()) return answer(404);
    const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
    answer(
      200,
      { 'Content-Length': st.size, 'Last-Modified': lastModified.toUTCString(), 'Content-Type': 'application/octet-stream' },
      fs.createReadStream(file),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
