/**
 * Reads the header fields of a serialised ONNX ModelProto (ir_version = 1, opset_import = 8,
 * OperatorSetIdProto domain = 1 / version = 2, metadata_props = 14, StringStringEntryProto key = 1 /
 * value = 2) without decoding the graph, for error messages and model adapters.
 */

/** What {@link readModelHeader} finds. */
export interface ModelHeader {
  irVersion?: number;
  opsets: Array<{ domain: string; version: number }>;
  /** `metadata_props` key/value pairs. */
  metadata: Record<string, string>;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (!(b & 0x80)) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else if (wire === 2) {
      const n = this.varint(); // read first: `pos += varint()` would add to the stale position
      this.pos += n;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new Error('truncated bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Parses the top-level fields; returns undefined when the bytes are not a well-formed protobuf. */
export function readModelHeader(bytes: Uint8Array): ModelHeader | undefined {
  try {
    const r = new Reader(bytes);
    const header: ModelHeader = { opsets: [], metadata: {} };
    let sawGraph = false;
    while (r.pos < bytes.length) {
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 0) return undefined;
      if (field === 1 && wire === 0) header.irVersion = r.varint();
      else if (field === 7 && wire === 2) {
        sawGraph = true;
        r.skip(2);
      } else if (field === 8 && wire === 2) {
        const sub = new Reader(r.bytes());
        let domain = '';
        let version = 0;
        while (sub.pos < sub.buf.length) {
          const t = sub.varint();
          if (t >>> 3 === 1 && (t & 7) === 2) domain = new TextDecoder().decode(sub.bytes());
          else if (t >>> 3 === 2 && (t & 7) === 0) version = sub.varint();
          else sub.skip(t & 7);
        }
        header.opsets.push({ domain, version });
      } else if (field === 14 && wire === 2) {
        const sub = new Reader(r.bytes());
        let key = '';
        let value = '';
        while (sub.pos < sub.buf.length) {
          const t = sub.varint();
          if (t >>> 3 === 1 && (t & 7) === 2) key = new TextDecoder().decode(sub.bytes());
          else if (t >>> 3 === 2 && (t & 7) === 2) value = new TextDecoder().decode(sub.bytes());
          else sub.skip(t & 7);
        }
        header.metadata[key] = value;
      } else r.skip(wire);
    }
    return sawGraph ? header : undefined;
  } catch {
    return undefined;
  }
}
