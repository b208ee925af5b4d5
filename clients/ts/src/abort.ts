/** What a call aborted by `signal` rejects with: its reason when that is an Error, else an AbortError naming it (`abort('why')` gives a string, which no caller can `instanceof`). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException(String(reason), 'AbortError');
}
