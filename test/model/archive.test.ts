import { gunzipSync } from 'node:zlib';
import { gzipDeterministic, packTar, packTarGz, unpackTarGz } from '../../services/model/archive';

const entries = [
  { name: 'model.onnx', data: Buffer.from([0, 1, 2, 255]) },
  { name: 'metadata.json', data: Buffer.from('{"version":"v9"}\n') },
  { name: 'empty.txt', data: Buffer.alloc(0) },
  { name: 'block.bin', data: Buffer.alloc(512, 7) },
];

describe('packTarGz', () => {
  it('round-trips files in order', () => {
    expect(unpackTarGz(packTarGz(entries))).toEqual(entries);
  });

  it('gives the same bytes on every call, with no timestamp in the gzip header', () => {
    const archive = packTarGz(entries);
    expect(packTarGz(entries).equals(archive)).toBe(true);
    expect(archive.readUInt32LE(4)).toBe(0);
  });

  it('writes a standard gzip stream that zlib inflates to the tar', () => {
    expect(gunzipSync(packTarGz(entries)).equals(packTar(entries))).toBe(true);
  });

  it.each([0, 1, 65535, 65536, 200_000])('stores %i bytes in valid deflate blocks', (size) => {
    const data = Buffer.alloc(size, 'a');
    expect(gunzipSync(gzipDeterministic(data)).equals(data)).toBe(true);
  });

  it('refuses names that need more than a plain ustar name field', () => {
    expect(() => packTar([{ name: '../escape', data: Buffer.alloc(1) }])).toThrow(/unsupported entry name/);
  });
});

describe('unpackTarGz', () => {
  it('refuses an entry that escapes the archive root', () => {
    const tar = packTar([{ name: 'model.onnx', data: Buffer.from('x') }]);
    tar.write('../../etc/passwd\0', 0, 'ascii');
    const checksum = tar
      .subarray(0, 512)
      .reduce((sum, byte, i) => sum + (i >= 148 && i < 156 ? 0x20 : byte), 0);
    tar.write(checksum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    expect(() => unpackTarGz(tar)).toThrow(/outside the archive root/);
  });

  it('refuses a corrupt header', () => {
    const tar = packTar(entries);
    tar[0] ^= 1;
    expect(() => unpackTarGz(tar)).toThrow(/bad header checksum/);
  });
});
