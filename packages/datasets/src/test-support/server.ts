// Test support (not shipped): a local HTTP server on 127.0.0.1 (port 0) serving in-memory files (with Range requests, interruptions, failures), a forward proxy, and temporary folders.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How a route answers: bytes (served with a correct Content-Length) or a custom handler. */
export type Route = Uint8Array | string | ((request: IncomingMessage, response: ServerResponse) => void);

/** A running test server. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Paths requested so far (with query strings). */
  requests: string[];
  routes: Map<string, Route>;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with an ephemeral port. Routes are matched on the path without query string. */
export async function startTestServer(routes: Record<string, Route> = {}): Promise<TestServer> {
  const table = new Map<string, Route>(Object.entries(routes));
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const url = request.url ?? '/';
    requests.push(url);
    const route = table.get(url.split('?')[0] as string);
    if (route === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found');
      return;
    }
    if (typeof route === 'function') {
      route(request, response);
      return;
    }
    const body = typeof route === 'string' ? Buffer.from(route, 'utf8') : Buffer.from(route);
    response.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    routes: table,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A route that announces `announcedLength` bytes but sends only `body` and then cuts the connection. */
export function truncatedRoute(body: Uint8Array, announcedLength: number): Route {
  return (_request, response) => {
    response.writeHead(200, { 'content-length': String(announcedLength) });
    response.write(Buffer.from(body));
    setTimeout(() => response.socket?.destroy(), 20);
  };
}

/** Options of {@link rangeRoute}. */
export interface RangeRouteOptions {
  /** Strong ETag sent with every answer and compared with If-Range (default `"v1"`). */
  etag?: string;
  /** Answer `Range` requests with 206 (default true); false: always the whole file with 200. */
  supportsRange?: boolean;
  /** Cut the connection after this many body bytes in the first N answers (see `interruptions`). */
  interruptAfter?: number;
  /** How many answers are cut (default 1). */
  interruptions?: number;
}

/** What a {@link rangeRoute} saw: the Range and If-Range headers of each request, and the body bytes it sent. */
export interface RangeRouteLog {
  requests: { range: string | undefined; ifRange: string | undefined }[];
  bytesSent: number;
}

/** A route serving `body` like a file server: ETag, Accept-Ranges, 206 for `bytes=N-` (when If-Range matches), optional cut connections. */
export function rangeRoute(body: Uint8Array, options: RangeRouteOptions = {}): { route: Route; log: RangeRouteLog } {
  const etag = options.etag ?? '"v1"';
  const log: RangeRouteLog = { requests: [], bytesSent: 0 };
  let interruptionsLeft = options.interruptAfter === undefined ? 0 : (options.interruptions ?? 1);
  const route: Route = (request, response) => {
    const range = request.headers.range;
    const ifRange = request.headers['if-range'];
    log.requests.push({ range, ifRange: typeof ifRange === 'string' ? ifRange : undefined });
    const match = /^bytes=(\d+)-$/.exec(range ?? '');
    const honoured = options.supportsRange !== false && match !== null && (ifRange === undefined || ifRange === etag);
    const start = honoured ? Number(match?.[1]) : 0;
    if (honoured && start >= body.length) {
      response.writeHead(416, { 'content-range': `bytes */${body.length}` });
      response.end();
      return;
    }
    const slice = Buffer.from(body.subarray(start));
    const headers: Record<string, string> = { etag, 'content-length': String(slice.length) };
    if (options.supportsRange !== false) headers['accept-ranges'] = 'bytes';
    if (honoured) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    response.writeHead(honoured ? 206 : 200, headers);
    if (interruptionsLeft > 0) {
      interruptionsLeft -= 1;
      const sent = slice.subarray(0, options.interruptAfter);
      log.bytesSent += sent.length;
      // A clean close (FIN) after the bytes, so the client reads all of them before it sees the cut.
      response.write(sent, () => response.socket?.end());
      return;
    }
    log.bytesSent += slice.length;
    response.end(slice);
  };
  return { route, log };
}

/** A route that answers `status` to the first `failures` requests, then serves `body`. */
export function failingRoute(body: Uint8Array, failures: number, status = 503): { route: Route; attempts: () => number } {
  let attempts = 0;
  const route: Route = (_request, response) => {
    attempts += 1;
    if (attempts <= failures) {
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end('try again');
      return;
    }
    response.writeHead(200, { 'content-length': String(body.length) });
    response.end(Buffer.from(body));
  };
  return { route, attempts: () => attempts };
}

/** A running forward proxy. */
export interface TestProxy {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Targets asked for: absolute URLs of plain requests, `host:port` of CONNECT tunnels. */
  requests: string[];
  close(): Promise<void>;
}

/** A tiny HTTP forward proxy on 127.0.0.1: relays absolute-URL requests and opens CONNECT tunnels. */
export async function startTestProxy(): Promise<TestProxy> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const target = request.url ?? '';
    requests.push(target);
    const upstream = httpRequest(target, { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
  server.on('connect', (request: IncomingMessage, socket, head: Buffer) => {
    requests.push(request.url ?? '');
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host as string, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A fresh temporary folder; remove it with the returned function. */
export async function makeTemporaryFolder(prefix = 'engram-datasets-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Deterministic pseudo-text bytes of a given length made of words and newlines (ASCII). */
export function fakeText(length: number, seed = 1): Uint8Array {
  const words = ['the', 'whale', 'sea', 'ship', 'ahab', 'white', 'harpoon', 'deck', 'wind', 'and'];
  let state = seed >>> 0;
  let text = '';
  while (text.length < length) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const word = words[state % words.length] as string;
    text += word + ((state >>> 8) % 9 === 0 ? '\n' : ' ');
  }
  return new TextEncoder().encode(text.slice(0, length));
}
