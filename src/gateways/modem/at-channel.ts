/**
 * AT commands over a serial line: one command at a time, its response lines collected until the final
 * result (OK, ERROR, +CME ERROR: n, +CMS ERROR: n), unsolicited result codes (+CUSD:, +CMTI:, …)
 * handed to listeners whenever they come (a +CUSD answer arrives after the OK of the AT+CUSD command,
 * sometimes before it). The port is the `serialport` package's on a real device or pseudo-terminal.
 */
import { SerialPort } from 'serialport';

export interface AtResult {
  /** Lines between the command and its final result. */
  lines: string[];
  /** The final result line. */
  final: string;
  ok: boolean;
}

/** The modem did not answer in time, or the port went away: no answer at all. */
export class AtNoAnswer extends Error {
  override readonly name = 'AtNoAnswer';
}

const FINAL = /^(OK|ERROR|NO CARRIER|\+CME ERROR:.*|\+CMS ERROR:.*)$/;
const UNSOLICITED = /^(\+CUSD:|\+CMTI:|\+CDSI:|RING|\+CLIP:|\^)/;

/** The subset of a serial port the channel uses (a `SerialPort`). */
export interface Port {
  write(data: string): unknown;
  close(cb?: (err?: Error | null) => void): void;
  on(event: 'data', fn: (d: Buffer) => void): unknown;
  on(event: 'close' | 'error', fn: (err?: Error) => void): unknown;
  readonly isOpen: boolean;
}

interface Pending {
  command: string;
  lines: string[];
  resolve: (r: AtResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** How long the rest of a `+CUSD:` text broken over lines may take to arrive. */
const CONTINUATION_MS = 1_000;

/** Is this `+CUSD:` line's quoted text still open (its closing quote on a later line)? */
function openCusdText(line: string): boolean {
  const q = line.indexOf('"');
  if (q < 0) return false;
  // "" inside the text is a quote, not its end.
  const rest = line.slice(q + 1).replace(/""/g, '');
  return !rest.includes('"');
}

export class AtChannel {
  private buffer = '';
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(line: string) => void>();
  private closeListeners = new Set<() => void>();
  /** A `+CUSD:` answer whose text spans lines, gathered until its quote closes. */
  private partial: { text: string; timer: NodeJS.Timeout } | undefined;
  closed = false;

  constructor(private readonly port: Port) {
    port.on('data', (d) => this.onData(d));
    const gone = () => {
      if (this.closed) return;
      this.closed = true;
      this.flushPartial();
      const p = this.pending;
      this.pending = undefined;
      if (p) {
        clearTimeout(p.timer);
        p.reject(new AtNoAnswer('the serial port closed'));
      }
      // An error without a close: close the handle, or its lock keeps the port from opening again.
      if (this.port.isOpen) this.port.close(() => undefined);
      for (const l of this.closeListeners) l();
    };
    port.on('close', gone);
    port.on('error', gone);
  }

  /** Open a serial device (or pseudo-terminal) by path. */
  static open(path: string, baudRate = 115200): Promise<AtChannel> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate, autoOpen: false });
      // serialport's message names the path: "Error: No such file or directory, cannot open /dev/ttyUSB0".
      port.open((err) => (err ? reject(new AtNoAnswer(err.message.replace(/^Error: /, ''))) : resolve(new AtChannel(port))));
    });
  }

  /** Lines that are not the answer to a command (+CUSD, +CMTI, …). Returns the function that stops listening. */
  onUnsolicited(fn: (line: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onClose(fn: () => void): () => void {
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  /** Send a command (without its CR) and wait for its final result; rejects with AtNoAnswer on a timeout or a closed port. */
  command(command: string, timeoutMs: number): Promise<AtResult> {
    const run = () =>
      new Promise<AtResult>((resolve, reject) => {
        if (this.closed) return reject(new AtNoAnswer('the serial port is closed'));
        const entry: Pending = {
          command,
          lines: [],
          resolve,
          reject,
          timer: setTimeout(() => {
            if (this.pending === entry) this.pending = undefined;
            reject(new AtNoAnswer(`no answer to ${command.split('"')[0]} within ${timeoutMs} ms`));
          }, timeoutMs),
        };
        this.pending = entry;
        try {
          this.port.write(`${command}\r`);
        } catch (err) {
          clearTimeout(entry.timer);
          if (this.pending === entry) this.pending = undefined;
          reject(new AtNoAnswer(`cannot write to the serial port: ${(err as Error).message}`));
        }
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Is a command waiting for its final result? */
  get busy(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Stop waiting for `command` if it is the one in progress (a dial whose answer came without its OK):
   * it fails with AtNoAnswer and the next command may go. A final result that comes later is a stray line.
   */
  abandon(command: string): void {
    const p = this.pending;
    if (!p || p.command !== command) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    p.reject(new AtNoAnswer(`stopped waiting for the final result of ${p.command.split('"')[0]}`));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.closed = true;
      const p = this.pending;
      this.pending = undefined;
      if (p) {
        clearTimeout(p.timer);
        p.reject(new AtNoAnswer('the serial port was closed'));
      }
      if (!this.port.isOpen) return resolve();
      this.port.close(() => resolve());
    });
  }

  private onData(d: Buffer): void {
    this.buffer += d.toString('latin1');
    let i: number;
    while ((i = this.buffer.search(/[\r\n]/)) >= 0) {
      const raw = this.buffer.slice(0, i);
      const crlf = this.buffer[i] === '\r' && this.buffer[i + 1] === '\n';
      this.buffer = this.buffer.slice(i + (crlf ? 2 : 1));
      if (this.partial) {
        // The text of a +CUSD answer goes on over this line (operators' answers have line breaks).
        clearTimeout(this.partial.timer);
        this.partial.text += `\n${raw}`;
        if (openCusdText(this.partial.text) && this.partial.text.length < 8_192) {
          this.partial.timer = setTimeout(() => this.flushPartial(), CONTINUATION_MS);
          continue;
        }
        const line = this.partial.text;
        this.partial = undefined;
        this.onLine(line.trim());
        continue;
      }
      const line = raw.trim();
      if (!line) continue;
      if (line.startsWith('+CUSD:') && openCusdText(line)) {
        this.partial = { text: line, timer: setTimeout(() => this.flushPartial(), CONTINUATION_MS) };
        continue;
      }
      this.onLine(line);
    }
  }

  /** A +CUSD text that never closed: handed on as it is (an unreadable answer). */
  private flushPartial(): void {
    const p = this.partial;
    if (!p) return;
    clearTimeout(p.timer);
    this.partial = undefined;
    this.onLine(p.text.trim());
  }

  private onLine(line: string): void {
    if (UNSOLICITED.test(line)) {
      for (const l of this.listeners) l(line);
      return;
    }
    const p = this.pending;
    if (!p) return; // a stray line with no command waiting (late OK after a timeout, noise)
    if (line === p.command) return; // the echo, before ATE0
    if (FINAL.test(line)) {
      clearTimeout(p.timer);
      this.pending = undefined;
      p.resolve({ lines: p.lines, final: line, ok: line === 'OK' });
      return;
    }
    p.lines.push(line);
  }
}
