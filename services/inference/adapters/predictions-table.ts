import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Feedback, PredictionItem } from '../prediction';

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

/** What `POST /predictions/{id}/feedback` needs of the table. */
export interface FeedbackStore {
  get(predictionId: string): Promise<PredictionItem | undefined>;
  /**
   * Stores the true answer with an API prediction of `caller`, in one conditional write (the owner
   * is checked by DynamoDB, not only before); false when no such prediction of that caller exists.
   */
  setFeedback(predictionId: string, caller: string, feedback: Feedback): Promise<boolean>;
}

/** Dependencies of {@link createPredictionStore}. */
export interface PredictionStoreOptions {
  /** Created once at cold start. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** DynamoDB implementation: conditional `PutItem` on `attribute_not_exists(predictionId)`, consistent reads. */
export function createPredictionStore(options: PredictionStoreOptions): PredictionStore & FeedbackStore {
  const get = async (predictionId: string): Promise<PredictionItem | undefined> => {
    const output = await options.client.send(
      new GetCommand({ TableName: options.tableName, Key: { predictionId }, ConsistentRead: true }),
    );
    return output.Item as PredictionItem | undefined;
  };
  return {
    get,
    async setFeedback(predictionId, caller, feedback) {
      try {
        await options.client.send(
          new UpdateCommand({
            TableName: options.tableName,
            Key: { predictionId },
            UpdateExpression: 'SET feedback = :feedback',
            ConditionExpression: 'attribute_exists(predictionId) AND #caller = :caller AND #source = :api',
            ExpressionAttributeNames: { '#caller': 'caller', '#source': 'source' },
            ExpressionAttributeValues: { ':feedback': feedback, ':caller': caller, ':api': 'api' },
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },
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
