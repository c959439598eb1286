import { type Tensor, TesseraError } from '@tessera/core';

/**
 * A lazy linear form Σ cᵢ·xᵢ over tensors: named intermediates (`toD(x, den, σ)`, `a.plus(b)`,
 * `d.times(h)`) combine as plain numbers on the host, and only {@link LinearForm.emit} touches the
 * device, with exactly one fused `lincomb` whatever the form was built from. A sampler can then read
 * like its paper (or k-diffusion) and still cost one kernel per update.
 *
 * Forms are immutable; the same tensor appearing twice is merged into one term.
 *
 * @example
 * const d = toD(x, den, sigma);              // (x − D)/σ, nothing computed yet
 * const next = lin(x).plus(d.times(dt));     // x + d·dt
 * return next.emit(c);                        // one lincomb([1 + dt/σ, −dt/σ], [x, den])
 */
export class LinearForm {
  readonly #terms: ReadonlyMap<Tensor, number>;

  private constructor(terms: ReadonlyMap<Tensor, number>) {
    this.#terms = terms;
  }

  /** The form c·x. */
  static of(x: Tensor, c = 1): LinearForm {
    checkTensor(x);
    return new LinearForm(new Map([[x, c]]));
  }

  /** The sum of `forms` (an empty sum is an error: a form needs a tensor to have a shape). */
  static sum(...forms: LinearForm[]): LinearForm {
    if (forms.length === 0) throw new TesseraError('INVALID_ARGUMENT', 'LinearForm.sum: no terms');
    const out = new Map<Tensor, number>();
    for (const f of forms) for (const [t, c] of f.#terms) out.set(t, (out.get(t) ?? 0) + c);
    return new LinearForm(out);
  }

  /** this + Σ others. */
  plus(...others: LinearForm[]): LinearForm {
    return LinearForm.sum(this, ...others);
  }

  /** this − other. */
  minus(other: LinearForm): LinearForm {
    return LinearForm.sum(this, other.times(-1));
  }

  /** k·this. */
  times(k: number): LinearForm {
    const out = new Map<Tensor, number>();
    for (const [t, c] of this.#terms) out.set(t, c * k);
    return new LinearForm(out);
  }

  /** The coefficient of `x` (0 when absent). */
  coef(x: Tensor): number {
    return this.#terms.get(x) ?? 0;
  }

  /** The tensors and their coefficients, in first-use order (terms with coefficient 0 dropped, unless all are). */
  terms(): { coefs: number[]; tensors: Tensor[] } {
    const coefs: number[] = [];
    const tensors: Tensor[] = [];
    for (const [t, c] of this.#terms) {
      if (c === 0) continue;
      coefs.push(c);
      tensors.push(t);
    }
    if (tensors.length === 0) {
      const [first] = this.#terms.keys();
      return { coefs: [0], tensors: [first!] };
    }
    return { coefs, tensors };
  }

  /**
   * Evaluates the form with ONE `lincomb`: on a backend, or through a sampler context's `lc` (so the
   * run's own bookkeeping sees it). Returns a fresh tensor.
   */
  emit(on: LincombTarget): Tensor {
    const { coefs, tensors } = this.terms();
    return 'lc' in on ? on.lc(coefs, tensors) : on.lincomb(coefs, tensors);
  }
}

/** Where {@link LinearForm.emit} sends its one lincomb: a Backend, or a SampleContext (`lc`). */
export type LincombTarget =
  | { lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor }
  | { lc(coefs: readonly number[], xs: readonly Tensor[]): Tensor };

function checkTensor(x: Tensor): void {
  if (!x || typeof x !== 'object' || !('shape' in x))
    throw new TesseraError('INVALID_ARGUMENT', `LinearForm: expected a Tensor, got ${typeof x}`);
}

/** The form 1·x (or c·x). */
export function lin(x: Tensor, c = 1): LinearForm {
  return LinearForm.of(x, c);
}

/** k-diffusion's `to_d`: the ODE derivative d = (x − D)/σ as a form. */
export function toD(x: Tensor | LinearForm, den: Tensor | LinearForm, sigma: number): LinearForm {
  return asForm(x)
    .minus(asForm(den))
    .times(1 / sigma);
}

/** `x` as a form (a tensor becomes 1·x). */
export function asForm(x: Tensor | LinearForm): LinearForm {
  return x instanceof LinearForm ? x : LinearForm.of(x);
}
