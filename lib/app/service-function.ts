import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../compliance';
import type { FunctionLogLevel } from '../stages/stage-config';
import { deadLetterQueue as createDeadLetterQueue } from './dead-letter-queue';

/** Root of the runtime code; a construct finds its handler by component name under it. */
export const SERVICES_DIR = path.join(__dirname, '..', '..', 'services');

/** The runtime of every function; the container images run the same Node.js major (see test/images). */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Settings every function of a stage shares. */
export interface FunctionDefaults {
  /** VPC the functions run in (isolated subnets). */
  readonly vpc: ec2.IVpc;
  /** Subnets of the VPC to use. */
  readonly subnets: ec2.SubnetSelection;
  /** Key for log groups and the dead-letter queue. */
  readonly encryptionKey: kms.IKey;
  /** Days function logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** Namespace of the custom metrics (Powertools). */
  readonly metricNamespace: string;
  /** Least severe level the functions log (the stage's `logLevel`). @default 'INFO' */
  readonly logLevel?: FunctionLogLevel;
}

/** Properties of {@link ServiceFunction}. */
export interface ServiceFunctionProps {
  /** Shared stage settings. */
  readonly defaults: FunctionDefaults;
  /** Component folder under `services/` (`inference`, `stream`, ...). */
  readonly component: string;
  /** Handler file in that folder, without extension (`predict-handler`). */
  readonly entry: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** Extra environment variables (resource names). @default - none */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /**
   * Why actions besides X-Ray's need `Resource: *` in this function's policy (added to the reason
   * of its one AwsSolutions-IAM5[Resource::*] acknowledgement). @default - only X-Ray does
   */
  readonly wildcardResourceReason?: string;
  /** Cap on concurrent executions, so one function cannot starve the account. @default 50 */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Runs the function outside the VPC, for the reason given (acknowledged on the VPC findings):
   * only for code that must reach a public AWS endpoint the isolated VPC cannot, such as a
   * public regional API Gateway endpoint called the way users call it. @default - in the VPC
   */
  readonly outsideVpcReason?: string;
  /** Files copied next to the bundle (name in the bundle → path on disk). @default - none */
  readonly bundledFiles?: Readonly<Record<string, string>>;
}

/**
 * The one place function settings live: Node.js 24 on arm64, X-Ray tracing, an encrypted log group
 * with the stage's retention, source maps, a VPC attachment, a capped concurrency and an encrypted
 * dead-letter queue for asynchronous invocations. Bundled locally by esbuild (no Docker).
 */
export class ServiceFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    const { defaults } = props;
    const logLevel = defaults.logLevel ?? 'INFO';
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      encryptionKey: defaults.encryptionKey,
      retention: defaults.logRetentionDays,
    });
    const deadLetterQueue = createDeadLetterQueue(scope, `${id}Dlq`, defaults.encryptionKey);
    super(scope, id, {
      entry: path.join(SERVICES_DIR, props.component, `${props.entry}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      // Lambda's filter agrees with Powertools, so neither drops what the other was told to keep.
      applicationLogLevelV2: lambda.ApplicationLogLevel[logLevel],
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
      ...(props.outsideVpcReason ? {} : { vpc: defaults.vpc, vpcSubnets: defaults.subnets }),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? 50,
      deadLetterQueue,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.component,
        POWERTOOLS_METRICS_NAMESPACE: defaults.metricNamespace,
        POWERTOOLS_LOG_LEVEL: logLevel,
        ...props.environment,
      },
      bundling: {
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Warnings and errors only: esbuild's per-bundle size table and "Done in" would run through every synth.
        logLevel: nodejs.LogLevel.WARNING,
        // Bundle the SDK too: the exact, tested client versions ship with the function.
        externalModules: [],
        ...(props.bundledFiles ? { commandHooks: copyCommands(props.bundledFiles) } : {}),
      },
    });
    if (props.outsideVpcReason) {
      acknowledge(
        this,
        [
          Finding.guard('lambda_inside_vpc_check'),
          Finding.nist('LambdaInsideVPC'),
          Finding.hipaa('LambdaInsideVPC'),
        ],
        props.outsideVpcReason,
      );
    } else {
      acknowledge(
        this,
        [Finding.guard('lambda_inside_vpc_check')],
        "The function has VpcConfig with the Network stack's isolated subnets and a security group; the rule cannot resolve subnet ids passed as cross-stack outputs (stack tests assert the VpcConfig).",
      );
    }
    acknowledge(
      this.role!,
      [
        Finding.awsSolutions(
          'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        ),
        ...(props.outsideVpcReason
          ? []
          : [
              Finding.awsSolutions(
                'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
              ),
            ]),
      ],
      'AWS-managed Lambda execution policies (log writing, VPC network interfaces) that AWS maintains for exactly this role; the ENI actions have no resource-level scope a custom policy could narrow.',
    );
    acknowledge(
      this.role!,
      [Finding.awsSolutions('IAM5[Resource::*]')],
      [
        'X-Ray PutTraceSegments/PutTelemetryRecords, added by active tracing, support no resource-level permissions.',
        props.wildcardResourceReason,
      ]
        .filter(Boolean)
        .join(' '),
    );
  }
}

/** Bundling hooks that copy `files` (name in the bundle → path on disk) into the bundle's folder. */
function copyCommands(files: Readonly<Record<string, string>>): nodejs.ICommandHooks {
  const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) =>
      Object.entries(files).map(
        ([name, source]) => `cp ${quote(source)} ${quote(path.join(outputDir, name))}`,
      ),
  };
}
