// @tessera/tokenizers: Visual tokenizers: VQ, residual and multi-scale VQ (VAR), FSQ, LFQ/BSQ, pixel tokens.
export {};
