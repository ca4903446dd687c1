// One poll loop per process that notices configuration written by any instance or by the CLI: it
// reads the revision counters every CONFIG_POLL_MS and lets each subscriber refresh what it caches
// (catalog, route table, signing keys, revocation list). A change is therefore live everywhere
// within one interval, without a restart and without a query per request.
import type { Storage } from "../storage/index.ts";
import { log } from "./logger.ts";

export type Revisions = Awaited<ReturnType<Storage["revisions"]["read"]>>;
type Subscriber = (revisions: Revisions) => Promise<void>;

export class ChangeFeed {
  private readonly storage: Storage;
  private readonly intervalMs: number;
  private readonly subscribers: Array<{ name: string; run: Subscriber }> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(storage: Storage, intervalMs: number) {
    this.storage = storage;
    this.intervalMs = intervalMs;
  }

  subscribe(name: string, run: Subscriber): void {
    this.subscribers.push({ name, run });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Runs every subscriber once now (also used right after a change made in this process). */
  tick(): Promise<void> {
    this.running ??= this.poll().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
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
