export interface Command {
  summary: string
  usage: string
  /** Returns the exit code, or -1 for a command that keeps running (serve). */
  run(args: string[]): Promise<number>
}
