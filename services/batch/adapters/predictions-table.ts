import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Item of the predictions table (CONTRACTS.md). */
export interface PredictionItem {
  readonly predictionId: string;
  readonly timestamp: string;
  readonly modelVersion: string;
  readonly invokedVariant: string;
  readonly prediction: { readonly label: string; readonly probabilities: number[] };
  readonly inputFeatures: number[];
  readonly expirationTime: number;
  readonly source: 'api' | 'stream' | 'batch';
  readonly requestId?: string;
  /** Round trip of the batched model call that scored it, ms. */
  readonly modelLatencyMs?: number;
}

/** Outcome of a conditional put: the item written now, or the one already stored under that id. */
export type PutOutcome =
  { readonly status: 'created' } | { readonly status: 'exists'; readonly existing: PredictionItem };

/** Write side of the predictions table as the scorer needs it. */
export interface PredictionsTable {
  /** Puts the item unless its predictionId exists; never overwrites. */
  putIfAbsent(item: PredictionItem): Promise<PutOutcome>;
}

/** {@link PredictionsTable} over DynamoDB: `attribute_not_exists(predictionId)`, then a consistent read on conflict. */
export function createDynamoPredictionsTable(
  client: DynamoDBDocumentClient,
  tableName: string,
): PredictionsTable {
  return {
    async putIfAbsent(item) {
      try {
        await client.send(
          new PutCommand({
            TableName: tableName,
            Item: item,
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
  };
}
