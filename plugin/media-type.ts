// Media types as RFC 9110 §8.3.1 defines them: `type/subtype` and `;name=value` parameters, with
// no control characters anywhere. A stored content type is sent back as a response header, so a
// CR/LF in it would split the response, and any other control character would make Node refuse
// to send the header (a 500 on every later download).
import { InvalidContentTypeError } from './errors.js'

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\[\\t \\x21-\\x7E])*"'
const PARAMETER = `${TOKEN}=(?:${TOKEN}|${QUOTED})`
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*(?:${PARAMETER})?)*$`)

/** The longest content type we store (S3 metadata and our records stay small). */
export const MAX_MEDIA_TYPE_LENGTH = 255

export function isMediaType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_MEDIA_TYPE_LENGTH && MEDIA_TYPE.test(value)
}

/** Returns the value when it is a media type; a 400 otherwise. */
export function checkMediaType(value: unknown): string {
  if (!isMediaType(value)) throw new InvalidContentTypeError()
  return value
}

/** `type/subtype` in lower case, without parameters: what policies compare. */
export function essence(mediaType: string): string {
  return mediaType.split(';')[0]!.trim().toLowerCase()
}
