import { readFile } from 'node:fs/promises';
import type {
  OnnxMaskedModel,
  OnnxRasterModel,
  OnnxScaleModel,
  OnnxTokenModelOptions,
} from '@tessera/backend-onnx';
import { type Backend, createCpuBackend, TesseraError } from '@tessera/core';
import type { Denoiser } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { DECODERS, type DecoderName, fitArModel } from './ar.js';
import { loadOrt } from './backends.js';
import { UsageError } from './errors.js';

/**
 * Loads a user's ONNX x0-denoiser with ONNX Runtime for Node: inputs `x` `[N, 1, 16, 16]` and `sigma`,
 * output `x0` (the layout `tessera export-model` writes). On the `onnx` backend the model runs in place;
 * on another backend each call moves x to ONNX Runtime and the result back.
 */
export async function loadOnnxDigitsDenoiser(path: string, backend: Backend): Promise<Denoiser> {
  const ort = await loadOrt();
  const { createOnnxBackend, onnxDenoiser, OnnxBackend } = await import('@tessera/backend-onnx');
  const B =
    backend instanceof OnnxBackend
      ? backend
      : createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
  return onnxDenoiser(path, {
    backend: B,
    predictionType: 'sample',
    inputNames: { sample: 'x', timestep: 'sigma' },
    outputName: 'x0',
  }) as Promise<Denoiser>;
}

/** Writes the embedded default digits model as an ONNX x0-denoiser (float64 arithmetic inside). */
export async function exportDefaultModel(): Promise<Uint8Array> {
  const { exportGaussianMixtureDenoiser } = await import('@tessera/reference-onnx');
  return exportGaussianMixtureDenoiser(defaultDigitsModel().canonical, {
    sampleShape: [1, 16, 16],
    precision: 'float64',
  });
}

/** What `export-model --kind` writes: the digits denoiser or one of the AR reference models. */
export const MODEL_KINDS = ['digits', ...DECODERS] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/**
 * Writes the reference model of an AR decoder (the one `generate ar --decoder <kind>` fits, same data
 * set and options) as an ONNX token-logits graph: `tokens` int64 `[N, L]` (unknown = outside [0, V)),
 * `labels` int64 `[N]` → `logits` float32 `[N, L, V]`, with the kind in its `tessera.kind` metadata.
 */
export async function exportArModel(kind: DecoderName): Promise<Uint8Array> {
  const { exportTokenModel } = await import('@tessera/reference-onnx');
  // the count tables are computed on the host; the backend only holds the fitted model's tensors
  const model = fitArModel(kind, createCpuBackend());
  try {
    return exportTokenModel(model);
  } finally {
    model.dispose();
  }
}

/** An exported AR model loaded with the adapter of its kind. */
export type OnnxTokenModel =
  | { kind: 'raster'; model: OnnxRasterModel }
  | { kind: 'next-scale'; model: OnnxScaleModel }
  | { kind: 'masked'; model: OnnxMaskedModel };

/**
 * Loads an ONNX token model (as `export-model --kind raster|next-scale|masked` writes) with the adapter
 * of the kind its `tessera.kind` metadata records (`decoder` when it records none). The decoders keep
 * their buffers on the model's backend, so `backend` must be an ONNX backend. A `decoder` other than
 * the recorded kind is a UsageError; a missing, corrupt or mismatched file a TesseraError naming it.
 */
export async function loadOnnxTokenModel(
  path: string,
  backend: Backend,
  decoder?: DecoderName,
): Promise<OnnxTokenModel> {
  const { OnnxBackend, onnxMaskedModel, onnxRasterModel, onnxScaleModel, readModelHeader } = await import(
    '@tessera/backend-onnx'
  );
  if (!(backend instanceof OnnxBackend)) {
    throw new UsageError(
      `--model runs the token model on ONNX Runtime and decodes next to it: use --backend onnx, not '${backend.name}'`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TesseraError(
      code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'INVALID_ARGUMENT',
      `cannot read model '${path}' (${code ?? (err as Error).message})`,
    );
  }
  const recorded = readModelHeader(bytes)?.metadata['tessera.kind'];
  const known = DECODERS.find((d) => d === recorded);
  if (known && decoder && decoder !== known) {
    throw new UsageError(
      `'${path}' is a ${known} model (tessera.kind), but --decoder is ${decoder}; use --decoder ${known} or leave it out`,
    );
  }
  const kind = known ?? decoder ?? 'next-scale';
  const o: OnnxTokenModelOptions = { backend, name: path };
  if (kind === 'raster') return { kind, model: await onnxRasterModel(bytes, o) };
  if (kind === 'next-scale') return { kind, model: await onnxScaleModel(bytes, o) };
  return { kind, model: await onnxMaskedModel(bytes, o) };
}

/** Reads a file for error messages that name it (used by tests). */
export async function fileBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}
