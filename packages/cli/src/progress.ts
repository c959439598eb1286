import cliProgress from 'cli-progress';

/** A progress display for one long loop. */
export interface Progress {
  /** Reports that `done` of the total units are finished. */
  tick(done: number): void;
  /** Ends the display (leaves the final bar on its line). Safe to call twice. */
  stop(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** No display at all (`--quiet`). */
  quiet?: boolean;
  /** Where to draw; default `process.stderr`. Nothing is drawn unless it is a terminal (`isTTY`). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Unit name in the rate, default `steps`. */
  unit?: string;
}

const NONE: Progress = { tick() {}, stop() {} };

/**
 * A progress bar (cli-progress) with the count, the rate and the ETA, drawn on stderr only when it is a
 * terminal and `quiet` is off; otherwise a no-op, so piped output and logs stay clean.
 */
export function createProgress(title: string, total: number, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet || !stream.isTTY || !(total > 0)) return NONE;
  const unit = options.unit ?? 'steps';
  const bar = new cliProgress.SingleBar(
    {
      format: `  ${title} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      stream: stream as NodeJS.WritableStream,
      // the cursor stays visible: a Ctrl+C mid-run would otherwise leave the terminal without one
      hideCursor: false,
      etaBuffer: 30,
      fps: 10,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  bar.start(total, 0, { rate: '-' });
  let stopped = false;
  return {
    tick(done) {
      if (stopped) return;
      const s = (performance.now() - t0) / 1000;
      const rate = s > 0 ? done / s : 0;
      bar.update(Math.min(done, total), { rate: rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
