// The grant handlers' invalid_grant, shared by all of them (and by the DPoP binding they call).
import { errors } from "oidc-provider";

/**
 * invalid_grant (RFC 6749 §5.2) with a description of its own: oidc-provider's InvalidGrant takes only
 * an internal detail and always says "grant request is invalid".
 */
export function invalidGrant(description: string): InstanceType<typeof errors.InvalidGrant> {
  return Object.assign(new errors.InvalidGrant(), { error_description: description });
}
