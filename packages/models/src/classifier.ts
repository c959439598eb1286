import {
  moveToBackend,
  moveToOnnx,
  type OnnxBackend,
  type OnnxModel,
  onnxModel,
} from '@tessera/backend-onnx';
import { isTensor, type Tensor, TesseraError } from '@tessera/core';
import type { ModelCard } from './card-types.js';
import { CLASSIFIER_DIGITS16_CARD } from './cards.js';
import type { ModelsLocation } from './files.js';
import { type ModelRuntimeOptions, readCardFile } from './session.js';

type Output = 'logits' | 'features';

/** Logits and penultimate features of a batch of images. */
export interface ClassifierOutputs {
  /** `[N, 10]` class logits. */
  logits: Tensor;
  /** `[N, 128]` penultimate ReLU features (the domain's feature space for FID/KID/precision/recall). */
  features: Tensor;
}

/**
 * The 16×16 digit classifier: logits, features and predicted classes of `[N, 1, 16, 16]` images in
 * [-1, 1]. Tensors come back on the input's backend; the caller owns them.
 */
export interface DigitClassifier {
  /** Logits and features in one run. */
  run(x: Tensor): Promise<ClassifierOutputs>;
  /** `[N, 128]` features (a feature extractor for the metrics package). */
  features(x: Tensor): Promise<Tensor>;
  /** Predicted class of each row (argmax of the logits), read back to the host. */
  predict(x: Tensor): Promise<Int32Array>;
  /** The loaded ONNX model. */
  readonly model: OnnxModel;
  /** The model's card (held-out accuracy under `metrics`). */
  readonly card: ModelCard;
  /** Releases the model's session. */
  dispose(): Promise<void>;
}

/** Options of {@link loadDigitClassifier}. */
export interface LoadClassifierOptions extends ModelRuntimeOptions {
  /** The ONNX backend the network runs on. */
  backend: OnnxBackend;
  /** Folder (Node path) or base URL holding `classifier-digits16/`. Default: the repository's `models/`. */
  dir?: ModelsLocation;
}

/**
 * Loads the small CNN digit classifier trained on 16×16 procedural digits (`models/classifier-digits16`),
 * verifying its SHA-256. Its 128-d penultimate features serve as the domain's feature extractor.
 *
 * @example
 * const C = await loadDigitClassifier({ backend: B });
 * const classes = await C.predict(images); // Int32Array, one digit per row
 */
export async function loadDigitClassifier(options: LoadClassifierOptions): Promise<DigitClassifier> {
  const card = CLASSIFIER_DIGITS16_CARD;
  const { bytes, name, sessionOptions } = await readCardFile(
    'loadDigitClassifier',
    card,
    'model.onnx',
    options,
  );
  const B = options.backend;
  const model = await onnxModel(bytes, {
    backend: B,
    name,
    sessionOptions,
    expect: {
      inputs: { pixel_values: { dtype: 'float32' } },
      outputs: { logits: { dtype: 'float32' }, features: { dtype: 'float32' } },
    },
  });
  const label = `loadDigitClassifier '${card.name}'`;

  const check = (x: Tensor): void => {
    if (!isTensor(x)) throw new TesseraError('INVALID_ARGUMENT', `${label}: x must be a Tensor`);
    const s = x.shape;
    if (s.length !== 4 || s[1] !== 1 || s[2] !== 16 || s[3] !== 16 || s[0]! < 1) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${label}: x must have shape [N, 1, 16, 16] with N ≥ 1, got [${s.join(', ')}]`,
      );
    }
    if (x.dtype !== 'float32')
      throw new TesseraError('DTYPE_MISMATCH', `${label}: x must be float32, got ${x.dtype}`);
  };

  // a subset of the outputs works on every placement (backend-onnx fetches all on GPU-resident runs)
  const runModel = (x: Tensor, names: readonly Output[]) => model.run({ pixel_values: x }, names);

  const runOn = async (x: Tensor, names: readonly Output[]): Promise<Record<string, Tensor>> => {
    check(x);
    if (x.backend === B) return runModel(x, names);
    const xo = await moveToOnnx(x, B);
    try {
      const out = await runModel(xo.tensor, names);
      const back: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(out)) {
        back[k] = (await moveToBackend(v, B, x.backend)).tensor;
        v.dispose();
      }
      return back;
    } finally {
      xo.tensor.dispose();
    }
  };

  const classifier: DigitClassifier = {
    model,
    card,
    async run(x) {
      const o = await runOn(x, ['logits', 'features']);
      return { logits: o.logits!, features: o.features! };
    },
    async features(x) {
      return (await runOn(x, ['features'])).features!;
    },
    async predict(x) {
      const { logits } = await runOn(x, ['logits']);
      const v = await logits!.data();
      logits!.dispose();
      const n = x.shape[0]!;
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let k = 1; k < 10; k++) if (v[i * 10 + k]! > v[i * 10 + best]!) best = k;
        out[i] = best;
      }
      return out;
    },
    dispose: () => model.dispose(),
  };
  return classifier;
}
