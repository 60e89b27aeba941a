// Load driver for bench/run.py: logs in once per server kind, then mints codes or refresh
// tokens, drives closed-loop round trips, or offers paced (open-loop) load.
//
//   node driver.mjs session --kind K --base URL ...           check that a session can be made
//   node driver.mjs mint    --count N --out FILE [--refresh]  "code verifier" lines, or refresh tokens
//   node driver.mjs flow    --duration S --concurrency C      authorize -> code -> token, closed loop
//   node driver.mjs paced   --rate R --duration S --mode token|flow [--codes FILE]
//   node driver.mjs cookie  --out FILE                               a logged-in session's Cookie header
//
// Every command prints one JSON object on stdout. Loops are bounded by --duration and --max.
// Only loopback targets are accepted.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// undici's Pool when bench/node_modules is installed (fast); Node's built-in fetch otherwise, so
// that `run.py --quick` works with a plain Node and no npm install.
let Pool;
try {
  ({ Pool } = await import('undici'));
} catch {
  Pool = class FetchPool {
    constructor(origin) { this.origin = origin; }
    async request({ method, path, headers, body }) {
      const res = await fetch(this.origin + path, { method, headers, body, redirect: 'manual' });
      const out = {};
      res.headers.forEach((v, k) => { out[k] = v; });
      const cookies = res.headers.getSetCookie?.() ?? [];
      if (cookies.length) out['set-cookie'] = cookies;
      return { statusCode: res.status, headers: out, body: { text: () => res.text() } };
    }
    async close() {}
  };
}

const { positionals, values: opt } = parseArgs({
  allowPositionals: true,
  options: {
    kind: { type: 'string', default: 'proofkey' },
    base: { type: 'string', default: 'http://127.0.0.1:8000' },
    'client-id': { type: 'string', default: 'bench-client' },
    'redirect-uri': { type: 'string', default: 'https://bench.proofkey.test/cb' },
    user: { type: 'string', default: 'bench' },
    password: { type: 'string', default: '' },
    scope: { type: 'string', default: 'openid' },
    count: { type: 'string', default: '1000' },
    out: { type: 'string', default: '' },
    refresh: { type: 'boolean', default: false },
    duration: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string', default: '100' },
    mode: { type: 'string', default: 'token' },
    codes: { type: 'string', default: '' },
    max: { type: 'string', default: '10000000' },
    warmup: { type: 'string', default: '0' },
    'skip-first': { type: 'string', default: '0.5' },
  },
});

const base = new URL(opt.base);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
  throw new Error(`refusing a non-loopback target: ${base.hostname}`);
}
const CLIENT_ID = opt['client-id'];
const REDIRECT_URI = opt['redirect-uri'];
const SCOPE = opt.scope === 'none' ? '' : opt.scope;
// Consent given once at login covers both scenarios' scopes.
const LOGIN_SCOPE = 'openid api';
const AUTHORIZE_PATH = { proofkey: '/authorize', node: '/auth', authlib: '/authorize' }[opt.kind];
if (!AUTHORIZE_PATH) throw new Error(`unknown --kind ${opt.kind}`);

const pool = new Pool(base.origin, {
  connections: Number(opt.connections), pipelining: 1, keepAliveTimeout: 30_000,
});

// -- HTTP with a minimal cookie jar (by name; paths ignored) -----------------------------------

class Jar {
  constructor() { this.cookies = new Map(); }
  take(headers) {
    let set = headers['set-cookie'];
    if (!set) return;
    if (!Array.isArray(set)) set = [set];
    for (const line of set) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name); else this.cookies.set(name, value);
    }
  }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

const FORM = 'application/x-www-form-urlencoded';

async function http(method, path, { jar, form, cookie } = {}) {
  const headers = {};
  const c = cookie ?? jar?.header();
  if (c) headers.cookie = c;
  let body;
  if (form) { body = new URLSearchParams(form).toString(); headers['content-type'] = FORM; }
  const res = await pool.request({ method, path, headers, body });
  const text = await res.body.text();
  jar?.take(res.headers);
  return { status: res.statusCode, headers: res.headers, text };
}

function location(res) {
  const loc = res.headers.location;
  if (!loc) throw new Error(`expected a redirect, got ${res.status}: ${res.text.slice(0, 300)}`);
  return loc;
}

function pathOf(loc) {
  const u = new URL(loc, base);
  return u.pathname + u.search;
}

// -- PKCE and the authorization request --------------------------------------------------------

function b64url(buf) { return buf.toString('base64url'); }

export function pkcePair() {
  const verifier = b64url(randomBytes(48)); // 64 chars
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

function authorizeQuery(challenge, state, scope = SCOPE) {
  const q = new URLSearchParams({
    response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI,
    code_challenge: challenge, code_challenge_method: 'S256', state,
  });
  if (scope) q.set('scope', scope);
  return `${AUTHORIZE_PATH}?${q}`;
}

function codeFrom(loc) {
  const u = new URL(loc, base);
  if (`${u.origin}${u.pathname}` !== REDIRECT_URI) {
    throw new Error(`redirect went to ${u.origin}${u.pathname}, not the client: ${loc.slice(0, 300)}`);
  }
  const code = u.searchParams.get('code');
  if (!code) throw new Error(`no code in ${loc.slice(0, 300)}`);
  return code;
}

function csrfIn(html) {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no csrf field in page: ${html.slice(0, 300)}`);
  return m[1];
}

// -- logging in once: a session cookie with remembered consent ---------------------------------

async function loginProofkey() {
  const jar = new Jar();
  const { challenge } = pkcePair();
  let res = await http('GET', authorizeQuery(challenge, 'login', LOGIN_SCOPE), { jar });
  let loc = pathOf(location(res));
  for (let step = 0; step < 6 && loc.startsWith('/interaction/'); step += 1) {
    res = await http('GET', loc, { jar });
    const csrf = csrfIn(res.text);
    if (res.text.includes('name="password"')) {
      res = await http('POST', `${loc}/login`, { jar, form: { csrf, username: opt.user, password: opt.password } });
    } else {
      res = await http('POST', `${loc}/consent`, { jar, form: { csrf, decision: 'allow' } });
    }
    if (res.status !== 303) throw new Error(`proofkey login step answered ${res.status}: ${res.text.slice(0, 300)}`);
    loc = pathOf(location(res));
  }
  codeFrom(location(res));
  return jar;
}

async function loginNode() {
  const jar = new Jar();
  const { challenge } = pkcePair();
  let res = await http('GET', authorizeQuery(challenge, 'login', LOGIN_SCOPE), { jar });
  for (let step = 0; step < 10; step += 1) {
    const loc = location(res);
    const u = new URL(loc, base);
    if (u.origin !== base.origin) { codeFrom(loc); return jar; }
    if (u.pathname.startsWith('/interaction/')) {
      const page = await http('GET', u.pathname, { jar });
      const prompt = /name="prompt" value="([^"]+)"/.exec(page.text)?.[1] ?? 'login';
      const form = prompt === 'login' ? { prompt, login: opt.user, password: opt.password } : { prompt };
      res = await http('POST', u.pathname, { jar, form });
    } else {
      res = await http('GET', u.pathname + u.search, { jar });
    }
  }
  throw new Error('node-oidc-provider login did not finish');
}

async function loginAuthlib() {
  const jar = new Jar();
  const res = await http('POST', '/login', {
    jar, form: { username: opt.user, password: opt.password, client_id: CLIENT_ID, scope: LOGIN_SCOPE },
  });
  if (res.status !== 303) throw new Error(`authlib login answered ${res.status}`);
  return jar;
}

async function login() {
  const jar = await { proofkey: loginProofkey, node: loginNode, authlib: loginAuthlib }[opt.kind]();
  return jar.header();
}

// -- one authorization (session + remembered consent) and one token exchange --------------------

async function authorize(cookie, state = 's') {
  const pair = pkcePair();
  const res = await http('GET', authorizeQuery(pair.challenge, state), { cookie });
  if (res.status < 300 || res.status > 303) {
    throw new HttpError(res.status, `authorize answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  return { code: codeFrom(location(res)), verifier: pair.verifier };
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function tokenForm(code, verifier) {
  return {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI,
    client_id: CLIENT_ID, code_verifier: verifier,
  };
}

async function exchange(code, verifier) {
  const res = await http('POST', '/token', { form: tokenForm(code, verifier) });
  if (res.status !== 200) throw new HttpError(res.status, `token answered ${res.status}: ${res.text.slice(0, 200)}`);
  return JSON.parse(res.text);
}

// -- helpers for bounded loops and statistics --------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function latencySummary(samplesMs) {
  const s = Float64Array.from(samplesMs).sort();
  return {
    n: s.length, p50_ms: percentile(s, 50), p90_ms: percentile(s, 90),
    p99_ms: percentile(s, 99), p999_ms: percentile(s, 99.9), max_ms: s.length ? s[s.length - 1] : null,
  };
}

async function runWorkers(n, work) {
  await Promise.all(Array.from({ length: n }, (_, i) => work(i)));
}

// -- commands ----------------------------------------------------------------------------------

async function cmdSession() {
  const cookie = await login();
  const { code, verifier } = await authorize(cookie);
  const body = await exchange(code, verifier);
  const jwtHeader = (t) => (t && t.split('.').length === 3
    ? JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString()) : null);
  return {
    ok: true, cookie_names: cookie.split('; ').map((c) => c.split('=')[0]),
    token_keys: Object.keys(body).sort(), scope: body.scope ?? null,
    access_token_header: jwtHeader(body.access_token), access_token_length: body.access_token.length,
    id_token_header: jwtHeader(body.id_token), response_bytes: JSON.stringify(body).length,
  };
}

async function cmdCookie() {
  // For wrk scripts that replay GET /authorize with a session (bench/profile_token.py): the
  // header goes to a file, never to stdout.
  const cookie = await login();
  await authorize(cookie);
  writeFileSync(opt.out, cookie);
  return { ok: true, cookie_names: cookie.split('; ').map((c) => c.split('=')[0]) };
}

async function cmdMint() {
  const cookie = await login();
  const count = Number(opt.count);
  const concurrency = Number(opt.concurrency);
  const deadline = Date.now() + Number(opt.duration) * 1000;
  const lines = new Array(count);
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await runWorkers(concurrency, async () => {
    while (next < count && Date.now() < deadline) {
      const i = next; next += 1;
      try {
        const { code, verifier } = await authorize(cookie, `m${i}`);
        if (opt.refresh) {
          lines[i] = (await exchange(code, verifier)).refresh_token;
        } else {
          lines[i] = `${code} ${verifier}`;
        }
      } catch (err) {
        errors += 1;
        if (errors > 20) throw err;
      }
    }
  });
  const elapsed = (performance.now() - started) / 1000;
  const done = lines.filter(Boolean);
  if (opt.out) writeFileSync(opt.out, `${done.join('\n')}\n`);
  return { minted: done.length, errors, elapsed_s: elapsed, per_s: done.length / elapsed };
}

async function cmdFlow() {
  const cookie = await login();
  const concurrency = Number(opt.concurrency);
  const max = Number(opt.max);
  const warmupEnd = Date.now() + Number(opt.warmup) * 1000;
  // Warm-up (not counted), then the measured window.
  let stop = warmupEnd;
  await runWorkers(concurrency, async () => {
    while (Date.now() < stop) {
      const { code, verifier } = await authorize(cookie);
      await exchange(code, verifier);
    }
  });
  const statuses = {};
  const latencies = [];
  let flows = 0;
  let started = 0;
  let errors = 0;
  const t0 = performance.now();
  stop = Date.now() + Number(opt.duration) * 1000;
  await runWorkers(concurrency, async () => {
    while (Date.now() < stop && started < max) {
      started += 1;
      const s = performance.now();
      try {
        const { code, verifier } = await authorize(cookie);
        await exchange(code, verifier);
        flows += 1;
        latencies.push(performance.now() - s);
      } catch (err) {
        errors += 1;
        const key = String(err.status ?? err.code ?? 'error');
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (errors > 1000) break;
      }
    }
  });
  const elapsed = (performance.now() - t0) / 1000;
  return {
    flows, errors, error_statuses: statuses, elapsed_s: elapsed, flows_per_s: flows / elapsed,
    requests_per_s: (2 * flows) / elapsed, latency: latencySummary(latencies),
  };
}

// Open-loop pacing: request i is due at t0 + i/rate whatever happened before, and its latency is
// measured from when it was due (no coordinated omission). In-flight requests are capped by the
// pool's connections; a request that waits for a free connection waits on the clock.
async function cmdPaced() {
  const rate = Number(opt.rate);
  const duration = Number(opt.duration);
  const total = Math.min(Math.floor(rate * duration), Number(opt.max));
  let codes = null;
  let cookie = null;
  if (opt.mode === 'token') {
    codes = readFileSync(opt.codes, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
    if (codes.length < total) throw new Error(`need ${total} codes, have ${codes.length}`);
  } else {
    cookie = await login();
  }
  const latencies = [];
  const statuses = {};
  let ok = 0;
  let errors = 0;
  let maxLagMs = 0;
  const inflight = new Set();
  const t0 = performance.now() + 50;
  // Requests due in the first --skip-first seconds are sent but not measured (connections open).
  const measureFrom = t0 + Number(opt['skip-first']) * 1000;
  for (let i = 0; i < total; i += 1) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait - 0.5));
    else if (wait < -maxLagMs) maxLagMs = -wait;
    const p = (async () => {
      try {
        if (codes) {
          const [code, verifier] = codes[i];
          await exchange(code, verifier);
        } else {
          const { code, verifier } = await authorize(cookie);
          await exchange(code, verifier);
        }
        ok += 1;
        if (due >= measureFrom) latencies.push(performance.now() - due);
      } catch (err) {
        errors += 1;
        const key = String(err.status ?? err.code ?? 'error');
        statuses[key] = (statuses[key] ?? 0) + 1;
      }
    })();
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t0) / 1000;
  return {
    mode: opt.mode, offered_per_s: rate, sent: total, ok, errors, error_statuses: statuses,
    achieved_per_s: ok / elapsed, elapsed_s: elapsed, driver_max_lag_ms: maxLagMs,
    latency: latencySummary(latencies),
  };
}

const commands = { session: cmdSession, cookie: cmdCookie, mint: cmdMint, flow: cmdFlow, paced: cmdPaced };
const command = commands[positionals[0]];
if (!command) {
  console.error(`usage: driver.mjs ${Object.keys(commands).join('|')} [options]`);
  process.exit(2);
}
try {
  const result = await command();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: String(err?.stack ?? err) })}\n`);
  process.exitCode = 1;
} finally {
  await pool.close();
}
