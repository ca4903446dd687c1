// Counts a request body whose size is not announced (chunked) while it streams to the upstream,
// and fails as soon as it passes the limit, before the excess is forwarded.
import { Transform, type TransformCallback } from "node:stream";
import { PayloadTooLarge } from "../errors.ts";

export class BodyLimit extends Transform {
  readonly #limit: number;
  #received = 0;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#received > this.#limit) callback(new PayloadTooLarge(this.#limit));
    else callback(null, chunk);
  }
}
