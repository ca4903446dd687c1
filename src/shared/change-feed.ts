// One loop per process that keeps cached state (catalog, route table, signing keys, revocation list)
// in step with the database: every write through the services announces itself (storage's change
// notifications: PostgreSQL NOTIFY, or a watched file beside a SQLite database), and the feed runs its
// subscribers at once; it also reads the revision counters every CONFIG_POLL_MS, the safety net for a
// lost notification. A poll that does not finish in time is abandoned, so a stuck database connection
// can delay changes but never stop them for good.
import type { Storage } from "../storage/index.ts";
import { log } from "./logger.ts";

export type Revisions = Awaited<ReturnType<Storage["revisions"]["read"]>>;
type Subscriber = (revisions: Revisions) => Promise<void>;

export class ChangeFeed {
  private readonly storage: Storage;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly subscribers: Array<{ name: string; run: Subscriber }> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** A change was announced while a poll was running: poll once more after it. */
  private again = false;
  private stopListening: (() => Promise<void>) | undefined;

  /**
   * @param intervalMs how often to poll (CONFIG_POLL_MS)
   * @param timeoutMs longest a poll may take before it is abandoned (default 10 s)
   */
  constructor(storage: Storage, intervalMs: number, timeoutMs = 10_000) {
    this.storage = storage;
    this.intervalMs = intervalMs;
    this.timeoutMs = timeoutMs;
  }

  subscribe(name: string, run: Subscriber): void {
    this.subscribers.push({ name, run });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    this.stopListening = this.storage.changes.listen(() => void this.tick());
  }

  /**
   * Runs every subscriber once now (on an announced change, on the poll timer, or right after a change
   * made in this process). A call during a run makes one more run follow it, so no change is missed.
   */
  tick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pollWithin()
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          void this.tick();
        }
      });
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.stopListening?.();
    await this.running;
  }

  private async pollWithin(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log.warn("configuration refresh did not finish in time; abandoned", { timeoutMs: this.timeoutMs });
        resolve();
      }, this.timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([this.poll(), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async poll(): Promise<void> {
    let revisions: Revisions;
    try {
      revisions = await this.storage.revisions.read();
    } catch (error) {
      log.warn("could not read configuration revisions", { error: String(error) });
      return;
    }
    for (const { name, run } of this.subscribers) {
      try {
        await run(revisions);
      } catch (error) {
        log.warn("could not refresh cached state", { subscriber: name, error: String(error) });
      }
    }
  }
}
