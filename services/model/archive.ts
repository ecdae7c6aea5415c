import { crc32, gunzipSync } from 'node:zlib';

/** One regular file inside a tar archive. */
export interface ArchiveEntry {
  readonly name: string;
  readonly data: Buffer;
}

const BLOCK = 512;
const FILE_MODE = 0o644;
const MAX_STORED_BLOCK = 0xffff;
/** Directories and pax extended headers (written by bsdtar) carry no file content. */
const SKIPPED_TYPES = new Set(['5', 'x', 'g']);

function writeString(header: Buffer, value: string, offset: number, length: number): void {
  header.write(value, offset, length, 'ascii');
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  writeString(header, value.toString(8).padStart(length - 1, '0') + '\0', offset, length);
}

function tarHeader(entry: ArchiveEntry): Buffer {
  if (!/^[\w.-]{1,100}$/.test(entry.name)) throw new Error(`tar: unsupported entry name "${entry.name}"`);
  const header = Buffer.alloc(BLOCK);
  writeString(header, entry.name, 0, 100);
  writeOctal(header, FILE_MODE, 100, 8);
  writeOctal(header, 0, 108, 8);
  writeOctal(header, 0, 116, 8);
  writeOctal(header, entry.data.length, 124, 12);
  writeOctal(header, 0, 136, 12);
  writeString(header, '        ', 148, 8);
  writeString(header, '0', 156, 1);
  writeString(header, 'ustar\0' + '00', 257, 8);
  writeString(header, 'root', 265, 32);
  writeString(header, 'root', 297, 32);
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  writeString(header, checksum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return header;
}

function padToBlock(data: Buffer): Buffer {
  const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([data, Buffer.alloc(padding)]);
}

/**
 * A ustar archive of regular files in the given order, owned by root, mode 0644, mtime 0:
 * the same entries always give the same bytes.
 */
export function packTar(entries: readonly ArchiveEntry[]): Buffer {
  const parts = entries.flatMap((entry) => [tarHeader(entry), padToBlock(entry.data)]);
  return Buffer.concat([...parts, Buffer.alloc(2 * BLOCK)]);
}

function storedDeflate(data: Buffer): Buffer {
  const blocks: Buffer[] = [];
  for (let offset = 0; offset === 0 || offset < data.length; offset += MAX_STORED_BLOCK) {
    const chunk = data.subarray(offset, offset + MAX_STORED_BLOCK);
    const head = Buffer.alloc(5);
    head[0] = offset + MAX_STORED_BLOCK >= data.length ? 1 : 0;
    head.writeUInt16LE(chunk.length, 1);
    head.writeUInt16LE(~chunk.length & 0xffff, 3);
    blocks.push(head, chunk);
  }
  return Buffer.concat(blocks);
}

/**
 * Wraps data in a gzip member with no timestamp, no file name and OS "unknown". The deflate
 * stream uses stored blocks: compressed bytes from Node's zlib depend on its build and on
 * CPU-specific code paths, and artifacts must hash the same on every machine.
 */
export function gzipDeterministic(data: Buffer): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([header, storedDeflate(data), trailer]);
}

/** `packTar` then `gzipDeterministic`: a reproducible `.tar.gz`. */
export function packTarGz(entries: readonly ArchiveEntry[]): Buffer {
  return gzipDeterministic(packTar(entries));
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function readOctal(block: Buffer, offset: number, length: number): number {
  const text = readString(block, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function isSafeName(name: string): boolean {
  return name.length > 0 && !name.startsWith('/') && !name.split('/').includes('..');
}

/**
 * Regular files of a (gzipped) ustar archive, in archive order.
 * @throws on a corrupt header, an unsupported entry type or a path that escapes the archive root.
 */
export function unpackTarGz(archive: Buffer): ArchiveEntry[] {
  const tar = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  const entries: ArchiveEntry[] = [];
  for (let offset = 0; offset + BLOCK <= tar.length;) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const stored = readOctal(header, 148, 8);
    const computed = header.reduce((sum, byte, i) => sum + (i >= 148 && i < 156 ? 0x20 : byte), 0);
    if (stored !== computed) throw new Error(`tar: bad header checksum at offset ${offset}`);
    const prefix = readString(header, 345, 155);
    const name = (prefix ? `${prefix}/` : '') + readString(header, 0, 100).replace(/^\.\//, '');
    const size = readOctal(header, 124, 12);
    const type = readString(header, 156, 1) || '0';
    offset += BLOCK;
    if (type === '0') {
      if (!isSafeName(name)) throw new Error(`tar: refusing entry "${name}" outside the archive root`);
      entries.push({ name, data: Buffer.from(tar.subarray(offset, offset + size)) });
    } else if (!SKIPPED_TYPES.has(type)) {
      throw new Error(`tar: unsupported entry type "${type}" for "${name}"`);
    }
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}
