import { PutMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';

/** One data point with its dimensions. */
export interface DriftDatum {
  readonly metricName: string;
  readonly value: number;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: Date;
}

/** Publishes data points to one namespace. */
export interface MetricsPublisher {
  publish(namespace: string, data: readonly DriftDatum[]): Promise<void>;
}

/** {@link MetricsPublisher} over CloudWatch PutMetricData (at most 1000 data points per call). */
export function createCloudWatchPublisher(client: CloudWatchClient): MetricsPublisher {
  return {
    async publish(namespace, data) {
      for (let i = 0; i < data.length; i += 1000) {
        await client.send(
          new PutMetricDataCommand({
            Namespace: namespace,
            MetricData: data.slice(i, i + 1000).map((d) => ({
              MetricName: d.metricName,
              Value: d.value,
              Unit: 'None',
              Timestamp: d.timestamp,
              Dimensions: Object.entries(d.dimensions).map(([Name, Value]) => ({ Name, Value })),
            })),
          }),
        );
      }
    },
  };
}
