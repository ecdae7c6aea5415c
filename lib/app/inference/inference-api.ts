import { Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge, Finding } from '../../compliance';
import { API_MODELS, API_RESPONSES, type ApiModelName } from './api-models';

/** Properties of {@link InferenceApi}. */
export interface InferenceApiProps {
  /** Serves `POST /predict`. */
  readonly predictFunction: lambda.IFunction;
  /** Serves `GET /predictions/{id}`. */
  readonly getPredictionFunction: lambda.IFunction;
  /** Serves `POST /predictions/{id}/feedback`. @default - no feedback route */
  readonly feedbackFunction?: lambda.IFunction;
  /** Encrypts the access log group. */
  readonly encryptionKey: kms.IKey;
  /** Days access logs are kept. */
  readonly logRetentionDays: logs.RetentionDays;
  /** Steady-state requests per second of the stage. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst above the steady rate. @default 100 */
  readonly throttleBurstLimit?: number;
}

/**
 * The REST API of the inference service. Every method requires SigV4-signed IAM credentials.
 * `POST /predict` validates its body against a model; `GET /predictions/{id}` answers a prediction
 * only to the caller that made it. Neither is cached: API Gateway's cache keys can hold only path,
 * query and header values, none of which names the SigV4 principal, so a cached read would serve one
 * caller's prediction to another.
 */
export class InferenceApi extends Construct {
  /** The REST API. */
  readonly api: apigateway.RestApi;
  /** Invoke URL of the deployed stage. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: InferenceApiProps) {
    super(scope, id);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      encryptionKey: props.encryptionKey,
      retention: props.logRetentionDays,
    });

    this.api = new apigateway.RestApi(this, 'Api', {
      // The name is the ApiName dimension of the API's metrics: unique per stage so alarms never mix stages.
      restApiName: `${Stack.of(this).stackName}-api`,
      description: 'ML inference: POST /predict and GET /predictions/{id} (IAM authorization)',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole: false,
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        throttlingRateLimit: props.throttleRateLimit ?? 50,
        throttlingBurstLimit: props.throttleBurstLimit ?? 100,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        cacheClusterEnabled: false,
        cachingEnabled: false,
      },
    });

    // One vocabulary for both routes (api-models.ts): the request model validates, the answer models
    // document the method responses, and docs/openapi.json is generated from the same schemas.
    const models = Object.fromEntries(
      Object.entries(API_MODELS).map(([name, schema]) => [
        name,
        this.api.addModel(name, {
          modelName: name,
          contentType: 'application/json',
          schema: { schema: apigateway.JsonSchemaVersion.DRAFT4, ...schema },
        }),
      ]),
    ) as Record<ApiModelName, apigateway.Model>;
    const methodResponses = (route: keyof typeof API_RESPONSES): apigateway.MethodResponse[] =>
      Object.entries(API_RESPONSES[route]).map(([statusCode, model]) => ({
        statusCode,
        responseModels: { 'application/json': models[model] },
      }));
    const validator = this.api.addRequestValidator('Validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });

    this.api.root
      .addResource('predict')
      .addMethod(
        'POST',
        new apigateway.LambdaIntegration(props.predictFunction, { allowTestInvoke: false }),
        {
          requestModels: { 'application/json': models.PredictRequest },
          requestValidator: validator,
          methodResponses: methodResponses('POST /predict'),
        },
      );

    const prediction = this.api.root.addResource('predictions').addResource('{id}');
    prediction.addMethod(
      'GET',
      new apigateway.LambdaIntegration(props.getPredictionFunction, {
        allowTestInvoke: false,
        requestParameters: { 'integration.request.path.id': 'method.request.path.id' },
      }),
      {
        requestParameters: { 'method.request.path.id': true },
        requestValidator: validator,
        methodResponses: methodResponses('GET /predictions/{id}'),
      },
    );
    if (props.feedbackFunction) {
      prediction.addResource('feedback').addMethod(
        'POST',
        new apigateway.LambdaIntegration(props.feedbackFunction, {
          allowTestInvoke: false,
          requestParameters: { 'integration.request.path.id': 'method.request.path.id' },
        }),
        {
          requestParameters: { 'method.request.path.id': true },
          requestModels: { 'application/json': models.FeedbackRequest },
          requestValidator: validator,
          methodResponses: methodResponses('POST /predictions/{id}/feedback'),
        },
      );
    }

    // Answers API Gateway gives itself (bad body, missing signature, throttling) use the same error
    // shape as the functions, so every 4xx and 5xx matches the documented ErrorAnswer model.
    const errorTemplate = (code: string) => ({
      'application/json': `{"error":{"code":"${code}","message":$context.error.messageString}}`,
    });
    this.api.addGatewayResponse('BadRequestBody', {
      type: apigateway.ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      templates: errorTemplate('InvalidRequest'),
    });
    this.api.addGatewayResponse('Default4xx', {
      type: apigateway.ResponseType.DEFAULT_4XX,
      templates: errorTemplate('$context.error.responseType'),
    });
    this.api.addGatewayResponse('Default5xx', {
      type: apigateway.ResponseType.DEFAULT_5XX,
      templates: errorTemplate('$context.error.responseType'),
    });

    this.url = this.api.url;

    // API Gateway may invoke the functions only for this account's API (confused-deputy guard).
    for (const node of this.node.findAll()) {
      if (node instanceof lambda.CfnPermission) {
        node.sourceAccount = Stack.of(this).account;
      }
    }
    for (const method of this.api.methods) {
      acknowledge(
        method,
        [Finding.awsSolutions('COG4')],
        'The API is called by services and operators with AWS credentials: IAM authorization via SigV4 on every method, so no Cognito user pool is involved.',
      );
    }

    const stage = this.api.deploymentStage;
    acknowledge(
      stage,
      [Finding.awsSolutions('APIG3'), Finding.nist('APIGWAssociatedWithWAF')],
      'Every method requires SigV4-signed IAM credentials, so unsigned traffic is refused by API Gateway before any integration runs; the stage throttle bounds signed callers.',
    );
    acknowledge(
      stage,
      [
        Finding.awsSolutions('APIG6'),
        Finding.nist('APIGWExecutionLoggingEnabled'),
        Finding.hipaa('APIGWExecutionLoggingEnabled'),
        Finding.guard('api_gw_v1_execution_logging_enabled_check'),
      ],
      'Every request is in the encrypted JSON access log; execution logging needs the account-wide API Gateway CloudWatch role, which one stage must not own when two stages share an account.',
    );
    acknowledge(
      stage,
      [Finding.nist('APIGWCacheEnabledAndEncrypted'), Finding.hipaa('APIGWCacheEnabledAndEncrypted')],
      "No method is cached, so no data rests in a cache to encrypt: every answer belongs to one IAM caller, and API Gateway's cache keys (path, query, headers) cannot include the SigV4 principal, so a cache would serve one caller's prediction to another.",
    );
    acknowledge(
      stage,
      [Finding.nist('APIGWSSLEnabled'), Finding.hipaa('APIGWSSLEnabled')],
      'Client certificates authenticate API Gateway to HTTP backends; both integrations are Lambda proxy integrations invoked through the Lambda API with IAM.',
    );
  }
}
