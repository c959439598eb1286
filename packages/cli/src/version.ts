import pkg from '../package.json' with { type: 'json' };

/** The version of @tessera/cli (`tessera --version`). */
export const VERSION: string = pkg.version;
