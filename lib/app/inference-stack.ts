import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ApiThrottleConfig, EndpointConfig, FunctionLogLevel } from '../stages/stage-config';
import { modelsRoot, type ModelVersion } from '../../services/model/artifacts';
import { EncryptionKey } from './encryption-key';
import { InferenceApi } from './inference/inference-api';
import { ModelEndpoint } from './model/model-endpoint';
import { ModelParameters } from './model/model-parameters';
import { ServiceFunction, type FunctionDefaults } from './service-function';
import { PredictionStream } from './stream/prediction-stream';

/** Properties of {@link InferenceStack}. */
export interface InferenceStackProps extends StackProps {
  /** `/<project>/<stage>/model`: Parameter Store prefix of the model registry. */
  readonly modelParameterPrefix: string;
  /** The VPC (isolated subnets with endpoints). */
  readonly vpc: ec2.IVpc;
  /** Subnets functions and models run in. */
  readonly subnets: ec2.SubnetSelection;
  /** Predictions table. */
  readonly table: dynamodb.ITable;
  /** Bucket that receives endpoint data capture. */
  readonly dataBucket: s3.IBucket;
  /** Key of the data bucket and the table. */
  readonly dataKey: kms.IKey;
  /** Lets the endpoint write data capture to the data bucket (created in the data bucket's stack). */
  readonly dataCapturePolicy: iam.IManagedPolicy;
  /** Days function, API and stream logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** Least severe level the stack's functions log (the stage's `logLevel`). @default 'INFO' */
  readonly logLevel?: FunctionLogLevel;
  /** Versions, split, size and capture of the endpoint. @default - every EndpointConfig default */
  readonly endpoint?: EndpointConfig;
  /** API Gateway throttling. @default - every ApiThrottleConfig default */
  readonly apiThrottle?: ApiThrottleConfig;
  /** Namespace of the functions' custom metrics. @default 'MlInference' */
  readonly metricNamespace?: string;
  /**
   * Roles whose sessions' POST /predict calls are synthetic (rollout traffic source, smoke test):
   * stored with source `synthetic`, kept out of analytics and drift. @default - none
   */
  readonly syntheticCallerRoleArns?: readonly string[];
}

/**
 * The stateless real-time path of a stage: the A/B SageMaker endpoint and its Parameter Store
 * registry, the IAM-authorized API with its functions, and streaming ingestion from Kinesis.
 */
export class InferenceStack extends Stack {
  /** The SageMaker endpoint. */
  readonly endpoint: ModelEndpoint;
  /** Active version and per-version metadata. */
  readonly modelParameters: ModelParameters;
  /** The REST API. */
  readonly api: InferenceApi;
  /** `POST /predict`. */
  readonly predictFunction: ServiceFunction;
  /** `GET /predictions/{id}`. */
  readonly getPredictionFunction: ServiceFunction;
  /** `POST /predictions/{id}/feedback`. */
  readonly feedbackFunction: ServiceFunction;
  /** Kinesis ingestion. */
  readonly stream: PredictionStream;
  /** Model version VariantB serves: the candidate the canary rollout judges. */
  readonly candidateVersion: ModelVersion;
  /** Model version VariantA serves: the baseline. */
  readonly baselineVersion: ModelVersion;
  /** Folder of the version folders both variants come from. */
  readonly modelsDir: string;
  /** `ApiUrl` output, which the pipeline's smoke test reads. */
  readonly apiUrlOutput: CfnOutput;
  /** `EndpointName` output: the smoke test invokes each variant of this endpoint directly. */
  readonly endpointNameOutput: CfnOutput;

  constructor(scope: Construct, id: string, props: InferenceStackProps) {
    super(scope, id, props);
    const endpoint = props.endpoint ?? {};
    // validateConfig has refused a stage without both versions.
    const baselineVersion = endpoint.baselineVersion!;
    const candidateVersion = endpoint.candidateVersion!;
    this.baselineVersion = baselineVersion;
    this.candidateVersion = candidateVersion;
    this.modelsDir = endpoint.modelsDir ?? modelsRoot;

    // This stack's own key for its log groups, queues and stream (cfn-guard needs it in-template).
    const key = new EncryptionKey(this, 'Encryption', {
      description: 'Encrypts the logs, queues, stream and endpoint volumes of the ML inference path',
    }).key;

    this.endpoint = new ModelEndpoint(this, 'Model', {
      vpc: props.vpc,
      subnets: props.subnets,
      variants: [
        // The candidate enters at 0 %: no user request reaches it before the smoke test has proven
        // it (per variant) and the rollout's first step has started. A CloudFormation update of the
        // endpoint config re-applies these weights; the rollout re-asserts a decided outcome.
        { name: 'VariantA', version: baselineVersion, weight: 100 },
        { name: 'VariantB', version: candidateVersion, weight: 0 },
      ],
      modelsDir: this.modelsDir,
      encryptionKey: key,
      dataCaptureBucket: props.dataBucket,
      dataCaptureKey: props.dataKey,
      dataCapturePolicy: props.dataCapturePolicy,
      dataCapturePercent: endpoint.dataCapturePercent,
      instanceType: endpoint.instanceType,
      minInstances: endpoint.minInstances,
      maxInstances: endpoint.maxInstances,
      targetInvocationsPerInstance: endpoint.targetInvocationsPerInstance,
    });

    this.modelParameters = new ModelParameters(this, 'ModelRegistry', {
      prefix: props.modelParameterPrefix,
      activeVersion: baselineVersion,
      versions: { [baselineVersion]: 'baseline', [candidateVersion]: 'candidate' },
      archives: this.endpoint.archives,
      modelsDir: this.modelsDir,
    });

    const defaults: FunctionDefaults = {
      vpc: props.vpc,
      subnets: props.subnets,
      encryptionKey: key,
      logRetentionDays: props.logRetentionDays,
      metricNamespace: props.metricNamespace ?? 'MlInference',
      logLevel: props.logLevel,
    };
    const modelEnvironment = {
      ENDPOINT_NAME: this.endpoint.endpointName,
      TABLE_NAME: props.table.tableName,
      MODEL_PARAMETER_PREFIX: this.modelParameters.prefix,
    };

    this.predictFunction = new ServiceFunction(this, 'Predict', {
      defaults,
      component: 'inference',
      entry: 'predict-handler',
      description: 'POST /predict: validates, scores on the endpoint, stores the prediction',
      environment: {
        ...modelEnvironment,
        ...(props.syntheticCallerRoleArns?.length
          ? { SYNTHETIC_CALLER_ROLE_ARNS: props.syntheticCallerRoleArns.join(',') }
          : {}),
      },
      timeout: Duration.seconds(15),
    });
    this.endpoint.grantInvoke(this.predictFunction);
    grantItemAccess(props, this.predictFunction, 'write');
    this.modelParameters.grantReadInputSchema(this.predictFunction);

    this.getPredictionFunction = new ServiceFunction(this, 'GetPrediction', {
      defaults,
      component: 'inference',
      entry: 'get-prediction-handler',
      description: 'GET /predictions/{id}: reads a stored prediction',
      environment: { TABLE_NAME: props.table.tableName },
    });
    grantItemAccess(props, this.getPredictionFunction, 'read');

    this.feedbackFunction = new ServiceFunction(this, 'Feedback', {
      defaults,
      component: 'inference',
      entry: 'feedback-handler',
      description:
        "POST /predictions/{id}/feedback: stores the true label or value with its owner's prediction",
      environment: { TABLE_NAME: props.table.tableName },
    });
    grantItemAccess(props, this.feedbackFunction, 'feedback');

    this.api = new InferenceApi(this, 'Api', {
      predictFunction: this.predictFunction,
      getPredictionFunction: this.getPredictionFunction,
      feedbackFunction: this.feedbackFunction,
      encryptionKey: key,
      logRetentionDays: props.logRetentionDays,
      throttleRateLimit: props.apiThrottle?.rateLimit,
      throttleBurstLimit: props.apiThrottle?.burstLimit,
    });

    this.stream = new PredictionStream(this, 'Ingestion', {
      functionDefaults: defaults,
      encryptionKey: key,
      environment: modelEnvironment,
    });
    this.endpoint.grantInvoke(this.stream.consumer);
    grantItemAccess(props, this.stream.consumer, 'write');
    this.modelParameters.grantReadInputSchema(this.stream.consumer);

    this.apiUrlOutput = new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    this.endpointNameOutput = new CfnOutput(this, 'EndpointName', { value: this.endpoint.endpointName });
    new CfnOutput(this, 'StreamArn', { value: this.stream.stream.streamArn });
  }
}

/**
 * Single-item access to the predictions table and its key, by exact action on the table's ARN only:
 * the functions address items by key (GetItem, conditional PutItem) and never query the index, so
 * the table grants' `index/*` and wildcard KMS actions would be more than they use.
 */
function grantItemAccess(
  props: InferenceStackProps,
  grantee: iam.IGrantable,
  access: 'read' | 'write' | 'feedback',
): void {
  const write = access !== 'read';
  const itemActions = {
    read: ['dynamodb:GetItem'],
    write: ['dynamodb:GetItem', 'dynamodb:PutItem'],
    feedback: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
  };
  iam.Grant.addToPrincipal({
    grantee,
    actions: itemActions[access],
    resourceArns: [props.table.tableArn],
  });
  props.dataKey.grant(
    grantee,
    ...(write
      ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']
      : ['kms:Decrypt', 'kms:DescribeKey']),
  );
}
