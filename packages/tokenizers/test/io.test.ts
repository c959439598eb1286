import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TesseraError } from '@tessera/core';
import {
  encodeNpy,
  encodeSafetensors,
  loadCodebook,
  loadCodebookFile,
  parseNpy,
  parseSafetensors,
} from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { freshSeed, normals } from './helpers.ts';

/** Hand-assembled safetensors (format spec: u64 LE header length, JSON header, data buffer). */
function safetensorsBytes(header: object, data: Uint8Array, lengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, lengthOverride ?? json.length, true);
  dv.setUint32(4, 0, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function leBytes(values: number[], kind: 'f32' | 'f64' | 'u16' | 'i32'): Uint8Array {
  const size = kind === 'f64' ? 8 : kind === 'u16' ? 2 : 4;
  const out = new Uint8Array(values.length * size);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (kind === 'f32') dv.setFloat32(i * size, v, true);
    else if (kind === 'f64') dv.setFloat64(i * size, v, true);
    else if (kind === 'u16') dv.setUint16(i * size, v, true);
    else dv.setInt32(i * size, v, true);
  });
  return out;
}

/** Hand-assembled .npy v1.0 (magic \x93NUMPY, 1, 0, u16 LE header length, dict literal padded to 64). */
function npyBytes(descr: string, shape: string, data: Uint8Array, fortran = false, major = 1): Uint8Array {
  const lenBytes = major === 1 ? 2 : 4;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((8 + lenBytes + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(8 + lenBytes + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), 8 + lenBytes);
  out.set(data, 8 + lenBytes + header.length);
  return out;
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TesseraError);
    return (e as TesseraError).code;
  }
  return 'no error';
};

describe('codebook files', () => {
  it('our safetensors and .npy writers round-trip a random codebook', async () => {
    const seed = freshSeed(61);
    const data = Float32Array.from(normals(seed, 40 * 6));
    const st = encodeSafetensors({ 'quantize.embedding.weight': { data, shape: [40, 6] } }, { format: 'pt' });
    expect(new DataView(st.buffer).getUint32(0, true) % 8).toBe(0); // header padded to 8 bytes
    const a = loadCodebook(st, { shape: [40, 6] });
    expect(a.shape).toEqual([40, 6]);
    expect(Array.from(await a.data())).toEqual(Array.from(data));
    const np = encodeNpy(data, [40, 6]);
    expect((np.length - data.byteLength) % 64).toBe(0);
    expect(Array.from(await loadCodebook(np).data())).toEqual(Array.from(data));
  });

  it('reads hand-assembled safetensors with F32, F64, F16 and BF16 tensors', () => {
    // F16: 0x3C00 = 1, 0xC000 = −2, 0x3800 = 0.5, 0x7BFF = 65504, 0x0001 = 2⁻²⁴ (IEEE 754 binary16)
    // BF16: 0x3F80 = 1, 0xBF00 = −0.5, 0x4049 = 3.140625 (upper half of the float32 bits)
    const f32 = leBytes([1, 2, 3, 4], 'f32');
    const f64 = leBytes([0.1, -7], 'f64');
    const f16 = leBytes([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0], 'u16');
    const bf16 = leBytes([0x3f80, 0xbf00, 0x4049, 0], 'u16');
    const bytes = safetensorsBytes(
      {
        __metadata__: { note: 'hand made' },
        a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
        b: { dtype: 'F64', shape: [1, 2], data_offsets: [16, 32] },
        c: { dtype: 'F16', shape: [3, 2], data_offsets: [32, 44] },
        d: { dtype: 'BF16', shape: [2, 2], data_offsets: [44, 52] },
      },
      new Uint8Array([...f32, ...f64, ...f16, ...bf16]),
    );
    const all = parseSafetensors(bytes);
    expect([...all.keys()]).toEqual(['a', 'b', 'c', 'd']);
    expect(Array.from(all.get('a')!.data)).toEqual([1, 2, 3, 4]);
    expect(all.get('b')!.data[0]).toBeCloseTo(0.1, 7);
    expect(all.get('b')!.data[1]).toBe(-7);
    expect(Array.from(all.get('c')!.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, 0]);
    expect(Array.from(all.get('d')!.data)).toEqual([1, -0.5, 3.140625, 0]);
    expect(all.get('c')!.shape).toEqual([3, 2]);
  });

  it('reads .npy files written by numpy (v1.0, C and Fortran order) and hand-assembled v2.0', async () => {
    // base64 of np.save(np.array([[1.5,-2.25,3],[0.125,-0.0625,100]], dtype='<f4')) (numpy 2.4)
    const c = Buffer.from(
      'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAQwAAAQEAAAAA+AACAvQAAyEI=',
      'base64',
    );
    const t = loadCodebook(new Uint8Array(c));
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.data())).toEqual([1.5, -2.25, 3, 0.125, -0.0625, 100]);
    // np.save(np.asfortranarray(np.array([[1,2,3],[4,5,6]], dtype='<f8')))
    const f = Buffer.from(
      'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADwPwAAAAAAABBAAAAAAAAAAEAAAAAAAAAUQAAAAAAAAAhAAAAAAAAAGEA=',
      'base64',
    );
    const p = parseNpy(new Uint8Array(f));
    expect(p.sourceDtype).toBe('<f8');
    expect(Array.from(p.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const v2 = npyBytes('<f4', '(1, 2)', leBytes([7, 8], 'f32'), false, 2);
    expect(Array.from(parseNpy(v2).data)).toEqual([7, 8]);
  });

  it('reads JSON codebooks: nested arrays, {shape, data}, and a named key', async () => {
    expect(Array.from(await loadCodebook('[[1, 2], [3, 4], [5, 6]]').data())).toEqual([1, 2, 3, 4, 5, 6]);
    const b = loadCodebook(JSON.stringify({ shape: [2, 2], data: [1, 0, 0, 1] }));
    expect(b.shape).toEqual([2, 2]);
    const c = loadCodebook(new TextEncoder().encode(JSON.stringify({ codebook: [[9, 8, 7]] })), {
      name: 'codebook',
    });
    expect(c.shape).toEqual([1, 3]);
  });

  it('names wrong dtype, wrong shape and truncated files with TesseraError codes', () => {
    const ok = safetensorsBytes(
      { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } },
      leBytes([1, 2, 3, 4], 'f32'),
    );
    expect(code(() => loadCodebook(ok.subarray(0, ok.length - 3)))).toBe('CORRUPT_FILE');
    expect(code(() => loadCodebook(ok.subarray(0, 5), { format: 'safetensors' }))).toBe('CORRUPT_FILE');
    const longHeader = safetensorsBytes(
      { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } },
      leBytes([1, 2, 3, 4], 'f32'),
      9999,
    );
    expect(code(() => loadCodebook(longHeader, { format: 'safetensors' }))).toBe('CORRUPT_FILE');
    const badSpan = safetensorsBytes(
      { w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] } },
      leBytes([1, 2, 3, 4], 'f32'),
    );
    expect(code(() => loadCodebook(badSpan))).toBe('CORRUPT_FILE');
    const ints = safetensorsBytes(
      { w: { dtype: 'I32', shape: [2, 2], data_offsets: [0, 16] } },
      leBytes([1, 2, 3, 4], 'i32'),
    );
    expect(code(() => loadCodebook(ints))).toBe('DTYPE_MISMATCH');
    expect(code(() => loadCodebook(ok, { shape: [3, undefined] }))).toBe('SHAPE_MISMATCH');
    expect(code(() => loadCodebook(ok, { name: 'missing' }))).toBe('UNKNOWN_NAME');
    const oneD = npyBytes('<f4', '(4,)', leBytes([1, 2, 3, 4], 'f32'));
    expect(code(() => loadCodebook(oneD))).toBe('SHAPE_MISMATCH');
    const truncated = npyBytes('<f4', '(2, 2)', leBytes([1, 2, 3], 'f32'));
    expect(code(() => loadCodebook(truncated))).toBe('CORRUPT_FILE');
    const bigEndian = npyBytes('>f4', '(1, 1)', new Uint8Array(4));
    expect(code(() => loadCodebook(bigEndian))).toBe('UNSUPPORTED');
    expect(code(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])))).toBe('CORRUPT_FILE');
    expect(code(() => loadCodebook('[[1, 2], [3]]'))).toBe('CORRUPT_FILE');
    expect(code(() => loadCodebook('{"shape": [2, 2], "data": [1, 2, 3]}'))).toBe('CORRUPT_FILE');
  });

  it('loadCodebookFile reads from disk and reports a missing file', async () => {
    const path = join(tmpdir(), `tessera-codebook-${process.pid}.npy`);
    await writeFile(path, encodeNpy(Float32Array.from([1, 2, 3, 4]), [2, 2]));
    expect(Array.from(await (await loadCodebookFile(path)).data())).toEqual([1, 2, 3, 4]);
    await expect(loadCodebookFile(`${path}.missing`)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });
});
