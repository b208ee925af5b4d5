// Support shared by tests and benchmarks of several packages. Never imported by any package's src/.
export { buildBundle, removeBundle, startAgentProcess } from './agent-process.js';
export type { AgentProcess } from './agent-process.js';
export { AttachFrameReader, FrameKind, outputOf, splitFrames } from './attach-frames.js';
export type { AttachFrame } from './attach-frames.js';
export { bundleCli, runCliProcess } from './cli-process.js';
export type { CliOptions, CliRun } from './cli-process.js';
export { runOnPty } from './cli-pty.js';
export type { PtyRun, PtyStep } from './cli-pty.js';
export { Changes } from './cache-changes.js';
export type { ResolvingLookup, SandboxRef } from './cache-changes.js';
export { ClaimTracker } from './claim-tracker.js';
export type { ClaimTimes } from './claim-tracker.js';
export { bundleController, metricValue, startController, waitControllerReady } from './controller-process.js';
export type { ControllerProcess, ControllerProcessOptions } from './controller-process.js';
export { gkeGuideFile, gkeGuideObjects } from './gke-guide.js';
export {
  CORE_GROUP,
  CORE_GROUP_V1BETA1,
  EXT,
  EXT_V1BETA1,
  claimBody,
  collectionPaths,
  createClaim,
  createNamespace,
  createPool,
  createTemplate,
  deleteAllClaims,
  deleteNamespace,
  ensureRuntimeClass,
  eventually,
  isReady,
  listClaims,
  listPods,
  listSandboxes,
  mapLimit,
  poolClaimBody,
  poolShortfall,
  readPool,
  scalePool,
} from './fixtures.js';
export type { Obj } from './fixtures.js';
export { describeSandboxes } from './leftovers.js';
export {
  POD_CASES,
  TEMPLATE_CASES,
  compliantPodSpec,
  compliantSandboxPodSpec,
} from './sandbox-profile-cases.js';
export type { PodCase, PodTemplateCase } from './sandbox-profile-cases.js';
export { requireRunsc, startGvisorAgent } from './gvisor-agent.js';
export type { GvisorAgent } from './gvisor-agent.js';
export { memoryMiB, memoryOf, timedExec } from './measure.js';
export type { ExecTiming } from './measure.js';
export { EventLog, collectionAt, until, waitFor, watchCollection } from './wait.js';
export { TestCluster } from './test-cluster.js';
export type { Controller } from './test-cluster.js';
export type { CollectionWatch, WaitForOptions, WatchEventType } from './wait.js';
export { CLIENT_STACK_POOL, CLIENT_STACK_TEMPLATE, startClientStack } from './client-stack.js';
export type { ClientStack, ClientStackOptions } from './client-stack.js';
