// Test support (not shipped): a local HTTP server on 127.0.0.1 (port 0) serving in-memory files, and temporary folders.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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
