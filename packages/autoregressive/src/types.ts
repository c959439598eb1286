import type { Tensor } from '@tessera/core';

/**
 * Control signal added to a model's hidden inputs (ControlAR-style): `embeddings` holds one vector per
 * sequence position, `[B, L, D]` float32, and the model adds `strength · embeddings[:, positions, :]` to
 * the hidden inputs of the positions it predicts (see {@link addControl}). Decoders pass it through and,
 * under classifier-free guidance, repeat it for the unconditional half (guidance is over the label).
 */
export interface ControlInput {
  /** `[B, L, D]` float32 control embeddings (e.g. `controlFromTokens(controlTokens, table)`). */
  embeddings: Tensor;
  /** Multiplier of the control term; 0 turns control off. */
  strength: number;
}

/** Conditioning passed to a model. */
export interface Cond {
  /**
   * Class labels, int32 `[B]`. The value `numClasses` is the null (unconditional) label, as in VAR
   * (`label_B = num_classes`) and LlamaGen (`cond_null`). Omitted: every row is unconditional.
   */
  labels?: Tensor;
  /** Control embeddings added to hidden inputs. */
  control?: ControlInput;
}

/** What one model call returns: logits and the model's next (opaque) state. */
export interface ModelStep<S> {
  /** float32 logits; shape depends on the model kind. */
  logits: Tensor;
  /** Opaque state (a cache) to pass to the next call. */
  state: S;
}

/** Options of {@link NextTokenModel.prefill}. */
export interface PrefillOptions {
  /** Batch size B (rows of the prefix when one is given). */
  batch: number;
  /** Conditioning (already doubled by the decoder under guidance). */
  cond?: Cond;
  /**
   * Generation order: `order[i]` is the grid position of the i-th generated token (a permutation of
   * 0..L-1). Omitted: row-major (raster) order. Models that only support raster order throw UNSUPPORTED.
   */
  order?: readonly number[];
}

/**
 * A next-token model (PixelCNN, VQGAN transformer, LlamaGen): logits of the next token given all tokens
 * so far. Batched; the state is an opaque cache (a KV cache for a transformer, a token buffer for the
 * reference count models). A cache may grow by concatenation (`concat`) or be a static pre-allocated
 * buffer written in place (`static`); the decoder does not care which.
 *
 * Ownership: `step` consumes `state` (the model disposes whatever it does not carry into the new
 * state); the decoder disposes the last state with `disposeState` and every logits tensor it receives.
 * The model must not dispose the `tokens` tensor it is given.
 */
export interface NextTokenModel<S = unknown> {
  /** Number of token values V (logits have V entries). */
  readonly vocabSize: number;
  /** Number of classes C; label C is the null label. Absent: the model ignores labels. */
  readonly numClasses?: number;
  /**
   * Processes a prefix `[B, T]` int32 (or none) and returns the logits `[B, V]` of token T.
   */
  prefill(prefix: Tensor | null, options: PrefillOptions): ModelStep<S>;
  /** Appends `tokens` `[B]` int32 (the token just generated) and returns the logits `[B, V]` of the next one. */
  step(tokens: Tensor, state: S): ModelStep<S>;
  /**
   * Keeps rows `[begin, begin + size)` of the batch (used by the guidance interval cutoff to really halve
   * the batch). Consumes `state`.
   */
  sliceState?(state: S, begin: number, size: number): S;
  /** Frees the tensors of a state. */
  disposeState?(state: S): void;
}

/** Input of {@link NextScaleModel.next}: the tokens of the previous scale. */
export interface ScaleInput {
  /** int32 `[B, p²]` tokens of the previous scale (row-major). */
  tokens: Tensor;
  /**
   * float32 `[B, p², V]` soft token probabilities (Gumbel-softmax; VAR's `more_smooth`), present when the
   * decoder runs with `moreSmooth`. A model that embeds tokens may use `probs @ codebook` instead of a lookup.
   */
  probs?: Tensor;
}

/**
 * A next-scale model (VAR): logits for every token of scale k given all scales before it
 * (block-causal). Scale k is a `patchNums[k] × patchNums[k]` map of tokens.
 */
export interface NextScaleModel<S = unknown> {
  readonly vocabSize: number;
  readonly numClasses?: number;
  /** Side lengths of the scales, e.g. VAR's `[1, 2, 3, 4, 5, 6, 8, 10, 13, 16]`. */
  readonly patchNums: readonly number[];
  /** Logits `[B, p₀², V]` of scale 0 given only the condition. */
  begin(options: { batch: number; cond?: Cond }): ModelStep<S>;
  /** Appends scale `k - 1` and returns the logits `[B, p_k², V]` of scale `k` (k ≥ 1). Consumes `state`. */
  next(k: number, prev: ScaleInput, state: S): ModelStep<S>;
  /** Keeps rows `[begin, begin + size)`; consumes `state`. */
  sliceState?(state: S, begin: number, size: number): S;
  /** Frees the tensors of a state. */
  disposeState?(state: S): void;
}

/**
 * A masked-token model (MaskGIT, MAR with a categorical head): logits for every position given the
 * tokens and which positions are masked. Only the logits at masked positions are used. Stateless.
 */
export interface MaskedTokenModel {
  readonly vocabSize: number;
  readonly numClasses?: number;
  /** Sequence length L. */
  readonly seqLen: number;
  /**
   * @param tokens int32 `[B, L]` (values at masked positions are meaningless)
   * @param mask float32 `[B, L]`, 1 = masked (unknown), 0 = known
   * @returns float32 logits `[B, L, V]`
   */
  logits(tokens: Tensor, mask: Tensor, cond?: Cond): Tensor;
}

/**
 * A masked model with a continuous-token head (MAR's diffusion loss): the backbone maps tokens to one
 * conditioning vector per position, and `sampleHead` draws token vectors from them (e.g. a small
 * diffusion sampler conditioned on z, doing guidance internally as MAR's `DiffLoss.sample`).
 */
export interface ContinuousMaskedModel {
  readonly numClasses?: number;
  readonly seqLen: number;
  /** Dimension of one continuous token. */
  readonly tokenDim: number;
  /** z `[B, L, Dz]` from tokens `[B, L, tokenDim]` float32 and mask `[B, L]` (1 = masked). */
  forward(tokens: Tensor, mask: Tensor, cond?: Cond): Tensor;
  /**
   * Token vectors `[B, L, tokenDim]` drawn given z (may be async, e.g. a small diffusion sampler). Under guidance z has 2B rows (conditional first) and
   * the head returns the B guided rows. `random` is the Philox position to draw from.
   */
  sampleHead(
    z: Tensor,
    options: { guidanceScale: number; temperature: number; random: { seed: number; offset: number } },
  ): Tensor | Promise<Tensor>;
}
