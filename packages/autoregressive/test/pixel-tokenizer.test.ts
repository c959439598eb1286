// Pixel raster decoding over @tessera/tokenizers' PixelTokenizer: float images → uint8-style level
// tokens [B, C, H, W] → exact empirical model over the pixel sequences → pixelRasterDecode → decode.
import { pixelRasterDecode } from '@tessera/autoregressive';
import { EmpiricalRasterModel } from '@tessera/reference';
import { PixelTokenizer } from '@tessera/tokenizers';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, mulberry, rows } from './helpers';

const seed = freshSeed();
const note = `(seed ${seed})`;

describe.each(await testBackends())('pixel raster decoding with the pixel tokenizer on %s', (_name, B) => {
  it('greedy decoding of the empirical pixel model returns the most common training image, decoded', async () => {
    const r = mulberry(seed);
    const [N, C, H, W, levels] = [4, 3, 3, 4, 16];
    const imgs = Array.from({ length: N }, () => Array.from({ length: C * H * W }, () => r()));
    // image 2 is the mode: 4 copies against at most 3 of any other first tokens, so greedy decoding
    // cannot meet a tie (with 2 copies it did when two other images shared a level, seed 2145093964)
    for (let k = 0; k < 3; k++) imgs.push([...imgs[2]!]);
    const tok = new PixelTokenizer({ levels });
    const tokens = await tok.encode(B.tensor(imgs.flat(), [imgs.length, C, H, W])).data();
    // Per-channel levels, re-derived: round(x·(L−1)).
    for (const [i, x] of imgs.flat().entries()) expect(tokens[i]).toBe(Math.round(x * (levels - 1)));
    // Pixel-major, channel-minor sequences: s[(y·W + x)·C + c] = t[c, y, x].
    const seqs = rows(tokens, C * H * W).map((t) =>
      Int32Array.from({ length: C * H * W }, (_, i) => t[(i % C) * H * W + Math.floor(i / C)]!),
    );
    const model = new EmpiricalRasterModel({ sequences: seqs, vocabSize: levels }, { backend: B });
    const out = await pixelRasterDecode(model, {
      batch: 2,
      height: H,
      width: W,
      channels: C,
      sampling: { temperature: 0 },
      seed,
      backend: B,
    });
    const img = rows(await tok.decode(out).data(), C * H * W);
    for (const im of img) {
      for (const [i, v] of im.entries())
        expect(v, note).toBeCloseTo(Math.round(imgs[2]![i]! * (levels - 1)) / (levels - 1), 5);
    }
    model.dispose();
  });
});
