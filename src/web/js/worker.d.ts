// localrag/worker: the same API as 'localrag', run in a dedicated Worker. Callbacks and
// AbortSignals work across the boundary; export files and vectors move as transferables.
export * from './index.js';
