// The real S3 server the suite runs against: the local Ceph RGW peer that `npm test` starts, or
// any endpoint named by TEST_S3_* (MinIO, a scratch Spaces bucket).
import { randomBytes } from 'node:crypto'
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  AbortMultipartUploadCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { createS3Client } from '../../plugin/drivers/s3.js'
import type { SpacesConnection } from '../../plugin/options.js'

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set: run the suite with \`npm test\` (it starts the S3 peer) or set TEST_S3_*`)
  }
  return value
}

/** Connection settings for a bucket on the test S3 server. */
export function testConnection(bucket: string): SpacesConnection {
  return {
    endpoint: required('TEST_S3_ENDPOINT'),
    region: process.env.TEST_S3_REGION ?? 'nyc3',
    bucket,
    accessKeyId: required('TEST_S3_ACCESS_KEY'),
    secretAccessKey: required('TEST_S3_SECRET_KEY'),
    forcePathStyle: (process.env.TEST_S3_FORCE_PATH_STYLE ?? 'true') === 'true',
  }
}

export interface TestBucket {
  name: string
  connection: SpacesConnection
  client: S3Client
  /** Every key in the bucket. */
  keys(prefix?: string): Promise<string[]>
  /** Incomplete multipart uploads in the bucket. */
  incompleteUploads(): Promise<Array<{ key: string; uploadId: string }>>
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A fresh bucket for one test file, emptied and removed when the test ends. */
export async function createTestBucket(t: Teardown, label = 'test'): Promise<TestBucket> {
  const name = `fs-${label}-${randomBytes(4).toString('hex')}`.toLowerCase().slice(0, 63)
  const connection = testConnection(name)
  const client = createS3Client(connection)
  await client.send(new CreateBucketCommand({ Bucket: name }))
  const bucket: TestBucket = {
    name,
    connection,
    client,
    async keys(prefix) {
      const keys: string[] = []
      let token: string | undefined
      do {
        const out = await client.send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ContinuationToken: token }))
        keys.push(...(out.Contents ?? []).map((o) => o.Key!))
        token = out.IsTruncated ? out.NextContinuationToken : undefined
      } while (token)
      return keys
    },
    async incompleteUploads() {
      const out = await client.send(new ListMultipartUploadsCommand({ Bucket: name }))
      return (out.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId! }))
    },
  }
  t.teardown(async () => {
    for (const upload of await bucket.incompleteUploads()) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: upload.key, UploadId: upload.uploadId }))
    }
    const keys = await bucket.keys()
    for (let i = 0; i < keys.length; i += 1000) {
      await client.send(
        new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }),
      )
    }
    await client.send(new DeleteBucketCommand({ Bucket: name }))
    client.destroy()
  })
  return bucket
}
