import { createServer, Server, Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { componentLogger } from '@app/observability';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const TERMINATE = 0x58; // 'X'
const READY_FOR_QUERY = 0x5a; // 'Z'
const IDLE = 0x49; // 'I'

/**
 * Serves one in-process PGlite to many `pg` connections over TCP.
 *
 * PGlite is a single session. `@electric-sql/pglite-socket` 0.0.19 gives one socket the whole
 * database for the life of the connection (a pool of more than one client deadlocks) and hands
 * each TCP chunk to PGlite as if it were whole messages, which crashes the WASM module as soon
 * as a message spans chunks (≈ a 1,000-row `unnest` insert). This server frames the wire protocol
 * itself and interleaves connections at transaction boundaries, as PgBouncer's transaction
 * pooling does: a connection owns the database from its first message until PGlite reports
 * ReadyForQuery/idle. Session state (SET, named prepared statements, temp tables) is therefore
 * shared between connections; Arbiter uses none.
 */
export class PGliteServer {
  private server?: Server;
  private owner: Connection | null = null;
  private readonly waiters: { conn: Connection; resolve: () => void }[] = [];
  private readonly connections = new Set<Connection>();
  private readonly log = componentLogger('embedded-db');

  constructor(private readonly db: PGlite) {}

  /** Listens on 127.0.0.1 (port 0: any free port) and resolves with the port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((socket) => {
      const conn = new Connection(socket, this);
      this.connections.add(conn);
      socket.on('close', () => this.connections.delete(conn));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** @internal Waits until `conn` owns the database. */
  async acquire(conn: Connection): Promise<void> {
    if (this.owner === null) {
      this.owner = conn;
      return;
    }
    if (this.owner === conn) return;
    await new Promise<void>((resolve) => this.waiters.push({ conn, resolve }));
  }

  /** @internal Hands the database to the next waiting connection. */
  release(conn: Connection): void {
    if (this.owner !== conn) return;
    const next = this.waiters.shift();
    this.owner = next?.conn ?? null;
    next?.resolve();
  }

  /** @internal */
  forget(conn: Connection): void {
    const i = this.waiters.findIndex((w) => w.conn === conn);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** @internal */
  async exec(bytes: Uint8Array): Promise<Uint8Array> {
    return this.db.execProtocolRaw(bytes);
  }

  /** @internal */
  warn(message: string, err?: unknown): void {
    this.log.warn({ err }, message);
  }
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private started = false;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** True from the first message PGlite has seen until it reports idle. */
  private holding = false;

  constructor(
    private readonly socket: Socket,
    private readonly server: PGliteServer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.onClose());
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : Buffer.from(chunk);
    const { messages, terminate } = this.takeCompleteMessages();
    if (messages) this.chain = this.chain.then(() => this.run(messages));
    if (terminate) this.chain = this.chain.then(() => void this.socket.end());
  }

  /** Cuts whole protocol messages off the front of the buffer; notes a Terminate message. */
  private takeCompleteMessages(): { messages: Buffer | null; terminate: boolean } {
    let end = 0;
    let terminate = false;
    while (true) {
      if (!this.started) {
        if (this.buffer.length - end < 8) break;
        const length = this.buffer.readInt32BE(end);
        if (this.buffer.length - end < length) break;
        const code = this.buffer.readInt32BE(end + 4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          // No TLS on a loopback socket: answer "N" and wait for the real startup message.
          this.socket.write('N');
          this.buffer = this.buffer.subarray(end + length);
          continue;
        }
        if (code === CANCEL_REQUEST) {
          this.buffer = Buffer.alloc(0);
          return { messages: null, terminate: true };
        }
        this.started = true;
        end += length;
        continue;
      }
      if (this.buffer.length - end < 5) break;
      const length = this.buffer.readInt32BE(end + 1);
      if (this.buffer.length - end < 1 + length) break;
      if (this.buffer[end] === TERMINATE) {
        terminate = true;
        break;
      }
      end += 1 + length;
    }
    const messages = end > 0 ? Buffer.from(this.buffer.subarray(0, end)) : null;
    this.buffer = terminate ? Buffer.alloc(0) : this.buffer.subarray(end);
    return { messages, terminate };
  }

  private async run(messages: Buffer): Promise<void> {
    if (this.closed) return;
    await this.server.acquire(this);
    if (this.closed) return this.server.release(this);
    this.holding = true;
    let response: Uint8Array;
    try {
      response = await this.server.exec(messages);
    } catch (e) {
      this.server.warn('embedded database failed a request; closing the connection', e);
      this.holding = false;
      this.server.release(this);
      this.destroy();
      return;
    }
    if (endsIdle(response)) {
      this.holding = false;
      this.server.release(this);
    }
    if (response.length && !this.socket.destroyed) this.socket.write(response);
  }

  private onClose(): void {
    this.closed = true;
    this.server.forget(this);
    this.chain = this.chain.then(async () => {
      if (!this.holding) return;
      // The client went away inside a transaction: roll it back before anyone else runs.
      try {
        await this.server.exec(simpleQuery('ROLLBACK'));
      } catch (e) {
        this.server.warn('rollback after disconnect failed', e);
      }
      this.holding = false;
      this.server.release(this);
    });
  }
}

function endsIdle(response: Uint8Array): boolean {
  const n = response.length;
  return (
    n >= 6 &&
    response[n - 6] === READY_FOR_QUERY &&
    response[n - 5] === 0 &&
    response[n - 4] === 0 &&
    response[n - 3] === 0 &&
    response[n - 2] === 5 &&
    response[n - 1] === IDLE
  );
}

function simpleQuery(sql: string): Uint8Array {
  const text = Buffer.from(`${sql}\0`, 'utf8');
  const message = Buffer.alloc(5 + text.length);
  message[0] = 0x51; // 'Q'
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return message;
}
