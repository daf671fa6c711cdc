// Where uploads that outlive a request keep bytes before they are recorded: under a prefix no live
// key can have (org ids may not start with a dot), so a presigned URL or a half-finished upload can
// never write a recorded file. Completion moves the bytes into place.
export const STAGING_PREFIX = '.uploads/'

/** The object a presigned PUT writes to, before completion copies it to its key. */
export function stagingKeyFor(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/object`
}

/** A resumable upload's bytes past its last full part (shorter than the part minimum). */
export function tailKeyFor(uploadId: string): string {
  return `${STAGING_PREFIX}${uploadId}/tail`
}

export function isStagingKey(key: string): boolean {
  return key.startsWith(STAGING_PREFIX)
}
