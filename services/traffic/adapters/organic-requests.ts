import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';

/** What the previous complete minute held, from CloudWatch. */
export interface OrganicRequests {
  /**
   * Organic (non-synthetic) requests the endpoint served in the newest minute CloudWatch has
   * published, at least `lagMinutes` old; undefined when there is no datapoint yet.
   */
  previousMinute(now: Date): Promise<number | undefined>;
}

/** Options of {@link CloudWatchOrganicRequests}. */
export interface OrganicRequestsOptions {
  readonly endpointName: string;
  readonly variantNames: readonly string[];
  /** Namespace of the predict function's `SyntheticPredictions` metric. */
  readonly metricNamespace: string;
  /** Minutes CloudWatch may still be aggregating. @default 2 */
  readonly lagMinutes?: number;
}

const MINUTE = 60_000;

/**
 * Endpoint invocations of every variant minus the predict function's `SyntheticPredictions`, per
 * minute: what users (API and stream) sent. One GetMetricData call with a metric-math expression.
 */
export class CloudWatchOrganicRequests implements OrganicRequests {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly options: OrganicRequestsOptions,
  ) {}

  async previousMinute(now: Date): Promise<number | undefined> {
    const lag = this.options.lagMinutes ?? 2;
    const end = Math.floor(now.getTime() / MINUTE) * MINUTE - (lag - 1) * MINUTE;
    const variants = this.options.variantNames.map((variant, i) => ({
      Id: `v${i}`,
      ReturnData: false,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SageMaker',
          MetricName: 'Invocations',
          Dimensions: [
            { Name: 'EndpointName', Value: this.options.endpointName },
            { Name: 'VariantName', Value: variant },
          ],
        },
        Period: 60,
        Stat: 'Sum',
      },
    }));
    const output = await this.client.send(
      new GetMetricDataCommand({
        StartTime: new Date(end - 3 * MINUTE),
        EndTime: new Date(end),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          ...variants,
          {
            Id: 'synthetic',
            ReturnData: false,
            MetricStat: {
              Metric: {
                Namespace: this.options.metricNamespace,
                MetricName: 'SyntheticPredictions',
                Dimensions: [{ Name: 'service', Value: 'predict' }],
              },
              Period: 60,
              Stat: 'Sum',
            },
          },
          {
            Id: 'organic',
            ReturnData: true,
            Expression: `MAX([0, ${variants.map((v) => `FILL(${v.Id}, 0)`).join(' + ')} - FILL(synthetic, 0)])`,
            Period: 60,
          },
        ],
      }),
    );
    const organic = output.MetricDataResults?.find((r) => r.Id === 'organic');
    return organic?.Values?.[0];
  }
}
