import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { MAX_FEATURE_MAGNITUDE, REQUEST_ID_PATTERN } from '../../../services/inference/validation';

/**
 * The inference API's vocabulary, once: the JSON schemas {@link InferenceApi} registers as API
 * Gateway models (the request model validates `POST /predict`; the answer models document the
 * method responses) and from which {@link openApiDocument} builds `docs/openapi.json`.
 * Both routes use the same names: `features` in, `predictionId`, `result`, `modelVersion`,
 * `variant` out.
 */

const { ARRAY, INTEGER, NUMBER, OBJECT, STRING } = apigateway.JsonSchemaType;

const predictionId: apigateway.JsonSchema = {
  type: STRING,
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'UUID of the stored prediction; derived from the caller and requestId when one is sent.',
};
const features: apigateway.JsonSchema = {
  type: ARRAY,
  minItems: 1,
  description:
    'Exactly the featureCount values every deployed model version takes (both variants share it); finite, magnitude at most 2^53 - 1, non-zero values not below about 7e-46 (CONTRACTS.md, Feature values).',
  items: { type: NUMBER, minimum: -MAX_FEATURE_MAGNITUDE, maximum: MAX_FEATURE_MAGNITUDE },
};
const requestId: apigateway.JsonSchema = {
  type: STRING,
  pattern: REQUEST_ID_PATTERN,
  minLength: 1,
  maxLength: 128,
  description: 'Idempotency key, scoped to the calling IAM principal.',
};
const classificationResult: apigateway.JsonSchema = {
  type: OBJECT,
  required: ['label', 'probabilities'],
  additionalProperties: false,
  properties: {
    label: { type: STRING, description: 'The most probable label.' },
    probabilities: {
      type: ARRAY,
      minItems: 2,
      items: { type: NUMBER, minimum: 0, maximum: 1 },
      description: "One per label, in the model's label order.",
    },
  },
};
const regressionResult: apigateway.JsonSchema = {
  type: OBJECT,
  required: ['value'],
  additionalProperties: false,
  properties: { value: { type: NUMBER, description: 'The predicted value.' } },
};
const result: apigateway.JsonSchema = {
  description:
    "By the deployed models' task: a classifier answers label and probabilities, a regressor a value.",
  oneOf: [
    { ...classificationResult, title: 'ClassificationResult' },
    { ...regressionResult, title: 'RegressionResult' },
  ],
};
const answerProperties: Record<string, apigateway.JsonSchema> = {
  predictionId,
  result,
  modelVersion: { type: STRING, description: 'Version of the model that scored the request.' },
  variant: { type: STRING, description: 'Endpoint variant that served it (VariantA, VariantB).' },
};

/** Every model of the API, by name. */
export const API_MODELS = {
  PredictRequest: {
    title: 'PredictRequest',
    type: OBJECT,
    required: ['features'],
    additionalProperties: false,
    properties: { features, requestId },
  },
  PredictAnswer: {
    title: 'PredictAnswer',
    type: OBJECT,
    required: Object.keys(answerProperties),
    additionalProperties: false,
    properties: answerProperties,
  },
  PredictionRecord: {
    title: 'PredictionRecord',
    type: OBJECT,
    required: [...Object.keys(answerProperties), 'features', 'source', 'timestamp', 'expirationTime'],
    additionalProperties: false,
    properties: {
      ...answerProperties,
      features: { ...features, description: 'The features that were scored.' },
      requestId,
      source: { type: STRING, enum: ['api', 'stream', 'batch'] },
      timestamp: { type: STRING, format: 'date-time', description: 'When it was scored.' },
      expirationTime: { type: INTEGER, description: 'When the record expires (epoch seconds).' },
    },
  },
  FeedbackRequest: {
    title: 'FeedbackRequest',
    description: 'The true answer: a label for a classification, a value for a regression.',
    type: OBJECT,
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    properties: {
      label: { type: STRING, minLength: 1, maxLength: 256, description: 'The true label.' },
      value: { type: NUMBER, description: 'The true value.' },
    },
  },
  FeedbackAnswer: {
    title: 'FeedbackAnswer',
    type: OBJECT,
    required: ['predictionId', 'modelVersion', 'feedback'],
    additionalProperties: false,
    properties: {
      predictionId,
      modelVersion: { type: STRING, description: 'Version of the model that made the prediction.' },
      feedback: {
        type: OBJECT,
        required: ['receivedAt'],
        additionalProperties: false,
        properties: {
          label: { type: STRING },
          value: { type: NUMBER },
          receivedAt: { type: STRING, format: 'date-time' },
        },
      },
    },
  },
  // Not "Error": API Gateway creates models named Empty and Error in every REST API.
  ErrorAnswer: {
    title: 'ErrorAnswer',
    type: OBJECT,
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: OBJECT,
        required: ['code', 'message'],
        additionalProperties: false,
        properties: { code: { type: STRING }, message: { type: STRING } },
      },
    },
  },
} as const satisfies Record<string, apigateway.JsonSchema>;

/** Name of a model in {@link API_MODELS}. */
export type ApiModelName = keyof typeof API_MODELS;

/** Status codes each route answers and the model of each answer's body. */
export const API_RESPONSES = {
  'POST /predict': {
    200: 'PredictAnswer',
    400: 'ErrorAnswer',
    403: 'ErrorAnswer',
    409: 'ErrorAnswer',
    413: 'ErrorAnswer',
    415: 'ErrorAnswer',
    422: 'ErrorAnswer',
    500: 'ErrorAnswer',
    502: 'ErrorAnswer',
    503: 'ErrorAnswer',
  },
  'GET /predictions/{id}': {
    200: 'PredictionRecord',
    400: 'ErrorAnswer',
    403: 'ErrorAnswer',
    404: 'ErrorAnswer',
    500: 'ErrorAnswer',
  },
  'POST /predictions/{id}/feedback': {
    200: 'FeedbackAnswer',
    400: 'ErrorAnswer',
    403: 'ErrorAnswer',
    404: 'ErrorAnswer',
    500: 'ErrorAnswer',
  },
} as const satisfies Record<string, Record<number, ApiModelName>>;

const statusText: Record<number, string> = {
  200: 'OK',
  400: 'Malformed request (code says what)',
  403: 'Not signed with SigV4, or the principal may not call the API',
  404: 'No prediction with this id for this caller',
  409: 'requestId already used by this caller with other features',
  413: 'Body too large',
  415: 'Not application/json',
  422: 'The model refused this input (ModelRejectedInput); not retryable',
  500: 'Internal error',
  502: 'The model failed (ModelError); retry later',
  503: 'The model or its configuration is unavailable; retry after Retry-After',
};

/** OpenAPI 3.0 document of the API, from {@link API_MODELS}; `npm run openapi` writes it to docs/openapi.json. */
export function openApiDocument(): Record<string, unknown> {
  const responses = (route: keyof typeof API_RESPONSES) =>
    Object.fromEntries(
      Object.entries(API_RESPONSES[route]).map(([status, model]) => [
        status,
        {
          description: statusText[Number(status)],
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${model}` } } },
        },
      ]),
    );
  const schemas = Object.fromEntries(
    Object.entries(API_MODELS).map(([name, { title: _title, ...schema }]) => [name, schema]),
  );
  return {
    openapi: '3.0.3',
    info: {
      title: 'ML inference API',
      version: '1',
      description:
        'POST /predict scores features on the active endpoint; GET /predictions/{id} reads a stored prediction back; POST /predictions/{id}/feedback stores its true answer. Every method requires SigV4-signed IAM credentials; requestIds and reads are scoped to the calling principal.',
    },
    security: [{ sigv4: [] }],
    paths: {
      '/predict': {
        post: {
          operationId: 'predict',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/PredictRequest' } } },
          },
          responses: responses('POST /predict'),
        },
      },
      '/predictions/{id}': {
        get: {
          operationId: 'getPrediction',
          parameters: [{ name: 'id', in: 'path', required: true, schema: predictionId }],
          responses: responses('GET /predictions/{id}'),
        },
      },
      '/predictions/{id}/feedback': {
        post: {
          operationId: 'giveFeedback',
          description:
            'The true label (or value) of a prediction, accepted only from the principal that made it (others get 404).',
          parameters: [{ name: 'id', in: 'path', required: true, schema: predictionId }],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/FeedbackRequest' } } },
          },
          responses: responses('POST /predictions/{id}/feedback'),
        },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}
