export {
  BackupWriter,
  TOOL_VERSION,
  sha256File,
  stampOf,
  type BackupDeps,
  type BackupProgress,
  type BackupRequest,
} from './backup.js';
export { chainOf, ChainError, readCatalog, type Catalog, type CatalogEntry } from './catalog.js';
export { systemClock, type Clock } from './clock.js';
export {
  BackupConfigSchema,
  checkBackupConfig,
  loadBackupConfig,
  type BackupConfig,
  type Keep,
} from './config.js';
export { HealthReporter, SERVICE_NAME } from './health-reporter.js';
export { ManifestError, ManifestSchema, readManifest, type Manifest } from './manifest.js';
export {
  Restorer,
  RestoreRefusedError,
  type RestoreOptions,
  type RestoreProgress,
  type RestoreSummary,
} from './restore.js';
export { periodReader, planRotation, type RotationPlan } from './rotation.js';
export { BackupService, decideKind, type RunResult } from './service.js';
export { checkChecksums, verifyBackup, type VerifyProblem, type VerifyResult } from './verify.js';
export * from './metrics.js';
