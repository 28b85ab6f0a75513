/** Longest inbound request id accepted. */
export const MAX_REQUEST_ID_LENGTH = 128;
const SAFE = /^[A-Za-z0-9._:+/=@-]+$/;

/**
 * True when an inbound request id is safe to log and echo: 1-128 characters of
 * `A-Z a-z 0-9 . _ : + / = @ -` (no spaces, quotes or control characters, so nothing can be
 * injected into a log line or a header).
 */
export function isValidRequestId(value: string | undefined): value is string {
  return (
    value !== undefined &&
    value.length > 0 &&
    value.length <= MAX_REQUEST_ID_LENGTH &&
    SAFE.test(value)
  );
}
