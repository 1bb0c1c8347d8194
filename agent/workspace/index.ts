/** The task workspace: safe archive extraction, verified downloads, source policy, dataset cache. */
export { safeExtractSnapshot, entryProblem } from './extract.js';
export type { ExtractLimits } from './extract.js';
export { downloadVerified } from './download.js';
export type { DownloadOptions } from './download.js';
export { checkSourceAllowed, addressProblem, policyLookup } from './source-policy.js';
export { DatasetCache, resolveNamedDataset } from './dataset-cache.js';
export type { DatasetCacheOptions } from './dataset-cache.js';
