// The part of autocannon's programmatic API the token benchmark uses (the package ships no types).
declare module "autocannon" {
  /** One request of a sequence; each connection works on its own deep copy of these objects. */
  interface RequestSpec {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Called before each request on a shallow copy of the spec (so an object property is shared per connection). */
    setupRequest?: (request: RequestSpec & Record<string, unknown>, context: Record<string, unknown>) => RequestSpec;
    /** Called with `this` bound to the connection's copy of the spec. */
    onResponse?: (this: RequestSpec & Record<string, unknown>, status: number, body: string, context: Record<string, unknown>) => void;
    [key: string]: unknown;
  }
  interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    requests?: RequestSpec[];
    connections?: number;
    duration?: number;
    pipelining?: number;
  }
  interface Histogram {
    average: number;
    p50: number;
    p99: number;
    max: number;
  }
  interface Result {
    latency: Histogram;
    requests: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    "2xx": number;
  }
  export default function autocannon(options: Options): Promise<Result>;
}
