import { RegionInfo } from 'aws-cdk-lib/region-info';
import { qualityMarginProblems, type QualityMargin } from '../../services/evaluation/evaluate';
import {
  loadModelMetadata,
  modelsRoot,
  unknownVersionProblem,
  versionFolderProblems,
  type ModelMetadata,
} from '../../services/model/artifacts';
import {
  ARTIFACT_RESERVE_BYTES,
  PARAMETER_TIER_BYTES,
  versionParameterValue,
} from '../app/model/model-parameters';
import { createRolloutPolicy, RolloutPolicyError, type RolloutPolicy } from '../../services/rollout/policy';
import { trafficConfigProblems, type RolloutTrafficConfig } from '../../services/traffic/config';

/** Where one stage of the service is deployed. */
export interface DeploymentTarget {
  /** 12-digit AWS account id. */
  readonly account: string;
  /** AWS region, e.g. `us-east-1`. */
  readonly region: string;
}

/** The SageMaker endpoint's A/B variants, capacity and data capture. Every field has a default. */
export interface EndpointConfig {
  /** Model version VariantA (the baseline) serves: a folder under {@link modelsDir} (required). */
  readonly baselineVersion?: string;
  /** Model version VariantB (the candidate) serves: a folder under {@link modelsDir} (required). */
  readonly candidateVersion?: string;
  /** Folder holding the version folders (`npm run model:add` writes them). @default the repository's `models/` */
  readonly modelsDir?: string;
  /** Instance type of both variants (the model server image is linux/amd64). @default 'ml.m5.large' */
  readonly instanceType?: string;
  /** Fewest instances per variant, also the initial count. @default 1 */
  readonly minInstances?: number;
  /** Most instances per variant autoscaling may add. @default 4 */
  readonly maxInstances?: number;
  /** Invocations per instance per minute that autoscaling keeps each variant at. @default 100 */
  readonly targetInvocationsPerInstance?: number;
  /** Percent of requests and responses captured to the data bucket for drift analysis. @default 100 */
  readonly dataCapturePercent?: number;
}

/** How much worse than its baseline a candidate may predict (docs/QUALITY.md). */
export interface QualityConfig {
  /**
   * The margin of every quality gate: offline evaluation in the build, the smoke test's truth check,
   * and the alarm on labelled feedback. Accuracy in points as a fraction, MAE as a share of the
   * baseline's.
   * @default - { accuracy: 0.01, relativeMae: 0.05 } (DEFAULT_QUALITY_MARGIN)
   */
  readonly margin?: QualityMargin;
}

/** API Gateway throttling of the inference API. */
export interface ApiThrottleConfig {
  /** Steady-state requests per second for the whole stage. @default 50 */
  readonly rateLimit?: number;
  /** Burst of requests above the steady rate. @default 100 */
  readonly burstLimit?: number;
}

/** Batch scoring job size and the Athena per-query scan limit. Every field has a default. */
export interface BatchScoringConfig {
  /** vCPUs of one scoring job (a Fargate size: 0.25, 0.5, 1, 2, 4, 8 or 16). @default 1 */
  readonly vcpus?: number;
  /** Memory of one scoring job in MiB, within Fargate's range for {@link vcpus}. @default 2048 */
  readonly memoryMiB?: number;
  /** Most vCPUs the Fargate compute environment runs at once (1-256). @default 16 */
  readonly maxVcpus?: number;
  /**
   * Most scoring tasks one run runs at once, each on its own shard of `pending/` (1-1000, and
   * `maxTasks × vcpus` within `maxVcpus` so they all run together). Each task writes to the predictions
   * table at its own pace: size it against the table's write capacity (docs/BATCH.md).
   * @default - 4, or as many as `maxVcpus` holds if fewer ({@link batchMaxTasks})
   */
  readonly maxTasks?: number;
  /** Athena cancels a query of the analytics workgroup that scans more than this, in MiB (>= 10). @default 1024 */
  readonly athenaBytesScannedCutoffMiB?: number;
}

/** Log levels a stage's functions can be set to. */
export const FUNCTION_LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/** One of {@link FUNCTION_LOG_LEVELS}. */
export type FunctionLogLevel = (typeof FUNCTION_LOG_LEVELS)[number];

/** Everything that differs between the dev and prod deployments of the ML inference stage. */
export interface StageConfig {
  /** Short lowercase name; namespaces Parameter Store paths and tags (`dev`, `prod`). */
  readonly stageName: string;
  /** Account and region the stage deploys to. */
  readonly target: DeploymentTarget;
  /** Availability zones of the VPC, fixed here so synth never looks them up (at least two). */
  readonly availabilityZones: string[];
  /** Keep stateful resources (buckets, table, key) when the stack is deleted. Prod: true. */
  readonly retainData: boolean;
  /** Days CloudWatch Logs keep function, API, flow and workflow logs. */
  readonly logRetentionDays: number;
  /**
   * Least severe level the stage's functions log (Powertools `POWERTOOLS_LOG_LEVEL` and Lambda's
   * application log-level filter). Request payloads are never logged at INFO or above.
   * @default 'INFO'
   */
  readonly logLevel?: FunctionLogLevel;
  /** Days S3 server access logs and data-capture objects are kept. */
  readonly dataRetentionDays: number;
  /** E-mail address subscribed to the alert topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Cost centre tag value. */
  readonly costCenter: string;
  /** SageMaker endpoint variants, capacity and data capture. @default - see {@link EndpointConfig} */
  readonly endpoint?: EndpointConfig;
  /** Throttling of the inference API. @default - see {@link ApiThrottleConfig} */
  readonly apiThrottle?: ApiThrottleConfig;
  /**
   * How the canary rollout after each deploy shifts traffic to VariantB: steps, minimum bake,
   * deadline and the statistics of the judge (services/rollout/policy.ts).
   * @default - DEV_ROLLOUT_POLICY for the dev stage (50 → 100 %), PROD_ROLLOUT_POLICY for prod (5 → 25 → 50 → 100 %)
   */
  readonly rollout?: RolloutPolicy;
  /**
   * The traffic source the canary rollout runs while it judges: `off`, `always` (dev, where nobody
   * calls the endpoint) or `top-up` below a floor of organic requests per minute (prod's thin
   * hours). Its requests are signed POST /predict calls marked synthetic (docs/ROLLOUT.md).
   * @default - DEV_ROLLOUT_TRAFFIC for dev (always, 20/s), PROD_ROLLOUT_TRAFFIC for prod (top-up to 360/min, at most 6/s)
   */
  readonly rolloutTraffic?: RolloutTrafficConfig;
  /** Batch scoring job size and Athena scan limit. @default - see {@link BatchScoringConfig} */
  readonly batch?: BatchScoringConfig;
  /** Prediction-quality gates. @default - see {@link QualityConfig} */
  readonly quality?: QualityConfig;
}

/** The source repository the pipeline builds from. */
export interface SourceConfig {
  /** GitHub repository as `owner/name`. */
  readonly repository: string;
  /** Branch whose pushes run the pipeline. */
  readonly branch: string;
  /** ARN of the CodeConnections (or CodeStar Connections) connection to GitHub. */
  readonly connectionArn: string;
}

/** Who may approve the prod deploy, and who is told that an approval is waiting. */
export interface ApprovalConfig {
  /**
   * IAM roles or users of the pipeline account (ARNs) who may approve or reject the prod deploy; they
   * must exist before the pipeline is deployed (the stack attaches its approver policy to them).
   */
  readonly approvers: string[];
  /** Addresses e-mailed when an approval is waiting (with the dossier link and the commit). @default - none */
  readonly emails?: string[];
}

/** The whole deployment: pipeline home, source and the two stages. */
export interface AppConfig {
  /** Project name; prefixes Parameter Store paths and tags. Lowercase letters, digits and dashes. */
  readonly project: string;
  /** Account and region where the pipeline itself runs. */
  readonly pipeline: DeploymentTarget;
  /** Where the pipeline's source comes from. */
  readonly source: SourceConfig;
  /** The dev stage: deployed and proven first. */
  readonly dev: StageConfig;
  /** The prod stage: deployed after manual approval. */
  readonly prod: StageConfig;
  /** The prod approval's approvers and notifications. */
  readonly approvals: ApprovalConfig;
}

/** Thrown when the configuration cannot produce a deployable app; lists every problem at once. */
export class ConfigError extends Error {
  /** @param fix what to change, shown in the message's first line */
  constructor(
    readonly problems: string[],
    fix = 'edit bin/config.ts',
  ) {
    super(`Invalid configuration (${fix}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
/** Partition of every region aws-cdk-lib knows (its region-info facts). */
const REGION_PARTITIONS = new Map(RegionInfo.regions.map((r) => [r.name, r.partition]));
const CONNECTION_ARN =
  /^arn:aws[a-z-]*:(codeconnections|codestar-connections):([a-z0-9-]+):(\d{12}):connection\/[0-9a-f-]{36}$/;
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const NAME = /^[a-z][a-z0-9-]{1,20}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):(role|user)\/([\w+=,.@/-]+)$/;
/** Retention values CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

function checkTarget(where: string, target: DeploymentTarget | undefined, problems: string[]): void {
  if (!target) {
    problems.push(`${where}: missing; set { account: '123456789012', region: 'us-east-1' }`);
    return;
  }
  if (!ACCOUNT.test(String(target.account ?? ''))) {
    problems.push(`${where}.account: '${target.account ?? ''}' is not a 12-digit AWS account id`);
  }
  if (!REGION.test(String(target.region ?? ''))) {
    problems.push(`${where}.region: '${target.region ?? ''}' is not an AWS region such as 'us-east-1'`);
  } else if (!REGION_PARTITIONS.has(target.region)) {
    problems.push(
      `${where}.region: '${target.region}' is not a known AWS region (check the spelling; ` +
        '`aws account list-regions` lists the ones your account has)',
    );
  }
}

function checkStage(key: string, stage: StageConfig | undefined, problems: string[]): void {
  if (!stage) {
    problems.push(`${key}: missing stage configuration`);
    return;
  }
  checkTarget(`${key}.target`, stage.target, problems);
  if (!NAME.test(stage.stageName ?? '')) {
    problems.push(
      `${key}.stageName: '${stage.stageName ?? ''}' must be 2-21 lowercase letters, digits or dashes`,
    );
  }
  const azs = stage.availabilityZones ?? [];
  if (azs.length < 2) {
    problems.push(
      `${key}.availabilityZones: list at least two zones of ${stage.target?.region ?? 'the region'}`,
    );
  }
  for (const az of azs) {
    if (!stage.target?.region || !az.startsWith(stage.target.region) || !/[a-z]$/.test(az)) {
      problems.push(
        `${key}.availabilityZones: '${az}' is not a zone of region '${stage.target?.region ?? ''}'`,
      );
    }
  }
  if (new Set(azs).size !== azs.length) {
    problems.push(`${key}.availabilityZones: zones must be distinct`);
  }
  if (!LOG_RETENTION_DAYS.includes(stage.logRetentionDays)) {
    problems.push(
      `${key}.logRetentionDays: ${stage.logRetentionDays} is not one of ${LOG_RETENTION_DAYS.join(', ')}`,
    );
  }
  if (stage.logLevel !== undefined && !FUNCTION_LOG_LEVELS.includes(stage.logLevel)) {
    problems.push(
      `${key}.logLevel: '${String(stage.logLevel)}' is not one of ${FUNCTION_LOG_LEVELS.join(', ')}`,
    );
  }
  if (!Number.isInteger(stage.dataRetentionDays) || stage.dataRetentionDays < 1) {
    problems.push(`${key}.dataRetentionDays: must be a whole number of days >= 1`);
  }
  if (stage.alarmEmail !== undefined && !EMAIL.test(stage.alarmEmail)) {
    problems.push(`${key}.alarmEmail: '${stage.alarmEmail}' is not an e-mail address`);
  }
  checkEndpoint(key, stage.endpoint ?? {}, problems);
  if (stage.rollout !== undefined) {
    try {
      createRolloutPolicy(stage.rollout);
    } catch (error) {
      if (!(error instanceof RolloutPolicyError)) throw error;
      problems.push(...error.problems.map((p) => `${key}.rollout: ${p}`));
    }
  }
  if (stage.rolloutTraffic !== undefined) {
    problems.push(
      ...trafficConfigProblems(stage.rolloutTraffic, stage.apiThrottle?.rateLimit ?? 50).map(
        (p) => `${key}.rolloutTraffic.${p}`,
      ),
    );
  }
  checkBatch(key, stage.batch ?? {}, problems);
  problems.push(...qualityMarginProblems(stage.quality?.margin ?? {}).map((p) => `${key}.quality.${p}`));
}

/** Memory range (MiB) Fargate accepts for each vCPU size. */
const FARGATE_MEMORY_MIB: Record<string, [number, number]> = {
  '0.25': [512, 2048],
  '0.5': [1024, 4096],
  '1': [2048, 8192],
  '2': [4096, 16384],
  '4': [8192, 30720],
  '8': [16384, 61440],
  '16': [32768, 122880],
};

function checkBatch(key: string, batch: BatchScoringConfig, problems: string[]): void {
  const vcpus = batch.vcpus ?? 1;
  const range = FARGATE_MEMORY_MIB[String(vcpus)];
  if (!range) {
    problems.push(
      `${key}.batch.vcpus: ${vcpus} is not a Fargate size (${Object.keys(FARGATE_MEMORY_MIB).join(', ')})`,
    );
  }
  const memory = batch.memoryMiB ?? 2048;
  if (range && !(isWholeInRange(memory, range[0], range[1]) && memory % 512 === 0)) {
    problems.push(
      `${key}.batch.memoryMiB: ${memory} must be a multiple of 512 from ${range[0]} to ${range[1]} for ${vcpus} vCPU on Fargate`,
    );
  }
  const maxVcpus = batch.maxVcpus;
  if (maxVcpus !== undefined && !(isWholeInRange(maxVcpus, 1, 256) && maxVcpus >= vcpus)) {
    problems.push(
      `${key}.batch.maxVcpus: ${maxVcpus} must be a whole number from 1 to 256 and at least vcpus`,
    );
  }
  const maxTasks = batch.maxTasks;
  if (maxTasks === undefined) {
    // The default fits whatever maxVcpus holds.
  } else if (!isWholeInRange(maxTasks, 1, 1000)) {
    problems.push(`${key}.batch.maxTasks: ${maxTasks} must be a whole number from 1 to 1000`);
  } else if (range && maxTasks * vcpus > (maxVcpus ?? 16)) {
    problems.push(
      `${key}.batch.maxTasks: ${maxTasks} tasks of ${vcpus} vCPU need ${maxTasks * vcpus} vCPUs, over maxVcpus ${maxVcpus ?? 16}; lower maxTasks or raise maxVcpus (docs/BATCH.md)`,
    );
  }
  const cutoff = batch.athenaBytesScannedCutoffMiB;
  if (cutoff !== undefined && !(Number.isInteger(cutoff) && cutoff >= 10)) {
    problems.push(
      `${key}.batch.athenaBytesScannedCutoffMiB: ${cutoff} must be a whole number of MiB >= 10 (Athena's minimum)`,
    );
  }
}

/** The scoring tasks a run may run at once: `maxTasks`, or 4 if `maxVcpus` holds that many (else as many as it holds). */
export function batchMaxTasks(batch: BatchScoringConfig = {}): number {
  return batch.maxTasks ?? Math.max(1, Math.min(4, Math.floor((batch.maxVcpus ?? 16) / (batch.vcpus ?? 1))));
}

const isWholeInRange = (value: number, min: number, max: number): boolean =>
  Number.isInteger(value) && value >= min && value <= max;

/**
 * What deploy would find wrong with the two versions: a missing or inconsistent folder, a value too large for
 * Parameter Store, and two variants one API cannot serve (another input schema or task).
 */
function checkModelVersions(key: string, endpoint: EndpointConfig, problems: string[]): void {
  const root = endpoint.modelsDir ?? modelsRoot;
  const loaded: Partial<Record<'baselineVersion' | 'candidateVersion', ModelMetadata>> = {};
  for (const field of ['baselineVersion', 'candidateVersion'] as const) {
    const version = endpoint[field];
    if (version === undefined) {
      problems.push(
        `${key}.endpoint.${field}: missing; name a folder of models/ in config/model-versions.json (${key}.${field})`,
      );
      continue;
    }
    const folder = unknownVersionProblem(version, root) ?? versionFolderProblems(version, root).join('; ');
    if (folder) {
      problems.push(`${key}.endpoint.${field}: ${folder}`);
      continue;
    }
    const metadata = loadModelMetadata(version, root);
    loaded[field] = metadata;
    const bytes =
      Buffer.byteLength(versionParameterValue(version, metadata, 'candidate')) + ARTIFACT_RESERVE_BYTES;
    if (bytes > PARAMETER_TIER_BYTES.advanced) {
      problems.push(
        `${key}.endpoint.${field}: the Parameter Store value of ${version} (its drift bins for ` +
          `${metadata.featureCount} features) is ${bytes} bytes, above the ${PARAMETER_TIER_BYTES.advanced} of the ` +
          'advanced tier; deploy a model with fewer input features',
      );
    }
  }
  const { baselineVersion: baseline, candidateVersion: candidate } = loaded;
  if (!baseline || !candidate) return;
  const schema = (m: ModelMetadata) => `${m.task}, ${m.featureCount} features (${m.featureNames.join(', ')})`;
  if (
    baseline.task !== candidate.task ||
    baseline.featureNames.join('\u0000') !== candidate.featureNames.join('\u0000')
  ) {
    problems.push(
      `${key}.endpoint.candidateVersion: ${candidate.version} is ${schema(candidate)} but the baseline ` +
        `${baseline.version} is ${schema(baseline)}; both variants of one endpoint answer the same requests, so ` +
        `they must share task and input features. To change the schema, set ${key}.baselineVersion to ` +
        `${candidate.version} too (deployed without a canary), then roll out later versions against it`,
    );
  }
}

function checkEndpoint(key: string, endpoint: EndpointConfig, problems: string[]): void {
  checkModelVersions(key, endpoint, problems);
  if ('baselineWeightPercent' in endpoint) {
    problems.push(
      `${key}.endpoint.baselineWeightPercent: remove it; a candidate always enters at 0 % (VariantA 100 %) and only the canary rollout moves traffic to it`,
    );
  }
  const capture = endpoint.dataCapturePercent;
  if (capture !== undefined && !isWholeInRange(capture, 0, 100)) {
    problems.push(`${key}.endpoint.dataCapturePercent: ${capture} must be a whole number from 0 to 100`);
  }
  const min = endpoint.minInstances ?? 1;
  const max = endpoint.maxInstances ?? 4;
  if (!isWholeInRange(min, 1, 100) || !isWholeInRange(max, 1, 100) || min > max) {
    problems.push(
      `${key}.endpoint: minInstances (${min}) and maxInstances (${max}) must be 1-100 with min <= max`,
    );
  }
  const target = endpoint.targetInvocationsPerInstance;
  if (target !== undefined && !(target > 0)) {
    problems.push(`${key}.endpoint.targetInvocationsPerInstance: ${target} must be greater than 0`);
  }
}

function checkApprovals(
  approvals: ApprovalConfig | undefined,
  pipelineAccount: string | undefined,
  problems: string[],
): void {
  const approvers = approvals?.approvers ?? [];
  if (approvers.length === 0) {
    problems.push(
      `approvals.approvers: name at least one IAM role or user of the pipeline account (arn:aws:iam::${pipelineAccount ?? '<account>'}:role/<name>) who may approve prod`,
    );
  }
  for (const arn of approvers) {
    const match = PRINCIPAL_ARN.exec(arn);
    if (!match) {
      problems.push(
        `approvals.approvers: '${arn}' is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)`,
      );
    } else if (match[1] !== pipelineAccount) {
      problems.push(
        `approvals.approvers: '${arn}' is in account ${match[1]}; approvers must be roles or users of the pipeline account ${pipelineAccount ?? ''} (only they can be given the approval right)`,
      );
    }
  }
  if (new Set(approvers).size !== approvers.length)
    problems.push('approvals.approvers: list each approver once');
  for (const email of approvals?.emails ?? []) {
    if (!EMAIL.test(email)) problems.push(`approvals.emails: '${email}' is not an e-mail address`);
  }
}

/**
 * Checks the configuration before anything is built, so a mistake fails synth with a message that
 * says what to change rather than failing a CloudFormation deployment later.
 */
export function validateConfig(config: AppConfig): AppConfig {
  const problems: string[] = [];
  if (!NAME.test(config.project ?? '')) {
    problems.push(`project: '${config.project ?? ''}' must be 2-21 lowercase letters, digits or dashes`);
  }
  checkTarget('pipeline', config.pipeline, problems);
  const source = config.source;
  if (!source) {
    problems.push('source: missing; set repository, branch and connectionArn');
  } else {
    if (!REPOSITORY.test(source.repository ?? '')) {
      problems.push(`source.repository: '${source.repository ?? ''}' must look like 'owner/name'`);
    }
    if (!source.branch || /\s/.test(source.branch)) {
      problems.push(`source.branch: '${source.branch ?? ''}' is not a branch name`);
    }
    const arn = CONNECTION_ARN.exec(source.connectionArn ?? '');
    if (!arn) {
      problems.push(
        `source.connectionArn: '${source.connectionArn ?? ''}' is not a connection ARN ` +
          `(arn:aws:codeconnections:<region>:<account>:connection/<uuid>); create one in the console under ` +
          `Developer Tools > Settings > Connections`,
      );
    }
  }
  checkStage('dev', config.dev, problems);
  checkStage('prod', config.prod, problems);
  checkApprovals(config.approvals, config.pipeline?.account, problems);
  if (config.dev && config.prod) {
    if (config.dev.stageName === config.prod.stageName) {
      problems.push(`dev.stageName and prod.stageName are both '${config.dev.stageName}'; they must differ`);
    }
    const a = config.dev.target;
    const b = config.prod.target;
    if (a && b && a.account === b.account && a.region === b.region) {
      problems.push(
        `dev and prod both deploy to account ${a.account} in ${a.region}; give prod its own account ` +
          `(recommended) or region so a dev deploy can never touch prod`,
      );
    }
  }
  checkLayout(config, problems);
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return config;
}

/**
 * What CDK Pipelines cannot deploy whatever the accounts' setup: a stage in another partition than
 * the pipeline (IAM trust, KMS grants and artifact replication stop at the partition), and a
 * CodeConnections connection of another account (connections are global across regions but belong
 * to one account).
 */
function checkLayout(config: AppConfig, problems: string[]): void {
  const pipelinePartition = REGION_PARTITIONS.get(config.pipeline?.region ?? '');
  if (!pipelinePartition) return;
  for (const key of ['dev', 'prod'] as const) {
    const region = config[key]?.target?.region ?? '';
    const partition = REGION_PARTITIONS.get(region);
    if (partition && partition !== pipelinePartition) {
      problems.push(
        `${key}.target.region: '${region}' is in partition ${partition}, the pipeline's region ` +
          `'${config.pipeline.region}' in ${pipelinePartition}; CDK Pipelines cannot deploy across partitions, ` +
          `so run a pipeline in ${partition} for it`,
      );
    }
  }
  const arn = CONNECTION_ARN.exec(config.source?.connectionArn ?? '');
  if (arn && ACCOUNT.test(config.pipeline.account ?? '') && arn[3] !== config.pipeline.account) {
    problems.push(
      `source.connectionArn: the connection belongs to account ${arn[3]}, the pipeline runs in ` +
        `${config.pipeline.account} (pipeline.account); create the connection in the pipeline's account`,
    );
  }
}

/** Checks one stage's configuration on its own (a sandbox deployment has no pipeline or source). */
export function validateStageConfig(where: string, stage: StageConfig): StageConfig {
  const problems: string[] = [];
  checkStage(where, stage, problems);
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return stage;
}
