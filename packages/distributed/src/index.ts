/**
 * @tessera/distributed: sharded image generation and evaluation over BullMQ + Redis. A job (a
 * configuration and a seed range) is split into shards; workers generate, write PNGs and compute partial
 * feature statistics; a coordinator merges them in shard order into the final metrics.
 */
export * from './config.js';
export * from './coordinator.js';
export * from './features.js';
export * from './generate.js';
export * from './local.js';
export * from './parallel.js';
export * from './paths.js';
export * from './queue.js';
export * from './redis.js';
export * from './report.js';
export * from './seeds.js';
export * from './shard.js';
export * from './stats.js';
export * from './trained.js';
export * from './worker.js';
