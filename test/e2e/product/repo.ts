// The apt repository the product e2e hosts install from: written by the pipeline's own publish()
// (what `ephemeral-builder publish` runs), signed with a throwaway key, served on a free loopback
// port (or on the address a host with a network of its own reaches this machine at). Publishing adds to what is there, so 1.0.0 stays installable after 1.1.0 is published.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { publish } from '../../../pipeline/publish/publish.ts';
import { serveDirectory, type StaticServer } from '../../helpers/http-server.ts';
import { makeSigningKey, type SigningKey } from '../harness/index.ts';
import type { Artifacts } from './artifacts.ts';

export interface ProductRepo {
  dir: string;
  url: string;
  add(a: Artifacts): Promise<void>;
  dispose(): Promise<void>;
}

export async function makeProductRepo(address = '127.0.0.1'): Promise<ProductRepo> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-product-repo-'));
  const dir = path.join(work, 'repo');
  let key: SigningKey | undefined;
  let server: StaticServer | undefined;
  try {
    key = await makeSigningKey();
    server = await serveDirectory(dir, address);
  } catch (err) {
    await key?.dispose();
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const k = key;
  const s = server;
  return {
    dir,
    url: s.url,
    async add(a) {
      await publish({ repoDir: dir, gnupgHome: k.gnupgHome, debs: [a.imageDeb, a.hostDeb], sourcesUri: s.url });
    },
    async dispose() {
      await s.close();
      await k.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}
