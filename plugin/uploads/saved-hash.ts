// SHA-256 whose running state can be saved to the ledger and loaded on another instance, so a
// resumable upload's recorded sha256 is the hash of the whole file wherever its parts arrived.
// Node's crypto cannot export its state; hash-wasm can (116 bytes). It is slower: measured here
// about 140 MiB/s against node's 1,100-1,300 MiB/s (SHA-NI), which is why only resumable uploads
// use it (see scripts/bench-tus.ts).
import { createSHA256, type IHasher } from 'hash-wasm'

export class SavedHash {
  private constructor(private readonly hasher: IHasher) {}

  /** A fresh hash, or one that carries on from `state` (from `save()`). */
  static async open(state?: string | null): Promise<SavedHash> {
    const hasher = await createSHA256()
    if (state) hasher.load(Buffer.from(state, 'base64'))
    else hasher.init()
    return new SavedHash(hasher)
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk)
  }

  save(): string {
    return Buffer.from(this.hasher.save()).toString('base64')
  }

  /** Hex digest; the hash cannot be used afterwards. */
  digest(): string {
    return this.hasher.digest('hex')
  }
}
