import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  PutItemCommand,
  type AttributeValue,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Item of the predictions table (CONTRACTS.md). */
export interface PredictionItem {
  readonly predictionId: string;
  readonly timestamp: string;
  readonly modelVersion: string;
  readonly invokedVariant: string;
  /** A classifier's label and probabilities, or a regressor's value. */
  readonly prediction: StoredPrediction;
  readonly inputFeatures: number[];
  readonly expirationTime: number;
  readonly source: 'api' | 'stream' | 'batch' | 'synthetic';
  readonly requestId?: string;
  /** Round trip of the batched model call that scored it, ms. */
  readonly modelLatencyMs?: number;
}

/** What a model answered for one row (services/model `Prediction`). */
export type StoredPrediction =
  { readonly label: string; readonly probabilities: number[] } | { readonly value: number };

/** Outcome of a conditional put: the item written now, or the one already stored under that id. */
export type PutOutcome =
  { readonly status: 'created' } | { readonly status: 'exists'; readonly existing: PredictionItem };

/** Write side of the predictions table as the scorer needs it. */
export interface PredictionsTable {
  /** Puts the item unless its predictionId exists; never overwrites. */
  putIfAbsent(item: PredictionItem): Promise<PutOutcome>;
  /**
   * Puts items whose predictionIds no other writer can hold (up to 25 per request, unprocessed items
   * retried): unconditional, so only for ids the caller owns.
   */
  putOwned(items: readonly PredictionItem[]): Promise<void>;
  /** The stored items among `predictionIds` (strongly consistent), by id. */
  getMany(predictionIds: readonly string[]): Promise<Map<string, PredictionItem>>;
}

const WRITE_BATCH = 25;
const GET_BATCH = 100;
const MAX_ATTEMPTS = 8;

const backoff = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt) * Math.random()));

const number = (value: number): AttributeValue.NMember => {
  if (!Number.isFinite(value)) throw new Error(`${value} cannot be stored in DynamoDB (not a finite number)`);
  return { N: String(value) };
};

const numbers = (values: readonly number[]): AttributeValue.LMember => ({ L: values.map(number) });

/**
 * The item as DynamoDB attribute values, built for its known shape: what `marshall(item,
 * { removeUndefinedValues: true })` returns (a test holds them equal), at a fraction of its CPU. The
 * generic marshaller inspects every value's type and was a sixth of the scorer's CPU time end to end,
 * on a 2-core machine where the scorer shares the cores with the store it writes to.
 */
export function itemAttributes(item: PredictionItem): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {
    predictionId: { S: item.predictionId },
    timestamp: { S: item.timestamp },
    modelVersion: { S: item.modelVersion },
    invokedVariant: { S: item.invokedVariant },
    prediction: {
      M:
        'value' in item.prediction
          ? { value: number(item.prediction.value) }
          : { label: { S: item.prediction.label }, probabilities: numbers(item.prediction.probabilities) },
    },
    inputFeatures: numbers(item.inputFeatures),
    expirationTime: number(item.expirationTime),
    source: { S: item.source },
  };
  if (item.requestId !== undefined) attributes.requestId = { S: item.requestId };
  if (item.modelLatencyMs !== undefined) attributes.modelLatencyMs = number(item.modelLatencyMs);
  return attributes;
}

/**
 * {@link PredictionsTable} over DynamoDB: `attribute_not_exists(predictionId)` then a consistent read on
 * conflict for shared ids; BatchWriteItem and BatchGetItem for the ids the scorer owns.
 */
export function createDynamoPredictionsTable(
  client: DynamoDBDocumentClient,
  tableName: string,
): PredictionsTable {
  return {
    async putIfAbsent(item) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: itemAttributes(item),
            ConditionExpression: 'attribute_not_exists(predictionId)',
          }),
        );
        return { status: 'created' };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const { Item } = await client.send(
        new GetCommand({
          TableName: tableName,
          Key: { predictionId: item.predictionId },
          ConsistentRead: true,
        }),
      );
      if (!Item) throw new Error(`predictionId ${item.predictionId} failed its condition but cannot be read`);
      return { status: 'exists', existing: Item as PredictionItem };
    },
    async putOwned(items) {
      const requests: WriteRequest[][] = [];
      for (let i = 0; i < items.length; i += WRITE_BATCH) {
        requests.push(
          items.slice(i, i + WRITE_BATCH).map((item) => ({ PutRequest: { Item: itemAttributes(item) } })),
        );
      }
      await Promise.all(
        requests.map(async (batch) => {
          let pending = batch;
          for (let attempt = 0; pending.length > 0; attempt++) {
            if (attempt >= MAX_ATTEMPTS) {
              throw new Error(`${pending.length} items stayed unprocessed after ${MAX_ATTEMPTS} attempts`);
            }
            if (attempt > 0) await backoff(attempt);
            const { UnprocessedItems } = await client.send(
              new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }),
            );
            pending = UnprocessedItems?.[tableName] ?? [];
          }
        }),
      );
    },
    async getMany(predictionIds) {
      const found = new Map<string, PredictionItem>();
      for (let i = 0; i < predictionIds.length; i += GET_BATCH) {
        let keys: Record<string, unknown>[] = predictionIds
          .slice(i, i + GET_BATCH)
          .map((predictionId) => ({ predictionId }));
        for (let attempt = 0; keys.length > 0; attempt++) {
          if (attempt >= MAX_ATTEMPTS) {
            throw new Error(`${keys.length} keys stayed unprocessed after ${MAX_ATTEMPTS} attempts`);
          }
          if (attempt > 0) await backoff(attempt);
          const { Responses, UnprocessedKeys } = await client.send(
            new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
          );
          for (const item of Responses?.[tableName] ?? []) {
            found.set(item.predictionId as string, item as PredictionItem);
          }
          keys = UnprocessedKeys?.[tableName]?.Keys ?? [];
        }
      }
      return found;
    },
  };
}
