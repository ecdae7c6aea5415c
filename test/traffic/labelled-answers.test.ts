import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLabelledAnswers } from '../../services/traffic/adapters/labelled-answers';
import { parseRequestSet } from '../../services/traffic/request-set';
import { sendPaced } from '../../services/traffic/source';
import { startCloudWatchStandIn, type CloudWatchStandIn } from '../support/aws-json-stand-ins';
import { localCredentials, localRegion } from '../support/local-aws';

/** How the traffic source scores its labelled rows and reports them for the judge's accuracy test. */
describe('labelled answers', () => {
  let cloudwatch: CloudWatchStandIn;
  beforeAll(async () => {
    cloudwatch = await startCloudWatchStandIn();
  });
  afterAll(() => cloudwatch.close());

  it('counts, per variant, the answers to labelled rows and those that match the label', async () => {
    const { requests } = parseRequestSet({
      version: 'v9.0.0',
      source: 'test',
      requests: [{ features: [1], label: 'a' }, { features: [2], label: 'b' }, { features: [3] }],
    });
    // VariantA answers row 2 right; VariantB answers the others "a" (row 1 right, row 3 unlabelled).
    const answer = (features: readonly number[]) =>
      Promise.resolve(
        features[0] === 2
          ? { status: 200, body: { variant: 'VariantA', result: { label: 'b' } } }
          : { status: 200, body: { variant: 'VariantB', result: { label: 'a' } } },
      );
    const report = await sendPaced({ requests, count: 6, windowMs: 600, send: answer });
    expect(report.labelled).toEqual({
      VariantB: { labelled: 2, correct: 2 },
      VariantA: { labelled: 2, correct: 2 },
    });
    const failing = await sendPaced({
      requests,
      count: 2,
      windowMs: 20,
      send: () => Promise.resolve({ status: 503 }),
    });
    expect(failing.labelled).toEqual({});
  });

  it('publishes labelled and correct answers per variant into the stage namespace, zeros included', async () => {
    const client = new CloudWatchClient({
      region: localRegion,
      endpoint: cloudwatch.url,
      credentials: localCredentials,
    });
    const answers = new CloudWatchLabelledAnswers(client, {
      endpointName: 'ep',
      metricNamespace: 'MlInference',
      variantNames: ['VariantA', 'VariantB'],
    });
    await answers.publish({}, new Date(0));
    expect(cloudwatch.putMetricData()).toHaveLength(0);
    await answers.publish({ VariantB: { labelled: 3, correct: 0 } }, new Date(120_000));
    const [input] = cloudwatch.putMetricData() as {
      Namespace: string;
      MetricData: Record<string, unknown>[];
    }[];
    expect(input.Namespace).toBe('MlInference');
    const value = (metric: string, variant: string) =>
      input.MetricData.find(
        (d) =>
          d.MetricName === metric &&
          (d.Dimensions as { Name: string; Value: string }[]).some(
            (x) => x.Name === 'VariantName' && x.Value === variant,
          ),
      )?.Value;
    expect(value('LabelledAnswers', 'VariantB')).toBe(3);
    expect(value('CorrectAnswers', 'VariantB')).toBe(0);
    expect(value('LabelledAnswers', 'VariantA')).toBe(0);
  });
});
