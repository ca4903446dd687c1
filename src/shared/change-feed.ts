// One loop per process that keeps cached state (catalog, route table, signing keys, revocation list)
// in step with the database: every write through the services announces itself (storage's change
// notifications: PostgreSQL NOTIFY, or a watched file beside a SQLite database), and the feed runs its
// subscribers at once; it also reads the revision counters every CONFIG_POLL_MS, the safety net for a
// lost notification. A poll that does not finish in time is abandoned, so a stuck database connection
// can delay changes but never stop them for good.
// Configuration changes are keyed (Kong's cluster events): each move of the "config" revision is logged
// with the entry it changed, and the feed hands subscribers the changes since its last poll, so a cache
// reloads that one client, API, route, scope, issuer or user; the cost of a change does not grow with the
// size of the configuration. When the log cannot account for every move (the first poll, more than
// MAX_KEYED_CHANGES at once, rows already purged) subscribers get no list and reload what they hold.
import type { ConfigChange, Storage } from "../storage/index.ts";
import { log } from "./logger.ts";

/** The revision counters: each moves on every change of its kind (revisions.ts). */
export interface Revisions {
  config: number;
  keys: number;
  /**
   * The configuration changes that took the "config" revision from `from` to `config`, oldest first;
   * null when the feed cannot account for every one of them (then reload everything).
   */
  configChanges: { from: number; changes: ConfigChange[] } | null;
}
type Subscriber = (revisions: Revisions) => Promise<void>;

/** Changes applied one by one at most per poll; past it a full reload is cheaper. */
const MAX_KEYED_CHANGES = 500;

export class ChangeFeed {
  private readonly storage: Storage;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly subscribers: Array<{ name: string; run: Subscriber }> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The run asked for while a poll was running: it starts when that poll ends. */
  private followUp: Promise<void> | undefined;
  /** Set by stop(): no run starts after it. */
  private stopped = false;
  private stopListening: (() => Promise<void>) | undefined;
  /** The config revision and the change log's sequence number as of the last poll. */
  private seen: { config: number; seq: number } | undefined;

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

  /**
   * Listens and polls. The first poll runs now: it notes where the change log stands, so that the
   * first change afterwards is applied by key rather than by reloading everything.
   */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    this.stopListening = this.storage.changes.listen(() => void this.tick());
    void this.tick();
  }

  /**
   * Runs every subscriber once now (on an announced change, on the poll timer, or right after a change
   * made in this process). A call during a run makes one more run follow it, so no change is missed,
   * and resolves when that one has finished: the run in progress may have read the database before the
   * caller's change (an admin API write waits on this before it answers).
   */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      const next = () => {
        this.followUp = undefined;
        return this.tick();
      };
      this.followUp ??= this.running.then(next, next);
      return this.followUp;
    }
    this.running = this.pollWithin().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops listening and polling; resolves once no run is in progress (the database may then be closed). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.stopListening?.();
    while (this.running || this.followUp) await (this.followUp ?? this.running);
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
      revisions = await this.read();
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

  /**
   * The counters and the changes since the last poll. The log is read before the counters: a change
   * committed in between moves the counter past what the log showed, and the count check below turns
   * that into a full reload rather than a missed change.
   */
  private async read(): Promise<Revisions> {
    const seen = this.seen;
    const changes = seen ? await this.storage.revisions.configChangesSince(seen.seq, MAX_KEYED_CHANGES + 1) : [];
    const { config, keys } = await this.storage.revisions.read();
    let configChanges: Revisions["configChanges"] = null;
    let seq: number;
    if (seen && changes.length === config - seen.config) {
      configChanges = { from: seen.config, changes };
      seq = changes.at(-1)?.seq ?? seen.seq;
    } else {
      seq = await this.storage.revisions.lastConfigChange();
    }
    this.seen = { config, seq };
    return { config, keys, configChanges };
  }
}
