import type { DType, Shape, Tensor, TypedArray } from '@tessera/core';
import type { Engine, Feed, Slot } from './engine.js';
import type { GraphBuilder } from './graph.js';

/** What the op implementations need from {@link OnnxBackend}: validation, graph runs and uploads. */
export interface OpContext {
  readonly name: string;
  readonly engine: Engine;
  /** The slot of a live tensor of this backend (throws like core's `checkTensor`). */
  slot(t: unknown, op: string, name?: string): Slot;
  /** Runs graph `key` on `feeds` and returns a tensor of `shape`/`dtype`. */
  op(
    key: string,
    build: (g: GraphBuilder) => void,
    feeds: ReadonlyArray<Tensor | Feed>,
    shape: Shape,
    dtype: DType,
  ): Tensor;
  /** A tensor holding host data. */
  host(data: TypedArray, shape: Shape, dtype: DType): Tensor;
  /** A filled tensor. */
  fill(shape: Shape, value: number, dtype?: DType): Tensor;
}
