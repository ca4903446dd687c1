// Password check with the same cost whether or not the account exists: an unknown username is verified
// against a dummy argon2 hash. Disabled accounts fail like a wrong password.
import type { UserRecord } from "../../storage/index.ts";
import { dummyPasswordHash, verifySecret } from "../../services/passwords.ts";

/** Usernames are at most 128 characters (services/users.ts); anything longer names no account. */
export const MAX_USERNAME_LENGTH = 128;

/** The user when the password is theirs and the account is enabled, else null. */
export async function authenticate(user: UserRecord | null, password: string): Promise<UserRecord | null> {
  const valid = await verifySecret(user?.passwordHash ?? (await dummyPasswordHash()), password);
  return valid && user?.enabled ? user : null;
}
