// Why a call to another server failed, for the log: fetch hides the network reason in "cause".
export function describeFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const detail = cause?.code ?? cause?.message;
  return detail === undefined ? String(error) : `${String(error)} (${String(detail)})`;
}
