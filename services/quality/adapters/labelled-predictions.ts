import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LabelledPrediction } from '../feedback-quality';

/** Labelled predictions of one model version. */
export interface LabelledPredictions {
  /** Predictions of `modelVersion` made in `[from, to]` that carry feedback. */
  of(modelVersion: string, from: string, to: string): Promise<LabelledPrediction[]>;
}

const isLabelOrValue = (value: unknown): value is { label: string } | { value: number } =>
  typeof value === 'object' &&
  value !== null &&
  (typeof (value as { label?: unknown }).label === 'string' ||
    typeof (value as { value?: unknown }).value === 'number');

/** {@link LabelledPredictions} over the predictions table's `modelVersionIndex` (modelVersion + timestamp). */
export function createTableLabelledPredictions(
  client: DynamoDBDocumentClient,
  tableName: string,
): LabelledPredictions {
  return {
    async of(modelVersion, from, to) {
      const rows: LabelledPrediction[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: 'modelVersionIndex',
            KeyConditionExpression: 'modelVersion = :v AND #ts BETWEEN :from AND :to',
            FilterExpression: 'attribute_exists(feedback)',
            ExpressionAttributeNames: { '#ts': 'timestamp' },
            ExpressionAttributeValues: { ':v': modelVersion, ':from': from, ':to': to },
            ProjectionExpression: 'prediction, feedback',
            ExclusiveStartKey: start,
          }),
        );
        for (const item of page.Items ?? []) {
          if (isLabelOrValue(item.prediction) && isLabelOrValue(item.feedback)) {
            rows.push({ prediction: item.prediction, feedback: item.feedback });
          }
        }
        start = page.LastEvaluatedKey;
      } while (start);
      return rows;
    },
  };
}
