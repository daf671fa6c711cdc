// The browser side of the Uppy tests: real Uppy with @uppy/tus, and with @uppy/aws-s3 in
// multipart mode, bundled by esbuild and run in Chromium. Plain JavaScript: it runs in the page,
// not in Node, so it stays out of the Node type-check. The README's Uppy test imports its helpers.
import Uppy from '@uppy/core'
import Tus from '@uppy/tus'
import AwsS3 from '@uppy/aws-s3'

/** The same deterministic bytes as test/helpers/http.ts patternStream(size, seed). */
export function patternBlob(size, seed, type) {
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  let state = seed
  for (let i = 0; i + 4 <= size; i += 4) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    view.setUint32(i, state, true)
  }
  // patternStream writes whole words into a buffer it then cuts: a short tail keeps the next word's first bytes.
  if (size % 4 !== 0) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    const word = new Uint8Array(4)
    new DataView(word.buffer).setUint32(0, state, true)
    bytes.set(word.subarray(0, size % 4), size - (size % 4))
  }
  return new Blob([bytes], { type })
}

/** Uploads one file with `uppy`: what Uppy reports, and the retries and errors it went through. */
export async function run(uppy, file) {
  const events = []
  uppy.on('upload-error', (_file, error) => events.push(`upload-error: ${error.message}`))
  uppy.on('upload-retry', () => events.push('upload-retry'))
  uppy.addFile(file)
  const result = await uppy.upload()
  const done = result.successful[0]
  return {
    ok: result.failed.length === 0 && done !== undefined,
    failed: result.failed.map((f) => String(f.error)),
    uploadURL: done?.uploadURL,
    body: done?.response?.body,
    events,
  }
}

/** Uppy + @uppy/tus: resumable, retries on network errors. */
globalThis.uploadWithTus = async ({ endpoint, authorization, size, seed, name, meta }) => {
  const uppy = new Uppy({ autoProceed: false }).use(Tus, {
    endpoint,
    headers: { authorization },
    chunkSize: 5 * 1024 * 1024,
    retryDelays: [0, 300, 1000, 2000, 3000],
    allowedMetaFields: true,
  })
  return run(uppy, { name, type: 'video/mp4', data: patternBlob(size, seed, 'video/mp4'), meta })
}

/** Uppy + @uppy/aws-s3, multipart: parts straight to the bucket, the sidecar as its Companion. */
globalThis.uploadWithS3Multipart = async ({ sidecar, authorization, target, size, seed, name }) => {
  // The app asks the sidecar (with its bearer token) for an endpoint that stands for the user.
  const session = await fetch(`${sidecar}/v1/uploads/multipart/sessions`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(target),
  })
  const { companionEndpoint } = await session.json()
  const uppy = new Uppy({ autoProceed: false }).use(AwsS3, {
    companionEndpoint,
    shouldUseMultipart: true,
    getChunkSize: () => 5 * 1024 * 1024,
  })
  return run(uppy, { name, type: 'application/pdf', data: patternBlob(size, seed, 'application/pdf') })
}
