// Part-sized buffers kept between uploads. Each upload fills (queue + 1) buffers of one part each;
// allocated afresh per upload, the previous upload's buffers stayed in memory as garbage until V8
// collected them (external memory is collected late), so back-to-back uploads peaked at twice
// the part memory. Returned here, they are reused by the next upload instead: the store keeps
// one upload's worth, and buffers of uploads beyond that (concurrent ones) go to the collector.
// A buffer is only ever read up to the bytes the current upload wrote into it.

export class PartBuffers {
  readonly partSize: number
  private readonly keep: number
  private readonly free: Buffer[] = []

  /** `keep`: how many idle buffers to hold on to. */
  constructor(partSize: number, keep: number) {
    this.partSize = partSize
    this.keep = keep
  }

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.partSize)
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer)
  }
}
