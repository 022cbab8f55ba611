/**
 * Batched writes off the request path: `writePending` runs every `intervalMs`, on `flush()`
 * and on `stop()`, one run at a time so that no batch is written twice or overlaps another.
 */
export abstract class PeriodicFlusher {
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** Set by `writePending` when it could not write its batch; the last run decides what `stop` says. */
  protected failed = false;

  constructor(private readonly intervalMs: number) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => {
      this.failed = false;
      return this.writePending();
    });
    return this.flushing;
  }

  /** Stops the timer and writes what is left: false when that last write failed. */
  async stop(): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    return !this.failed;
  }

  /** Writes what was collected; must not throw (log and keep or drop the batch instead). */
  protected abstract writePending(): Promise<void>;
}
