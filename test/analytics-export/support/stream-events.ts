import type { AttributeValue as LambdaAttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { PredictionItem } from '../../../services/batch/adapters/predictions-table';

/** A predictions-table item as the API, the stream consumer or the scorer writes it. */
export function predictionItem(
  id: string,
  source: PredictionItem['source'],
  timestamp: string,
  requestId?: string,
): PredictionItem {
  return {
    predictionId: id,
    timestamp,
    modelVersion: 'v1.0.0',
    invokedVariant: 'VariantA',
    prediction: { label: 'setosa', probabilities: [0.9, 0.07, 0.03] },
    inputFeatures: [5.1, 3.5, 1.4, 0.2],
    expirationTime: Math.floor(Date.parse(timestamp) / 1000) + 30 * 86400,
    source,
    ...(requestId !== undefined ? { requestId } : {}),
  };
}

/** A DynamoDB stream record (NEW_IMAGE view) for an item, as Lambda delivers it. */
export function streamRecord(
  sequenceNumber: string,
  item: object | undefined,
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE' = 'INSERT',
): DynamoDBRecord {
  const image = item
    ? (marshall(item, { removeUndefinedValues: true }) as Record<string, LambdaAttributeValue>)
    : undefined;
  return {
    eventID: `event-${sequenceNumber}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: {
      ApproximateCreationDateTime: 1764066000,
      Keys: {
        predictionId: {
          S: String((item as { predictionId?: unknown } | undefined)?.predictionId ?? 'unknown'),
        },
      },
      ...(image ? { NewImage: image } : {}),
      SequenceNumber: sequenceNumber,
      SizeBytes: 256,
      StreamViewType: 'NEW_IMAGE',
    },
    eventSourceARN:
      'arn:aws:dynamodb:us-east-1:111111111111:table/Predictions/stream/2026-11-25T00:00:00.000',
  };
}

/** A stream event of the given records. */
export const streamEvent = (records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });
