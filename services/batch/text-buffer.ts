/**
 * The text of one output part (analytics or rejected lines) as UTF-8 bytes outside the V8 heap.
 *
 * A part collects 10,000 lines until its rows are in the table, a few hundred milliseconds: long enough
 * for every line to be promoted to V8's old space, where it stays as garbage after the part is written
 * until the next full collection. V8 lets the old space grow to about four times what is live before
 * it collects, so a scorer holding its parts as strings peaked higher the longer it ran. Bytes in a
 * buffer that a {@link TextBufferPool} hands out again after the part is written are never garbage:
 * the pool grows to the largest parts in flight and stays there.
 */
const MIN_BYTES = 64 * 1024;

export class TextBuffer {
  /** Reserved on the first line, so a buffer that stays empty (no rejected lines) costs nothing. */
  private bytes = Buffer.alloc(0);
  private used = 0;
  private count = 0;

  /** Lines appended since the last {@link clear}. */
  get lines(): number {
    return this.count;
  }

  /** Bytes of text held. */
  get byteLength(): number {
    return this.used;
  }

  /** Bytes reserved, held or not. */
  get capacity(): number {
    return this.bytes.length;
  }

  /** Appends `line` and a newline. */
  appendLine(line: string): void {
    // At most 3 UTF-8 bytes per UTF-16 code unit (a surrogate pair is 2 units for 4 bytes).
    const room = line.length * 3 + 1;
    if (this.used + room > this.bytes.length) this.grow(this.used + room);
    this.used += this.bytes.write(line, this.used, 'utf8');
    this.bytes[this.used++] = 0x0a;
    this.count++;
  }

  /** The text held, as a view on the buffer: valid until the next {@link appendLine} or {@link clear}. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.used);
  }

  /** Forgets the text, keeping the bytes reserved. */
  clear(): void {
    this.used = 0;
    this.count = 0;
  }

  private grow(needed: number): void {
    let size = Math.max(MIN_BYTES, this.bytes.length * 2);
    while (size < needed) size *= 2;
    const bigger = Buffer.allocUnsafeSlow(size);
    this.bytes.copy(bigger, 0, 0, this.used);
    this.bytes = bigger;
  }
}

/**
 * Hands out cleared {@link TextBuffer}s and takes them back once their text is written. Use one pool
 * per kind of text: a buffer grown for analytics lines would be wasted holding a few rejected ones.
 */
export class TextBufferPool {
  private readonly free: TextBuffer[] = [];

  acquire(): TextBuffer {
    return this.free.pop() ?? new TextBuffer();
  }

  release(buffer: TextBuffer): void {
    buffer.clear();
    this.free.push(buffer);
  }
}
