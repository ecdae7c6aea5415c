import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PredictionItem } from '../prediction';

/** Outcome of an idempotent write: the item now stored and whether this call created it. */
export interface StoredPrediction {
  readonly item: PredictionItem;
  readonly created: boolean;
}

/** The predictions table, as the handlers need it. */
export interface PredictionStore {
  /**
   * Writes the item unless its predictionId exists; if it does, answers the stored
   * item, so a retry gets the first answer instead of a second row.
   */
  putIfAbsent(item: PredictionItem): Promise<StoredPrediction>;
  get(predictionId: string): Promise<PredictionItem | undefined>;
}

/** Dependencies of {@link createPredictionStore}. */
export interface PredictionStoreOptions {
  /** Created once at cold start. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** DynamoDB implementation: conditional `PutItem` on `attribute_not_exists(predictionId)`, consistent reads. */
export function createPredictionStore(options: PredictionStoreOptions): PredictionStore {
  const get = async (predictionId: string): Promise<PredictionItem | undefined> => {
    const output = await options.client.send(
      new GetCommand({ TableName: options.tableName, Key: { predictionId }, ConsistentRead: true }),
    );
    return output.Item as PredictionItem | undefined;
  };
  return {
    get,
    async putIfAbsent(item) {
      try {
        await options.client.send(
          new PutCommand({
            TableName: options.tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(predictionId)',
          }),
        );
        return { item, created: true };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const existing = await get(item.predictionId);
      if (!existing) throw new Error(`Prediction ${item.predictionId} vanished after a conditional check`);
      return { item: existing, created: false };
    },
  };
}
