import { CloudWatchClient, PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { CORRECT_ANSWERS_METRIC, LABELLED_ANSWERS_METRIC } from '../../rollout/quality-metrics';
import type { LabelledTally } from '../source';

/** Where the traffic source reports how its labelled rows were answered. */
export interface LabelledAnswers {
  /** Publishes one window's labelled and correct answers per variant, at the minute the window began. */
  publish(tally: LabelledTally, windowStart: Date): Promise<void>;
}

/** Options of {@link CloudWatchLabelledAnswers}. */
export interface LabelledAnswersOptions {
  readonly endpointName: string;
  /** The stage's metric namespace (the judge reads it there; the role may put only into it). */
  readonly metricNamespace: string;
  /** Variants to report even without an answer this window (a 0 is evidence, no datapoint is not). */
  readonly variantNames: readonly string[];
}

/**
 * `LabelledAnswers` and `CorrectAnswers` per variant (dimensions EndpointName, VariantName) with
 * PutMetricData, one call per window: the judge's accuracy evidence (services/rollout/evidence/quality.ts).
 */
export class CloudWatchLabelledAnswers implements LabelledAnswers {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly options: LabelledAnswersOptions,
  ) {}

  async publish(tally: LabelledTally, windowStart: Date): Promise<void> {
    // A window without labelled answers (an unlabelled request set, an API that failed) says nothing.
    if (Object.keys(tally).length === 0) return;
    const variants = [...new Set([...this.options.variantNames, ...Object.keys(tally)])];
    const data: MetricDatum[] = variants.flatMap((variant) => {
      const counts = tally[variant] ?? { labelled: 0, correct: 0 };
      const datum = (name: string, value: number): MetricDatum => ({
        MetricName: name,
        Dimensions: [
          { Name: 'EndpointName', Value: this.options.endpointName },
          { Name: 'VariantName', Value: variant },
        ],
        Timestamp: windowStart,
        Unit: 'Count',
        Value: value,
      });
      return [datum(LABELLED_ANSWERS_METRIC, counts.labelled), datum(CORRECT_ANSWERS_METRIC, counts.correct)];
    });
    await this.client.send(
      new PutMetricDataCommand({ Namespace: this.options.metricNamespace, MetricData: data }),
    );
  }
}
