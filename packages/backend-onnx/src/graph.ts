import type { DType } from '@tessera/core';
import {
  type AttrValue,
  encodeModel,
  type NodeInit,
  type OnnxElem,
  type TensorInit,
  type ValueInit,
} from './proto.js';

/** The ONNX element type that stores a Tessera dtype. */
export function elemOf(dtype: DType): OnnxElem {
  return dtype === 'float32' ? 'float' : dtype;
}

/**
 * Builds one small ONNX graph in code. Inputs are named `in0, in1, …` in the order they are declared,
 * which is also the order the backend feeds them; the graph has one output, `out`.
 */
export class GraphBuilder {
  readonly nodes: NodeInit[] = [];
  readonly inputs: ValueInit[] = [];
  readonly outputs: ValueInit[] = [];
  readonly initializers: TensorInit[] = [];
  #n = 0;

  /** Declares the next input (unknown shape unless `dims` is given) and returns its name. */
  input(elem: OnnxElem, dims?: readonly (number | string)[], name = `in${this.inputs.length}`): string {
    this.inputs.push(dims ? { name, elem, dims } : { name, elem });
    return name;
  }

  /** A constant (initializer) tensor. */
  const(elem: OnnxElem, data: ArrayLike<number>, dims: readonly number[] = []): string {
    const name = `c${this.#n++}`;
    this.initializers.push({ name, elem, dims, data });
    return name;
  }

  /** A float32 scalar constant. */
  f(v: number): string {
    return this.const('float', [v]);
  }

  /** An int64 constant vector (or scalar with `scalar`). */
  i64(vs: readonly number[], scalar = false): string {
    return this.const('int64', vs, scalar ? [] : [vs.length]);
  }

  /** Adds a node with one output and returns the output's name. */
  op(type: string, inputs: readonly string[], attrs?: Record<string, AttrValue | undefined>): string {
    return this.opN(type, inputs, 1, attrs)[0]!;
  }

  /** Adds a node with `n` outputs. */
  opN(
    type: string,
    inputs: readonly string[],
    n: number,
    attrs?: Record<string, AttrValue | undefined>,
  ): string[] {
    const outs = Array.from({ length: n }, () => `t${this.#n++}`);
    this.nodes.push(attrs ? { op: type, inputs, outputs: outs, attrs } : { op: type, inputs, outputs: outs });
    return outs;
  }

  /** Casts to an ONNX element type (`to` as in the Cast attribute). */
  cast(x: string, elem: OnnxElem): string {
    return this.op('Cast', [x], { to: CAST_CODES[elem] });
  }

  /** Marks value `v` as the graph output `name` (default `out`) of type `elem`. */
  output(v: string, elem: OnnxElem, name = 'out', dims?: readonly (number | string)[]): void {
    this.nodes.push({ op: 'Identity', inputs: [v], outputs: [name] });
    this.outputs.push(dims ? { name, elem, dims } : { name, elem });
  }

  /** Serialises the graph as an opset-18 model (with optional `metadata_props`). */
  encode(name: string, docString?: string, metadata?: Record<string, string>): Uint8Array {
    return encodeModel({
      docString,
      metadata,
      nodes: this.nodes,
      inputs: this.inputs,
      outputs: this.outputs,
      initializers: this.initializers,
      name,
    });
  }
}

const CAST_CODES: Record<OnnxElem, number> = {
  float: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  double: 11,
  uint32: 12,
};
