import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, validateConfig, type AppConfig } from '../../lib/stages/stage-config';
import { parseLabelledData } from '../../services/model/labelled-data';
import { buildModelPackage, writeModelPackage } from '../../services/model/package-builder';
import { testConfig } from '../support/cdk-app';
import { FIXTURE_EXPORTS_DIR, FIXTURE_MODELS_DIR } from '../support/model-fixtures';
import { linearOnnx } from '../support/onnx-graphs';
import { DEV_ROLLOUT_POLICY, PROD_ROLLOUT_POLICY } from '../../services/rollout/policy';

type Mutation = (c: AppConfig) => AppConfig;

function problemsOf(mutate: Mutation): string[] {
  try {
    validateConfig(mutate(structuredClone(testConfig)));
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('validateConfig', () => {
  it('accepts the shipped placeholder configuration', () => {
    expect(() => validateConfig(testConfig)).not.toThrow();
  });

  const cases: [string, Mutation, RegExp][] = [
    [
      'a quality margin of 100 points',
      (c) => ({ ...c, dev: { ...c.dev, quality: { margin: { accuracy: 1 } } } }),
      /dev\.quality\.margin\.accuracy: 1 must be a fraction from 0 to below 1 \(0\.01 = one point\)/,
    ],
    [
      'a negative MAE margin',
      (c) => ({ ...c, prod: { ...c.prod, quality: { margin: { relativeMae: -0.1 } } } }),
      /prod\.quality\.margin\.relativeMae: -0\.1 must be a fraction >= 0/,
    ],
    [
      'missing account',
      (c) => ({ ...c, dev: { ...c.dev, target: { ...c.dev.target, account: '' } } }),
      /dev\.target\.account: '' is not a 12-digit/,
    ],
    [
      'malformed account',
      (c) => ({ ...c, prod: { ...c.prod, target: { ...c.prod.target, account: '1234' } } }),
      /prod\.target\.account: '1234'/,
    ],
    [
      'malformed region',
      (c) => ({ ...c, dev: { ...c.dev, target: { ...c.dev.target, region: 'useast1' } } }),
      /dev\.target\.region: 'useast1' is not an AWS region/,
    ],
    [
      'a well-formed but unknown region',
      (c) => ({ ...c, pipeline: { ...c.pipeline, region: 'us-east-7' } }),
      /pipeline\.region: 'us-east-7' is not a known AWS region/,
    ],
    [
      'a stage in another partition than the pipeline',
      (c) => ({
        ...c,
        prod: {
          ...c.prod,
          target: { ...c.prod.target, region: 'cn-north-1' },
          availabilityZones: ['cn-north-1a', 'cn-north-1b'],
        },
      }),
      /prod\.target\.region: 'cn-north-1' is in partition aws-cn, the pipeline's region 'us-east-1' in aws; CDK Pipelines cannot deploy across partitions/,
    ],
    [
      "a connection of another account than the pipeline's",
      (c) => ({ ...c, pipeline: { ...c.pipeline, account: '444444444444' } }),
      /source\.connectionArn: the connection belongs to account 111111111111, the pipeline runs in 444444444444 \(pipeline\.account\)/,
    ],
    [
      'malformed pipeline account',
      (c) => ({ ...c, pipeline: { ...c.pipeline, account: 'abc' } }),
      /pipeline\.account/,
    ],
    [
      'malformed connection ARN',
      (c) => ({ ...c, source: { ...c.source, connectionArn: 'arn:aws:s3:::bucket' } }),
      /source\.connectionArn: .* is not a connection ARN/,
    ],
    [
      'missing connection ARN',
      (c) => ({ ...c, source: { ...c.source, connectionArn: '' } }),
      /source\.connectionArn/,
    ],
    [
      'malformed repository',
      (c) => ({ ...c, source: { ...c.source, repository: 'no-owner' } }),
      /source\.repository: 'no-owner' must look like 'owner\/name'/,
    ],
    [
      'no approvers',
      (c) => ({ ...c, approvals: { approvers: [] } }),
      /approvals\.approvers: name at least one IAM role or user of the pipeline account/,
    ],
    [
      'an approver in another account',
      (c) => ({ ...c, approvals: { approvers: ['arn:aws:iam::222222222222:role/Approver'] } }),
      /approvals\.approvers: 'arn:aws:iam::222222222222:role\/Approver' is in account 222222222222; approvers must be roles or users of the pipeline account 111111111111/,
    ],
    [
      'an approver that is not a role or user',
      (c) => ({ ...c, approvals: { approvers: ['arn:aws:iam::111111111111:group/Approvers'] } }),
      /approvals\.approvers: .* is not an IAM role or user ARN/,
    ],
    [
      'a malformed approval e-mail',
      (c) => ({ ...c, approvals: { ...c.approvals, emails: ['release-team'] } }),
      /approvals\.emails: 'release-team' is not an e-mail address/,
    ],
    [
      'dev and prod on one account and region',
      (c) => ({ ...c, prod: { ...c.prod, target: { ...c.dev.target } } }),
      /dev and prod both deploy to account 222222222222 in us-east-1/,
    ],
    [
      'zone of another region',
      (c) => ({ ...c, dev: { ...c.dev, availabilityZones: ['us-east-1a', 'eu-west-1b'] } }),
      /'eu-west-1b' is not a zone of region 'us-east-1'/,
    ],
    [
      'a single zone',
      (c) => ({ ...c, dev: { ...c.dev, availabilityZones: ['us-east-1a'] } }),
      /list at least two zones/,
    ],
    [
      'unsupported log retention',
      (c) => ({ ...c, prod: { ...c.prod, logRetentionDays: 10 } }),
      /prod\.logRetentionDays: 10 is not one of/,
    ],
    [
      'unknown log level',
      (c) => ({ ...c, prod: { ...c.prod, logLevel: 'VERBOSE' as never } }),
      /prod\.logLevel: 'VERBOSE' is not one of DEBUG, INFO, WARN, ERROR/,
    ],
    [
      'bad alarm e-mail',
      (c) => ({ ...c, prod: { ...c.prod, alarmEmail: 'ops' } }),
      /prod\.alarmEmail: 'ops' is not an e-mail address/,
    ],
    [
      'same stage names',
      (c) => ({ ...c, prod: { ...c.prod, stageName: 'dev' } }),
      /stageName are both 'dev'/,
    ],
    [
      'unknown model version',
      (c) => ({ ...c, dev: { ...c.dev, endpoint: { ...c.dev.endpoint, candidateVersion: 'v9.9.9' } } }),
      /dev\.endpoint\.candidateVersion: 'v9\.9\.9' has no folder .*v9\.9\.9\/ with a metadata\.json; add it with npm run model:add -- --onnx MODEL\.onnx --data DATA\.csv --version v9\.9\.9/,
    ],
    [
      'a version name that is not v<major>.<minor>.<patch>',
      (c) => ({ ...c, dev: { ...c.dev, endpoint: { ...c.dev.endpoint, baselineVersion: 'v01.0.0' } } }),
      /dev\.endpoint\.baselineVersion: 'v01\.0\.0' is not a version name: use v<major>\.<minor>\.<patch>/,
    ],
    [
      'no baseline version',
      (c) => ({ ...c, prod: { ...c.prod, endpoint: { ...c.prod.endpoint, baselineVersion: undefined } } }),
      /prod\.endpoint\.baselineVersion: missing; name a folder of models\/ in config\/model-versions\.json/,
    ],
    [
      'variants with different input features',
      (c) => ({ ...c, dev: { ...c.dev, endpoint: { ...c.dev.endpoint, candidateVersion: 'v3.0.0' } } }),
      /dev\.endpoint\.candidateVersion: v3\.0\.0 is classification, 8 features \(income_k, .*\) but the baseline v2\.0\.0 is classification, 4 features \(f1, f2, f3, f4\); .* set dev\.baselineVersion to v3\.0\.0 too/,
    ],
    [
      'a configured initial split (the candidate must enter at 0 %)',
      (c) => ({
        ...c,
        prod: { ...c.prod, endpoint: { baselineWeightPercent: 80 } as Record<string, unknown> },
      }),
      /prod\.endpoint\.baselineWeightPercent: remove it; a candidate always enters at 0 %/,
    ],
    [
      'fewer max than min instances',
      (c) => ({ ...c, dev: { ...c.dev, endpoint: { minInstances: 3, maxInstances: 2 } } }),
      /dev\.endpoint: minInstances \(3\) and maxInstances \(2\)/,
    ],
    [
      'data capture above 100 percent',
      (c) => ({ ...c, dev: { ...c.dev, endpoint: { dataCapturePercent: 101 } } }),
      /dev\.endpoint\.dataCapturePercent: 101/,
    ],
    [
      'batch vCPUs that are not a Fargate size',
      (c) => ({ ...c, dev: { ...c.dev, batch: { vcpus: 3 } } }),
      /dev\.batch\.vcpus: 3 is not a Fargate size/,
    ],
    [
      'batch memory outside the range of its vCPUs',
      (c) => ({ ...c, prod: { ...c.prod, batch: { vcpus: 1, memoryMiB: 1024 } } }),
      /prod\.batch\.memoryMiB: 1024 must be a multiple of 512 from 2048 to 8192 for 1 vCPU/,
    ],
    [
      'batch memory not a multiple of 512',
      (c) => ({ ...c, dev: { ...c.dev, batch: { memoryMiB: 3000 } } }),
      /dev\.batch\.memoryMiB: 3000 must be a multiple of 512/,
    ],
    [
      'batch max vCPUs below one job',
      (c) => ({ ...c, dev: { ...c.dev, batch: { vcpus: 4, memoryMiB: 8192, maxVcpus: 2 } } }),
      /dev\.batch\.maxVcpus: 2 must be a whole number from 1 to 256 and at least vcpus/,
    ],
    [
      'more concurrent batch tasks than the compute environment holds',
      (c) => ({
        ...c,
        prod: { ...c.prod, batch: { vcpus: 2, memoryMiB: 4096, maxVcpus: 16, maxTasks: 10 } },
      }),
      /prod\.batch\.maxTasks: 10 tasks of 2 vCPU need 20 vCPUs, over maxVcpus 16; lower maxTasks or raise maxVcpus/,
    ],
    [
      'batch tasks that are not a whole number from 1 to 1000',
      (c) => ({ ...c, dev: { ...c.dev, batch: { maxTasks: 0 } } }),
      /dev\.batch\.maxTasks: 0 must be a whole number from 1 to 1000/,
    ],
    [
      'Athena scan limit under 10 MiB',
      (c) => ({ ...c, prod: { ...c.prod, batch: { athenaBytesScannedCutoffMiB: 5 } } }),
      /prod\.batch\.athenaBytesScannedCutoffMiB: 5 must be a whole number of MiB >= 10/,
    ],
    [
      'a rollout that never reaches 100 %',
      (c) => ({ ...c, prod: { ...c.prod, rollout: { ...PROD_ROLLOUT_POLICY, steps: [5, 50] } } }),
      /prod\.rollout: the last step must be 100/,
    ],
    [
      'a rollout significance level outside (0, 0.5)',
      (c) => ({ ...c, dev: { ...c.dev, rollout: { ...DEV_ROLLOUT_POLICY, alpha: 0.7 } } }),
      /dev\.rollout: alpha must be a significance level in \(0, 0\.5\)/,
    ],
    [
      'a rollout that would judge minutes CloudWatch has not finished publishing',
      (c) => ({ ...c, prod: { ...c.prod, rollout: { ...PROD_ROLLOUT_POLICY, publicationLagMinutes: 0 } } }),
      /prod\.rollout: publicationLagMinutes must be a whole number of minutes in \[1, 15\]/,
    ],
  ];

  it.each(cases)('rejects %s with a message that says what to change', (_name, mutate, message) => {
    const problems = problemsOf(mutate);
    expect(problems.some((p) => message.test(p))).toBe(true);
  });

  describe('model version folders', () => {
    let root: string;
    const endpoint = (c: AppConfig, baselineVersion: string, candidateVersion: string) => ({
      ...c,
      dev: { ...c.dev, endpoint: { ...c.dev.endpoint, baselineVersion, candidateVersion, modelsDir: root } },
    });
    const copy = (from: string, to: string) =>
      cpSync(path.join(FIXTURE_MODELS_DIR, from), path.join(root, to), { recursive: true });

    beforeAll(async () => {
      root = mkdtempSync(path.join(tmpdir(), 'stage-config-models-'));
      copy('v2.0.0', 'v2.0.0');
      // Same features as v2.0.0 (f1..f4), another task.
      const features = parseLabelledData(
        readFileSync(path.join(FIXTURE_EXPORTS_DIR, 'mlp-classifier.csv'), 'utf8'),
      );
      const sameFeatures = (target: (row: number[]) => number, version: string, onnx: Buffer) =>
        buildModelPackage({
          version,
          onnx,
          data: {
            featureNames: features.featureNames,
            rows: features.rows.map((r) => ({ features: r.features, target: target([...r.features]) })),
          },
          dataSource: 'mlp-classifier.csv',
        }).then((built) => writeModelPackage(built, path.join(root, version)));
      await sameFeatures((x) => x[0] + x[1], 'v2.5.0', linearOnnx([[1], [1], [0], [0]], 'regression'));
      // 40 features: its drift bins do not fit 8 KB.
      const wide = Array.from({ length: 40 }, (_, j) => `a_rather_long_feature_name_${j}`);
      const rows = Array.from({ length: 200 }, (_, i) => {
        const x = wide.map((_, j) => ((i * 7919 + j * 104729) % 1000) / 7);
        return { features: x, target: x[0] > 70 ? 'high' : 'low' };
      });
      await writeModelPackage(
        await buildModelPackage({
          version: 'v9.0.0',
          onnx: linearOnnx(
            wide.map((_, j) => (j === 0 ? [-1, 1] : [0, 0])),
            'classification',
          ),
          data: { featureNames: wide, rows },
          dataSource: 'generated',
          labels: ['low', 'high'],
        }),
        path.join(root, 'v9.0.0'),
      );
    });

    it('accepts two consistent versions of one schema', () => {
      copy('v2.1.0', 'v2.1.0');
      expect(problemsOf((c) => endpoint(c, 'v2.0.0', 'v2.1.0'))).toEqual([]);
    });

    it('refuses variants of different tasks on the same features', () => {
      expect(problemsOf((c) => endpoint(c, 'v2.0.0', 'v2.5.0'))).toEqual([
        expect.stringMatching(
          /^dev\.endpoint\.candidateVersion: v2\.5\.0 is regression, 4 features \(f1, f2, f3, f4\) but the baseline v2\.0\.0 is classification, 4 features/,
        ),
      ]);
    });

    it('refuses a file changed after model:add (SHA256SUMS)', () => {
      copy('v2.1.0', 'v2.1.1');
      const metadataFile = path.join(root, 'v2.1.1', 'metadata.json');
      writeFileSync(metadataFile, readFileSync(metadataFile, 'utf8').replace('"v2.1.0"', '"v2.1.1"'));
      expect(problemsOf((c) => endpoint(c, 'v2.0.0', 'v2.1.1'))).toEqual([
        expect.stringMatching(
          /^dev\.endpoint\.candidateVersion: .*v2\.1\.1\/metadata\.json does not match its SHA256SUMS line \(changed after model:add\); .*npm run model:add/,
        ),
      ]);
    });

    it('refuses an archive that holds other files than the folder', () => {
      copy('v2.1.0', 'v2.1.2');
      const dir = path.join(root, 'v2.1.2');
      const metadata = readFileSync(path.join(dir, 'metadata.json'), 'utf8').replace('"v2.1.0"', '"v2.1.2"');
      writeFileSync(path.join(dir, 'metadata.json'), metadata);
      // Checksums recomputed for the folder's files, but model.tar.gz still holds the v2.1.0 metadata.
      const sums = ['model.onnx', 'metadata.json', 'model.tar.gz', 'evaluation.jsonl', 'requests.json']
        .map(
          (name) =>
            `${createHash('sha256')
              .update(readFileSync(path.join(dir, name)))
              .digest('hex')}  ${name}\n`,
        )
        .join('');
      writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
      expect(problemsOf((c) => endpoint(c, 'v2.0.0', 'v2.1.2'))).toEqual([
        expect.stringMatching(
          /v2\.1\.2\/model\.tar\.gz holds another metadata\.json than the folder \(SageMaker would serve that one\)/,
        ),
      ]);
    });

    it('refuses a folder whose metadata names another version', () => {
      copy('v2.1.0', 'v2.2.0');
      expect(problemsOf((c) => endpoint(c, 'v2.0.0', 'v2.2.0'))).toEqual([
        expect.stringMatching(/v2\.2\.0\/metadata\.json says version "v2\.1\.0", not "v2\.2\.0"/),
      ]);
    });

    it('refuses a version whose Parameter Store value fits no tier', () => {
      expect(problemsOf((c) => endpoint(c, 'v9.0.0', 'v9.0.0'))).toEqual([
        expect.stringMatching(
          /^dev\.endpoint\.baselineVersion: the Parameter Store value of v9\.0\.0 \(its drift bins for 40 features\) is \d+ bytes, above the 8192 of the advanced tier/,
        ),
        expect.stringMatching(/^dev\.endpoint\.candidateVersion: the Parameter Store value of v9\.0\.0/),
      ]);
    });
  });

  it('reports every problem at once and points at bin/config.ts', () => {
    const broken = { ...structuredClone(testConfig), project: 'X', pipeline: { account: '1', region: 'x' } };
    expect(() => validateConfig(broken)).toThrow(/Invalid configuration \(edit bin\/config\.ts\)/);
    expect(problemsOf(() => broken).length).toBeGreaterThanOrEqual(3);
  });
});
