/**
 * Batched writes off the request path: `writePending` runs every `intervalMs`, on `flush()`
 * and on `stop()`, one run at a time so that no batch is written twice or overlaps another.
 */
export abstract class PeriodicFlusher {
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly intervalMs: number) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Writes what was collected; must not throw (log and keep or drop the batch instead). */
  protected abstract writePending(): Promise<void>;
}
