/**
 * The device side of the WebGPU backend, kept apart from the kernels (tfjs-webgpu style):
 * a buffer pool keyed by size class, compute pipelines cached by a shader key (sizes travel in a small
 * params buffer, so a new shape never compiles a new pipeline), batched command submission and the one
 * host readback path.
 */

import { TesseraError } from '@tessera/core';

/** Threads per workgroup of the 1-D kernels. */
export const WG = 64;

/** Buffers a tensor uses: GPU storage, shared by reshapes (reference counted). */
export interface GpuStorage {
  buffer: GPUBuffer;
  /** Tensors sharing this buffer. */
  refs: number;
  /** True for a buffer handed in by `wrapBuffer`: never pooled or destroyed by the backend. */
  external: boolean;
}

const USAGE_STORAGE = 0x80; // GPUBufferUsage.STORAGE
const USAGE_COPY_SRC = 0x04;
const USAGE_COPY_DST = 0x08;
const USAGE_MAP_READ = 0x01;
const MAP_MODE_READ = 0x01;

/** Rounds a byte count up to its pool class: powers of two split in four steps (≤ 25 % waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(p / 4, 4);
  return Math.ceil(b / step) * step;
}

export class Engine {
  readonly device: GPUDevice;
  /** Dispatches encoded before a submit is forced. */
  maxBatch = 64;
  /** Device buffers this engine created and has not destroyed (pooled and staging ones included). */
  buffersAllocated = 0;
  /** Compute pipelines compiled so far. */
  pipelinesCompiled = 0;

  #pool = new Map<number, GPUBuffer[]>();
  #staging = new Map<number, GPUBuffer[]>();
  /** Released during the current batch: back to the pool only after the batch is submitted. */
  #pending: GPUBuffer[] = [];
  #pipelines = new Map<string, GPUComputePipeline>();
  #layouts = new Map<number, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  #encoder: GPUCommandEncoder | undefined;
  #pass: GPUComputePassEncoder | undefined;
  #queued = 0;
  readonly maxGroups: number;
  /** Kernels that failed to compile, and why (reported by the next read). */
  #failures: string[] = [];
  #lost: string | undefined;

  constructor(device: GPUDevice) {
    this.device = device;
    this.maxGroups = device.limits.maxComputeWorkgroupsPerDimension || 65535;
    void device.lost?.then((info) => {
      this.#lost = info.message || info.reason || 'device lost';
    });
  }

  /** Storage buffers one kernel may bind (params and output included). */
  get maxBindings(): number {
    return this.device.limits.maxStorageBuffersPerShaderStage || 8;
  }

  // ---- buffers ----
  /** A storage buffer of at least `bytes` bytes, reused from the pool when possible. */
  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const list = this.#pool.get(cls);
    const b = list?.pop();
    if (b) return b;
    this.buffersAllocated++;
    return this.device.createBuffer({ size: cls, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST });
  }

  /** Returns a buffer to the pool once the work queued so far has been submitted. */
  recycle(buffer: GPUBuffer): void {
    if (this.#queued === 0 && !this.#encoder) this.#toPool(buffer);
    else this.#pending.push(buffer);
  }

  #toPool(buffer: GPUBuffer): void {
    const cls = buffer.size;
    const list = this.#pool.get(cls);
    if (list) list.push(buffer);
    else this.#pool.set(cls, [buffer]);
  }

  /** Uploads `data` into a fresh pooled buffer. */
  upload(data: ArrayBufferView): GPUBuffer {
    const buf = this.acquire(data.byteLength);
    if (data.byteLength > 0)
      this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** A params buffer holding `words`, recycled after this batch. */
  params(words: Uint32Array): GPUBuffer {
    const buf = this.upload(words.length ? words : new Uint32Array(1));
    this.#pending.push(buf);
    return buf;
  }

  // ---- pipelines ----
  #layout(n: number): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    let l = this.#layouts.get(n);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      for (let i = 0; i < n; i++) {
        entries.push({
          binding: i,
          visibility: 4 /* COMPUTE */,
          buffer: { type: i === n - 1 ? 'storage' : 'read-only-storage' },
        });
      }
      const bgl = this.device.createBindGroupLayout({ entries });
      l = { bgl, pl: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
      this.#layouts.set(n, l);
    }
    return l;
  }

  /**
   * The pipeline of `key`, compiled from `source()` on first use. Kernels bind `n` buffers: params at
   * binding 0, read-only inputs, and one read-write output last.
   */
  pipeline(key: string, n: number, source: () => string): GPUComputePipeline {
    const full = `${key}|${n}`;
    let p = this.#pipelines.get(full);
    if (!p) {
      const code = source();
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code, label: key });
      if (typeof process !== 'undefined' && process.env?.TESSERA_WEBGPU_DEBUG) {
        void module.getCompilationInfo().then((info) => {
          for (const m of info.messages)
            if (m.type === 'error') console.error(`[webgpu] ${key}: ${m.message}\n${code}`);
        });
      }
      p = this.device.createComputePipeline({
        layout: this.#layout(n).pl,
        compute: { module, entryPoint: 'main' },
        label: key,
      });
      void this.device.popErrorScope().then((e) => {
        if (e) this.#failures.push(`${key}: ${e.message}`);
      });
      this.#pipelines.set(full, p);
      this.pipelinesCompiled++;
    }
    return p;
  }

  // ---- submission ----
  /**
   * Encodes one dispatch of `groups` workgroups (split over x and y when above the per-dimension
   * limit; kernels index with `wid.x + wid.y * nwg.x` and guard their range). `buffers[last]` is written.
   */
  dispatch(
    key: string,
    source: () => string,
    buffers: readonly GPUBuffer[],
    groups: number,
    groupsZ = 1,
  ): void {
    if (groups <= 0 || groupsZ <= 0) return;
    const pipeline = this.pipeline(key, buffers.length, source);
    const bindGroup = this.device.createBindGroup({
      layout: this.#layout(buffers.length).bgl,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    this.#encoder ??= this.device.createCommandEncoder();
    this.#pass ??= this.#encoder.beginComputePass();
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, bindGroup);
    const x = Math.min(groups, this.maxGroups);
    const y = Math.ceil(groups / x);
    this.#pass.dispatchWorkgroups(x, y, groupsZ);
    if (++this.#queued >= this.maxBatch) this.flush();
  }

  /** Copies bytes between buffers, in order with the dispatches. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes <= 0) return;
    this.#encoder ??= this.device.createCommandEncoder();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = undefined;
    }
    this.#encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.#queued++;
  }

  /** Submits everything encoded so far and returns released buffers to the pool. */
  flush(): void {
    if (this.#encoder) {
      this.#pass?.end();
      this.#pass = undefined;
      this.device.queue.submit([this.#encoder.finish()]);
      this.#encoder = undefined;
    }
    this.#queued = 0;
    for (const b of this.#pending) this.#toPool(b);
    this.#pending = [];
  }

  /** Reads `bytes` bytes of `buffer` back to the host (the only readback path). */
  async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    if (bytes === 0) return new ArrayBuffer(0);
    const cls = sizeClass(bytes);
    let staging = this.#staging.get(cls)?.pop();
    if (!staging) {
      this.buffersAllocated++;
      staging = this.device.createBuffer({ size: cls, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    }
    this.copy(buffer, 0, staging, 0, bytes);
    this.flush();
    try {
      try {
        await staging.mapAsync(MAP_MODE_READ, 0, bytes);
      } catch (err) {
        throw new TesseraError(
          'BACKEND_UNAVAILABLE',
          `webgpu: readback failed${this.#lost ? ` (device lost: ${this.#lost})` : ''}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (this.#failures.length) {
        throw new TesseraError(
          'UNSUPPORTED',
          `webgpu: kernels failed to compile on this device, results are invalid: ${this.#failures.join('; ')}`,
        );
      }
      const out = staging.getMappedRange(0, bytes).slice(0);
      staging.unmap();
      return out;
    } finally {
      const list = this.#staging.get(cls);
      if (list) list.push(staging);
      else this.#staging.set(cls, [staging]);
    }
  }

  /** Resolves when all submitted work is done. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Destroys the free buffers held by the pools (after submitting pending work). */
  trim(): void {
    this.flush();
    for (const m of [this.#pool, this.#staging]) {
      for (const list of m.values()) for (const b of list) this.forget(b);
      m.clear();
    }
  }

  /** Destroys pooled buffers and forgets pipelines. */
  destroy(): void {
    this.flush();
    for (const m of [this.#pool, this.#staging]) {
      for (const list of m.values()) for (const b of list) b.destroy();
      m.clear();
    }
    this.buffersAllocated = 0;
    this.#pipelines.clear();
  }

  /** Destroys a buffer outside the pool accounting (used when the pool would exceed memory). */
  forget(buffer: GPUBuffer): void {
    buffer.destroy();
    this.buffersAllocated--;
  }
}
