/** A file of a model folder and its checksum, verified at load. */
export interface ModelFileEntry {
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /** Size in bytes. */
  bytes: number;
}

/**
 * A model card as written by the training script next to the ONNX file (`models/<name>/card.json`):
 * what the network does, its data, I/O names, size, training run, metrics and file checksums.
 */
export interface ModelCard {
  /** Folder name under `models/`, e.g. `unet-digits16`. */
  name: string;
  /** One-line description. */
  task: string;
  /** The training (and held-out) data. */
  data: string;
  /** Input names → dtype and shape. */
  inputs: Record<string, string>;
  /** Output names → dtype and shape. */
  outputs: Record<string, string>;
  /** Trainable parameters. */
  parameters: number;
  /** ONNX operator set of the export. */
  opset: number;
  /** Number of classes the model knows. */
  num_classes?: number;
  /** Class label that means "no class" (classifier-free guidance), if any. */
  null_class?: number;
  /** Width of the feature vector of a feature extractor. */
  feature_dim?: number;
  /** Held-out metrics. */
  metrics?: Record<string, number>;
  /** How it was trained: script, seed, steps, optimiser, wall time in seconds, … */
  training: Record<string, unknown>;
  /** Files of the model folder with their checksums. */
  files: Record<string, ModelFileEntry>;
  /** Model-specific keys (codebook size, vocabulary, class-token offset, layers, …). */
  [key: string]: unknown;
}
