import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Feature rows of recent predictions. */
export interface RecentInputs {
  /**
   * `inputFeatures` of users' predictions by `modelVersion` in `[from, to]`, newest first, at most
   * `limit`. Synthetic ones (rollout traffic source, smoke test) are left out: they replay the
   * held-out split, so they would pull the drift towards "like the training data".
   */
  features(modelVersion: string, from: string, to: string, limit: number): Promise<number[][]>;
}

/** {@link RecentInputs} over the predictions table's `modelVersionIndex` (modelVersion + timestamp). */
export function createTableRecentInputs(client: DynamoDBDocumentClient, tableName: string): RecentInputs {
  return {
    async features(modelVersion, from, to, limit) {
      const rows: number[][] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: 'modelVersionIndex',
            KeyConditionExpression: 'modelVersion = :v AND #ts BETWEEN :from AND :to',
            FilterExpression: 'attribute_not_exists(#src) OR #src <> :synthetic',
            ExpressionAttributeNames: { '#ts': 'timestamp', '#src': 'source' },
            ExpressionAttributeValues: {
              ':v': modelVersion,
              ':from': from,
              ':to': to,
              ':synthetic': 'synthetic',
            },
            ProjectionExpression: 'inputFeatures',
            ScanIndexForward: false,
            Limit: Math.min(1000, limit - rows.length),
            ExclusiveStartKey: start,
          }),
        );
        for (const item of page.Items ?? []) {
          const features: unknown = item.inputFeatures;
          if (Array.isArray(features) && features.every((f) => typeof f === 'number')) rows.push(features);
        }
        start = page.LastEvaluatedKey;
      } while (start && rows.length < limit);
      return rows.slice(0, limit);
    },
  };
}
