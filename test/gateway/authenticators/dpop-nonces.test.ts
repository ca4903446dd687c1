// The gateway's DPoP nonces (RFC 9449 §9): a nonce of the current or the previous window is accepted,
// anything else refused without throwing — a 43-character nonce of multi-byte characters once made
// timingSafeEqual throw (a 500 at the gateway).
import { DpopNonces } from "../../../src/gateway/authenticators/dpop.ts";

describe("gateway DPoP nonces", () => {
  const nonces = new DpopNonces(() => Buffer.from("a nonce secret of at least thirty-two bytes!"));
  const now = Date.UTC(2026, 11, 1, 12, 0, 0);

  test("the current and the previous window's nonce are accepted, an older one is not", () => {
    expect(nonces.accepts(nonces.current(now), now)).toBe(true);
    expect(nonces.accepts(nonces.current(now - 300_000), now)).toBe(true);
    expect(nonces.accepts(nonces.current(now - 900_000), now)).toBe(false);
  });

  test("malformed nonces are refused, not thrown on: wrong length, not a string, 43 multi-byte characters", () => {
    for (const nonce of [undefined, 42, "", "short", "é".repeat(43), "€".repeat(43), `${nonces.current(now).slice(0, 42)}é`]) {
      expect(nonces.accepts(nonce, now)).toBe(false);
    }
  });
});
