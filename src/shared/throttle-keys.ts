// Names of the password-attempt counters (storage/repositories/throttles.ts), shared by the sign-in checks
// and the administrator's unlock. Usernames are hashed: people type passwords into the username field.
import crypto from "node:crypto";

const hashed = (username: string) => crypto.hash("sha256", username, "base64url").slice(0, 32);

export const throttleKeys = {
  /** One account from one source address: the counter a stranger's guesses fill, slowing only them. */
  pair: (username: string, address: string) => `pair:${hashed(username)}:${address}`,
  /** Prefix of every pair counter of one account. */
  pairsOf: (username: string) => `pair:${hashed(username)}:`,
  /** One account from every address: the much higher ceiling against distributed guessing. */
  account: (username: string) => `account:${hashed(username)}`,
  /** One source address across every account: the ceiling against credential stuffing. */
  address: (address: string) => `address:${address}`,
};
