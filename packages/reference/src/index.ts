// @tessera/reference: exact reference models and procedural datasets.
export * from './ar/index.js';
