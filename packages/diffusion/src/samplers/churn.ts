// Karras et al. 2022's "churn", shared by the samplers (SampleContext.churn) and EulerDiscreteScheduler.

/** Karras et al.'s churn options (k-diffusion's names), as `sample` and the Euler scheduler take them. */
export interface ChurnOptions {
  /** Churn amount. Default 0 (none). */
  s_churn?: number | undefined;
  /** Lowest σ that gets churn. Default 0. */
  s_tmin?: number | undefined;
  /** Highest σ that gets churn. Default Infinity. */
  s_tmax?: number | undefined;
  /** Noise multiplier. Default 1. */
  s_noise?: number | undefined;
}

/**
 * Karras et al. 2022 Algorithm 2's churn at σ over a grid of `steps` steps (k-diffusion `sample_euler`,
 * diffusers `EulerDiscreteScheduler.step`): γ = min(s_churn/steps, √2 − 1) when s_tmin ≤ σ ≤ s_tmax,
 * else 0; σ̂ = σ(1 + γ) and the std s_noise·√(σ̂² − σ²) of the noise that lifts x from σ to σ̂.
 */
export function churn(
  sigma: number,
  steps: number,
  opts: ChurnOptions = {},
): { sigmaHat: number; noiseStd: number } {
  const { s_churn = 0, s_tmin = 0, s_tmax = Number.POSITIVE_INFINITY, s_noise = 1 } = opts;
  const gamma = s_tmin <= sigma && sigma <= s_tmax ? Math.min(s_churn / steps, Math.SQRT2 - 1) : 0;
  if (!(gamma > 0)) return { sigmaHat: sigma, noiseStd: 0 };
  const sigmaHat = sigma * (gamma + 1);
  return { sigmaHat, noiseStd: s_noise * Math.sqrt(sigmaHat * sigmaHat - sigma * sigma) };
}
