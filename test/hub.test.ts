import { createHash } from 'node:crypto';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scanCacheDir } from '@huggingface/hub';
import { findWeights, isRepoId, resolveModel, type ProgressEvent, type ResolveModelOptions } from '../lib/hub/index.js';
import { PixArtError } from '../lib/errors.js';

/*
 * A fake Hugging Face Hub on 127.0.0.1 serving test/fixtures/pixart-tiny the way the Hub does:
 *   GET  /api/models/{repo}/revision/{rev}      model info (sha, siblings)
 *   POST /api/models/{repo}/paths-info/{rev}    sizes, git oids, lfs.oid (sha256)
 *   GET|HEAD /{repo}/resolve/{rev}/{path}       plain files with ETag = git sha1; LFS files as a
 *        302 to a separate "CDN" server (another port, so another origin) with X-Linked-Etag
 *   GET  <cdn>/blobs/{sha256}                   the bytes, with Range support
 * plus faults: 401 without the repo's token, 404s with X-Error-Code, 500 for chosen paths, a
 * connection cut after half a file, corrupted bytes, slow blobs.
 */

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolvePath(here, '..');
const FIXTURE = join(here, 'fixtures', 'pixart-tiny');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const fakeCommit = (label: string) => createHash('sha1').update(`commit ${label}`).digest('hex');
const isLfs = (p: string) => /\.(safetensors|model|bin)$/.test(p);

interface RepoFile {
  data: Buffer;
  lfs: boolean;
  sha256: string;
  oid: string;
}
interface FakeRepo {
  token?: string;
  refs: Map<string, string>;
  commits: Map<string, Map<string, RepoFile>>;
}
interface Req {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  file?: string;
  range?: string;
  auth?: string;
}

function repoFile(data: Buffer, path: string): RepoFile {
  return { data, lfs: isLfs(path), sha256: sha256(data), oid: gitSha1(data) };
}

/** The tiny model's files (without reference/), read once. */
function fixtureFiles(): Map<string, RepoFile> {
  const out = new Map<string, RepoFile>();
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (prefix === '' && name === 'reference') continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full, `${prefix}${name}/`);
      else out.set(prefix + name, repoFile(readFileSync(full), prefix + name));
    }
  };
  walk(FIXTURE, '');
  return out;
}

class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  log: Req[] = [];
  cutOnce = new Set<string>();
  cutDone = new Set<string>();
  fail500 = new Set<string>();
  corrupt = new Set<string>();
  /** Answer the first N model-info requests with 503. */
  apiFailures = 0;
  throttleMs = 0;
  private hub = http.createServer((q, r) => void this.onHub(q, r).catch((e) => this.crash(r, e)));
  private cdn = http.createServer((q, r) => void this.onCdn(q, r).catch((e) => this.crash(r, e)));
  url = '';
  cdnUrl = '';

  async start(): Promise<void> {
    const listen = (s: http.Server) =>
      new Promise<string>((ok) => s.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(s.address() as { port: number }).port}`)));
    this.url = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise((ok) => s.close(ok));
    }
  }

  reset(): void {
    this.log = [];
    this.cutOnce.clear();
    this.cutDone.clear();
    this.fail500.clear();
    this.corrupt.clear();
    this.apiFailures = 0;
    this.throttleMs = 0;
  }

  /** Requests that sent bytes of `file` from its start (whole downloads). */
  fullGets(file: string): number {
    return this.log.filter((r) => r.method === 'GET' && r.file === file && (!r.range || /^bytes=0-$/.test(r.range)) && (r.server === 'cdn' || !isLfs(file))).length;
  }

  private crash(res: http.ServerResponse, e: unknown) {
    if (!res.headersSent) res.writeHead(599);
    res.end(String(e));
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private authorized(req: http.IncomingMessage, repo: FakeRepo): boolean {
    return !repo.token || req.headers.authorization === `Bearer ${repo.token}`;
  }

  private commitOf(repo: FakeRepo, rev: string): string | undefined {
    if (repo.commits.has(rev)) return rev;
    return repo.refs.get(rev);
  }

  private async body(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async onHub(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const segs = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const entry: Req = { server: 'hub', method: req.method ?? '', path: u.pathname, range: req.headers.range, auth: req.headers.authorization };
    this.log.push(entry);
    if (segs[0] === 'api' && segs[1] === 'models') {
      const at = segs.findIndex((s, i) => i >= 2 && (s === 'revision' || s === 'paths-info'));
      const repoId = segs.slice(2, at).join('/');
      const rev = segs.slice(at + 1).join('/');
      const repo = this.repos.get(repoId);
      if (!repo) return this.json(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
      if (!this.authorized(req, repo)) return this.json(res, 401, { error: 'Invalid credentials in Authorization header' });
      const commit = this.commitOf(repo, rev);
      if (!commit) return this.json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
      const files = repo.commits.get(commit) as Map<string, RepoFile>;
      if (segs[at] === 'revision') {
        if (this.apiFailures > 0) {
          this.apiFailures--;
          return this.json(res, 503, { error: 'busy' });
        }
        return this.json(res, 200, {
          _id: 'x', id: repoId, sha: commit, private: !!repo.token, gated: false, downloads: 0, likes: 0,
          lastModified: '2024-01-01T00:00:00.000Z', pipeline_tag: 'text-to-image',
          siblings: [...files.keys()].map((rfilename) => ({ rfilename })),
        });
      }
      const { paths } = JSON.parse(await this.body(req)) as { paths: string[] };
      return this.json(res, 200, paths.flatMap((p) => {
        const f = files.get(p);
        if (!f) return [];
        const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${f.sha256}\nsize ${f.data.length}\n`;
        return [f.lfs
          ? { type: 'file', path: p, oid: gitSha1(Buffer.from(pointer)), size: f.data.length, lfs: { oid: f.sha256, size: f.data.length, pointerSize: pointer.length } }
          : { type: 'file', path: p, oid: f.oid, size: f.data.length }];
      }));
    }
    const at = segs.indexOf('resolve');
    if (at < 1) return this.json(res, 404, { error: 'not found' });
    const repoId = segs.slice(0, at).join('/');
    const file = segs.slice(at + 2).join('/');
    entry.file = file;
    const repo = this.repos.get(repoId);
    if (!repo) return this.json(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    if (!this.authorized(req, repo)) return this.json(res, 401, { error: 'Invalid credentials in Authorization header' });
    const commit = this.commitOf(repo, segs[at + 1]);
    if (!commit) return this.json(res, 404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' });
    const f = repo.commits.get(commit)?.get(file);
    if (!f) return this.json(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
    if (this.fail500.has(file)) return this.json(res, 500, { error: 'Internal Error' });
    const common = { 'x-repo-commit': commit };
    if (f.lfs) {
      res.writeHead(302, {
        ...common,
        location: `${this.cdnUrl}/blobs/${f.sha256}?repo=${encodeURIComponent(repoId)}&file=${encodeURIComponent(file)}`,
        etag: `"${f.sha256}"`,
        'x-linked-etag': `"${f.sha256}"`,
        'x-linked-size': String(f.data.length),
      });
      res.end();
      return;
    }
    await this.serve(req, res, f.data, file, { ...common, etag: `"${f.oid}"` });
  }

  private async onCdn(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const file = u.searchParams.get('file') ?? '';
    this.log.push({ server: 'cdn', method: req.method ?? '', path: u.pathname, file, range: req.headers.range, auth: req.headers.authorization });
    const sha = u.pathname.split('/')[2];
    const repo = this.repos.get(u.searchParams.get('repo') ?? '');
    const f = repo && [...repo.commits.values()].map((c) => c.get(file)).find((x) => x?.sha256 === sha);
    if (!f) return this.json(res, 404, { error: 'no such blob' });
    await this.serve(req, res, f.data, file, { etag: `"${sha}"` });
  }

  /** Serves `data` with Range support and this file's faults. */
  private async serve(req: http.IncomingMessage, res: http.ServerResponse, data: Buffer, file: string, headers: Record<string, string>): Promise<void> {
    let start = 0;
    let end = data.length - 1;
    let status = 200;
    const extra: Record<string, string> = {};
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
      status = 206;
      extra['content-range'] = `bytes ${start}-${end}/${data.length}`;
    }
    let body = data.subarray(start, end + 1);
    const mid = data.length >> 1;
    if (this.corrupt.has(file) && mid >= start && mid <= end) {
      body = Buffer.from(body);
      body[mid - start] ^= 0xff;
    }
    res.writeHead(status, { ...headers, ...extra, 'content-length': String(body.length), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    if (this.cutOnce.has(file) && !this.cutDone.has(file)) {
      this.cutDone.add(file);
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 30));
      return;
    }
    if (this.throttleMs > 0) {
      for (let i = 0; i < body.length; i += 256 << 10) {
        if (!res.write(body.subarray(i, i + (256 << 10)))) await new Promise((ok) => res.once('drain', ok));
        await new Promise((ok) => setTimeout(ok, this.throttleMs));
      }
      res.end();
      return;
    }
    res.end(body);
  }
}

// ---------------------------------------------------------------------------------------------

const BASE = fixtureFiles();
const COMMIT_A = fakeCommit('A');
const COMMIT_B = fakeCommit('B');
const COMMIT_PR = fakeCommit('PR');
const SCHEDULER_V2 = Buffer.from(BASE.get('scheduler/scheduler_config.json')!.data.toString().replace('"num_train_timesteps": 1000', '"num_train_timesteps": 999'));
const FP16 = {
  transformer: Buffer.concat([Buffer.from('fake fp16 transformer\n'), BASE.get('transformer/diffusion_pytorch_model.safetensors')!.data.subarray(0, 4096)]),
  te1: Buffer.concat([Buffer.from('fake fp16 shard 1\n'), BASE.get('text_encoder/model-00001-of-00002.safetensors')!.data.subarray(0, 4096)]),
  te2: Buffer.from('fake fp16 shard 2\n'),
};

function withFiles(base: Map<string, RepoFile>, add: Record<string, Buffer | string>, remove: string[] = []): Map<string, RepoFile> {
  const out = new Map(base);
  for (const r of remove) out.delete(r);
  for (const [p, d] of Object.entries(add)) out.set(p, repoFile(Buffer.isBuffer(d) ? d : Buffer.from(d), p));
  return out;
}

function rewriteIndex(map: (file: string) => string): string {
  const index = JSON.parse(BASE.get('text_encoder/model.safetensors.index.json')!.data.toString()) as { weight_map: Record<string, string> };
  for (const k of Object.keys(index.weight_map)) index.weight_map[k] = map(index.weight_map[k]);
  return JSON.stringify(index, null, 2);
}

const hub = new FakeHub();
let tmp = '';
let seq = 0;
const fresh = (label: string) => {
  const d = join(tmp, `${label}-${seq++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'pixart-hub-test-'));
  hub.repos.set('org/tiny', {
    refs: new Map([['main', COMMIT_A], ['v1.0', COMMIT_A], ['v2', COMMIT_B], ['refs/pr/1', COMMIT_PR]]),
    commits: new Map([
      [COMMIT_A, BASE],
      [COMMIT_B, withFiles(BASE, { 'scheduler/scheduler_config.json': SCHEDULER_V2 })],
      [COMMIT_PR, withFiles(BASE, { 'README.md': '# pr\n' })],
    ]),
  });
  hub.repos.set('private/tiny', { token: 'hf_secret_token', refs: new Map([['main', COMMIT_A]]), commits: new Map([[COMMIT_A, BASE]]) });
  hub.repos.set('odd/token', { token: 'not-an-hf-prefixed-token', refs: new Map([['main', COMMIT_A]]), commits: new Map([[COMMIT_A, BASE]]) });
  const fp16Index = rewriteIndex((f) => f.replace('model-', 'model.fp16-'));
  hub.repos.set('org/tiny-fp16', {
    refs: new Map([['main', COMMIT_A]]),
    commits: new Map([[COMMIT_A, withFiles(BASE, {
      'transformer/diffusion_pytorch_model.fp16.safetensors': FP16.transformer,
      'text_encoder/model.fp16-00001-of-00002.safetensors': FP16.te1,
      'text_encoder/model.fp16-00002-of-00002.safetensors': FP16.te2,
      'text_encoder/model.safetensors.index.fp16.json': fp16Index,
      'transformer/diffusion_pytorch_model.bin': 'pickles are not read\n',
    })]]),
  });
  hub.repos.set('org/evil', {
    refs: new Map([['main', COMMIT_A], ['abs', COMMIT_B]]),
    commits: new Map([
      [COMMIT_A, withFiles(BASE, { 'text_encoder/model.safetensors.index.json': rewriteIndex((f) => `../../${f}`) })],
      [COMMIT_B, withFiles(BASE, { 'text_encoder/model.safetensors.index.json': rewriteIndex(() => '/etc/passwd.safetensors') })],
    ]),
  });
  hub.repos.set('org/no-vae', {
    refs: new Map([['main', COMMIT_A]]),
    commits: new Map([[COMMIT_A, withFiles(BASE, {}, ['vae/config.json', 'vae/diffusion_pytorch_model.safetensors'])]]),
  });
  hub.repos.set('org/bin-only', {
    refs: new Map([['main', COMMIT_A]]),
    commits: new Map([[COMMIT_A, withFiles(BASE, { 'vae/diffusion_pytorch_model.bin': 'pickle\n' }, ['vae/diffusion_pytorch_model.safetensors'])]]),
  });
  await hub.start();
});

afterAll(async () => {
  await hub.stop();
  rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => hub.reset());

/** Options for the fake hub, isolated from this machine's HF_* variables and ~/.cache. */
function opts(cacheDir: string, extra: ResolveModelOptions = {}): ResolveModelOptions {
  return { cacheDir, endpoint: hub.url, env: { HF_HOME: join(cacheDir, 'hf-home') }, retryDelayMs: 5, ...extra };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PixArtError);
    return (e as PixArtError).code;
  }
  throw new Error('expected a rejection');
}

function blobsOf(cacheDir: string, repo = 'org/tiny'): string[] {
  const dir = join(cacheDir, `models--${repo.replace('/', '--')}`, 'blobs');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

const ALL_FILES = [...BASE.keys()];

// ---------------------------------------------------------------------------------------------

describe('resolveModel: download into the Hugging Face cache layout', { timeout: 30_000 }, () => {
  it('downloads every component of the tiny model: blobs, relative snapshot links, refs/main, identical bytes', async () => {
    const cache = fresh('full');
    const events: ProgressEvent[] = [];
    const snap = await resolveModel('org/tiny', opts(cache, { onProgress: (e) => events.push(e) }));
    const repoDir = join(cache, 'models--org--tiny');
    expect(snap).toBe(join(repoDir, 'snapshots', COMMIT_A));
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT_A);

    // Every file of the model, as a relative link to blobs/<etag>: sha256 for LFS, git sha1 otherwise.
    for (const [p, f] of BASE) {
      const link = join(snap, ...p.split('/'));
      expect(lstatSync(link).isSymbolicLink(), p).toBe(true);
      const target = readlinkSync(link);
      expect(target.startsWith('..'), p).toBe(true);
      const etag = f.lfs ? f.sha256 : f.oid;
      expect(resolvePath(dirname(link), target)).toBe(join(repoDir, 'blobs', etag));
      expect(readFileSync(link).equals(f.data), p).toBe(true);
    }
    expect(blobsOf(cache)).toEqual([...new Set([...BASE.values()].map((f) => (f.lfs ? f.sha256 : f.oid)))].sort());
    expect(readdirSync(join(repoDir, 'snapshots'))).toEqual([COMMIT_A]);

    // Only what the files need was fetched, once each; LFS bytes came from the CDN host.
    for (const p of ALL_FILES) expect(hub.fullGets(p), p).toBe(1);
    expect(hub.log.filter((r) => r.path.startsWith('/api/')).length).toBe(2);

    // Progress: per file, monotonic, ending at total.
    const vae = events.filter((e) => e.file === 'vae/diffusion_pytorch_model.safetensors');
    expect(vae.length).toBeGreaterThanOrEqual(2);
    expect(vae.map((e) => e.downloaded)).toEqual([...vae.map((e) => e.downloaded)].sort((a, b) => a - b));
    expect(vae.at(-1)).toEqual({ file: 'vae/diffusion_pytorch_model.safetensors', downloaded: BASE.get('vae/diffusion_pytorch_model.safetensors')!.data.length, total: BASE.get('vae/diffusion_pytorch_model.safetensors')!.data.length });
    for (const p of ALL_FILES) expect(events.some((e) => e.file === p && e.downloaded === e.total), p).toBe(true);

    // No leftovers, and @huggingface/hub's own cache scanner reads our layout.
    expect(blobsOf(cache).filter((n) => /\.(incomplete|lock)$/.test(n))).toEqual([]);
    const scan = await scanCacheDir(cache);
    expect(scan.warnings).toEqual([]);
    const repo = scan.repos.find((r) => r.id.name === 'org/tiny');
    expect(repo?.revisions.map((r) => [r.commitOid, r.refs])).toEqual([[COMMIT_A, ['main']]]);
    // (its scanner reads the top level of a snapshot only)
    expect(repo?.revisions[0].files.map((f) => [relative(snap, f.path), f.blob.size])).toEqual([['model_index.json', BASE.get('model_index.json')!.data.length]]);

    // findWeights: the engine's entry point for each weight-bearing component.
    expect(findWeights(join(snap, 'text_encoder'))).toBe(join(snap, 'text_encoder', 'model.safetensors.index.json'));
    expect(findWeights(join(snap, 'vae'))).toBe(join(snap, 'vae', 'diffusion_pytorch_model.safetensors'));
    expect(findWeights(join(snap, 'tokenizer'))).toBeNull();
  });

  it('a second call is served from the cache with no request; refresh asks for the commit only', async () => {
    const cache = fresh('warm');
    const first = await resolveModel('org/tiny', opts(cache));
    const before = hub.log.length;
    expect(before).toBeGreaterThan(0);
    expect(await resolveModel('org/tiny', opts(cache))).toBe(first);
    expect(hub.log.length).toBe(before);

    expect(await resolveModel('org/tiny', opts(cache, { refresh: true }))).toBe(first);
    const extra = hub.log.slice(before);
    expect(extra.map((r) => r.path.split('/').slice(0, 5).join('/'))).toEqual(['/api/models/org/tiny', '/api/models/org/tiny']);
    for (const p of ALL_FILES) expect(hub.fullGets(p), p).toBe(1);
  });

  it('downloads only the components asked for, and adds others later into the same snapshot', async () => {
    const cache = fresh('components');
    const snap = await resolveModel('org/tiny', opts(cache, { components: ['scheduler', 'vae'] }));
    expect(readdirSync(snap).sort()).toEqual(['model_index.json', 'scheduler', 'vae']);
    expect(hub.fullGets('transformer/diffusion_pytorch_model.safetensors')).toBe(0);
    expect(hub.fullGets('text_encoder/model-00001-of-00002.safetensors')).toBe(0);
    expect(hub.fullGets('tokenizer/spiece.model')).toBe(0);

    const again = await resolveModel('org/tiny', opts(cache, { components: ['tokenizer', 'vae'] }));
    expect(again).toBe(snap);
    expect(readdirSync(snap).sort()).toEqual(['model_index.json', 'scheduler', 'tokenizer', 'vae']);
    expect(hub.fullGets('vae/diffusion_pytorch_model.safetensors')).toBe(1);
    expect(readFileSync(join(snap, 'tokenizer', 'spiece.model')).equals(BASE.get('tokenizer/spiece.model')!.data)).toBe(true);
  });

  it('a local folder passes through unchanged; a missing one is ERR_PIXART_MODEL_NOT_FOUND', async () => {
    expect(await resolveModel(FIXTURE, opts(fresh('local')))).toBe(FIXTURE);
    const rel = relative(process.cwd(), FIXTURE);
    expect(await resolveModel(rel, opts(fresh('local')))).toBe(rel);
    expect(await codeOf(resolveModel(join(tmp, 'no-such-folder'), opts(fresh('local'))))).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    expect(await codeOf(resolveModel('./no-such-folder', opts(fresh('local'))))).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    expect(await codeOf(resolveModel(join(FIXTURE, 'model_index.json'), opts(fresh('local'))))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(hub.log).toEqual([]);
  });
});

describe('revisions and variants', { timeout: 30_000 }, () => {
  it('a branch other than main, a tag, a ref with slashes and a commit hash', async () => {
    const cache = fresh('rev');
    const repoDir = join(cache, 'models--org--tiny');
    const v2 = await resolveModel('org/tiny', opts(cache, { revision: 'v2', components: ['scheduler'] }));
    expect(v2).toBe(join(repoDir, 'snapshots', COMMIT_B));
    expect(readFileSync(join(repoDir, 'refs', 'v2'), 'utf8')).toBe(COMMIT_B);
    expect(readFileSync(join(v2, 'scheduler', 'scheduler_config.json')).equals(SCHEDULER_V2)).toBe(true);
    expect(existsSync(join(repoDir, 'refs', 'main'))).toBe(false);

    const tag = await resolveModel('org/tiny', opts(cache, { revision: 'v1.0', components: ['scheduler'] }));
    expect(tag).toBe(join(repoDir, 'snapshots', COMMIT_A));
    expect(readFileSync(join(repoDir, 'refs', 'v1.0'), 'utf8')).toBe(COMMIT_A);
    expect(readFileSync(join(tag, 'scheduler', 'scheduler_config.json')).equals(BASE.get('scheduler/scheduler_config.json')!.data)).toBe(true);

    const pr = await resolveModel('org/tiny', opts(cache, { revision: 'refs/pr/1', components: ['scheduler'] }));
    expect(pr).toBe(join(repoDir, 'snapshots', COMMIT_PR));
    expect(readFileSync(join(repoDir, 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(COMMIT_PR);

    const n = hub.log.length;
    const bySha = await resolveModel('org/tiny', opts(cache, { revision: COMMIT_B, components: ['scheduler'] }));
    expect(bySha).toBe(v2);
    expect(hub.log.length).toBe(n); // a commit already complete in the cache: no request
    expect(readdirSync(join(repoDir, 'refs')).sort()).toEqual(['refs', 'v1.0', 'v2']);

    expect(await codeOf(resolveModel('org/tiny', opts(cache, { revision: 'no-such-branch' })))).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    expect(await codeOf(resolveModel('org/tiny', opts(cache, { revision: '../../etc' })))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });

  it("variant 'fp16' picks the .fp16 files (and the fp16 index's shards), falling back to plain weights where a component has none", async () => {
    const cache = fresh('fp16');
    const snap = await resolveModel('org/tiny-fp16', opts(cache, { variant: 'fp16', components: ['transformer', 'text_encoder', 'vae'] }));
    expect(readdirSync(join(snap, 'transformer')).sort()).toEqual(['config.json', 'diffusion_pytorch_model.fp16.safetensors']);
    expect(readdirSync(join(snap, 'text_encoder')).sort()).toEqual([
      'config.json', 'model.fp16-00001-of-00002.safetensors', 'model.fp16-00002-of-00002.safetensors', 'model.safetensors.index.fp16.json',
    ]);
    expect(readdirSync(join(snap, 'vae')).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
    expect(readFileSync(join(snap, 'transformer', 'diffusion_pytorch_model.fp16.safetensors')).equals(FP16.transformer)).toBe(true);
    expect(readFileSync(join(snap, 'text_encoder', 'model.fp16-00002-of-00002.safetensors')).equals(FP16.te2)).toBe(true);
    for (const p of ['transformer/diffusion_pytorch_model.safetensors', 'transformer/diffusion_pytorch_model.bin', 'text_encoder/model-00001-of-00002.safetensors', 'text_encoder/model.safetensors.index.json']) {
      expect(hub.log.some((r) => r.file === p), p).toBe(false);
    }
    // The Hub has no fp16 vae: recorded as huggingface_hub's .no_exist marker, so the next call needs no request.
    expect(existsSync(join(cache, 'models--org--tiny-fp16', '.no_exist', COMMIT_A, 'vae', 'diffusion_pytorch_model.fp16.safetensors'))).toBe(true);
    const n = hub.log.length;
    expect(await resolveModel('org/tiny-fp16', opts(cache, { variant: 'fp16', components: ['transformer', 'text_encoder', 'vae'] }))).toBe(snap);
    expect(hub.log.length).toBe(n);
    expect(findWeights(join(snap, 'transformer'), 'fp16')).toBe(join(snap, 'transformer', 'diffusion_pytorch_model.fp16.safetensors'));
    expect(findWeights(join(snap, 'text_encoder'), 'fp16')).toBe(join(snap, 'text_encoder', 'model.safetensors.index.fp16.json'));
    expect(findWeights(join(snap, 'vae'), 'fp16')).toBe(join(snap, 'vae', 'diffusion_pytorch_model.safetensors'));

    // A plain download of the same repo does not count as fp16 in the cache.
    const plainCache = fresh('fp16-plain');
    await resolveModel('org/tiny-fp16', opts(plainCache, { components: ['transformer'] }));
    expect(readdirSync(join(plainCache, 'models--org--tiny-fp16', 'snapshots', COMMIT_A, 'transformer')).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
    const m = hub.log.length;
    await resolveModel('org/tiny-fp16', opts(plainCache, { components: ['transformer'], variant: 'fp16' }));
    expect(hub.log.length).toBeGreaterThan(m);
    expect(readdirSync(join(plainCache, 'models--org--tiny-fp16', 'snapshots', COMMIT_A, 'transformer'))).toContain('diffusion_pytorch_model.fp16.safetensors');

    // Only a component without fp16 files asked for: its plain weights (the repo has fp16 elsewhere).
    const vaeOnly = await resolveModel('org/tiny-fp16', opts(fresh('fp16-vae'), { variant: 'fp16', components: ['vae'] }));
    expect(readdirSync(join(vaeOnly, 'vae')).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);

    // A repo with no fp16 files at all is an error, as in diffusers.
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('fp16-none'), { variant: 'fp16', components: ['vae'] })))).toBe('ERR_PIXART_MODEL_NOT_FOUND');
  });
});

describe('offline mode and HF_* settings', { timeout: 30_000 }, () => {
  it('HF_HUB_OFFLINE=1 serves a warm cache without requests and fails with ERR_PIXART_OFFLINE on a cold one', async () => {
    const cache = fresh('offline');
    const snap = await resolveModel('org/tiny', opts(cache, { components: ['scheduler', 'vae'] }));
    hub.reset();
    const offline = (extra: ResolveModelOptions = {}) => opts(cache, { env: { HF_HUB_OFFLINE: '1', HF_HOME: join(cache, 'h') }, ...extra });
    expect(await resolveModel('org/tiny', offline({ components: ['vae'] }))).toBe(snap);
    expect(await resolveModel('org/tiny', offline({ components: ['vae'], revision: COMMIT_A }))).toBe(snap);
    expect(await codeOf(resolveModel('org/tiny', offline({ components: ['transformer'] })))).toBe('ERR_PIXART_OFFLINE');
    expect(await codeOf(resolveModel('org/tiny', offline({ revision: 'v2' })))).toBe('ERR_PIXART_OFFLINE');
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('cold'), { env: { HF_HUB_OFFLINE: 'true' } })))).toBe('ERR_PIXART_OFFLINE');
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('cold'), { offline: true })))).toBe('ERR_PIXART_OFFLINE');
    // A snapshot whose blob went missing is not complete.
    rmSync(join(cache, 'models--org--tiny', 'blobs', BASE.get('vae/diffusion_pytorch_model.safetensors')!.sha256));
    expect(await codeOf(resolveModel('org/tiny', offline({ components: ['vae'] })))).toBe('ERR_PIXART_OFFLINE');
    expect(hub.log).toEqual([]);
    // Online again, the missing blob comes back.
    expect(await resolveModel('org/tiny', opts(cache, { components: ['vae'] }))).toBe(snap);
    expect(hub.fullGets('vae/diffusion_pytorch_model.safetensors')).toBe(1);
  });

  it('reads HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE from process.env', async () => {
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(process.env)) if (k.startsWith('HF_') || k.startsWith('HUGGING')) delete process.env[k];
      const home = fresh('hf-home');
      process.env.HF_HOME = home;
      process.env.HF_ENDPOINT = `${hub.url}/`;
      process.env.HF_TOKEN = 'hf_secret_token';
      const snap = await resolveModel('private/tiny', { components: ['scheduler'], retryDelayMs: 5 });
      expect(snap).toBe(join(home, 'hub', 'models--private--tiny', 'snapshots', COMMIT_A));
      // The token went to the Hub, never to the CDN host.
      expect(hub.log.filter((r) => r.server === 'hub').every((r) => r.auth === 'Bearer hf_secret_token')).toBe(true);

      const hubCache = fresh('hf-hub-cache');
      process.env.HF_HUB_CACHE = hubCache;
      delete process.env.HF_TOKEN;
      writeFileSync(join(home, 'token'), 'hf_secret_token\n'); // what `hf auth login` leaves
      const snap2 = await resolveModel('private/tiny', { components: ['vae'], retryDelayMs: 5 });
      expect(snap2).toBe(join(hubCache, 'models--private--tiny', 'snapshots', COMMIT_A));
      expect(hub.log.filter((r) => r.server === 'cdn').length).toBeGreaterThan(0);
      expect(hub.log.filter((r) => r.server === 'cdn').every((r) => r.auth === undefined)).toBe(true);

      process.env.HF_HUB_OFFLINE = '1';
      delete process.env.HF_ENDPOINT;
      hub.reset();
      expect(await resolveModel('private/tiny', { components: ['vae'] })).toBe(snap2);
      expect(await codeOf(resolveModel('private/tiny', { components: ['transformer'] }))).toBe('ERR_PIXART_OFFLINE');
      expect(hub.log).toEqual([]);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('401 without the token or with a wrong one is ERR_PIXART_HUB_AUTH; tokens without an hf_ prefix work too', async () => {
    const cache = fresh('auth');
    const e1 = await resolveModel('private/tiny', opts(cache)).catch((e) => e);
    expect(e1.code).toBe('ERR_PIXART_HUB_AUTH');
    expect(e1.message).toMatch(/HF_TOKEN/);
    expect(await codeOf(resolveModel('private/tiny', opts(cache, { token: 'hf_wrong' })))).toBe('ERR_PIXART_HUB_AUTH');
    expect(await codeOf(resolveModel('private/tiny', opts(cache, { env: { HF_TOKEN: 'hf_wrong', HF_HOME: cache } })))).toBe('ERR_PIXART_HUB_AUTH');
    expect(blobsOf(cache, 'private/tiny')).toEqual([]);
    expect(await resolveModel('odd/token', opts(cache, { token: 'not-an-hf-prefixed-token', components: ['scheduler'] }))).toContain('models--odd--token');
  });
});

describe('errors', { timeout: 30_000 }, () => {
  it('404 for an unknown repo, revision or component is ERR_PIXART_MODEL_NOT_FOUND', async () => {
    const cache = fresh('404');
    const e = await resolveModel('org/nope', opts(cache)).catch((x) => x);
    expect(e.code).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    expect(e.message).toMatch(/repository not found/);
    expect(await codeOf(resolveModel('nope', opts(cache)))).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    const r = await resolveModel('org/tiny', opts(cache, { revision: 'v9' })).catch((x) => x);
    expect(r.code).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    expect(r.message).toMatch(/revision not found/);
    // A component model_index.json lists whose folder is missing is an error; one it does not
    // list (and the repo does not have) is left out.
    const nv = await resolveModel('org/no-vae', opts(cache, { components: ['vae'] })).catch((x) => x);
    expect(nv.code).toBe('ERR_PIXART_MODEL_NOT_FOUND');
    expect(nv.message).toMatch(/no vae\/ folder/);
    const snap = await resolveModel('org/tiny', opts(cache, { components: ['scheduler', 'safety_checker'] }));
    expect(readdirSync(snap).sort()).toEqual(['model_index.json', 'scheduler']);
  });

  it('malformed repo ids are ERR_PIXART_INVALID_ARGUMENT, with no request', async () => {
    const good = ['gpt2', 'PixArt-alpha/PixArt-XL-2-1024-MS', 'a_b/c.d-e', 'x'.repeat(96), `org/${'n'.repeat(96)}`];
    const bad = ['', 'a/b/c', 'org--x/name', 'org/na..me', '-abc', 'abc-', 'org/.x', 'a b', 'org/name.git', 'x'.repeat(97), 'org/', 'org/name?x', 'ü/x', 'org/name#1'];
    for (const s of good) expect(isRepoId(s), s).toBe(true);
    expect(isRepoId('/')).toBe(false);
    for (const s of bad) {
      expect(isRepoId(s), s).toBe(false);
      expect(await codeOf(resolveModel(s, opts(fresh('bad')))), s).toBe('ERR_PIXART_INVALID_ARGUMENT');
    }
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('bad'), { components: ['../vae'] })))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('bad'), { variant: 'fp16/../x' })))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('bad'), { endpoint: 'ftp://x' })))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(hub.log).toEqual([]);
  });

  it("an index naming '../' or absolute shard paths is ERR_PIXART_MODEL_LOAD, and no weight is downloaded", async () => {
    for (const revision of ['main', 'abs']) {
      const cache = fresh('evil');
      const e = await resolveModel('org/evil', opts(cache, { revision, components: ['text_encoder'] })).catch((x) => x);
      expect(e.code, revision).toBe('ERR_PIXART_MODEL_LOAD');
      expect(e.message).toMatch(/outside the component folder/);
      expect(hub.log.some((r) => r.file?.endsWith('.safetensors')), revision).toBe(false);
      expect(existsSync(join(cache, 'models--org--evil', 'snapshots')), revision).toBe(false);
      hub.reset();
    }
    expect(existsSync(join(tmp, 'x.safetensors'))).toBe(false);
  });

  it('weights only in .bin are ERR_PIXART_MODEL_LOAD (the engine reads safetensors only) before any weight is fetched', async () => {
    const e = await resolveModel('org/bin-only', opts(fresh('bin'), { components: ['vae'] })).catch((x) => x);
    expect(e.code).toBe('ERR_PIXART_MODEL_LOAD');
    expect(e.message).toMatch(/safetensors/);
    expect(hub.log.some((r) => r.file?.startsWith('vae/'))).toBe(false);
  });

  it('a 500 on a file is retried, then ERR_PIXART_HUB; a 503 on the API is retried and passes', async () => {
    const cache = fresh('500');
    hub.fail500.add('vae/config.json');
    const e = await resolveModel('org/tiny', opts(cache, { components: ['vae'], retries: 2 })).catch((x) => x);
    expect(e.code).toBe('ERR_PIXART_HUB');
    expect(e.message).toMatch(/500/);
    expect(hub.log.filter((r) => r.file === 'vae/config.json').length).toBe(3);
    expect(existsSync(join(cache, 'models--org--tiny', 'snapshots'))).toBe(false);
    hub.reset();

    hub.apiFailures = 2;
    await resolveModel('org/tiny', opts(cache, { components: ['vae'], retries: 2 }));
    expect(hub.log.filter((r) => r.path.includes('/revision/')).length).toBe(3);
  });

  it('an unreachable Hub is ERR_PIXART_HUB; with refresh, a complete cached snapshot still serves', async () => {
    const cache = fresh('down');
    const snap = await resolveModel('org/tiny', opts(cache, { components: ['scheduler'] }));
    const dead = http.createServer();
    const port = await new Promise<number>((ok) => dead.listen(0, '127.0.0.1', () => ok((dead.address() as { port: number }).port)));
    await new Promise((ok) => dead.close(ok));
    const endpoint = `http://127.0.0.1:${port}`;
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('down'), { endpoint, retries: 1 })))).toBe('ERR_PIXART_HUB');
    expect(await resolveModel('org/tiny', opts(cache, { endpoint, retries: 1, refresh: true, components: ['scheduler'] }))).toBe(snap);
  });
});

describe('integrity: checksums, resume, disk full', { timeout: 30_000 }, () => {
  it('a sha256 mismatch is ERR_PIXART_CHECKSUM and leaves neither blob nor partial file', async () => {
    const cache = fresh('checksum');
    hub.corrupt.add('vae/diffusion_pytorch_model.safetensors');
    const e = await resolveModel('org/tiny', opts(cache, { components: ['vae'] })).catch((x) => x);
    expect(e.code).toBe('ERR_PIXART_CHECKSUM');
    expect(e.message).toMatch(/sha256/);
    const sha = BASE.get('vae/diffusion_pytorch_model.safetensors')!.sha256;
    expect(blobsOf(cache).filter((n) => n.startsWith(sha))).toEqual([]);
    expect(existsSync(join(cache, 'models--org--tiny', 'snapshots'))).toBe(false);
    // A plain (git sha1) file that does not match is caught the same way.
    hub.reset();
    hub.corrupt.add('vae/config.json');
    expect(await codeOf(resolveModel('org/tiny', opts(fresh('checksum'), { components: ['vae'] })))).toBe('ERR_PIXART_CHECKSUM');
  });

  it('a connection cut halfway is resumed with a Range request and verified', async () => {
    const cache = fresh('cut');
    const file = 'vae/diffusion_pytorch_model.safetensors';
    const size = BASE.get(file)!.data.length;
    hub.cutOnce.add(file);
    hub.cutOnce.add('vae/config.json');
    const snap = await resolveModel('org/tiny', opts(cache, { components: ['vae'] }));
    expect(readFileSync(join(snap, ...file.split('/'))).equals(BASE.get(file)!.data)).toBe(true);
    expect(readFileSync(join(snap, 'vae', 'config.json')).equals(BASE.get('vae/config.json')!.data)).toBe(true);
    const gets = hub.log.filter((r) => r.server === 'cdn' && r.file === file);
    expect(gets.length).toBe(2);
    expect(gets[0].range).toBeUndefined();
    const start = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    expect(start).toBeGreaterThan(0);
    expect(start).toBeLessThanOrEqual(size / 2);
    expect(hub.log.filter((r) => r.file === 'vae/config.json' && r.range).length).toBe(1);
  });

  it('a partial file left by an earlier run is resumed; an aborted download resumes on the next call', async () => {
    const cache = fresh('partial');
    const file = 'vae/diffusion_pytorch_model.safetensors';
    const { data, sha256: sha } = BASE.get(file)!;
    const blobs = join(cache, 'models--org--tiny', 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${sha}.incomplete`), data.subarray(0, 1000));
    const snap = await resolveModel('org/tiny', opts(cache, { components: ['vae'] }));
    expect(hub.log.filter((r) => r.file === file).map((r) => r.range)).toEqual(['bytes=1000-', 'bytes=1000-']);
    expect(readFileSync(join(snap, ...file.split('/'))).equals(data)).toBe(true);

    // Abort mid-file, then resume.
    const cache2 = fresh('abort');
    hub.reset();
    hub.throttleMs = 5;
    const ac = new AbortController();
    const reason = new PixArtError('ERR_PIXART_CANCELLED', 'stop');
    const err = await resolveModel('org/tiny', opts(cache2, {
      components: ['vae'], signal: ac.signal,
      onProgress: (e) => { if (e.file === file && e.downloaded > 0) ac.abort(reason); },
    })).catch((x) => x);
    expect(err).toBe(reason);
    const partial = join(cache2, 'models--org--tiny', 'blobs', `${sha}.incomplete`);
    const have = statSync(partial).size;
    expect(have).toBeGreaterThan(0);
    expect(existsSync(join(cache2, 'models--org--tiny', 'blobs', `${sha}.lock`))).toBe(false);
    hub.reset();
    await resolveModel('org/tiny', opts(cache2, { components: ['vae'] }));
    expect(hub.log.filter((r) => r.server === 'cdn' && r.file === file).map((r) => r.range)).toEqual([`bytes=${have}-`]);
    expect(sha256(readFileSync(join(cache2, 'models--org--tiny', 'blobs', sha)))).toBe(sha);
  });

  it('ENOSPC while writing is ERR_PIXART_DISK_FULL and removes the partial files', async () => {
    const cache = fresh('enospc');
    const file = 'vae/diffusion_pytorch_model.safetensors';
    let written = 0;
    const e = await resolveModel('org/tiny', opts(cache, {
      hooks: {
        beforeWrite: (f, n) => {
          written += n;
          if (f.includes(BASE.get(file)!.sha256) && written > 300_000) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        },
      },
    })).catch((x) => x);
    expect(e.code).toBe('ERR_PIXART_DISK_FULL');
    expect(blobsOf(cache).filter((n) => /\.(incomplete|lock)$/.test(n))).toEqual([]);
    expect(blobsOf(cache)).not.toContain(BASE.get(file)!.sha256);
    expect(existsSync(join(cache, 'models--org--tiny', 'snapshots'))).toBe(false);
  });

  it('a real ENOSPC on a 1 MiB tmpfs (injected instead where mounting is not allowed)', async () => {
    const mnt = fresh('tmpfs');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' }).status === 0;
    try {
      const e = await resolveModel('org/tiny', opts(mnt, {
        components: ['vae'],
        hooks: mounted ? undefined : { beforeWrite: (f) => { if (statSync(f).size > 1 << 20) throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }); } },
      })).catch((x) => x);
      expect(e.code).toBe('ERR_PIXART_DISK_FULL');
      expect(blobsOf(mnt).filter((n) => /\.(incomplete|lock)$/.test(n))).toEqual([]);
      expect(blobsOf(mnt)).not.toContain(BASE.get('vae/diffusion_pytorch_model.safetensors')!.sha256);
      // What is there is whole: every blob matches its name.
      for (const b of blobsOf(mnt)) {
        const f = [...BASE.values()].find((x) => x.sha256 === b || x.oid === b);
        expect(f, b).toBeDefined();
        expect(readFileSync(join(mnt, 'models--org--tiny', 'blobs', b)).equals(f!.data)).toBe(true);
      }
    } finally {
      if (mounted) execFileSync('umount', [mnt]);
    }
  });
});

describe('concurrency', { timeout: 30_000 }, () => {
  it('two concurrent calls in one process both succeed and each blob is downloaded once', async () => {
    const cache = fresh('concurrent');
    hub.throttleMs = 2;
    const [a, b] = await Promise.all([resolveModel('org/tiny', opts(cache)), resolveModel('org/tiny', opts(cache))]);
    expect(a).toBe(b);
    for (const p of ALL_FILES) expect(hub.fullGets(p), p).toBe(1);
    for (const [p, f] of BASE) expect(readFileSync(join(a, ...p.split('/'))).equals(f.data), p).toBe(true);
    expect(blobsOf(cache).filter((n) => /\.(incomplete|lock)$/.test(n))).toEqual([]);
  });

  it('two processes downloading the same model at once both succeed and each blob is downloaded once', async () => {
    const ts = (await import('typescript')).default;
    // Transpile lib/hub (+ lib/errors.ts) for plain node child processes.
    const out = fresh('child-build');
    const hubEntry = createRequire(import.meta.url).resolve('@huggingface/hub');
    const hubEsm = existsSync(hubEntry.replace(/index\.js$/, 'index.mjs')) ? hubEntry.replace(/index\.js$/, 'index.mjs') : hubEntry;
    const sources = [...readdirSync(join(ROOT, 'lib', 'hub')).filter((n) => n.endsWith('.ts')).map((n) => join('lib', 'hub', n)), join('lib', 'errors.ts')];
    for (const src of sources) {
      const js = ts.transpileModule(readFileSync(join(ROOT, src), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText.replaceAll("'@huggingface/hub'", JSON.stringify(pathToFileURL(hubEsm).href));
      const dst = join(out, src.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(dst), { recursive: true });
      writeFileSync(dst, js);
    }
    const runner = join(out, 'run.mjs');
    writeFileSync(runner, [
      `import { resolveModel } from ${JSON.stringify(pathToFileURL(join(out, 'lib', 'hub', 'index.js')).href)};`,
      'const [repo, o] = JSON.parse(process.argv[2]);',
      'resolveModel(repo, o).then((p) => { process.stdout.write(JSON.stringify({ ok: p })); }, (e) => { process.stdout.write(JSON.stringify({ err: e.code ?? String(e) })); process.exitCode = 1; });',
    ].join('\n'));

    const cache = fresh('procs');
    hub.throttleMs = 3;
    const run = () => new Promise<{ code: number | null; out: string }>((ok) => {
      const child = spawn(process.execPath, [runner, JSON.stringify(['org/tiny', { cacheDir: cache, endpoint: hub.url, env: { HF_HOME: cache }, retryDelayMs: 5 }])], { stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      child.stdout.on('data', (d) => (s += d));
      child.on('close', (code) => ok({ code, out: s }));
    });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.code, a.out).toBe(0);
    expect(b.code, b.out).toBe(0);
    const snap = join(cache, 'models--org--tiny', 'snapshots', COMMIT_A);
    expect(JSON.parse(a.out).ok).toBe(snap);
    expect(JSON.parse(b.out).ok).toBe(snap);
    for (const p of ALL_FILES) expect(hub.fullGets(p), p).toBe(1);
    for (const [p, f] of BASE) expect(readFileSync(join(snap, ...p.split('/'))).equals(f.data), p).toBe(true);
    expect(blobsOf(cache).filter((n) => /\.(incomplete|lock)$/.test(n))).toEqual([]);
  });

  it("a stale lock (dead owner on this host, or unrefreshed for long) is taken over; a live one is waited for", async () => {
    const cache = fresh('stale');
    const blobs = join(cache, 'models--org--tiny', 'blobs');
    mkdirSync(blobs, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const idx = BASE.get('model_index.json')!.oid;
    writeFileSync(join(blobs, `${idx}.lock`), JSON.stringify({ pid: dead, host: hostname() }));
    const cfg = BASE.get('scheduler/scheduler_config.json')!.oid;
    writeFileSync(join(blobs, `${cfg}.lock`), JSON.stringify({ pid: 1, host: 'another-machine' }));
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(blobs, `${cfg}.lock`), old, old);
    const t0 = Date.now();
    await resolveModel('org/tiny', opts(cache, { components: ['scheduler'] }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(blobsOf(cache).filter((n) => n.endsWith('.lock'))).toEqual([]);

    // A live lock (this process) held for a moment: the call waits, then finds the blob.
    hub.reset();
    const cache2 = fresh('live');
    const blobs2 = join(cache2, 'models--org--tiny', 'blobs');
    mkdirSync(blobs2, { recursive: true });
    writeFileSync(join(blobs2, `${idx}.lock`), JSON.stringify({ pid: process.pid, host: hostname() }));
    const pending = resolveModel('org/tiny', opts(cache2, { components: ['scheduler'] }));
    await new Promise((ok) => setTimeout(ok, 300));
    expect(existsSync(join(blobs2, idx))).toBe(false);
    writeFileSync(join(blobs2, idx), BASE.get('model_index.json')!.data);
    rmSync(join(blobs2, `${idx}.lock`));
    const snap = await pending;
    expect(realpathSync(join(snap, 'model_index.json'))).toBe(realpathSync(join(blobs2, idx)));
    expect(hub.fullGets('model_index.json')).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('PixArtAlphaPipeline.fromPretrained(repo id) through the cache', { timeout: 60_000 }, () => {
  it('downloads, loads the sharded T5 through the cache symlinks, and generates the reference image', async () => {
    const { PixArtAlphaPipeline } = await import('../lib/pipeline/PixArtAlphaPipeline.js');
    const { Engine } = await import('../lib/engine/Engine.js');
    const { fixtureCase, refF32, expectClose } = await import('./helpers/fixtures.js');
    const cache = fresh('pipeline');
    const engine = Engine.create({ threads: 2 });
    const events: ProgressEvent[] = [];
    const pipe = await PixArtAlphaPipeline.fromPretrained('org/tiny', {
      engine, cacheDir: cache, endpoint: hub.url, onDownloadProgress: (e) => events.push(e),
    });
    try {
      expect(pipe.folder).toBe(join(cache, 'models--org--tiny', 'snapshots', COMMIT_A));
      expect(events.some((e) => e.file === 'text_encoder/model-00002-of-00002.safetensors' && e.downloaded === e.total)).toBe(true);
      const c = fixtureCase('pipeline/n5_g4.5_np');
      const r = await pipe.generate({
        prompt: c.inputs.prompt, negativePrompt: '', numInferenceSteps: 5, guidanceScale: 4.5, height: 64, width: 64,
        useResolutionBinning: false, cleanCaption: false, outputType: 'float',
        latents: { data: refF32(c.inputs.latents), shape: c.inputs.latents.shape },
      });
      expectClose(r.tensor!.data, refF32(c.outputs.images), { atol: 1e-4, rtol: 1e-4, label: 'images from the cache' });
    } finally {
      pipe.dispose();
    }
    // offline from the warm cache: no request at all
    hub.reset();
    const again = await PixArtAlphaPipeline.fromPretrained('org/tiny', { engine, cacheDir: cache, endpoint: hub.url, offline: true, transformer: null, textEncoder: null });
    expect(hub.log.length).toBe(0);
    again.dispose();
    engine.dispose();
  });

  it("variant 'fp16' loads the component's .fp16 weights and falls back to the plain ones elsewhere", async () => {
    const { PixArtAlphaPipeline } = await import('../lib/pipeline/PixArtAlphaPipeline.js');
    const { Engine } = await import('../lib/engine/Engine.js');
    const { TINY_MODEL } = await import('./helpers/fixtures.js');
    // The tiny VAE is stored in fp16 already, so its bytes are a genuine fp16 variant.
    hub.repos.set('org/tiny-vae-fp16', {
      refs: new Map([['main', COMMIT_A]]),
      commits: new Map([[COMMIT_A, withFiles(BASE, {
        'vae/diffusion_pytorch_model.fp16.safetensors': readFileSync(join(TINY_MODEL, 'vae', 'diffusion_pytorch_model.safetensors')),
      }, ['vae/diffusion_pytorch_model.safetensors'])]]),
    });
    const cache = fresh('variant');
    const engine = Engine.create({ threads: 1 });
    const pipe = await PixArtAlphaPipeline.fromPretrained('org/tiny-vae-fp16', {
      engine, cacheDir: cache, endpoint: hub.url, variant: 'fp16', tokenizer: null, textEncoder: null, transformer: null,
    });
    expect(hub.fullGets('vae/diffusion_pytorch_model.fp16.safetensors')).toBe(1);
    const out = await pipe.decodeLatents({ data: new Float32Array(4 * 8 * 8).fill(0.1), shape: [1, 4, 8, 8] }, { outputType: 'float' });
    expect(out.tensor!.shape).toEqual([1, 64, 64, 3]);
    pipe.dispose();
    engine.dispose();
  });
});
