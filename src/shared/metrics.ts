// Prometheus metrics: one registry per process, filled only when METRICS_PORT is set (enableMetrics);
// until then gatewayMetrics and authorizationServerMetrics are no-ops and nothing else exists.
//
// Recording is on the gateway's per-request path, so it costs a few Map lookups and additions: every
// label combination is a "cell" created once and kept (prom-client's own metrics hash their labels on
// every observation), and nothing is formatted until a scrape. The families below implement prom-client's
// metric interface (get() in its JSON shape), so its Registry writes the exposition format and its
// AggregatorRegistry sums them across cluster workers (WORKERS=N: operations/metrics-server.ts).
//
// Label values are bounded: routes, APIs and clients come from the configuration, statuses are numbers,
// reasons and error codes are ids from code; a method, grant type or error code a client can make up is
// counted as "other" past a small number of distinct values.
import { AggregatorRegistry, collectDefaultMetrics, Registry, type Metric } from "prom-client";

/** Seconds; from a cached-token gateway decision (well under a millisecond) to a slow upstream. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const OTHER = "other";

/** HTTP methods counted by name (RFC 9110 §9 and PATCH); any other method is counted as "other". */
const STANDARD_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

type Labels = Record<string, string>;

/** One counter series. */
export class CounterCell {
  value = 0;
  readonly labels: Labels;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  inc(by = 1): void {
    this.value += by;
  }
}

/** One histogram series: counts per bucket (not cumulative until exported), sum and count. */
export class HistogramCell {
  readonly labels: Labels;
  readonly bounds: readonly number[];
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last one: above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** A metric name with its cells, in prom-client's metric interface. */
abstract class Family<Cell extends { labels: Labels }> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: "counter" | "histogram";
  readonly aggregator = "sum";
  readonly labelNames: readonly string[];
  private readonly cells = new Map<string, Cell>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /** The cell of these label values (in labelNames' order), created on first use: keep it, do not call this per request. */
  cell(...values: string[]): Cell {
    const key = values.join("\u0000");
    let cell = this.cells.get(key);
    if (!cell) {
      const labels: Labels = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ""));
      cell = this.create(labels);
      this.cells.set(key, cell);
    }
    return cell;
  }

  protected abstract create(labels: Labels): Cell;
  protected abstract export(cell: Cell, into: ExportedValue[]): void;

  get() {
    const values: ExportedValue[] = [];
    for (const cell of this.cells.values()) this.export(cell, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.cells.clear();
  }
}

export class CounterFamily extends Family<CounterCell> {
  readonly type = "counter";

  protected create(labels: Labels): CounterCell {
    return new CounterCell(labels);
  }

  protected export(cell: CounterCell, into: ExportedValue[]): void {
    into.push({ value: cell.value, labels: cell.labels });
  }
}

export class HistogramFamily extends Family<HistogramCell> {
  readonly type = "histogram";
  readonly bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[] = LATENCY_BUCKETS) {
    super(name, help, labelNames);
    this.bounds = bounds;
  }

  protected create(labels: Labels): HistogramCell {
    return new HistogramCell(labels, this.bounds);
  }

  protected export(cell: HistogramCell, into: ExportedValue[]): void {
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += cell.counts[i]!;
      into.push({ value: cumulative, labels: { ...cell.labels, le: i < this.bounds.length ? this.bounds[i]! : "+Inf" }, metricName: `${this.name}_bucket` });
    }
    into.push({ value: cell.sum, labels: cell.labels, metricName: `${this.name}_sum` });
    into.push({ value: cell.count, labels: cell.labels, metricName: `${this.name}_count` });
  }
}

/** A Map from label value to cell that stops growing past `limit` distinct values (then "other"). */
class BoundedCells<Cell> {
  private readonly cells = new Map<string | number, Cell>();
  private readonly make: (value: string) => Cell;
  private readonly limit: number;
  private other: Cell | undefined;

  constructor(limit: number, make: (value: string) => Cell) {
    this.limit = limit;
    this.make = make;
  }

  get(value: string | number): Cell {
    let cell = this.cells.get(value);
    if (cell === undefined) {
      if (this.cells.size >= this.limit) return (this.other ??= this.make(OTHER));
      cell = this.make(String(value));
      this.cells.set(value, cell);
    }
    return cell;
  }
}

// ----------------------------------------------------------------------------------------------------
// The gateway

export type UpstreamErrorKind = "timeout" | "unreachable" | "reset";
export type OutboundTokenOutcome = "success" | "failure" | "misconfigured";

/** What the gateway records for one route; get it once per request with gatewayMetrics.route(). */
export interface RouteMetrics {
  /** A finished request: counted by method and status, its total time (arrival to response end) observed. */
  request(method: string, status: number, seconds: number): void;
  /** Time from handing the request to the upstream to the upstream's response headers. */
  upstream(seconds: number): void;
  /** The upstream timed out, could not be reached, or failed after its response began ("reset"). */
  upstreamError(kind: UpstreamErrorKind): void;
}

export interface GatewayMetrics {
  /** False when METRICS_PORT is off: every method is then a no-op. */
  readonly enabled: boolean;
  /** The route's metrics (api and route undefined for a request no route matched). */
  route(api: string | undefined, route: string | undefined): RouteMetrics;
  request(api: string | undefined, route: string | undefined, method: string, status: number, seconds: number): void;
  /** A decision: "allowed" for a forwarded request, else the refusal's reason id (GatewayError.reason). */
  decision(reason: string): void;
  upstreamLatency(api: string | undefined, route: string | undefined, seconds: number): void;
  upstreamError(api: string | undefined, route: string | undefined, kind: UpstreamErrorKind): void;
  /** One token request to an API's external identity provider (outbound OAuth), and how long it took. */
  outboundTokenFetch(api: string, outcome: OutboundTokenOutcome, seconds: number): void;
}

/** The upstream failure a gateway refusal stands for (its GatewayError reason), or undefined for a refusal of the gateway's own. */
export function upstreamErrorKind(reason: string): UpstreamErrorKind | undefined {
  return reason === "upstream_timeout" ? "timeout" : reason === "upstream_unreachable" ? "unreachable" : undefined;
}

const noop = (): void => undefined;
const NO_ROUTE_METRICS: RouteMetrics = { request: noop, upstream: noop, upstreamError: noop };
const DISABLED_GATEWAY: GatewayMetrics = {
  enabled: false,
  route: () => NO_ROUTE_METRICS,
  request: noop,
  decision: noop,
  upstreamLatency: noop,
  upstreamError: noop,
  outboundTokenFetch: noop,
};

/** The gateway's metric families, by name (README "Metrics"). */
function gatewayFamilies() {
  return {
    requests: new CounterFamily("gatehouse_gateway_requests_total", "Requests the gateway answered, by API, route, method and status.", ["api", "route", "method", "status"]),
    duration: new HistogramFamily("gatehouse_gateway_request_duration_seconds", "Time from a request's arrival at the gateway to the end of its response.", ["api", "route"]),
    upstream: new HistogramFamily("gatehouse_gateway_upstream_duration_seconds", "Time from handing a request to the upstream to the upstream's response headers.", ["api", "route"]),
    decisions: new CounterFamily("gatehouse_gateway_decisions_total", "Gateway decisions by reason id (allowed, or why a request was refused).", ["reason"]),
    upstreamErrors: new CounterFamily("gatehouse_gateway_upstream_errors_total", "Upstream failures: timeout, unreachable, or reset after the response began.", ["api", "route", "kind"]),
    outboundFetches: new CounterFamily("gatehouse_gateway_outbound_token_fetches_total", "Token requests to an API's external identity provider (outbound OAuth), by outcome.", ["api", "outcome"]),
    outboundDuration: new HistogramFamily("gatehouse_gateway_outbound_token_fetch_duration_seconds", "Duration of token requests to an API's external identity provider.", ["api"]),
  };
}
type GatewayFamilies = ReturnType<typeof gatewayFamilies>;

class RouteCells implements RouteMetrics {
  readonly api: string;
  private readonly families: GatewayFamilies;
  private readonly route: string;
  private readonly byMethod: BoundedCells<BoundedCells<CounterCell>>;
  private readonly duration: HistogramCell;
  private readonly upstreamDuration: HistogramCell;
  private readonly errors: Partial<Record<UpstreamErrorKind, CounterCell>> = {};

  constructor(families: GatewayFamilies, api: string, route: string) {
    this.families = families;
    this.api = api;
    this.route = route;
    // Methods: the standard ones by name, any other (Node's parser accepts a few dozen more, which any caller
    // could send first) as "other"; statuses: 100 to 599.
    this.byMethod = new BoundedCells(STANDARD_METHODS.size + 1, (method) => new BoundedCells(500, (status) => families.requests.cell(api, route, method, status)));
    this.duration = families.duration.cell(api, route);
    this.upstreamDuration = families.upstream.cell(api, route);
  }

  request(method: string, status: number, seconds: number): void {
    this.byMethod.get(STANDARD_METHODS.has(method) ? method : OTHER).get(status).inc();
    this.duration.observe(seconds);
  }

  upstream(seconds: number): void {
    this.upstreamDuration.observe(seconds);
  }

  upstreamError(kind: UpstreamErrorKind): void {
    (this.errors[kind] ??= this.families.upstreamErrors.cell(this.api, this.route, kind)).inc();
  }
}

class GatewayRecorder implements GatewayMetrics {
  readonly enabled = true;
  private readonly families: GatewayFamilies;
  private readonly routes = new Map<string, RouteCells>();
  /** A route whose API changed since its cells were made, by "api\0route" (rare). */
  private readonly moved = new Map<string, RouteCells>();
  private unmatched: RouteCells | undefined;
  private readonly decisions: BoundedCells<CounterCell>;
  private readonly outbound = new Map<string, { outcomes: Partial<Record<OutboundTokenOutcome, CounterCell>>; duration: HistogramCell }>();

  constructor(families: GatewayFamilies) {
    this.families = families;
    this.decisions = new BoundedCells(200, (reason) => families.decisions.cell(reason));
    this.decisions.get("allowed");
  }

  route(api: string | undefined, route: string | undefined): RouteMetrics {
    if (route === undefined) return (this.unmatched ??= new RouteCells(this.families, "", ""));
    api ??= "";
    let cells = this.routes.get(route);
    if (cells === undefined) {
      cells = new RouteCells(this.families, api, route);
      this.routes.set(route, cells);
    } else if (cells.api !== api) {
      const key = `${api}\u0000${route}`;
      cells = this.moved.get(key);
      if (!cells) this.moved.set(key, (cells = new RouteCells(this.families, api, route)));
    }
    return cells;
  }

  request(api: string | undefined, route: string | undefined, method: string, status: number, seconds: number): void {
    this.route(api, route).request(method, status, seconds);
  }

  decision(reason: string): void {
    this.decisions.get(reason).inc();
  }

  upstreamLatency(api: string | undefined, route: string | undefined, seconds: number): void {
    this.route(api, route).upstream(seconds);
  }

  upstreamError(api: string | undefined, route: string | undefined, kind: UpstreamErrorKind): void {
    this.route(api, route).upstreamError(kind);
  }

  outboundTokenFetch(api: string, outcome: OutboundTokenOutcome, seconds: number): void {
    let cells = this.outbound.get(api);
    if (!cells) this.outbound.set(api, (cells = { outcomes: {}, duration: this.families.outboundDuration.cell(api) }));
    (cells.outcomes[outcome] ??= this.families.outboundFetches.cell(api, outcome)).inc();
    cells.duration.observe(seconds);
  }
}

// ----------------------------------------------------------------------------------------------------
// The authorization server

export interface AuthorizationServerMetrics {
  readonly enabled: boolean;
  /** A finished request: counted by endpoint and status, its time observed by endpoint. */
  request(endpoint: string, status: number, seconds: number): void;
  /** A token response (oidc-provider's grant.success), by grant type and client. */
  tokenIssued(grantType: string, clientId: string): void;
  /** An error response, by endpoint and OAuth error code. */
  error(endpoint: string, code: string): void;
  /** A lookup of an in-memory cache: answered from memory ("hit") or from the database ("miss"). */
  cacheLookup(cache: CacheName, outcome: "hit" | "miss"): void;
}

/** The authorization server's caches of database rows: opaque access tokens (oidc-adapter.ts) and users (catalog.ts). */
export type CacheName = "opaque_access_token" | "user";

const DISABLED_AUTHORIZATION_SERVER: AuthorizationServerMetrics = { enabled: false, request: noop, tokenIssued: noop, error: noop, cacheLookup: noop };

function authorizationServerFamilies() {
  return {
    requests: new CounterFamily("gatehouse_authorization_server_requests_total", "Requests the authorization server answered, by endpoint and status.", ["endpoint", "status"]),
    duration: new HistogramFamily("gatehouse_authorization_server_request_duration_seconds", "Time from a request's arrival at the authorization server to the end of its response.", ["endpoint"]),
    tokens: new CounterFamily("gatehouse_authorization_server_tokens_issued_total", "Token responses, by grant type and client.", ["grant_type", "client_id"]),
    errors: new CounterFamily("gatehouse_authorization_server_errors_total", "Error responses, by endpoint and OAuth error code.", ["endpoint", "error"]),
    cacheLookups: new CounterFamily("gatehouse_authorization_server_cache_lookups_total", "Lookups of opaque access tokens and users, answered from memory (hit) or the database (miss).", ["cache", "outcome"]),
  };
}

class AuthorizationServerRecorder implements AuthorizationServerMetrics {
  readonly enabled = true;
  private readonly requests: BoundedCells<{ byStatus: BoundedCells<CounterCell>; duration: HistogramCell }>;
  /** Grant types a client could make up are refused before grant.success: only registered ones arrive. */
  private readonly tokens: BoundedCells<BoundedCells<CounterCell>>;
  private readonly errors: BoundedCells<BoundedCells<CounterCell>>;
  private readonly cacheLookups: BoundedCells<BoundedCells<CounterCell>>;

  constructor(families: ReturnType<typeof authorizationServerFamilies>) {
    this.requests = new BoundedCells(64, (endpoint) => ({
      byStatus: new BoundedCells(500, (status) => families.requests.cell(endpoint, status)),
      duration: families.duration.cell(endpoint),
    }));
    // Clients are the registered ones (grant.success follows client authentication).
    this.tokens = new BoundedCells(32, (grantType) => new BoundedCells(100_000, (clientId) => families.tokens.cell(grantType, clientId)));
    this.errors = new BoundedCells(64, (endpoint) => new BoundedCells(64, (code) => families.errors.cell(endpoint, code)));
    this.cacheLookups = new BoundedCells(4, (cache) => new BoundedCells(2, (outcome) => families.cacheLookups.cell(cache, outcome)));
  }

  request(endpoint: string, status: number, seconds: number): void {
    const cells = this.requests.get(endpoint);
    cells.byStatus.get(status).inc();
    cells.duration.observe(seconds);
  }

  tokenIssued(grantType: string, clientId: string): void {
    this.tokens.get(grantType).get(clientId).inc();
  }

  error(endpoint: string, code: string): void {
    this.errors.get(endpoint).get(code).inc();
  }

  cacheLookup(cache: CacheName, outcome: "hit" | "miss"): void {
    this.cacheLookups.get(cache).get(outcome).inc();
  }
}

// ----------------------------------------------------------------------------------------------------
// The process's registry

/** The gateway's recorder: a no-op until enableMetrics(). Read it where it is used (a live binding). */
export let gatewayMetrics: GatewayMetrics = DISABLED_GATEWAY;
/** The authorization server's recorder: a no-op until enableMetrics(). */
export let authorizationServerMetrics: AuthorizationServerMetrics = DISABLED_AUTHORIZATION_SERVER;

let registry: Registry | undefined;

/**
 * Creates this process's registry with every Gatehouse metric and Node's process metrics, and turns the
 * recorders on. Idempotent. In a cluster worker (WORKERS=N), the registry answers the primary's
 * collection requests (prom-client's AggregatorRegistry protocol) instead of serving a port itself.
 */
export function enableMetrics({ clusterWorker = false }: { clusterWorker?: boolean } = {}): Registry {
  if (registry) return registry;
  const created = new Registry();
  const gateway = gatewayFamilies();
  const authorizationServer = authorizationServerFamilies();
  for (const family of [...Object.values(gateway), ...Object.values(authorizationServer)]) created.registerMetric(family as unknown as Metric);
  collectDefaultMetrics({ register: created });
  gatewayMetrics = new GatewayRecorder(gateway);
  authorizationServerMetrics = new AuthorizationServerRecorder(authorizationServer);
  if (clusterWorker) {
    AggregatorRegistry.setRegistries([created]);
    // Constructing one adds the worker's listener for the primary's requests.
    new AggregatorRegistry();
  }
  registry = created;
  return created;
}

/** This process's registry, or undefined when metrics are off. */
export function metricsRegistry(): Registry | undefined {
  return registry;
}
