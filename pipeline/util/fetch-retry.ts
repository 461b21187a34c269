// HTTP GET with retries and exponential backoff, for the Debian mirror.
// A 404 is an answer, not a fault, so it is returned at once; network errors and 5xx are retried.
// A file: URL reads a local mirror directory (`outdated --rewrite`), answering 404 for a missing file.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { StageError } from '../errors.ts';

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
  signal?: AbortSignal;
}

export async function fetchWithRetry(url: string, opts: RetryOptions = {}): Promise<Response> {
  if (url.startsWith('file:')) return fileResponse(url);
  const attempts = opts.attempts ?? Number(process.env.EB_FETCH_ATTEMPTS ?? 4);
  const base = opts.baseDelayMs ?? Number(process.env.EB_FETCH_BACKOFF_MS ?? 1000);
  let last = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const signals = [AbortSignal.timeout(opts.timeoutMs ?? 60_000), ...(opts.signal ? [opts.signal] : [])];
      const res = await fetch(url, { signal: AbortSignal.any(signals) });
      if (res.ok || res.status === 404 || res.status === 410) return res;
      last = `HTTP ${res.status} ${res.statusText}`;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      last = cause?.code ?? cause?.message ?? (err as Error).message;
    }
    if (attempt < attempts) {
      const delay = base * 2 ** (attempt - 1);
      opts.onRetry?.(attempt, last, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  throw new StageError(
    'mirror',
    `cannot fetch ${url}: ${last} (tried ${attempts} times)`,
    "check the network and the recipe's mirror URL; set mirror to a reachable Debian mirror",
  );
}

function fileResponse(url: string): Response {
  const file = fileURLToPath(url);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return new Response(null, { status: 404, statusText: 'Not Found' });
  return new Response(Readable.toWeb(fs.createReadStream(file)) as ReadableStream<Uint8Array>, { status: 200 });
}
