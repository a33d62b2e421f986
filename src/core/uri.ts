/**
 * Percent-decoding of URL parts, in one place. decodeURIComponent throws URIError on text that is
 * not valid percent-encoding: a "%" not followed by two hex digits ("p%zz", a lone "%") or escapes
 * that are not UTF-8 ("%ff"). Such text is not a URL part anyone meant, so an input holding one is
 * refused, naming the input and the part; elsewhere (masking, reading keys) it is taken as written.
 */
import { invalidInput } from './errors.js';

/** decodeURIComponent, or undefined for text that is not valid percent-encoding; never throws. */
export function tryDecodeURIComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    if (error instanceof URIError) return undefined;
    throw error;
  }
}

/**
 * One part of a URL that an input gives (`part`: "password" of `input` "postgres-url"), decoded;
 * a malformed escape is an invalid input. The message never quotes the part: it may be a password.
 */
export function decodeUrlPart(text: string, input: string, part: string): string {
  const decoded = tryDecodeURIComponent(text);
  if (decoded === undefined) {
    throw invalidInput(`${input}: the ${part} is not valid percent-encoding (a "%" must start an escape of two hex digits, as UTF-8); accepted: a literal "%" written as %25`);
  }
  return decoded;
}
