import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Another live process holds the journal directory. */
export class JournalBusyError extends Error {}

/** The file a segment lives in; `seq` only grows, so a segment's name is never reused. */
const SEGMENT = /^segment-(\d+)\.log$/;

/** How often written lines are forced to disk at most: the power-loss bound. */
export const SYNC_INTERVAL_MS = 1000;

interface Segment {
  seq: number;
  fd: number;
  /** fdatasync calls in flight: the descriptor is closed only after they finish. */
  syncing: number;
  retired: boolean;
}

/**
 * An append-only local log in numbered segments. Lines appended during one event-loop turn go
 * out in a single write at the end of the turn; `afterWrite` callbacks run once their lines are
 * in the file (so a SIGKILL cannot lose them), and the file is fsynced at most every second (so
 * a power loss loses at most that second). The owner rotates to a fresh segment, applies the
 * closed one elsewhere, then removes it; segments left by a previous process are `leftovers`.
 *
 * One process per directory (a lock file holding its pid); `stream` names the directory for
 * good, so that whoever applies its segments can tell them apart from another directory's.
 */
export class Journal {
  private buffer = '';
  private waiting: (() => void)[] = [];
  private scheduled = false;
  private dirty = false;
  private readonly syncTimer: NodeJS.Timeout;

  private constructor(
    private readonly dir: string,
    readonly stream: string,
    private current: Segment,
    /** Segments a previous process left, oldest first. */
    readonly leftovers: number[],
    private readonly onError: (error: unknown, what: string) => void,
  ) {
    this.syncTimer = setInterval(() => {
      if (!this.dirty) return;
      this.dirty = false;
      this.sync(this.current);
    }, SYNC_INTERVAL_MS);
    this.syncTimer.unref();
  }

  static open(dir: string, onError: (error: unknown, what: string) => void): Journal {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    lock(path.join(dir, 'lock'));
    const streamFile = path.join(dir, 'stream');
    let stream = readIfExists(streamFile)?.trim();
    if (!stream || !/^[a-z0-9]{8,32}$/.test(stream)) {
      stream = randomBytes(8).toString('hex');
      fs.writeFileSync(streamFile, `${stream}\n`, { mode: 0o600 });
    }
    const leftovers = fs
      .readdirSync(dir)
      .map((name) => SEGMENT.exec(name)?.[1])
      .filter((seq): seq is string => seq !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    // The new segment exists before any old one is removed, so the highest number survives.
    const seq = (leftovers.at(-1) ?? 0) + 1;
    const journal = new Journal(dir, stream, openSegment(dir, seq), leftovers, onError);
    journal.syncDir();
    return journal;
  }

  /** The segment new lines go to. */
  get currentSeq(): number {
    return this.current.seq;
  }

  /** Queues one line (no newline) for this turn's write. */
  append(line: string): void {
    this.buffer += `${line}\n`;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.writeNow());
    }
  }

  /** Runs `done` once every line appended so far is written (at once when none is waiting). */
  afterWrite(done: () => void): void {
    if (this.buffer === '') done();
    else this.waiting.push(done);
  }

  /** Writes what this turn appended. A failed write is reported and the callers still answered. */
  writeNow(): void {
    this.scheduled = false;
    const waiting = this.waiting;
    this.waiting = [];
    if (this.buffer !== '') {
      const text = this.buffer;
      this.buffer = '';
      try {
        fs.writeSync(this.current.fd, text);
        this.dirty = true;
      } catch (error) {
        this.onError(error, 'journal write failed');
      }
    }
    for (const done of waiting) done();
  }

  /** Closes the current segment (what was appended is written first) and starts the next; returns the closed one's number. */
  rotate(): number {
    this.writeNow();
    const closed = this.current;
    this.current = openSegment(this.dir, closed.seq + 1);
    this.syncDir();
    this.dirty = false;
    closed.retired = true;
    this.sync(closed);
    return closed.seq;
  }

  /** The lines of a closed segment (a line torn by a power loss is skipped). */
  read(seq: number): string[] {
    const text = readIfExists(this.segmentPath(seq)) ?? '';
    return text.split('\n').filter((line) => line !== '');
  }

  /** Forgets a closed segment once what it holds is stored elsewhere. */
  remove(seq: number): void {
    try {
      fs.unlinkSync(this.segmentPath(seq));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(error, 'journal segment removal failed');
    }
  }

  /** Writes, syncs and closes the current segment and releases the directory. */
  close(): void {
    clearInterval(this.syncTimer);
    this.writeNow();
    try {
      fs.fdatasyncSync(this.current.fd);
    } catch (error) {
      this.onError(error, 'journal sync failed');
    }
    this.current.retired = true;
    if (this.current.syncing === 0) fs.closeSync(this.current.fd);
    fs.rmSync(path.join(this.dir, 'lock'), { force: true });
  }

  private segmentPath(seq: number): string {
    return path.join(this.dir, `segment-${seq}.log`);
  }

  private sync(segment: Segment): void {
    segment.syncing += 1;
    fs.fdatasync(segment.fd, (error) => {
      segment.syncing -= 1;
      if (error) this.onError(error, 'journal sync failed');
      if (segment.retired && segment.syncing === 0) fs.close(segment.fd, () => {});
    });
  }

  /** A new segment's directory entry must survive a power loss too. */
  private syncDir(): void {
    fs.open(this.dir, 'r', (error, fd) => {
      if (error) return;
      fs.fsync(fd, () => fs.close(fd, () => {}));
    });
  }
}

function openSegment(dir: string, seq: number): Segment {
  return { seq, fd: fs.openSync(path.join(dir, `segment-${seq}.log`), 'a', 0o600), syncing: 0, retired: false };
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Takes the lock file, or throws JournalBusyError while the process named in it lives. */
function lock(file: string): void {
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number(readIfExists(file)?.trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new JournalBusyError(`the journal in ${path.dirname(file)} is used by process ${pid}`);
    }
    // Left by a process that is gone (or by this pid in an earlier life, as in a restarted container).
    fs.rmSync(file, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
