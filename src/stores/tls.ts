/**
 * What a TLS failure to PostgreSQL or etcd means for the operator. The TLS files themselves are
 * read while the inputs are validated (src/options/tls-files.ts).
 */

/** How Node (and gRPC, which only passes on Node's message) says a server certificate did not verify. */
const VERIFY_CODES = /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|ERR_TLS_CERT_ALTNAME_INVALID|CERT_[A-Z_]+)$/;
const VERIFY_MESSAGES = /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|Hostname\/IP does not match certificate|certificate has expired/i;

export function isCertificateFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && VERIFY_CODES.test(code)) return true;
  return VERIFY_MESSAGES.test(error instanceof Error ? error.message : String(error));
}

/** A certificate that does not verify gets a hint naming the input that holds the CA. */
export function tlsHint(error: unknown, caInput: string, ca: string | undefined): string {
  if (!isCertificateFailure(error)) return '';
  return ca ? ` (the server's certificate does not verify against ${caInput} ${ca})` : ` (the server's certificate does not verify: set ${caInput})`;
}
